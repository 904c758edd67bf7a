"""Job options on small real inputs: language ID and dedup switched off, and a rerun
that adds a language leaves the finished folders alone."""
from __future__ import annotations

import json
import os

import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from babelshard.pipelines.jobs.config import JobConfig
from babelshard.configbase import parse_config
from babelshard.pipelines.text.parallel_clean import prepare_pair
from babelshard.pipelines.text.parallel_readers import read_po
from babelshard.pipelines.jobs.text import add_text_streams
from babelshard.shards.index import read_index
from babelshard.stats import Drop


def run(cfg) -> None:
    with TestPipeline() as pipeline:
        add_text_streams(pipeline, cfg)


def po_config(out, paths: dict[str, str], **parallel) -> JobConfig:
    sources = [{"name": f"django-{lang}", "format": "po", "target_language": lang, "paths": [path]} for lang, path in paths.items()]
    return parse_config(JobConfig, {"output": {"folder": str(out)}, "parallel": {"sources": sources, **parallel}})


def test_without_lid_and_dedup_every_prepared_pair_is_kept(tmp_path, po_path):
    cfg = po_config(tmp_path, {"it": po_path("it")}, lid={"enabled": False}, filters={"dedup": False})
    run(cfg)
    with open(po_path("it"), "rb") as handle:
        items = list(read_po(handle, cfg.parallel.sources[0], "django.po"))
    prepared = [prepare_pair(p, cfg.parallel.filters) if not isinstance(p, Drop) else p for p in items]
    expected = sum(not isinstance(p, Drop) for p in prepared)
    index = read_index(str(tmp_path / "parallel" / "en-it"))
    assert index.samples == expected and index.languages == {"en-it": expected}


@pytest.mark.slow
def test_adding_a_language_does_not_rewrite_finished_folders(tmp_path, po_path):
    run(po_config(tmp_path, {"de": po_path("de")}, lid={"enabled": False}))
    folder = tmp_path / "parallel" / "en-de"
    before = {name: os.stat(folder / name).st_mtime_ns for name in os.listdir(folder) if name.endswith(".tar")}
    run(po_config(tmp_path, {"de": po_path("de"), "pl": po_path("pl")}, lid={"enabled": False}))
    after = {name: os.stat(folder / name).st_mtime_ns for name in os.listdir(folder) if name.endswith(".tar")}
    assert before and before == after
    assert read_index(str(tmp_path / "parallel" / "en-pl")).samples > 100


def test_batch_size_and_dedup_buckets_do_not_change_the_shards(tmp_path, po_path):
    """The same catalogue read twice (two sources) is deduplicated across batches and
    buckets; small batches and few buckets give the same shards, byte for byte, as the
    defaults, and every second copy is a counted duplicate."""
    def config(out, **batching):
        sources = [
            {"name": name, "format": "po", "target_language": "it", "paths": [po_path("it")]} for name in ("copy-a", "copy-b")
        ]
        return parse_config(JobConfig, {
            "output": {"folder": str(out), "samples_per_shard": 40},
            "parallel": {"sources": sources, "lid": {"enabled": False}, **batching},
        })

    run(config(tmp_path / "default"))
    run(config(tmp_path / "small", batch_size=7, dedup_buckets=3))
    default = read_index(str(tmp_path / "default" / "parallel" / "en-it"))
    small = read_index(str(tmp_path / "small" / "parallel" / "en-it"))
    assert [(s.name, s.sha256) for s in default.shards] == [(s.name, s.sha256) for s in small.shards]

    with open(po_path("it"), "rb") as handle:
        items = list(read_po(handle, config(tmp_path).parallel.sources[0], "django.po"))
    prepared = [prepare_pair(p, config(tmp_path).parallel.filters) for p in items if not isinstance(p, Drop)]
    kept = [p for p in prepared if not isinstance(p, Drop)]
    unique = {(p.source_text.casefold(), p.target_text.casefold()) for p in kept}
    assert default.samples == len(unique) > 100
    with open(tmp_path / "small" / "parallel" / "en-it" / "stats.json") as handle:
        stats = json.load(handle)
    assert stats["drops"]["parallel/duplicate"] == 2 * len(kept) - len(unique)


def test_dedup_rows_need_a_record_type_keyed_by_its_first_field():
    """Rows carry a record's field values with its key first; another layout is refused
    when the pipeline is built, naming the field."""
    from dataclasses import dataclass

    from babelshard.pipelines.text.beam import DedupExact, row_getter
    from babelshard.pipelines.text.clean import text_dedup_key
    from babelshard.records import ParallelPair, TextSample

    @dataclass(frozen=True)
    class Untitled:
        text: str
        key: str

    with pytest.raises(TypeError, match="`key` as the first field, got 'text'"):
        DedupExact("text", text_dedup_key, Untitled, buckets=4, batch_size=10)
    sample = TextSample("k1", "Ein Satz.", "de", "src", 0.5)
    assert TextSample(*row_getter(TextSample)(sample)) == sample
    pair = ParallelPair("k2", "en", "de", "A sentence.", "Ein Satz.", "src", 1.5, {"n": 1})
    assert ParallelPair(*row_getter(ParallelPair)(pair)) == pair
