"""Helpers for babelshard's own tests and for users testing their configs offline."""
from __future__ import annotations

import os
import shutil


def require_debian(path: str, package: str) -> None:
    """Skip the calling test unless a file that a Debian package installs is present."""
    import pytest

    if not os.path.exists(path):
        pytest.skip(f"needs the Debian package {package} (apt-get install {package})")


def require_command(command: str, package: str) -> None:
    """Skip the calling test unless a command that a Debian package installs is on PATH."""
    import pytest

    if shutil.which(command) is None:
        pytest.skip(f"needs `{command}` from the Debian package {package} (apt-get install {package})")
