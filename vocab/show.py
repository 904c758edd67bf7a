"""``babelshard vocab show PATH``: sizes, parameter reduction, and example shared clusters."""
from __future__ import annotations

import json
from typing import Callable

from babelshard.fs import exists, join, read_text
from babelshard.vocab.counts import VocabError


def describe_artifact(path: str, clusters: int = 5, members: int = 4) -> list[str]:
    """Lines describing a vocabulary artifact folder (or a bare hybrid folder)."""
    lines: list[str] = []
    manifest_path = join(path, "vocab.json")
    hybrid_here = exists(join(path, "hybrid.json"))
    if not exists(manifest_path) and not hybrid_here:
        raise VocabError(f"{path}: no vocab.json or hybrid.json; not a vocabulary artifact, or its build has not finished")
    if exists(manifest_path):
        lines += _manifest_lines(json.loads(read_text(manifest_path)))
    if hybrid_here or exists(join(path, "hybrid", "hybrid.json")):
        lines += _hybrid_lines(path, clusters, members)
    return lines


def _manifest_lines(manifest: dict) -> list[str]:
    lines = [f"vocabulary {manifest.get('name', '?')} (config {manifest.get('config_hash', '?')})",
             "languages: " + ", ".join(manifest.get("languages", []))]
    for lang, info in manifest.get("counts", {}).items():
        lines.append(f"  {lang}: {info['words']} distinct tokens, {info['occurrences']} occurrences")
    spm = manifest.get("sentencepiece")
    if spm:
        origin = "loaded from " + spm["origin"]["loaded"] if "loaded" in spm["origin"] else "trained"
        lines.append(f"sentencepiece: {spm['vocab_size']} pieces, {spm['config']['model_type']}, {origin}")
    for lang, info in manifest.get("fasttext", {}).items():
        lines.append(f"fasttext {lang}: {info['words']} words, {info['dim']}-d")
    for lang, info in manifest.get("alignment", {}).items():
        lines.append(f"alignment {lang}->{info['pivot']}: precision@1 {info['precision_at_1']:.3f}, "
                     f"CSLS {info['precision_at_1_csls']:.3f} on {info['test_words']} held-out words "
                     f"({info['train_pairs']} training pairs)")
    return lines


def _hybrid_lines(path: str, clusters: int, members: int) -> list[str]:
    from babelshard.vocab.hybrid import HybridVocab

    vocab = HybridVocab.load(path)
    params = vocab.parameter_counts()
    threshold = f"t={vocab.meta['min_count']}" if vocab.meta.get("min_count") else f"top-k={vocab.meta.get('top_k')}"
    lines = [
        f"hybrid vocabulary: {vocab.num_tokens} tokens = {vocab.num_special} special + "
        f"{vocab.num_language_specific} language-specific ({threshold}) + {vocab.num_shared} shared (K)",
        f"embedding parameters ({params['dim']}-d): {params['hybrid']:,} vs {params['per_word_per_language']:,} "
        f"with one embedding per word per language ({params['reduction']:.1%} fewer)",
    ]
    for lang, info in vocab.meta.get("languages_stats", {}).items():
        lines.append(f"  {lang}: {info['language_specific']} own tokens, {info['rare']} rare words in shared clusters"
                     + (f", {info['rare_without_vector']} without a vector (<unk>)" if info["rare_without_vector"] else ""))
    lines.append("example shared clusters (most languages first):")
    for cluster in example_clusters(vocab, clusters):
        found = vocab.cluster_members(cluster, members)
        shown = "; ".join(f"{lang}: {', '.join(words)}" for lang, words in found.items())
        lines.append(f"  #{cluster}: {shown}")
    return lines


def example_clusters(vocab, count: int) -> list[int]:
    """Clusters with members in the most languages (ties: lower cluster number)."""
    spread = [(len(vocab.cluster_members(c, 1)), c) for c in range(vocab.num_shared)]
    return [c for _, c in sorted(spread, key=lambda item: (-item[0], item[1]))[:count]]


def print_artifact(path: str, echo: Callable[[str], None] = print, clusters: int = 5) -> None:
    for line in describe_artifact(path, clusters):
        echo(line)
