"""``babelshard fusion-train CONFIG`` and ``babelshard fusion-eval CONFIG``: the M3P,
unified mVLP and SMALR presets. Until ``babelshard.train.fusion_cli`` is listed in
``babelshard.cli.PLUGIN_MODULES``, run ``python -m babelshard.train.fusion_cli train|eval``."""
from __future__ import annotations

import json
import os
from typing import List, Optional

import typer

OVERRIDE_HELP = "Override a config value: key.path=value (YAML value), e.g. -o loop.max_steps=100."


def run_train(config: str, overrides: list[str]) -> None:
    import logging

    from babelshard.train.distributed import shutdown_distributed
    from babelshard.train.fusion_run import train_fusion
    from babelshard.train.fusion_train_config import load_fusion_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg = load_fusion_config(config, overrides)
    try:
        state = train_fusion(cfg)
    finally:
        shutdown_distributed()
    if int(os.environ.get("RANK", "0")) == 0:
        typer.echo(f"step {state.step}, epoch {state.epoch}; outputs in {cfg.loop.output}")
        typer.echo(f"data: {json.dumps(state.counters(), sort_keys=True)}")


def run_eval(config: str, checkpoint: str | None, overrides: list[str]) -> dict:
    from babelshard.train.evaluate import format_results
    from babelshard.train.fusion_run import evaluate_preset
    from babelshard.train.fusion_train_config import load_fusion_config

    cfg = load_fusion_config(config, overrides)
    results = evaluate_preset(cfg, checkpoint)
    for scorer in cfg.eval.scorers if cfg.eval else []:
        typer.echo(f"scorer: {scorer}")
        typer.echo(format_results(results[scorer]))
    return results


def register(app: typer.Typer) -> None:
    @app.command("fusion-train")
    def fusion_train(
        config: str = typer.Argument(..., help="A fusion preset (configs/train-m3p.yaml, train-unified.yaml, train-smalr.yaml)."),
        override: Optional[List[str]] = typer.Option(None, "--override", "-o", help=OVERRIDE_HELP),
    ) -> None:
        """Train (or resume) an M3P, unified mVLP or SMALR preset; torchrun for DDP."""
        from babelshard.cli import _exit_on_error

        _exit_on_error(run_train, config, override or [])

    @app.command("fusion-eval")
    def fusion_eval(
        config: str = typer.Argument(..., help="A fusion preset with an eval section."),
        checkpoint: Optional[str] = typer.Option(None, help="Model file or checkpoint (default: <loop.output>/model.pt)."),
        override: Optional[List[str]] = typer.Option(None, "--override", "-o", help=OVERRIDE_HELP),
    ) -> None:
        """Retrieval mean recall per language with the preset's scorers (embedding, ITM, consistency)."""
        from babelshard.cli import _exit_on_error

        _exit_on_error(run_eval, config, checkpoint, override or [])


def main() -> None:
    app = typer.Typer(add_completion=False, help="Fusion presets (issue 9).")
    register(app)

    @app.command("train")
    def train(config: str, override: Optional[List[str]] = typer.Option(None, "--override", "-o", help=OVERRIDE_HELP)) -> None:
        """Same as fusion-train."""
        run_train(config, override or [])

    @app.command("eval")
    def evaluate(config: str, checkpoint: Optional[str] = None,
                 override: Optional[List[str]] = typer.Option(None, "--override", "-o", help=OVERRIDE_HELP)) -> None:
        """Same as fusion-eval."""
        run_eval(config, checkpoint, override or [])

    app()


if __name__ == "__main__":
    main()
