"""A small Marian model built offline, for tests and benchmarks.

SentencePiece is trained on real text (the CLDR emoji names in English and other
languages that the ``emoji`` package ships), a Marian model with random weights is
built with ``transformers`` and converted with CTranslate2's converter. The weights are
random: outputs are not translations, but every code path (tokenization, language
tokens, batching, conversion, decoding) is the real one, and speed is real.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

LANGUAGE_TOKENS = ("__en__", "__es__", "__ca__", "__de__")


@dataclass(frozen=True)
class ToyModel:
    transformers_dir: str
    ctranslate2_dir: str
    spm_path: str
    vocab_size: int


def emoji_texts(languages: tuple[str, ...] = ("en", "es", "de")) -> list[str]:
    """CLDR emoji names, e.g. ``grinning face with big eyes`` / ``cara sonriendo con ojos grandes``."""
    import emoji

    texts = []
    for language in languages:
        if language != "en":
            emoji.config.load_language(language)
        texts.extend(v[language].strip(":").replace("_", " ") for v in emoji.EMOJI_DATA.values() if language in v)
    return texts


def train_sentencepiece(texts: list[str], path: str, vocab_size: int) -> str:
    """BPE model (seconds to train, where unigram takes many): ``<unk>`` = 0, ``</s>`` = 1,
    no ``<s>``/``<pad>``, language tokens kept whole."""
    import sentencepiece

    with open(path, "wb") as handle:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=handle, vocab_size=vocab_size, model_type="bpe",
            character_coverage=1.0, unk_id=0, eos_id=1, bos_id=-1, pad_id=-1, num_threads=2, minloglevel=2,
            user_defined_symbols=list(LANGUAGE_TOKENS),
        )
    return path


def marian_vocabulary(spm_path: str, pad_to: int = 0) -> dict[str, int]:
    """SentencePiece pieces by id, unused ``<extra_i>`` fillers up to ``pad_to``, ``<pad>`` last
    (CTranslate2's Marian converter removes a final ``<pad>``)."""
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(model_file=spm_path)
    vocabulary = {processor.id_to_piece(i): i for i in range(processor.get_piece_size())}
    while len(vocabulary) < pad_to - 1:
        vocabulary[f"<extra_{len(vocabulary)}>"] = len(vocabulary)
    vocabulary["<pad>"] = len(vocabulary)
    return vocabulary


def build_marian(folder: str, spm_path: str, *, d_model: int = 64, layers: int = 2, heads: int = 4,
                 ffn: int = 128, pad_vocab_to: int = 0, seed: int = 0) -> str:
    """A randomly initialised MarianMTModel and its MarianTokenizer files, saved in ``folder``."""
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    os.makedirs(folder, exist_ok=True)
    for name in ("source.spm", "target.spm"):
        shutil.copy(spm_path, os.path.join(folder, name))
    vocabulary = marian_vocabulary(spm_path, pad_vocab_to)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as handle:
        json.dump(vocabulary, handle, ensure_ascii=False)
    pad = vocabulary["<pad>"]
    config = MarianConfig(
        vocab_size=len(vocabulary), d_model=d_model, encoder_layers=layers, decoder_layers=layers,
        encoder_attention_heads=heads, decoder_attention_heads=heads, encoder_ffn_dim=ffn, decoder_ffn_dim=ffn,
        max_position_embeddings=512, pad_token_id=pad, eos_token_id=1, decoder_start_token_id=pad,
        forced_eos_token_id=None, scale_embedding=True, share_encoder_decoder_embeddings=True,
        # An untied output layer and wider init keep a random model from repeating its
        # previous token forever, so outputs depend on the input.
        tie_word_embeddings=False, init_std=0.1,
    )
    torch.manual_seed(seed)
    MarianMTModel(config).eval().save_pretrained(folder)
    tokenizer = MarianTokenizer(os.path.join(folder, "source.spm"), os.path.join(folder, "target.spm"),
                                os.path.join(folder, "vocab.json"))
    tokenizer.save_pretrained(folder)
    return folder


def convert_to_ctranslate2(transformers_dir: str, folder: str, quantization: str | None = None) -> str:
    from ctranslate2.converters import TransformersConverter

    converter = TransformersConverter(transformers_dir, copy_files=["source.spm", "target.spm"])
    return converter.convert(folder, quantization=quantization, force=True)


def build_toy_marian(workdir: str | Path, *, vocab_size: int = 1000, **model: int) -> ToyModel:
    """SentencePiece + Marian + CTranslate2 conversion under ``workdir`` (reused when present)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    spm_path = str(workdir / "spm.model")
    hf_dir, ct2_dir = str(workdir / "transformers"), str(workdir / "ctranslate2")
    if not os.path.exists(os.path.join(ct2_dir, "model.bin")):
        train_sentencepiece(emoji_texts(), spm_path, vocab_size)
        build_marian(hf_dir, spm_path, **model)
        convert_to_ctranslate2(hf_dir, ct2_dir)
    with open(os.path.join(hf_dir, "vocab.json"), encoding="utf-8") as handle:
        size = len(json.load(handle))
    return ToyModel(hf_dir, ct2_dir, spm_path, size)


def transformers_greedy_pieces(model: ToyModel, texts: list[str], max_new_tokens: int,
                               prefix: tuple[str, str] | None = None) -> list[list[str]]:
    """Target pieces of ``transformers``' greedy ``generate`` (the reference the CTranslate2
    engine is checked against). ``prefix``: (source, target) language tokens, fed as an
    M2M-100 tokenizer would (source token id first) and forced as the decoder's first token."""
    import torch
    from transformers import MarianMTModel, MarianTokenizer

    tokenizer = MarianTokenizer.from_pretrained(model.transformers_dir)
    marian = MarianMTModel.from_pretrained(model.transformers_dir).eval()
    pad = tokenizer.pad_token_id
    rows = tokenizer(texts).input_ids
    if prefix:
        rows = [[tokenizer.convert_tokens_to_ids(prefix[0])] + row for row in rows]
    width = max(map(len, rows))
    inputs = {
        "input_ids": torch.tensor([row + [pad] * (width - len(row)) for row in rows]),
        "attention_mask": torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows]),
    }
    start = [pad] + ([tokenizer.convert_tokens_to_ids(prefix[1])] if prefix else [])
    with torch.no_grad():
        output = marian.generate(**inputs, decoder_input_ids=torch.tensor([start] * len(texts)), num_beams=1,
                                 do_sample=False, max_new_tokens=max_new_tokens, bad_words_ids=[[pad]])
    special = {pad, tokenizer.eos_token_id}
    return [tokenizer.convert_ids_to_tokens([i for i in row[len(start):].tolist() if i not in special]) for row in output]
