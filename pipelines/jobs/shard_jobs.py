"""What the shard-to-shard jobs (``babelshard translate``, ``babelshard features``) share:
where they read and write, and their counters."""
from __future__ import annotations

from typing import Any

from babelshard.configbase import ConfigError
from babelshard.fs import join

CAPTION_FOLDER = "caption"


def input_and_output(section: Any, key: str, input_folder: str | None, output: str | None,
                     default_output: str) -> tuple[str, str]:
    """The caption folder a job reads and the root it writes under, from the command line or
    the config section ``key``; a missing section or input, or an output that would
    overwrite the input, is a ConfigError."""
    if section is None:
        raise ConfigError(f"the config has no `{key}` section")
    source = input_folder or section.input_folder
    if not source:
        raise ConfigError(f"no input: set {key}.input_folder or pass --input")
    target = output or default_output
    if join(target, CAPTION_FOLDER).rstrip("/") == source.rstrip("/"):
        raise ConfigError(f"the output {target!r} would overwrite the input {source!r}")
    return source, target


def namespace_counters(result: Any, namespace: str) -> dict[str, int]:
    """A finished pipeline's counters in ``namespace``, by name (empty when the runner
    reports no metrics)."""
    from apache_beam.metrics.metric import MetricsFilter

    try:
        found = result.metrics().query(MetricsFilter().with_namespace(namespace))["counters"]
    except Exception:  # noqa: BLE001 - not every runner reports metrics; the summary does without
        return {}
    totals: dict[str, int] = {}
    for item in found:
        totals[item.key.metric.name] = totals.get(item.key.metric.name, 0) + (item.committed or item.attempted or 0)
    return dict(sorted(totals.items()))
