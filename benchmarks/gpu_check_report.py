"""The GPU utilisation sampler and the markdown summary of ``gpu_check.py``."""
from __future__ import annotations

import shutil
import statistics
import subprocess
import threading


class GpuSampler:
    """``nvidia-smi``'s utilisation of GPU 0, every 200 ms, while the ``with`` block runs."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and shutil.which("nvidia-smi") is not None
        self.reason = "cpu run" if not enabled else "nvidia-smi not found"
        self.samples: list[tuple[int, int]] = []

    def __enter__(self) -> "GpuSampler":
        if self.enabled:
            command = ["nvidia-smi", "-i", "0", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
                       "-lms", "200"]
            self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()
        return self

    def _read(self) -> None:
        for line in self.process.stdout:
            parts = [p.strip() for p in line.split(",")]
            if len(parts) == 2 and all(p.isdigit() for p in parts):
                self.samples.append((int(parts[0]), int(parts[1])))

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.reader.join(timeout=10)

    def summary(self) -> dict:
        if not self.enabled:
            return {"skipped": self.reason}
        if not self.samples:
            return {"samples": 0}
        busy = [u for u, _ in self.samples]
        return {"samples": len(busy), "mean_percent": round(statistics.mean(busy), 1), "max_percent": max(busy),
                "max_memory_mib": max(m for _, m in self.samples)}


def cell(entry: dict, key: str, unit: str = "") -> str:
    """A figure, or why there is none."""
    if "skipped" in entry:
        return f"skipped: {entry['skipped']}"
    if "error" in entry:
        return "error (see JSON)"
    return f"{entry.get(key, '—')}{unit}"


def rate(figures: dict) -> str:
    """``12,345 (×4.2)``: tokens/s and, on CUDA, the ratio to CPU int8."""
    if "tokens_per_s" not in figures:
        return "—"
    ratio = f" (×{figures['vs_cpu_int8']})" if "vs_cpu_int8" in figures else ""
    return f"{figures['tokens_per_s']:,.0f}{ratio}"


def translation_lines(section: dict) -> list[str]:
    lines = [f"## Translation (CTranslate2, greedy, {section['sentences']} sentences, up to {section['max_tokens']} "
             "tokens each): generated tokens/s (× CPU int8)", ""]
    for name, model in section["models"].items():
        rows = model["rates"]
        batches = next((list(r) for r in rows.values() if "skipped" not in r and "error" not in r), [])
        lines += [f"**{name}** {model['shape']}", "", "| path | " + " | ".join(f"{b} per call" for b in batches) + " |",
                  "|---|" + "---|" * len(batches)]
        for path, row in rows.items():
            if "skipped" in row or "error" in row:
                lines.append(f"| {path} | {cell(row, '')} |" + " |" * (len(batches) - 1))
                continue
            figures = [rate(row.get(b, {})) for b in batches]
            lines.append(f"| {path} | " + " | ".join(figures) + " |")
        equality = model["float16_equality"]
        detail = cell(equality, "identical")
        if "identical" in equality:
            detail = f"{equality['identical']} of {equality['sentences']} sentences identical"
        lines += ["", f"CUDA float16 vs CPU float32 outputs: {detail}", ""]
    return lines


def runinference_lines(section: dict) -> list[str]:
    lines = [f"## Translation stage through RunInference ({section['model']} model; {section['note']})", "",
             "| device | captions | translated | wall s | captions/s | GPU utilisation mean / max % |", "|---|---|---|---|---|---|"]
    for device in ("cpu", "cuda"):
        entry = section[device]
        if "skipped" in entry or "error" in entry:
            lines.append(f"| {device} | {cell(entry, '')} | | | | |")
            continue
        usage = entry["gpu_utilisation"]
        busy = cell(usage, "mean_percent") if "skipped" in usage else f"{usage.get('mean_percent')} / {usage.get('max_percent')}"
        lines.append(f"| {device} | {entry['captions']} | {entry['translated']} | {entry['wall_s']} | "
                     f"{entry['captions_per_s']} | {busy} |")
    return lines + [""]


def trainer_lines(section: dict) -> list[str]:
    paths = ("cpu fp32", "cuda fp32", "cuda bf16")
    lines = [f"## Trainer: median step ms (toy scale, median of {section['steps']} after {section['warmup']} warm-up)", "",
             "| preset | " + " | ".join(paths) + " |", "|---|---|---|---|"]
    for name, row in section["presets"].items():
        lines.append(f"| {name} | " + " | ".join(cell(row[p], "step_ms") for p in paths) + " |")
    lines += ["", "| training loop (train-clip-en, 1 loader worker) | data-wait fraction | step ms | loss finite |",
              "|---|---|---|---|"]
    for path, entry in section["loop"].items():
        lines.append(f"| {path} | {cell(entry, 'data_wait_fraction')} | {cell(entry, 'step_ms')} | {cell(entry, 'loss_finite')} |")
    search = section["largest_batch"]
    if "fits" in search:
        last = search["fits"][-1] if search["fits"] else {}
        lines += ["", f"Largest batch that fit ({search['preset']}, bf16): {last.get('batch')} "
                  f"(peak {last.get('peak_gib')} GiB); stopped by {search['stopped_by']}"]
    else:
        lines += ["", f"Largest batch: {cell(search, '')}"]
    return lines + [""]


def markdown_summary(report: dict) -> str:
    lines = ["# babelshard GPU check", "", f"`{report['command']}`", ""]
    env = report.get("environment", {})
    if env and "error" not in env:
        lines += [f"GPU: {env.get('gpu', 'none')}; torch {env['torch']} (CUDA {env['torch_cuda']}); CTranslate2 "
                  f"{env['ctranslate2']} ({env['ctranslate2_cuda_devices']} CUDA devices, cuBLAS shim: {env['cublas_shim']}); "
                  f"{env['cpus']} CPUs; Python {env['python']}", ""]
    for name, render in (("translation", translation_lines), ("runinference", runinference_lines),
                         ("trainer", trainer_lines)):
        if name in report:
            lines += render(report[name]) if "error" not in report[name] else [f"## {name}: error (see JSON)", ""]
    if "model_stages" in report and "handlers" in report["model_stages"]:
        stages = report["model_stages"]
        lines += ["## Model stages", ""] + [
            f"- {h['class']} ({h['path']}): " + (h["checked"] if isinstance(h["checked"], str) else cell(h["checked"], ""))
            for h in stages["handlers"]] + [""]
    lines += ["## Errors", ""] + ([f"- {e}" for e in report.get("errors", [])] or ["none"])
    return "\n".join(lines) + "\n"
