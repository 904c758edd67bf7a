"""The ``babelshard`` command line: the top floor, the only code that imports every package.

Each module here adds its commands with ``register(app)`` and keeps heavy imports
(Beam, torch) inside the command bodies, so ``babelshard --help`` stays fast.
"""
from __future__ import annotations

import typer

from babelshard.cli import build, lexicon, text, train, translate, vocab
from babelshard.errors import exit_on_user_error

app = typer.Typer(
    name="babelshard",
    help="Build multilingual vision-language pretraining data with Apache Beam, and train on it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect job and training configs.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@app.command()
def inspect(
    path: str = typer.Argument(..., help="A shard folder (local path or fsspec URL), or a folder of shard folders."),
    samples: int = typer.Option(3, "--samples", "-n", help="How many samples to decode and show."),
    verify: bool = typer.Option(False, help="Check every shard's size and sha256 against the index."),
) -> None:
    """Show streams, shards, sample and byte totals, per-language counts and a few decoded samples."""
    from babelshard.shards.inspection import inspect_path

    exit_on_user_error(inspect_path, path, samples=samples, verify=verify)


@config_app.command("show")
def config_show(config: str = typer.Argument(..., help="A job config YAML file.")) -> None:
    """Print the resolved, validated config with every default filled in, and the checksums
    of the models and dictionaries it uses (run it in the worker image to compare)."""
    exit_on_user_error(show_config, config)


def show_config(path: str) -> None:
    import json

    from rich.console import Console

    from babelshard.pipelines.jobs.artifacts import artifact_checksums
    from babelshard.pipelines.jobs.config import load_job_config

    config = load_job_config(path)
    console = Console()
    console.print_json(json.dumps(config.model_dump(mode="json")))
    console.print(f"config hash: {config.hash}")
    for key, checksum in artifact_checksums(config).items():  # compare with the worker image's
        console.print(f"artifact {key}: {checksum}", highlight=False, soft_wrap=True)


@app.command()
def publish(
    source: str = typer.Argument(..., help="A finished shard folder (it must have index.json)."),
    destination: str = typer.Argument(..., help="Where to copy it: a local path, s3://, gs://, any fsspec URL."),
) -> None:
    """Copy a finished shard folder, verify every shard's size and sha256, upload index.json last.

    An interrupted publish resumes: shards already at the destination with the right
    size and checksum are not uploaded again.
    """
    from babelshard.shards.publish import publish_folder

    exit_on_user_error(publish_folder, source, destination, progress=True)


for commands in (build, text, translate, lexicon, vocab, train):
    commands.register(app)


def main() -> None:
    app(prog_name="babelshard")

