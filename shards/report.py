"""``babelshard report``: one self-contained HTML page (plots embedded as PNG) plus the PNGs.

The page needs nothing from the network: no scripts, no fonts, no style sheets from
elsewhere. Each plot is drawn only when its data exists (no image sizes for a text
stream, no CLIP scores until samples carry them).
"""
from __future__ import annotations

import base64
import html
import io
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

from babelshard.errors import UserError
from babelshard.fs import join, write_bytes_atomic
from babelshard.shards.inspection import human_bytes
from babelshard.shards.report_data import DatasetReport, FolderReport, gather

PAGE_NAME = "index.html"
WIDTH, HEIGHT = 7.0, 3.2  # inches at 100 dpi


class ReportError(UserError):
    """A report that cannot be drawn (matplotlib missing)."""


@dataclass(frozen=True)
class Plot:
    name: str  # file name stem, also the image's id in the page
    title: str
    png: bytes


def pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ReportError("babelshard report draws with matplotlib: pip install matplotlib (or babelshard[report])") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def render(draw: Callable[[Any], None], height: float = HEIGHT) -> bytes:
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(WIDTH, height), dpi=100)
    try:
        draw(axes)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", metadata={"Software": None})
        return buffer.getvalue()
    finally:
        plt.close(figure)


def bar_height(count: int) -> float:
    return max(HEIGHT, 0.9 + 0.28 * count)


def samples_and_drops(report: FolderReport) -> bytes | None:
    if report.stats is None:
        return None
    labels = ["samples", *report.drops]
    values = [report.stats.outputs, *report.drops.values()]

    def draw(axes):
        bars = axes.barh(labels[::-1], values[::-1], color=["#c0504d"] * len(report.drops) + ["#4f81bd"])
        axes.bar_label(bars, labels=[f"{v:,}" for v in values[::-1]], padding=3)
        axes.set_xlabel(f"of {report.stats.inputs:,} inputs (drops by stage/reason)")
        axes.margins(x=0.15)

    return render(draw, bar_height(len(labels)))


def languages(report: FolderReport) -> bytes | None:
    counts = report.index.languages
    if not counts:
        return None

    def draw(axes):
        bars = axes.bar(list(counts), list(counts.values()), color="#4f81bd")
        axes.bar_label(bars, labels=[f"{v:,}" for v in counts.values()], fontsize=7, rotation=90, padding=2)
        axes.set_ylabel("samples")
        axes.tick_params(axis="x", labelrotation=90 if len(counts) > 12 else 0)
        axes.margins(y=0.2)

    return render(draw)


def caption_lengths(report: FolderReport) -> bytes | None:
    chars = {lang: values for lang, values in sorted(report.caption_chars.items()) if values}
    if not chars:
        return None

    def draw(axes):
        axes.boxplot(list(chars.values()), tick_labels=list(chars), showfliers=False)
        axes.set_ylabel("characters")

    return render(draw)


def provenance(report: FolderReport) -> bytes | None:
    if not report.provenance:
        return None
    langs = sorted({lang for lang, _ in report.provenance})
    origins = sorted({origin for _, origin in report.provenance}, key=lambda o: (o != "human", o))

    def draw(axes):
        bottom = [0] * len(langs)
        for origin in origins:
            heights = [report.provenance.get((lang, origin), 0) for lang in langs]
            axes.bar(langs, heights, bottom=bottom, label=origin)
            bottom = [b + h for b, h in zip(bottom, heights)]
        axes.set_ylabel("captions")
        axes.legend(fontsize=8)

    return render(draw)


def quality(report: FolderReport) -> bytes | None:
    scores = {lang: values for lang, values in sorted(report.quality.items()) if values}
    if not scores:
        return None

    def draw(axes):
        axes.boxplot(list(scores.values()), tick_labels=list(scores))
        axes.set_ylabel("quality-estimation score")

    return render(draw)


def histogram(values: list[float], xlabel: str, bins: int = 20) -> bytes | None:
    if not values:
        return None

    def draw(axes):
        axes.hist(values, bins=bins, color="#4f81bd")
        axes.set_xlabel(xlabel)
        axes.set_ylabel("count")

    return render(draw)


def image_sizes(report: FolderReport) -> bytes | None:
    """Width against height; a marker's area grows with the number of images of that size."""
    if not report.image_sizes:
        return None
    groups = [("before resizing", Counter(report.original_sizes), "o"), ("in the shards", Counter(report.image_sizes), "s")]
    largest = max(max(counts.values()) for _, counts, _ in groups if counts)

    def draw(axes):
        for label, counts, marker in groups:
            if counts:
                (xs, ys), sizes = zip(*counts), [20 + 280 * n / largest for n in counts.values()]
                axes.scatter(xs, ys, s=sizes, alpha=0.5, marker=marker, label=f"{label} ({sum(counts.values()):,})")
        axes.set_xlabel("width (px)")
        axes.set_ylabel("height (px)")
        for handle in axes.legend(fontsize=8).legend_handles:
            handle.set_sizes([30])
        axes.margins(0.15)

    return render(draw)


def sampling_weights(document: dict) -> bytes:
    langs = sorted(document.get("languages", {}))
    p = [document["languages"][lang]["p"] for lang in langs]
    q = [document["languages"][lang]["q"] for lang in langs]

    def draw(axes):
        positions = range(len(langs))
        axes.bar([x - 0.2 for x in positions], p, width=0.4, label="share of samples p")
        axes.bar([x + 0.2 for x in positions], q, width=0.4, label=f"sampling weight q (alpha {document.get('alpha')})")
        axes.set_xticks(list(positions), langs)
        axes.legend(fontsize=8)

    return render(draw)


def file_stem(root: str, folder: str, fallback: str) -> str:
    """A file-name-safe name of ``folder`` relative to the report's root."""
    relative = folder[len(root.rstrip("/")):] if folder.startswith(root.rstrip("/")) else folder
    return re.sub(r"[^A-Za-z0-9]+", "-", relative).strip("-")[-60:] or fallback


def folder_plots(report: FolderReport, stem: str) -> list[Plot]:
    candidates = [
        ("drops", "samples and drops by stage and reason", samples_and_drops(report)),
        ("languages", "samples per language (index)", languages(report)),
        ("lengths", "caption length per language", caption_lengths(report)),
        ("provenance", "translation provenance per language", provenance(report)),
        ("quality", "translation quality-estimation scores", quality(report)),
        ("images", "image sizes", image_sizes(report)),
        ("codeswitch", "share of switched tokens per code-switched variant", histogram(report.switched_shares, "switched share")),
        ("clip", "CLIP image-text scores", histogram(report.clip_scores, "CLIP score")),
    ]
    return [Plot(f"{stem}-{name}", title, png) for name, title, png in candidates if png is not None]


def figure_html(plot: Plot) -> str:
    data = base64.b64encode(plot.png).decode("ascii")
    return (f'<figure id="{plot.name}"><img src="data:image/png;base64,{data}" alt="{html.escape(plot.title)}">'
            f"<figcaption>{html.escape(plot.title)}</figcaption></figure>")


def folder_html(report: FolderReport, plots: list[Plot]) -> str:
    index = report.index
    facts = (f"{index.stream} stream: {len(index.shards):,} shards, {index.samples:,} samples, {human_bytes(index.bytes)}; "
             f"distributions over the first {report.sampled:,} samples")
    body = "".join(figure_html(plot) for plot in plots)
    return f'<section><h2>{html.escape(report.folder)}</h2><p>{html.escape(facts)}</p><div class="plots">{body}</div></section>'


STYLE = ("body{font-family:sans-serif;margin:2em;color:#222}"
         ".plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:1em}"
         "figure{margin:0}img{width:100%;border:1px solid #ddd}figcaption{font-size:.9em;color:#555}")


def page_html(dataset: DatasetReport, sections: list[str]) -> str:
    title = html.escape(f"babelshard report: {dataset.root}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{STYLE}</style></head><body><h1>{title}</h1>{''.join(sections)}</body></html>\n")


def write_report(root: str, output: str, max_samples: int = 5000) -> str:
    """Gather, draw, write the PNGs and the page; returns the page's path."""
    pyplot()  # fail before reading anything when matplotlib is missing
    dataset = gather(root, max_samples)
    sections, plots = [], []
    for report in dataset.folders:
        folder_figures = folder_plots(report, file_stem(root, report.folder, report.index.stream))
        plots += folder_figures
        sections.append(folder_html(report, folder_figures))
    for parent, document in dataset.weights.items():
        stream = document.get("stream", "")
        plot = Plot(f"{file_stem(root, parent, stream)}-weights", f"{stream} sampling weights per language", sampling_weights(document))
        plots.append(plot)
        sections.append(f'<section><h2>{html.escape(parent)}</h2><div class="plots">{figure_html(plot)}</div></section>')
    for plot in plots:
        write_bytes_atomic(join(output, f"{plot.name}.png"), plot.png)
    page = join(output, PAGE_NAME)
    write_bytes_atomic(page, page_html(dataset, sections).encode("utf-8"))
    return page
