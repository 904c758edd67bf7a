"""Helpers for tests and examples: a PanLex-layout CSV dump zip built from known pairs.

The real dump is several GB; tests build a small one in the same table layout (the
same table and column names, extra columns included) from real dictionary pairs, so
the importer is exercised on the real format and its output can be checked against
the pairs that went in.
"""
from __future__ import annotations

import csv
import io
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field

# Column layouts of the PanLex CSV dump; the importer reads only some of them by name.
LAYOUT = {
    "langvar": ["id", "lang_code", "var_code", "mutable", "name_expr", "script_expr", "meaning", "region_expr", "uid_expr", "grp"],
    "source": ["id", "reg_date", "label", "url", "isbn", "author", "title", "publisher", "year", "quality", "grp", "note",
               "license", "ip_claim", "ip_claimant", "ip_claimant_email"],
    "meaning": ["id", "source"],
    "expr": ["id", "langvar", "txt", "txt_degr"],
    "denotation": ["id", "meaning", "expr"],
}


@dataclass
class PanlexSource:
    """One dictionary of the dump: its quality and its (eng term, target variety uid, target term) triples."""

    label: str
    quality: int
    pairs: list[tuple[str, str, str]] = field(default_factory=list)
    english_variety: str = "eng-000"


def _csv_bytes(header: list[str], rows: list[list]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def build_panlex_zip(path: str, sources: list[PanlexSource], folder: str = "panlex-20240101-csv") -> None:
    """Write ``path``: one meaning per (source, English term, target variety) with all its targets."""
    varieties: dict[str, int] = {}
    exprs: dict[tuple[int, str], int] = {}
    tables: dict[str, list[list]] = defaultdict(list)

    def variety(uid: str) -> int:
        if uid not in varieties:
            varieties[uid] = len(varieties) + 1
            code, var = uid.split("-")
            tables["langvar"].append([varieties[uid], code, int(var), "f", "", "", "", "", "", ""])
        return varieties[uid]

    def expr(uid: str, text: str) -> int:
        key = (variety(uid), text)
        if key not in exprs:
            exprs[key] = len(exprs) + 1
            tables["expr"].append([exprs[key], key[0], text, text.lower()])
        return exprs[key]

    for sid, source in enumerate(sources, start=1):
        tables["source"].append([sid, "2020-01-01", source.label, "", "", "", source.label, "", "", source.quality, "", "", "cc-by", "", "", ""])
        grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
        for english, uid, target in source.pairs:
            grouped[(english, uid)].append(target)
        for (english, uid), targets in grouped.items():
            meaning = len(tables["meaning"]) + 1
            tables["meaning"].append([meaning, sid])
            for text, var in [(english, source.english_variety)] + [(t, uid) for t in targets]:
                tables["denotation"].append([len(tables["denotation"]) + 1, meaning, expr(var, text)])
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, header in LAYOUT.items():
            archive.writestr(f"{folder}/{name}.csv", _csv_bytes(header, tables[name]))


def write_dictd_subset(index_path: str, headwords: set[str], out_stem: str) -> str:
    """Copy the entries of some headwords from a real dictd database into a small one.

    Returns the new ``.index`` path; its ``.dict.dz`` is gzip (dictd's dictzip reads as gzip).
    """
    import gzip

    from babelshard.codeswitch.lexicons.dictd import decode_number, dict_path_for, read_dict_text

    data = read_dict_text(dict_path_for(index_path))
    digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    def encode(value: int) -> str:
        out = ""
        while True:
            out = digits[value % 64] + out
            value //= 64
            if value == 0:
                return out

    body, lines = bytearray(), []
    with open(index_path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 3 and fields[0] in headwords:
                start, length = decode_number(fields[1]), decode_number(fields[2])
                lines.append(f"{fields[0]}\t{encode(len(body))}\t{encode(length)}\n")
                body += data[start : start + length]
    with open(out_stem + ".index", "w", encoding="utf-8") as handle:
        handle.writelines(lines)
    with gzip.open(out_stem + ".dict.dz", "wb") as handle:
        handle.write(bytes(body))
    return out_stem + ".index"
