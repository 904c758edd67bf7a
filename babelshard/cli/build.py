"""``babelshard build`` and ``babelshard demo``.

Both pass any further flags to Beam as pipeline options (``--runner``,
``--direct_num_workers``, ``--direct_running_mode``, Dataflow options ...).
"""
from __future__ import annotations

import logging
from typing import Optional

import typer

BEAM_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


# Beam logs an exception raised in a transform, with its traceback, before it re-raises
# it; for a user error the CLI's one line says all there is to say.
BEAM_ERROR_LOGGERS = ("apache_beam.runners.common", "apache_beam.runners.worker.sdk_worker")


def _hide_user_error_tracebacks(record: logging.LogRecord) -> bool:
    from babelshard.errors import UserError

    error = record.exc_info[1] if record.exc_info else None
    return not isinstance(error, UserError)


def _quiet_beam_import() -> None:
    """Beam warns at import about an optional GCP client we do not use."""
    logging.getLogger().addFilter(lambda record: "apitools not found" not in record.getMessage())
    for name in BEAM_ERROR_LOGGERS:
        logging.getLogger(name).addFilter(_hide_user_error_tracebacks)


def _run(fn, *args) -> None:
    from babelshard.errors import exit_on_user_error

    _quiet_beam_import()
    exit_on_user_error(fn, *args)


def build_command(
    ctx: typer.Context,
    config: str = typer.Argument(..., help="A job config YAML file."),
    retry_failed: bool = typer.Option(
        False, "--retry-failed",
        help="Download again the images that complete caption shards lost to timeouts, 429, 5xx, connection errors "
        "or incomplete reads, rewriting only those shards; nothing else is fetched again.",
    ),
) -> None:
    """Run a job config. Any Beam pipeline option may follow, e.g. --runner DataflowRunner
    or --direct_running_mode multi_processing --direct_num_workers 2."""
    _run(_build, config, list(ctx.args), retry_failed)


def _build(config: str, beam_args: list[str], retry_failed: bool = False) -> None:
    from babelshard.pipelines.jobs.config import load_job_config
    from babelshard.pipelines.jobs.run import format_summary, run_job

    say = lambda line: typer.echo(line, err=True)  # noqa: E731
    typer.echo(format_summary(run_job(load_job_config(config), beam_args, retry_failed, progress=say)))


def demo_command(
    ctx: typer.Context,
    output: Optional[str] = typer.Option(None, help="Output root; caption shards go to OUTPUT/caption (default: babelshard-demo)."),
    count: Optional[int] = typer.Option(None, help="How many emoji (default: the config's demo.emoji_count, all of them)."),
    config: Optional[str] = typer.Option(None, help="A demo job config (default: the built-in one, configs/demo.yaml)."),
) -> None:
    """Build caption shards from OpenMoji images with CLDR captions in 14 languages,
    served from a loopback HTTP server, with the DirectRunner. Beam options may follow."""
    _run(_demo, output, count, config, list(ctx.args))


def _demo(output: str | None, count: int | None, config: str | None, beam_args: list[str]) -> None:
    from babelshard.pipelines.jobs.config import OutputConfig, load_job_config
    from babelshard.pipelines.jobs.config import DemoConfig
    from babelshard.pipelines.demo.job import default_demo_config, run_demo

    cfg = load_job_config(config) if config else default_demo_config()
    if output is not None:
        cfg = cfg.model_copy(update={"output": OutputConfig(**{**cfg.output.model_dump(), "folder": output})})
    if count is not None:
        demo = DemoConfig(**{**(cfg.demo or DemoConfig()).model_dump(), "emoji_count": count})
        cfg = cfg.model_copy(update={"demo": demo})
    run_demo(cfg, beam_args, echo=typer.echo)


def register(app: typer.Typer) -> None:
    app.command("build", context_settings=BEAM_ARGS)(build_command)
    app.command("demo", context_settings=BEAM_ARGS)(demo_command)
