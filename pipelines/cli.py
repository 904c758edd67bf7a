"""``babelshard build`` and ``babelshard demo``.

Both pass any further flags to Beam as pipeline options (``--runner``,
``--direct_num_workers``, ``--direct_running_mode``, Dataflow options ...).
"""
from __future__ import annotations

import logging
from typing import Optional

import typer

BEAM_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def _quiet_beam_import() -> None:
    """Beam warns at import about an optional GCP client we do not use."""
    logging.getLogger().addFilter(lambda record: "apitools not found" not in record.getMessage())


def register(app: typer.Typer) -> None:
    @app.command(context_settings=BEAM_ARGS)
    def build(
        ctx: typer.Context,
        config: str = typer.Argument(..., help="A job config YAML file."),
    ) -> None:
        """Run a job config. Any Beam pipeline option may follow, e.g. --runner DataflowRunner
        or --direct_running_mode multi_processing --direct_num_workers 2."""
        from babelshard.cli import _exit_on_error
        from babelshard.config import load_job_config

        _quiet_beam_import()

        def run() -> None:
            from babelshard.pipelines.run import format_summary, run_job

            typer.echo(format_summary(run_job(load_job_config(config), ctx.args)))

        _exit_on_error(run)

    @app.command(context_settings=BEAM_ARGS)
    def demo(
        ctx: typer.Context,
        output: Optional[str] = typer.Option(
            None, help="Output root; caption shards go to OUTPUT/caption (default: babelshard-demo)."
        ),
        count: Optional[int] = typer.Option(None, help="How many emoji (default: the config's demo.emoji_count)."),
        config: Optional[str] = typer.Option(None, help="A demo job config (default: the built-in one, configs/demo.yaml)."),
    ) -> None:
        """Build caption shards from OpenMoji images with CLDR captions in 14 languages,
        served from a loopback HTTP server, with the DirectRunner. Beam options may follow."""
        from babelshard.cli import _exit_on_error

        _quiet_beam_import()

        def run() -> None:
            from babelshard.config import OutputConfig, load_job_config
            from babelshard.pipelines.config import DemoConfig
            from babelshard.pipelines.demo import default_demo_config, run_demo

            cfg = load_job_config(config) if config else default_demo_config()
            if output is not None:
                cfg = cfg.model_copy(update={"output": OutputConfig(**{**cfg.output.model_dump(), "folder": output})})
            if count is not None:
                demo_cfg = DemoConfig(**{**(cfg.demo or DemoConfig()).model_dump(), "emoji_count": count})
                cfg = cfg.model_copy(update={"demo": demo_cfg})
            run_demo(cfg, ctx.args, echo=typer.echo)

        _exit_on_error(run)
