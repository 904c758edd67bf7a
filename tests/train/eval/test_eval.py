"""Retrieval mean recall: the metric on a small worked case, chance levels against random
rankings, evaluation of a trained model on real shards, and ``babelshard eval``."""
from __future__ import annotations

import json
import os

import numpy as np
import torch
import yaml
from typer.testing import CliRunner

from babelshard.train.config import EvalConfig, ImageConfig
from babelshard.train.eval.retrieval import chance_recall, evaluate, recall_at_k
from babelshard.train.registry import load_model_file
from babelshard.train.data.tokenizer import HashTokenizer


def test_recall_counts_any_own_caption_for_image_to_text():
    # 3 images; captions 0 and 1 belong to image 0, caption 2 to image 1, caption 3 to image 2
    owner = torch.tensor([0, 0, 1, 2])
    similarity = torch.tensor([
        [0.1, 0.8, 0.9, 0.0],  # image 0: its caption 1 ranks second
        [0.0, 0.1, 0.2, 0.3],  # image 1: its caption 2 ranks second
        [0.9, 0.0, 0.0, 0.1],  # image 2: its caption 3 ranks second
    ])
    result = recall_at_k(similarity, owner, ks=(1, 2))
    assert result["i2t_r1"] == 0.0 and result["i2t_r2"] == 100.0
    # caption 0: image 2 scores higher (second); 1: first; 2: image 0 higher; 3: image 1 higher
    assert result["t2i_r1"] == 25.0 and result["t2i_r2"] == 100.0
    assert result["mean_recall"] == (0 + 100 + 25 + 100) / 4


def test_chance_levels_match_random_rankings():
    rng = np.random.default_rng(0)
    per_image = [1, 2, 1, 3, 1] * 8  # 40 images, 64 captions
    owner = torch.tensor(np.repeat(np.arange(40), per_image))
    runs = [recall_at_k(torch.from_numpy(rng.standard_normal((40, len(owner)))), owner) for _ in range(300)]
    chance = chance_recall(per_image)
    for name in ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10"):
        observed = np.mean([r[name] for r in runs])
        assert abs(observed - chance[name]) < 0.15 * chance[name] + 0.5, (name, observed, chance[name])


def test_trained_english_model_retrieves_english_far_above_chance(teacher, toy):
    model, _, _ = load_model_file(teacher)
    config = EvalConfig(folders=[toy["caption"]], image=ImageConfig(size=32), languages=["en", "de"])
    results = evaluate(model, HashTokenizer(vocab_size=8192, max_length=16), config)
    assert results["images"] == 320 and set(results["languages"]) == {"en", "de"}
    english = results["languages"]["en"]
    assert english["captions"] == 320
    assert english["mean_recall"] > 3 * english["chance"]["mean_recall"]


def test_eval_command_writes_per_language_results(teacher_run, preset, toy, tmp_path):
    from babelshard.cli import app

    config = preset("clip-en", teacher_run, "eval.languages=[en,ja]")
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")), encoding="utf-8")
    target = tmp_path / "results.json"
    result = CliRunner().invoke(app, ["eval", str(path), "--output", str(target)])
    assert result.exit_code == 0, result.output
    written = json.loads(target.read_text())
    assert written["images"] == 80 and sorted(written["languages"]) == ["en", "ja"]
    assert written["model"] == os.path.join(teacher_run, "model.pt")
    assert "mean_recall" in result.output and "ja" in result.output


def test_eval_command_skips_and_counts_a_truncated_shard(teacher_run, preset, toy, tmp_path):
    """Shards cut short (an interrupted copy) are skipped and counted, as the training
    streams do, not a tarfile.ReadError (cut inside a member) nor read as a shorter
    shard (cut between members); the other shards are evaluated."""
    from babelshard.cli import app
    from babelshard.shards.reader import iter_records
    from babelshard.shards.writer import write_records

    folder = tmp_path / "heldout"
    index = write_records(str(folder), "caption", list(iter_records(toy["heldout"])), max_samples=20)
    shards = sorted(folder.glob("*.tar"))
    assert len(shards) == 4 and index.samples == 80
    for shard, cut in ((shards[1], 100), (shards[2], 0)):  # inside a member; at a 512-byte block boundary
        data = shard.read_bytes()
        shard.write_bytes(data[: len(data) // 1024 * 512 + cut])
    config = preset("clip-en", teacher_run, "eval.languages=[en]", f"eval.folders=[{folder}]")
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")), encoding="utf-8")
    target = tmp_path / "results.json"
    result = CliRunner().invoke(app, ["eval", str(path), "--output", str(target)])
    assert result.exit_code == 0, result.output
    written = json.loads(target.read_text())
    assert written["shard_errors"] == 2 and written["images"] == 40
    assert written["languages"]["en"]["captions"] == 40
    assert "2 unreadable shards" in (tmp_path / "results.md").read_text()
    for shard in shards:
        shard.write_bytes(b"")
    result = CliRunner().invoke(app, ["eval", str(path), "--output", str(target)])
    assert result.exit_code == 2 and "no evaluation samples" in result.output and "4 unreadable shards" in result.output
