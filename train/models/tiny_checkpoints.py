"""Tiny random checkpoints in the real formats, for tests and benchmarks.

Each function builds a model with the library's own classes (``CLIPConfig``/``CLIPModel``,
``XLMRobertaConfig``/``XLMRobertaModel``, ``BertConfig``/``BertModel``; 2 layers, width
32 by default), builds its tokenizer offline from a word list, and writes both with
``save_pretrained`` (safetensors) into a folder, exactly as a downloaded checkpoint lies
on disk. A CLIP folder also gets a ``preprocessor_config.json``.
"""
from __future__ import annotations

import json
import os
import string
from typing import Iterable

import torch

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _letters() -> list[str]:
    return list(string.ascii_lowercase + string.digits)


def save_tiny_clip(folder: str, *, seed: int = 0, width: int = 32, layers: int = 2, heads: int = 2,
                   embed_dim: int = 24, image_size: int = 32, patch_size: int = 8, resize: int = 36,
                   max_positions: int = 32) -> str:
    """A random ``CLIPModel`` with a character-level CLIP BPE tokenizer (lower-case ASCII)."""
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    specials = ["<|startoftext|>", "<|endoftext|>", "<|pad|>"]
    vocab = {token: i for i, token in enumerate(specials + _letters() + [c + "</w>" for c in _letters()])}
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], pad_token="<|pad|>", model_max_length=max_positions)
    text = dict(vocab_size=len(vocab), hidden_size=width, intermediate_size=2 * width, num_hidden_layers=layers,
                num_attention_heads=heads, max_position_embeddings=max_positions,
                bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"], pad_token_id=vocab["<|pad|>"])
    vision = dict(hidden_size=width, intermediate_size=2 * width, num_hidden_layers=layers, num_attention_heads=heads,
                  image_size=image_size, patch_size=patch_size)
    torch.manual_seed(seed)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=embed_dim))
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    processor = {
        "image_processor_type": "CLIPImageProcessor", "do_resize": True, "size": {"shortest_edge": resize},
        "resample": 3, "do_center_crop": True, "crop_size": {"height": image_size, "width": image_size},
        "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "image_mean": list(OPENAI_CLIP_MEAN), "image_std": list(OPENAI_CLIP_STD), "do_convert_rgb": True,
    }
    with open(os.path.join(folder, "preprocessor_config.json"), "w", encoding="utf-8") as handle:
        json.dump(processor, handle, indent=2)
    return folder


def save_tiny_xlmr(folder: str, words: Iterable[str], *, seed: int = 0, width: int = 32, layers: int = 2,
                   heads: int = 2, max_positions: int = 66) -> str:
    """A random ``XLMRobertaModel`` with a unigram tokenizer over ``words`` (and single characters)."""
    from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizer

    pieces = sorted({f"\u2581{w}" for w in words} | set(_letters()) | {"\u2581"})
    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [(piece, -float(len(piece))) for piece in pieces] + [("<mask>", 0.0)]
    tokenizer = XLMRobertaTokenizer(vocab=vocab, model_max_length=max_positions - 2)
    config = XLMRobertaConfig(vocab_size=len(vocab), hidden_size=width, num_hidden_layers=layers, num_attention_heads=heads,
                              intermediate_size=2 * width, max_position_embeddings=max_positions, pad_token_id=1,
                              bos_token_id=0, eos_token_id=2)
    torch.manual_seed(seed)
    model = XLMRobertaModel(config, add_pooling_layer=False)
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def save_tiny_bert(folder: str, words: Iterable[str], *, seed: int = 0, width: int = 32, layers: int = 2,
                   heads: int = 2, max_positions: int = 64) -> str:
    """A random ``BertModel`` (cased, M-BERT style) with a WordPiece vocabulary of ``words``."""
    from transformers import BertConfig, BertModel, BertTokenizer

    os.makedirs(folder, exist_ok=True)
    vocab_file = os.path.join(folder, "vocab.txt")
    entries = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(words) | set(_letters()))]
    with open(vocab_file, "w", encoding="utf-8") as handle:
        handle.write("\n".join(entries) + "\n")
    tokenizer = BertTokenizer(vocab=vocab_file, do_lower_case=False, strip_accents=False, model_max_length=max_positions)
    config = BertConfig(vocab_size=len(entries), hidden_size=width, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=2 * width, max_position_embeddings=max_positions, pad_token_id=0)
    torch.manual_seed(seed)
    BertModel(config, add_pooling_layer=False).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
