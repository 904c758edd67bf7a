"""The training config: one frozen, typed model, loaded once from YAML.

``TrainConfig`` is standalone (not nested in the build job's config): a training run
reads shard folders that some build job wrote, wherever they are. Batch sizes are per
process; the global batch is ``batch_size * world_size * accum_steps``. Streams, models
and objectives are unions discriminated on ``kind`` (:mod:`stream_config`,
:mod:`model_config`, :mod:`objective_config`): each kind holds only its own options.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import Field, model_validator

from babelshard.configbase import ConfigError, StrictModel, load_model, parse_config, read_yaml
from babelshard.train.model_config import ClipModelConfig, ModelConfig, image_checkpoint
from babelshard.train.objective_config import ObjectiveConfig
from babelshard.train.stream_config import PROCESSOR_SETS, ImageConfig, StreamConfig
from babelshard.translate.config import EngineConfig


class TokenizerConfig(StrictModel):
    """``hash``: words (``textnorm.tokenize_words``) hashed into ``vocab_size`` ids, a
    dependency-free fallback; ``sentencepiece``: a ``.model`` file (the vocab artifact or
    a user's, e.g. XLM-R's); ``transformers``: a local tokenizer directory; ``hybrid``:
    SMALR's hybrid vocabulary (``path``: the artifact folder, :mod:`babelshard.train.models.smalr`);
    ``open_clip``: an OpenCLIP model's tokenizer (``path``: the architecture name, e.g. ViT-B-32)."""

    kind: Literal["hash", "sentencepiece", "transformers", "hybrid", "open_clip"] = "hash"
    path: str | None = None
    vocab_size: int = Field(8192, ge=8, description="hash tokenizer only")
    max_length: int = Field(32, ge=4)
    lowercase: bool = True
    english: "TokenizerConfig | None" = Field(
        None, description="MLA with its own non-English vocabulary: English is also tokenized with this (the "
        "teacher's) tokenizer; each row holds both, and the model reads the half of the text's language"
    )

    @model_validator(mode="after")
    def _path_when_needed(self) -> "TokenizerConfig":
        if self.kind != "hash" and not self.path:
            raise ValueError(f"tokenizer kind {self.kind!r} needs a path")
        if self.english is not None and self.english.english is not None:
            raise ValueError("tokenizer.english cannot have an english tokenizer of its own")
        return self


class DataConfig(StrictModel):
    streams: list[StreamConfig] = Field(min_length=1)
    samples_per_epoch: int | None = Field(None, ge=1, description="budget of the first stream; default its index total")
    workers: int = Field(0, ge=0)
    prefetch: int = Field(2, ge=1)
    seed: int = 0
    max_shard_error_rate: float = Field(
        0.01, ge=0, le=1, description="stop when more of a stream's shard reads fail than this share (1: never stop)"
    )
    min_shard_reads: int = Field(100, ge=1, description="shard reads a stream makes before max_shard_error_rate applies")

    @model_validator(mode="after")
    def _unique(self) -> "DataConfig":
        names = [s.name for s in self.streams]
        if len(set(names)) != len(names):
            raise ValueError(f"stream names must be unique: {names}")
        return self


class OptimConfig(StrictModel):
    name: Literal["adamw", "lamb"] = "adamw"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    warmup_steps: int = Field(0, ge=0)
    schedule: Literal["constant", "linear", "inverse_sqrt", "cosine"] = "linear"
    min_lr_ratio: float = Field(0.0, ge=0, le=1)
    grad_clip: float | None = Field(1.0, gt=0)
    accum_steps: int = Field(1, ge=1)


class LoopConfig(StrictModel):
    output: str = Field(description="folder for checkpoints, metrics.jsonl and model.pt")
    epochs: int = Field(1, ge=1)
    max_steps: int | None = Field(None, ge=1, description="train this many optimizer steps at most (sets the schedule)")
    stop_at_step: int | None = Field(
        None, ge=1, description="stop here with a checkpoint, schedule unchanged; a rerun resumes (preemptible runs)"
    )
    checkpoint_every: int = Field(0, ge=0, description="optimizer steps; 0: only at the end of each epoch")
    keep_checkpoints: int = Field(2, ge=1)
    log_every: int = Field(1, ge=1)
    resume: Literal["auto", "never"] | str = Field("auto", description="auto: latest checkpoint in output")
    precision: Literal["fp32", "bf16"] = Field("fp32", description="bf16 autocast applies on CUDA only")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1, description="torch intra-op threads")
    progress: bool = True
    find_unused_parameters: bool = True
    loggers: list[Literal["tensorboard", "wandb"]] = Field(
        default_factory=list, description="also log to TensorBoard (<output>/tensorboard) and W&B offline (<output>/wandb); metrics.jsonl always"
    )


class BenchmarkConfig(StrictModel):
    """A retrieval benchmark to evaluate on: a folder written by ``babelshard benchmark
    prepare``, or the release's own files (``root``), prepared into a cache folder first."""

    name: str = Field(description="a benchmark of `babelshard benchmark list` (multi30k, coco, xtd10, ...)")
    folder: str | None = Field(None, description="a prepared benchmark shard folder")
    root: str | None = Field(None, description="the folder of the release's files; prepared on the fly")
    images: list[str] = Field(default_factory=list, description="with root: the images folder(s); default root")
    split: str = "test"
    folds: bool = Field(False, description="rank each 1K fold on its own and average (MSCOCO 1K); coco and stair")
    max_captions: int | None = Field(None, ge=1, description="with root: keep the first N captions per image and language")
    label: str | None = Field(None, description="results name; default the benchmark name (with -1k for folds)")

    @model_validator(mode="after")
    def _one_source(self) -> "BenchmarkConfig":
        if (self.folder is None) == (self.root is None):
            raise ValueError(f"benchmark {self.name!r}: give exactly one of folder (prepared) or root (release files)")
        return self

    @property
    def results_name(self) -> str:
        return self.label or (f"{self.name}-1k" if self.folds else self.name)


class ConsistencyConfig(StrictModel):
    """SMALR's cross-lingual consistency: a query is scored together with its machine
    translations, made by the project's translation engines once per run and cached.
    A query language without a pair is scored on its own."""

    engines: dict[str, EngineConfig] = Field(default_factory=dict, description="translation engines by name")
    pairs: dict[str, str] = Field(default_factory=dict, description="'src-tgt' -> engine name, e.g. en-es: apertium")
    cache: str | None = Field(None, description="translation cache folder (fsspec URL) kept across runs; default: memory only")
    query_weight: float | None = Field(None, ge=0, le=1, description="weight of the query itself; default the plain mean")

    @model_validator(mode="after")
    def _pairs_have_engines(self) -> "ConsistencyConfig":
        for pair, engine in self.pairs.items():
            source, dash, target = pair.partition("-")
            if not dash or not source or not target or source == target:
                raise ValueError(f"consistency pair {pair!r}: expected 'src-tgt', e.g. en-es")
            if engine not in self.engines:
                raise ValueError(f"consistency pair {pair!r} names engine {engine!r}, not in engines ({', '.join(self.engines) or 'none'})")
        return self

    def targets(self, source: str) -> dict[str, str]:
        """Target language -> engine name for queries in ``source``."""
        found = {}
        for pair, engine in sorted(self.pairs.items()):
            src, _, tgt = pair.partition("-")
            if src == source:
                found[tgt] = engine
        return found


class EvalConfig(StrictModel):
    folders: list[str] = Field(default_factory=list, description="caption shard folders to evaluate on")
    benchmarks: list[BenchmarkConfig] = Field(default_factory=list, description="benchmarks, each evaluated and reported on its own")
    languages: list[str] | None = Field(None, description="default: every caption language in the shards")
    image: ImageConfig = ImageConfig()
    features: str | None = None
    batch_size: int = Field(256, ge=1)
    holdout: float | None = Field(None, gt=0, lt=1, description="only the samples a stream's holdout leaves out")
    folds: bool = Field(False, description="rank each 1K fold (the samples' fold) on its own and average")
    verify: bool = Field(False, description="check each shard's size and sha256 against the index")
    output: str | None = Field(None, description="JSON file for the results; default <loop.output>/eval.json")
    scorers: list[Literal["embedding", "itm", "rerank", "consistency"]] | None = Field(
        None, min_length=1, description="fusion presets: results per scorer; default part 1's embedding evaluation"
    )
    itm_images: int | None = Field(
        None, ge=1, description="itm: score only the first N images (N² model passes per language); default every image"
    )
    rerank_top_k: int = Field(16, ge=1, description="rerank: the matching head re-ranks each query's top K by embedding")
    consistency: ConsistencyConfig = ConsistencyConfig()

    @model_validator(mode="after")
    def _something_to_evaluate(self) -> "EvalConfig":
        if not self.folders and not self.benchmarks:
            raise ValueError("eval needs folders or benchmarks")
        return self


class ProtocolConfig(StrictModel):
    """The papers' evaluation protocols over any method: which caption languages the
    fine-tuning stream samples. ``zero-shot``: no fine-tuning, the model (``model.init``,
    else ``<loop.output>/model.pt``) is evaluated as it is; ``ft-en``: fine-tune on English
    captions; ``ft-each``: one run per language on that language's captions, each language
    evaluated with its own run (``<loop.output>/<lang>``); ``ft-all``: one run on every language."""

    kind: Literal["zero-shot", "ft-en", "ft-each", "ft-all"]
    stream: str = Field("caption", description="the caption stream that fine-tunes")
    languages: list[str] | None = Field(None, description="ft-each, ft-all: default the stream's languages, else eval.languages")


class TrainConfig(StrictModel):
    name: str = "train"
    tokenizer: TokenizerConfig = TokenizerConfig()
    teacher_tokenizer: TokenizerConfig | None = Field(None, description="default: the tokenizer")
    data: DataConfig
    model: ModelConfig = ClipModelConfig()
    objectives: list[ObjectiveConfig] = Field(min_length=1)
    optim: OptimConfig = OptimConfig()
    loop: LoopConfig
    eval: EvalConfig | None = None
    protocol: ProtocolConfig | None = Field(None, description="zero-shot / ft-en / ft-each / ft-all fine-tuning runs")

    @model_validator(mode="after")
    def _protocol_stream(self) -> "TrainConfig":
        if self.protocol is None:
            return self
        streams = {s.name: s.kind for s in self.data.streams}
        if streams.get(self.protocol.stream) != "caption":
            raise ValueError(f"protocol.stream {self.protocol.stream!r} is not a caption stream of data.streams")
        return self

    @model_validator(mode="before")
    @classmethod
    def _images_from_checkpoint(cls, data: Any) -> Any:
        """Caption streams and evaluation read images as the model's CLIP checkpoint's
        processor does, unless their ``image`` section says otherwise."""
        if not isinstance(data, Mapping) or not isinstance(data.get("model"), Mapping):
            return data
        try:
            folder = image_checkpoint(data["model"])
        except ConfigError:
            return data  # the model section's own validation reports it
        if folder is None:
            return data
        data = dict(data)
        if isinstance(data.get("data"), Mapping) and isinstance(data["data"].get("streams"), list):
            streams = [_with_processor(s, folder) for s in data["data"]["streams"]]
            data["data"] = {**data["data"], "streams": streams}
        if isinstance(data.get("eval"), Mapping):
            data["eval"] = _with_processor({"image": {}, **data["eval"]}, folder)
        return data

    @model_validator(mode="after")
    def _stream_lengths(self) -> "TrainConfig":
        for stream in self.data.streams:
            if stream.max_length is not None and stream.max_length > self.tokenizer.max_length:
                raise ValueError(f"stream {stream.name!r}: max_length {stream.max_length} exceeds tokenizer.max_length "
                                 f"{self.tokenizer.max_length} (the model's positions)")
        return self

    @model_validator(mode="after")
    def _objective_streams(self) -> "TrainConfig":
        streams = {s.name: s.kind for s in self.data.streams}
        for objective in self.objectives:
            wanted = {objective.stream: objective.stream_kinds, **objective.other_streams}
            for name, kinds in wanted.items():
                if name not in streams:
                    raise ValueError(f"objective {objective.kind!r} reads unknown stream {name!r}")
                if streams[name] not in kinds:
                    raise ValueError(f"objective {objective.kind!r} reads stream {name!r} of kind {streams[name]}; "
                                     f"it needs a {' or '.join(kinds)} stream")
        return self


def _with_processor(section: Any, folder: str) -> Any:
    """A stream or eval section whose ``image`` takes ``folder``'s processor settings,
    when it sets none of them itself."""
    if not isinstance(section, Mapping) or not isinstance(section.get("image"), Mapping):
        return section
    image = section["image"]
    if "processor" in image or set(image) & set(PROCESSOR_SETS):
        return section
    return {**section, "image": {**image, "processor": folder}}


def apply_overrides(data: Any, overrides: list[str]) -> Any:
    """``a.b.c=value`` overrides (value parsed as YAML); list items by index, ``streams.0.batch_size=8``."""
    data = data if isinstance(data, dict) else {}
    for item in overrides:
        path, sep, raw = item.partition("=")
        if not sep or not path:
            raise ConfigError(f"override {item!r}: expected key.path=value")
        node: Any = data
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        last = parts[-1]
        value = yaml.safe_load(raw)
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return data


def load_train_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    if not overrides:
        return load_model(TrainConfig, path)
    return parse_config(TrainConfig, apply_overrides(read_yaml(path), overrides), source=str(path))


def train_config_from(data: Mapping[str, Any]) -> TrainConfig:
    return parse_config(TrainConfig, dict(data))
