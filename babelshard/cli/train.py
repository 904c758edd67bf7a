"""``babelshard train CONFIG`` and ``babelshard eval CONFIG`` (torch is imported inside)."""
from __future__ import annotations

import json
import os
from typing import Any, List, Optional

import typer

OVERRIDE_HELP = "Override a config value: key.path=value (YAML value), e.g. -o loop.output=out/run -o data.streams.0.batch_size=64."


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        config: str = typer.Argument(..., help="A training config YAML (see configs/train-*.yaml)."),
        override: Optional[List[str]] = typer.Option(None, "--override", "-o", help=OVERRIDE_HELP),
    ) -> None:
        """Train (or resume) on shard folders. Launch with torchrun for DDP:
        torchrun --nproc_per_node 2 --no-python babelshard train CONFIG"""
        from babelshard.errors import exit_on_user_error

        def run() -> None:
            import logging

            from babelshard.train.config import load_train_config
            from babelshard.train.loop.distributed import shutdown_distributed
            from babelshard.train.loop.steps import train as run_training

            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
            cfg = load_train_config(config, override or [])
            try:
                state = run_training(cfg)
            finally:
                shutdown_distributed()
            if int(os.environ.get("RANK", "0")) == 0:
                typer.echo(f"step {state.step}, epoch {state.epoch}; outputs in {cfg.loop.output}")
                typer.echo(f"data: {json.dumps(state.counters(), sort_keys=True)}")

        exit_on_user_error(run)

    @app.command("eval")
    def evaluate(
        config: str = typer.Argument(..., help="A training config YAML with an eval section."),
        checkpoint: Optional[str] = typer.Option(None, help="Model file or checkpoint (default: <loop.output>/model.pt)."),
        override: Optional[List[str]] = typer.Option(None, "--override", "-o", help=OVERRIDE_HELP),
        output: Optional[str] = typer.Option(None, help="Write the results JSON here (default: eval.output or <loop.output>/eval.json)."),
    ) -> None:
        """Retrieval mean recall (R@1/5/10 both directions) per language on held-out shards."""
        from babelshard.errors import exit_on_user_error

        exit_on_user_error(run_eval, config, checkpoint, override or [], output)


def run_eval(config: str, checkpoint: str | None, overrides: list[str], output: str | None) -> dict:
    from babelshard.configbase import ConfigError
    from babelshard.train.config import load_train_config
    from babelshard.train.eval.retrieval import format_results

    cfg = load_train_config(config, overrides)
    if cfg.eval is None:
        raise ConfigError(f"{config}: no eval section")
    results, target = evaluate_config(cfg, checkpoint, output)
    for scorer in cfg.eval.scorers or []:
        typer.echo(f"scorer: {scorer}")
        typer.echo(format_results(results[scorer]))
    if not cfg.eval.scorers:
        typer.echo(format_results(results))
    typer.echo(f"wrote {target}")
    return results


def evaluate_config(cfg: Any, checkpoint: str | None = None, output: str | None = None) -> tuple[dict, str]:
    """Evaluate ``checkpoint`` (default ``<loop.output>/model.pt``) as ``cfg.eval`` says:
    part 1's results, or ``{scorer: results}`` when ``eval.scorers`` is set; written to
    ``output``, ``eval.output`` or ``<loop.output>/eval.json``. Returns results and that path."""
    import torch

    from babelshard.train.eval.retrieval import evaluate
    from babelshard.train.eval.fusion import evaluate_scorers
    from babelshard.train.registry import load_model_file
    from babelshard.train.data.tokenizer import build_tokenizer

    path = checkpoint or os.path.join(cfg.loop.output, "model.pt")
    device = "cuda" if torch.cuda.is_available() and cfg.loop.device != "cpu" else "cpu"
    model, _, _ = load_model_file(path)
    model, tokenizer = model.to(device), build_tokenizer(cfg.tokenizer)
    if cfg.eval.scorers:
        results = evaluate_scorers(model, tokenizer, cfg.eval, device)
    else:
        results = evaluate(model, tokenizer, cfg.eval, device=device)
    results["model"] = path
    target = output or cfg.eval.output or os.path.join(cfg.loop.output, "eval.json")
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    with open(target, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1, sort_keys=True)
    return results, target
