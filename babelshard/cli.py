"""The ``babelshard`` command line.

Core commands live here; each package adds its own through a ``register(app)``
function in its ``cli`` module, which keeps heavy imports (Beam, torch) inside the
command bodies so ``babelshard --help`` stays fast.
"""
from __future__ import annotations

import importlib
import sys

import typer

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

PLUGIN_MODULES = (
    "babelshard.pipelines.cli",
    "babelshard.pipelines.text_cli",
    "babelshard.translate.cli",
    "babelshard.codeswitch.cli",
    "babelshard.vocab.cli",
    "babelshard.train.cli",
)


@app.command()
def inspect(
    path: str = typer.Argument(..., help="A shard folder (local path or fsspec URL), or a folder of shard folders."),
    samples: int = typer.Option(3, "--samples", "-n", help="How many samples to decode and show."),
    verify: bool = typer.Option(False, help="Check every shard's size and sha256 against the index."),
) -> None:
    """Show streams, shards, sample and byte totals, per-language counts and a few decoded samples."""
    from babelshard.inspection import inspect_path

    exit_on_user_error(inspect_path, path, samples=samples, verify=verify)


@config_app.command("show")
def config_show(config: str = typer.Argument(..., help="A job config YAML file.")) -> None:
    """Print the resolved, validated config with every default filled in."""
    from babelshard.inspection import show_config

    exit_on_user_error(show_config, config)


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


def _register_plugins() -> None:
    for name in PLUGIN_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name == name:  # that package has no commands (yet)
                continue
            raise
        module.register(app)


_register_plugins()


def main() -> None:
    app(prog_name="babelshard")


if __name__ == "__main__":
    sys.exit(main())
