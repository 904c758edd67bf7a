"""Benchmark of caption translation: CTranslate2 vs transformers, and the cache's gain.

    .venv/bin/python benchmarks/bench_translate.py speed --sentences 96 --beam 4 --threads 2
    .venv/bin/python benchmarks/bench_translate.py cache --captions 400 --unique 40
    .venv/bin/python benchmarks/bench_translate.py speed --device cuda   # on a GPU machine

``speed``: one Marian model (default d_model 512, 6+6 layers, FFN 2048, vocabulary
32,000: the OPUS-MT base shape) with **random weights**, built with ``transformers`` and
converted with CTranslate2's converter; only speed is measured, so random weights are
fine, but a random model rarely emits end-of-sentence, so every output runs to
``--max-tokens``, for both engines alike. In the same run and on the same English
sentences (Debian fortunes, 6-25 words, like captions), it times ``transformers``
``generate`` (same beam, batches of ``--batch`` sentences sorted by length) against
babelshard's CTranslate2 engine (int8, and float32 for reference; on CUDA float16 and
int8_float16), reporting sentences/s and generated tokens/s per CPU second of the
process on CPU (all its threads; fair on a shared machine) and per wall second on CUDA;
each figure is the best of ``--repeat`` runs. ``cache``: a duplicate-heavy caption list (``--captions`` drawn
from ``--unique`` sentences with Zipf-like frequencies) translated with no memo, with
the in-run memo, and again from the persistent cache.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time

FORTUNES = "/usr/share/games/fortunes/fortunes"


def english_sentences(count: int, seed: int = 1) -> list[str]:
    """Caption-length English sentences from Debian's fortunes-min, seeded sample."""
    from babelshard.textnorm import clean_text

    if not os.path.exists(FORTUNES):
        sys.exit(f"needs the Debian package fortunes-min ({FORTUNES} is missing)")
    with open(FORTUNES, encoding="utf-8", errors="replace") as handle:
        texts = [clean_text(t) for t in handle.read().split("\n%\n")]
    usable = sorted({t for t in texts if 6 <= len(t.split()) <= 25 and t.isprintable()})
    return random.Random(seed).sample(usable, min(count, len(usable)))


def build_model(args):
    from babelshard.translate.toy_model import build_marian, convert_to_ctranslate2, emoji_texts, train_sentencepiece

    name = f"marian-d{args.d_model}-l{args.layers}-v{args.vocab}"
    folder = os.path.join(args.work_dir, name)
    hf_dir, ct2_dir = os.path.join(folder, "transformers"), os.path.join(folder, "ctranslate2")
    if not os.path.exists(os.path.join(ct2_dir, "model.bin")):
        os.makedirs(folder, exist_ok=True)
        spm = train_sentencepiece(emoji_texts(), os.path.join(folder, "spm.model"), 4000)
        build_marian(hf_dir, spm, d_model=args.d_model, layers=args.layers, heads=8, ffn=args.d_model * 4,
                     pad_vocab_to=args.vocab)
        convert_to_ctranslate2(hf_dir, ct2_dir)
    return hf_dir, ct2_dir


def best_of(repeat: int, fn):
    """(best wall seconds, best CPU seconds of this process, result of the last run).
    CPU seconds count every thread of the process (torch's and CTranslate2's alike), so
    they stay comparable on a machine shared with other work, where wall time does not."""
    wall, cpu, result = float("inf"), float("inf"), None
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - started_cpu)
    return wall, cpu, result


def transformers_run(hf_dir, sentences, args):
    import torch
    from transformers import MarianMTModel, MarianTokenizer

    torch.set_num_threads(args.threads)
    tokenizer = MarianTokenizer.from_pretrained(hf_dir)
    model = MarianMTModel.from_pretrained(hf_dir).eval().to(args.device)
    ordered = sorted(sentences, key=lambda s: len(tokenizer(s).input_ids))
    pad = tokenizer.pad_token_id

    def run() -> int:
        generated = 0
        with torch.inference_mode():
            for start in range(0, len(ordered), args.batch):
                batch = tokenizer(ordered[start : start + args.batch], return_tensors="pt", padding=True).to(args.device)
                out = model.generate(**batch, num_beams=args.beam, do_sample=False, max_new_tokens=args.max_tokens,
                                     bad_words_ids=[[pad]])
                generated += int(((out != pad) & (out != tokenizer.eos_token_id)).sum())
        return generated

    return best_of(args.repeat, run)


def ctranslate2_run(ct2_dir, sentences, args, compute_type):
    from babelshard.translate.config import CTranslate2EngineConfig
    from babelshard.translate.engines import create_engine

    config = CTranslate2EngineConfig(kind="ctranslate2", model_path=ct2_dir, device=args.device, compute_type=compute_type,
                                     threads=args.threads, beam_size=args.beam, max_decoding_length=args.max_tokens,
                                     max_batch_tokens=args.batch * 32)
    engine = create_engine(config)
    return best_of(args.repeat, lambda: sum(r.target_tokens for r in engine.translate(sentences, "en", "de")))


def speed(args) -> dict:
    hf_dir, ct2_dir = build_model(args)
    sentences = english_sentences(args.sentences)
    rows = {"transformers generate (float32)": transformers_run(hf_dir, sentences, args)}
    types = ("float16", "int8_float16") if args.device == "cuda" else ("int8", "float32")
    for compute_type in types:
        rows[f"ctranslate2 {compute_type}"] = ctranslate2_run(ct2_dir, sentences, args, compute_type)
    # On CUDA the GPU does the work: compare wall time there, CPU time on CPU.
    clock = 0 if args.device == "cuda" else 1
    base = rows["transformers generate (float32)"][clock]
    report = {
        name: {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "sentences_per_s": round(len(sentences) / times[clock], 2),
               "tokens_per_s": round(tokens / times[clock], 1), "speedup": round(base / times[clock], 2)}
        for name, times in rows.items() for wall, cpu, tokens in [times]
    }
    basis = "wall seconds" if clock == 0 else "CPU seconds of the process"
    return {"sentences": len(sentences), "rates_per": basis, "settings": vars(args), "results": report}


def zipf_captions(count: int, unique: int, seed: int = 2) -> list[str]:
    pool = english_sentences(unique, seed=seed)
    weights = [1 / (rank + 1) for rank in range(len(pool))]
    return random.Random(seed).choices(pool, weights=weights, k=count)


def cache(args) -> dict:
    from babelshard.translate.cache import MemoTranslator
    from babelshard.translate.config import CTranslate2EngineConfig
    from babelshard.translate.engines import create_engine, engine_identity

    _, ct2_dir = build_model(args)
    captions = zipf_captions(args.captions, args.unique)
    config = CTranslate2EngineConfig(kind="ctranslate2", model_path=ct2_dir, device=args.device, threads=args.threads,
                                     beam_size=args.beam, max_decoding_length=args.max_tokens)
    engine = create_engine(config)
    kind, model = engine_identity(config, "en", "de")
    url = tempfile.mkdtemp(prefix="bench-translate-cache-")
    timings = {"no memo": best_of(1, lambda: engine.translate(captions, "en", "de"))[1]}
    memo = MemoTranslator(engine, kind, model, url)
    timings["in-run memo"] = best_of(1, lambda: memo.translate(captions, "en", "de"))[1]
    memo.flush()
    rerun = MemoTranslator(engine, kind, model, url)
    timings["persistent cache (rerun)"] = best_of(1, lambda: rerun.translate(captions, "en", "de"))[1]
    return {
        "captions": len(captions), "distinct": len(set(captions)), "engine_calls_rerun": rerun.translated,
        "rates_per": "CPU seconds of the process",
        "results": {name: {"cpu_s": round(s, 3), "captions_per_s": round(len(captions) / s, 1),
                           "speedup": round(timings["no memo"] / s, 1)} for name, s in timings.items()},
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["speed", "cache"])
    parser.add_argument("--sentences", type=int, default=96)
    parser.add_argument("--captions", type=int, default=400)
    parser.add_argument("--unique", type=int, default=40)
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16, help="sentences per transformers batch")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--d-model", type=int, default=512)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--work-dir", default=os.path.join(tempfile.gettempdir(), "babelshard-bench-translate"))
    args = parser.parse_args(argv)
    print(json.dumps(speed(args) if args.mode == "speed" else cache(args), indent=1))


if __name__ == "__main__":
    main()
