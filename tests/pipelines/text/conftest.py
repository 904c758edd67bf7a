"""Real multilingual text available offline: Debian fortunes (monolingual) and Django's
gettext catalogues (.po with their compiled .mo; parallel en -> L UI strings)."""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import zipfile

import pytest

from babelshard.testing import require_debian

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


def read_fortunes(path: str) -> list[str]:
    """Fortunes of one file, each joined into one paragraph (the files are hard-wrapped)."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    paragraphs = []
    for fortune in text.split("\n%\n"):
        paragraph = " ".join(line.strip() for line in fortune.splitlines() if line.strip() and line.strip() != "%")
        if paragraph:
            paragraphs.append(paragraph)
    return paragraphs


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
    from babelshard.langid import cache_dir

    wheels = cache_dir() / "wheels"
    found = sorted(glob.glob(str(wheels / "django-*.whl")))
    if not found:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(wheels), "django"]
        result = subprocess.run(command, capture_output=True, text=True)
        found = sorted(glob.glob(str(wheels / "django-*.whl")))
        if result.returncode != 0 or not found:
            pytest.skip(f"Django wheel unavailable (pip download django): {result.stderr.strip()[-200:]}")
    target = tmp_path_factory.mktemp("django")
    with zipfile.ZipFile(found[-1]) as archive:
        for name in archive.namelist():
            if "/locale/" in name and name.endswith(("django.po", "django.mo")) and (
                name.startswith("django/conf/") or name.startswith("django/contrib/admin/")
            ):
                archive.extract(name, target)
    return target / "django"


@pytest.fixture(scope="session")
def po_path(django_locale):
    """``po_path(lang, part="conf")``: one catalogue's .po path."""

    def path(language: str, part: str = "conf") -> str:
        base = django_locale / ("conf" if part == "conf" else "contrib/admin")
        return str(base / "locale" / language / "LC_MESSAGES" / "django.po")

    return path
