"""The papers' protocols as runs: zero-shot, FT-en, FT-each, FT-all over any method.

:func:`protocol_runs` turns a config with a ``protocol`` section into the runs it
stands for. Each run is a complete training config whose fine-tuning caption stream
samples only the protocol's languages, with the model file it writes (or, zero-shot,
the one it evaluates as it is) and the languages evaluated with that model. FT-each has
one run per language, each in ``<loop.output>/<lang>``; its results table takes each
language's column from that language's run (:func:`merge_language_results`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from babelshard.configbase import ConfigError
from babelshard.train.config import TrainConfig

ENGLISH = "en"


@dataclass(frozen=True)
class ProtocolRun:
    label: str
    config: TrainConfig
    model_path: str
    trains: bool
    eval_languages: list[str] | None


def model_file(config: TrainConfig) -> str:
    return os.path.join(config.loop.output, "model.pt")


def protocol_languages(config: TrainConfig) -> list[str]:
    protocol = config.protocol
    assert protocol is not None
    stream = next(s for s in config.data.streams if s.name == protocol.stream)
    languages = protocol.languages or getattr(stream, "languages", None) or (config.eval.languages if config.eval else None)
    if not languages:
        raise ConfigError(f"protocol {protocol.kind}: set protocol.languages (or the {protocol.stream} stream's languages)")
    return list(languages)


def fine_tuning(config: TrainConfig, languages: list[str], output: str | None = None) -> TrainConfig:
    """``config`` with the protocol's stream sampling only ``languages`` (and another output)."""
    assert config.protocol is not None
    streams = [s.model_copy(update={"languages": languages}) if s.name == config.protocol.stream else s
               for s in config.data.streams]
    update: dict[str, Any] = {"data": config.data.model_copy(update={"streams": streams})}
    if output is not None:
        update["loop"] = config.loop.model_copy(update={"output": output})
    return config.model_copy(update=update)


def protocol_runs(config: TrainConfig) -> list[ProtocolRun]:
    """The runs of ``config.protocol`` (one plain run without a protocol)."""
    protocol = config.protocol
    if protocol is None:
        return [ProtocolRun("train", config, model_file(config), True, None)]
    if protocol.kind == "zero-shot":
        return [ProtocolRun("zero-shot", config, config.model.init or model_file(config), False, None)]
    if protocol.kind == "ft-en":
        return [ProtocolRun("ft-en", fine_tuning(config, [ENGLISH]), model_file(config), True, None)]
    languages = protocol_languages(config)
    if protocol.kind == "ft-all":
        return [ProtocolRun("ft-all", fine_tuning(config, languages), model_file(config), True, None)]
    runs = []
    for lang in languages:
        run = fine_tuning(config, [lang], os.path.join(config.loop.output, lang))
        runs.append(ProtocolRun(f"ft-each/{lang}", run, model_file(run), True, [lang]))
    return runs


def merge_language_results(per_run: list[tuple[ProtocolRun, dict[str, Any]]]) -> dict[str, Any]:
    """One results document from several runs: each run contributes its own languages.
    Works on plain results and on ``{scorer: results}``."""
    if len(per_run) == 1:
        return per_run[0][1]
    first = per_run[0][1]
    if "languages" not in first:
        scorers = [scorer for scorer, value in first.items() if isinstance(value, dict)]
        merged_scorers: dict[str, Any] = {scorer: merge_language_results([(run, results[scorer]) for run, results in per_run])
                                          for scorer in scorers}
        merged_scorers["models"] = merged_scorers[scorers[0]]["models"]
        return merged_scorers
    merged = {key: value for key, value in first.items() if key != "languages"}
    merged["languages"] = {}
    merged["models"] = {}
    for run, results in per_run:
        for lang, metrics in results["languages"].items():
            merged["languages"][lang] = {**metrics, "model": run.model_path}
            merged["models"][lang] = run.model_path
    merged["languages"] = dict(sorted(merged["languages"].items()))
    return merged
