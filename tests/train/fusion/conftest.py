"""Fixtures of the fusion-encoder tests: real OpenMoji shards (part 1's toy data: rendered
emoji, CLDR captions in 14 languages, code-switched variants), real mixed batches from
part 1's stream mixer, tiny model configs and a short optimisation helper."""
from __future__ import annotations

import itertools
from typing import Any, Callable

import pytest
import torch

WIDTH = 32


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """The tests share two cores with other work; one intra-op thread avoids oversubscription."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def toy(tmp_path_factory) -> dict[str, str]:
    from babelshard.pipelines.demo.toydata import build_toy_data

    return build_toy_data(str(tmp_path_factory.mktemp("toy-fusion")), train=160, heldout=40, size=32)


@pytest.fixture(scope="session")
def tokenizer():
    from babelshard.train.data.tokenizer import HashTokenizer

    return HashTokenizer(vocab_size=2048, max_length=16)


def stream_config(toy: dict[str, str], name: str, batch_size: int = 16, **extra: Any):
    """One of the streams the objectives read: caption (image + caption), text, parallel."""
    from babelshard.train.stream_config import CaptionStreamConfig, ImageConfig, ParallelStreamConfig, TextStreamConfig

    if name == "caption":
        return CaptionStreamConfig(name=name, folders=[toy["caption"]], batch_size=batch_size,
                                   image=ImageConfig(size=32), **extra)
    if name == "text":
        folders = [toy["text/en"], toy["text/de"], toy["text/ja"]]
        return TextStreamConfig(name=name, folders=folders, batch_size=batch_size, **extra)
    if name == "pairs":  # two captions of one image (English and another language), from caption shards
        return ParallelStreamConfig(name=name, folders=[toy["caption"]], batch_size=batch_size, **extra)
    return ParallelStreamConfig(name=name, folders=[toy["parallel"]], batch_size=batch_size, **extra)


@pytest.fixture(scope="session")
def stream_of(toy) -> Callable[..., Any]:
    """``stream_of(name, batch_size, **settings)``: a stream config over the toy shards."""
    return lambda name, batch_size=16, **extra: stream_config(toy, name, batch_size, **extra)


@pytest.fixture(scope="session")
def batches(toy, tokenizer) -> Callable[..., list[dict]]:
    """``batches(stream, count)``: the first ``count`` sub-batches of that stream."""
    from babelshard.train.data.mixer import MixedStream

    cache: dict[tuple, list[dict]] = {}

    def make(name: str, count: int = 8, batch_size: int = 16) -> list[dict]:
        if (name, count, batch_size) not in cache:
            mixed = MixedStream([stream_config(toy, name, batch_size)], tokenizer, seed=1, batches_per_epoch=count)
            cache[(name, count, batch_size)] = [b.streams[name] for b in itertools.islice(iter(mixed), count)]
        return cache[(name, count, batch_size)]

    return make


@pytest.fixture(scope="session")
def model_config() -> Callable[..., Any]:
    from babelshard.train.model_config import model_config as parse_model_config

    def make(kind: str, **update: Any) -> Any:
        options: dict[str, Any] = dict(kind=kind, embed_dim=WIDTH, text=dict(width=WIDTH, layers=1, heads=2),
                                       vision=dict(kind="vit", width=WIDTH, layers=1, heads=2, patch_size=8, image_size=32))
        if kind == "m3p":
            options["languages"] = ["en", "de", "fr", "ja"]
        return parse_model_config(**{**options, **update})

    return make


@pytest.fixture(scope="session")
def build(model_config, tokenizer) -> Callable[..., torch.nn.Module]:
    from babelshard.train.models.dual_encoder import VocabInfo
    from babelshard.train.registry import build_model

    def make(kind: str, seed: int = 0, **update: Any) -> torch.nn.Module:
        torch.manual_seed(seed)
        return build_model(model_config(kind, **update), VocabInfo.of(tokenizer))

    return make


@pytest.fixture(scope="session")
def fit() -> Callable[..., list[float]]:
    """``fit(model, objective, batches, steps, lr)``: AdamW steps cycling over the batches;
    returns the loss of every step (masking randomness from a fixed torch seed)."""

    def run(model: torch.nn.Module, objective: torch.nn.Module, data: list[dict], steps: int = 40, lr: float = 3e-3) -> list[float]:
        torch.manual_seed(1)
        params = list(model.parameters()) + list(objective.parameters())
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
        model.train()
        losses = []
        for step in range(steps):
            out = objective(model, data[step % len(data)])
            optimizer.zero_grad()
            out["loss"].backward()
            optimizer.step()
            losses.append(float(out["loss"].detach()))
        return losses

    return run


SMALR_LANGUAGES = ("de", "en", "es", "fr")


@pytest.fixture(scope="session")
def hybrid_vocab(toy, tmp_path_factory) -> str:
    """The vocab issue's hybrid vocabulary built from the toy captions (counts with Beam,
    32-d fastText per language, t = 3, K = 64); returns the artifact folder."""
    from babelshard.pipelines.jobs.vocab import build_vocab
    from babelshard.vocab.config import FastTextConfig, HybridConfig, VocabConfig

    output = str(tmp_path_factory.mktemp("vocab"))
    config = VocabConfig(
        captions=(toy["caption"],), languages=SMALR_LANGUAGES, output=output,
        fasttext=FastTextConfig(dim=WIDTH, epoch=5, min_count=1, bucket=20000, minn=2, maxn=4),
        hybrid=HybridConfig(min_count=3, num_shared=64),
    )
    build_vocab(config)
    return f"{output}/hybrid"


@pytest.fixture(scope="session")
def hybrid_tokenizer(hybrid_vocab):
    from babelshard.train.models.smalr import HybridTokenizer

    return HybridTokenizer(hybrid_vocab, max_length=16)


@pytest.fixture(scope="session")
def smalr_batches(toy, hybrid_tokenizer) -> Callable[..., list[dict]]:
    """Batches tokenized with the hybrid vocabulary (language-aware collation):
    ``pairs`` (two captions of one image) and ``caption``."""
    from babelshard.train.data.mixer import MixedStream

    def make(name: str, count: int = 8) -> list[dict]:
        if name == "pairs":
            stream = stream_config(toy, "pairs", pair_languages=["de", "es", "fr"])
        else:
            stream = stream_config(toy, "caption", languages=list(SMALR_LANGUAGES))
        mixed = MixedStream([stream], hybrid_tokenizer, seed=1, batches_per_epoch=count)
        return [b.streams[name] for b in itertools.islice(iter(mixed), count)]

    return make
