"""A writer killed with SIGKILL mid-shard leaves no visible partial shard and no index;
a rerun finishes the job with the same bytes as an uninterrupted run."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    import apache_beam as beam
    from babelshard.records import Caption, CaptionSample, stable_key
    from babelshard.shards.beam import WriteShards

    from babelshard.shards import writer

    SLOW = float(os.environ.get("SLOW", "0"))
    real_add = writer.ShardFile.add

    def add_then_pause(self, *args, **kwargs):
        # The real writer, pausing after each sample so that a kill lands mid-shard.
        real_add(self, *args, **kwargs)
        time.sleep(SLOW)

    writer.ShardFile.add = add_then_pause

    def make(i):
        return CaptionSample(key=stable_key("kill", str(i)), source="kill", url=f"http://x/{i}",
                             captions={"en": Caption(f"caption {i}")}, image=bytes(range(256)) * 8, image_format="jpg")

    folder = sys.argv[1]
    with beam.Pipeline(argv=["--runner=DirectRunner"]) as p:
        p | beam.Create(range(60)) | beam.Map(make) | WriteShards(folder, "caption", samples_per_shard=10, config_hash="k")
    """
)


def run(folder: str, slow: float) -> subprocess.Popen:
    env = {**os.environ, "SLOW": str(slow)}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, folder], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def digests(folder: str) -> dict[str, str]:
    return {n: hashlib.sha256(open(os.path.join(folder, n), "rb").read()).hexdigest()
            for n in sorted(os.listdir(folder)) if n.endswith(".tar")}


@pytest.mark.slow
def test_kill_minus_nine_mid_shard_then_rerun(tmp_path):
    folder, clean = str(tmp_path / "killed"), str(tmp_path / "clean")
    process = run(folder, slow=0.05)
    deadline = time.time() + 120
    while time.time() < deadline:
        names = os.listdir(folder) if os.path.isdir(folder) else []
        if any(n.endswith(".stats.json") for n in names) and any(n.endswith(".partial") for n in names):
            break
        time.sleep(0.02)
    else:
        process.kill()
        pytest.fail("the writer never reached the middle of a shard")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    names = os.listdir(folder)
    assert "index.json" not in names
    visible = [n for n in names if n.endswith(".tar")]
    partials = [n for n in names if n.endswith(".partial")]
    assert partials and all(n.startswith(".") for n in partials)
    for name in visible:  # every visible shard is complete: its stats (written after it) exist
        assert name.replace(".tar", ".stats.json") in names
    assert len(visible) < 6

    assert run(folder, slow=0).wait(timeout=300) == 0
    assert run(clean, slow=0).wait(timeout=300) == 0
    assert os.path.exists(os.path.join(folder, "index.json"))
    assert digests(folder) == digests(clean)
    assert len(digests(folder)) == 6
