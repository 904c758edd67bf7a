"""A streaming gettext ``.po`` parser (the subset translation catalogues use).

Handles ``msgctxt``, ``msgid``, ``msgid_plural``, ``msgstr`` and ``msgstr[N]``,
continuation strings, C escapes, ``#,`` flags and ``#~`` obsolete entries. Lines are
bytes decoded as UTF-8; an entry with undecodable bytes is marked, not guessed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")\s*$')
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_ESCAPE = re.compile(r"\\(.)")


@dataclass
class PoEntry:
    line: int
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False
    invalid_utf8: bool = False
    seen: set[str] = field(default_factory=set)

    @property
    def translation(self) -> str:
        """The singular translation (``msgstr`` or ``msgstr[0]``)."""
        return self.msgstr.get(0, "")


def unquote(quoted: str) -> str:
    """A C-quoted po string without its quotes, escapes resolved."""
    body = quoted.strip()[1:-1]
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def iter_po_entries(lines: Iterable[bytes]) -> Iterator[PoEntry]:
    """Entries in file order; the header (``msgid ""``) is an entry like any other."""
    entry: PoEntry | None = None
    target: tuple[str, int] | None = None
    for number, raw in enumerate(lines, start=1):
        text, bad = _decode(raw)
        obsolete = text.startswith("#~")
        if obsolete:
            text = text[2:].strip()
        if not text:
            if entry is not None and entry.seen:
                yield entry
            entry, target = None, None
            continue
        if text.startswith("#"):
            if text.startswith("#,"):
                if entry is not None and _has_message(entry):
                    yield entry
                    entry = None
                entry = entry or PoEntry(line=number)
                entry.flags.update(flag.strip() for flag in text[2:].split(","))
            continue
        match = _KEYWORD.match(text)
        if match and match.group(1) in ("msgctxt", "msgid") and entry is not None and _has_message(entry):
            yield entry  # entries not separated by a blank line
            entry = None
        if entry is None:
            entry = PoEntry(line=number)
        entry.obsolete = entry.obsolete or obsolete
        entry.invalid_utf8 = entry.invalid_utf8 or bad
        target = _apply_line(entry, match, text, target)
    if entry is not None and entry.seen:
        yield entry


def _has_message(entry: PoEntry) -> bool:
    return "msgstr" in entry.seen


def _decode(raw: bytes) -> tuple[str, bool]:
    try:
        return raw.decode("utf-8").strip(), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace").strip(), True


def _apply_line(entry: PoEntry, match, text: str, target):
    """Store a keyword line or a continuation string; returns the field continuations append to."""
    if match:
        keyword, index, quoted = match.group(1), match.group(2), match.group(3)
        name = "msgstr" if keyword.startswith("msgstr") else keyword
        target = (name, int(index) if index is not None else 0)
        entry.seen.add(name)
        _append(entry, target, unquote(quoted), reset=True)
    elif text.startswith('"') and target is not None:
        _append(entry, target, unquote(text), reset=False)
    return target


def _append(entry: PoEntry, target: tuple[str, int], value: str, reset: bool) -> None:
    name, index = target
    if name == "msgstr":
        entry.msgstr[index] = value if reset else entry.msgstr.get(index, "") + value
    elif name == "msgctxt":
        entry.msgctxt = value if reset else (entry.msgctxt or "") + value
    elif name == "msgid_plural":
        entry.msgid_plural = value if reset else (entry.msgid_plural or "") + value
    else:
        entry.msgid = value if reset else entry.msgid + value
