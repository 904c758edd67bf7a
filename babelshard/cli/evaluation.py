"""What ``babelshard eval`` runs: a trained model (or a protocol's models) on the eval
section's shard folders and on the papers' benchmarks, results as JSON and as a
Markdown table laid out like the papers' (languages as columns).

A benchmark is a folder written by ``babelshard benchmark prepare`` or the release's
own files, prepared here on the fly into a cache folder (reused while its
``index.json`` is there) with the same function. Torch is imported inside.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import typer

from babelshard.configbase import ConfigError, parse_config

# Names the papers use for one benchmark in two protocols: (benchmark, folds).
BENCHMARK_ALIASES = {"coco-1k": ("coco", True), "coco-5k": ("coco", False),
                     "stair-1k": ("stair", True), "stair-5k": ("stair", False)}
DEFAULT_CACHE = os.path.join("~", ".cache", "babelshard", "benchmarks")


@dataclass(frozen=True)
class BenchmarkOptions:
    """``babelshard eval``'s benchmark options, as typed on the command line."""

    name: str | None = None
    root: str | None = None
    folder: str | None = None
    images: list[str] = field(default_factory=list)
    split: str = "test"
    folds: bool = False
    max_captions: int | None = None
    cache: str | None = None


def command_line_benchmark(options: BenchmarkOptions) -> Any:
    """The ``--benchmark`` options as a benchmark entry, or None without ``--benchmark``."""
    from babelshard.train.config import BenchmarkConfig

    if options.name is None:
        if options.root or options.folder:
            raise ConfigError("--root and --folder need --benchmark NAME")
        return None
    name, folds = BENCHMARK_ALIASES.get(options.name, (options.name, options.folds))
    entry = {"name": name, "folder": options.folder, "root": options.root, "images": options.images,
             "split": options.split, "folds": folds or options.folds, "max_captions": options.max_captions,
             "label": options.name if options.name in BENCHMARK_ALIASES else None}
    return parse_config(BenchmarkConfig, entry, source="--benchmark")


def eval_section(cfg: Any, benchmark: Any, source: str) -> Any:
    """The config's eval section; with ``--benchmark``, that benchmark in place of its
    folders and benchmarks (a config without an eval section takes the first caption
    stream's image settings)."""
    from babelshard.train.config import EvalConfig

    if benchmark is None:
        if cfg.eval is None:
            raise ConfigError(f"{source}: no eval section (or give --benchmark NAME)")
        return cfg.eval
    if cfg.eval is not None:
        return cfg.eval.model_copy(update={"folders": [], "benchmarks": [benchmark]})
    image = next((s.image for s in cfg.data.streams if getattr(s, "image", None) is not None), None)
    section: dict[str, Any] = {"benchmarks": [benchmark.model_dump()]}
    if image is not None:
        section["image"] = image.model_copy(update={"random_crop": False}).model_dump()
    return parse_config(EvalConfig, section, source=f"{source}: eval")


def prepared_folder(benchmark: Any, cache: str | None) -> str:
    """The benchmark's shard folder: given, cached, or prepared now into the cache."""
    from babelshard.fs import exists, join
    from babelshard.pipelines.captions.benchmarks import get_benchmark, prepare_benchmark
    from babelshard.shards.index import INDEX_NAME

    known = get_benchmark(benchmark.name)
    if benchmark.folds and not known.folds:
        raise ConfigError(f"benchmark {benchmark.name} has no 1K folds (folds are for coco and stair)")
    if benchmark.folder is not None:
        return benchmark.folder
    local = lambda path: path if "://" in path else os.path.abspath(path)  # noqa: E731
    identity = json.dumps([local(benchmark.root), [local(p) for p in benchmark.images], benchmark.split, benchmark.max_captions])
    name = f"{benchmark.name}-{benchmark.split}-{hashlib.sha1(identity.encode()).hexdigest()[:10]}"
    target = join(os.path.expanduser(cache or DEFAULT_CACHE), name)
    if not exists(join(target, INDEX_NAME)):
        typer.echo(f"preparing {benchmark.name} {benchmark.split} from {benchmark.root} into {target}")
        prepare_benchmark(benchmark.name, benchmark.root, target, images=benchmark.images, split=benchmark.split,
                          max_captions=benchmark.max_captions)
    return target


def evaluate_model(path: str, cfg: Any, section: Any) -> dict[str, Any]:
    """One model file on one eval section: part 1's results, or ``{scorer: results}``."""
    import torch

    from babelshard.train.data.tokenizer import build_tokenizer
    from babelshard.train.eval.fusion import evaluate_scorers
    from babelshard.train.eval.retrieval import evaluate
    from babelshard.train.registry import load_model_file

    device = "cuda" if torch.cuda.is_available() and cfg.loop.device != "cpu" else "cpu"
    model, _, _ = load_model_file(path)
    model, tokenizer = model.to(device), build_tokenizer(cfg.tokenizer)
    if section.scorers:
        return evaluate_scorers(model, tokenizer, section, device)
    return evaluate(model, tokenizer, section, device=device)


def evaluate_protocol(cfg: Any, section: Any, checkpoint: str | None) -> dict[str, Any]:
    """The model of each protocol run on the languages it is evaluated on, merged."""
    from babelshard.train.protocol import merge_language_results, protocol_runs

    runs = protocol_runs(cfg)
    if checkpoint is not None and len(runs) > 1:
        raise ConfigError(f"protocol {cfg.protocol.kind} evaluates one model per language: drop --checkpoint")
    per_run = []
    for run in runs:
        languages = run.eval_languages
        if languages is not None and section.languages is not None:
            languages = [lang for lang in languages if lang in section.languages]
        run_section = section if languages is None else section.model_copy(update={"languages": languages})
        per_run.append((run, evaluate_model(checkpoint or run.model_path, cfg, run_section)))
    results = merge_language_results(per_run)
    if len(runs) == 1:
        results["model"] = checkpoint or runs[0].model_path
    if cfg.protocol is not None:
        results["protocol"] = cfg.protocol.kind
    return results


def write_results(results: dict[str, Any], target: str, title: str) -> str:
    """``target`` (JSON) and the Markdown table beside it (``.md``); returns the Markdown."""
    from babelshard.train.eval.tables import results_markdown

    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    with open(target, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1, sort_keys=True)
    markdown = results_markdown(results, title)
    with open(os.path.splitext(target)[0] + ".md", "w", encoding="utf-8") as handle:
        handle.write(markdown)
    return markdown


def evaluate_config(cfg: Any, checkpoint: str | None = None, output: str | None = None) -> tuple[dict, str]:
    """Evaluate on ``cfg.eval.folders``: ``checkpoint`` (default ``<loop.output>/model.pt``,
    or each protocol run's model); written to ``output``, ``eval.output`` or
    ``<loop.output>/eval.json`` and a Markdown table beside it. Returns results and that path."""
    if cfg.eval is None or not cfg.eval.folders:
        raise ConfigError("eval.folders is empty: nothing to evaluate outside eval.benchmarks")
    results = evaluate_protocol(cfg, cfg.eval, checkpoint)
    target = output or cfg.eval.output or os.path.join(cfg.loop.output, "eval.json")
    write_results(results, target, title_of(cfg, None))
    return results, target


def evaluate_benchmark(cfg: Any, section: Any, benchmark: Any, checkpoint: str | None, target: str,
                       cache: str | None) -> dict[str, Any]:
    """One benchmark, every image of it (or each 1K fold), written to ``target`` (+ ``.md``)."""
    from babelshard.shards.index import read_index

    folder = prepared_folder(benchmark, cache)
    run_section = section.model_copy(update={"folders": [folder], "benchmarks": [], "holdout": None, "folds": benchmark.folds})
    results = evaluate_protocol(cfg, run_section, checkpoint)
    results["benchmark"] = {"name": benchmark.results_name, "folder": folder, **read_index(folder).extra.get("benchmark", {})}
    write_results(results, target, title_of(cfg, benchmark.results_name))
    return results


def title_of(cfg: Any, benchmark: str | None) -> str:
    protocol = f", {cfg.protocol.kind}" if cfg.protocol is not None else ""
    return f"{cfg.name}: {benchmark or 'held-out retrieval'}{protocol}"


def run_eval(config: str, checkpoint: str | None, overrides: list[str], output: str | None,
             options: BenchmarkOptions = BenchmarkOptions()) -> dict:
    """``babelshard eval``: prints each result and where it was written."""
    from babelshard.train.config import load_train_config
    from babelshard.train.eval.tables import markdown_table, result_sets

    cfg = load_train_config(config, overrides)
    section = eval_section(cfg, command_line_benchmark(options), config)
    written: dict[str, tuple[dict, str]] = {}
    if section.folders:
        written["eval"] = evaluate_config(cfg.model_copy(update={"eval": section}), checkpoint, output)
    for benchmark in section.benchmarks:
        single = output is not None and not section.folders and len(section.benchmarks) == 1
        target = output if single else os.path.join(cfg.loop.output, f"eval-{benchmark.results_name}.json")
        written[benchmark.results_name] = (evaluate_benchmark(cfg, section, benchmark, checkpoint, target, options.cache), target)
    for name, (results, target) in written.items():
        typer.echo(title_of(cfg, None if name == "eval" else name))
        for scorer, scored in result_sets(results):
            typer.echo(f"scorer: {scorer}" if scorer else "retrieval")
            typer.echo(format_console(scored))
            typer.echo(markdown_table(scored))
        typer.echo(f"wrote {target} and {os.path.splitext(target)[0]}.md")
    return written["eval"][0] if list(written) == ["eval"] else {name: results for name, (results, _) in written.items()}


def format_console(results: dict[str, Any]) -> str:
    from babelshard.train.eval.retrieval import format_results

    return format_results(results)
