"""``babelshard text-weights``: language sampling weights of a text or parallel root."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("text-weights")(text_weights)


def text_weights(
    path: str = typer.Argument(..., help="A text or parallel root (folders per language with index.json), or one shard folder."),
    alpha: float = typer.Option(0.3, min=0.0, max=1.0, help="Smoothing: q_i ∝ p_i^alpha (0.3 M3P / unified mVLP, 0.2 mCLIP)."),
    write: bool = typer.Option(True, help="Write weights.json into PATH for the trainer."),
) -> None:
    """Print each language's share p_i and smoothed sampling weight q_i; write weights.json beside the indexes."""
    from babelshard.errors import exit_on_user_error

    exit_on_user_error(_run, path, alpha, write)


def _run(path: str, alpha: float, write: bool) -> None:
    from babelshard.fs import join
    from babelshard.shards.weights import WEIGHTS_NAME, counts_from_indexes, find_indexes, weights_document
    from babelshard.shards.weights import write_weights

    if alpha <= 0.0:
        raise typer.BadParameter("alpha must be above 0", param_hint="--alpha")
    named = find_indexes(path)
    if write:
        document = write_weights(path, named, alpha)
    else:
        document = weights_document(*counts_from_indexes(named), alpha)
    typer.echo(f"stream {document['stream']}, alpha {alpha}, {document['total_samples']} samples")
    typer.echo(f"{'language':<12}{'samples':>12}{'p_i':>10}{'q_i':>10}")
    for lang, row in document["languages"].items():
        typer.echo(f"{lang:<12}{row['samples']:>12}{row['p']:>10.4f}{row['q']:>10.4f}")
    if write:
        typer.echo(f"wrote {join(path, WEIGHTS_NAME)}")
