"""``babelshard lexicon import|stats``: bilingual lexicons into the normalized parquet."""
from __future__ import annotations

import json
from typing import Optional

import typer

from babelshard.errors import exit_on_user_error

lexicon_app = typer.Typer(help="Bilingual lexicons for code-switching and alignment (PanLex, MUSE, FreeDict, CLDR).",
                          no_args_is_help=True)
FORMATS = ("panlex", "muse", "freedict", "cldr")


def register(app: typer.Typer) -> None:
    app.add_typer(lexicon_app, name="lexicon")


@lexicon_app.command("import")
def import_command(
    inputs: Optional[list[str]] = typer.Argument(None, help="Dictionary files: a PanLex dump zip, MUSE .txt, FreeDict .index; none for cldr."),
    fmt: str = typer.Option(..., "--format", "-f", help="panlex | muse | freedict | cldr"),
    output: str = typer.Option(..., "--output", "-o", help="The lexicon parquet to write (fsspec URL)."),
    source_language: Optional[str] = typer.Option(None, help="muse/freedict: source language when the file name does not tell; panlex: default en."),
    target_language: Optional[str] = typer.Option(None, help="muse/freedict: target language when the file name does not tell."),
    top_languages: int = typer.Option(50, min=1, help="panlex: keep the N target languages with most pairs (M3P: 50)."),
    languages: Optional[str] = typer.Option(None, help="panlex: comma-separated target languages instead of the top N."),
    source_variety: Optional[list[str]] = typer.Option(None, help="panlex: English varieties to use, e.g. eng-000 (default: all)."),
    partitions: int = typer.Option(64, min=1, help="panlex: spill partitions; memory is about dump size / partitions."),
    max_words: int = typer.Option(4, min=1, help="Longest term kept, in words."),
) -> None:
    """Read dictionaries into one normalized lexicon parquet and print what was kept and skipped."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"expected one of {', '.join(FORMATS)}", param_hint="--format")
    options = dict(source_language=source_language, target_language=target_language, top_languages=top_languages,
                   languages=languages, source_variety=source_variety, partitions=partitions, max_words=max_words)
    stats = exit_on_user_error(_import, fmt, list(inputs or []), output, options)
    exit_on_user_error(_print_stats, output)
    typer.echo(f"skipped: {json.dumps(stats.as_json()['drops'], ensure_ascii=False)}")


def _import(fmt: str, inputs: list[str], output: str, options: dict):
    from babelshard.codeswitch.lexfile import aggregate_pairs, pairs_to_table, write_lexicon
    from babelshard.stats import StageStats

    stats = StageStats()
    if fmt == "cldr":
        if inputs:
            raise typer.BadParameter("cldr reads the emoji package; give no input files")
        from babelshard.codeswitch.lexicons.cldr import import_cldr

        write_lexicon(aggregate_pairs(pairs_to_table(import_cldr(max_source_words=options["max_words"], stats=stats))), output, stats)
        return stats
    if not inputs:
        raise typer.BadParameter(f"{fmt} needs at least one input file")
    if fmt == "panlex":
        return _import_panlex(inputs, output, options, stats)
    pairs = []
    for path in inputs:
        pairs += _read_one(fmt, path, options, stats)
    write_lexicon(aggregate_pairs(pairs_to_table(pairs)), output, stats)
    return stats


def _read_one(fmt: str, path: str, options: dict, stats):
    src, tgt = options["source_language"], options["target_language"]
    if fmt == "muse":
        from babelshard.codeswitch.lexicons.muse import import_muse

        return import_muse(path, src, tgt, stats=stats)
    from babelshard.codeswitch.lexicons.freedict import import_freedict

    return import_freedict(path, src, tgt, max_words=options["max_words"], stats=stats)


def _import_panlex(inputs: list[str], output: str, options: dict, stats):
    from babelshard.codeswitch.lexicons.panlex import PanlexOptions, import_panlex

    if len(inputs) != 1:
        raise typer.BadParameter("panlex takes one dump zip")
    chosen = tuple(code.strip() for code in options["languages"].split(",") if code.strip()) if options["languages"] else None
    panlex_options = PanlexOptions(
        source_language=options["source_language"] or "en", top_languages=options["top_languages"], languages=chosen,
        source_varieties=tuple(options["source_variety"]) if options["source_variety"] else None,
        max_words=options["max_words"], partitions=options["partitions"],
    )
    kept = import_panlex(inputs[0], output, panlex_options, stats)
    typer.echo(f"target languages kept: {', '.join(kept)}")
    return stats


@lexicon_app.command("stats")
def stats_command(
    path: str = typer.Argument(..., help="A lexicon parquet written by `babelshard lexicon import`."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Pairs, distinct source terms and multi-word pairs per language pair and origin."""
    exit_on_user_error(_print_stats, path, as_json)


def _print_stats(path: str, as_json: bool = False) -> None:
    from babelshard.codeswitch.lexfile import import_metadata, lexicon_stats

    rows = lexicon_stats(path).to_pylist()
    if as_json:
        typer.echo(json.dumps({"lexicon": path, "pairs": rows, "import": import_metadata(path)}, ensure_ascii=False, indent=2))
        return
    typer.echo(f"{'source':<8}{'target':<8}{'pairs':>10}{'terms':>10}{'multi-word':>12}{'mean score':>12}  origin")
    for row in rows:
        typer.echo(f"{row['source_language']:<8}{row['target_language']:<8}{row['pairs']:>10}{row['source_terms']:>10}"
                   f"{row['multi_word_pairs']:>12}{row['mean_score']:>12.2f}  {row['origin']}")
    typer.echo(f"total: {sum(row['pairs'] for row in rows)} pairs in {path}")
