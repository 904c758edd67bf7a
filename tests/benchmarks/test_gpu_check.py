"""benchmarks/gpu_check.py on CPU at toy size: every section there, the CPU figures
measured, every CUDA figure skipped with its reason; and the shell entry point."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOY_SIZE = [
    "--device", "cpu", "--toy-images", "160", "--models", "toy", "--sentences", "12", "--max-tokens", "6",
    "--batch-sizes", "4", "8", "--captions", "12", "--presets", "clip-en", "--steps", "2", "--warmup", "1",
    "--batches", "2", "--loop-steps", "3", "--threads", "1",
]
SKIPPED = {"skipped": "--device cpu"}


def run(command: list[str], out: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", **env}
    return subprocess.run([*command, "--out", str(out), "--work-dir", str(out / "work")], cwd=REPO, env=environment,
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("gpu-check")
    done = run([sys.executable, "benchmarks/gpu_check.py", *TOY_SIZE], out)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads((out / "gpu_check.json").read_text()), (out / "gpu_check.md").read_text()


@pytest.mark.slow
def test_every_section_is_there_without_errors(checked):
    report, summary = checked
    assert set(report["sections"]) == {"environment", "translation", "runinference", "trainer", "model_stages"}
    assert all(name in report and "error" not in report[name] for name in report["sections"])
    assert report["errors"] == []
    assert report["environment"]["device_flag"] == "cpu" and "gpu" not in report["environment"]
    assert summary.rstrip().endswith("## Errors\n\nnone")


@pytest.mark.slow
def test_translation_has_cpu_rates_and_skips_each_cuda_type(checked):
    model = checked[0]["translation"]["models"]["toy"]
    cpu = model["rates"]["cpu int8"]
    assert sorted(cpu) == ["4", "8"]
    # 12 sentences, each generating at least one and at most --max-tokens pieces
    assert all(12 <= row["tokens"] <= 12 * 6 and row["tokens_per_s"] > 0 for row in cpu.values())
    assert {path: row for path, row in model["rates"].items() if path != "cpu int8"} == {
        "cuda float16": SKIPPED, "cuda int8_float16": SKIPPED, "cuda int8": SKIPPED}
    assert model["float16_equality"] == SKIPPED


@pytest.mark.slow
def test_runinference_translates_every_caption_on_cpu(checked):
    section = checked[0]["runinference"]
    assert section["cpu"]["captions"] == section["cpu"]["translated"] == 12
    assert section["cpu"]["captions_per_s"] > 0 and section["cpu"]["gpu_utilisation"] == {"skipped": "cpu run"}
    assert section["cuda"] == SKIPPED


@pytest.mark.slow
def test_trainer_steps_on_cpu_and_skips_cuda(checked):
    section = checked[0]["trainer"]
    preset = section["presets"]["clip-en"]
    assert preset["cpu fp32"]["batch"] == {"caption": 64} and preset["cpu fp32"]["step_ms"] > 0
    assert preset["cuda fp32"] == preset["cuda bf16"] == SKIPPED
    loop = section["loop"]["cpu fp32"]
    assert loop["loss_finite"] and loop["steps"] == 3 and 0 <= loop["data_wait_fraction"] <= 1
    assert section["loop"]["cuda bf16"] == SKIPPED and section["largest_batch"] == SKIPPED


@pytest.mark.slow
def test_model_stages_lists_the_translation_handler(checked):
    handlers = checked[0]["model_stages"]["handlers"]
    assert {"path": "translate/handler.py", "class": "TranslationModelHandler", "checked": "runinference section"} in handlers


def test_the_shell_entry_point_runs_the_chosen_sections(tmp_path):
    done = run(["benchmarks/gpu_check.sh", "--device", "cpu", "--sections", "environment", "model_stages"], tmp_path,
               PYTHON=sys.executable)
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["sections"] == ["environment", "model_stages"] and "translation" not in report
    assert report["environment"]["python"] == ".".join(map(str, sys.version_info[:3]))


def test_the_gpu_sampler_reads_nvidia_smi_while_its_block_runs(tmp_path, monkeypatch):
    """The sampler's parsing, with a stand-in ``nvidia-smi`` that prints what the real one
    prints for ``--query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits``."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    from gpu_check_report import GpuSampler

    tool = tmp_path / "nvidia-smi"
    tool.write_text("#!/bin/sh\nfor u in 10 90 50; do echo \"$u, 1200\"; done\necho '[N/A], [N/A]'\nexec sleep 30\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with GpuSampler(enabled=True) as sampler:
        while len(sampler.samples) < 3:
            sampler.reader.join(0.05)
    assert sampler.summary() == {"samples": 3, "mean_percent": 50, "max_percent": 90, "max_memory_mib": 1200}
    assert GpuSampler(enabled=False).summary() == {"skipped": "cpu run"}
