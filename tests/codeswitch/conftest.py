"""Fixtures of the code-switch tests: real FreeDict dictionaries and the CLDR names."""
from __future__ import annotations

import pytest

from babelshard.testing import require_debian

DICTD = "/usr/share/dictd"


def freedict_index(pair: str) -> str:
    path = f"{DICTD}/freedict-{pair}.index"
    require_debian(path, f"dict-freedict-{pair}")
    return path


@pytest.fixture
def eng_fra() -> str:
    return freedict_index("eng-fra")


@pytest.fixture
def eng_deu() -> str:
    return freedict_index("eng-deu")


@pytest.fixture
def eng_spa() -> str:
    return freedict_index("eng-spa")


@pytest.fixture(scope="session")
def fra_pairs():
    from babelshard.codeswitch.lexicons.freedict import import_freedict

    return import_freedict(freedict_index("eng-fra"))


@pytest.fixture(scope="session")
def cldr_pairs():
    from babelshard.codeswitch.lexicons.cldr import import_cldr

    return import_cldr()


@pytest.fixture(scope="session")
def deu_subset(tmp_path_factory) -> str:
    """Real eng-deu entries of everyday caption words (the whole dictionary takes ~30 s to read)."""
    from babelshard.codeswitch.testing import write_dictd_subset

    words = {"dog", "house", "cat", "car", "computer", "bank", "hand", "bird", "red", "table", "ice cream", "ice",
             "cream", "street", "man", "woman", "riding", "bicycle", "green", "grass", "the", "a", "on", "bot",
             "board of trade", "left parenthesis", "visualizes", "doctor", "apple", "tree", "water", "boat"}
    stem = str(tmp_path_factory.mktemp("freedict") / "freedict-eng-deu")
    return write_dictd_subset(freedict_index("eng-deu"), words, stem)


# Everyday image captions in the style of COCO/CC3M, written for these tests.
CAPTIONS = [
    "A brown dog is running across the green grass.",
    "Two men riding bicycles down a city street.",
    "A woman holding an umbrella in the rain.",
    "A red car parked next to a house.",
    "A cat sleeping on a wooden table.",
    "A plate of food with rice and vegetables.",
    "A group of people standing on a beach at sunset.",
    "An airplane flying over the mountains.",
    "Children playing football in a park.",
    "A man eating ice cream on a bench.",
    "A small boat on a calm lake.",
    "A bird sitting on the branch of a tree.",
    "A bowl of fresh fruit on the kitchen table.",
    "The old bridge over the river at night.",
    "A girl reading a book under a tree.",
    "A horse standing in a field of flowers.",
    "Cars and buses on a busy road in the city.",
    "A glass of water and an apple on a desk.",
    "Snow on the roof of a house in winter.",
    "A computer and a phone on a table.",
    "Dog, cat and bird: three friends!",
    "ICE CREAM and a red apple",
]


@pytest.fixture(scope="session")
def captions() -> list[str]:
    return list(CAPTIONS)
