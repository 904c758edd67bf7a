"""The fusion encoder's pluggable cross-attention, checked with forward hooks and by
perturbing its weights; the single-stream (M3P) model's joint sequence."""
from __future__ import annotations

import torch

from babelshard.train.models.fusion import FusionLayer


def count_cross_attention(model) -> tuple[list[int], list]:
    calls = [0]
    handles = []
    for layer in model.modules():
        if isinstance(layer, FusionLayer) and layer.cross_attention is not None:
            handles.append(layer.cross_attention.register_forward_hook(lambda *args: calls.__setitem__(0, calls[0] + 1)))
    return calls, handles


def test_cross_attention_runs_for_paired_inputs_only(build, batches):
    model = build("unified").eval()
    layers = len(model.fusion.layers)
    caption = batches("caption", 1)[0]
    text = batches("text", 1)[0]
    pairs = batches("parallel", 1)[0]
    calls, handles = count_cross_attention(model)
    with torch.no_grad():
        model.fused_text(text.tokens, text.languages, None)
        assert calls[0] == 0, "cross-attention ran for unpaired text"
        model.fused_text(caption.tokens, caption.languages, model.image_context(caption.image))
        assert calls[0] == layers
        source = model.text_context(pairs.source_tokens, pairs.source_languages)
        model.fused_text(pairs.target_tokens, pairs.target_languages, source)
        assert calls[0] == 2 * layers
    for handle in handles:
        handle.remove()


def test_unpaired_text_does_not_depend_on_cross_attention_weights(build, batches):
    model = build("unified").eval()
    caption = batches("caption", 1)[0]
    tokens, langs = caption.tokens, caption.languages
    with torch.no_grad():
        alone = model.fused_text(tokens, langs, None)
        paired = model.fused_text(tokens, langs, model.image_context(caption.image))
        for layer in model.fusion.layers:
            layer.cross_attention.out_proj.weight.add_(torch.randn_like(layer.cross_attention.out_proj.weight))
        assert torch.equal(model.fused_text(tokens, langs, None), alone)
        changed = model.fused_text(tokens, langs, model.image_context(caption.image))
    assert not torch.allclose(changed, paired, atol=1e-4)


def test_image_conditioned_text_sees_the_image(build, batches):
    caption = batches("caption", 1)[0]
    other = batches("caption", 2)[1].image
    for kind in ("unified", "m3p"):
        model = build(kind).eval()
        with torch.no_grad():
            own = model.fused_text(caption.tokens, caption.languages, model.image_context(caption.image))
            swapped = model.fused_text(caption.tokens, caption.languages, model.image_context(other))
        assert own.shape == (*caption.tokens.shape, 32)
        assert not torch.allclose(own, swapped, atol=1e-5), kind


def test_single_stream_sequence_and_language_embeddings(build, batches):
    model = build("m3p").eval()
    caption = batches("caption", 1)[0]
    tokens = caption.tokens
    with torch.no_grad():
        joint = model.joint(tokens, caption.languages, model.image_context(caption.image))
        assert joint.shape[1] == tokens.shape[1] + model.num_patches
        as_german = model.fused_text(tokens, ["de"] * len(tokens), None)
        as_japanese = model.fused_text(tokens, ["ja"] * len(tokens), None)
    assert not torch.allclose(as_german, as_japanese, atol=1e-5)


def test_patch_vectors_are_the_image_patches(build, batches):
    model = build("m3p")
    images = batches("caption", 1)[0].image
    vectors = model.patch_vectors(images)
    assert vectors.shape == (images.shape[0], 16, 3 * 8 * 8)
    top_right = images[:, :, 0:8, 8:16].reshape(images.shape[0], -1)
    assert torch.equal(vectors[:, 1], top_right)


def test_code_switched_captions_get_the_english_language_row(build, batches):
    """With Czech among the model's languages, a code-switched caption reads as English
    (M3P), never as Czech."""
    from babelshard.records import CODESWITCHED_LANGUAGE

    model = build("m3p", languages=["cs", "de", "en"]).eval()
    tokens = batches("caption", 1)[0].tokens
    rows = len(tokens)
    with torch.no_grad():
        switched = model.fused_text(tokens, [CODESWITCHED_LANGUAGE] * rows, None)
        english = model.fused_text(tokens, ["en"] * rows, None)
        czech = model.fused_text(tokens, ["cs"] * rows, None)
    assert torch.equal(switched, english)
    assert not torch.allclose(switched, czech, atol=1e-5)


def test_unified_text_embedding_is_the_first_token(build, batches):
    """The unified mVLP pools its text encoder's first token ([CLS] / <s>), not the mean."""
    model = build("unified").eval()
    tokens = batches("caption", 1)[0].tokens
    with torch.no_grad():
        expected = model.text_proj(model.text.token_states(tokens)[:, 0])
        assert torch.equal(model.encode_text(tokens), expected)
