"""Config models of the monolingual text and parallel text streams."""
from __future__ import annotations

from babelshard.configbase import StrictModel


class TextJobConfig(StrictModel):
    """Monolingual text sources, cleaning and language-balanced weights."""


class ParallelJobConfig(StrictModel):
    """Parallel corpora sources and pair filters."""
