"""Every job kind through Beam's portable runner protocol gives the DirectRunner's bytes.

Each job is submitted with ``--runner=PortableRunner`` to Beam's own job service and
run by SDK worker processes that an external worker pool starts
(``--environment_type=EXTERNAL``): the path of Dataflow Runner v2, Flink and Spark.
Outputs are compared by the sha256 of every file: shards, per-shard stats, failures,
indexes, weights and vocabulary files.
"""
from __future__ import annotations

import json
import os

import pytest
import yaml
from typer.testing import CliRunner

from babelshard.cli import app
from babelshard.configbase import parse_config
from babelshard.fs import join, read_text
from babelshard.pipelines.jobs.run import run_job
from babelshard.pipelines.jobs.vocab import MANIFEST, artifact_hash, build_vocab
from babelshard.shards.index import read_index
from babelshard.shards.reader import iter_records
from babelshard.testing import folder_digests, require_command, require_debian
from babelshard.vocab.config import VocabConfig

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # a wedged job service must not hang CI
cli = CliRunner()


def same_bytes(direct: str, portable: str) -> dict[str, str]:
    """Both trees hold the same files with the same sha256; returns the digests."""
    expected, found = folder_digests(direct), folder_digests(portable)
    assert sorted(found) == sorted(expected)
    assert found == expected, sorted(name for name in expected if found[name] != expected[name])
    return found


def require_apertium_pairs() -> None:
    require_command("apertium", "apertium")
    for pair in ("spa", "cat"):
        require_debian(f"/usr/share/apertium/modes/eng-{pair}.mode", f"apertium-eng-{pair}")


def test_build_job_captions_text_and_parallel_streams(portable, direct_build, job_configs, tmp_path):
    output = str(tmp_path / "build")
    summary = run_job(job_configs.build(output), portable.runner_flags())
    digests = same_bytes(direct_build, output)
    folders = ("caption", "text/de", "text/it", "parallel/en-fr")
    assert all(f"{folder}/index.json" in digests for folder in folders)
    assert {"text/weights.json", "parallel/weights.json"} <= set(digests)
    assert all(read_index(join(output, folder)).samples > 0 for folder in folders)
    assert summary.streams[0].samples == read_index(join(output, "caption")).samples
    assert summary.downloaded == summary.streams[0].samples  # Beam metrics come back through the job service


def test_caption_job_with_apertium_translation_and_code_switching(portable, job_configs, tmp_path):
    require_apertium_pairs()
    direct, remote = str(tmp_path / "direct"), str(tmp_path / "portable")
    run_job(job_configs.translated(direct))
    run_job(job_configs.translated(remote), portable.runner_flags())
    digests = same_bytes(direct, remote)
    assert "parallel-mt/index.json" in digests
    index = read_index(join(remote, "caption"))
    assert {"es", "ca"} <= set(index.languages)
    assert any(record.codeswitched for record in iter_records(join(remote, "caption")))


def test_translate_command(portable, direct_build, job_configs, tmp_path):
    require_apertium_pairs()
    config = tmp_path / "translate.yaml"
    translation = {**job_configs.translation(), "targets": {"es": "apertium"}, "input_folder": join(direct_build, "caption")}
    config.write_text(yaml.safe_dump({"name": "translate", "output": {"folder": "unused", "samples_per_shard": 20},
                                      "translate": translation}))
    outputs = {"direct": str(tmp_path / "direct"), "portable": str(tmp_path / "portable")}
    for name, flags in (("direct", []), ("portable", portable.runner_flags())):
        result = cli.invoke(app, ["translate", str(config), "--output", outputs[name], *flags])
        assert result.exit_code == 0, result.output
    digests = same_bytes(outputs["direct"], outputs["portable"])
    assert {"caption/index.json", "parallel-mt/index.json"} <= set(digests)
    assert "es" in read_index(join(outputs["portable"], "caption")).languages


def vocab_config(direct_build: str, output: str, beam: dict | None = None) -> VocabConfig:
    return parse_config(VocabConfig, {
        "name": "portable", "captions": [join(direct_build, "caption")], "text": [join(direct_build, "text")],
        "output": output, "sentencepiece": {"vocab_size": 300, "character_coverage": 0.98, "sample_sentences": 2000},
        "fasttext": {"dim": 8, "epoch": 2, "min_count": 1, "bucket": 5000, "minn": 2, "maxn": 3},
        "beam": beam or {},
    })


def test_vocab_job_writing_to_s3_from_the_workers(portable, direct_build, s3, tmp_path):
    direct, remote = str(tmp_path / "vocab"), f"{s3}/vocab"
    portable_runner = {"runner": "PortableRunner", "options": portable.runner_options()}
    build_vocab(vocab_config(direct_build, direct))
    build_vocab(vocab_config(direct_build, remote, portable_runner))
    expected, found = folder_digests(direct), folder_digests(remote)
    assert {"counts/de.tsv", "counts/en.tsv", "counts/it.tsv", "sentencepiece/spm.model", "fasttext/de.bin"} <= set(found)
    assert {name: found[name] for name in found if name != MANIFEST} == {n: expected[n] for n in expected if n != MANIFEST}
    manifests = [json.loads(read_text(join(root, MANIFEST))) for root in (direct, remote)]
    # the manifests differ only in the output and runner their configs name; the hash leaves the runner out
    assert manifests[1].pop("config_hash") == artifact_hash(vocab_config(direct_build, remote))
    assert manifests[1]["config"].pop("beam")["runner"] == "PortableRunner"
    assert manifests[1]["config"].pop("output") == remote
    manifests[0].pop("config_hash"), manifests[0]["config"].pop("beam"), manifests[0]["config"].pop("output")
    assert manifests[0] == manifests[1]


def test_caption_job_writing_to_s3_from_the_workers(portable, direct_build, job_configs, s3):
    output = f"{s3}/captions"
    run_job(job_configs.caption(output), portable.runner_flags())
    digests = same_bytes(join(direct_build, "caption"), join(output, "caption"))
    assert "index.json" in digests and sum(name.endswith(".tar") for name in digests) >= 3
    assert not os.path.exists("s3:")  # nothing landed on the local disk under the URL's name
