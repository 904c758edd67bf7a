"""The M3P, unified mVLP and SMALR presets in configs/, end to end at test size on the
toy OpenMoji shards through part 1's loop: training, model file, retrieval evaluation
per language with each configured scorer; and exact resumption with online code-switching."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from babelshard.cli.train import evaluate_config
from babelshard.train.config import load_train_config
from babelshard.train.loop.steps import train
from babelshard.train.loop.metrics import read_metrics

PRESETS = Path(__file__).resolve().parents[3] / "configs"
TINY = ["model.embed_dim=32", "model.text.width=32", "model.text.layers=1", "model.text.heads=2",
        "model.vision.width=32", "model.vision.layers=1", "model.vision.heads=2"]
FUSION_LAYERS = ["model.fusion.layers=1"]  # the models with fusion layers (smalr has none)


def preset(name: str, toy: dict[str, str], output: str, *extra: str):
    streams = len(load_train_config(PRESETS / f"train-{name}.yaml").data.streams)
    overrides = [f"loop.output={output}", "loop.progress=false", "loop.threads=1", "loop.log_every=1",
                 "loop.checkpoint_every=0", "loop.max_steps=6", "data.workers=0", "optim.warmup_steps=2",
                 f"eval.folders=[{toy['heldout']}]", "eval.holdout=null", "eval.itm_images=20", *TINY]
    if name != "smalr":
        overrides += FUSION_LAYERS
    for i in range(streams):
        overrides += [f"data.streams.{i}.folders=[{toy['caption']}]", f"data.streams.{i}.holdout=0.0",
                      f"data.streams.{i}.batch_size=16"]
    if name != "smalr":
        overrides += ["tokenizer.vocab_size=4096", "tokenizer.max_length=16"]
    return load_train_config(PRESETS / f"train-{name}.yaml", overrides + list(extra))


def check_results(results: dict, scorers: list[str], languages: set[str]) -> None:
    for scorer in scorers:
        per_language = results[scorer]["languages"]
        assert set(per_language) == languages, scorer
        for metrics in per_language.values():
            assert 0.0 <= metrics["mean_recall"] <= 100.0 and metrics["chance"]["mean_recall"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["m3p", "unified"])
def test_preset_trains_and_evaluates(name, toy, tmp_path):
    config = preset(name, toy, str(tmp_path))
    state = train(config)
    assert state.step == 6
    metrics = read_metrics(str(tmp_path / "metrics.jsonl"))
    kinds = {o.kind for o in config.objectives}
    assert {f"loss/{k}" for k in kinds} <= set(metrics[-1])
    results, _ = evaluate_config(config)
    assert json.loads((tmp_path / "eval.json").read_text())["model"] == str(tmp_path / "model.pt")
    check_results(results, config.eval.scorers, set(results[config.eval.scorers[0]]["languages"]))
    assert len(results[config.eval.scorers[0]]["languages"]) == 14
    if "itm" in config.eval.scorers:
        assert results["itm"]["images"] == 20


@pytest.mark.slow
def test_smalr_preset_with_the_hybrid_vocabulary(toy, tmp_path, hybrid_vocab):
    languages = "[de, en, es, fr]"
    config = preset("smalr", toy, str(tmp_path), f"tokenizer.path={hybrid_vocab}", "tokenizer.max_length=16",
                    f"model.hybrid_vocab={hybrid_vocab}", f"data.streams.0.languages={languages}",
                    "data.streams.1.pair_languages=[de, es, fr]", f"eval.languages={languages}")
    train(config)
    results, _ = evaluate_config(config)
    check_results(results, ["embedding", "consistency"], {"de", "en", "es", "fr"})


@pytest.mark.slow
def test_m3p_resumes_exactly_with_online_code_switching(toy, tmp_path):
    """Stopped after 3 steps and resumed, the run sees the same batches (sample keys,
    code-switched captions) and losses as an uninterrupted one."""
    whole = preset("m3p", toy, str(tmp_path / "whole"))
    train(whole)
    parts = preset("m3p", toy, str(tmp_path / "parts"), "loop.stop_at_step=3")
    train(parts)
    train(preset("m3p", toy, str(tmp_path / "parts")))
    expected = read_metrics(str(tmp_path / "whole" / "metrics.jsonl"))
    resumed = read_metrics(str(tmp_path / "parts" / "metrics.jsonl"))
    assert [m["step"] for m in resumed] == list(range(1, 7))
    for a, b in zip(expected, resumed):
        assert a["batch_digest"] == b["batch_digest"]
        assert a["data"]["caption/transform/codeswitched"] == b["data"]["caption/transform/codeswitched"]
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)


@pytest.mark.slow
def test_unified_preset_with_ddp_on_two_cpu_processes(toy, tmp_path):
    """torchrun, gloo: both ranks end with the same parameters (hard-negative ITM, TLM
    with cross-attention and the gathered contrastive losses under DDP)."""
    import os
    import subprocess
    import sys

    output = tmp_path / "ddp"
    overrides = [f"loop.output={output}", "loop.max_steps=3", "loop.progress=false", "data.workers=0", *TINY, *FUSION_LAYERS,
                 "tokenizer.vocab_size=4096", "tokenizer.max_length=16"]
    for i, size in enumerate((8, 16, 16)):
        overrides += [f"data.streams.{i}.folders=[{toy['caption']}]", f"data.streams.{i}.batch_size={size}"]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "babelshard.cli",
               "train", str(PRESETS / "train-unified.yaml")] + [arg for o in overrides for arg in ("-o", o)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(command, check=True, env=env, capture_output=True, timeout=300)
    digests = {json.loads((output / f"summary-rank{r}.json").read_text())["parameters"] for r in (0, 1)}
    assert len(digests) == 1
    assert json.loads((output / "summary-rank0.json").read_text())["world"] == 2
