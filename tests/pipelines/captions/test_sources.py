"""Caption sources: each format parsed from small real files, through Beam file sources."""
from __future__ import annotations

import json

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from babelshard.configbase import ConfigError, parse_config
from babelshard.pipelines.captions.config import CaptionJobConfig
from babelshard.pipelines.captions.read import ReadCaptionSources
from babelshard.records import CaptionSample, stable_key


def source(**fields):
    return parse_config(CaptionJobConfig, {"sources": [fields]}).sources[0]


def read_all(sources, folder) -> tuple[list[tuple], list[tuple]]:
    """Run ReadCaptionSources in a TestPipeline; its records and drops as tuples."""
    with TestPipeline() as pipeline:
        read = pipeline | ReadCaptionSources(sources)
        main = read.main | "SummariseMain" >> beam.Map(lambda r: json.dumps(_as_tuple(r)))
        drops = read.drops | "SummariseDrops" >> beam.Map(lambda d: json.dumps((d.key, d.stage, d.reason)))
        main | "WriteMain" >> beam.io.WriteToText(str(folder / "main.jsonl"), shard_name_template="")
        drops | "WriteDrops" >> beam.io.WriteToText(str(folder / "drops.jsonl"), shard_name_template="")
    return [_tuples(folder / "main.jsonl"), _tuples(folder / "drops.jsonl")]


def _tuples(path) -> list[tuple]:
    def freeze(value):
        return tuple(freeze(v) for v in value) if isinstance(value, list) else value

    return [freeze(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()]


def _as_tuple(record: CaptionSample):
    captions = tuple(sorted((lang, c.text) for lang, c in record.captions.items()))
    extra = tuple(sorted((lang, tuple(t)) for lang, t in record.extra_captions.items()))
    return record.key, record.url, captions, extra, json.dumps(dict(record.meta), sort_keys=True)


def test_cc3m_and_cc12m_tsv_column_orders(tmp_path):
    (tmp_path / "cc3m.tsv").write_text("a dog on a beach\thttp://img.example/1.jpg\nbad line\n", encoding="utf-8")
    (tmp_path / "cc12m.tsv").write_text("http://img.example/2.jpg\ta cat <PERSON> owns\n", encoding="utf-8")
    cc3m = source(name="cc3m", format="tsv", path=str(tmp_path / "cc3m.tsv"), columns=["caption", "url"])
    cc12m = source(name="cc12m", format="tsv", path=str(tmp_path / "cc12m.tsv"), columns=["url", "caption"])
    main, drops = read_all([cc3m, cc12m], tmp_path)
    assert sorted((m[0], m[1], m[2]) for m in main) == sorted([
        (stable_key("cc3m", "http://img.example/1.jpg"), "http://img.example/1.jpg", (("en", "a dog on a beach"),)),
        (stable_key("cc12m", "http://img.example/2.jpg"), "http://img.example/2.jpg", (("en", "a cat <PERSON> owns"),)),
    ])
    assert [d[1:] for d in drops] == [("read", "malformed_row")]


def test_csv_with_quoted_newlines_languages_key_and_extra_columns(tmp_path):
    text = 'id,url,caption,caption_de,license\n7,http://x/a.png,"a red, round\nball",ein roter Ball,cc-by\n8,,no url,,x\n'
    (tmp_path / "t.csv").write_text(text, encoding="utf-8")
    src = source(
        name="mine", format="csv", path=str(tmp_path / "*.csv"), key_column="id",
        language_columns={"de": "caption_de"}, extra_columns=["license"],
    )
    main, drops = read_all([src], tmp_path)
    assert main == [(
        stable_key("mine", "7"), "http://x/a.png", (("de", "ein roter Ball"), ("en", "a red, round\nball")), (),
        json.dumps({"license": "cc-by"}),
    )]
    assert [d[2] for d in drops] == ["missing_url"]


def test_jsonl_and_parquet_tables(tmp_path):
    lines = [json.dumps({"url": "http://x/1.jpg", "caption": "one", "width": 10}), "{not json", "", "[1, 2]"]
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = pa.table({"URL": ["http://x/2.jpg", "http://x/3.jpg"], "TEXT": ["two", None], "sha": ["AB", None]})
    pq.write_table(table, tmp_path / "b.parquet")
    jsonl = source(name="j", format="jsonl", path=str(tmp_path / "a.jsonl"), extra_columns=["width"])
    parquet = source(
        name="p", format="parquet", path=str(tmp_path / "b.parquet"), url_column="URL", caption_column="TEXT",
        hash_column="sha",
    )
    main, drops = read_all([jsonl, parquet], tmp_path)
    assert sorted((m[1], m[2], m[4]) for m in main) == [
        ("http://x/1.jpg", (("en", "one"),), json.dumps({"width": 10})),
        ("http://x/2.jpg", (("en", "two"),), json.dumps({"sha256": "ab"})),
    ]
    assert sorted(d[2] for d in drops) == ["malformed_row", "malformed_row", "missing_caption"]


def test_coco_captions_one_sample_per_image(tmp_path):
    data = {
        "images": [
            {"id": 1, "file_name": "000001.jpg", "coco_url": "http://images.cocodataset.org/val2017/000001.jpg"},
            {"id": 2, "file_name": "000002.jpg", "coco_url": "http://images.cocodataset.org/val2017/000002.jpg"},
        ],
        "annotations": [
            {"id": 30, "image_id": 1, "caption": "third"},
            {"id": 10, "image_id": 1, "caption": "first"},
            {"id": 20, "image_id": 1, "caption": "second"},
        ],
    }
    (tmp_path / "captions_val2017.json").write_text(json.dumps(data), encoding="utf-8")
    coco = source(name="coco", format="coco", path=str(tmp_path / "captions_val2017.json"))
    local = source(name="coco-local", format="coco", path=str(tmp_path / "captions_val2017.json"), image_root="/data/coco")
    main, drops = read_all([coco, local], tmp_path)
    by_source = {m[0]: m for m in main}
    remote = by_source[stable_key("coco", "http://images.cocodataset.org/val2017/000001.jpg")]
    assert remote[2] == (("en", "first"),) and remote[3] == (("en", ("second", "third")),)
    assert stable_key("coco-local", "file:///data/coco/000001.jpg") in by_source
    assert sorted(d[2] for d in drops) == ["missing_caption", "missing_caption"]  # image 2, in both sources


def test_karpathy_splits(tmp_path):
    images = [
        {"filepath": "val2014", "filename": "a.jpg", "split": "test", "cocoid": 5,
         "sentences": [{"raw": "A man rides a horse."}, {"raw": "Horse and rider."}]},
        {"filepath": "train2014", "filename": "b.jpg", "split": "train", "cocoid": 6, "sentences": [{"raw": "A bus."}]},
    ]
    (tmp_path / "dataset_coco.json").write_text(json.dumps({"images": images, "dataset": "coco"}), encoding="utf-8")
    src = source(
        name="karpathy", format="karpathy", path=str(tmp_path / "dataset_coco.json"),
        image_root="http://images.cocodataset.org/", splits=["test"],
    )
    main, drops = read_all([src], tmp_path)
    assert [(m[1], m[2], m[3]) for m in main] == [
        ("http://images.cocodataset.org/val2014/a.jpg", (("en", "A man rides a horse."),), (("en", ("Horse and rider.",)),))
    ]
    assert [d[2] for d in drops] == ["excluded_split"]


def test_multi30k_aligned_files_and_flickr_tokens(tmp_path):
    (tmp_path / "train_images.txt").write_text("1.jpg\n2.jpg\n1.jpg\n", encoding="utf-8")
    (tmp_path / "train.en").write_text("Two dogs play.\nA girl\u2028sings.\nDogs again.\n", encoding="utf-8")
    (tmp_path / "train.de").write_text("Zwei Hunde spielen.\nEin Mädchen singt.\nWieder Hunde.\n", encoding="utf-8")
    (tmp_path / "results.token").write_text("9.jpg#1\tsecond\n9.jpg#0\tfirst\nbroken line\n", encoding="utf-8")
    multi30k = source(
        name="multi30k", format="aligned", path=str(tmp_path / "train_images.txt"),
        captions={"en": str(tmp_path / "train.en"), "de": str(tmp_path / "train.de")}, image_root="http://flickr.example/",
    )
    flickr = source(name="flickr30k", format="flickr_token", path=str(tmp_path / "results.token"), image_root="http://f.example")
    main, drops = read_all([multi30k, flickr], tmp_path)
    by_url = {m[1]: m for m in main}
    assert by_url["http://flickr.example/1.jpg"][2] == (("de", "Zwei Hunde spielen."), ("en", "Two dogs play."))
    assert by_url["http://flickr.example/1.jpg"][3] == (("de", ("Wieder Hunde.",)), ("en", ("Dogs again.",)))
    assert by_url["http://flickr.example/2.jpg"][2] == (("de", "Ein Mädchen singt."), ("en", "A girl\u2028sings."))
    assert by_url["http://f.example/9.jpg"][2:4] == ((("en", "first"),), (("en", ("second",)),))
    assert [d[2] for d in drops] == ["malformed_row"]


def test_misaligned_files_are_a_clear_error(tmp_path):
    from babelshard.pipelines.captions.sources import read_aligned

    (tmp_path / "images.txt").write_text("1.jpg\n2.jpg\n", encoding="utf-8")
    (tmp_path / "en.txt").write_text("only one\n", encoding="utf-8")
    src = source(name="m", format="aligned", path=str(tmp_path / "images.txt"), captions={"en": str(tmp_path / "en.txt")})
    with pytest.raises(ValueError, match="has 1 lines but .* lists 2 images"):
        list(read_aligned(src))


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"name": "x", "format": "tsv", "path": "a.tsv"}, "needs `columns`"),
        ({"name": "x", "format": "xml", "path": "a"}, "sources.0"),
        ({"name": "bad name!", "format": "coco", "path": "a"}, "sources.0.coco.name"),
        ({"name": "x", "format": "aligned", "path": "a", "captions": {"de": "d"}}, "needs an `en` caption file"),
    ],
)
def test_source_config_errors_name_the_key(fields, message):
    with pytest.raises(ConfigError, match=message):
        source(**fields)


def test_source_names_must_be_unique():
    item = {"name": "a", "format": "coco", "path": "x"}
    with pytest.raises(ConfigError, match="repeated: a"):
        parse_config(CaptionJobConfig, {"sources": [item, item]})


def test_missing_source_files_are_config_errors_naming_the_key(tmp_path):
    from babelshard.pipelines.captions.read import check_source_files

    (tmp_path / "images.txt").write_text("1.jpg\n", encoding="utf-8")
    tsv = source(name="a", format="tsv", path=str(tmp_path / "missing.tsv"), columns=["caption", "url"])
    globbed = source(name="b", format="jsonl", path=str(tmp_path / "part-*.jsonl"))
    aligned = source(name="c", format="aligned", path=str(tmp_path / "images.txt"), captions={"en": str(tmp_path / "en.txt")})
    with pytest.raises(ConfigError, match=r"captions.sources.0.path: no file matches .*missing.tsv"):
        check_source_files([tsv])
    with pytest.raises(ConfigError, match=r"captions.sources.0.path: no file matches .*part-\*.jsonl"):
        check_source_files([globbed])
    with pytest.raises(ConfigError, match=r"captions.sources.1.captions.en: no file matches"):
        check_source_files([globbed.model_copy(update={"path": str(tmp_path / "*.txt")}), aligned])


def read_counters(result, namespace: str) -> dict[str, int]:
    from apache_beam.metrics.metric import MetricsFilter

    totals: dict[str, int] = {}
    for item in result.metrics().query(MetricsFilter().with_namespace(namespace))["counters"]:
        totals[item.key.metric.name] = totals.get(item.key.metric.name, 0) + item.committed
    return totals


def test_line_sources_count_every_line_and_every_drop_once(tmp_path):
    lines = [
        json.dumps({"url": "http://x/1.jpg", "caption": "one"}).encode(),
        b"not json",
        b"",
        json.dumps({"url": "", "caption": "no url"}).encode(),
        b'{"url": "http://x/5.jpg", "caption": "bad \xff byte"}',
        json.dumps({"url": "http://x/6.jpg", "caption": "six"}).encode(),
    ]
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    pipeline = TestPipeline()
    read = pipeline | ReadCaptionSources([source(name="j", format="jsonl", path=str(path))])
    read.drops | "Drops" >> beam.Map(lambda d: json.dumps([d.reason, d.detail])) | beam.io.WriteToText(
        str(tmp_path / "drops.jsonl"), shard_name_template=""
    )
    result = pipeline.run()
    result.wait_until_finish()
    drops = sorted(tuple(json.loads(line)) for line in (tmp_path / "drops.jsonl").read_text(encoding="utf-8").splitlines())
    assert [reason for reason, _ in drops] == ["bad_encoding", "malformed_row", "missing_url"]
    assert [detail.split(":")[0] for reason, detail in drops if reason != "missing_url"] == [f"{path} line 5", f"{path} line 2"]
    parse, numbered = read_counters(result, "read_j"), read_counters(result, "read_j_lines")
    assert parse["inputs"] == len(lines)
    # the parse stage passes lines still to be numbered on; the numbering stage drops them all
    assert numbered["inputs"] == 2 and "outputs" not in numbered
    dropped = {name: count for counts in (parse, numbered) for name, count in counts.items() if name.startswith("dropped/")}
    assert sum(dropped.values()) == len(drops)
    assert dropped == {f"dropped/{reason}": 1 for reason, _ in drops}
    assert parse["outputs"] == 2 + numbered["inputs"]  # two records and the two lines to number
