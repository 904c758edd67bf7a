"""Importing this module registers issue 9's models and objectives with part 1's
registries (``models.MODELS``, ``objectives.OBJECTIVES``).

| model kind | class | module |
|---|---|---|
| ``unified`` | text encoder + fusion layers with cross-attention + tiny ViT | ``fusion`` |
| ``m3p`` | single stream over text tokens and image patches | ``single_stream`` |
| ``smalr`` | hybrid embedding layer + text encoder + tiny ViT | ``smalr`` |

Objectives: ``xmlm``, ``tlm``, ``tlm_concat``, ``vlm``/``mc_mlm``, ``mclm``
(``mlm_objectives``); ``mc_vlm``/``itm_random``, ``itm``/``itm_hard``, ``mc_mrm``/``mrm``
(``matching``).
"""
from __future__ import annotations

from babelshard.train.models import fusion, single_stream, smalr  # noqa: F401
from babelshard.train.objectives import matching, mlm  # noqa: F401

MODEL_KINDS = ("unified", "m3p", "smalr")
OBJECTIVE_KINDS = ("xmlm", "tlm", "tlm_concat", "vlm", "mc_mlm", "mclm", "mc_vlm", "itm_random", "itm", "itm_hard", "mc_mrm", "mrm")
