"""MLA: multilingual acquisition on a frozen English image-text model.

The English model (teacher) stays frozen. Non-English text enters through a shared
non-native embedding block (initialised from the teacher's token embedding when the
vocabularies match) and passes the teacher's frozen transformer layers with a language
acquirer after each layer: a bottleneck MLP with a residual connection, one set per
language, starting as the identity. English text takes the teacher's own path.
Stage 1 (NLT) and stage 2 (LE) train only the embedding block and the acquirers.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from babelshard.records import ENGLISH
from babelshard.train.model_config import MlaModelConfig
from babelshard.train.models.dual_encoder import ClipModel, TeacherStudent, VocabInfo, load_frozen_teacher


class LanguageAcquirer(nn.Module):
    def __init__(self, width: int, bottleneck: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.down = nn.Linear(width, bottleneck)
        self.up = nn.Linear(bottleneck, width)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return states + self.up(F.gelu(self.down(self.norm(states))))


class MLAModel(TeacherStudent):
    def __init__(self, teacher: ClipModel, vocab: VocabInfo, languages: Sequence[str], bottleneck: int):
        super().__init__()
        if ENGLISH in languages:
            raise ValueError("MLA languages are the non-English ones; English uses the frozen teacher")
        self.teacher = teacher
        text = teacher.text
        self.native_embedding = nn.Embedding(vocab.size, text.width)
        if vocab.size == text.token_embedding.num_embeddings:
            self.native_embedding.weight.data.copy_(text.token_embedding.weight.data)
        else:
            nn.init.normal_(self.native_embedding.weight, std=0.02)
        self.pad_id = vocab.pad_id
        self.shared_vocab = vocab.size == text.token_embedding.num_embeddings and vocab.pad_id == text.pad_id
        self.acquirers = nn.ModuleDict(
            {lang: nn.ModuleList(LanguageAcquirer(text.width, bottleneck) for _ in text.blocks) for lang in languages}
        )

    def _native(self, tokens: torch.Tensor, languages: list[str]) -> torch.Tensor:
        groups: dict[str, list[int]] = {}
        for row, lang in enumerate(languages):
            groups.setdefault(lang, []).append(row)
        unknown = sorted(set(groups) - set(self.acquirers))
        if unknown:
            raise ValueError(f"no language acquirer for {unknown}; model languages: {sorted(self.acquirers)}")
        rows = {lang: torch.tensor(idx, device=tokens.device) for lang, idx in groups.items()}

        def acquire(layer: int, states: torch.Tensor) -> torch.Tensor:
            out = states
            for lang, idx in rows.items():
                out = out.index_copy(0, idx, self.acquirers[lang][layer](states.index_select(0, idx)))
            return out

        text = self.teacher.text
        states = text.token_states(tokens, embedding=self.native_embedding, adapter=acquire)
        return self.teacher.text_proj(text.pooled(states, tokens))

    def encode_text(self, tokens: torch.Tensor, languages: Sequence[str] | None = None) -> torch.Tensor:
        if languages is None:
            raise ValueError("MLA needs the language of every text")
        native = [i for i, lang in enumerate(languages) if lang != ENGLISH]
        english = [i for i, lang in enumerate(languages) if lang == ENGLISH]
        if not english:
            return self._native(tokens, list(languages))
        if not self.shared_vocab:
            raise ValueError("English text goes to the teacher, whose tokenizer differs from this model's")
        out = torch.zeros(tokens.shape[0], self.teacher.text_proj.out_features, device=tokens.device)
        out = out.index_copy(0, torch.tensor(english, device=tokens.device), self.encode_teacher_text(tokens[english]))
        if native:
            index = torch.tensor(native, device=tokens.device)
            out = out.index_copy(0, index, self._native(tokens[native], [languages[i] for i in native]))
        return out


def build_mla(config: MlaModelConfig, vocab: VocabInfo, teacher_vocab: VocabInfo) -> nn.Module:
    teacher = load_frozen_teacher(config.teacher, teacher_vocab)
    return MLAModel(teacher, vocab, config.languages, config.bottleneck)
