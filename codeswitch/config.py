"""Config model of the code-switch stage."""
from __future__ import annotations

from babelshard.configbase import StrictModel


class CodeSwitchConfig(StrictModel):
    """Lexicons and ratios for M3P-style code-switched captions."""
