"""CPU step time of the paper-shaped fusion presets (configs/paper/: the unified mVLP,
M3P, SMALR) at tiny size.

Built in a temporary folder: toy OpenMoji shards, tiny random checkpoints in the real
formats (``train/models/tiny_checkpoints.py``: a 4-layer XLM-R split 2 + 2 for the unified
model, all 4 layers for M3P, a CLIP image tower; width ``--width``), the toy caption shards
rewritten with region members (``train/data/toy_regions.py``: 8-16 grid regions of 12-d
an image, boxes, 6-class distributions) and a hybrid vocabulary from the vocab job (48-d
fastText). Each preset runs as configured (objectives, per-stream lengths, RandAugment,
online code-switching) with its paths pointed at these, ``--batch`` images per step (the
unified model's pairs and sentences 4 times as many, as in its 512 : 2048 : 2048) and
16-token texts. ``--batches`` mixed batches are decoded first, then ``--steps`` optimizer
steps run on them (``train_step``): the figures are the median step's wall time and
process CPU time (model time, not data loading), on ``--threads`` torch threads.

    .venv/bin/python benchmarks/bench_fusion_backbones.py --steps 20
"""
from __future__ import annotations

import os

import preset_steps
from babelshard.pipelines.demo.toydata import build_toy_data
from babelshard.train.data.toy_regions import write_region_shards
from babelshard.train.models.tiny_checkpoints import save_tiny_clip, save_tiny_xlmr

PRESETS = ("unified", "m3p", "smalr")
SMALR_LANGUAGES = ("de", "en", "es", "fr")


def hybrid_vocab(root: str, captions: str) -> str:
    from babelshard.pipelines.jobs.vocab import build_vocab
    from babelshard.vocab.config import FastTextConfig, HybridConfig, VocabConfig

    output = os.path.join(root, "vocab")
    build_vocab(VocabConfig(captions=(captions,), languages=SMALR_LANGUAGES, output=output,
                            fasttext=FastTextConfig(dim=48, epoch=5, min_count=1, bucket=20000, minn=2, maxn=4),
                            hybrid=HybridConfig(min_count=3, num_shared=48)))
    return os.path.join(output, "hybrid")


def tiny_world(root: str, width: int) -> dict[str, str]:
    toy = build_toy_data(os.path.join(root, "toy"), train=160, heldout=16, size=32)
    words = preset_steps.caption_words(toy["caption"])
    return {**toy,
            "xlmr": save_tiny_xlmr(os.path.join(root, "xlmr"), words + [w.casefold() for w in words], width=width, layers=4),
            "clip": save_tiny_clip(os.path.join(root, "clip"), width=width, embed_dim=width),
            "regions": write_region_shards(toy["caption"], os.path.join(root, "regions")),
            "hybrid": hybrid_vocab(root, toy["caption"])}


def overrides(name: str, world: dict[str, str], output: str, batch: int) -> list[str]:
    out = [f"loop.output={output}", "loop.progress=false", "loop.precision=fp32", "data.workers=0"]
    text_folders = f"[{world['text/en']}, {world['text/de']}, {world['text/ja']}]"
    if name == "unified":
        out += [f"tokenizer={{kind: transformers, path: {world['xlmr']}, max_length: 16}}",
                f"model.text_checkpoint.path={world['xlmr']}", "model.text_layers=2", f"model.image_checkpoint.path={world['clip']}",
                f"data.streams.0.folders=[{world['caption']}]", f"data.streams.0.batch_size={batch}", "data.streams.0.max_length=16",
                f"data.streams.1.folders=[{world['parallel']}]", f"data.streams.1.batch_size={4 * batch}", "data.streams.1.max_length=16",
                f"data.streams.2.folders={text_folders}", f"data.streams.2.batch_size={4 * batch}"]
    elif name == "m3p":
        out += [f"tokenizer={{kind: transformers, path: {world['xlmr']}, max_length: 16}}",
                f"model.text_checkpoint.path={world['xlmr']}", "model.vision={kind: regions, feature_dim: 12, box_dim: 5, classes: 6}",
                f"data.streams.0.folders=[{world['regions']}]", f"data.streams.0.batch_size={batch}",
                "data.streams.0.codeswitch.lexicon={lexicons: [{format: cldr}], word_ratio: 0.5}",
                f"data.streams.1.folders={text_folders}", f"data.streams.1.batch_size={batch}"]
    else:
        out += [f"tokenizer={{kind: hybrid, path: {world['hybrid']}, max_length: 16}}", f"model.hybrid_vocab={world['hybrid']}",
                "model.text={width: 32, layers: 2, heads: 2}", "model.embed_dim=32",
                "model.vision={kind: features, feature_dim: 12, width: 32}",
                f"data.streams.0.folders=[{world['regions']}]", "data.streams.0.features=pooled",
                f"data.streams.0.languages=[{', '.join(SMALR_LANGUAGES)}]", f"data.streams.0.batch_size={batch}",
                f"data.streams.1.folders=[{world['regions']}]", "data.streams.1.pair_languages=[de, es, fr]",
                f"data.streams.1.batch_size={batch}"]
    return out


if __name__ == "__main__":
    preset_steps.main(__doc__, PRESETS, tiny_world, overrides)
