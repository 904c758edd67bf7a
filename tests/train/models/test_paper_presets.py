"""The paper-setting presets (configs/paper/) validate without their checkpoints, point at
local checkpoints, and name the paper settings they carry."""
from __future__ import annotations

from pathlib import Path

import pytest

from babelshard.train.config import load_train_config
from babelshard.train.model_config import image_checkpoint

PAPER = Path(__file__).resolve().parents[3] / "configs" / "paper"
PRESETS = sorted(PAPER.glob("train-*.yaml"))


def test_every_method_of_this_trainer_on_pretrained_backbones_has_a_paper_preset():
    names = {p.stem for p in PRESETS}
    assert {"train-mla-stage1", "train-mla-stage2", "train-mclip-mte-nmt", "train-mclip-mte", "train-mclip",
            "train-mclip-finetune"} <= names


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_paper_presets_validate_and_point_at_local_checkpoints(path):
    config = load_train_config(path)
    assert config.loop.output.startswith("out/train/paper/")
    header = path.read_text(encoding="utf-8").split("\nname:")[0]
    assert "Not reached here" in header and "checkpoints/" in path.read_text(encoding="utf-8")
    for stream in config.data.streams:
        if stream.kind == "caption" and stream.image is not None:
            assert stream.image.processor == image_checkpoint(config.model.model_dump())  # the image encoder's own preprocessing
            assert stream.image.processor.startswith("checkpoints/clip-vit-base-patch")


def test_the_paper_presets_carry_the_papers_fixed_settings():
    stage2 = load_train_config(PAPER / "train-mla-stage2.yaml")
    assert stage2.optim.lr == 3e-6 and stage2.objectives[0].temperature == 0.01
    assert not stage2.objectives[0].learnable_temperature
    trikd = load_train_config(PAPER / "train-mclip.yaml").objectives[0]
    assert trikd.ttc_temperature == 0.07 and trikd.ttc_weight == 0.1
    mte = load_train_config(PAPER / "train-mclip-mte.yaml")
    assert {(o.kind, o.weight) for o in mte.objectives} == {("nmt", 1.0), ("ctl", 2.0)}
    assert load_train_config(PAPER / "train-mclip-finetune.yaml").objectives[0].multi_positive
