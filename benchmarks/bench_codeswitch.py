"""Code-switch transform throughput (captions/s on one core) and lexicon memory.

The lexicon is FreeDict eng-deu from Debian (``dict-freedict-eng-deu``, ~640k pairs
after filtering); the captions are the English usage examples in that dictionary
(real sentences of 8-16 words, like COCO captions). The process is pinned to one CPU and timed in thread CPU
time, so the figure is what one core does even when other work shares the machine;
each setting's best of ``--repeats`` passes is reported (as ``timeit`` does).

    .venv/bin/python benchmarks/bench_codeswitch.py --repeats 5
    .venv/bin/python benchmarks/bench_codeswitch.py --repeats 5 --diverse   # also captions that never repeat
"""
from __future__ import annotations

import argparse
import gc
import glob
import json
import os
import re
import time

from babelshard.codeswitch.lexicons.dictd import dict_path_for, read_dict_text
from babelshard.codeswitch.lexfile import pairs_to_table, read_lexicon, write_lexicon
from babelshard.codeswitch.lexicon import Lexicon, LexiconBuild
from babelshard.codeswitch.transform import SwitchParams, code_switch, code_switch_variants, coverage
from babelshard.textnorm import tokenize_words

SETTINGS = {
    "M3P: sent 1.0, β 0.5, per word, uniform": SwitchParams(sent_ratio=1.0, word_ratio=0.5),
    "β 0.3": SwitchParams(sent_ratio=1.0, word_ratio=0.3),
    "one language per caption, by score": SwitchParams(word_ratio=0.5, language_mode="per_caption", translation_choice="score"),
    "sent 0.5, β 0.5": SwitchParams(sent_ratio=0.5, word_ratio=0.5),
}


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def lexicon_table(index: str, cache: str):
    if os.path.exists(cache):
        return read_lexicon(cache), None
    from babelshard.codeswitch.lexicons.freedict import import_freedict

    start = time.perf_counter()
    pairs = import_freedict(index)
    seconds = time.perf_counter() - start
    table = pairs_to_table(pairs)
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    write_lexicon(table, cache)
    return table, seconds


def lexicon_heap_bytes(table) -> int:
    """Python heap a second build keeps (tracemalloc): the lexicon alone, without the
    allocator's retained build garbage that the RSS figure includes."""
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    lexicon = Lexicon.from_table(table, LexiconBuild())
    gc.collect()
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del lexicon
    return size


def distinct_examples(index: str) -> list[str]:
    """The distinct English usage examples of 8-16 words in one FreeDict dictionary."""
    text = read_dict_text(dict_path_for(index)).decode("utf-8", errors="replace")
    return list(dict.fromkeys(m for m in re.findall(r'^\s+"([^"]+)"\s+-', text, re.M) if 8 <= len(m.split()) <= 16))


def example_sentences(index: str, count: int) -> list[str]:
    sentences = distinct_examples(index)
    return (sentences * (count // max(len(sentences), 1) + 1))[:count]


def diverse_sentences(index: str, fortunes: str = "/usr/share/games/fortunes") -> list[str]:
    """Captions that never repeat: the distinct 8-16-word English sentences of the fortune
    files (fastText says English, p >= 0.8; Debian installs Italian ones beside them) and of
    every installed ``freedict-eng-*`` dictionary's examples."""
    from babelshard.langid import load_lid_model, predict_languages
    from babelshard.pipelines.text.clean import split_sentences
    from babelshard.textnorm import clean_text

    found: dict[str, None] = {}
    for path in sorted(glob.glob(os.path.join(fortunes, "*"))):
        if os.path.isfile(path) and "." not in os.path.basename(path):
            with open(path, encoding="utf-8", errors="replace") as handle:
                for fortune in handle.read().split("\n%\n"):
                    found.update(dict.fromkeys(s for s in split_sentences(clean_text(fortune)) if 8 <= len(s.split()) <= 16))
    sentences = list(found)
    english = [lang == "en" and p >= 0.8 for lang, p in predict_languages(load_lid_model(), sentences)]
    found = dict.fromkeys(s for s, keep in zip(sentences, english) if keep)
    for path in sorted(glob.glob(os.path.join(os.path.dirname(index), "freedict-eng-*.index"))):
        found.update(dict.fromkeys(distinct_examples(path)))
    return list(found)


def python_loop_us() -> float:
    """CPU time of a plain 1000-step Python loop: scales the figures to another machine."""
    def loop() -> int:
        total = 0
        for i in range(1000):
            total += i
        return total

    best = float("inf")
    for _ in range(20):
        start = time.thread_time()
        for _ in range(1000):
            loop()
        best = min(best, time.thread_time() - start)
    return best / 1000 * 1e6


def throughput(captions: list[str], lexicon: Lexicon, params: SwitchParams, repeats: int, variants: int = 1) -> float:
    """Captions per CPU-second of this thread: what one core does, whatever else runs on the machine."""
    keys = [f"bench-{i}" for i in range(len(captions))]
    best = float("inf")
    for _ in range(repeats):
        start = time.thread_time()
        if variants == 1:
            for text, key in zip(captions, keys):
                code_switch(text, key, 0, lexicon, params)
        else:
            for text, key in zip(captions, keys):
                code_switch_variants(text, key, variants, lexicon, params)
        best = min(best, time.thread_time() - start)
    return len(captions) / best


def diverse_figures(index: str, lexicon: Lexicon, repeats: int) -> dict:
    """M3P's setting on captions that repeat no sentence; run first, while the lexicon's words cache is empty."""
    captions = diverse_sentences(index)
    params = SETTINGS["M3P: sent 1.0, β 0.5, per word, uniform"]
    cold = throughput(captions, lexicon, params, 1)
    return {
        "captions": len(captions),
        "distinct_words": len({w.casefold() for text in captions for w in tokenize_words(text)}),
        "m3p_first_pass": round(cold),
        "m3p_later_passes": round(throughput(captions, lexicon, params, repeats)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", default="/usr/share/dictd/freedict-eng-deu.index")
    parser.add_argument("--cache", default=os.path.expanduser("~/.cache/babelshard/bench/freedict-eng-deu.parquet"))
    parser.add_argument("--captions", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--diverse", action="store_true",
                        help="also time M3P's setting on captions that never repeat (English fortunes and FreeDict "
                             "examples, each once): the first pass (the words cache cold) and the best of --repeats later passes")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    table, import_seconds = lexicon_table(args.index, args.cache)
    gc.collect()
    before, start, cpu = rss_bytes(), time.perf_counter(), time.thread_time()
    lexicon = Lexicon.from_table(table, LexiconBuild())
    build_seconds, build_cpu = time.perf_counter() - start, time.thread_time() - cpu
    gc.collect()
    memory = rss_bytes() - before
    heap = lexicon_heap_bytes(table)
    del table
    diverse = diverse_figures(args.index, lexicon, args.repeats) if args.diverse else None
    captions = example_sentences(args.index, args.captions)
    words = sum(coverage(text, lexicon)[0] for text in captions)
    covered = sum(coverage(text, lexicon)[1].get("de", 0) for text in captions)
    figures = {
        "lexicon_pairs": lexicon.pair_count, "lexicon_terms": len(lexicon), "lexicon_rss_mib": round(memory / 2**20, 1),
        "lexicon_heap_mib": round(heap / 2**20, 1),
        "build_seconds": round(build_seconds, 1), "build_cpu_seconds": round(build_cpu, 1), "import_seconds": None if import_seconds is None else round(import_seconds, 1),
        "python_loop_1000_us": round(python_loop_us(), 1),
        "captions": len(captions), "words_per_caption": round(words / len(captions), 2), "coverage_de": round(covered / words, 3),
        "captions_per_second": {name: round(throughput(captions, lexicon, params, args.repeats)) for name, params in SETTINGS.items()},
    }
    figures["captions_per_second"]["M3P, K=3 variants per caption"] = round(
        throughput(captions, lexicon, SETTINGS["M3P: sent 1.0, β 0.5, per word, uniform"], args.repeats, variants=3))
    if diverse:
        figures["diverse"] = diverse
    print(json.dumps(figures, ensure_ascii=False, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(figures, handle, ensure_ascii=False, indent=2)


if __name__ == "__main__":
    main()
