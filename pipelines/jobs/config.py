"""The job config: one frozen model per stage, nested, parsed once from YAML.

``babelshard build CONFIG`` reads a :class:`JobConfig`; stages that are absent
(``translate: null`` or missing) do not run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from babelshard.configbase import NOT_HASHED, StrictModel, config_hash, load_model
from babelshard.codeswitch.config import CodeSwitchConfig
from babelshard.pipelines.captions.config import CaptionJobConfig
from babelshard.pipelines.features.config import FeaturesConfig
from babelshard.pipelines.text.config import ParallelJobConfig, TextJobConfig
from babelshard.shards.held import DEFAULT_MEMORY_BYTES
from babelshard.translate.config import TranslateConfig


DEFAULT_MAX_SHARD_BYTES = 1 << 30


class OutputConfig(StrictModel):
    """Where the shard folders go and how big the shards are."""

    folder: str = Field(description="fsspec URL of the output root; each stream gets a subfolder")
    samples_per_shard: int = Field(10_000, ge=1)
    max_shard_bytes: int = Field(
        DEFAULT_MAX_SHARD_BYTES, ge=1 << 16,
        description="a caption shard's tar is at most this big (but holds at least one sample): the samples "
        "past it in key order become shard/over_max_bytes drops",
    )
    shard_memory_bytes: int = Field(
        DEFAULT_MEMORY_BYTES, ge=0, json_schema_extra=NOT_HASHED,
        description="bytes of encoded samples a shard writer holds in memory; later samples wait in a spill "
        "file next to the shard (the shard's bytes do not depend on it)",
    )
    license: str | None = Field(None, description="the data's license, written into each folder's index and dataset card")


class BeamConfig(StrictModel):
    """Defaults for Beam pipeline options; command-line flags override them."""

    runner: str = "DirectRunner"
    direct_num_workers: int = Field(1, ge=0)
    direct_running_mode: Literal["in_memory", "multi_threading", "multi_processing"] = "in_memory"
    options: dict[str, str] = Field(default_factory=dict, description="any other Beam pipeline option")

    def as_flags(self) -> list[str]:
        """Command-line style flags; flags given later on the command line override them."""
        flags = [
            f"--runner={self.runner}",
            f"--direct_num_workers={self.direct_num_workers}",
            f"--direct_running_mode={self.direct_running_mode}",
        ]
        return flags + [f"--{name}={value}" for name, value in sorted(self.options.items())]


class DemoConfig(StrictModel):
    """The embedded OpenMoji demo (``babelshard demo``)."""

    emoji_count: int = Field(4000, ge=1, description="at most this many; 3,953 have CLDR names in all 14 languages")
    render_size: int = Field(128, ge=16, description="PNG size the SVGs are rendered at")
    languages: list[str] | None = Field(None, description="CLDR languages to caption in; default all")
    port: int = Field(0, ge=0, le=65535, description="loopback port of the image server; 0: any free port")
    translate: bool = Field(True, description="add Apertium en->es/ca translation where it is installed, and report chrF against the human names")


class JobConfig(StrictModel):
    name: str = "babelshard"
    output: OutputConfig
    beam: BeamConfig = BeamConfig()
    captions: CaptionJobConfig | None = None
    translate: TranslateConfig | None = None
    codeswitch: CodeSwitchConfig | None = None
    features: FeaturesConfig | None = Field(
        None, description="model stages on the caption samples (in the build, or shard to shard with `babelshard features`)"
    )
    text: TextJobConfig | None = None
    parallel: ParallelJobConfig | None = None
    demo: DemoConfig | None = None

    @property
    def hash(self) -> str:
        return config_hash(self)


def load_job_config(path: str | Path) -> JobConfig:
    return load_model(JobConfig, path)


def index_extra(cfg: JobConfig, **fields: str) -> dict[str, str]:
    """What a job adds to each index it writes: the given fields, and the license when one is set."""
    return {**fields, "license": cfg.output.license} if cfg.output.license else dict(fields)
