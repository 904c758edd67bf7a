"""Config models of the caption ingest, cleaning and download stages (filled in by the caption job)."""
from __future__ import annotations

from babelshard.configbase import StrictModel


class CaptionJobConfig(StrictModel):
    """Where captions come from, how they are cleaned and how images are fetched."""
