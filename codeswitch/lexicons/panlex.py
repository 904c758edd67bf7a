"""PanLex CSV dump (``panlex-YYYYMMDD-csv.zip``) -> English->L lexicon, in bounded memory.

Tables used (by column name): ``langvar(id, lang_code, var_code)``,
``source(id, quality)``, ``meaning(id, source)``, ``expr(id, langvar, txt)``,
``denotation(meaning, expr)``. An English->L pair is two expressions that denote
one meaning (expr -> denotation -> meaning <- denotation <- expr); its score sums the
quality of the distinct sources whose meanings give it. Varieties map to ISO 639-1
(or 639-3) codes, so ``deu-000`` and ``deu-001`` are both ``de``; varieties with
codes that name no language are counted skips. The ``top_languages`` largest target
languages (by pairs) are kept, or an explicit list.

Streaming: every CSV is read in blocks straight out of the zip. Memory holds two
dense id arrays (2 bytes per expression, 4 per meaning) and one spill partition at a
time; the joins run partition by partition over Arrow files in a temporary folder
(``partitions`` of them, each about 1/partitions of the English-linked dump).

Counting: ``inputs`` are (term pair, source) links; each ends as a pair (``outputs``),
a counted skip (``drops``) or merged into a pair another link gave
(``counters["merged_links"]``). Two drop reasons count other things: CSV rows that
do not parse (``malformed_row/<table>``) and varieties whose code names no language
(``unknown_language_variety``); their expressions never become links.
"""
from __future__ import annotations

import tempfile
import zlib
import zipfile
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from babelshard import fs
from babelshard.codeswitch.languages import normalize_language, try_normalize_language
from babelshard.codeswitch.lexfile import LEXICON_SCHEMA, LexiconError, LexiconWriter, aggregate_pairs
from babelshard.codeswitch.lexicons.senses import term_problem
from babelshard.codeswitch.lexicons.spill import DenseLookup, Partitions
from babelshard.stats import StageStats

STAGE = "panlex"
TABLES = {
    "langvar": ("id", "lang_code", "var_code"),
    "source": ("id", "quality"),
    "meaning": ("id", "source"),
    "expr": ("id", "langvar", "txt"),
    "denotation": ("meaning", "expr"),
}
_TEXT = pa.schema([("id", pa.int64()), ("txt", pa.string())])
_DENOTATION = pa.schema([("meaning", pa.int64()), ("expr", pa.int64()), ("lang", pa.int16())])
_LINK = pa.schema([("src", pa.int64()), ("tgt", pa.int64()), ("lang", pa.int16()), ("source", pa.int32())])
_NAMED = pa.schema([("src", pa.int64()), ("lang", pa.int16()), ("source", pa.int32()), ("target_term", pa.string())])
_TERMS = pa.schema([("source_term", pa.string()), ("target_language", pa.string()), ("target_term", pa.string()), ("source", pa.int32())])


@dataclass(frozen=True)
class PanlexOptions:
    source_language: str = "en"
    top_languages: int = 50
    languages: tuple[str, ...] | None = None  # explicit target languages instead of the top N
    source_varieties: tuple[str, ...] | None = None  # e.g. ("eng-000",); default: every variety of the source language
    max_words: int = 4
    partitions: int = 64
    block_size: int = 1 << 22


class PanlexDump:
    """The five tables of a dump zip, read in blocks by column name."""

    def __init__(self, path: str, block_size: int, stats: StageStats):
        try:
            self.zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"PanLex dump not found: {path}") from None
        except zipfile.BadZipFile:
            raise LexiconError(f"{path}: not a zip file (expected panlex-YYYYMMDD-csv.zip)") from None
        self.path, self.block_size, self.stats = path, block_size, stats
        members = {info.filename.rsplit("/", 1)[-1]: info for info in self.zip.infolist()}
        missing = [name for name in TABLES if f"{name}.csv" not in members]
        if missing:
            raise LexiconError(f"{path}: not a PanLex CSV dump, missing tables {missing}")
        self.members = {name: members[f"{name}.csv"] for name in TABLES}

    def blocks(self, name: str, types: dict[str, pa.DataType]):
        def skip_row(row) -> str:
            self.stats.drop(STAGE, f"malformed_row/{name}")
            return "skip"

        options = pacsv.ConvertOptions(include_columns=list(TABLES[name]), column_types=types, strings_can_be_null=False)
        parse = pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=skip_row)
        try:
            reader = pacsv.open_csv(self.zip.open(self.members[name]), read_options=pacsv.ReadOptions(block_size=self.block_size),
                                    parse_options=parse, convert_options=options)
            for batch in reader:
                yield batch
        except (pa.ArrowInvalid, KeyError) as error:
            raise LexiconError(f"{self.path}: table {name}: {error}") from None

    def table(self, name: str, types: dict[str, pa.DataType]) -> pa.Table:
        batches = list(self.blocks(name, types))
        return pa.Table.from_batches(batches) if batches else pa.schema(list(types.items())).empty_table()


def _language_index(dump: PanlexDump, options: PanlexOptions, stats: StageStats) -> tuple[list[str], DenseLookup]:
    """Languages (index 0 = source) and a variety id -> language index lookup (-1: not used)."""
    table = dump.table("langvar", {"id": pa.int64(), "lang_code": pa.string(), "var_code": pa.string()})
    source = normalize_language(options.source_language)
    wanted_source = {v.lower() for v in options.source_varieties} if options.source_varieties else None
    languages, index = [source], {source: 0}
    ids, values = [], []
    for lvid, code, var in zip(*(table[c].to_pylist() for c in ("id", "lang_code", "var_code"))):
        lang = try_normalize_language(code)
        if lang is None:
            stats.drop(STAGE, "unknown_language_variety")
            continue
        uid = f"{code}-{int(var):03d}" if str(var).isdigit() else f"{code}-{var}"
        if lang == source and wanted_source is not None and uid.lower() not in wanted_source:
            continue
        if lang not in index:
            index[lang] = len(languages)
            languages.append(lang)
        ids.append(lvid)
        values.append(index[lang])
    if len(languages) > np.iinfo(np.int16).max:
        raise LexiconError(f"{dump.path}: more languages than this importer indexes")
    lookup = DenseLookup(np.int16, -1)
    lookup.set(np.array(ids, dtype=np.int64), np.array(values, dtype=np.int16))
    return languages, lookup


def _meaning_sources(dump: PanlexDump) -> DenseLookup:
    lookup = DenseLookup(np.int32, -1)
    for batch in dump.blocks("meaning", {"id": pa.int64(), "source": pa.int32()}):
        lookup.set(batch["id"].to_numpy(), batch["source"].to_numpy())
    return lookup


def _source_quality(dump: PanlexDump) -> DenseLookup:
    table = dump.table("source", {"id": pa.int64(), "quality": pa.float64()})
    lookup = DenseLookup(np.float32, 0)
    quality = pc.fill_null(table["quality"], 0).to_numpy()
    lookup.set(table["id"].to_numpy(), np.clip(quality, 0, None).astype(np.float32))
    return lookup


def _spill_expressions(dump: PanlexDump, varieties: DenseLookup, texts: Partitions) -> DenseLookup:
    """Expression id -> language index; the texts of used expressions go to ``texts``."""
    expr_lang = DenseLookup(np.int16, -1)
    for batch in dump.blocks("expr", {"id": pa.int64(), "langvar": pa.int64(), "txt": pa.string()}):
        ids = batch["id"].to_numpy()
        lang = varieties.get(batch["langvar"].to_numpy())
        keep = lang >= 0
        expr_lang.set(ids[keep], lang[keep])
        kept = pa.table({"id": batch["id"], "txt": batch["txt"]}).filter(pa.array(keep))
        texts.write(kept, ids[keep] % texts.count)
    return expr_lang


def _spill_denotations(dump: PanlexDump, expr_lang: DenseLookup, out: Partitions) -> None:
    for batch in dump.blocks("denotation", {"meaning": pa.int64(), "expr": pa.int64()}):
        meaning, expr = batch["meaning"].to_numpy(), batch["expr"].to_numpy()
        lang = expr_lang.get(expr)
        keep = lang >= 0
        table = pa.table({"meaning": meaning[keep], "expr": expr[keep], "lang": lang[keep]})
        out.write(table, meaning[keep] % out.count)


def _link_partition(table: pa.Table, meaning_source: DenseLookup, out: Partitions, stats: StageStats) -> None:
    """English x other-language denotations of the same meaning -> distinct (src, tgt, lang, source)."""
    is_source = pc.equal(table["lang"], 0)
    src = table.filter(is_source).select(["meaning", "expr"]).rename_columns(["meaning", "src"])
    tgt = table.filter(pc.invert(is_source)).rename_columns(["meaning", "tgt", "lang"])
    if src.num_rows == 0 or tgt.num_rows == 0:
        return
    joined = src.join(tgt, keys="meaning", join_type="inner", use_threads=False)
    sources = meaning_source.get(joined["meaning"].to_numpy())
    if (sources < 0).any():  # links that can never be scored: inputs that end as drops here
        orphans = int((sources < 0).sum())
        stats.inputs += orphans
        stats.drop(STAGE, "meaning_without_source", orphans)
    links = pa.table({"src": joined["src"], "tgt": joined["tgt"], "lang": joined["lang"], "source": sources})
    links = links.filter(pa.array(sources >= 0)).group_by(["src", "tgt", "lang", "source"], use_threads=False).aggregate([])
    out.write(links, links["tgt"].to_numpy() % out.count)


def _target_partition(links: pa.Table, texts: pa.Table, out: Partitions) -> None:
    """Distinct (src, tgt, lang, source) links with the target text attached."""
    links = links.group_by(["src", "tgt", "lang", "source"], use_threads=False).aggregate([])
    named = links.join(texts, keys="tgt", right_keys="id", join_type="inner", use_threads=False)
    named = named.select(["src", "lang", "source", "txt"]).rename_columns(_NAMED.names)
    out.write(named, named["src"].to_numpy() % out.count)


def _source_partition(named: pa.Table, texts: pa.Table, languages: list[str], max_words: int,
                      out: Partitions, counts: np.ndarray, stats: StageStats) -> None:
    """Source text attached; unusable terms counted; partitioned by the source text."""
    joined = named.join(texts, keys="src", right_keys="id", join_type="inner", use_threads=False)
    rows: dict[str, list] = {name: [] for name in _TERMS.names}
    parts = []
    for src, lang, tgt, source in zip(*(joined[c].to_pylist() for c in ("txt", "lang", "target_term", "source"))):
        stats.inputs += 1
        problem = term_problem(src, max_words) or term_problem(tgt, max_words)
        if problem:
            stats.drop(STAGE, problem)
            continue
        counts[lang] += 1
        for name, value in zip(_TERMS.names, (src, languages[lang], tgt, source)):
            rows[name].append(value)
        parts.append(zlib.crc32(src.encode("utf-8")) % out.count)
    out.write(pa.table(rows, schema=_TERMS), np.array(parts, dtype=np.int64))


def _scored_terms(table: pa.Table, source_language: str, quality: DenseLookup, stats: StageStats) -> pa.Table:
    """Score = quality summed over the distinct sources of a pair (varieties of one language merged)."""
    keys = ["source_term", "target_language", "target_term"]
    distinct = table.group_by(keys + ["source"], use_threads=False).aggregate([])
    distinct = distinct.append_column("score", pa.array(quality.get(distinct["source"].to_numpy()).astype(np.float64)))
    scored = distinct.group_by(keys, use_threads=False).aggregate([("score", "sum")])
    # links that joined a pair already given by another source, variety or meaning
    stats.counters["merged_links"] += table.num_rows - scored.num_rows
    n = scored.num_rows
    return pa.table({
        "source_language": pa.array([source_language] * n, pa.string()),
        "source_term": scored["source_term"], "target_language": scored["target_language"],
        "target_term": scored["target_term"], "score": scored["score_sum"],
        "origin": pa.array([STAGE] * n, pa.string()),
    }, schema=LEXICON_SCHEMA)


def choose_languages(languages: list[str], counts: np.ndarray, options: PanlexOptions) -> list[str]:
    """The explicit list, or the ``top_languages`` target languages with most pairs (ties by code)."""
    if options.languages:
        return sorted({normalize_language(lang) for lang in options.languages})
    ranked = sorted(((-int(counts[i]), languages[i]) for i in range(1, len(languages)) if counts[i] > 0))
    return sorted(lang for _, lang in ranked[: options.top_languages])


def import_panlex(path: str, output: str, options: PanlexOptions = PanlexOptions(), stats: StageStats | None = None) -> list[str]:
    """Stream the dump into a lexicon parquet at ``output``; returns the target languages kept."""
    stats = stats if stats is not None else StageStats()
    dump = PanlexDump(path, options.block_size, stats)
    k = options.partitions
    with tempfile.TemporaryDirectory(prefix="babelshard-panlex-") as tmp:
        languages, varieties = _language_index(dump, options, stats)
        quality, meaning_source = _source_quality(dump), _meaning_sources(dump)
        texts = Partitions(tmp, "text", _TEXT, k)
        expr_lang = _spill_expressions(dump, varieties, texts)
        texts.close()
        denotations = Partitions(tmp, "denotation", _DENOTATION, k)
        _spill_denotations(dump, expr_lang, denotations)
        denotations.close()
        del expr_lang
        links = Partitions(tmp, "link", _LINK, k)
        for part in range(k):
            _link_partition(denotations.read(part), meaning_source, links, stats)
            denotations.remove(part)
        links.close()
        counts = np.zeros(len(languages), dtype=np.int64)
        named, terms = Partitions(tmp, "named", _NAMED, k), Partitions(tmp, "terms", _TERMS, k)
        for part in range(k):
            _target_partition(links.read(part), texts.read(part), named)
            links.remove(part)
        named.close()
        for part in range(k):
            _source_partition(named.read(part), texts.read(part), languages, options.max_words, terms, counts, stats)
            named.remove(part)
        terms.close()
        kept = choose_languages(languages, counts, options)
        _write_final(terms, kept, output, languages[0], quality, stats)
    return kept


def _write_final(terms: Partitions, kept: list[str], output: str, source_language: str, quality: DenseLookup,
                 stats: StageStats) -> None:
    writer = LexiconWriter(output)
    wanted = pa.array(kept, pa.string())
    for part in range(terms.count):
        table = terms.read(part)
        selected = table.filter(pc.is_in(table["target_language"], wanted))
        if table.num_rows > selected.num_rows:
            stats.drop(STAGE, "language_not_selected", table.num_rows - selected.num_rows)
        writer.write(aggregate_pairs(_scored_terms(selected, source_language, quality, stats)))
    stats.outputs += writer.rows
    writer.close(stats)
    if writer.rows == 0:
        fs_, path = fs.filesystem(output)
        fs_.rm(path)
        raise LexiconError(f"no English->{kept or 'any language'} pairs in the dump (skips: {stats.as_json()['drops']})")
