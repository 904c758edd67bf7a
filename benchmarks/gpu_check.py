"""One prepared check of babelshard's CUDA paths; the same script runs end to end on CPU.

    benchmarks/gpu_check.sh                                  # on a GPU machine (docs/gpu.md)
    .venv/bin/python benchmarks/gpu_check.py --device cpu    # CPU only: every CUDA figure skipped

Sections, each written to ``gpu_check.json`` as soon as it is done (a run cut short keeps
what it measured), then summarised in ``gpu_check.md``:

- ``environment``: versions, CPUs, the CUDA device that torch and CTranslate2 see.
- ``translation``: babelshard's CTranslate2 engine on random-weight Marian models (``toy``:
  the tests' model; ``base``: OPUS-MT-base-shaped) translating the same sentences, greedy,
  in calls of 8/32/128 sentences: generated tokens/s on CPU int8 (the baseline) and on CUDA
  in float16, int8_float16 and int8, each with its ratio to CPU int8 at the same call size;
  and whether CUDA float16 gives the CPU float32 outputs, sentence by sentence.
- ``runinference``: the caption job's translation stage (``TranslateCaptions``: Beam
  ``RunInference`` with the translation model handler, DirectRunner) over the last model,
  captions/s on CPU and on CUDA, with the GPU's utilisation sampled during the CUDA run.
- ``trainer``: median optimizer step of each preset at toy scale (pre-decoded batches, as
  ``bench_train_presets.py``) on CPU fp32, CUDA fp32 and CUDA bf16 autocast; the training
  loop itself for a few steps (data-wait fraction, finite loss); on CUDA, the largest
  batch that fits, doubling the first preset's batch sizes.
- ``model_stages``: the Beam model handlers in the code; those other than translation's
  have no check here yet.

Without CUDA (or with ``--device cpu``) every CUDA figure is ``{"skipped": reason}``; a
path that raises is ``{"error": ...}`` and the check goes on (exit status 1 at the end).
A random model rarely emits end-of-sentence, so nearly every output runs to
``--max-tokens``: the rates are decoding speed, not translation quality.
"""
from __future__ import annotations

import argparse
import json
import re
import math
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

from gpu_check_report import GpuSampler, markdown_summary

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("environment", "translation", "runinference", "trainer", "model_stages")
MODELS = {
    "toy": {"vocab_size": 1000},  # build_toy_marian's defaults: d_model 64, 2+2 layers
    "base": {"vocab_size": 4000, "d_model": 512, "layers": 6, "heads": 8, "ffn": 2048, "pad_vocab_to": 32000},
}
CUDA_TYPES = ("float16", "int8_float16", "int8")


def guarded(fn, *args, **kwargs) -> dict:
    """``fn``'s result, or ``{"error": ...}`` (traceback on stderr) so the other figures still come."""
    try:
        return fn(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - a broken path is a finding, not the end of the check
        traceback.print_exc()
        return {"error": f"{type(error).__name__}: {error}"[:500]}


def torch_cuda_reason(args) -> str | None:
    """Why CUDA figures are skipped, or None when torch has a CUDA device."""
    import torch

    if args.device == "cpu":
        return "--device cpu"
    return None if torch.cuda.is_available() else "no CUDA device"


def ct2_cuda_reason(args) -> str | None:
    import ctranslate2

    reason = torch_cuda_reason(args)
    if reason is None and ctranslate2.get_cuda_device_count() == 0:
        return "CTranslate2 sees no CUDA device (torch does): a CPU-only build, or libcublas.so.12 missing"
    return reason


def environment(args) -> dict:
    import ctranslate2
    import torch

    found = {"python": platform.python_version(), "cpus": os.cpu_count(), "torch": torch.__version__,
             "torch_threads": torch.get_num_threads(), "torch_cuda": torch.version.cuda, "ctranslate2": ctranslate2.__version__,
             "ctranslate2_cuda_devices": ctranslate2.get_cuda_device_count(),
             "cublas_shim": os.environ.get("GPU_CHECK_CUBLAS_SHIM", "none"), "device_flag": args.device}
    if torch_cuda_reason(args) is None:
        properties = torch.cuda.get_device_properties(0)
        found.update(gpu=properties.name, gpu_memory_gib=round(properties.total_memory / 2**30, 1),
                     capability=".".join(map(str, torch.cuda.get_device_capability(0))))
        if found["ctranslate2_cuda_devices"]:
            found["ctranslate2_cuda_types"] = sorted(ctranslate2.get_supported_compute_types("cuda"))
    return found


# --- translation -------------------------------------------------------------------


def caption_sentences(count: int) -> list[str]:
    """Caption-length English from the text the toy SentencePiece models learn: two CLDR
    emoji names in one sentence, e.g. ``grinning face next to red apple``."""
    from babelshard.translate.toy_model import emoji_texts

    names = sorted(set(emoji_texts(("en",))))
    rng = random.Random(0)
    return [" next to ".join(rng.sample(names, 2)) for _ in range(count)]


def build_model(name: str, work_dir: str):
    """A random-weight Marian of shape ``MODELS[name]``, converted (reused when already built)."""
    from babelshard.translate.toy_model import build_toy_marian

    return build_toy_marian(Path(work_dir) / f"marian-{name}", **MODELS[name])


def make_engine(model, device: str, compute_type: str, args):
    from babelshard.translate.config import CTranslate2EngineConfig
    from babelshard.translate.engines import create_engine

    threads = args.threads if device == "cpu" else 0
    return create_engine(CTranslate2EngineConfig(
        kind="ctranslate2", model_path=model.ctranslate2_dir, language_tokens="m2m100", device=device,
        compute_type=compute_type, threads=threads, beam_size=1, max_decoding_length=args.max_tokens,
        max_batch_tokens=1 << 20))  # one engine call is one CTranslate2 batch


def throughput(engine, texts: list[str], batch: int) -> dict:
    """Generated tokens per wall second, translating ``texts`` in calls of ``batch``."""
    engine.translate(texts[:batch], "en", "de")  # warm-up: first-call allocations
    tokens, started = 0, time.perf_counter()
    for start in range(0, len(texts), batch):
        tokens += sum(r.target_tokens for r in engine.translate(texts[start:start + batch], "en", "de"))
    wall = time.perf_counter() - started
    return {"tokens": tokens, "wall_s": round(wall, 3), "tokens_per_s": round(tokens / wall, 1)}


def rates(model, device: str, compute_type: str, texts: list[str], args) -> dict:
    engine = make_engine(model, device, compute_type, args)
    return {str(batch): throughput(engine, texts, batch) for batch in args.batch_sizes}


def with_ratios(row: dict, baseline: dict) -> dict:
    for batch, figures in row.items():
        if "tokens_per_s" in figures and "tokens_per_s" in baseline.get(batch, {}):
            figures["vs_cpu_int8"] = round(figures["tokens_per_s"] / baseline[batch]["tokens_per_s"], 2)
    return row


def float16_equality(model, texts: list[str], args) -> dict:
    """CUDA float16 against CPU float32, greedy: identical target pieces, sentence by sentence."""
    batch = 32
    outputs = {}
    for device, compute_type in (("cpu", "float32"), ("cuda", "float16")):
        engine = make_engine(model, device, compute_type, args)
        outputs[device] = [r.pieces for start in range(0, len(texts), batch)
                           for r in engine.translate(texts[start:start + batch], "en", "de")]
    same = sum(a == b for a, b in zip(outputs["cpu"], outputs["cuda"]))
    return {"reference": "cpu float32", "compared": "cuda float16", "identical": same, "sentences": len(texts),
            "all_identical": same == len(texts)}


def translation(args) -> dict:
    texts = caption_sentences(args.sentences)
    reason = ct2_cuda_reason(args)
    result = {"sentences": len(texts), "max_tokens": args.max_tokens, "beam": 1, "cpu_threads": args.threads,
              "models": {}}
    for name in args.models:
        model = build_model(name, args.work_dir)
        cpu = guarded(rates, model, "cpu", "int8", texts, args)
        rows = {"cpu int8": cpu}
        for compute_type in CUDA_TYPES:
            rows[f"cuda {compute_type}"] = (
                {"skipped": reason} if reason else with_ratios(guarded(rates, model, "cuda", compute_type, texts, args), cpu))
        equality = {"skipped": reason} if reason else guarded(float16_equality, model, texts, args)
        result["models"][name] = {"shape": MODELS[name], "rates": rows, "float16_equality": equality}
    return result


# --- RunInference ------------------------------------------------------------------


def caption_samples(texts: list[str]) -> list:
    from babelshard.records import Caption, CaptionSample, stable_key

    return [CaptionSample(key=stable_key("gpu-check", str(i)), source="gpu-check", url=f"gpu-check:{i}",
                          captions={"en": Caption(text)}) for i, text in enumerate(texts)]


def count_translated(sample) -> None:
    from apache_beam.metrics import Metrics

    Metrics.counter("gpu_check", "translated" if "de" in sample.captions else "untranslated").inc()


def translate_stage(model, device: str, texts: list[str], args) -> dict:
    """``TranslateCaptions`` (RunInference inside) over ``texts`` as caption samples, one target."""
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    from babelshard.translate.config import BatchingConfig, CTranslate2EngineConfig, FilterConfig, TranslateConfig
    from babelshard.translate.transform import TranslateCaptions

    engine = CTranslate2EngineConfig(kind="ctranslate2", model_path=model.ctranslate2_dir, language_tokens="m2m100",
                                     device=device, threads=args.threads if device == "cpu" else 0, beam_size=1,
                                     max_decoding_length=args.max_tokens)
    config = TranslateConfig(targets={"de": "mt"}, engines={"mt": engine}, filters=FilterConfig(enabled=False),
                             batching=BatchingConfig(min_batch_size=32, max_batch_size=args.ri_batch))
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    outputs = pipeline | beam.Create(caption_samples(texts)) | TranslateCaptions(config)
    _ = outputs["samples"] | beam.Map(count_translated)
    with GpuSampler(enabled=device == "cuda") as sampler:
        started = time.perf_counter()
        result = pipeline.run()
        result.wait_until_finish()
        wall = time.perf_counter() - started
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(
        MetricsFilter().with_namespace("gpu_check"))["counters"]}
    return {"captions": len(texts), "translated": counters.get("translated", 0), "wall_s": round(wall, 2),
            "captions_per_s": round(len(texts) / wall, 1), "compute_type": "auto",
            "max_batch_size": args.ri_batch, "gpu_utilisation": sampler.summary()}


def runinference(args) -> dict:
    name = args.models[-1]
    model = build_model(name, args.work_dir)
    texts = caption_sentences(args.captions)
    reason = ct2_cuda_reason(args)
    return {"model": name, "note": "wall time of the whole pipeline run, model loading included",
            "cpu": guarded(translate_stage, model, "cpu", texts, args),
            "cuda": {"skipped": reason} if reason else guarded(translate_stage, model, "cuda", texts, args)}


# --- trainer -----------------------------------------------------------------------


def toy_data(args) -> dict:
    if args.data:
        return {"caption": os.path.join(args.data, "caption")}
    from babelshard.pipelines.demo.toydata import build_toy_data

    return build_toy_data(os.path.join(args.work_dir, "toy"), train=args.toy_images, heldout=16, size=32)


def preset_step(name: str, folder: str, device: str, precision: str, args, scale: int = 1, quick: bool = False) -> dict:
    """``bench_train_presets``' median step; ``quick``: 1 batch, 1 warm-up step, 2 timed."""
    from bench_train_presets import bench_preset

    counts = {"batches": 1, "warmup": 1, "steps": 2} if quick else {
        "batches": args.batches, "warmup": args.warmup, "steps": args.steps}
    settings = argparse.Namespace(data=folder, vocab=None, scale=scale, precision=precision, device=device, **counts,
                                  output=os.path.join(args.work_dir, "presets", f"{name}-{device}-{precision}-{scale}"))
    row = bench_preset(name, settings)
    return {"batch": row["batch"], "step_ms": round(row["step_wall_s"] * 1000, 2),
            "cpu_ms": round(row["step_cpu_s"] * 1000, 2), "samples_per_s": row["samples_per_s"]}


def loop_run(folder: str, device: str, precision: str, args) -> dict:
    """``train(config)`` of train-clip-en for ``--loop-steps`` steps with one loader worker."""
    from babelshard.train.config import load_train_config
    from babelshard.train.loop.metrics import read_metrics
    from babelshard.train.loop.steps import train

    output = os.path.join(args.work_dir, "loop", f"{device}-{precision}")
    shutil.rmtree(output, ignore_errors=True)  # a kept run would resume, finished
    config = load_train_config(REPO / "configs" / "train-clip-en.yaml", [
        f"data.streams.0.folders=[{folder}]", "data.workers=1", f"loop.output={output}", "loop.progress=false",
        f"loop.max_steps={args.loop_steps}", "loop.log_every=1", "loop.checkpoint_every=0", f"loop.device={device}",
        f"loop.precision={precision}", "eval=null"])
    train(config)
    records = read_metrics(os.path.join(output, "metrics.jsonl"))[1:] or read_metrics(os.path.join(output, "metrics.jsonl"))
    losses = [r["loss"] for r in records]
    return {"steps": args.loop_steps, "workers": 1, "loss_first": losses[0], "loss_last": losses[-1],
            "loss_finite": all(math.isfinite(x) for x in losses),
            "data_wait_fraction": round(statistics.mean(r["data_wait_fraction"] for r in records), 3),
            "step_ms": round(1000 * statistics.mean(r["step_seconds"] for r in records), 2)}


def largest_batch(name: str, folder: str, args) -> dict:
    """Double every stream's batch until CUDA runs out of memory or ``--max-batch-scale``."""
    import torch

    tried, stop = [], f"cap --max-batch-scale {args.max_batch_scale}"
    scale = 1
    while scale <= args.max_batch_scale:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        try:
            row = preset_step(name, folder, "cuda", "bf16", args, scale, quick=True)
        except torch.cuda.OutOfMemoryError:
            stop = f"out of memory at scale {scale}"
            break
        tried.append({"batch": row["batch"], "step_ms": row["step_ms"],
                      "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3)})
        scale *= 2
    return {"preset": name, "precision": "bf16", "fits": tried, "stopped_by": stop}


def trainer(args) -> dict:
    folder = toy_data(args)["caption"]
    reason = torch_cuda_reason(args)
    presets = {}
    for name in args.presets:
        row = {"cpu fp32": guarded(preset_step, name, folder, "cpu", "fp32", args)}
        for precision in ("fp32", "bf16"):
            row[f"cuda {precision}"] = {"skipped": reason} if reason else guarded(
                preset_step, name, folder, "cuda", precision, args)
        presets[name] = row
    loop = {"cpu fp32": guarded(loop_run, folder, "cpu", "fp32", args),
            "cuda bf16": {"skipped": reason} if reason else guarded(loop_run, folder, "cuda", "bf16", args)}
    search = {"skipped": reason} if reason else guarded(largest_batch, args.presets[0], folder, args)
    return {"steps": args.steps, "warmup": args.warmup, "presets": presets, "loop": loop, "largest_batch": search}


# --- model stages ------------------------------------------------------------------


ADAPTER_MODULE = "babelshard/inference.py"
HANDLER_CLASS = re.compile(r"class (\w+)\((?:\w+\.)*(?:ModelHandler|StageModelHandler)\b")


def model_stages(args) -> dict:
    """The model stages in the package folders (tests and benchmarks left out): handler
    classes, and modules that build a ``StageModelHandler`` from functions."""
    handlers = []
    for folder in ("babelshard", "pipelines", "shards", "translate", "codeswitch", "vocab", "train"):
        for path in sorted((REPO / folder).rglob("*.py")):
            relative = str(path.relative_to(REPO))
            if relative == ADAPTER_MODULE:
                continue  # the adapter itself, not a stage
            for line in path.read_text(encoding="utf-8").splitlines():
                match = HANDLER_CLASS.match(line)
                if match:
                    handlers.append({"path": relative, "class": match.group(1), "checked": _handler_check(match.group(1))})
                elif "StageModelHandler(" in line:
                    handlers.append({"path": relative, "class": "StageModelHandler", "checked": _handler_check("")})
    return {"handlers": handlers}


def _handler_check(name: str) -> str | dict:
    return "runinference section" if name == "TranslationModelHandler" else {"skipped": "no GPU check written for this stage yet"}


# --- entry point -------------------------------------------------------------------


def errors_in(value, path: str = "") -> list[str]:
    if isinstance(value, dict):
        found = [f"{path}: {value['error']}"] if "error" in value else []
        return found + [e for key, item in value.items() if key != "error" for e in errors_in(item, f"{path}/{key}")]
    return []


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.environ.get("OUT") or "out/gpu-check", help="folder for the JSON and markdown")
    parser.add_argument("--device", choices=["auto", "cpu"], default="auto", help="cpu: skip every CUDA figure")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--work-dir", help="models, toy data and runs (default: a temporary folder)")
    parser.add_argument("--data", help="toy data root with caption/ (default: built from OpenMoji in --work-dir)")
    parser.add_argument("--toy-images", type=int, default=320, help="training emoji when the toy data is built here")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CTranslate2 threads on CPU")
    parser.add_argument("--captions", type=int, default=2048, help="captions through the RunInference stage")
    parser.add_argument("--ri-batch", type=int, default=256, help="RunInference max_batch_size")
    parser.add_argument("--presets", nargs="+", default=["clip-en", "m3p", "unified"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batches", type=int, default=4, help="pre-decoded batches the preset steps cycle through")
    parser.add_argument("--loop-steps", type=int, default=20)
    parser.add_argument("--max-batch-scale", type=int, default=64)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        args.work_dir = args.work_dir or scratch
        report: dict = {"command": " ".join(sys.argv), "sections": args.sections}
        for name in args.sections:
            started = time.perf_counter()
            report[name] = guarded(globals()[name], args)
            report[name]["section_s"] = round(time.perf_counter() - started, 1)
            print(f"gpu_check: {name} done in {report[name]['section_s']} s", file=sys.stderr, flush=True)
            Path(args.out, "gpu_check.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    report["errors"] = errors_in(report)
    Path(args.out, "gpu_check.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    Path(args.out, "gpu_check.md").write_text(markdown_summary(report), encoding="utf-8")
    print(markdown_summary(report))
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
