"""The paper presets (configs/paper/) parse as they ship, hold the papers' settings that
babelshard reaches, and name in their headers what they do not reach."""
from __future__ import annotations

from pathlib import Path

import pytest

from babelshard.train.config import load_train_config

PAPER = Path(__file__).resolve().parents[3] / "configs" / "paper"


@pytest.mark.parametrize("method", ["unified", "m3p", "smalr"])
def test_paper_preset_parses_and_names_what_it_does_not_reach(method):
    path = PAPER / f"train-{method}.yaml"
    config = load_train_config(path)
    assert config.model.kind == method and config.name == f"{method}-paper"
    assert "Not reached here:" in path.read_text()


def test_unified_paper_settings():
    config = load_train_config(PAPER / "train-unified.yaml")
    model = config.model
    assert model.text_checkpoint.path.endswith("xlm-roberta-base") and model.text_layers == 6
    assert model.image_checkpoint.kind == "hf_clip" and model.text.pool == "first"
    caption, pairs, text = config.data.streams
    assert (caption.batch_size, pairs.batch_size, text.batch_size) == (512 // 8, 2048 // 8, 2048 // 8)
    assert text.language_alpha == 0.3 and caption.languages == ["en"]
    assert len({caption.max_length, pairs.max_length, config.tokenizer.max_length}) == 3  # one max length per stream
    assert caption.image.randaugment is not None and caption.image.processor == model.image_checkpoint.path
    kinds = {o.kind: o for o in config.objectives}
    assert set(kinds) == {"ucl", "xmlm", "tlm", "vlm", "itm"}
    assert kinds["ucl"].pair_stream == "pairs" and kinds["ucl"].learnable_temperature
    assert all(o.mask_probability == 0.15 for o in config.objectives if hasattr(o, "mask_probability"))
    assert "UC2" not in (PAPER.parent / "train-unified.yaml").read_text()


def test_m3p_paper_settings():
    config = load_train_config(PAPER / "train-m3p.yaml")
    caption = config.data.streams[0]
    assert config.model.text_checkpoint.path.endswith("xlm-roberta-base")
    assert config.model.vision.kind == "regions" and config.model.vision.feature_dim == 2048
    assert caption.regions.classes == "regions_cls" and caption.image is None and caption.codeswitch is not None
    kinds = {o.kind: o for o in config.objectives}
    assert set(kinds) == {"xmlm", "mc_mlm", "mc_mrm", "mc_vlm"}
    assert kinds["mc_vlm"].replace == "image_or_text" and kinds["mc_mrm"].class_loss == "ce"
