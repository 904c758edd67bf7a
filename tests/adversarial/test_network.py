"""Hostile servers and URLs: dripping headers and bodies are cut at the image's deadline,
redirects and URLs a downloader must not follow get their own reasons, and failure
details are the same on every run."""
from __future__ import annotations

import time

import pytest

from babelshard.pipelines.captions.download import download_record, make_download_resources
from babelshard.records import Caption, CaptionSample, stable_key
from babelshard.stats import Drop, deterministic_detail

# The deadline is 2 s; a drip that is not cut would take tens of seconds (DRIP_LIMIT).
# The bound is generous on purpose: it separates "cut at the deadline" from "held by
# the server" without timing anything finer on a busy machine.
DRIP_BOUND_SECONDS = 8.0


def record_for(url: str) -> CaptionSample:
    return CaptionSample(key=stable_key("adv", url), source="adv", url=url, captions={"en": Caption("a picture")})


@pytest.mark.parametrize("path", ["/drip-headers.jpg", "/drip-body.jpg"])
def test_a_dripping_server_is_cut_at_the_deadline(hostile_server, strict_settings, path):
    resources = make_download_resources(strict_settings)
    started = time.monotonic()
    result = download_record(record_for(hostile_server.url + path), resources)
    elapsed = time.monotonic() - started
    assert isinstance(result, Drop) and (result.stage, result.reason) == ("download", "timeout"), result
    assert result.detail == "image not complete within 2 s"  # not retried: the deadline covers retries
    assert elapsed < DRIP_BOUND_SECONDS, f"{path} held the download for {elapsed:.1f} s"


def test_a_silent_server_is_cut_at_the_deadline_even_with_a_long_read_timeout(hostile_server, strict_settings):
    patient = strict_settings.model_copy(update={"timeout": 60.0})
    started = time.monotonic()
    result = download_record(record_for(hostile_server.url + "/silent.jpg"), make_download_resources(patient))
    assert isinstance(result, Drop) and result.reason == "timeout", result
    assert time.monotonic() - started < DRIP_BOUND_SECONDS


def test_the_deadline_does_not_cut_a_healthy_download(hostile_server, strict_settings):
    result = download_record(record_for(hostile_server.url + "/redirect/ok"), make_download_resources(strict_settings))
    assert isinstance(result, CaptionSample), result


@pytest.mark.parametrize(
    "path, reason, detail",
    [
        ("/redirect/file", "unsupported_scheme", "redirect to file scheme"),
        ("/redirect/credentials", "invalid_url", "redirect to URL with credentials (user:password@host)"),
        ("/redirect/bad-port", "invalid_url", "redirect to Port out of range 0-65535"),
    ],
)
def test_redirects_that_must_not_be_followed_have_their_own_reason(hostile_server, strict_settings, path, reason, detail):
    result = download_record(record_for(hostile_server.url + path), make_download_resources(strict_settings))
    assert isinstance(result, Drop) and (result.reason, result.detail) == (reason, detail), result


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://127.0.0.1:99999/x.jpg", "invalid_url"),
        ("http://127.0.0.1:-1/x.jpg", "invalid_url"),
        ("http://127.0.0.1:http/x.jpg", "invalid_url"),
        ("http://user:pass@127.0.0.1/x.jpg", "invalid_url"),
        ("http://user@127.0.0.1/x.jpg", "invalid_url"),
        ("http://[::1/x.jpg", "invalid_url"),
        ("javascript:alert(1)", "unsupported_scheme"),
        ("data:image/png;base64,AAAA", "unsupported_scheme"),
        ("//127.0.0.1/x.jpg", "unsupported_scheme"),
    ],
)
def test_urls_that_cannot_be_fetched_as_written_are_refused_before_connecting(url, reason, strict_settings):
    result = download_record(record_for(url), make_download_resources(strict_settings))
    assert isinstance(result, Drop) and result.reason == reason, result


def test_failure_details_quote_no_memory_addresses():
    detail = "500 bytes, cannot identify image file <_io.BytesIO object at 0x7f3a2c1d9e40>"
    assert deterministic_detail(detail) == "500 bytes, cannot identify image file <_io.BytesIO object>"
    drop = Drop("k", "download", "not_an_image", detail=detail)
    assert "0x" not in drop.as_row()["detail"]
