"""Checksums of the models and dictionaries a config uses: each named by its config key,
changed when the file changes, ``absent`` where an optional dictionary is missing."""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil

from babelshard.configbase import parse_config
from babelshard.pipelines.jobs.artifacts import ABSENT, artifact_checksums, file_checksum
from babelshard.pipelines.jobs.config import JobConfig
from babelshard.testing import require_command, require_debian

FREEDICT = "/usr/share/dictd/freedict-eng-fra"


def config(root, **sections) -> JobConfig:
    return parse_config(JobConfig, {"output": {"folder": str(root / "out")}, **sections})


def copy_freedict(root) -> str:
    require_debian(FREEDICT + ".index", "dict-freedict-eng-fra")
    for suffix in (".index", ".dict.dz"):
        shutil.copy(FREEDICT + suffix, root / f"freedict-eng-fra{suffix}")
    return str(root / "freedict-eng-fra.index")


def test_lexicons_by_key_with_the_dictionary_data_and_a_missing_optional_one(tmp_path):
    index = copy_freedict(tmp_path)
    cfg = config(tmp_path, codeswitch={"lexicons": [
        {"format": "cldr"},
        {"format": "freedict", "path": index},
        {"format": "freedict", "path": str(tmp_path / "freedict-eng-xxx.index"), "optional": True},
    ]})
    before = artifact_checksums(cfg)
    assert list(before) == ["codeswitch.lexicons[0]", "codeswitch.lexicons[1]", "codeswitch.lexicons[2]"]
    assert before["codeswitch.lexicons[0]"] == f"emoji=={importlib.metadata.version('emoji')}"
    assert before["codeswitch.lexicons[1]"].startswith("sha256:")
    assert before["codeswitch.lexicons[2]"] == ABSENT
    # the entries live in the .dict.dz: a changed definition file changes the checksum
    with open(tmp_path / "freedict-eng-fra.dict.dz", "ab") as handle:
        handle.write(b"\0")
    assert artifact_checksums(cfg)["codeswitch.lexicons[1]"] != before["codeswitch.lexicons[1]"]


def test_language_id_models_of_every_stage(tmp_path, lid_model_path):
    model = tmp_path / "lid.176.ftz"
    shutil.copy(lid_model_path, model)
    digest = "sha256:" + hashlib.sha256(model.read_bytes()).hexdigest()
    cfg = config(
        tmp_path,
        captions={"sources": [{"name": "s", "format": "jsonl", "path": "x.jsonl"}],
                  "cleaning": {"language_check": {"model_path": str(model)}}},
        text={"sources": [{"name": "t", "format": "cc100", "language": "de", "paths": ["x"]}], "lid": {"model_path": str(model)}},
        parallel={"sources": [{"name": "p", "format": "po", "target_language": "fr", "paths": ["x"]}], "lid": {"enabled": False}},
    )
    assert artifact_checksums(cfg) == {"captions.cleaning.language_check.model_path": digest, "text.lid.model_path": digest}
    model.write_bytes(b"another model")
    assert set(artifact_checksums(cfg).values()) == {"sha256:" + hashlib.sha256(b"another model").hexdigest()}


def test_translation_engines(tmp_path):
    require_command("apertium", "apertium")
    require_debian("/usr/share/apertium/modes/eng-spa.mode", "apertium-eng-spa")
    model = tmp_path / "opus-mt"
    model.mkdir()
    (model / "model.bin").write_bytes(b"weights")
    (model / "source.spm").write_bytes(b"spm")
    cfg = config(tmp_path, translate={
        "targets": {"es": "apertium", "ca": "apertium", "de": "marian", "fr": "other"},
        "engines": {"apertium": {"kind": "apertium", "modes": {"en-ca": "eng-cat_nowhere"}},
                    "marian": {"kind": "ctranslate2", "model_path": str(model)},
                    "other": {"kind": "ctranslate2", "model_path": str(tmp_path / "missing")}},
        "filters": {"language_id": False},
    })
    checksums = artifact_checksums(cfg)
    assert list(checksums) == ["translate.engines.apertium[eng-cat_nowhere]", "translate.engines.apertium[eng-spa]",
                               "translate.engines.marian.model_path", "translate.engines.other.model_path"]
    assert checksums["translate.engines.apertium[eng-cat_nowhere]"] == ABSENT
    assert checksums["translate.engines.apertium[eng-spa]"].startswith("sha256:")
    assert checksums["translate.engines.other.model_path"] == ABSENT
    (model / "model.bin").write_bytes(b"other weights")
    assert artifact_checksums(cfg)["translate.engines.marian.model_path"] != checksums["translate.engines.marian.model_path"]


def test_a_file_checksum_is_its_sha256(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    assert file_checksum(str(path)) == "sha256:" + hashlib.sha256(b"abc").hexdigest()
    assert file_checksum(str(tmp_path / "none")) == ABSENT
    os.remove(path)
    assert file_checksum(str(path)) == ABSENT
