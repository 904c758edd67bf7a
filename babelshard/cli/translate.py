"""``babelshard translate CONFIG``: translate an existing caption shard folder."""
from __future__ import annotations

from typing import Optional

import typer

BEAM_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def format_translate_summary(summary) -> str:
    from babelshard.pipelines.jobs.run import summarize_folder
    from babelshard.fs import exists, join
    from babelshard.pipelines.jobs.translate import CAPTION_FOLDER, PARALLEL_FOLDER

    lines = []
    for name in (CAPTION_FOLDER, PARALLEL_FOLDER):
        folder = join(summary.output, name)
        if exists(join(folder, "index.json")):
            stream = summarize_folder(folder)
            languages = ", ".join(f"{lang} {count:,}" for lang, count in stream.languages.items())
            lines.append(f"wrote {stream.samples:,} samples in {stream.shards} shard(s) to {folder}; languages: {languages}")
    counters = summary.counters
    lines.append("translation: " + ", ".join(f"{name} {value:,}" for name, value in counters.items()))
    lines.append(f"took {summary.seconds:.1f} s")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command(context_settings=BEAM_ARGS)
    def translate(
        ctx: typer.Context,
        config: str = typer.Argument(..., help="A job config YAML file with a `translate` section."),
        input: Optional[str] = typer.Option(None, "--input", help="Caption shard folder (default: translate.input_folder)."),
        output: Optional[str] = typer.Option(None, "--output", help="Output root (default: output.folder)."),
    ) -> None:
        """Translate the captions of an existing caption shard folder into a new one: OUTPUT/caption,
        and OUTPUT/parallel-mt when translate.outputs.parallel is set. Beam options may follow."""
        import logging

        from babelshard.errors import exit_on_user_error

        # Beam warns at import about an optional GCP client this command does not use.
        logging.getLogger().addFilter(lambda record: "apitools not found" not in record.getMessage())

        def run() -> None:
            from babelshard.pipelines.jobs.config import load_job_config
            from babelshard.pipelines.jobs.translate import run_translate

            summary = run_translate(load_job_config(config), input, output, ctx.args)
            typer.echo(format_translate_summary(summary))

        exit_on_user_error(run)
