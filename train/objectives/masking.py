"""BERT-style token masking and M3P-style patch masking, as plain tensor functions.

Randomness comes from torch's generator (the global one unless a ``generator`` is
passed), whose state the trainer's checkpoints save, so a resumed run masks the same
positions. Labels use ``IGNORE`` (-100, cross-entropy's ``ignore_index``) where a
position is not a target.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch

IGNORE = -100


@dataclass(frozen=True)
class MaskedTokens:
    inputs: torch.Tensor  # tokens with the chosen positions replaced
    labels: torch.Tensor  # original ids at chosen positions, IGNORE elsewhere
    selected: torch.Tensor  # bool, the chosen positions
    replaced: torch.Tensor  # long: 0 masked, 1 random token, 2 kept, -1 not chosen


def maskable_positions(tokens: torch.Tensor, pad_id: int, special_ids: Iterable[int]) -> torch.Tensor:
    """True where a token may be masked: not padding, not a special token."""
    keep = tokens != pad_id
    for special in special_ids:
        keep &= tokens != special
    return keep


def _uniform(shape: torch.Size, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(shape, device=device, generator=generator)


def ensure_one(selected: torch.Tensor, maskable: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """At least one target per batch (a loss over zero targets is undefined): when none
    was chosen, choose one maskable position at random."""
    if selected.any() or not maskable.any():
        return selected
    candidates = maskable.flatten().nonzero().squeeze(1)
    pick = candidates[torch.randint(len(candidates), (1,), device=candidates.device, generator=generator)]
    selected = selected.clone().flatten()
    selected[pick] = True
    return selected.view_as(maskable)


def mask_tokens(
    tokens: torch.Tensor,
    maskable: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    probability: float = 0.15,
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
    generator: torch.Generator | None = None,
) -> MaskedTokens:
    """Choose each maskable token with ``probability``; of the chosen, replace
    ``ratios[0]`` with ``mask_id``, ``ratios[1]`` with a random id in
    ``[0, vocab_size)`` and keep ``ratios[2]``."""
    selected = (_uniform(tokens.shape, tokens.device, generator) < probability) & maskable
    selected = ensure_one(selected, maskable, generator)
    draw = _uniform(tokens.shape, tokens.device, generator)
    masked = selected & (draw < ratios[0])
    randomised = selected & (draw >= ratios[0]) & (draw < ratios[0] + ratios[1])
    random_ids = torch.randint(vocab_size, tokens.shape, device=tokens.device, generator=generator)
    inputs = torch.where(masked, torch.full_like(tokens, mask_id), tokens)
    inputs = torch.where(randomised, random_ids, inputs)
    labels = torch.where(selected, tokens, torch.full_like(tokens, IGNORE))
    replaced = torch.full_like(tokens, -1)
    replaced[selected] = 2
    replaced[randomised] = 1
    replaced[masked] = 0
    return MaskedTokens(inputs, labels, selected, replaced)


@dataclass(frozen=True)
class MaskedPatches:
    selected: torch.Tensor  # (batch, patches) bool: the regression / classification targets
    zeroed: torch.Tensor  # (batch, patches) bool: inputs set to zero (the rest of `selected` kept)


def mask_patches(
    batch: int,
    patches: int,
    device: torch.device,
    probability: float = 0.15,
    zero_ratio: float = 0.9,
    generator: torch.Generator | None = None,
    maskable: torch.Tensor | None = None,
) -> MaskedPatches:
    """Choose each patch (or region; only ``maskable`` ones, default all) with
    ``probability`` (at least one per batch); zero the input of ``zero_ratio`` of the
    chosen ones and keep the others unchanged."""
    shape = torch.Size((batch, patches))
    everything = torch.ones(shape, dtype=torch.bool, device=device) if maskable is None else maskable
    selected = ensure_one((_uniform(shape, device, generator) < probability) & everything, everything, generator)
    zeroed = selected & (_uniform(shape, device, generator) < zero_ratio)
    return MaskedPatches(selected, zeroed)
