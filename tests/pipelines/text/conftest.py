"""Real multilingual text available offline: Debian fortunes (monolingual) and Django's
gettext catalogues (.po with their compiled .mo; parallel en -> L UI strings)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from babelshard.testing import django_catalogues, read_fortunes, require_debian

FORTUNES = "/usr/share/games/fortunes"
# language -> (Debian package, fortune files with mostly prose in that language)
FORTUNE_FILES = {
    "de": ("fortunes-de", ["de/anekdoten", "de/sprichworte", "de/zitate"]),
    "it": ("fortunes-it", ["it/definizioni", "it/leggi", "it/italia"]),
    "es": ("fortunes-es", ["es/vida.fortunes", "es/refranes.fortunes"]),
    "ru": ("fortunes-ru", ["ru/citates", "ru/life"]),
    "pl": ("fortunes-pl", ["pl/seneka", "pl/sapkowski"]),
    "en": ("fortunes-min", ["fortunes", "literature"]),
}


@pytest.fixture(scope="session")
def fortunes():
    """``fortunes(lang, limit)``: paragraphs of real fortunes in ``lang``; skips naming the Debian package."""

    def load(language: str, limit: int = 200) -> list[str]:
        package, files = FORTUNE_FILES[language]
        paragraphs: list[str] = []
        for name in files:
            path = os.path.join(FORTUNES, name)
            require_debian(path, package)
            paragraphs.extend(read_fortunes(path))
        return paragraphs[:limit]

    return load


@pytest.fixture(scope="session")
def django_locale(tmp_path_factory):
    """Django's conf/locale and contrib/admin/locale catalogues (.po and .mo), from the Django wheel."""
    return Path(django_catalogues(str(tmp_path_factory.mktemp("django"))))


@pytest.fixture(scope="session")
def po_path(django_locale):
    """``po_path(lang, part="conf")``: one catalogue's .po path."""

    def path(language: str, part: str = "conf") -> str:
        base = django_locale / ("conf" if part == "conf" else "contrib/admin")
        return str(base / "locale" / language / "LC_MESSAGES" / "django.po")

    return path
