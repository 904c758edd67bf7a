"""``babelshard report FOLDER``: a self-contained HTML page of plots about a dataset."""
from __future__ import annotations

from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        folder: str = typer.Argument(..., help="A shard folder or a folder of them (local path or fsspec URL)."),
        output: Optional[str] = typer.Option(None, "--output", "-o", help="Where the page and PNGs go; default FOLDER-report."),
        samples: int = typer.Option(5000, "--samples", "-n", min=1, help="Samples per folder read for the distributions."),
    ) -> None:
        """Plots of samples and drops by stage and reason, languages, caption lengths, translation
        provenance and quality scores, image sizes, code-switching, CLIP scores and sampling weights."""
        from babelshard.errors import exit_on_user_error
        from babelshard.shards.report import write_report

        target = output or folder.rstrip("/") + "-report"
        page = exit_on_user_error(write_report, folder, target, max_samples=samples)
        typer.echo(f"report: {page}")
