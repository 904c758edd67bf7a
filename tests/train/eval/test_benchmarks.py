"""The papers' benchmarks through evaluation: several captions per image, the MSCOCO 1K
protocol (each fold ranked on its own, recalls averaged), and ``babelshard eval
--benchmark`` from a release's files to a results table with languages as columns.

The releases are the 80 held-out toy emoji written in each benchmark's real layout
(rendered emoji as the images, CLDR names as the captions) and prepared by the same
function as ``babelshard benchmark prepare``."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from babelshard.pipelines.captions.benchmarks import prepare_benchmark
from babelshard.records import CaptionView
from babelshard.shards.reader import iter_samples
from babelshard.testing import write_karpathy_coco, write_xtd10
from babelshard.train.config import EvalConfig, ImageConfig
from babelshard.train.data.tokenizer import HashTokenizer
from babelshard.train.eval.retrieval import RECALL_KEYS, evaluate
from babelshard.train.registry import load_model_file

SENTENCE_LANGUAGES = ("en", "de", "es", "fr", "it")  # five "sentences" per image, as COCO has


def heldout_emoji(folder: str) -> list[CaptionView]:
    return [CaptionView(raw) for raw in iter_samples(folder)]


@pytest.fixture(scope="module")
def coco_release(toy, tmp_path_factory) -> tuple[str, str, int]:
    """dataset_coco.json: every held-out emoji a test image with five sentences (its name
    in five languages); the images in a COCO 2014 folder."""
    base = tmp_path_factory.mktemp("coco-release")
    images = [(view.image, [view.caption(lang) for lang in SENTENCE_LANGUAGES]) for view in heldout_emoji(toy["heldout"])]
    write_karpathy_coco(str(base / "caption_datasets"), str(base / "coco2014"), images)
    return str(base / "caption_datasets"), str(base / "coco2014"), len(images)


@pytest.fixture(scope="module")
def english_model(teacher):
    model, _, _ = load_model_file(teacher)
    return model, HashTokenizer(vocab_size=8192, max_length=16)


def test_five_fold_average_equals_the_mean_of_five_independent_evaluations(english_model, coco_release, tmp_path):
    """MSCOCO 1K at a fifth of the held-out emoji per fold: the 5K folder evaluated with
    folds gives exactly the mean of the five single-fold folders evaluated on their own."""
    root, images, count = coco_release
    fold_size = count // 5
    model, tokenizer = english_model
    whole = str(tmp_path / "test")
    prepare_benchmark("coco", root, whole, images=[images], fold_size=fold_size)
    image = ImageConfig(size=32)
    averaged = evaluate(model, tokenizer, EvalConfig(folders=[whole], image=image, folds=True))
    singles = []
    for fold in range(5):
        folder = str(tmp_path / f"fold{fold}")
        prepare_benchmark("coco", root, folder, images=[images], fold=fold, fold_size=fold_size)
        singles.append(evaluate(model, tokenizer, EvalConfig(folders=[folder], image=image))["languages"]["en"])
    english = averaged["languages"]["en"]
    assert averaged["folds"] == 5 and averaged["fold_images"] == [fold_size] * 5
    assert english["captions"] == 5 * count == sum(single["captions"] for single in singles)
    for key in RECALL_KEYS:
        assert english[key] == pytest.approx(np.mean([single[key] for single in singles]), abs=1e-9), key
        assert english["chance"][key] == pytest.approx(np.mean([single["chance"][key] for single in singles]), abs=1e-9)
        for fold, single in enumerate(singles):
            assert english["folds"][str(fold)][key] == pytest.approx(single[key], abs=1e-9)
    assert len({round(single["mean_recall"], 6) for single in singles}) > 1, "the folds should differ"
    # the same five folders given together are the same 1K protocol
    together = evaluate(model, tokenizer, EvalConfig(folders=[str(tmp_path / f"fold{k}") for k in range(5)], image=image, folds=True))
    assert together["languages"]["en"]["mean_recall"] == pytest.approx(english["mean_recall"], abs=1e-9)
    # ranked among all images at once (5K) the task is harder, so the numbers differ
    all_at_once = evaluate(model, tokenizer, EvalConfig(folders=[whole], image=image))["languages"]["en"]
    assert all_at_once["mean_recall"] < english["mean_recall"]
    assert all_at_once["chance"]["mean_recall"] < english["chance"]["mean_recall"]


def test_every_caption_of_an_image_is_a_query_and_a_target(english_model, coco_release, tmp_path):
    """Five sentences per image: 5 text→image queries per image, and image→text hits on any of
    five among 5N captions (chance 1 - C(5N-5, K)/C(5N, K)); one sentence: N queries."""
    root, images, count = coco_release
    model, tokenizer = english_model
    folder = str(tmp_path / "test")
    prepare_benchmark("coco", root, folder, images=[images])
    english = evaluate(model, tokenizer, EvalConfig(folders=[folder], image=ImageConfig(size=32)))["languages"]["en"]
    first_only = str(tmp_path / "first")
    prepare_benchmark("coco", root, first_only, images=[images], max_captions=1)
    single = evaluate(model, tokenizer, EvalConfig(folders=[first_only], image=ImageConfig(size=32)))["languages"]["en"]
    assert english["captions"] == 5 * count and single["captions"] == count
    assert english["chance"]["t2i_r1"] == single["chance"]["t2i_r1"] == pytest.approx(100 / count)
    captions = 5 * count
    assert english["chance"]["i2t_r5"] == pytest.approx(100 * (1 - math.comb(captions - 5, 5) / math.comb(captions, 5)))
    assert single["chance"]["i2t_r5"] == pytest.approx(100 * 5 / count)


def write_config(preset, teacher_run: str, path, *overrides: str) -> str:
    config = preset("clip-en", teacher_run, *overrides)
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")), encoding="utf-8")
    return str(path)


def test_eval_command_prepares_a_release_once_and_writes_the_papers_table(teacher_run, preset, toy, tmp_path):
    """XTD10's layout (11 languages, one caption each): `babelshard eval --benchmark xtd10
    --root` prepares it into the cache, evaluates every language, writes JSON and a
    Markdown table with English first and the other languages as columns; a second run
    reuses the cache."""
    from babelshard.cli import app

    root, images, cache = tmp_path / "xtd10", tmp_path / "coco2014", tmp_path / "cache"
    write_xtd10(str(root), str(images), [(view.image, {lang: view.caption(lang) for lang in view.languages})
                                         for view in heldout_emoji(toy["heldout"])])
    config = write_config(preset, teacher_run, tmp_path / "eval.yaml")
    target = tmp_path / "xtd10.json"
    command = ["eval", config, "--benchmark", "xtd10", "--root", str(root), "--images", str(images),
               "--cache", str(cache), "--output", str(target)]
    first = CliRunner().invoke(app, command)
    assert first.exit_code == 0, first.output
    assert "preparing xtd10 test" in first.output
    written = json.loads(target.read_text())
    assert written["benchmark"]["name"] == "xtd10" and written["benchmark"]["images"] == 80
    assert sorted(written["languages"]) == sorted(["de", "en", "es", "fr", "it", "ja", "ko", "pl", "ru", "tr", "zh"])
    assert all(m["captions"] == 80 for m in written["languages"].values())
    table = (tmp_path / "xtd10.md").read_text()
    assert "| | en | de | es | fr | it | ja | ko | pl | ru | tr | zh |" in table
    for row in ("image→text R@1", "text→image R@10", "**mean recall**", "chance (mean recall)"):
        assert f"| {row} |" in table
    english = written["languages"]["en"]["mean_recall"]
    assert f"| **mean recall** | {english:.1f} |" in table
    assert english > written["languages"]["en"]["chance"]["mean_recall"]  # the English-only teacher on unseen emoji
    assert len(os.listdir(cache)) == 1
    second = CliRunner().invoke(app, command)
    assert second.exit_code == 0 and "preparing" not in second.output
    assert json.loads(target.read_text())["languages"] == written["languages"]


def test_eval_command_runs_the_1k_protocol_on_a_prepared_folder(teacher_run, preset, coco_release, tmp_path):
    root, images, count = coco_release
    folder = str(tmp_path / "coco-test")
    prepare_benchmark("coco", root, folder, images=[images], fold_size=count // 5)
    config = write_config(preset, teacher_run, tmp_path / "eval.yaml", f"loop.output={tmp_path / 'run'}")
    from babelshard.cli import app

    result = CliRunner().invoke(app, ["eval", config, "--checkpoint", os.path.join(teacher_run, "model.pt"),
                                      "--benchmark", "coco-1k", "--folder", folder])
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "run" / "eval-coco-1k.json").read_text())
    assert written["folds"] == 5 and set(written["languages"]["en"]["folds"]) == {"0", "1", "2", "3", "4"}
    assert f"80 images, mean of 5 folds of {count // 5}" in (tmp_path / "run" / "eval-coco-1k.md").read_text()


def test_eval_command_errors_name_the_problem(teacher_run, preset, tmp_path):
    from babelshard.cli import app

    config = write_config(preset, teacher_run, tmp_path / "eval.yaml")
    cases = [
        (["--benchmark", "multi30k", "--folds", "--folder", str(tmp_path)], "benchmark multi30k has no 1K folds"),
        (["--benchmark", "nope", "--folder", str(tmp_path)], "unknown benchmark 'nope'"),
        (["--benchmark", "coco"], "give exactly one of folder (prepared) or root (release files)"),
        (["--root", str(tmp_path)], "--root and --folder need --benchmark NAME"),
        (["--benchmark", "coco", "--root", str(tmp_path), "--cache", str(tmp_path / "c")], "dataset_coco.json"),
    ]
    for extra, message in cases:
        result = CliRunner().invoke(app, ["eval", config, *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert message in result.output, (extra, result.output)


def test_eval_benchmarks_in_the_config_are_each_evaluated_and_written(teacher_run, preset, coco_release, tmp_path):
    """`eval.benchmarks`: MSCOCO 1K and 5K from one prepared folder, each with its own results files."""
    from babelshard.cli.evaluation import run_eval

    root, images, count = coco_release
    folder = str(tmp_path / "coco-test")
    prepare_benchmark("coco", root, folder, images=[images], fold_size=count // 5)
    benchmarks = f"[{{name: coco, folder: {folder}, folds: true}}, {{name: coco, folder: {folder}, label: coco-5k}}]"
    run = tmp_path / "run"
    config = write_config(preset, teacher_run, tmp_path / "eval.yaml", f"loop.output={run}", "eval.folders=[]",
                          f"eval.benchmarks={benchmarks}")
    results = run_eval(config, os.path.join(teacher_run, "model.pt"), [], None)
    assert sorted(results) == ["coco-1k", "coco-5k"]
    one_k, five_k = (json.loads((run / f"eval-{name}.json").read_text()) for name in ("coco-1k", "coco-5k"))
    assert one_k["folds"] == 5 and "folds" not in five_k
    assert one_k["languages"]["en"]["captions"] == five_k["languages"]["en"]["captions"] == 5 * count
    assert one_k["languages"]["en"]["chance"]["mean_recall"] > five_k["languages"]["en"]["chance"]["mean_recall"]
    assert (run / "eval-coco-1k.md").exists() and (run / "eval-coco-5k.md").exists()
