"""The papers' protocols over a method's preset: zero-shot evaluates the pretrained model,
FT-en / FT-all fine-tune once on English / every language, FT-each once per language
with each language evaluated by its own run; through ``babelshard train`` and ``eval``."""
from __future__ import annotations

import json
import os

import pytest
import yaml
from typer.testing import CliRunner

from babelshard.configbase import ConfigError
from babelshard.train.protocol import protocol_runs


def config_file(preset, output, tmp_path, *overrides: str) -> str:
    config = preset("clip-en", output, *overrides)
    path = tmp_path / "protocol.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")), encoding="utf-8")
    return str(path)


def caption_languages(run) -> list[str] | None:
    return next(s for s in run.config.data.streams if s.name == "caption").languages


def test_each_protocol_expands_into_its_runs(preset, tmp_path):
    out = str(tmp_path / "ft")
    zero = protocol_runs(preset("clip-en", out, "protocol.kind=zero-shot", "model.init=pretrained.pt"))
    assert [(r.label, r.trains, r.model_path) for r in zero] == [("zero-shot", False, "pretrained.pt")]
    english = protocol_runs(preset("clip-en", out, "protocol.kind=ft-en", "data.streams.0.languages=[de, en]"))
    assert [(r.label, caption_languages(r), r.config.loop.output) for r in english] == [("ft-en", ["en"], out)]
    every = protocol_runs(preset("clip-en", out, "protocol.kind=ft-all", "protocol.languages=[de, en, ja]"))
    assert [(r.label, caption_languages(r), r.eval_languages) for r in every] == [("ft-all", ["de", "en", "ja"], None)]
    each = protocol_runs(preset("clip-en", out, "protocol.kind=ft-each", "data.streams.0.languages=[de, ja]"))
    assert [(r.label, caption_languages(r), r.eval_languages, r.model_path) for r in each] == [
        ("ft-each/de", ["de"], ["de"], os.path.join(out, "de", "model.pt")),
        ("ft-each/ja", ["ja"], ["ja"], os.path.join(out, "ja", "model.pt")),
    ]
    with pytest.raises(ConfigError, match="protocol.stream 'nope' is not a caption stream"):
        preset("clip-en", out, "protocol.kind=ft-en", "protocol.stream=nope")


@pytest.mark.slow
def test_ft_each_trains_a_model_per_language_and_evaluates_each_with_its_own(preset, teacher, tiny_model, tmp_path):
    from babelshard.cli import app

    output = str(tmp_path / "ft-each")
    config = config_file(preset, output, tmp_path, *tiny_model, f"model.init={teacher}", "protocol.kind=ft-each",
                         "protocol.languages=[de, ja]", "loop.max_steps=3")
    trained = CliRunner().invoke(app, ["train", config])
    assert trained.exit_code == 0, trained.output
    assert "ft-each/de: step 3" in trained.output and "ft-each/ja: step 3" in trained.output
    evaluated = CliRunner().invoke(app, ["eval", config])
    assert evaluated.exit_code == 0, evaluated.output
    results = json.loads(open(os.path.join(output, "eval.json")).read())
    assert results["protocol"] == "ft-each" and sorted(results["languages"]) == ["de", "ja"]
    assert results["models"] == {lang: os.path.join(output, lang, "model.pt") for lang in ("de", "ja")}
    table = open(os.path.join(output, "eval.md")).read()
    assert "| | de | ja |" in table and "ft-each" in table
    refused = CliRunner().invoke(app, ["eval", config, "--checkpoint", teacher])
    assert refused.exit_code == 2 and "one model per language" in refused.output


def test_zero_shot_trains_nothing_and_evaluates_the_pretrained_model(preset, teacher, tmp_path):
    from babelshard.cli import app

    output = str(tmp_path / "zero")
    config = config_file(preset, output, tmp_path, f"model.init={teacher}", "protocol.kind=zero-shot", "eval.languages=[en, de]")
    trained = CliRunner().invoke(app, ["train", config])
    assert trained.exit_code == 0 and f"zero-shot: nothing to train; `babelshard eval` evaluates {teacher}" in trained.output
    assert not os.path.exists(os.path.join(output, "model.pt"))
    evaluated = CliRunner().invoke(app, ["eval", config])
    assert evaluated.exit_code == 0, evaluated.output
    results = json.loads(open(os.path.join(output, "eval.json")).read())
    assert results["model"] == teacher and results["protocol"] == "zero-shot"
    assert sorted(results["languages"]) == ["de", "en"]


def test_ft_each_results_take_each_language_from_its_own_run(preset, tmp_path):
    from babelshard.train.protocol import merge_language_results

    runs = protocol_runs(preset("clip-en", str(tmp_path), "protocol.kind=ft-each", "protocol.languages=[de, ja]"))
    per_run = [(run, {"images": 80, "languages": {lang: {"mean_recall": float(n)}}})
               for n, (run, lang) in enumerate(zip(runs, ["de", "ja"]))]
    plain = merge_language_results(per_run)
    assert plain["languages"] == {"de": {"mean_recall": 0.0, "model": runs[0].model_path},
                                  "ja": {"mean_recall": 1.0, "model": runs[1].model_path}}
    assert plain["images"] == 80 and plain["models"] == {"de": runs[0].model_path, "ja": runs[1].model_path}
    scored = merge_language_results([(run, {"embedding": results, "itm": results}) for run, results in per_run])
    assert scored["embedding"] == scored["itm"] == plain and scored["models"] == plain["models"]
