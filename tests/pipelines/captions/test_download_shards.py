"""A retried bundle of the download-and-write step: a shard that an earlier attempt
wrote from the same records is seen complete before any image is downloaded."""
from __future__ import annotations

from babelshard.pipelines.captions.config import DownloadConfig, ResizeConfig
from babelshard.pipelines.captions.download_shards import DownloadShardDoFn
from babelshard.records import Caption, CaptionSample, stable_key
from babelshard.stats import Drop

PATHS = ["/img/0.jpg", "/img/1.png", "/404"]


def settings() -> DownloadConfig:
    return DownloadConfig(
        thread_count=2, timeout=2.0, deadline=10.0, retries=0, per_host_rate=0.0, allow_loopback=True,
        image=ResizeConfig(image_size=32, resize_mode="border", encode_format="jpg", min_image_size=8),
    )


def shard_items(server) -> list:
    records = [CaptionSample(key=stable_key("test", path), source="test", url=server.url + path,
                             captions={"en": Caption("a picture")}) for path in PATHS]
    return [*records, Drop(stable_key("test", "gone"), "clean", "empty_caption", "", "http://x/gone.jpg")]


def run_attempt(folder: str, items: list) -> list[dict]:
    attempt = DownloadShardDoFn(settings(), folder, "h")
    attempt.setup()
    try:
        return list(attempt.process((0, iter(items)), 1))
    finally:
        attempt.teardown()


def test_a_retried_attempt_downloads_nothing(tmp_path, image_server):
    items = shard_items(image_server)
    first = run_attempt(str(tmp_path), items)
    requests = sum(image_server.hits[path] for path in PATHS)
    assert requests >= len(PATHS) and first[0]["samples"] == 2 and first[0]["stats"]["inputs"] == 4
    assert run_attempt(str(tmp_path), items) == first
    assert sum(image_server.hits[path] for path in PATHS) == requests


def test_a_shard_written_from_other_records_is_downloaded_again(tmp_path, image_server):
    items = shard_items(image_server)
    run_attempt(str(tmp_path), items[:1])
    before = image_server.hits["/img/0.jpg"]
    again = run_attempt(str(tmp_path), items)
    assert again[0]["stats"]["inputs"] == 4 and image_server.hits["/img/0.jpg"] == before + 1
