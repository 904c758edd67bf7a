"""Each benchmark reader on tiny files in the release's real layout: images, their paths,
captions per image and language (counts and order), split and fold selection, one-line errors."""
from __future__ import annotations

import gzip
import json

import pytest

from babelshard.errors import UserError
from babelshard.pipelines.captions.benchmarks import BenchmarkError, read_benchmark


def caption_counts(items) -> list[dict[str, int]]:
    return [{lang: len(texts) for lang, texts in item.captions.items()} for item in items]


def test_multi30k_joins_task2_english_and_german_with_task1_french_and_czech(multi30k):
    root, _ = multi30k
    items = read_benchmark("multi30k", str(root))
    assert [item.image for item in items] == ["1007129816.jpg", "1009434119.jpg", "101362133.jpg"]
    assert [item.image_id for item in items] == ["1007129816", "1009434119", "101362133"]
    assert caption_counts(items) == [{"en": 5, "de": 5, "fr": 1, "cs": 1}] * 3
    second = items[1].captions
    assert second["en"] == tuple(f"test t2 en 1 {n}" for n in range(1, 6))
    assert second["de"] == tuple(f"test t2 de 1 {n}" for n in range(1, 6))
    assert second["fr"] == ("test t1 fr 1",) and second["cs"] == ("test t1 cs 1",)
    assert {item.split for item in items} == {"test"} and {item.fold for item in items} == {None}


def test_multi30k_tasks_and_the_val_split(multi30k):
    root, _ = multi30k
    task1 = read_benchmark("multi30k-task1", str(root))
    assert caption_counts(task1) == [{"en": 1, "de": 1, "fr": 1, "cs": 1}] * 3
    assert task1[2].captions["en"] == ("test t1 en 2",)
    task2 = read_benchmark("multi30k-task2", str(root), split="val")
    assert [item.image for item in task2] == ["1018148011.jpg", "1029450589.jpg"]
    assert caption_counts(task2) == [{"en": 5, "de": 5}] * 2
    assert task2[0].captions["de"][4] == "val t2 de 0 5"


def test_multi30k_errors_name_the_file(multi30k):
    root, _ = multi30k
    (root / "data/task2/raw/test_2016.3.de.gz").unlink()
    with pytest.raises(BenchmarkError, match=r"data/task2/raw/test_2016\.3\.de\.gz: no such file \(it comes from a clone of https://github.com/multi30k/dataset\)"):
        read_benchmark("multi30k", str(root))
    (root / "data/task1/raw/test_2016_flickr.fr.gz").write_bytes(gzip.compress(b"only one line\n"))
    with pytest.raises(BenchmarkError, match=r"test_2016_flickr\.fr\.gz: 1 lines, but .*image_splits/test_2016_flickr\.txt lists 3 images"):
        read_benchmark("multi30k-task1", str(root))
    (root / "data/task1/raw/test_2016_flickr.fr.gz").write_bytes(gzip.compress(b"one\ntwo\nthree\n"))
    (root / "data/task1/raw/test_2016_flickr.cs.gz").write_text("plain text, not gzip\n")
    with pytest.raises(BenchmarkError, match=r"test_2016_flickr\.cs\.gz: not a gzip file"):
        read_benchmark("multi30k-task1", str(root))


def test_multi30k_task_lists_must_agree(multi30k):
    root, _ = multi30k
    (root / "data/task2/image_splits/test_2016_images.txt").write_text("\n".join(["1009434119.jpg", "1007129816.jpg", "101362133.jpg"]) + "\n")
    with pytest.raises(BenchmarkError, match=r"test_2016_images\.txt: does not list the images of .*test_2016_flickr\.txt in the same order"):
        read_benchmark("multi30k", str(root))


def test_coco_5k_keeps_every_caption_and_marks_1k_folds(karpathy):
    root, coco, _, _, _ = karpathy
    items = read_benchmark("coco", str(root), fold_size=2)
    tests = [entry for entry in coco if entry["split"] == "test"]
    assert [item.image_id for item in items] == [str(entry["cocoid"]) for entry in tests]
    assert items[0].image == f"val2014/{tests[0]['filename']}"
    assert [sum(counts.values()) for counts in caption_counts(items)] == [5, 5, 5, 6, 5, 5, 5, 5, 5, 5]
    assert items[3].captions["en"][5] == f"image {tests[3]['imgid']} caption 5 "
    assert [item.fold for item in items] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_coco_1k_folds_are_consecutive_blocks_that_cover_the_5k_set(karpathy):
    root, _, _, _, _ = karpathy
    whole = read_benchmark("coco", str(root), fold_size=2)
    folds = [read_benchmark("coco", str(root), fold=k, fold_size=2) for k in range(5)]
    assert [item for fold in folds for item in fold] == whole
    assert [[item.fold for item in fold] for fold in folds] == [[k, k] for k in range(5)]
    with pytest.raises(BenchmarkError, match=r"no fold 5; the test split's 10 images make 5 folds of 2 \(0-4\)"):
        read_benchmark("coco", str(root), fold=5, fold_size=2)
    with pytest.raises(BenchmarkError, match=r"fewer than one fold of 1000"):
        read_benchmark("coco", str(root), fold=0)
    assert {item.fold for item in read_benchmark("coco", str(root), fold_size=3)} == {0, 1, 2, None}


def test_coco_and_flickr30k_other_splits(karpathy):
    root, coco, _, flickr, _ = karpathy
    val = read_benchmark("coco", str(root), split="restval")
    assert [item.image_id for item in val] == [str(entry["cocoid"]) for entry in coco if entry["split"] == "restval"]
    train = read_benchmark("coco", str(root), split="train")
    assert train[0].image.startswith("train2014/COCO_train2014_")
    flickr_test = read_benchmark("flickr30k", str(root))
    assert [item.image for item in flickr_test] == [e["filename"] for e in flickr if e["split"] == "test"]
    assert [item.image_id for item in flickr_test] == ["5000", "5002", "5004"]
    assert caption_counts(flickr_test) == [{"en": 5}] * 3
    assert len(read_benchmark("flickr30k", str(root), split="train")) == 1
    with pytest.raises(BenchmarkError, match="benchmark flickr30k has no split 'restval'; it has: test, val, train"):
        read_benchmark("flickr30k", str(root), split="restval")


def test_karpathy_layout_errors(karpathy):
    root, coco, _, _, _ = karpathy
    (root / "dataset_flickr30k.json").write_text('{"images": [')
    with pytest.raises(BenchmarkError, match=r"dataset_flickr30k\.json: not valid JSON"):
        read_benchmark("flickr30k", str(root))
    coco[4].pop("sentences")
    (root / "dataset_coco.json").write_text(json.dumps({"images": coco}))
    with pytest.raises(BenchmarkError, match=r"dataset_coco\.json: images\[4\]: no 'sentences' field"):
        read_benchmark("coco", str(root))
    (root / "dataset_coco.json").write_text(json.dumps([1, 2]))
    with pytest.raises(BenchmarkError, match=r"dataset_coco\.json: no 'images' list"):
        read_benchmark("coco", str(root))


def test_stair_puts_japanese_on_the_karpathy_test_images(stair):
    root, coco, _ = stair
    items = read_benchmark("stair", str(root), fold_size=2)
    english = read_benchmark("coco", str(root), fold_size=2)
    assert [(i.image_id, i.image, i.fold) for i in items] == [(i.image_id, i.image, i.fold) for i in english]
    assert [counts["ja"] for counts in caption_counts(items)] == [5, 5, 5, 4, 5, 5, 5, 5, 5, 5]
    assert items[0].captions == {"ja": tuple(f"ja {items[0].image_id} {n}" for n in range(5))}
    assert [item.image_id for item in read_benchmark("stair", str(root), fold=1, fold_size=2)] == [english[2].image_id, english[3].image_id]


def test_stair_reads_only_the_file_its_images_need(stair):
    root, _, _ = stair
    with pytest.raises(BenchmarkError, match=r"stair_captions_v1\.2_train\.json: no such file \(it comes from stair_captions_v1\.2\.tar\.gz"):
        read_benchmark("stair", str(root), split="train")
    data = json.loads((root / "stair_captions_v1.2_val.json").read_text())
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] != 108]
    (root / "stair_captions_v1.2_val.json").write_text(json.dumps(data))
    with pytest.raises(BenchmarkError, match=r"stair_captions_v1\.2_val\.json: no caption for 1 of the 10 test images \(first: cocoid 108\)"):
        read_benchmark("stair", str(root))


def test_xtd10_reads_eleven_languages_with_crlf_and_no_final_newline(xtd10):
    root, _ = xtd10
    items = read_benchmark("xtd10", str(root))
    assert [item.image for item in items] == [
        "train2014/COCO_train2014_000000061844.jpg",
        "train2014/COCO_train2014_000000061849.jpg",
        "val2014/COCO_val2014_000000129945.jpg",
    ]
    assert caption_counts(items) == [{lang: 1 for lang in ("de", "en", "es", "fr", "it", "ja", "ko", "pl", "ru", "tr", "zh")}] * 3
    assert items[2].captions["ja"] == ("xtd jp 2",) and items[1].captions["es"] == ("xtd es 1",)
    assert items[2].captions["zh"] == ("xtd zh 2",)


def test_xtd10_errors(xtd10):
    root, _ = xtd10
    (root / "MIC/test_1kcaptions_fr.txt").unlink()
    with pytest.raises(BenchmarkError, match=r"MIC/test_1kcaptions_fr\.txt: no such file"):
        read_benchmark("xtd10", str(root))
    (root / "XTD10/test_image_names.txt").write_text("COCO_train2014_000000061844.jpg\nflickr.jpg\nCOCO_val2014_000000129945.jpg\n")
    with pytest.raises(BenchmarkError, match=r"test_image_names\.txt: 'flickr\.jpg' is not a COCO 2014 image name"):
        read_benchmark("xtd10", str(root))
    with pytest.raises(BenchmarkError, match="benchmark xtd10 is not evaluated in folds; folds are for: coco, stair"):
        read_benchmark("xtd10", str(root), fold=0)


def test_coco_cn_groups_numbered_captions_per_test_image(coco_cn):
    root, _ = coco_cn
    items = read_benchmark("coco-cn", str(root))
    assert [item.image for item in items] == [
        "val2014/COCO_val2014_000000290951.jpg",
        "train2014/COCO_train2014_000000128475.jpg",
        "val2014/COCO_val2014_000000217153.jpg",
    ]
    assert caption_counts(items) == [{"zh": 1}, {"zh": 1}, {"zh": 2}]
    assert items[2].captions["zh"] == ("人写 COCO_val2014_000000217153", "第二句")
    assert [item.image_id for item in read_benchmark("coco-cn", str(root), split="val")] == ["COCO_val2014_000000000042"]
    translated = read_benchmark("coco-cn-translated", str(root))
    assert caption_counts(translated) == [{"zh": 5}] * 3
    assert translated[1].captions["zh"][4] == "译 COCO_train2014_000000128475 4"


def test_coco_cn_errors(coco_cn):
    root, _ = coco_cn
    path = root / "imageid.human-written-caption.txt"
    path.write_text(path.read_text(encoding="utf-8") + "COCO_val2014_000000290951 no number\n", encoding="utf-8")
    with pytest.raises(BenchmarkError, match=r"imageid\.human-written-caption\.txt:7: expected '<image id>#<n><TAB><caption>'"):
        read_benchmark("coco-cn", str(root))
    path.write_text("COCO_val2014_000000290951#0 空格分隔\n", encoding="utf-8")
    with pytest.raises(BenchmarkError, match=r"no caption for 2 of the 3 images in coco-cn_test\.txt \(first: COCO_train2014_000000128475\)"):
        read_benchmark("coco-cn", str(root))
    (root / "coco-cn_test.txt").write_text("COCO_val2014_000000290951\n")
    assert read_benchmark("coco-cn", str(root))[0].captions == {"zh": ("空格分隔",)}


def test_xflickrco_reads_eight_languages_over_flickr_and_coco_images(xflickrco):
    root, _, _ = xflickrco
    items = read_benchmark("xflickrco", str(root))
    assert [item.image for item in items] == ["1007129816.jpg", "1009434119.jpg",
                                              "val2014/COCO_val2014_000000391895.jpg", "val2014/COCO_val2014_000000060623.jpg"]
    assert [item.image_id for item in items][2] == "COCO_val2014_000000391895"
    assert caption_counts(items) == [{lang: 1 for lang in ("en", "de", "es", "id", "ja", "ru", "tr", "zh")}] * 4
    assert items[2].captions["tr"] == ("tr 391895",)


def test_xflickrco_errors(xflickrco):
    root, _, _ = xflickrco
    path = root / "datasets/xFlickrCO/annotations/ja/test.jsonl"
    path.write_text(path.read_text(encoding="utf-8") + '{"id": 1, "img_path": "1.jpg"}\n', encoding="utf-8")
    with pytest.raises(BenchmarkError, match=r"annotations/ja/test\.jsonl:5: no 'sentences' field"):
        read_benchmark("xflickrco", str(root))
    path.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(BenchmarkError, match=r"annotations/ja/test\.jsonl:1: not JSON"):
        read_benchmark("xflickrco", str(root))


def test_unknown_benchmark_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="unknown benchmark 'mscoco'; known: multi30k, multi30k-task1"):
        read_benchmark("mscoco", str(tmp_path))
