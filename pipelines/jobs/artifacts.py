"""Checksums of the models and dictionaries a job config uses.

The same config gives the same shards only on workers with the same language-ID model,
lexicons and translation data. :func:`artifact_checksums` names each artifact by the
config key that selects it and gives the sha256 of what this machine has there, or
``absent`` where an optional file is missing, so a hash built from it changes when
any of them does.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shlex
from typing import Iterator

from babelshard.checkpoints import file_sha256
from babelshard.codeswitch.config import LexiconSource
from babelshard.codeswitch.lexicons.dictd import dict_path_for
from babelshard.fs import filesystem, is_local
from babelshard.langid import default_lid_path
from babelshard.pipelines.jobs.config import JobConfig
from babelshard.translate.apertium_engine import apertium_mode
from babelshard.translate.config import ApertiumEngineConfig, CTranslate2EngineConfig

ABSENT = "absent"
APERTIUM_MODE_FOLDERS = ("/usr/share/apertium/modes", "/usr/local/share/apertium/modes")


def file_checksum(url: str) -> str:
    """sha256 of a file's bytes (cached per size and mtime), or the store's own checksum for a remote object."""
    fs, path = filesystem(url)
    if not fs.exists(path):
        return ABSENT
    if not is_local(fs):
        return f"{fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]}:{fs.checksum(path)}"
    if os.path.isdir(path):
        return folder_checksum(path)
    return "sha256:" + file_sha256(path)


def folder_checksum(folder: str) -> str:
    """One sha256 over every file's relative name and checksum (a CTranslate2 model directory)."""
    lines = []
    for root, _, names in sorted(os.walk(folder)):
        for name in sorted(names):
            path = os.path.join(root, name)
            lines.append(f"{os.path.relpath(path, folder)}\t{file_checksum(path)}\n")
    return "sha256:" + hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def apertium_checksum(mode: str) -> str:
    """The mode file and every data file it names (Debian's ``apertium-<pair>`` package contents)."""
    for folder in APERTIUM_MODE_FOLDERS:
        mode_file = os.path.join(folder, f"{mode}.mode")
        if os.path.exists(mode_file):
            with open(mode_file, encoding="utf-8") as handle:
                text = handle.read()
            data = sorted({word for word in shlex.split(text.replace("|", " ")) if word.startswith("/")})
            lines = [f"{mode_file}\t{file_checksum(mode_file)}\n"]
            lines += [f"{path}\t{file_checksum(path)}\n" for path in data]
            return "sha256:" + hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()
    return ABSENT


def freedict_checksum(index_path: str) -> str:
    """A dictd dictionary is its ``.index`` and the ``.dict.dz`` beside it."""
    if file_checksum(index_path) == ABSENT:
        return ABSENT
    try:
        data_path = dict_path_for(index_path)
    except FileNotFoundError:
        data_path = index_path.rsplit(".", 1)[0] + ".dict.dz"
    lines = [f"{os.path.basename(path)}\t{file_checksum(path)}\n" for path in (index_path, data_path)]
    return "sha256:" + hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def lexicon_checksum(source: LexiconSource) -> str:
    if source.format == "cldr":
        return package_version("emoji")
    return freedict_checksum(source.path) if source.format == "freedict" else file_checksum(source.path)


def package_version(name: str) -> str:
    try:
        return f"{name}=={importlib.metadata.version(name)}"
    except importlib.metadata.PackageNotFoundError:
        return ABSENT


def _lid_paths(cfg: JobConfig) -> Iterator[tuple[str, str | None]]:
    check = cfg.captions.cleaning.language_check if cfg.captions is not None else None
    if check is not None:
        yield "captions.cleaning.language_check.model_path", check.model_path
    for section in ("text", "parallel"):
        stream = getattr(cfg, section)
        if stream is not None and stream.lid.enabled:
            yield f"{section}.lid.model_path", stream.lid.model_path
    if cfg.translate is not None and cfg.translate.filters.enabled and cfg.translate.filters.language_id:
        yield "translate.filters.lid_model_path", cfg.translate.filters.lid_model_path


def _translation_artifacts(cfg: JobConfig) -> Iterator[tuple[str, str]]:
    translate = cfg.translate
    for target, name in sorted(translate.targets.items()):
        engine = translate.engines[name]
        if isinstance(engine, CTranslate2EngineConfig):
            yield f"translate.engines.{name}.model_path", file_checksum(engine.model_path)
            for key in ("source_spm", "target_spm"):
                if getattr(engine, key):
                    yield f"translate.engines.{name}.{key}", file_checksum(getattr(engine, key))
        elif isinstance(engine, ApertiumEngineConfig):
            mode = apertium_mode(engine, translate.source_language, target)
            yield f"translate.engines.{name}[{mode}]", apertium_checksum(mode)


def artifact_checksums(cfg: JobConfig) -> dict[str, str]:
    """Config key -> checksum of every model and dictionary the config's stages load.

    Language ID without a model path uses babelshard's cached ``lid.176.ftz``; CLDR
    lexicons come from the ``emoji`` package, recorded by version.
    """
    checksums: dict[str, str] = {}
    for key, path in _lid_paths(cfg):
        checksums[key] = file_checksum(path or str(default_lid_path()))
    if cfg.translate is not None:
        checksums.update(_translation_artifacts(cfg))
    if cfg.codeswitch is not None:
        for i, source in enumerate(cfg.codeswitch.lexicons):
            checksums[f"codeswitch.lexicons[{i}]"] = lexicon_checksum(source)
    if cfg.features is not None:
        checksums.update(_feature_checkpoints(cfg))
    return dict(sorted(checksums.items()))


def _feature_checkpoints(cfg: JobConfig) -> Iterator[tuple[str, str]]:
    """The model stages' checkpoints, by the weights checksum their samples' provenance records."""
    from babelshard.checkpoints import CheckpointError, weights_checksum

    for section in ("clip", "sentence", "grid", "clip_score"):
        path = getattr(getattr(cfg.features, section), "checkpoint", None)
        if path and is_local(filesystem(path)[0]):
            try:
                yield f"features.{section}.checkpoint", "sha256:" + weights_checksum(path)
            except CheckpointError:
                yield f"features.{section}.checkpoint", ABSENT


def artifact_checksums_under(cfg: JobConfig, *sections: str) -> dict[str, str]:
    """The checksums of :func:`artifact_checksums` whose config key lies in one of ``sections``."""
    return {key: value for key, value in artifact_checksums(cfg).items() if key.split(".", 1)[0] in sections}


def with_artifacts(parts: dict, artifacts: dict[str, str]) -> dict:
    """``parts`` plus the artifact checksums, left out when there are none so that a
    config which loads no model keeps the hash it always had."""
    return {**parts, "artifacts": artifacts} if artifacts else parts
