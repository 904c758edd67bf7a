"""The build job's hooks: caption records (no images yet) go through the translate
package's TranslateCaptions (a tiny real CTranslate2 model; MT pairs of the caption
samples become a parallel shard folder) and the codeswitch package's CodeSwitchCaptions
(the CLDR emoji lexicon), then each shard is downloaded and written in one step."""
from __future__ import annotations

import hashlib
import json
import os
import typing
from collections import Counter

import apache_beam as beam
import pytest
from apache_beam.pipeline import PipelineVisitor

from babelshard.pipelines.jobs.config import JobConfig, OutputConfig
from babelshard.pipelines.jobs.build import MT_PARALLEL_FOLDER, build_pipeline, caption_folder
from babelshard.pipelines.captions.config import CaptionJobConfig, DownloadConfig, TableSource
from babelshard.pipelines.jobs.run import run_job
from babelshard.testing import toy_translation
from babelshard.records import stable_key
from babelshard.shards.bucket import shard_of
from babelshard.shards.index import read_index
from babelshard.shards.reader import iter_records

CAPTIONS = ("A red apple on a wooden table.", "Two dogs play in the park.", "A cat sleeping on a couch.")


@pytest.fixture(scope="module")
def toy_marian(tmp_path_factory):
    from babelshard.translate.toy_model import build_toy_marian

    return build_toy_marian(tmp_path_factory.mktemp("toy-marian"))


def translate_job(tmp_path, server, download_settings, toy_marian, codeswitch=None) -> JobConfig:
    """Three captions with images and one whose image is missing (404), translated to es and de."""
    from babelshard.translate.config import TranslateConfig

    tsv = tmp_path / "captions.tsv"
    lines = [f"{text}\t{server.url}/img/{i}.jpg" for i, text in enumerate(CAPTIONS)]
    tsv.write_text("\n".join(lines + [f"A lost picture.\t{server.url}/404"]) + "\n", encoding="utf-8")
    translate = TranslateConfig(**toy_translation(toy_marian.ctranslate2_dir))
    source = TableSource(name="cc", format="tsv", path=str(tsv), columns=["caption", "url"])
    return JobConfig(
        output=OutputConfig(folder=str(tmp_path / "out"), samples_per_shard=2),
        captions=CaptionJobConfig(sources=[source], download=download_settings),
        translate=translate,
        codeswitch=codeswitch,
    )


@pytest.mark.slow
def test_translations_land_in_caption_shards_and_pairs_in_parallel_shards(
    tmp_path, image_server, download_settings, toy_marian
):
    cfg = translate_job(tmp_path, image_server, download_settings, toy_marian)
    run_job(cfg)

    folder = caption_folder(cfg)
    records = list(iter_records(folder))
    assert sorted(r.caption for r in records) == sorted(CAPTIONS)
    for record in records:
        assert set(record.captions) == {"en", "es", "de"}
        assert all(record.captions[lang].provenance == "mt" for lang in ("es", "de"))
        assert record.image is not None
    stats = json.load(open(os.path.join(folder, "stats.json")))
    assert stats["inputs"] == 4 == stats["outputs"] + stats["dropped"]
    assert stats["drops"] == {"download/not_found": 1}

    pairs = read_index(os.path.join(cfg.output.folder, MT_PARALLEL_FOLDER))
    assert pairs.stream == "parallel" and pairs.languages == {"en-de": 3, "en-es": 3}
    sample_keys = {r.key for r in records}
    assert {p.meta["sample_key"] for p in iter_records(os.path.join(cfg.output.folder, MT_PARALLEL_FOLDER))} == sample_keys


def file_digests(folder: str) -> dict[str, str]:
    return {
        name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
        for name in sorted(os.listdir(folder))
        if name.endswith((".tar", ".parquet", "index.json"))
    }


@pytest.mark.slow
def test_rerun_with_parallel_pairs_downloads_only_missing_shards_and_keeps_the_pairs(
    tmp_path, image_server, download_settings, toy_marian
):
    """Complete caption shards are skipped after translation: a rerun fetches nothing
    again, and the pairs (of samples in complete shards too) come out the same."""
    cfg = translate_job(tmp_path, image_server, download_settings, toy_marian)
    paths = [f"/img/{i}.jpg" for i in range(len(CAPTIONS))] + ["/404"]
    before = Counter(image_server.hits)
    run_job(cfg)
    assert all(image_server.hits[p] - before[p] == 1 for p in paths)
    captions, pairs = caption_folder(cfg), os.path.join(cfg.output.folder, MT_PARALLEL_FOLDER)
    first_captions, first_pairs = file_digests(captions), file_digests(pairs)

    before = Counter(image_server.hits)
    run_job(cfg)
    assert all(image_server.hits[p] == before[p] for p in paths), "a complete run fetched again"
    assert file_digests(captions) == first_captions and file_digests(pairs) == first_pairs

    victim = sorted(name for name in first_captions if name.endswith(".tar"))[0]
    os.remove(os.path.join(captions, victim))
    for name in os.listdir(pairs):
        os.remove(os.path.join(pairs, name))
    num_shards = json.load(open(os.path.join(captions, victim.replace(".tar", ".stats.json"))))["num_shards"]
    in_victim = {p for p in paths if shard_of(stable_key("cc", image_server.url + p), num_shards) == int(victim[6:12])}
    before = Counter(image_server.hits)
    run_job(cfg)
    assert in_victim and {p for p in paths if image_server.hits[p] > before[p]} == in_victim
    assert file_digests(captions) == first_captions and file_digests(pairs) == first_pairs
    assert read_index(pairs).languages == {"en-de": 3, "en-es": 3}


class Leaves(PipelineVisitor):
    def __init__(self):
        self.leaves = []

    def visit_transform(self, node):
        self.leaves.append(node)


def upstream(node, producers) -> set:
    """Every leaf transform whose output reaches ``node`` (main or side inputs)."""
    seen, stack = set(), [node]
    while stack:
        current = stack.pop()
        for pcoll in [*current.inputs, *(side.pvalue for side in current.side_inputs)]:
            producer = producers.get(pcoll)
            if producer is not None and producer not in seen:
                seen.add(producer)
                stack.append(producer)
    return seen


@pytest.mark.slow
def test_with_translation_image_bytes_never_cross_a_shuffle(tmp_path, image_server, toy_marian):
    """The graph: one step downloads, right after the shard grouping, downstream of
    translation and code-switching; it writes the shard itself and emits only its stats."""
    from babelshard.codeswitch.config import CodeSwitchConfig

    codeswitch = CodeSwitchConfig(lexicons=[{"format": "cldr"}], languages=["de"], variants=1)
    cfg = translate_job(tmp_path, image_server, DownloadConfig(), toy_marian, codeswitch=codeswitch)
    visitor = Leaves()
    build_pipeline(cfg).visit(visitor)
    producers = {pcoll: node for node in visitor.leaves for pcoll in node.outputs.values()}
    downloads = [
        node for node in visitor.leaves
        if isinstance(node.transform, beam.ParDo) and isinstance(getattr(node.transform.fn, "settings", None), DownloadConfig)
    ]
    assert len(downloads) == 1, [node.full_label for node in downloads]
    download = downloads[0]
    assert isinstance(producers[download.inputs[0]].transform, beam.GroupByKey)
    before = {node.full_label for node in upstream(download, producers)}
    assert any(label.startswith("Translate/") for label in before)
    assert any(label.startswith("Codeswitch") for label in before)
    after = [node for node in visitor.leaves if download in upstream(node, producers)]
    assert after and not any(node.full_label.startswith(("Translate/", "Codeswitch")) for node in after)
    shard_stats = beam.typehints.Dict[str, typing.Any]  # what the step emits: no samples, no images
    assert [pcoll.element_type for pcoll in download.outputs.values()] == [shard_stats]


def test_code_switched_variants_land_in_caption_shards(tmp_path, image_server, download_settings):
    from babelshard.codeswitch.config import CodeSwitchConfig

    captions = ("a red apple next to a dog", "a cat and a rocket", "the sun over a mountain")
    tsv = tmp_path / "captions.tsv"
    tsv.write_text("".join(f"{text}\t{image_server.url}/img/{i}.png\n" for i, text in enumerate(captions)), encoding="utf-8")
    codeswitch = CodeSwitchConfig(lexicons=[{"format": "cldr"}], languages=["de", "fr"], variants=2, word_ratio=1.0)
    cfg = JobConfig(
        output=OutputConfig(folder=str(tmp_path / "out"), samples_per_shard=2),
        captions=CaptionJobConfig(
            sources=[TableSource(name="cc", format="tsv", path=str(tsv), columns=["caption", "url"])],
            download=download_settings,
        ),
        codeswitch=codeswitch,
    )
    run_job(cfg)
    records = list(iter_records(caption_folder(cfg)))
    assert sorted(r.caption for r in records) == sorted(captions)
    variants = [v for r in records for v in r.codeswitched]
    assert variants, "no caption was code-switched"
    assert {lang for v in variants for lang in v.langs} <= {"en", "de", "fr"}
    assert any(lang in ("de", "fr") for v in variants for lang in v.langs)
    assert all(len(v.tokens) == len(v.langs) for v in variants)
