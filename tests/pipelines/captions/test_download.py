"""The download stage's plain functions against a real loopback server: each failure's
exact reason, and the success path through img2dataset's Resizer."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from babelshard.pipelines.captions.download import download_record, make_download_resources
from babelshard.pipelines.captions.connections import address_allowed
from babelshard.records import Caption, CaptionSample, stable_key
from babelshard.stats import Drop

# path on the test server (or a full URL) -> the drop reason, None for success
CASES = {
    "/img/0.jpg": None,
    "/img/1.png": None,
    "/redirect/ok": None,
    "/404": "not_found",
    "/500": "http_server_error",
    "/429-always": "rate_limited",
    "/slow.jpg": "timeout",
    "/html": "not_an_image",
    "/truncated.jpg": "truncated_image",
    "/big.jpg": "too_large",
    "/chunked-big.jpg": "too_large",
    "/bomb.png": "decompression_bomb",
    "/short-read.jpg": "incomplete_read",
    "/tiny.jpg": "image_too_small",
    "/robots.jpg": "robots_disallowed",
    "/redirect/private": "blocked_address",
    "/redirect/metadata": "blocked_address",
    "/redirect/ftp": "unsupported_scheme",
    "/redirect/loop": "too_many_redirects",
    "ftp://127.0.0.1/image.jpg": "unsupported_scheme",
    "file:///etc/hostname": "unsupported_scheme",
    "http://169.254.169.254/latest/meta-data/": "blocked_address",
    "http://[::ffff:10.0.0.1]/x.jpg": "blocked_address",
    "http://224.0.0.1/x.jpg": "blocked_address",
    "http:///no-host.jpg": "invalid_url",
}


def record_for(url: str) -> CaptionSample:
    return CaptionSample(key=stable_key("test", url), source="test", url=url, captions={"en": Caption("a picture")})


def full_url(server, path: str) -> str:
    return path if "://" in path else server.url + path


@pytest.fixture(scope="module")
def resources(download_settings):
    return make_download_resources(download_settings.model_copy(update={"thread_count": 4, "max_redirects": 3}))


@pytest.mark.parametrize("path", sorted(CASES))
def test_each_case_has_its_exact_reason(image_server, resources, path):
    record = record_for(full_url(image_server, path))
    result = download_record(record, resources)
    expected = CASES[path]
    if expected is None:
        assert isinstance(result, CaptionSample), result
        with Image.open(io.BytesIO(result.image)) as image:
            assert image.format == "JPEG" and image.size == (32, 32)
        assert result.meta["width"] == 32 and result.meta["original_width"] == 96
        assert len(result.meta["sha256"]) == 64
    else:
        assert isinstance(result, Drop), result
        assert (result.stage, result.reason) == ("download", expected), result
        assert result.key == record.key and result.url == record.url


def test_429_is_retried_and_then_succeeds(image_server, resources):
    path = "/429-once/a.jpg"
    result = download_record(record_for(image_server.url + path), resources)
    assert isinstance(result, CaptionSample)
    assert image_server.hits[path] == 2


def test_500_is_retried_up_to_the_limit(image_server, resources):
    before = image_server.hits["/500"]
    result = download_record(record_for(image_server.url + "/500"), resources)
    assert isinstance(result, Drop) and "after 3 attempts" in result.detail
    assert image_server.hits["/500"] - before == 3  # 1 + retries


def test_404_is_not_retried(image_server, resources):
    before = image_server.hits["/404"]
    download_record(record_for(image_server.url + "/404"), resources)
    assert image_server.hits["/404"] - before == 1


def test_loopback_is_refused_unless_allowed(image_server):
    from babelshard.pipelines.captions.config import DownloadConfig

    strict = make_download_resources(DownloadConfig(timeout=1.0, retries=0))
    result = download_record(record_for(image_server.url + "/img/0.jpg"), strict)
    assert isinstance(result, Drop) and result.reason == "blocked_address"
    assert "127.0.0.1" in result.detail


def test_file_urls_only_when_enabled(tmp_path, real_images):
    from babelshard.pipelines.captions.config import DownloadConfig

    path = tmp_path / "a.png"
    path.write_bytes(real_images["/img/2.png"][0])
    url = path.as_uri()
    enabled = make_download_resources(DownloadConfig(allow_file_urls=True))
    assert isinstance(download_record(record_for(url), enabled), CaptionSample)
    missing = download_record(record_for(url + ".missing"), enabled)
    assert isinstance(missing, Drop) and missing.reason == "not_found"
    disabled = download_record(record_for(url), make_download_resources(DownloadConfig()))
    assert isinstance(disabled, Drop) and disabled.reason == "unsupported_scheme"


def test_expected_sha256_is_checked(image_server, resources, real_images):
    import hashlib

    url = image_server.url + "/img/3.jpg"
    good = hashlib.sha256(real_images["/img/3.jpg"][0]).hexdigest()
    ok = download_record(CaptionSample("k1", "test", url, {"en": Caption("x y")}, meta={"sha256": good}), resources)
    assert isinstance(ok, CaptionSample) and ok.meta["sha256"] == good
    bad = download_record(CaptionSample("k2", "test", url, {"en": Caption("x y")}, meta={"sha256": "0" * 64}), resources)
    assert isinstance(bad, Drop) and bad.reason == "hash_mismatch"


@pytest.mark.parametrize(
    "address, allowed",
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.251", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:192.168.0.1", False),
        ("127.0.0.1", False),
        ("::1", False),
    ],
)
def test_address_policy(address, allowed):
    assert address_allowed(address, allow_loopback=False) is allowed


def test_loopback_allowed_explicitly():
    assert address_allowed("127.0.0.1", allow_loopback=True)
    assert address_allowed("::1", allow_loopback=True)
    assert not address_allowed("10.0.0.1", allow_loopback=True)


def test_a_redirect_loop_hits_our_limit_before_urllibs(image_server):
    from babelshard.pipelines.captions.config import DownloadConfig

    defaults = make_download_resources(DownloadConfig(allow_loopback=True, per_host_rate=0.0, retries=0))
    before = image_server.hits["/redirect/loop"]
    result = download_record(record_for(image_server.url + "/redirect/loop"), defaults)
    assert isinstance(result, Drop) and result.reason == "too_many_redirects"
    assert image_server.hits["/redirect/loop"] - before == 6  # the first request and 5 redirects


def test_per_host_concurrency_is_capped(image_server):
    from concurrent.futures import ThreadPoolExecutor

    from babelshard.pipelines.captions.config import DownloadConfig

    polite = make_download_resources(
        DownloadConfig(allow_loopback=True, per_host_concurrency=2, per_host_rate=0.0, thread_count=8, retries=0)
    )
    image_server.peak = 0
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: download_record(record_for(f"{image_server.url}/held/{i}"), polite), range(8)))
    assert all(isinstance(r, CaptionSample) for r in results)
    assert 1 <= image_server.peak <= 2  # without the cap all 8 would be served at once


def test_per_host_rate_spaces_request_starts():
    from babelshard.pipelines.captions.fetch import HostLimiter

    limiter = HostLimiter(concurrency=8, rate=50.0)
    starts = [limiter.reserve_start("example.org", now=100.0) for _ in range(10)]
    assert starts == pytest.approx([100.0 + i / 50 for i in range(10)])
    assert limiter.reserve_start("other.org", now=100.0) == 100.0  # each host has its own schedule
    assert limiter.reserve_start("example.org", now=200.0) == 200.0  # an idle host starts at once
