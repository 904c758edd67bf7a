"""The build job's hooks: downloaded caption samples go through the translate package's
TranslateCaptions (a tiny real CTranslate2 model; MT pairs become a parallel shard
folder) and the codeswitch package's CodeSwitchCaptions (the CLDR emoji lexicon)."""
from __future__ import annotations

import json
import os

import pytest

from babelshard.pipelines.jobs.config import JobConfig, OutputConfig
from babelshard.pipelines.jobs.build import MT_PARALLEL_FOLDER, caption_folder
from babelshard.pipelines.captions.config import CaptionJobConfig, TableSource
from babelshard.pipelines.jobs.run import run_job
from babelshard.shards.index import read_index
from babelshard.shards.reader import iter_records

CAPTIONS = ("A red apple on a wooden table.", "Two dogs play in the park.", "A cat sleeping on a couch.")


@pytest.fixture(scope="module")
def toy_marian(tmp_path_factory):
    from babelshard.translate.toy_model import build_toy_marian

    return build_toy_marian(tmp_path_factory.mktemp("toy-marian"))


@pytest.mark.slow
def test_translations_land_in_caption_shards_and_pairs_in_parallel_shards(
    tmp_path, image_server, download_settings, toy_marian
):
    from babelshard.translate.config import TranslateConfig

    tsv = tmp_path / "captions.tsv"
    lines = [f"{text}\t{image_server.url}/img/{i}.jpg" for i, text in enumerate(CAPTIONS)]
    tsv.write_text("\n".join(lines + [f"A lost picture.\t{image_server.url}/404"]) + "\n", encoding="utf-8")
    translate = TranslateConfig(
        targets={"es": "toy", "de": "toy"},
        engines={"toy": {"kind": "ctranslate2", "model_path": toy_marian.ctranslate2_dir, "language_tokens": "m2m100",
                         "device": "cpu", "beam_size": 1, "max_decoding_length": 8}},
        filters={"enabled": False},
        outputs={"parallel": True},
    )
    source = TableSource(name="cc", format="tsv", path=str(tsv), columns=["caption", "url"])
    cfg = JobConfig(
        output=OutputConfig(folder=str(tmp_path / "out"), samples_per_shard=2),
        captions=CaptionJobConfig(sources=[source], download=download_settings),
        translate=translate,
    )
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
