"""Masking statistics on real caption and text batches: 15% of maskable tokens chosen,
80/10/10 mask/random/keep, specials and padding never chosen; 15% of patches, 90%
of those zeroed. Bounds are 5 standard deviations of the binomial counts."""
from __future__ import annotations

import math

import torch

from babelshard.train.objectives.masking import IGNORE, mask_patches, mask_tokens, maskable_positions

SPECIALS = (0, 1, 2, 3)
MASK_ID = 2048  # one row past the hash tokenizer's 2048 ids, as the fusion models use


def within(count: int, trials: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(count - trials * p) <= sigmas * math.sqrt(trials * p * (1 - p))


def real_tokens(batches) -> torch.Tensor:
    rows = [b.tokens for b in batches("text", 8)] + [b.tokens for b in batches("caption", 8)]
    return torch.cat(rows)


def test_token_masking_statistics_on_real_text(batches):
    tokens = real_tokens(batches)
    maskable = maskable_positions(tokens, pad_id=0, special_ids=SPECIALS)
    generator = torch.Generator().manual_seed(0)
    chosen = replaced_mask = replaced_random = kept = trials = 0
    for _ in range(200):
        out = mask_tokens(tokens, maskable, MASK_ID, 2048, 0.15, (0.8, 0.1, 0.1), generator)
        assert not (out.selected & ~maskable).any(), "a special or padding token was chosen"
        assert torch.equal(out.labels[out.selected], tokens[out.selected])
        assert (out.labels[~out.selected] == IGNORE).all()
        assert torch.equal(out.inputs[~out.selected], tokens[~out.selected])
        assert (out.inputs[out.replaced == 0] == MASK_ID).all()
        assert torch.equal(out.inputs[out.replaced == 2], tokens[out.replaced == 2])
        trials += int(maskable.sum())
        chosen += int(out.selected.sum())
        replaced_mask += int((out.replaced == 0).sum())
        replaced_random += int((out.replaced == 1).sum())
        kept += int((out.replaced == 2).sum())
    assert chosen == replaced_mask + replaced_random + kept
    assert within(chosen, trials, 0.15), chosen / trials
    assert within(replaced_mask, chosen, 0.8), replaced_mask / chosen
    assert within(replaced_random, chosen, 0.1), replaced_random / chosen
    assert within(kept, chosen, 0.1), kept / chosen


def test_random_replacements_are_vocabulary_ids(batches):
    tokens = real_tokens(batches)
    maskable = maskable_positions(tokens, 0, SPECIALS)
    out = mask_tokens(tokens, maskable, MASK_ID, 2048, 0.5, (0.0, 1.0, 0.0), torch.Generator().manual_seed(3))
    values = out.inputs[out.replaced == 1]
    assert values.numel() > 0 and int(values.min()) >= 0 and int(values.max()) < 2048


def test_a_batch_always_has_a_target():
    tokens = torch.tensor([[1, 17, 2, 0], [1, 18, 2, 0]])
    maskable = maskable_positions(tokens, 0, SPECIALS)
    for seed in range(50):  # probability 1e-9 leaves nothing chosen: the fallback must pick one
        out = mask_tokens(tokens, maskable, MASK_ID, 2048, 1e-9, (0.8, 0.1, 0.1), torch.Generator().manual_seed(seed))
        assert int(out.selected.sum()) == 1 and bool(maskable[out.selected].all())


def test_patch_masking_statistics():
    generator = torch.Generator().manual_seed(0)
    chosen = zeroed = trials = 0
    for _ in range(200):
        out = mask_patches(32, 16, torch.device("cpu"), 0.15, 0.9, generator)
        assert not (out.zeroed & ~out.selected).any()
        trials += 32 * 16
        chosen += int(out.selected.sum())
        zeroed += int(out.zeroed.sum())
    assert within(chosen, trials, 0.15), chosen / trials
    assert within(zeroed, chosen, 0.9), zeroed / chosen
