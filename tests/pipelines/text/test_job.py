"""The text and parallel streams end to end in a Beam TestPipeline on real data:
fortunes in five languages (three source formats) and Django catalogues (four
parallel formats), with the real fastText model."""
from __future__ import annotations

import gzip
import json
import lzma
import os

import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from babelshard.configbase import parse_config
from babelshard.pipelines.jobs.config import JobConfig
from babelshard.langid import load_lid_model, predict_languages
from babelshard.pipelines.text.parallel_readers import read_po
from babelshard.pipelines.text.clean import prepare_sentences
from babelshard.pipelines.text.config import PoSource
from babelshard.pipelines.jobs.text import add_text_streams
from babelshard.pipelines.text.readers import read_cc100
from babelshard.shards.weights import read_weights
from babelshard.shards.index import read_index
from babelshard.shards.reader import iter_records
from babelshard.stats import Drop
from babelshard.textnorm import normalize_for_key

pytestmark = pytest.mark.slow  # one Beam run of eight streams (~20 s here) shared by the module

LANGUAGES = ("de", "it", "es", "ru", "pl")


def write_inputs(root, fortunes, po_path) -> dict:
    """CC-100 .xz for every language, a Wikipedia dump for es, JSONL duplicating some German lines,
    a Russian fortune hidden in the German file; Django pairs as .po, Moses, TMX and WikiMatrix."""
    texts = {lang: fortunes(lang, 60) for lang in LANGUAGES}
    (root / "cc100").mkdir()
    for lang in LANGUAGES:
        lines = texts[lang] + (texts["ru"][:2] if lang == "de" else [])
        body = "".join(f"{line}\n" + ("\n" if i % 5 == 4 else "") for i, line in enumerate(lines))
        (root / "cc100" / f"{lang}.txt.xz").write_bytes(lzma.compress(body.encode()))
    (root / "wiki").mkdir()
    (root / "wiki" / "es_00").write_text(
        '<doc id="7" title="Refranes">\nRefranes\n\n' + "\n".join(fortunes("es", 80)[60:]) + "\n</doc>\n", encoding="utf-8"
    )
    (root / "de.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts["de"][:10]), encoding="utf-8")
    pairs = [p for p in read_po(open(po_path("fr"), "rb"), PoSource(name="x", format="po", target_language="fr", paths=["x"]), "fr") if not isinstance(p, Drop) and "\n" not in p.source_text]
    (root / "Django.en-fr.en.gz").write_bytes(gzip.compress("".join(p.source_text + "\n" for p in pairs).encode()))
    (root / "Django.en-fr.fr.gz").write_bytes(gzip.compress("".join(p.target_text + "\n" for p in pairs).encode()))
    (root / "WikiMatrix.en-fr.tsv").write_text(
        "".join(f"{1.0 + (i % 10) / 100:.2f}\t{p.source_text}\t{p.target_text}\n" for i, p in enumerate(pairs)), encoding="utf-8"
    )
    return texts


def job_config(root, out, lid_model_path) -> JobConfig:
    lid = {"model_path": lid_model_path, "min_score": 0.4}
    return parse_config(JobConfig, {
        "output": {"folder": str(out), "samples_per_shard": 50},
        "text": {
            "sources": [
                {"name": f"cc100-{lang}", "format": "cc100", "language": lang, "paths": [str(root / "cc100" / f"{lang}.txt.xz")]}
                for lang in LANGUAGES
            ] + [
                {"name": "wiki-es", "format": "wikipedia", "language": "es", "paths": [str(root / "wiki" / "*")]},
                {"name": "jsonl-de", "format": "jsonl", "language": "de", "paths": [str(root / "de.jsonl")]},
            ],
            "clean": {"min_chars": 15, "min_words": 3},
            "lid": lid,
        },
        "parallel": {
            "sources": [
                {"name": "django-de", "format": "po", "target_language": "de", "paths": [po_path_glob(root, "de")]},
                {"name": "django-ja", "format": "po", "target_language": "ja", "paths": [po_path_glob(root, "ja")]},
                {"name": "opus", "format": "moses", "source_language": "en", "target_language": "fr", "paths": [str(root / "*.en.gz")]},
                {"name": "wm", "format": "wikimatrix", "source_language": "en", "target_language": "fr", "paths": [str(root / "WikiMatrix.en-fr.tsv")]},
            ],
            "filters": {"min_score": 1.03, "min_chars": 2},
            "lid": lid,
            "alpha": 0.2,
        },
    })


def po_path_glob(root, language) -> str:
    return str(root / "locale" / language / "LC_MESSAGES" / "*.po")


def run_job(cfg) -> None:
    with TestPipeline() as pipeline:
        add_text_streams(pipeline, cfg)


@pytest.fixture(scope="module")
def built(tmp_path_factory, fortunes, po_path, lid_model_path):
    root = tmp_path_factory.mktemp("inputs")
    for language in ("de", "ja"):
        folder = root / "locale" / language / "LC_MESSAGES"
        folder.mkdir(parents=True)
        (folder / "django.po").write_bytes(open(po_path(language), "rb").read())
    texts = write_inputs(root, fortunes, po_path)
    out = tmp_path_factory.mktemp("out")
    cfg = job_config(root, out, lid_model_path)
    run_job(cfg)
    return root, out, cfg, texts


def test_one_folder_per_language_and_pair_with_counts_in_the_index(built):
    _, out, _, _ = built
    assert sorted(os.listdir(out / "text")) == sorted([*LANGUAGES, "weights.json"])
    assert sorted(os.listdir(out / "parallel")) == ["en-de", "en-fr", "en-ja", "weights.json"]
    for lang in LANGUAGES:
        index = read_index(str(out / "text" / lang))
        records = list(iter_records(str(out / "text" / lang), verify=True))
        assert index.stream == "text" and index.languages == {lang: len(records)} and len(records) > 10
        assert {r.language for r in records} == {lang}
    for pair in ("en-de", "en-fr", "en-ja"):
        index = read_index(str(out / "parallel" / pair))
        assert index.stream == "parallel" and set(index.languages) == {pair} and index.samples > 10


def test_every_kept_sentence_is_in_its_language_and_unique(built, lid_model_path):
    _, out, cfg, _ = built
    model = load_lid_model(lid_model_path)
    for lang in LANGUAGES:
        records = list(iter_records(str(out / "text" / lang)))
        predictions = predict_languages(model, [r.text for r in records])
        assert all(label == lang and score >= cfg.text.lid.min_score for label, score in predictions)
        assert [round(s, 4) for _, s in predictions] == [r.langid_score for r in records]
        assert len({normalize_for_key(r.text) for r in records}) == len(records)
        assert all(cfg.text.clean.min_chars <= len(r.text) <= cfg.text.clean.max_chars for r in records)


def test_nothing_is_lost_every_sentence_is_a_sample_or_a_counted_drop(built):
    root, out, cfg, texts = built
    cc100 = next(s for s in cfg.text.sources if s.language == "de")
    lines = lzma.decompress((root / "cc100" / "de.txt.xz").read_bytes()).splitlines(keepends=True)
    sentences = [o for record in read_cc100(lines, cc100, "de.txt.xz") for o in prepare_sentences(record, cfg.text.clean)]
    sentences += [o for t in texts["de"][:10] for o in prepare_sentences(
        next(read_cc100([t.encode()], cc100, "x")), cfg.text.clean)]
    stats = json.loads((out / "text" / "de" / "stats.json").read_text())
    assert stats["inputs"] == stats["outputs"] + stats["dropped"] == len(sentences)
    assert stats["outputs"] == read_index(str(out / "text" / "de")).samples
    drops = stats["drops"]
    assert drops["text/duplicate"] >= 10 - sum(isinstance(s, Drop) for s in sentences[-10:])  # the JSONL repeats
    assert drops["text/lid_mismatch"] >= 2  # the Russian fortunes in the German file
    failures = [row for f in sorted((out / "text" / "de").glob("*.failures.parquet")) for row in pq.read_table(f).to_pylist()]
    assert len(failures) == stats["dropped"]


def test_parallel_drops_by_reason(built):
    _, out, _, _ = built
    fr = json.loads((out / "parallel" / "en-fr" / "stats.json").read_text())
    # the same pairs came from Moses and WikiMatrix: one copy survives
    assert fr["drops"]["parallel/duplicate"] > 0 and fr["drops"]["parallel/score_below_threshold"] > 0
    ja = json.loads((out / "parallel" / "en-ja" / "stats.json").read_text())
    assert ja["inputs"] == ja["outputs"] + ja["dropped"]
    for pair in ("en-de", "en-fr", "en-ja"):
        records = list(iter_records(str(out / "parallel" / pair)))
        assert all(r.source_language == "en" and r.target_language == pair[3:] for r in records)
        assert all(len(r.meta["langid_scores"]) == 2 for r in records)


def test_every_counted_reason_is_an_enumerated_one(built):
    from babelshard.pipelines.jobs.reasons import stage_reasons, uncatalogued

    _, out, _, _ = built
    for stats_path in list((out / "text").glob("*/stats.json")) + list((out / "parallel").glob("*/stats.json")):
        stream = stats_path.parts[-3]
        allowed = {f"{stage}/{reason}" for stage in ("read", stream) for reason in stage_reasons(stage)}
        drops = json.loads(stats_path.read_text())["drops"]
        assert drops and set(drops) <= allowed and not uncatalogued(drops), stats_path


def test_weights_json_beside_the_indexes(built):
    _, out, cfg, _ = built
    text = read_weights(str(out / "text"))
    counts = {lang: read_index(str(out / "text" / lang)).samples for lang in LANGUAGES}
    total = sum(counts.values())
    assert text["alpha"] == 0.3 and text["total_samples"] == total
    assert {lang: row["p"] for lang, row in text["languages"].items()} == pytest.approx({k: v / total for k, v in counts.items()})
    assert sum(row["q"] for row in text["languages"].values()) == pytest.approx(1.0)
    parallel = read_weights(str(out / "parallel"))
    assert parallel["stream"] == "parallel" and parallel["alpha"] == 0.2 and set(parallel["languages"]) == {"en-de", "en-fr", "en-ja"}


@pytest.mark.slow
def test_rerun_into_a_new_folder_gives_identical_shards(built, tmp_path, lid_model_path):
    root, out, cfg, _ = built
    again = cfg.model_copy(update={"output": cfg.output.model_copy(update={"folder": str(tmp_path)})})
    run_job(again)
    for folder in [f"text/{lang}" for lang in LANGUAGES] + ["parallel/en-de", "parallel/en-fr", "parallel/en-ja"]:
        first, second = read_index(str(out / folder)), read_index(str(tmp_path / folder))
        assert [(s.name, s.sha256) for s in first.shards] == [(s.name, s.sha256) for s in second.shards]
