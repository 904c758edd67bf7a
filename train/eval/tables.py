"""Results as the papers print them: languages as columns (English first), R@1/5/10 of
each direction and mean recall as rows, in Markdown; one table per scorer."""
from __future__ import annotations

from typing import Any

ROWS = (
    ("image→text R@1", "i2t_r1"), ("image→text R@5", "i2t_r5"), ("image→text R@10", "i2t_r10"),
    ("text→image R@1", "t2i_r1"), ("text→image R@5", "t2i_r5"), ("text→image R@10", "t2i_r10"),
    ("**mean recall**", "mean_recall"),
)


def result_sets(results: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """``[(scorer or None, results)]`` for plain results and for ``{scorer: results}``."""
    if "languages" in results:
        return [(results.get("scorer"), results)]
    return [(scorer, value) for scorer, value in results.items() if isinstance(value, dict) and "languages" in value]


def language_order(languages: list[str]) -> list[str]:
    return sorted(languages, key=lambda lang: (lang != "en", lang))


def describe(results: dict[str, Any]) -> str:
    """``1000 images, mean of 5 folds`` and what was skipped."""
    text = f"{results['images']} images"
    if results.get("folds"):
        sizes = results.get("fold_images") or []
        text += f", mean of {results['folds']} folds" + (f" of {sizes[0]}" if sizes and len(set(sizes)) == 1 else "")
    skipped = [f"{results[key]} {label}" for key, label in (("skipped", "undecodable images"),
                                                         ("shard_errors", "unreadable shards")) if results.get(key)]
    return text + (f" (skipped: {', '.join(skipped)})" if skipped else "")


def markdown_table(results: dict[str, Any]) -> str:
    """One scorer's results: a row per metric, a column per language, then chance and counts."""
    languages = language_order(list(results["languages"]))
    metrics = results["languages"]
    lines = ["| | " + " | ".join(languages) + " |", "|---|" + "---:|" * len(languages)]
    for label, key in ROWS:
        lines.append(f"| {label} | " + " | ".join(f"{metrics[lang][key]:.1f}" for lang in languages) + " |")
    lines.append("| chance (mean recall) | " + " | ".join(f"{metrics[lang]['chance']['mean_recall']:.1f}" for lang in languages) + " |")
    lines.append("| captions | " + " | ".join(str(metrics[lang]["captions"]) for lang in languages) + " |")
    return "\n".join(lines)


def results_markdown(results: dict[str, Any], title: str) -> str:
    """The whole document: a title, what was evaluated, one table per scorer."""
    parts = [f"# {title}", ""]
    for scorer, scored in result_sets(results):
        heading = f"## scorer: {scorer}" if scorer else "## retrieval"
        parts += [heading, "", describe(scored), "", markdown_table(scored), ""]
    if results.get("model"):
        parts.append(f"model: `{results['model']}`")
    for lang, path in sorted((results.get("models") or {}).items()):
        parts.append(f"model for {lang}: `{path}`  ")
    return "\n".join(parts).rstrip() + "\n"
