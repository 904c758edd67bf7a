"""On-the-fly code-switching of English captions (M3P's D[C] mixed with D[EN]).

The switch is the code-switch stage's own pure function
(:func:`babelshard.codeswitch.transform.code_switch`), with the lexicon and ratios of a
:class:`~babelshard.codeswitch.config.CodeSwitchConfig`, so captions switched online
and the ``cs.json`` variants the Beam stage writes come from the same code. Each
English caption of a batch is switched with probability ``alpha``; the variant number
is drawn from the batch's generator, so an epoch sees fresh switches and a resumed run
the same ones. A caption with nothing the lexicon translates stays English (counted).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from babelshard.records import CODESWITCHED_LANGUAGE, ENGLISH
from babelshard.train.data.captions import CODESWITCHED_VARIANT, CaptionItem
from babelshard.train.stream_config import OnlineCodeSwitchConfig


class OnlineCodeSwitch:
    """Applies :func:`switch_item`; the lexicon loads once per process, on first use
    (so the object pickles cheaply into DataLoader workers)."""

    def __init__(self, config: OnlineCodeSwitchConfig):
        self.config = config

    def _lexicon_and_params(self) -> tuple[Any, Any]:
        from babelshard.codeswitch.loading import cached_lexicon, switch_params

        return cached_lexicon(self.config.lexicon), switch_params(self.config.lexicon)

    def __call__(self, item: CaptionItem, rng: np.random.Generator) -> tuple[CaptionItem, str]:
        lexicon, params = self._lexicon_and_params()
        return switch_item(item, lexicon, params, self.config.alpha, rng)


def switch_item(item: CaptionItem, lexicon: Any, params: Any, alpha: float, rng: np.random.Generator) -> tuple[CaptionItem, str]:
    """The item, code-switched with probability ``alpha`` when its caption is English;
    and what happened: ``codeswitched``, ``kept_english``, ``unswitchable`` or ``not_english``."""
    from babelshard.codeswitch.transform import code_switch

    if item.language != ENGLISH:
        return item, "not_english"
    if rng.random() >= alpha:
        return item, "kept_english"
    variant = int(rng.integers(1 << 31))
    switched = code_switch(item.text, item.key, variant, lexicon, params)
    if switched is None or switched.switched == 0:
        return item, "unswitchable"
    switched_item = item._replace(text=switched.text, language=CODESWITCHED_LANGUAGE, variant=CODESWITCHED_VARIANT,
                                  cs_variant=variant)
    return switched_item, "codeswitched"
