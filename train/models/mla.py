"""MLA: multilingual acquisition on a frozen English image-text model.

The English model (teacher: a pretrained CLIP, or a trained small ``clip`` model) stays
frozen. Non-English text enters through the non-native embedding block (M-BERT's word
embeddings with a linear projection into the teacher's width, or the teacher's own
token embedding when the vocabulary is shared) and passes the teacher's frozen text
layers with a language acquirer after each layer: the bottleneck down-projection, ReLU,
up-projection with a residual connection, one set per language, starting as the
identity. English text takes the teacher's own path with the teacher's tokens.
Stage 1 (NLT) and stage 2 (LE) train only the embedding block and the acquirers.

With a non-English tokenizer of its own (the paper's set-up), each token row holds the
text in both vocabularies (``tokenizer.english``: the native tokens, then the teacher's
from ``VocabInfo.english_offset``) and the model reads the half of each text's language,
so English evaluation works with the same tokenizer.

Adding languages to a trained model (``extend``): its embedding block and acquirers are
loaded and frozen, and each new language gets an acquirer and its own copy of the
embedding block, so the languages it had keep their outputs bit for bit.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn

from babelshard.records import ENGLISH
from babelshard.train.model_config import MlaModelConfig
from babelshard.train.models.backbones import HFTextEncoder
from babelshard.train.models.dual_encoder import ClipModel, TeacherStudent, VocabInfo, freeze, load_model_file_with
from babelshard.train.models.pretrained_clip import PretrainedClipModel, load_teacher


class LanguageAcquirer(nn.Module):
    """h + up(ReLU(down(h))); the up-projection starts at zero (the identity)."""

    def __init__(self, width: int, bottleneck: int):
        super().__init__()
        self.down = nn.Linear(width, bottleneck)
        self.up = nn.Linear(bottleneck, width)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return states + self.up(torch.relu(self.down(states)))


class NonNativeEmbedding(nn.Module):
    """Token vectors of the non-English vocabulary, projected into the teacher's width
    when they come from another model (M-BERT)."""

    def __init__(self, weight: torch.Tensor, width: int, project: bool):
        super().__init__()
        self.embedding = nn.Embedding.from_pretrained(weight.clone(), freeze=False)
        self.projection = nn.Linear(weight.shape[1], width) if project else nn.Identity()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.projection(self.embedding(tokens))


def unfreeze(module: nn.Module) -> nn.Module:
    for parameter in module.parameters():
        parameter.requires_grad_(True)
    module.__dict__.pop("_babelshard_frozen", None)
    return module


class MLAModel(TeacherStudent):
    def __init__(self, teacher: ClipModel | PretrainedClipModel, vocab: VocabInfo, languages: Sequence[str],
                 bottleneck: int, embeddings: str | None = None):
        super().__init__()
        if ENGLISH in languages:
            raise ValueError("MLA languages are the non-English ones; English uses the frozen teacher")
        self.teacher = teacher
        self.pretrained = isinstance(teacher, PretrainedClipModel)
        tower = teacher.text_tower if self.pretrained else teacher.text
        self.width, self.bottleneck = tower.width, bottleneck
        self.layers = tower.layers if self.pretrained else len(tower.blocks)
        self.pad_id, self.english_offset = vocab.pad_id, vocab.english_offset
        own_rows = tower.token_embedding.num_embeddings
        self.shared_vocab = vocab.size == own_rows and self.english_offset is None
        self.native_embedding = self._embedding_block(vocab, tower, embeddings)
        self.acquirers = nn.ModuleDict({lang: self._acquirer() for lang in languages})
        self.language_embeddings = nn.ModuleDict()  # languages added by ``extend``

    def _embedding_block(self, vocab: VocabInfo, tower: nn.Module, embeddings: str | None) -> NonNativeEmbedding:
        if embeddings is not None:
            source = HFTextEncoder.from_path(embeddings).word_embeddings.weight.detach()
            if vocab.size > source.shape[0]:
                raise ValueError(f"{embeddings}: {source.shape[0]} word embeddings, the tokenizer has {vocab.size} tokens; "
                                 "use this checkpoint's tokenizer")
            return NonNativeEmbedding(source[: vocab.size], self.width, project=True)
        own = tower.token_embedding.weight.detach()
        if vocab.size == own.shape[0]:
            return NonNativeEmbedding(own, self.width, project=False)
        return NonNativeEmbedding(torch.randn(vocab.size, self.width) * 0.02, self.width, project=False)

    def _acquirer(self) -> nn.ModuleList:
        return nn.ModuleList(LanguageAcquirer(self.width, self.bottleneck) for _ in range(self.layers))

    def add_languages(self, languages: Sequence[str]) -> None:
        """Freeze what the model has learnt; give each new language an acquirer and its own
        copy of the embedding block (both trainable)."""
        freeze(self.native_embedding)
        for module in [*self.acquirers.values(), *self.language_embeddings.values()]:
            freeze(module)
        for lang in languages:
            self.acquirers[lang] = self._acquirer()
            self.language_embeddings[lang] = unfreeze(copy.deepcopy(self.native_embedding))

    def _rows_by_language(self, languages: list[str], device: torch.device) -> dict[str, torch.Tensor]:
        groups: dict[str, list[int]] = {}
        for row, lang in enumerate(languages):
            groups.setdefault(lang, []).append(row)
        unknown = sorted(set(groups) - set(self.acquirers))
        if unknown:
            raise ValueError(f"no language acquirer for {unknown}; model languages: {sorted(self.acquirers)}")
        return {lang: torch.tensor(idx, device=device) for lang, idx in groups.items()}

    def _embed(self, tokens: torch.Tensor, rows: dict[str, torch.Tensor]) -> torch.Tensor:
        vectors = self.native_embedding(tokens)
        for lang, idx in rows.items():
            if lang in self.language_embeddings:
                vectors = vectors.index_copy(0, idx, self.language_embeddings[lang](tokens.index_select(0, idx)))
        return vectors

    def _native(self, tokens: torch.Tensor, languages: list[str]) -> torch.Tensor:
        rows = self._rows_by_language(languages, tokens.device)

        def acquire(layer: int, states: torch.Tensor) -> torch.Tensor:
            out = states
            for lang, idx in rows.items():
                out = out.index_copy(0, idx, self.acquirers[lang][layer](states.index_select(0, idx)))
            return out

        vectors = self._embed(tokens, rows)
        if self.pretrained:
            end = (tokens != self.pad_id).sum(dim=1).clamp(min=1) - 1  # the last real token ([SEP] / end)
            return self.teacher.text_tower.adapted(vectors, end, acquire)
        text = self.teacher.text
        states = text.token_states(tokens, embedding=lambda _: vectors, adapter=acquire)
        return self.teacher.text_proj(text.pooled(states, tokens))

    def _halves(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(native tokens, teacher tokens) of each row; teacher tokens only where they exist."""
        if self.english_offset is not None:
            return tokens[:, : self.english_offset], tokens[:, self.english_offset :]
        return tokens, tokens if self.shared_vocab else None

    def encode_text(self, tokens: torch.Tensor, languages: Sequence[str] | None = None) -> torch.Tensor:
        if languages is None:
            raise ValueError("MLA needs the language of every text")
        native_tokens, english_tokens = self._halves(tokens)
        native = [i for i, lang in enumerate(languages) if lang != ENGLISH]
        english = [i for i, lang in enumerate(languages) if lang == ENGLISH]
        if not english:
            return self._native(native_tokens, list(languages))
        if english_tokens is None:
            raise ValueError("English text goes to the teacher, whose vocabulary differs from this tokenizer's; "
                             "set tokenizer.english to the teacher's tokenizer")
        index = torch.tensor(english, device=tokens.device)
        english_out = self.encode_teacher_text(english_tokens.index_select(0, index))
        if not native:
            return english_out
        out = english_out.new_zeros(tokens.shape[0], english_out.shape[-1]).index_copy(0, index, english_out)
        index = torch.tensor(native, device=tokens.device)
        return out.index_copy(0, index, self._native(native_tokens.index_select(0, index), [languages[i] for i in native]))

def build_mla(config: MlaModelConfig, vocab: VocabInfo, teacher_vocab: VocabInfo) -> nn.Module:
    if config.extend is not None:
        return extended_mla(config, vocab)
    teacher = load_teacher(config.teacher, teacher_vocab)
    return MLAModel(teacher, vocab, config.languages, config.bottleneck, config.embeddings)


def extended_mla(config: MlaModelConfig, vocab: VocabInfo) -> MLAModel:
    """The trained MLA model ``config.extend`` with ``config.languages``' new ones added."""
    assert config.extend is not None
    base, base_config, base_vocab = load_model_file_with(config.extend, {"mla": build_mla})
    if base_config.teacher != config.teacher:
        raise ValueError(f"model.extend: {config.extend} was trained on teacher {base_config.teacher}, not {config.teacher}")
    if (base_vocab.size, base_vocab.pad_id, base_vocab.english_offset) != (vocab.size, vocab.pad_id, vocab.english_offset):
        raise ValueError(f"model.extend: {config.extend} was trained with another tokenizer")
    dropped = sorted(set(base.acquirers) - set(config.languages))
    if dropped:
        raise ValueError(f"model.languages must keep the languages of {config.extend}: {dropped} are missing")
    base.add_languages([lang for lang in config.languages if lang not in base.acquirers])
    return base  # type: ignore[return-value]
