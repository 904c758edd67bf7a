"""Model files: any kind through the registry, a kind a caller does not accept refused by
name, and files saved when the model config held every kind's options."""
from __future__ import annotations

import pytest
import torch

from babelshard.train.models.dual_encoder import build_text, load_model_file_with
from babelshard.train.registry import load_model_file

EVERY_KINDS_OPTIONS = {"teacher": None, "languages": [], "bottleneck": 32, "encoder": None, "projector_layers": 2,
                       "fusion": {"layers": None, "heads": None, "mlp_ratio": None, "dropout": 0.0, "special_ids": [0, 1, 2, 3],
                                  "region_classes": 0, "hybrid_vocab": None}}


def test_a_model_file_saved_with_every_kinds_options_loads(teacher, tmp_path):
    data = torch.load(teacher, map_location="cpu", weights_only=True)
    model_config = data["model"]
    old = {**model_config, **EVERY_KINDS_OPTIONS, "vision": {**model_config["vision"], "feature_dim": None, "feature": None}}
    path = tmp_path / "old-model.pt"
    torch.save({**data, "model": old}, path)
    model, config, vocab = load_model_file(str(path))
    reference, reference_config, reference_vocab = load_model_file(teacher)
    assert config == reference_config and vocab == reference_vocab
    state, expected = model.state_dict(), reference.state_dict()
    assert state.keys() == expected.keys() and all(torch.equal(state[k], expected[k]) for k in state)


def test_a_kind_the_caller_does_not_accept_is_refused_by_name(teacher):
    with pytest.raises(ValueError, match="a 'clip' model, expected 'text'"):
        load_model_file_with(teacher, {"text": build_text})
