"""``babelshard features CONFIG --input FOLDER``: the model stages over an existing caption shard folder."""
from __future__ import annotations

from typing import Optional

import typer

BEAM_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def format_features_summary(summary) -> str:
    import json

    from babelshard.fs import join, read_text
    from babelshard.pipelines.features.score import histogram, histogram_languages
    from babelshard.pipelines.jobs.features import CAPTION_FOLDER
    from babelshard.pipelines.jobs.run import summarize_folder

    folder = join(summary.output, CAPTION_FOLDER)
    stream = summarize_folder(folder)
    lines = [f"wrote {stream.samples:,} samples in {stream.shards} shard(s) ({stream.bytes:,} bytes) to {folder}",
             f"  inputs {stream.inputs:,} = samples {stream.samples:,} + dropped {stream.dropped:,}"]
    lines += [f"    {reason}: {count:,}" for reason, count in sorted(stream.drops.items())]
    counters = json.loads(read_text(join(folder, "stats.json"))).get("counters", {})
    for lang in histogram_languages(counters):
        bins = ", ".join(f"{edge:+.2f}: {count}" for edge, count in histogram(counters, lang))
        lines.append(f"  clip score histogram ({lang}): {bins}")
    lines.append(f"skipped {summary.skipped} complete shard(s); took {summary.seconds:.1f} s")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command(context_settings=BEAM_ARGS)
    def features(
        ctx: typer.Context,
        config: str = typer.Argument(..., help="A job config YAML file with a `features` section."),
        input: Optional[str] = typer.Option(None, "--input", help="Caption shard folder (default: features.input_folder)."),
        output: Optional[str] = typer.Option(None, "--output", help="Output root (default: output.folder)."),
    ) -> None:
        """Run the model stages (teacher features, CLIP-score filter, grid features) over an existing
        caption shard folder into OUTPUT/caption, shard by shard; a rerun skips complete shards.
        Beam options may follow."""
        import logging

        from babelshard.errors import exit_on_user_error

        logging.getLogger().addFilter(lambda record: "apitools not found" not in record.getMessage())

        def run() -> None:
            from babelshard.pipelines.jobs.config import load_job_config
            from babelshard.pipelines.jobs.features import run_features

            summary = run_features(load_job_config(config), input, output, ctx.args)
            typer.echo(format_features_summary(summary))

        exit_on_user_error(run)
