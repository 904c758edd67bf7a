"""SMALR's cross-lingual consistency scores a query with its machine translations, which
depend on the query alone: a model whose English encoder outputs pure noise stays at
chance in English with consistency on and off, even when its other languages retrieve
perfectly. (Scoring a query with the correct image's captions in the other languages,
as evaluation once did, lifts the same noise far above chance: shown here too.)"""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from babelshard.train.config import ConsistencyConfig, EvalConfig, ImageConfig
from babelshard.train.data.batches import ImageInputs
from babelshard.train.data.tokenizer import HashTokenizer
from babelshard.train.eval.consistency import consistency_scorer
from babelshard.train.eval.evalset import EvalSet, image_groups, load_eval_set
from babelshard.train.eval.fusion import evaluate_scorers
from babelshard.train.eval.retrieval import caption_owner, embed_images, embed_texts, language_metrics

LANGUAGES = ["de", "en", "es"]
DIM = 64


class NoisyEnglishModel(torch.nn.Module):
    """An encoder pair that retrieves perfectly in every language but English: each image
    gets its own random direction, a caption in ``de``/``es`` the direction of its image
    (recognised by its token row), and every English caption fresh Gaussian noise, as
    does any text it has never seen."""

    def __init__(self, data: EvalSet, tokenizer: HashTokenizer, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.directions = torch.randn(len(data.keys), DIM, generator=generator)
        self.image_index = {self.digest(image): i for i, image in enumerate(data.images)}
        self.caption_index = {}
        for lang, captions in data.captions.items():
            if lang != "en":
                rows = tokenizer.encode([text for text, _ in captions])
                self.caption_index.update(((lang, row.tobytes()), image) for row, (_, image) in zip(rows, captions))
        self.noise = torch.Generator().manual_seed(seed + 1)

    @staticmethod
    def digest(image: np.ndarray) -> str:
        return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()

    def encode_image(self, inputs: ImageInputs) -> torch.Tensor:
        return self.directions[[self.image_index[self.digest(row.numpy())] for row in inputs.image]]

    def encode_text(self, tokens: torch.Tensor, languages=None) -> torch.Tensor:
        out = torch.randn(len(tokens), DIM, generator=self.noise)
        for i, (row, lang) in enumerate(zip(tokens.numpy(), languages)):
            image = self.caption_index.get((lang, row.tobytes()))
            if image is not None:
                out[i] = self.directions[image]
        return out


@pytest.fixture(scope="module")
def toy_marian(tmp_path_factory):
    """A real CTranslate2 Marian model with random weights: real engine, outputs that carry
    nothing of their input's meaning."""
    from babelshard.translate.toy_model import build_toy_marian

    return build_toy_marian(tmp_path_factory.mktemp("toy-marian"))


def test_noise_encoder_stays_at_chance_with_consistency_on_and_off(toy, toy_marian):
    marian = {"kind": "ctranslate2", "model_path": toy_marian.ctranslate2_dir, "device": "cpu", "beam_size": 1}
    config = EvalConfig(
        folders=[toy["heldout"]], image=ImageConfig(size=32), languages=LANGUAGES, scorers=["embedding", "consistency"],
        consistency=ConsistencyConfig(engines={"marian": marian}, pairs={"en-de": "marian", "en-es": "marian"}),
    )
    tokenizer = HashTokenizer(vocab_size=8192, max_length=16)
    data = load_eval_set(config)
    model = NoisyEnglishModel(data, tokenizer)
    results = evaluate_scorers(model, tokenizer, config)
    for scorer in ("embedding", "consistency"):
        english = results[scorer]["languages"]["en"]
        chance = english["chance"]["mean_recall"]
        assert english["mean_recall"] < chance + 6, (scorer, english["mean_recall"], chance)
        assert results[scorer]["languages"]["de"]["mean_recall"] == 100.0  # the other languages do retrieve
    sources = results["consistency"]["languages"]["en"]["translations"]
    assert sorted(sources) == ["de", "es"] and sources["de"]["engine"] == "ctranslate2"
    # The leak that consistency must not have: the correct image's own de/es captions
    # standing in for the query's translations lift the same noise far above chance.
    images = embed_images(model, data, 64, "cpu")
    owner = caption_owner(data.captions["en"])
    query = embed_texts(model, tokenizer, [t for t, _ in data.captions["en"]], "en", 64, "cpu")
    gold = []
    for lang in ("de", "es"):
        texts = embed_texts(model, tokenizer, [t for t, _ in data.captions[lang]], lang, 64, "cpu")
        first = {}
        for row, (_, image) in enumerate(data.captions[lang]):
            first.setdefault(image, row)
        gold.append(texts[torch.tensor([first[int(i)] for i in owner])])
    leaked = language_metrics(consistency_scorer(images, query, gold, None), owner, image_groups(data, False))
    assert leaked["mean_recall"] > 80


def test_translations_are_made_once_and_read_back_from_the_cache(toy, tmp_path):
    """Apertium en→es: every distinct English caption translated once; a second run
    with the same cache folder translates nothing."""
    from babelshard.testing import require_debian
    from babelshard.train.eval.consistency import translate_queries

    require_debian("/usr/share/apertium/modes/eng-spa.mode", "apertium-eng-spa")
    config = ConsistencyConfig(engines={"apertium": {"kind": "apertium"}}, pairs={"en-es": "apertium"},
                               cache=str(tmp_path / "cache"))
    data = load_eval_set(EvalConfig(folders=[toy["heldout"]], image=ImageConfig(size=32), languages=["en", "es"]))
    english = data.captions["en"]
    captions = {"en": english * 2, "es": data.captions["es"]}  # every caption twice
    first = translate_queries(captions, config)
    assert list(first.texts) == ["en"] and len(first.texts["en"]["es"]) == 2 * len(english)
    assert first.texts["en"]["es"][: len(english)] == first.texts["en"]["es"][len(english):]
    distinct = len({text for text, _ in english})
    assert first.sources["en"]["es"] == {"engine": "apertium", "model": "apertium/eng-spa", "empty": 0, "translated": distinct}
    spanish = [text for text, _ in data.captions["es"]]
    assert sum(mt.lower() == human for mt, human in zip(first.texts["en"]["es"], spanish)) >= 5  # real translations
    again = translate_queries(captions, config)
    assert again.texts == first.texts and again.sources["en"]["es"]["translated"] == 0
