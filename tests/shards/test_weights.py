"""weights.json: one versioned format, written and read by shards.weights (the text job
writes it, the trainer reads it)."""
from __future__ import annotations

import json

import pytest

from babelshard.shards.index import ShardIndex, ShardIndexError, ShardInfo
from babelshard.shards.weights import (
    find_weights_file,
    read_weights,
    read_weights_file,
    sampling_weights,
    smoothed_weights,
    write_weights,
)


def per_language(counts: dict[str, int]) -> list[tuple[str, ShardIndex]]:
    return [(lang, ShardIndex("text", (ShardInfo("shard-000000.tar", n, 1, "0" * 64, {lang: n}),))) for lang, n in counts.items()]


def test_the_trainer_reads_the_q_the_text_job_wrote(tmp_path):
    counts = {"de": 900, "it": 90, "ru": 10}
    write_weights(str(tmp_path), per_language(counts), alpha=0.3)
    path = find_weights_file([str(tmp_path / "de"), str(tmp_path / "it")])  # beside the per-language folders
    assert path == str(tmp_path / "weights.json")
    assert sampling_weights(read_weights_file(path)) == {lang: q for lang, (_, q) in smoothed_weights(counts, 0.3).items()}
    assert read_weights(str(tmp_path)) == read_weights_file(path)
    assert find_weights_file([str(tmp_path / "nowhere" / "de")]) is None


@pytest.mark.parametrize("content", [{"de": 0.7, "it": 0.3}, {"q": {"de": 1.0}}, [1, 2]])
def test_a_file_of_another_shape_is_refused_naming_it(tmp_path, content):
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ShardIndexError, match=f"{path}: not a babelshard.weights version 1 file"):
        read_weights_file(str(path))
    path.write_text("{not json")
    with pytest.raises(ShardIndexError, match=f"{path}: not JSON"):
        read_weights_file(str(path))
