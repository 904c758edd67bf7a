"""``babelshard benchmark list`` and ``babelshard benchmark prepare``: the papers' retrieval
benchmarks from their released files to evaluation shard folders."""
from __future__ import annotations

from typing import List, Optional

import typer

from babelshard.errors import exit_on_user_error

benchmark_app = typer.Typer(
    help="The papers' retrieval benchmarks (Multi30K, MSCOCO, Flickr30K, XTD10, STAIR, COCO-CN, xFlickr&CO) "
    "from their released files: see docs/benchmarks-data.md.",
    no_args_is_help=True,
)


@benchmark_app.command("list")
def list_command() -> None:
    """Each benchmark's splits, languages, the files its --root holds and the images it needs."""
    from babelshard.pipelines.captions.benchmarks import BENCHMARKS

    for benchmark in BENCHMARKS.values():
        folds = "; 1K folds" if benchmark.folds else ""
        typer.echo(f"{benchmark.name}: {' '.join(benchmark.languages)}; splits {', '.join(benchmark.splits)}{folds}")
        typer.echo(f"  root: {benchmark.files}")
        typer.echo(f"  images: {benchmark.images}")


@benchmark_app.command("prepare")
def prepare_command(
    name: str = typer.Argument(..., help="A benchmark (babelshard benchmark list)."),
    root: str = typer.Option(..., help="The folder holding the benchmark's released files."),
    output: str = typer.Option(..., help="The shard folder to write (must not hold a finished index.json)."),
    images: Optional[List[str]] = typer.Option(
        None, help="A folder the images' paths are relative to; repeat it to search several (default: --root)."
    ),
    split: str = typer.Option("test", help="The split to prepare."),
    fold: Optional[int] = typer.Option(None, help="Only this 1K fold (0-4 of the 5K test) of coco or stair."),
    fold_size: int = typer.Option(1000, help="Images per fold."),
    max_captions: Optional[int] = typer.Option(None, help="Keep at most this many captions per image and language."),
    skip_bad_images: bool = typer.Option(
        False, help="Count a missing or unreadable image as a drop in stats.json instead of stopping."
    ),
) -> None:
    """Write a benchmark split as a caption shard folder that `babelshard eval` reads."""
    exit_on_user_error(_prepare, name, root, output, images or [], split, fold, fold_size, max_captions, skip_bad_images)


def _prepare(
    name: str, root: str, output: str, images: list[str], split: str, fold: int | None, fold_size: int,
    max_captions: int | None, skip_bad_images: bool,
) -> None:
    from babelshard.pipelines.captions.benchmarks import prepare_benchmark

    index = prepare_benchmark(
        name, root, output, images=images, split=split, fold=fold, fold_size=fold_size,
        max_captions=max_captions, skip_bad_images=skip_bad_images,
    )
    summary = index.extra["benchmark"]
    captions = ", ".join(f"{lang} {count}" for lang, count in summary["captions"].items())
    where = f"{name} {split}" + (f" fold {fold}" if fold is not None else "")
    typer.echo(f"{where}: {summary['images']} images, captions {captions or 'none'} -> {output}")


def register(app: typer.Typer) -> None:
    app.add_typer(benchmark_app, name="benchmark")
