"""``babelshard train CONFIG`` and ``babelshard eval CONFIG`` (torch is imported inside)."""
from __future__ import annotations

import json
import os
from typing import Any, List, Optional

import typer

from babelshard.cli.evaluation import BenchmarkOptions, evaluate_config, run_eval

__all__ = ["evaluate_config", "register", "run_eval", "run_train"]

OVERRIDE_HELP = "Override a config value: key.path=value (YAML value), e.g. -o loop.output=out/run -o data.streams.0.batch_size=64."


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        config: str = typer.Argument(..., help="A training config YAML (see configs/train-*.yaml)."),
        override: Optional[List[str]] = typer.Option(None, "--override", "-o", help=OVERRIDE_HELP),
    ) -> None:
        """Train (or resume) on shard folders; with a protocol section, each of its fine-tuning runs.
        Launch with torchrun for DDP: torchrun --nproc_per_node 2 --no-python babelshard train CONFIG"""
        from babelshard.errors import exit_on_user_error

        exit_on_user_error(run_train, config, override or [])

    @app.command("eval")
    def evaluate(
        config: str = typer.Argument(..., help="A training config YAML (its eval section, or --benchmark)."),
        checkpoint: Optional[str] = typer.Option(None, help="Model file or checkpoint (default: <loop.output>/model.pt)."),
        override: Optional[List[str]] = typer.Option(None, "--override", "-o", help=OVERRIDE_HELP),
        output: Optional[str] = typer.Option(None, help="Write the results JSON here (default: eval.output or <loop.output>/eval.json; eval-<benchmark>.json per benchmark); the Markdown table goes beside it."),
        benchmark: Optional[str] = typer.Option(None, help="Evaluate on this benchmark (babelshard benchmark list; coco-1k and coco-5k, stair-1k and stair-5k name the protocols) instead of the eval section's folders."),
        root: Optional[str] = typer.Option(None, help="The benchmark release's files (prepared into --cache on first use)."),
        folder: Optional[str] = typer.Option(None, help="A folder written by babelshard benchmark prepare."),
        images: Optional[List[str]] = typer.Option(None, help="With --root: an images folder; repeat for several (default: --root)."),
        split: str = typer.Option("test", help="With --root: the split."),
        folds: bool = typer.Option(False, help="Rank each 1K fold on its own and average the recalls (MSCOCO 1K)."),
        max_captions: Optional[int] = typer.Option(None, help="With --root: the first N captions per image and language."),
        cache: Optional[str] = typer.Option(None, help="Where --root benchmarks are prepared (default ~/.cache/babelshard/benchmarks)."),
    ) -> None:
        """Retrieval R@1/5/10 both directions and mean recall per language, on held-out shards or a
        benchmark; prints and writes the results (JSON) and a table with languages as columns (Markdown)."""
        from babelshard.errors import exit_on_user_error

        options = BenchmarkOptions(benchmark, root, folder, list(images or []), split, folds, max_captions, cache)
        exit_on_user_error(run_eval, config, checkpoint, override or [], output, options)


def run_train(config: str, overrides: list[str]) -> list[Any]:
    """Train the config, or each training run of its protocol (zero-shot trains nothing)."""
    import logging

    from babelshard.train.config import load_train_config
    from babelshard.train.loop.distributed import shutdown_distributed
    from babelshard.train.loop.steps import train as run_training
    from babelshard.train.protocol import protocol_runs

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg = load_train_config(config, overrides)
    states = []
    rank0 = int(os.environ.get("RANK", "0")) == 0
    try:
        for run in protocol_runs(cfg):
            if not run.trains:
                if rank0:
                    typer.echo(f"{run.label}: nothing to train; `babelshard eval` evaluates {run.model_path}")
                continue
            state = run_training(run.config)
            states.append(state)
            if rank0:
                prefix = "" if cfg.protocol is None else f"{run.label}: "
                typer.echo(f"{prefix}step {state.step}, epoch {state.epoch}; outputs in {run.config.loop.output}")
                typer.echo(f"data: {json.dumps(state.counters(), sort_keys=True)}")
    finally:
        shutdown_distributed()
    return states
