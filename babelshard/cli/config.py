"""``babelshard config show``: any config in configs/ (job, translate, train, vocabulary),
its kind told from its keys, validated with that kind's model."""
from __future__ import annotations

from typing import Any, Mapping

import typer

TRAIN_KEYS = frozenset({"objectives", "loop", "data", "optim", "model", "tokenizer", "teacher_tokenizer"})
VOCAB_KEYS = frozenset({"counts", "sentencepiece", "fasttext", "alignment", "hybrid"})


def config_kind(data: Any) -> str:
    """``train``, ``vocab`` or ``job`` (the build and translate jobs), from the top-level keys."""
    if not isinstance(data, Mapping):
        return "job"  # validating it as a job names what is wrong
    keys = set(data)
    if keys & TRAIN_KEYS:
        return "train"
    if keys & VOCAB_KEYS or isinstance(data.get("output"), str):
        return "vocab"
    return "job"


def load_any_config(path: str):
    """(kind, validated model) of a config file."""
    from babelshard.configbase import parse_config, read_yaml

    data = read_yaml(path)
    kind = config_kind(data)
    if kind == "train":
        from babelshard.train.config import TrainConfig as model
    elif kind == "vocab":
        from babelshard.vocab.config import VocabConfig as model
    else:
        from babelshard.pipelines.jobs.config import JobConfig as model
    return kind, parse_config(model, data, source=str(path))


def show_config(path: str) -> None:
    import json

    from rich.console import Console

    from babelshard.configbase import config_hash

    kind, config = load_any_config(path)
    console = Console()
    console.print(f"{path}: {kind} config")
    console.print_json(json.dumps(config.model_dump(mode="json")))
    console.print(f"config hash: {config_hash(config)}")
    if kind == "job":
        from babelshard.errors import UserError
        from babelshard.pipelines.jobs.artifacts import artifact_checksums

        try:
            checksums = artifact_checksums(config)
        except (UserError, ImportError) as error:  # e.g. models on a store whose fsspec backend is not installed
            checksums = {"(not computed)": str(error)}
        for key, checksum in checksums.items():  # compare with the worker image's
            console.print(f"artifact {key}: {checksum}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    config_app = typer.Typer(help="Inspect job, translate, training and vocabulary configs.", no_args_is_help=True)
    app.add_typer(config_app, name="config")

    @config_app.command("show")
    def config_show(config: str = typer.Argument(..., help="A config YAML: job, translate, train-* or vocab-*.")) -> None:
        """Print the resolved, validated config with every default filled in, its kind, and for a job
        config the checksums of the models and dictionaries it uses (run it in the worker image to compare)."""
        from babelshard.errors import exit_on_user_error

        exit_on_user_error(show_config, config)
