"""``babelshard vocab build CONFIG`` and ``babelshard vocab show PATH``."""
from __future__ import annotations

import typer

vocab_app = typer.Typer(help="Token counts, SentencePiece, fastText vectors, alignment, hybrid vocabulary.",
                        no_args_is_help=True)


@vocab_app.command("build")
def build(config: str = typer.Argument(..., help="A vocabulary config YAML (see configs/vocab-*.yaml).")) -> None:
    """Build every artifact the config asks for into its output folder; vocab.json is written last."""
    from babelshard.errors import exit_on_user_error
    from babelshard.pipelines.jobs.vocab import build_vocab
    from babelshard.vocab.config import load_vocab_config

    def run() -> None:
        settings = load_vocab_config(config)
        manifest = build_vocab(settings, log=lambda message: typer.echo(message, err=True))
        typer.echo(f"wrote {settings.output} ({', '.join(manifest['languages'])})")

    exit_on_user_error(run)


@vocab_app.command("show")
def show(
    path: str = typer.Argument(..., help="A vocabulary artifact folder (with vocab.json) or a hybrid/ folder."),
    clusters: int = typer.Option(5, "--clusters", "-n", help="How many example shared clusters to list."),
) -> None:
    """Print sizes, the parameter reduction and example clusters with their cross-language members."""
    from babelshard.errors import exit_on_user_error
    from babelshard.vocab.show import print_artifact

    exit_on_user_error(print_artifact, path, typer.echo, clusters)


def register(app: typer.Typer) -> None:
    app.add_typer(vocab_app, name="vocab")
