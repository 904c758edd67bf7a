"""Config models of the caption job: sources, cleaning, download and the demo.

One frozen model per stage, nested in :class:`CaptionJobConfig`; the job config
(``babelshard.pipelines.jobs.config.JobConfig``) holds it under ``captions``.
"""
from __future__ import annotations

from functools import cached_property
from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from babelshard.configbase import StrictModel
from babelshard.langid import LanguageIdConfig
from babelshard.textnorm import LengthBounds

ROBOTS_DIRECTIVES = ("noai", "noimageai", "noindex", "noimageindex")


class _SourceBase(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="source name; part of every sample key")
    path: str = Field(description="fsspec URL or glob of the caption file(s)")
    image_root: str | None = Field(
        None, description="URL prefix (or local folder, read as file:// URLs) joined with relative image paths"
    )


class TableSource(_SourceBase):
    """img2dataset-style tables: one row per image, captions in columns (CC3M/CC12M TSV too)."""

    format: Literal["tsv", "csv", "jsonl", "parquet"]
    columns: list[str] | None = Field(
        None, description="column names by position (TSV always, CSV without a header row)"
    )
    header: bool = Field(False, description="TSV: skip the first line of each file")
    url_column: str = "url"
    caption_column: str = Field("caption", description="the English caption")
    caption_lists: bool = Field(
        False,
        description="the caption column and language columns hold lists of captions: the first item is the caption, "
        "the rest extra captions (otherwise a list cell is a malformed row)",
    )
    language_columns: dict[str, str] = Field(default_factory=dict, description="language -> column of a human caption")
    key_column: str | None = Field(None, description="identity column for keys (default: the URL)")
    hash_column: str | None = Field(None, description="column with the expected sha256 of the image bytes")
    extra_columns: list[str] = Field(default_factory=list, description="columns carried into the sample json")

    @model_validator(mode="after")
    def _tsv_needs_columns(self) -> "TableSource":
        if self.format == "tsv" and not self.columns:
            raise ValueError("a tsv source needs `columns` (e.g. [caption, url] for CC3M, [url, caption] for CC12M)")
        return self


class CocoSource(_SourceBase):
    """COCO captions JSON (``captions_train2017.json``): one sample per image, first caption is ``txt``.

    Without ``image_root`` each image's ``coco_url`` is used.
    """

    format: Literal["coco"]


class KarpathySource(_SourceBase):
    """Karpathy split JSON (``dataset_coco.json``, ``dataset_flickr30k.json``)."""

    format: Literal["karpathy"]
    splits: list[str] | None = Field(None, description="keep only these splits (train, restval, val, test)")


class AlignedSource(_SourceBase):
    """Multi30K-style text files: an image list and one caption file per language, line-aligned.

    ``path`` is the image list; ``captions`` maps a language to its caption file.
    """

    format: Literal["aligned"]
    captions: dict[str, str] = Field(min_length=1)

    @model_validator(mode="after")
    def _needs_english(self) -> "AlignedSource":
        if "en" not in self.captions:
            raise ValueError("an aligned source needs an `en` caption file")
        return self


class FlickrTokenSource(_SourceBase):
    """Flickr30K ``results_20130124.token``: ``<image>#<n>\\t<caption>`` lines."""

    format: Literal["flickr_token"]


SourceConfig = Annotated[
    Union[TableSource, CocoSource, KarpathySource, AlignedSource, FlickrTokenSource], Field(discriminator="format")
]


class CleaningConfig(StrictModel):
    """Length bounds on the English caption, URL dedup and the English caption's language check."""

    min_chars: int = Field(2, ge=0)
    max_chars: int = Field(1000, ge=1)
    min_words: int = Field(1, ge=0)
    max_words: int = Field(200, ge=1)
    dedup: bool = Field(True, description="drop repeated URLs, keeping one deterministically")
    language_check: LanguageIdConfig | None = Field(None, description="fastText language ID of the English caption")

    @cached_property
    def lengths(self) -> LengthBounds:
        return LengthBounds(self.min_chars, self.max_chars, self.min_words, self.max_words)


Interpolation = Literal["nearest", "linear", "bilinear", "cubic", "bicubic", "area", "lanczos", "lanczos4"]


class ResizeConfig(StrictModel):
    """How downloaded images are checked, resized and encoded: img2dataset's ``Resizer``
    settings, and which resizer applies them."""

    resizer: Literal["babelshard", "img2dataset"] = Field(
        "babelshard",
        description="babelshard: img2dataset's modes and sizes for less CPU, pixels within 40 dB PSNR of "
        "img2dataset's; img2dataset: its own Resizer, for its exact bytes",
    )
    image_size: int = Field(256, ge=8)
    resize_mode: Literal["no", "keep_ratio", "center_crop", "border", "keep_ratio_largest"] = "border"
    resize_only_if_bigger: bool = False
    encode_format: Literal["jpg", "png", "webp"] = "jpg"
    encode_quality: int = Field(95, ge=0, le=100)
    skip_reencode: bool = False
    min_image_size: int = Field(0, ge=0)
    max_aspect_ratio: float | None = Field(None, gt=0)
    upscale_interpolation: Interpolation = "lanczos"
    downscale_interpolation: Interpolation = "area"

    @model_validator(mode="after")
    def _png_quality(self) -> "ResizeConfig":
        if self.encode_format == "png" and self.encode_quality > 9:
            raise ValueError("for png, encode_quality is the compression level 0-9")
        return self


class DownloadConfig(StrictModel):
    """Fetching: thread pool, politeness, safety."""

    thread_count: int = Field(32, ge=1, description="download threads per worker")
    timeout: float = Field(10.0, gt=0, description="seconds for connecting and for each read")
    deadline: float = Field(60.0, gt=0, description="seconds for one image, retries included")
    retries: int = Field(2, ge=0, description="extra attempts after 429, 5xx, timeouts and connection errors")
    backoff: float = Field(1.0, ge=0, description="first retry delay; doubles each attempt")
    max_backoff: float = Field(30.0, ge=0, description="cap on a retry delay, Retry-After included")
    max_redirects: int = Field(5, ge=0)
    max_bytes: int = Field(20 << 20, ge=1024, description="refuse images larger than this")
    max_pixels: int = Field(64_000_000, ge=1, description="decompression-bomb guard, checked before decoding")
    per_host_concurrency: int = Field(
        8, ge=1,
        description="simultaneous requests to one host: for the whole job when worker_processes is declared "
        "(each process gets its share, at least 1), otherwise per worker process",
    )
    per_host_rate: float = Field(
        10.0, ge=0,
        description="requests per second to one host: for the whole job when worker_processes is declared "
        "(each process gets its share), otherwise per worker process; 0: no limit",
    )
    worker_processes: int = Field(
        1, ge=1,
        description="worker processes the job downloads in (machines x SDK processes per machine): the per-host "
        "limits are divided among them; not part of the shards' config hash",
    )
    allow_loopback: bool = Field(False, description="allow 127.0.0.0/8 and ::1 (tests, the demo)")
    allow_file_urls: bool = False
    user_agent_token: str = "babelshard"
    disallowed_header_directives: list[str] = Field(default_factory=lambda: list(ROBOTS_DIRECTIVES))
    image: ResizeConfig = ResizeConfig()

    @property
    def process_host_concurrency(self) -> int:
        """One process's share of ``per_host_concurrency`` (at least one request)."""
        return max(1, self.per_host_concurrency // self.worker_processes)

    @property
    def process_host_rate(self) -> float:
        """One process's share of ``per_host_rate`` (0 stays no limit)."""
        return self.per_host_rate / self.worker_processes


class CaptionJobConfig(StrictModel):
    """Where captions come from, how they are cleaned and how images are fetched."""

    sources: list[SourceConfig] = Field(default_factory=list)
    cleaning: CleaningConfig = CleaningConfig()
    download: DownloadConfig = DownloadConfig()

    @model_validator(mode="after")
    def _unique_names(self) -> "CaptionJobConfig":
        names = [source.name for source in self.sources]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"source names must be unique; repeated: {', '.join(repeated)}")
        return self
