"""Config model of the translation stage."""
from __future__ import annotations

from babelshard.configbase import StrictModel


class TranslateConfig(StrictModel):
    """Engines, target languages, cache and quality filters for caption translation."""
