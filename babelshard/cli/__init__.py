"""The ``babelshard`` command line: the top floor, the only code that imports every package.

Each module here adds its commands with ``register(app)`` and keeps heavy imports
(Beam, torch) inside the command bodies, so ``babelshard --help`` stays fast.
"""
from __future__ import annotations

import sys
from typing import Optional

import typer

from babelshard import __version__
from babelshard.cli import benchmark, build, config, features, importing, lexicon, report, text, train, translate, vocab
from babelshard.cli.backends import backend_message
from babelshard.errors import exit_on_user_error

app = typer.Typer(
    name="babelshard",
    help="Build multilingual vision-language pretraining data with Apache Beam, and train on it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def print_version(value: bool) -> None:
    if value:
        typer.echo(f"babelshard {__version__}")
        raise typer.Exit()


@app.callback()
def options(
    version: Optional[bool] = typer.Option(None, "--version", callback=print_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Build multilingual vision-language pretraining data with Apache Beam, and train on it."""


@app.command()
def inspect(
    path: str = typer.Argument(..., help="A shard folder (local path or fsspec URL), or a folder of shard folders."),
    samples: int = typer.Option(3, "--samples", "-n", help="How many samples to decode and show."),
    verify: bool = typer.Option(False, help="Check every shard's size and sha256 against the index."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document instead of tables."),
) -> None:
    """Show streams, shards, sample and byte totals, per-language counts, drops by reason and a few decoded samples."""
    from babelshard.shards.inspection import inspect_json, inspect_path

    if as_json:
        typer.echo(exit_on_user_error(inspect_json, path, samples=samples, verify=verify))
    else:
        exit_on_user_error(inspect_path, path, samples=samples, verify=verify)


@app.command()
def publish(
    source: str = typer.Argument(..., help="A finished shard folder (it must have index.json)."),
    destination: str = typer.Argument(..., help="Where to copy it: a local path, s3://, gs://, any fsspec URL."),
    workers: int = typer.Option(8, min=1, help="How many shards to upload at once."),
) -> None:
    """Copy a finished shard folder, verify every shard's size and checksum, upload index.json last.

    Uploads run in parallel, with a progress line per shard (bytes, MB/s, time left).
    Object stores are verified by their stored checksum (S3 ETag/ChecksumSHA256, GCS
    md5Hash) against digests of the source, so nothing is downloaded again; an
    interrupted publish resumes and skips shards already there with the right checksum.
    """
    from babelshard.shards.publish import publish_folder

    exit_on_user_error(publish_folder, source, destination, progress=True, workers=workers)


for commands in (config, build, text, translate, features, lexicon, vocab, train, report, benchmark, importing):
    commands.register(app)


def main() -> None:
    try:
        app(prog_name="babelshard")
    except (ImportError, ValueError) as error:
        message = backend_message(error)
        if message is None:
            raise
        typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
        sys.exit(2)

