"""Benchmark split -> caption shard folder -> read back: every caption of every image, the
image's own bytes, stable keys, folds and counts in the index; missing images; the CLI."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from babelshard.cli import app
from babelshard.pipelines.captions.benchmarks import BenchmarkError, prepare_benchmark, read_benchmark
from babelshard.records import stable_key
from babelshard.shards.index import read_index
from babelshard.shards.reader import iter_records

runner = CliRunner()


def all_captions(record) -> dict[str, tuple[str, ...]]:
    return {lang: (caption.text, *record.extra_captions.get(lang, ())) for lang, caption in record.captions.items()}


def test_multi30k_round_trip_keeps_every_caption_and_the_image_bytes(multi30k, tmp_path):
    root, images = multi30k
    output = str(tmp_path / "eval-multi30k")
    index = prepare_benchmark("multi30k", str(root), output, images=[str(images)])
    records = list(iter_records(output, verify=True))
    items = read_benchmark("multi30k", str(root))
    assert [record.key for record in records] == [stable_key("multi30k", item.image_id) for item in items]
    for record, item in zip(records, items):
        assert all_captions(record) == {lang: item.captions[lang] for lang in ("cs", "de", "en", "fr")}
        assert record.image == (images / item.image).read_bytes() and record.image_format == "jpg"
        assert record.url == item.image and record.source == "multi30k"
        assert record.meta == {"benchmark": "multi30k", "split": "test", "image_id": item.image_id}
    assert index.samples == 3 and index.languages == {"cs": 3, "de": 3, "en": 3, "fr": 3}
    summary = read_index(output).extra["benchmark"]
    assert summary == {"name": "multi30k", "split": "test", "images": 3, "captions": {"cs": 3, "de": 15, "en": 15, "fr": 3},
                       "empty_captions": {}, "max_captions": None}


def test_coco_folds_in_the_shards_and_one_fold_alone(karpathy, tmp_path):
    root, _, coco_images, _, _ = karpathy
    whole = str(tmp_path / "coco-5k")
    prepare_benchmark("coco", str(root), whole, images=[str(coco_images)], fold_size=2)
    records = list(iter_records(whole))
    assert [record.meta["fold"] for record in records] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert [len(all_captions(record)["en"]) for record in records] == [5, 5, 5, 6, 5, 5, 5, 5, 5, 5]
    assert read_index(whole).extra["benchmark"]["captions"] == {"en": 51}
    fold = str(tmp_path / "coco-1k-fold3")
    prepare_benchmark("coco", str(root), fold, images=[str(coco_images)], fold=3, fold_size=2)
    assert [(r.key, r.image, all_captions(r)) for r in iter_records(fold)] == [(r.key, r.image, all_captions(r)) for r in records[6:8]]
    summary = read_index(fold).extra["benchmark"]
    assert (summary["fold"], summary["fold_size"], summary["images"]) == (3, 2, 2)


def test_max_captions_keeps_the_first_captions(karpathy, tmp_path):
    root, _, coco_images, _, _ = karpathy
    output = str(tmp_path / "coco-5-per-image")
    prepare_benchmark("coco", str(root), output, images=[str(coco_images)], max_captions=5)
    records = list(iter_records(output))
    assert [len(all_captions(record)["en"]) for record in records] == [5] * 10
    assert all_captions(records[3])["en"][-1] == "image 5 caption 4"
    with pytest.raises(BenchmarkError, match="--max-captions must be at least 1, got 0"):
        prepare_benchmark("coco", str(root), str(tmp_path / "none"), images=[str(coco_images)], max_captions=0)


def test_images_are_searched_in_every_folder_given(xflickrco, tmp_path):
    root, flickr_images, coco_images = xflickrco
    output = str(tmp_path / "xflickrco")
    prepare_benchmark("xflickrco", str(root), output, images=[str(flickr_images), str(coco_images)])
    records = list(iter_records(output))
    assert records[0].image == (flickr_images / "1007129816.jpg").read_bytes()
    assert records[2].image == (coco_images / "val2014/COCO_val2014_000000391895.jpg").read_bytes()
    assert read_index(output).extra["benchmark"]["captions"] == {lang: 4 for lang in ("de", "en", "es", "id", "ja", "ru", "tr", "zh")}


def test_empty_captions_are_counted_not_written(xtd10, tmp_path):
    root, coco_images = xtd10
    (root / "MIC/test_1kcaptions_de.txt").write_text("xtd de 0\n  \nxtd de 2\n")
    output = str(tmp_path / "xtd10")
    prepare_benchmark("xtd10", str(root), output, images=[str(coco_images)])
    records = list(iter_records(output))
    assert ["de" in record.captions for record in records] == [True, False, True]
    summary = read_index(output).extra["benchmark"]
    assert summary["empty_captions"] == {"de": 1} and summary["captions"]["de"] == 2 and summary["images"] == 3


def test_preparing_twice_gives_the_same_bytes(coco_cn, tmp_path):
    root, coco_images = coco_cn
    first, second = str(tmp_path / "a"), str(tmp_path / "b")
    prepare_benchmark("coco-cn", str(root), first, images=[str(coco_images)])
    prepare_benchmark("coco-cn", str(root), second, images=[str(coco_images)])
    assert [s.sha256 for s in read_index(first).shards] == [s.sha256 for s in read_index(second).shards]
    with pytest.raises(BenchmarkError, match=r"/a: already a finished shard folder \(index\.json\); give a new --output"):
        prepare_benchmark("coco-cn", str(root), first, images=[str(coco_images)])


def test_a_missing_or_broken_image_stops_or_becomes_a_counted_drop(coco_cn, tmp_path):
    root, coco_images = coco_cn
    (coco_images / "train2014/COCO_train2014_000000128475.jpg").unlink()
    with pytest.raises(BenchmarkError, match=r"^train2014/COCO_train2014_000000128475\.jpg: not found in the images folder\(s\) .*coco2014$"):
        prepare_benchmark("coco-cn", str(root), str(tmp_path / "strict"), images=[str(coco_images)])
    assert not (tmp_path / "strict" / "index.json").exists()
    (coco_images / "val2014/COCO_val2014_000000217153.jpg").write_text("not an image")
    output = tmp_path / "lenient"
    index = prepare_benchmark("coco-cn", str(root), str(output), images=[str(coco_images)], skip_bad_images=True)
    assert [record.meta["image_id"] for record in iter_records(str(output))] == ["COCO_val2014_000000290951"]
    assert index.extra["benchmark"]["images"] == 1
    stats = json.loads((output / "stats.json").read_text())
    assert stats["inputs"] == 3 and stats["outputs"] == 1
    assert stats["drops"] == {"benchmark/missing_image": 1, "benchmark/bad_image": 1}


def test_cli_prepare_and_list(multi30k, tmp_path):
    root, images = multi30k
    output = tmp_path / "eval"
    result = runner.invoke(app, ["benchmark", "prepare", "multi30k", "--root", str(root), "--images", str(images),
                                 "--output", str(output), "--split", "val"])
    assert result.exit_code == 0, result.output
    assert f"multi30k val: 2 images, captions cs 2, de 10, en 10, fr 2 -> {output}" in result.output
    assert [record.meta["split"] for record in iter_records(str(output))] == ["val", "val"]
    listing = runner.invoke(app, ["benchmark", "list"])
    assert listing.exit_code == 0 and "xtd10: de en es fr it ja ko pl ru tr zh; splits test" in listing.output
    assert "coco: en; splits test, val, restval, train; 1K folds" in listing.output


def test_cli_user_errors_are_one_line_with_exit_2(karpathy, tmp_path):
    root, _, coco_images, _, _ = karpathy
    cases = [
        (["benchmark", "prepare", "xtd10", "--root", str(tmp_path / "nowhere")], "Cross-lingual-Test-Dataset-XTD10"),
        (["benchmark", "prepare", "coco", "--root", str(root), "--fold", "7"], "no fold 7"),
        (["benchmark", "prepare", "coco", "--root", str(root)], "val2014/COCO_val2014_000000000102.jpg: not found"),
        (["benchmark", "prepare", "flickr", "--root", str(root)], "unknown benchmark 'flickr'"),
    ]
    for arguments, message in cases:
        result = runner.invoke(app, [*arguments, "--output", str(tmp_path / "out")])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output
