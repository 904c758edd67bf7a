"""``babelshard import img2dataset DIR OUTPUT``: another tool's output as a caption stream."""
from __future__ import annotations

import typer

imports = typer.Typer(help="Turn another tool's output into babelshard shards, without downloading again.",
                      no_args_is_help=True)


@imports.command("img2dataset")
def img2dataset(
    folder: str = typer.Argument(..., help="An img2dataset output folder (webdataset, parquet or files format)."),
    output: str = typer.Argument(..., help="The caption stream folder to write (shards, index.json, stats)."),
    max_samples: int = typer.Option(1000, min=1, help="Samples per shard."),
    source: str = typer.Option("img2dataset", help="The source name the samples' keys are made from."),
) -> None:
    """Read every row of an img2dataset run: successful rows with their image and caption
    become samples; failed rows are counted drops with img2dataset's status as the reason."""
    from babelshard.errors import exit_on_user_error
    from babelshard.pipelines.captions.img2dataset_output import import_img2dataset

    index = exit_on_user_error(import_img2dataset, folder, output, max_samples=max_samples, source=source)
    typer.echo(f"wrote {index.samples:,} samples in {len(index.shards)} shard(s) to {output}")


def register(app: typer.Typer) -> None:
    app.add_typer(imports, name="import")
