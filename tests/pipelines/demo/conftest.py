"""A small demo build shared by the tests that read it with other people's tools."""
from __future__ import annotations

import pytest

from babelshard.pipelines.demo.job import default_demo_config, run_demo


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> str:
    """The demo's output root: 40 emoji in 5 shards, translated (Apertium) where installed,
    code-switched; some samples lack ca.txt or cs.json."""
    root = tmp_path_factory.mktemp("small-demo") / "demo"
    cfg = default_demo_config(str(root))
    cfg = cfg.model_copy(update={
        "output": cfg.output.model_copy(update={"samples_per_shard": 8}),
        "demo": cfg.demo.model_copy(update={"emoji_count": 40}),
    })
    run_demo(cfg, echo=lambda line: None)
    return str(root)
