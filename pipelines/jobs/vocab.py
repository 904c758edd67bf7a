"""``babelshard vocab build CONFIG``: every vocabulary artifact, in order.

counts (Beam) -> corpora -> SentencePiece -> fastText vectors -> alignment -> hybrid
vocabulary, then ``vocab.json`` last (a folder without it is an unfinished build).
Artifacts are built in a local folder (the trainers need local files) and copied to
the output when that is a remote URL; the counts, written by Beam's workers, go
straight to a remote output, where workers on other machines can reach it.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from typing import Any, Callable

from babelshard.configbase import config_hash
from babelshard.fs import exists, filesystem, is_local, join
from babelshard.pipelines.jobs.remote import check_worker_paths
from babelshard.vocab.config import VocabBeamConfig, VocabConfig
from babelshard.vocab.counts import COUNTS_FOLDER, VocabError, iter_input_records, list_shards, read_all_counts

MANIFEST = "vocab.json"
MANIFEST_VERSION = 1


def build_vocab(config: VocabConfig, log: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    from babelshard.vocab.beam import pipeline_options

    check_worker_paths(vocab_paths(config), pipeline_options(config.beam))
    fs, path = filesystem(config.output)
    with tempfile.TemporaryDirectory(prefix="babelshard-vocab-") as work:
        if is_local(fs):
            stage = counts_root = path
        else:
            if fs.exists(join(path, MANIFEST)):
                fs.rm(join(path, MANIFEST))  # the folder is unfinished until the new manifest lands
            # Beam's workers write the counts where every worker can reach them: the output itself.
            stage, counts_root = os.path.join(work, "artifact"), config.output
        os.makedirs(stage, exist_ok=True)
        manifest = _build_into(config, stage, counts_root, work, log)
        if not is_local(fs):
            fs.put(stage.rstrip("/") + "/", path.rstrip("/") + "/", recursive=True)
    return manifest


def vocab_paths(config: VocabConfig) -> list[tuple[str, str]]:
    """(key, path) of what the counting job's workers read and write."""
    paths = [(f"captions[{i}]", folder) for i, folder in enumerate(config.captions)]
    paths += [(f"text[{i}]", folder) for i, folder in enumerate(config.text)]
    return paths + [("output", config.output)]


def artifact_hash(config: VocabConfig) -> str:
    """The config's hash without its runner settings: the same artifacts come from any runner."""
    return config_hash(config.model_copy(update={"beam": VocabBeamConfig()}))


def _build_into(config: VocabConfig, stage: str, counts_root: str, work: str, log: Callable[[str], None]) -> dict[str, Any]:
    from babelshard.vocab.beam import run_count_pipeline
    from babelshard.vocab.corpus import write_corpora

    if os.path.exists(os.path.join(stage, MANIFEST)):
        os.remove(os.path.join(stage, MANIFEST))  # the folder is unfinished until the new manifest lands
    refs = list_shards([*config.captions, *config.text])
    log(f"counting tokens in {len(refs)} shards")
    languages = frozenset(config.languages) if config.languages else None
    run_count_pipeline(refs, counts_root, config.beam, config.counts, languages)
    counts = _checked_counts(counts_root, config)
    manifest: dict[str, Any] = {
        "format_version": MANIFEST_VERSION, "name": config.name, "config_hash": artifact_hash(config),
        "config": config.model_dump(mode="json"), "languages": sorted(counts),
        "counts": {lang: {"words": len(c), "occurrences": sum(c.values())} for lang, c in sorted(counts.items())},
    }
    corpora = {}
    trains_spm = config.sentencepiece is not None and config.sentencepiece.model_path is None
    trains_vectors = config.fasttext is not None and set(counts) - set(config.fasttext.vectors)
    if trains_spm or trains_vectors:
        log("writing per-language corpora")
        corpora = write_corpora(iter_input_records(refs), os.path.join(work, "corpora"), config.counts.lowercase,
                                config.counts.include_punctuation, frozenset(counts))
    if config.sentencepiece is not None:
        from babelshard.vocab.spm import SPM_FOLDER, build_sentencepiece

        log("training SentencePiece" if config.sentencepiece.model_path is None else "copying SentencePiece model")
        manifest["sentencepiece"] = build_sentencepiece(corpora, config.sentencepiece,
                                                        os.path.join(stage, SPM_FOLDER), work)
    if config.fasttext is not None:
        manifest.update(_vectors_and_hybrid(config, counts, corpora, stage, log))
    _write_manifest(stage, manifest)
    return manifest


def _checked_counts(counts_root: str, config: VocabConfig) -> dict[str, Counter]:
    counts = read_all_counts(counts_root) if exists(join(counts_root, COUNTS_FOLDER)) else {}
    wanted = set(config.languages or counts)
    missing = sorted(wanted - {lang for lang, c in counts.items() if c})
    if missing or not counts:
        raise VocabError(f"language(s) with no text in the inputs: {', '.join(missing) or '(all)'}")
    return {lang: counts[lang] for lang in sorted(wanted)}


def _vectors_and_hybrid(config: VocabConfig, counts: dict[str, Counter], corpora: dict, stage: str,
                        log: Callable[[str], None]) -> dict[str, Any]:
    from babelshard.vocab.vectors import load_vectors, train_fasttext

    ft = config.fasttext
    vectors, paths, report = {}, {}, {}
    for lang in sorted(counts):
        if lang in ft.vectors:
            log(f"{lang}: loading vectors {ft.vectors[lang]}")
            vectors[lang] = load_vectors(ft.vectors[lang], lang, ft.max_vec_words)
            paths[lang] = ft.vectors[lang] if ft.vectors[lang].endswith(".bin") else None
        else:
            log(f"{lang}: training fastText {ft.model} ({ft.dim}-d, {ft.epoch} epochs)")
            paths[lang] = os.path.join(stage, "fasttext", f"{lang}.bin")
            vectors[lang] = train_fasttext(corpora[lang].tokens_path, lang, ft, paths[lang])
        source = vectors[lang].source if lang in ft.vectors else os.path.relpath(paths[lang], stage)  # trained: in the artifact
        report[lang] = {"words": len(vectors[lang].words), "dim": vectors[lang].dim, "source": source}
    out: dict[str, Any] = {"fasttext": report}
    alignments = {}
    if config.alignment is not None:
        alignments = _align_all(config, vectors, stage, log)
        out["alignment"] = {lang: result.summary() for lang, result in alignments.items()}
    if config.hybrid is not None:
        out["hybrid"] = _hybrid(config, counts, vectors, alignments, paths, stage, log)
    return out


def _align_all(config: VocabConfig, vectors: dict, stage: str, log: Callable[[str], None]) -> dict:
    import numpy as np

    from babelshard.vocab.align import align
    from babelshard.vocab.lexicon import read_alignment_pairs

    settings = config.alignment
    if settings.pivot not in vectors:
        raise VocabError(f"alignment pivot {settings.pivot!r} has no vectors (languages: {', '.join(sorted(vectors))})")
    results = {}
    for lang in sorted(vectors):
        if lang == settings.pivot:
            continue
        if lang not in settings.lexicons:
            raise VocabError(f"{lang}: no lexicon to align it onto {settings.pivot} (alignment.lexicons.{lang})")
        pairs = read_alignment_pairs(settings.lexicons[lang], lang, settings.pivot, config.counts.lowercase)
        result = align(vectors[lang], vectors[settings.pivot], pairs, settings)
        log(f"{lang}->{settings.pivot}: precision@1 {result.precision_at_1:.3f}, CSLS {result.precision_at_1_csls:.3f} "
            f"on {result.test_words} held-out words")
        os.makedirs(os.path.join(stage, "alignment"), exist_ok=True)
        np.savez(os.path.join(stage, "alignment", f"{lang}.npz"), matrix=result.matrix,
                 mean=result.source_normalizer.mean)
        with open(os.path.join(stage, "alignment", f"{lang}.heldout.txt"), "w", encoding="utf-8") as handle:
            handle.write("".join(word + "\n" for word in result.held_out))
        with open(os.path.join(stage, "alignment", f"{lang}.pairs.tsv"), "w", encoding="utf-8") as handle:
            handle.write("".join(f"{pivot_word}\t{word}\n" for word, pivot_word in pairs))  # the lexicon as used
        results[lang] = result
    return results


def _hybrid(config: VocabConfig, counts, vectors, alignments, paths, stage: str, log) -> dict[str, Any]:
    from babelshard.vocab.hybrid import HYBRID_FOLDER
    from babelshard.vocab.hybrid_build import build_hybrid, language_transforms

    pivot = config.alignment.pivot if config.alignment is not None else None
    transforms = language_transforms(vectors, alignments, pivot)
    log(f"clustering rare words into {config.hybrid.num_shared} shared tokens")
    vocab = build_hybrid(counts, vectors, transforms, config.hybrid, config.counts.lowercase,
                         config.counts.include_punctuation, paths)
    vocab.save(os.path.join(stage, HYBRID_FOLDER))
    return {"num_tokens": vocab.num_tokens, "num_language_specific": vocab.num_language_specific,
            "num_shared": vocab.num_shared, "parameters": vocab.parameter_counts()}


def _write_manifest(stage: str, manifest: dict[str, Any]) -> None:
    partial = os.path.join(stage, MANIFEST + ".partial")
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True, ensure_ascii=False, default=float)
        handle.write("\n")
    os.replace(partial, os.path.join(stage, MANIFEST))

