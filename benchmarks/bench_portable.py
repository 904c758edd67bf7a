"""DirectRunner against Beam's portable runner protocol: wall time per job kind, same bytes.

Starts Beam's job service and an external SDK worker pool on loopback (as the test tier
does), renders OpenMoji images behind a loopback HTTP server, and runs each job kind
twice into fresh folders, first with the DirectRunner (in-memory), then with
``--runner=PortableRunner --environment_type=EXTERNAL``; every output file is compared
by sha256. Portable times include the job submission and the start of the job's SDK
worker process.

    .venv/bin/python benchmarks/bench_portable.py --emoji 400 --per-shard 100
"""
from __future__ import annotations

import argparse
import json
import lzma
import os
import shutil
import tempfile
import time
from contextlib import contextmanager

from babelshard.configbase import parse_config
from babelshard.pipelines.demo.httpserver import serve_folder
from babelshard.pipelines.demo.openmoji import CAPTIONS, pick_emoji, render_openmoji, write_captions
from babelshard.pipelines.jobs.config import JobConfig
from babelshard.pipelines.jobs.run import run_job
from babelshard.pipelines.jobs.translate import run_translate
from babelshard.pipelines.jobs.vocab import MANIFEST, build_vocab
from babelshard.testing import PortableServices, django_catalogues, folder_digests, read_fortunes
from babelshard.vocab.config import VocabConfig
from babelshard.langid import ensure_lid_model

LANGUAGES = ("de", "ja", "ar", "ko")
FORTUNES = {"de": "de/zitate", "it": "it/definizioni", "es": "es/refranes.fortunes"}


def caption_section(captions: str) -> dict:
    source = {"name": "moji", "format": "jsonl", "path": captions, "key_column": "key",
              "language_columns": {lang: f"caption_{lang}" for lang in LANGUAGES}}
    download = {"thread_count": 8, "allow_loopback": True, "per_host_rate": 0.0, "image": {"image_size": 48}}
    return {"sources": [source], "cleaning": {"min_chars": 1}, "download": download}


def translation(lid: str) -> dict:
    return {"targets": {"es": "apertium", "ca": "apertium"}, "engines": {"apertium": {"kind": "apertium"}},
            "when_human_exists": "translate", "outputs": {"captions": True, "parallel": True},
            "filters": {"length_ratio_min_chars": 20, "lid_min_words": 4, "lid_model_path": lid}}


def write_text_inputs(root: str) -> dict[str, str]:
    paths = {}
    for lang, name in FORTUNES.items():
        body = "".join(f"{p}\n" for p in read_fortunes(os.path.join("/usr/share/games/fortunes", name)))
        paths[lang] = os.path.join(root, f"{lang}.txt.xz")
        with open(paths[lang], "wb") as handle:
            handle.write(lzma.compress(body.encode("utf-8")))
    django = django_catalogues(root)
    paths["po"] = os.path.join(django, "conf", "locale", "*", "LC_MESSAGES", "django.po")
    return paths


def job_configs(captions: str, text: dict[str, str], per_shard: int, lid: str):
    """job kind -> function(output) -> JobConfig."""
    def job(name: str, **sections):
        return lambda output: parse_config(JobConfig, {"name": name, "output": {"folder": output, "samples_per_shard": per_shard},
                                                       **sections})

    codeswitch = {"lexicons": [{"format": "cldr"}, {"format": "freedict", "optional": True,
                                                     "path": "/usr/share/dictd/freedict-eng-fra.index"}],
                  "variants": 2, "sent_ratio": 1.0}
    text_section = {"sources": [{"name": f"fortunes-{lang}", "format": "cc100", "language": lang, "paths": [path]}
                                for lang, path in text.items() if lang != "po"], "lid": {"model_path": lid}}
    parallel = {"sources": [{"name": f"django-{lang}", "format": "po", "target_language": lang,
                             "paths": [text["po"].replace("*", lang)]} for lang in ("de", "fr", "es")],
                "lid": {"model_path": lid}}
    return {
        "caption": job("bench", captions=caption_section(captions)),
        "caption+translate+codeswitch": job("bench", captions=caption_section(captions), translate=translation(lid),
                                            codeswitch=codeswitch),
        "text+parallel": job("bench", text=text_section, parallel=parallel),
    }


@contextmanager
def timed(times: list):
    start = time.perf_counter()
    yield
    times.append(time.perf_counter() - start)


def compare(direct: str, portable: str, skip: frozenset = frozenset()) -> tuple[int, bool]:
    left, right = folder_digests(direct), folder_digests(portable)
    left = {name: digest for name, digest in left.items() if name not in skip}
    right = {name: digest for name, digest in right.items() if name not in skip}
    return len(left), left == right


def run_all(work: str, emoji: int, per_shard: int) -> list[dict]:
    lid = str(ensure_lid_model())
    source = os.path.join(work, "openmoji")
    chosen = pick_emoji(emoji, ["en", *LANGUAGES])
    render_openmoji(source, chosen, 72)
    text = write_text_inputs(work)
    rows = []
    started = time.perf_counter()
    services = PortableServices(os.path.join(work, "services")).start()
    rows.append({"job": "(job service and worker pool start)", "portable_s": round(time.perf_counter() - started, 1)})
    try:
        with serve_folder(source) as base_url:
            write_captions(os.path.join(source, CAPTIONS), chosen, base_url)
            configs = job_configs(os.path.join(source, CAPTIONS), text, per_shard, lid)
            for kind, make in configs.items():
                rows.append(run_pair(kind, lambda out, flags, make=make: run_job(make(out), flags), work, services))
            caption_input = os.path.join(work, "caption-direct", "caption")
            translate = configs["caption+translate+codeswitch"](os.path.join(work, "unused"))
            rows.append(run_pair("babelshard translate", lambda out, flags: run_translate(
                translate.model_copy(update={"codeswitch": None}), caption_input, out, flags), work, services))
            rows.append(run_pair("vocab", lambda out, flags: build_vocab(vocab_config(work, out, flags, services)),
                                 work, services, skip=frozenset({MANIFEST})))
    finally:
        services.stop()
    return rows


def vocab_config(work: str, output: str, flags: list, services: PortableServices) -> VocabConfig:
    beam = {"runner": "PortableRunner", "options": services.runner_options()} if flags else {}
    return parse_config(VocabConfig, {
        "captions": [os.path.join(work, "caption-direct", "caption")], "text": [os.path.join(work, "text+parallel-direct", "text")],
        "output": output, "sentencepiece": {"vocab_size": 2000}, "fasttext": {"dim": 32, "epoch": 2, "min_count": 2},
        "beam": beam,
    })


def run_pair(kind: str, run, work: str, services: PortableServices, skip: frozenset = frozenset()) -> dict:
    times: list[float] = []
    outputs = [os.path.join(work, f"{kind}-direct"), os.path.join(work, f"{kind}-portable")]
    for output, flags in zip(outputs, ([], services.runner_flags())):
        with timed(times):
            run(output, flags)
    files, same = compare(*outputs, skip)
    row = {"job": kind, "files": files, "identical": same, "direct_s": round(times[0], 1), "portable_s": round(times[1], 1)}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emoji", type=int, default=400)
    parser.add_argument("--per-shard", type=int, default=100)
    parser.add_argument("--work", default=None, help="working folder (default: a fresh temporary one, removed after)")
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="bench-portable-")
    try:
        rows = run_all(work, args.emoji, args.per_shard)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{'job':<34}{'files':>6}{'identical':>10}{'direct s':>10}{'portable s':>12}")
    for row in rows:
        print(f"{row['job']:<34}{row.get('files', ''):>6}{str(row.get('identical', '')):>10}"
              f"{row.get('direct_s', ''):>10}{row['portable_s']:>12}")


if __name__ == "__main__":
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    main()
