"""Language codes: every lexicon stores ISO 639-1 where one exists, else ISO 639-3.

PanLex varieties (``deu-000``), FreeDict file names (``eng-deu``) and user input
(``de``, ``ger``, ``deu``) all go through :func:`normalize_language`, so one language
has one code in the lexicon, the shards and the trainer. Macrolanguage members map to
the macrolanguage (``cmn`` -> ``zh``, ``arb`` -> ``ar``), as the caption streams do.
"""
from __future__ import annotations

import os
import re
from functools import lru_cache
from babelshard.errors import UserError

# Codes that are valid in the registries but name no single language.
_NOT_A_LANGUAGE = frozenset({"und", "mul", "mis", "zxx", "art"})
_SHAPE = re.compile(r"^[a-z]{2,3}$")
_PRIVATE_USE = re.compile(r"^q[a-t][a-z]$")
# CLDR aliases that would rename a language other streams know by its ISO 639-1 code.
_KEEP = {"tl": "tl", "tgl": "tl"}


class UnknownLanguageError(UserError):
    """A language code that is not a known ISO 639 code of a single language."""


@lru_cache(maxsize=4096)
def normalize_language(code: str) -> str:
    """``de``/``deu``/``ger`` -> ``de``; ``cmn`` -> ``zh``; unknown codes raise."""
    import langcodes

    text = str(code).strip().lower().replace("_", "-")
    base = text.split("-", 1)[0] if re.match(r"^[a-z]{3}-\d{3}$", text) else text  # PanLex variety uid
    if not _SHAPE.match(base) or base in _NOT_A_LANGUAGE or _PRIVATE_USE.match(base):
        raise UnknownLanguageError(f"unknown language code {code!r}: expected an ISO 639-1 or 639-3 code such as 'de' or 'deu'")
    if base in _KEEP:
        return _KEEP[base]
    if not langcodes.tag_is_valid(base):
        raise UnknownLanguageError(f"unknown language code {code!r}: not in the ISO 639 registry")
    language = langcodes.Language.get(langcodes.standardize_tag(base, macro=True)).language
    if not language or language in _NOT_A_LANGUAGE:
        raise UnknownLanguageError(f"unknown language code {code!r}: names no single language")
    return language


def try_normalize_language(code: str) -> str | None:
    """Like :func:`normalize_language` but ``None`` for unknown codes (for counted skips)."""
    try:
        return normalize_language(code)
    except UnknownLanguageError:
        return None


def pair_languages(path: str, pattern: re.Pattern, example: str,
                   source: str | None = None, target: str | None = None) -> tuple[str, str]:
    """A dictionary file's two languages, normalised: as given, or the two codes ``pattern``
    finds in the file name (``example`` shows the expected name in the error)."""
    if source is None or target is None:
        from babelshard.codeswitch.lexfile import LexiconError  # lexfile imports pyarrow

        match = pattern.search(os.path.basename(path))
        if not match:
            raise LexiconError(f"{path}: cannot tell the languages from the file name (expected like {example}); give them explicitly")
        source, target = match.group(1), match.group(2)
    return normalize_language(source), normalize_language(target)
