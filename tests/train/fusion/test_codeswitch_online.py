"""Online code-switching in the data pipeline: the code-switch stage's own function
on English OpenMoji captions with the CLDR lexicon, mixed with English at ratio α."""
from __future__ import annotations

import itertools
import math

import numpy as np

from babelshard.codeswitch.config import CodeSwitchConfig, LexiconSource
from babelshard.codeswitch.loading import cached_lexicon, switch_params
from babelshard.codeswitch.transform import code_switch
from babelshard.records import CODESWITCHED_LANGUAGE, CaptionView
from babelshard.shards.reader import iter_samples
from babelshard.train.data.codeswitch_online import OnlineCodeSwitch
from babelshard.train.data.mixer import MixedStream
from babelshard.train.data.streams import decode_item
from babelshard.train.stream_config import OnlineCodeSwitchConfig

LEXICON = CodeSwitchConfig(lexicons=(LexiconSource(format="cldr"),), languages=("de", "fr", "ja"), word_ratio=0.5)


def mixed(tokenizer, stream_of, alpha: float, seed: int = 3) -> MixedStream:
    switch = OnlineCodeSwitch(OnlineCodeSwitchConfig(lexicon=LEXICON, alpha=alpha))
    return MixedStream([stream_of("caption", languages=["en"])], tokenizer, seed=seed, batches_per_epoch=40,
                             transforms={"caption": switch})


def test_mix_ratio_in_the_mixer(tokenizer, stream_of):
    alpha = 0.4
    batches = list(itertools.islice(iter(mixed(tokenizer, stream_of, alpha)), 40))
    counts = batches[-1].meta.counters["caption"]
    drawn = counts["transform/codeswitched"] + counts["transform/unswitchable"]
    total = drawn + counts["transform/kept_english"]
    assert total == 40 * 16 and counts.get("transform/not_english", 0) == 0
    assert abs(drawn - alpha * total) <= 5 * math.sqrt(total * alpha * (1 - alpha)), drawn / total
    switched = sum(b.streams["caption"].languages.count(CODESWITCHED_LANGUAGE) for b in batches)
    assert switched == counts["transform/codeswitched"] > 0.2 * drawn


def test_switched_captions_are_the_stage_functions_output(toy, stream_of):
    """Items decoded by part 1's decoder from the real shards, switched online, equal
    ``code_switch`` of the English caption with the drawn variant number."""
    switch = OnlineCodeSwitch(OnlineCodeSwitchConfig(lexicon=LEXICON, alpha=0.5))
    stream = stream_of("caption", languages=["en"])
    lexicon, params = cached_lexicon(LEXICON), switch_params(LEXICON)
    rng = np.random.default_rng(0)
    outcomes = []
    for raw in iter_samples(toy["caption"]):
        item = decode_item(CaptionView(raw), stream, None, rng)
        result, outcome = switch(item, rng)
        outcomes.append(outcome)
        if outcome == "codeswitched":
            expected = code_switch(raw["txt"].decode(), raw["__key__"], result.cs_variant, lexicon, params)
            assert result.text == expected.text != item.text and result.language == CODESWITCHED_LANGUAGE
            assert expected.switched > 0 and set(expected.langs) - {"en"} <= {"de", "fr", "ja"}
        else:
            assert result is item
    assert outcomes.count("codeswitched") > 20 and outcomes.count("kept_english") > 20


def test_online_switching_is_deterministic_per_batch(tokenizer, stream_of):
    first = [b.streams["caption"].tokens for b in itertools.islice(iter(mixed(tokenizer, stream_of, 0.5)), 5)]
    again = [b.streams["caption"].tokens for b in itertools.islice(iter(mixed(tokenizer, stream_of, 0.5)), 5)]
    other = [b.streams["caption"].tokens for b in itertools.islice(iter(mixed(tokenizer, stream_of, 0.5, seed=4)), 5)]
    assert all((a == b).all() for a, b in zip(first, again))
    assert not all((a == b).all() for a, b in zip(first, other))


def test_alpha_zero_keeps_english_and_one_switches_all_it_can(tokenizer, stream_of):
    none = next(iter(mixed(tokenizer, stream_of, 0.0)))
    assert none.streams["caption"].languages == ["en"] * 16
    every = next(iter(mixed(tokenizer, stream_of, 1.0)))
    counts = every.meta.counters["caption"]
    assert counts["transform/codeswitched"] + counts["transform/unswitchable"] == 16
