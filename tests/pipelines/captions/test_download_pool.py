"""One download pool per worker process: the DoFn instances of a process (Beam runs
bundles in threads) share ``thread_count`` threads instead of each bringing its own."""
from __future__ import annotations

from babelshard.pipelines.captions.config import DownloadConfig
from babelshard.pipelines.captions.download import Downloads
from babelshard.records import Caption, CaptionSample, stable_key


def record_for(url: str) -> CaptionSample:
    return CaptionSample(key=stable_key("test", url), source="test", url=url, captions={"en": Caption("a picture")})


def test_two_instances_share_one_pool_of_thread_count_threads(image_server):
    settings = DownloadConfig(allow_loopback=True, per_host_concurrency=8, per_host_rate=0.0, thread_count=2, retries=0)
    first, second = Downloads(settings), Downloads(settings)
    assert first.pool is second.pool
    image_server.peak = 0
    results = []
    for i in range(4):
        results += first.submit(record_for(f"{image_server.url}/held/pool-a-{i}"))
        results += second.submit(record_for(f"{image_server.url}/held/pool-b-{i}"))
    results += [*first.drain(), *second.drain()]
    assert len(results) == 8 and all(isinstance(r, CaptionSample) for r in results)
    assert 1 <= image_server.peak <= 2  # two pools of their own would serve up to four at once
    first.close()  # closing one instance leaves the pool to the other
    after = [*second.submit(record_for(f"{image_server.url}/img/0.jpg")), *second.drain()]
    assert len(after) == 1 and isinstance(after[0], CaptionSample)
    second.close()
