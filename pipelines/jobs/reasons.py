"""Every drop reason of every stage, in one catalogue: ``stage/reason`` as in ``stats.json``.

Each stage defines its reasons as a :class:`~babelshard.stats.Reason` enum in its own
module, each member with a one-line description; this module gathers them by the stage
name the drops carry. ``docs/drop-reasons.md`` is generated from it:

    .venv/bin/python -m babelshard.pipelines.jobs.reasons > docs/drop-reasons.md
"""
from __future__ import annotations

from typing import Iterable

from babelshard.langid import LanguageReason
from babelshard.pipelines.captions.cleaning import CLEAN_STAGE, DEDUP_STAGE, DedupReason
from babelshard.pipelines.captions.download import STAGE as DOWNLOAD_STAGE
from babelshard.pipelines.captions.fetch import FetchReason
from babelshard.pipelines.captions.images import ImageReason
from babelshard.pipelines.captions.img2dataset_output import STAGE as IMG2DATASET_STAGE
from babelshard.pipelines.captions.img2dataset_output import Img2datasetReason
from babelshard.pipelines.captions.language import LANGUAGE_STAGE
from babelshard.pipelines.captions.sources import STAGE as READ_STAGE
from babelshard.pipelines.captions.sources import SourceReason
from babelshard.pipelines.features.score import STAGE as FEATURES_STAGE
from babelshard.pipelines.features.score import FeatureReason
from babelshard.pipelines.text.clean import STAGE as TEXT_STAGE
from babelshard.pipelines.text.clean import TextReason
from babelshard.pipelines.text.parallel_clean import STAGE as PARALLEL_STAGE
from babelshard.pipelines.text.parallel_clean import PairReason
from babelshard.pipelines.text.parallel_readers import PairReadReason
from babelshard.pipelines.text.readers import ReadReason
from babelshard.shards.bucket import SHARD_STAGE, ShardReason
from babelshard.stats import Reason, StageReason
from babelshard.textnorm import LengthReason
from babelshard.translate.filters import FilterReason
from babelshard.translate.requests import STAGE as TRANSLATE_STAGE
from babelshard.translate.requests import TranslateReason

Reasons = Iterable[Reason]

# stage -> (what the stage is, its reasons); a whole enum or single members.
CATALOGUE: dict[str, tuple[str, tuple[Reasons, ...]]] = {
    READ_STAGE: ("reading sources (captions, text, parallel)", (SourceReason, ReadReason, PairReadReason)),
    CLEAN_STAGE: ("caption cleaning and length bounds", (LengthReason,)),
    DEDUP_STAGE: ("caption dedup by URL", (DedupReason,)),
    LANGUAGE_STAGE: ("language ID of the English caption", (LanguageReason, StageReason)),
    DOWNLOAD_STAGE: ("image download, checks and resizing", (FetchReason, ImageReason)),
    IMG2DATASET_STAGE: ("rows of an img2dataset output folder (babelshard import img2dataset)", (Img2datasetReason,)),
    TRANSLATE_STAGE: (
        "caption translation and its quality checks (drops of one language of a sample)",
        (TranslateReason, [LengthReason.EMPTY], FilterReason, [LanguageReason.MISMATCH], StageReason),
    ),
    SHARD_STAGE: ("writing a planned caption shard", (ShardReason,)),
    FEATURES_STAGE: ("model stages: teacher features, CLIP-score filter, grid features", (FeatureReason, StageReason)),
    TEXT_STAGE: (
        "monolingual text: cleaning, length bounds, dedup, language ID",
        ([r for r in LengthReason if r is not LengthReason.TOO_MANY_WORDS], TextReason, LanguageReason, StageReason),
    ),
    PARALLEL_STAGE: (
        "parallel text: pair filters, dedup, language ID of both sides",
        (PairReason, [LengthReason.TOO_SHORT, LengthReason.TOO_LONG], TextReason, StageReason),
    ),
}


def stage_reasons(stage: str) -> list[Reason]:
    """A stage's reasons, in catalogue order."""
    return [reason for group in CATALOGUE[stage][1] for reason in group]


def catalogued() -> set[str]:
    """Every ``stage/reason`` a drop can carry."""
    return {f"{stage}/{reason}" for stage in CATALOGUE for reason in stage_reasons(stage)}


def uncatalogued(drop_keys: Iterable[str]) -> list[str]:
    """The ``stage/reason`` keys (of a ``stats.json``'s ``drops``) the catalogue does not know."""
    known = catalogued()
    return sorted(key for key in drop_keys if key not in known)


def drop_reasons_markdown() -> str:
    """``docs/drop-reasons.md``: one table per stage, one line per reason."""
    lines = [
        "# Drop reasons",
        "",
        "Every record that does not become a sample is a drop with a stage and a reason,",
        "counted in each shard's `stats.json` as `stage/reason` and listed with its key in",
        "the shard's failures table. This page is generated from",
        "`babelshard.pipelines.jobs.reasons` (`python -m babelshard.pipelines.jobs.reasons`);",
        "a test checks it is up to date.",
    ]
    for stage, (what, _) in CATALOGUE.items():
        lines += ["", f"## `{stage}`: {what}", "", "| reason | meaning | defined in |", "|---|---|---|"]
        for reason in stage_reasons(stage):
            origin = f"{type(reason).__module__}.{type(reason).__name__}"
            lines.append(f"| `{reason}` | {reason.description} | `{origin}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(drop_reasons_markdown(), end="")
