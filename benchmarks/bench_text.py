"""Benchmark of the text stream: language ID + dedup throughput, and peak memory of a
full text job over generated lines.

    .venv/bin/python benchmarks/bench_text.py throughput --lines 200000 --repeat 3
    .venv/bin/python benchmarks/bench_text.py memory --lines 1000000

Lines are generated from real Debian fortunes (fortunes-de, -it, -es, -ru, -pl): each
line joins two random fortune sentences of one language (seeded), and one line in ten
(``--copy-every``) repeats an earlier one, so dedup has work; the job deduplicates
before language ID, so fastText does not run on the copies (``--copy-every 0``
measures without that saving). ``throughput`` compares, in the same run
and on the same lines, a plain loop calling fastText ``predict`` once per line with
(a) the plain per-record functions (dedup, then batched LID and the language check, the
job's order) and (b) the Beam pipeline (file source -> bucketed GroupByKey dedup ->
LID + check, records in batches of 1,000 as in the text job) on the DirectRunner with
one worker; (c) the same file source alone, whose cost is taken out for the "without
read" ratio. A second baseline, the plain loop with the reading included (each .xz
file line by line, decoded, then ``predict``), gives the end-to-end ratio: both sides
read the same files. Each path runs in a fresh child process, so none inherits the
heap another left behind; rates are per CPU second of that process (one core), model
load and in-memory lines set up untimed, each the fastest of ``--repeat`` runs.
``memory`` runs ``add_text_streams`` (read, clean, split, dedup, LID, WriteShards)
in a child process and reports its peak RSS.
"""
from __future__ import annotations

import argparse
import json
import lzma
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from functools import partial

FORTUNES = {
    "de": ["de/zitate", "de/sprichworte", "de/anekdoten"],
    "it": ["it/italia", "it/leggi", "it/definizioni"],
    "es": ["es/refranes.fortunes", "es/vida.fortunes"],
    "ru": ["ru/citates", "ru/life", "ru/work", "ru/love"],
    "pl": ["pl/sapkowski", "pl/seneka", "pl/pratchett", "pl/wierszyki"],
}


def fortune_sentences(language: str) -> list[str]:
    from babelshard.pipelines.text.clean import split_sentences
    from babelshard.textnorm import clean_text

    out = []
    for name in FORTUNES[language]:
        path = os.path.join("/usr/share/games/fortunes", name)
        if not os.path.exists(path):
            sys.exit(f"needs the Debian package fortunes-{language} ({path} is missing)")
        with open(path, encoding="utf-8", errors="replace") as handle:
            for fortune in handle.read().split("\n%\n"):
                out.extend(s for s in split_sentences(clean_text(fortune)) if len(s) > 20 and "--" not in s)
    return out


def generate_lines(total: int, seed: int = 1, copy_every: int = 10) -> dict[str, list[str]]:
    """Per language, ``total / 5`` lines; every ``copy_every``-th repeats an earlier line (0: none)."""
    rng = random.Random(seed)
    per_language = total // len(FORTUNES)
    generated = {}
    for language in FORTUNES:
        sentences = fortune_sentences(language)
        lines: list[str] = []
        for i in range(per_language):
            if copy_every and i % copy_every == copy_every - 1:
                lines.append(lines[rng.randrange(len(lines))])
            else:
                lines.append(f"{rng.choice(sentences)} {rng.choice(sentences)}")
        generated[language] = lines
    return generated


def write_cc100(folder: str, generated: dict[str, list[str]]) -> dict[str, str]:
    paths = {}
    for language, lines in generated.items():
        path = os.path.join(folder, f"{language}.txt.xz")
        with lzma.open(path, "wt", encoding="utf-8", preset=1) as handle:
            for i, line in enumerate(lines):
                handle.write(line + ("\n\n" if i % 20 == 19 else "\n"))
        paths[language] = path
    return paths


def timed(fn, repeat: int = 1):
    """Result, wall and CPU seconds; with ``repeat`` the fastest run (the machine is shared)."""
    best = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        run = (result, time.perf_counter() - wall, time.process_time() - cpu)
        best = run if best is None or run[2] < best[2] else best
    return best


def plain_loop(model, lines) -> int:
    for line in lines:
        model.predict(line, k=1)
    return len(lines)


def plain_reading_loop(model, paths: dict[str, str]) -> int:
    """The plain loop with the file reading included: each .xz file line by line, decoded,
    document breaks skipped, ``predict`` per line (the end-to-end baseline)."""
    count = 0
    for path in paths.values():
        with lzma.open(path, "rb") as handle:
            for raw in handle:
                line = raw.decode("utf-8").rstrip("\n")
                if line:
                    model.predict(line, k=1)
                    count += 1
    return count


def plain_functions(model, records, lid):
    """What one worker computes per record, without Beam, in the text job's order:
    dedup, then the batched language check on what is left."""
    from babelshard.pipelines.text.clean import check_text_languages, text_dedup_key
    from babelshard.stats import Drop

    seen, unique = set(), []
    for record in records:
        key = text_dedup_key(record)
        if key not in seen:
            seen.add(key)
            unique.append(record)
    kept = 0
    for start in range(0, len(unique), lid.max_batch_size):
        checked = check_text_languages(unique[start : start + lid.max_batch_size], model, lid)
        kept += sum(not isinstance(item, Drop) for item in checked)
    return kept


def job_defaults() -> tuple[int, int]:
    """The text job's default batch size and dedup buckets."""
    from babelshard.pipelines.text.config import StreamJobBase

    fields = StreamJobBase.model_fields
    return fields["batch_size"].default, fields["dedup_buckets"].default


def count_records(batch: list) -> int:
    return len(batch)


def beam_lid_dedup(paths: dict[str, str], lid, result_path: str) -> None:
    """One DirectRunner pipeline, one worker: per language read -> dedup -> LID + check, the text
    job's transforms in its order with its default batching; counts what is kept. With
    ``lid=None`` only the read: the cost of reading in Beam."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from babelshard.pipelines.text.beam import DedupExact, language_id_stage, read_source
    from babelshard.pipelines.text.clean import check_text_languages, text_dedup_key
    from babelshard.pipelines.text.config import Cc100Source
    from babelshard.pipelines.text.readers import read_cc100
    from babelshard.records import TextSample

    batch_size, buckets = job_defaults()
    options = PipelineOptions([], direct_num_workers=1, direct_running_mode="in_memory")
    with beam.Pipeline(options=options) as pipeline:
        counts = []
        for language, path in sorted(paths.items()):
            source = Cc100Source(name=f"bench-{language}", format="cc100", language=language, paths=[path])
            kept = (pipeline | f"Read[{language}]" >> read_source(source, read_cc100, batch_size=batch_size)).main
            if lid is not None:
                unique = kept | f"Dedup[{language}]" >> DedupExact("text", text_dedup_key, TextSample, buckets, batch_size)
                kept = (unique.main | f"LID[{language}]" >> language_id_stage("lid", lid, check_text_languages, "text")).main
            counts.append(kept | f"Count[{language}]" >> beam.Map(count_records))
        _ = counts | beam.Flatten() | beam.CombineGlobally(sum) | beam.Map(_write_number, result_path)


def _write_number(number: int, path: str) -> None:
    with open(path, "w") as handle:
        handle.write(str(number))


THROUGHPUT_PATHS = ("loop", "reading-loop", "functions", "beam", "beam-read")


def read_records(paths: dict[str, str]) -> list:
    from babelshard.pipelines.text.config import Cc100Source
    from babelshard.pipelines.text.readers import read_cc100

    records = []
    for language, path in paths.items():
        with lzma.open(path, "rb") as handle:
            source = Cc100Source(name=f"bench-{language}", format="cc100", language=language, paths=[path])
            records.extend(read_cc100(handle, source, os.path.basename(path)))
    return records


def measure_path(args) -> dict:
    """Runs in a fresh child process: one path over the files in ``args.folder``, timed
    ``args.repeat`` times; the model load and the in-memory lines are set up untimed."""
    from babelshard.langid import LanguageIdConfig, load_lid_model

    paths = {language: os.path.join(args.folder, f"{language}.txt.xz") for language in FORTUNES}
    lid = LanguageIdConfig(model_path=args.lid_model, min_score=0.5)
    model = load_lid_model(args.lid_model)
    count_file = os.path.join(args.folder, f"{args.path}.count")
    if args.path == "loop":
        lines = [record.text for record in read_records(paths)]
        work = partial(plain_loop, model, lines)
    elif args.path == "reading-loop":
        work = partial(plain_reading_loop, model, paths)
    elif args.path == "functions":
        work = partial(plain_functions, model, read_records(paths), lid)
    else:
        work = partial(beam_count, paths, lid if args.path == "beam" else None, count_file)
    count, wall, cpu = timed(work, args.repeat)
    return {"count": count, "cpu": cpu, "wall": wall}


def beam_count(paths: dict[str, str], lid, count_file: str) -> int:
    beam_lid_dedup(paths, lid, count_file)
    with open(count_file) as handle:
        return int(handle.read())


def run_path(path: str, folder: str, args) -> dict:
    command = [sys.executable, __file__, "throughput-child", "--path", path, "--folder", folder,
               "--repeat", str(args.repeat), "--lid-model", args.lid_model or ""]
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def throughput(args) -> dict:
    generated = generate_lines(args.lines, copy_every=args.copy_every)
    lines = sum(len(per_language) for per_language in generated.values())
    distinct = len({line for per_language in generated.values() for line in per_language})
    with tempfile.TemporaryDirectory() as tmp:
        write_cc100(tmp, generated)
        del generated
        runs = {path: run_path(path, tmp, args) for path in THROUGHPUT_PATHS}
    assert runs["loop"]["count"] == runs["reading-loop"]["count"] == runs["beam-read"]["count"] == lines, runs
    assert runs["beam"]["count"] == runs["functions"]["count"], runs
    cpu = {path: run["cpu"] for path, run in runs.items()}
    return {
        "lines": lines,
        "distinct_lines": distinct,
        "kept": runs["beam"]["count"],
        "plain_predict_loop_per_cpu_s": round(lines / cpu["loop"]),
        "plain_reading_loop_per_cpu_s": round(lines / cpu["reading-loop"]),
        "lid_dedup_functions_per_cpu_s": round(lines / cpu["functions"]),
        "lid_dedup_beam_per_cpu_s": round(lines / cpu["beam"]),
        "lid_dedup_beam_per_wall_s": round(lines / runs["beam"]["wall"]),
        "beam_read_only_per_cpu_s": round(lines / cpu["beam-read"]),
        "ratio_functions_vs_loop": round(cpu["loop"] / cpu["functions"], 2),
        "ratio_beam_vs_loop": round(cpu["loop"] / cpu["beam"], 2),
        "ratio_beam_lid_dedup_without_read_vs_loop": round(cpu["loop"] / (cpu["beam"] - cpu["beam-read"]), 2),
        "ratio_beam_vs_reading_loop": round(cpu["reading-loop"] / cpu["beam"], 2),
    }


def memory_child(args) -> None:
    """Runs in a child process: a full text job over the generated files."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from babelshard.configbase import parse_config
    from babelshard.pipelines.jobs.config import JobConfig
    from babelshard.pipelines.jobs.text import add_text_streams

    sources = [
        {"name": f"gen-{lang}", "format": "cc100", "language": lang, "paths": [os.path.join(args.folder, f"{lang}.txt.xz")]}
        for lang in FORTUNES
    ]
    cfg = parse_config(JobConfig, {
        "output": {"folder": os.path.join(args.folder, "out"), "samples_per_shard": 20000},
        "text": {"sources": sources, "lid": {"model_path": args.lid_model}, "clean": {"split_sentences": False}},
    })
    options = PipelineOptions([], direct_num_workers=1, direct_running_mode="in_memory")
    with beam.Pipeline(options=options) as pipeline:
        add_text_streams(pipeline, cfg)


def memory(args) -> dict:
    from babelshard.shards.index import read_index

    generated = generate_lines(args.lines)
    with tempfile.TemporaryDirectory() as tmp:
        write_cc100(tmp, generated)
        del generated
        command = [sys.executable, __file__, "memory-child", "--folder", tmp, "--lid-model", args.lid_model or ""]
        started = time.perf_counter()
        subprocess.run(command, check=True)
        wall = time.perf_counter() - started
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        samples = sum(read_index(os.path.join(tmp, "out", "text", lang)).samples for lang in FORTUNES)
        stats = [json.load(open(os.path.join(tmp, "out", "text", lang, "stats.json"))) for lang in FORTUNES]
    return {
        "lines": args.lines,
        "inputs_counted": sum(s["inputs"] for s in stats),
        "samples": samples,
        "dropped": sum(s["dropped"] for s in stats),
        "peak_rss_mib": round(peak_kib / 1024),
        "wall_s": round(wall, 1),
        "lines_per_wall_s": round(args.lines / wall),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["throughput", "throughput-child", "memory", "memory-child"])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3, help="throughput: keep the fastest of this many runs")
    parser.add_argument("--copy-every", type=int, default=10, help="one line in this many repeats an earlier one (0: none)")
    parser.add_argument("--lid-model", default=None, help="lid.176.ftz (default: babelshard's cache)")
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--path", choices=THROUGHPUT_PATHS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.lid_model = args.lid_model or None
    if args.mode == "memory-child":
        memory_child(args)
        return
    if args.mode == "throughput-child":
        print(json.dumps(measure_path(args)))
        return
    report = throughput(args) if args.mode == "throughput" else memory(args)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
