"""SentencePiece models: trained on a language-balanced sample, or a user's model copied in.

Artifact (``<output>/sentencepiece/``): ``spm.model``, ``spm.vocab`` (when trained) and
``spm.json`` with the config, where the model came from and the per-language sample.
"""
from __future__ import annotations

import json
import os
import shutil
from typing import Any, Mapping

from babelshard.vocab.config import SentencePieceConfig
from babelshard.vocab.corpus import LanguageCorpus, sampling_weights, write_balanced_sample
from babelshard.vocab.counts import VocabError

SPM_FOLDER = "sentencepiece"
SPM_MODEL = "spm.model"


def train_sentencepiece(sample_path: str, config: SentencePieceConfig, model_prefix: str, threads: int = 1) -> str:
    """Train on ``sample_path`` (one sentence per line); writes ``<prefix>.model`` and ``<prefix>.vocab``,
    returns the ``.model`` path.

    The sample is streamed in and the model comes back as bytes: a model trained from
    file paths records them, so the same config would give different bytes in
    another folder.
    """
    import io

    import sentencepiece as spm

    spm.set_random_generator_seed(config.seed)
    os.makedirs(os.path.dirname(model_prefix) or ".", exist_ok=True)
    model = io.BytesIO()
    try:
        with open(sample_path, encoding="utf-8") as sample:
            _train(spm, (line.rstrip("\n") for line in sample), config, model, threads)
    except RuntimeError as error:  # e.g. a vocab_size below the characters that coverage requires
        raise VocabError(f"SentencePiece training failed: {str(error).split('] ', 1)[-1]}") from None
    with open(model_prefix + ".model", "wb") as handle:
        handle.write(model.getvalue())
    write_vocab_file(spm.SentencePieceProcessor(model_proto=model.getvalue()), model_prefix + ".vocab")
    return model_prefix + ".model"


def write_vocab_file(processor, path: str) -> None:
    """SentencePiece's own ``.vocab`` layout: piece, tab, score (six significant digits)."""
    lines = (f"{processor.id_to_piece(i)}\t{processor.get_score(i):g}\n" for i in range(processor.get_piece_size()))
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(lines)


def _train(spm, sentences, config: SentencePieceConfig, model, threads: int) -> None:
    spm.SentencePieceTrainer.train(
        sentence_iterator=sentences,
        model_writer=model,
        model_type=config.model_type,
        vocab_size=config.vocab_size,
        character_coverage=config.character_coverage,
        user_defined_symbols=list(config.user_defined_symbols),
        byte_fallback=config.byte_fallback,
        max_sentence_length=config.max_sentence_length,
        input_sentence_size=0,  # the balanced sample is already the training set
        shuffle_input_sentence=False,
        hard_vocab_limit=False,  # small corpora give a smaller vocabulary instead of failing
        num_threads=threads,
        minloglevel=2,
    )


def build_sentencepiece(corpora: Mapping[str, LanguageCorpus], config: SentencePieceConfig, output_dir: str,
                        work_dir: str) -> dict[str, Any]:
    """Train (or copy the user's model) into ``output_dir``; returns the summary written to spm.json."""
    os.makedirs(output_dir, exist_ok=True)
    target = os.path.join(output_dir, SPM_MODEL)
    summary: dict[str, Any] = {"config": config.model_dump(mode="json")}
    if config.model_path is not None:
        if not os.path.exists(config.model_path):
            raise VocabError(f"sentencepiece.model_path: no such file {config.model_path}")
        shutil.copyfile(config.model_path, target)
        summary["origin"] = {"loaded": config.model_path}
    else:
        sample = os.path.join(work_dir, "spm-sample.txt")
        taken = write_balanced_sample(corpora, config.alpha, config.sample_sentences, config.seed, sample)
        weights = sampling_weights({lang: corpus.lines for lang, corpus in corpora.items()}, config.alpha)
        train_sentencepiece(sample, config, os.path.join(output_dir, "spm"))
        summary["origin"] = {"trained": True}
        summary["languages"] = {
            lang: {"lines": corpora[lang].lines, "weight": round(weights[lang], 6), "sampled": taken[lang]}
            for lang in sorted(corpora)
        }
    processor = load_sentencepiece(target)
    summary["vocab_size"] = processor.get_piece_size()
    with open(os.path.join(output_dir, "spm.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=1, sort_keys=True, ensure_ascii=False)
    return summary


def load_sentencepiece(path: str):
    """A ``SentencePieceProcessor`` for a ``.model`` file or an artifact folder holding spm.model."""
    import sentencepiece as spm

    if os.path.isdir(path):
        path = os.path.join(path, SPM_MODEL)
    if not os.path.exists(path):
        raise VocabError(f"no SentencePiece model at {path}")
    processor = spm.SentencePieceProcessor()
    try:
        processor.Load(path)
    except (OSError, RuntimeError) as error:
        raise VocabError(f"{path}: not a SentencePiece model ({error})") from None
    return processor
