"""SMALR: the hybrid embedding model (model kind ``smalr``), its tokenizer and
cross-lingual consistency scoring.

The hybrid embedding layer has one row per token of the vocab issue's artifact
(``babelshard.vocab.hybrid.HybridVocab``): special tokens, each language's frequent
words, and the shared clusters that rare words of every language map to; so its
parameter count is the artifact's ``num_tokens × d``. Its rows start at the vectors
the vocabulary was built from: each language-specific token at its word's aligned fastText vector, each shared
token at its cluster's centroid (:meth:`HybridVocab.initial_embeddings`); a linear map
takes them to the encoder's width when ``d`` differs (SMALR: 300-d fastText). A transformer
above it (part 1's ``TextTransformer``) gives token states for masked cross-language
modeling (``mclm``) and a pooled sentence embedding for the contrastive objective.

Consistency (evaluation): a text is scored against an image together with its
translations; with ``query_weight`` ``w`` the score is ``w·s(query) + (1-w)·mean
s(translations)``, and with ``w = None`` the plain mean over the query and its
translations. Ranks are taken on that score.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from babelshard.train.data.batches import ImageInputs
from babelshard.train.model_config import SmalrModelConfig, ViTConfig
from babelshard.train.models.encoders import FeatureEncoder, TextTransformer, TinyViT
from babelshard.train.models.fusion import MaskedLMHead, pixels_of, vit_states
from babelshard.train.models.dual_encoder import FrozenAware, VocabInfo


def load_hybrid_vocab(path: str):
    from babelshard.vocab.hybrid import HybridVocab

    return HybridVocab.load(path)


class HybridTokenizer:
    """Fixed-length id rows from the hybrid vocabulary; needs each text's language.

    ``<cls>`` and ``<sep>`` wrap a sentence when the artifact defines them. The artifact
    loads lazily, so the tokenizer pickles cheaply into DataLoader workers.
    """

    language_aware = True

    def __init__(self, path: str, max_length: int = 32):
        self.path, self.max_length = path, max_length
        vocab = self.vocab()
        self.vocab_size = vocab.num_tokens
        self.pad_id = vocab.special_id("<pad>")
        self.begin = vocab.special_id("<cls>") if "<cls>" in vocab.special_tokens else None
        self.end = vocab.special_id("<sep>") if "<sep>" in vocab.special_tokens else None

    def vocab(self) -> Any:
        vocab = self.__dict__.get("_vocab")
        if vocab is None:
            vocab = self.__dict__["_vocab"] = load_hybrid_vocab(self.path)
        return vocab

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_vocab"}

    def ids(self, text: str, lang: str) -> list[int]:
        inner = self.max_length - (self.begin is not None) - (self.end is not None)
        body = self.vocab().encode(text, lang)[:inner]
        return ([self.begin] if self.begin is not None else []) + body + ([self.end] if self.end is not None else [])

    def encode(self, texts: list[str], languages: Sequence[str] | None = None) -> np.ndarray:
        if languages is None or len(languages) != len(texts):
            raise ValueError("the hybrid vocabulary encodes words per language: give one language per text")
        out = np.full((len(texts), self.max_length), self.pad_id, dtype=np.int64)
        for row, (text, lang) in enumerate(zip(texts, languages)):
            ids = self.ids(text, lang)
            out[row, : len(ids)] = ids
        return out


def hybrid_embedding(vocab: Any, width: int) -> nn.Module:
    """The embedding over the hybrid vocabulary, its rows starting at the vectors the
    vocabulary was built from (aligned fastText vectors of the own tokens, centroids of the
    shared ones; special tokens random at the vectors' scale); with a linear map to the
    encoder's width when the vectors are narrower or wider (SMALR: 300-d fastText)."""
    matrix, has_vector = vocab.initial_embeddings()
    vectors = torch.from_numpy(matrix)
    known = torch.from_numpy(has_vector)
    rows = nn.Embedding(vocab.num_tokens, vectors.shape[1])
    with torch.no_grad():
        scale = float(vectors[known].std()) if known.any() else 0.02
        rows.weight.normal_(0.0, scale)
        rows.weight[known] = vectors[known]
    if vectors.shape[1] == width:
        return rows
    return nn.Sequential(rows, nn.Linear(vectors.shape[1], width))


class SmalrModel(FrozenAware):
    def __init__(self, config: SmalrModelConfig, vocab: VocabInfo, hybrid: Any):
        super().__init__()
        if hybrid.num_tokens != vocab.size:
            raise ValueError(f"tokenizer has {vocab.size} ids, the hybrid vocabulary {hybrid.num_tokens}: use its tokenizer")
        self.pad_id, self.vocab_size = vocab.pad_id, vocab.size
        self.mask_id = hybrid.special_id("<mask>")
        self.special_ids = tuple(range(hybrid.num_special))
        self.text = TextTransformer(vocab.size, 2 * vocab.max_length, vocab.pad_id, config.text)
        self.text.token_embedding = hybrid_embedding(hybrid, config.text.width)
        self.centroid_init = self.vector_init = True
        self.reads_pixels = isinstance(config.vision, ViTConfig)
        self.visual = TinyViT(config.vision) if self.reads_pixels else FeatureEncoder(config.vision)
        self.image_proj = nn.Linear(config.vision.width, config.embed_dim, bias=False)
        self.text_proj = nn.Linear(config.text.width, config.embed_dim, bias=False)
        self.mlm_head = MaskedLMHead(config.text.width, vocab.size)

    @property
    def hybrid_embedding(self) -> nn.Embedding:
        """The rows of the hybrid vocabulary (before any map to the encoder's width)."""
        embedding = self.text.token_embedding
        return embedding if isinstance(embedding, nn.Embedding) else embedding[0]

    def encode_image(self, inputs: ImageInputs) -> torch.Tensor:
        if not self.reads_pixels:
            return self.image_proj(self.visual(inputs.features))
        return self.image_proj(vit_states(self.visual, pixels_of(inputs))[:, 0])

    def encode_text(self, tokens: torch.Tensor, languages: Sequence[str] | None = None) -> torch.Tensor:
        return self.text_proj(self.text(tokens))

    def fused_text(self, tokens: torch.Tensor, languages: Sequence[str] | None, context: Any = None) -> torch.Tensor:
        if context is not None:
            raise ValueError("the smalr model has no cross-attention; use mclm (concatenated captions)")
        return self.text.token_states(tokens)

    def concat_text(self, first: torch.Tensor, first_langs: Sequence[str], second: torch.Tensor, second_langs: Sequence[str]) -> torch.Tensor:
        return self.text.token_states(torch.cat([first, second], dim=1))

    def mlm_logits(self, states: torch.Tensor) -> torch.Tensor:
        return self.mlm_head(states)


def build_smalr(config: SmalrModelConfig, vocab: VocabInfo, teacher_vocab: VocabInfo) -> nn.Module:
    return SmalrModel(config, vocab, load_hybrid_vocab(config.hybrid_vocab))


def consistency_scores(similarity: torch.Tensor, query_weight: float | None = None) -> torch.Tensor:
    """``similarity``: (versions, texts, images), version 0 the text as given and the
    others its translations; returns (texts, images) as defined in the module doc."""
    if similarity.shape[0] == 1:
        return similarity[0]
    if query_weight is None:
        return similarity.mean(dim=0)
    return query_weight * similarity[0] + (1 - query_weight) * similarity[1:].mean(dim=0)


def gold_ranks(scores: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
    """0-based rank of each row's gold column (ties count against the gold item)."""
    gold_score = scores.gather(1, gold.unsqueeze(1))
    return (scores >= gold_score).sum(dim=1) - 1
