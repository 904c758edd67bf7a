"""CPU step time of the paper-shaped presets (configs/paper/: MLA and mCLIP on pretrained
checkpoints) at tiny size.

Tiny random checkpoints in the real formats (``train/models/tiny_checkpoints.py``: CLIP,
XLM-R, M-BERT; width ``--width``, 2 layers) and toy OpenMoji shards are built in a
temporary folder; each preset runs as configured (model kind, objectives, frozen parts,
tokenizers, CLIP's image processor) with its checkpoint paths pointed at the tiny ones,
``--batch`` images or pairs per step, 16-token texts, and the stages' ``init`` / encoder
model files replaced by the checkpoints themselves. ``--batches`` mixed batches are
decoded first, then ``--steps`` optimizer steps run on them (``train_step``): the figures
are the median step's wall time and process CPU time (model time, not data loading), on
``--threads`` torch threads.

    .venv/bin/python benchmarks/bench_backbones.py --steps 20
"""
from __future__ import annotations

import os

import preset_steps
from babelshard.pipelines.demo.toydata import build_toy_data
from babelshard.train.config import load_train_config
from babelshard.train.models.tiny_checkpoints import save_tiny_bert, save_tiny_clip, save_tiny_xlmr

PRESETS = ("mla-stage1", "mla-stage2", "mclip-mte-nmt", "mclip-mte", "mclip", "mclip-finetune")


def tiny_world(root: str, width: int) -> dict[str, str]:
    toy = build_toy_data(os.path.join(root, "toy"), train=160, heldout=16, size=64)
    words = preset_steps.caption_words(toy["caption"])
    return {**toy,
            "clip": save_tiny_clip(os.path.join(root, "clip"), width=width, embed_dim=width),
            "xlmr": save_tiny_xlmr(os.path.join(root, "xlmr"), words + [w.casefold() for w in words], width=width),
            "mbert": save_tiny_bert(os.path.join(root, "mbert"), words, width=width)}


def overrides(name: str, world: dict[str, str], output: str, batch: int) -> list[str]:
    clip, xlmr, mbert = world["clip"], world["xlmr"], world["mbert"]
    config = load_train_config(preset_steps.PAPER / f"train-{name}.yaml")
    out = [f"loop.output={output}", "loop.progress=false", "loop.precision=fp32", "data.workers=0", "eval=null",
           "model.init=null"]
    folder = world["parallel"] if name.startswith("mclip-mte") else world["caption"]
    for i, stream in enumerate(config.data.streams):
        out += [f"data.streams.{i}.folders=[{folder}]", f"data.streams.{i}.batch_size={batch}"]
        if stream.kind == "caption" and stream.image is not None:
            out.append(f"data.streams.{i}.image={{random_crop: false, processor: {clip}}}")
    clip_tokens = f"{{kind: transformers, path: {clip}, max_length: 16}}"
    if name.startswith("mla"):
        out += [f"model.teacher={{kind: hf_clip, path: {clip}}}", f"model.embeddings={mbert}", "model.bottleneck=8",
                f"tokenizer={{kind: transformers, path: {mbert}, max_length: 16, english: {clip_tokens}}}",
                f"teacher_tokenizer={clip_tokens}"]
    elif name.startswith("mclip-mte"):
        out += [f"model.checkpoint={{kind: hf_text, path: {xlmr}}}", "model.decoder={layers: 2, heads: 2}",
                f"tokenizer={{kind: transformers, path: {xlmr}, max_length: 16}}"]
    else:
        out += [f"model.teacher={{kind: hf_clip, path: {clip}}}", f"model.encoder={xlmr}", "model.text.heads=2",
                f"tokenizer={{kind: transformers, path: {xlmr}, max_length: 16}}", f"teacher_tokenizer={clip_tokens}"]
    return out


if __name__ == "__main__":
    preset_steps.main(__doc__, PRESETS, tiny_world, overrides)
