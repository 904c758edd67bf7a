"""Caption sources of the wrong shape: an item with a missing or mistyped field is a
counted drop naming the field; a file that is not its format, or a parquet schema
that does not fit the config, is a one-line error naming file, column, type and key,
and ``babelshard build`` exits 2 with that line and no traceback."""
from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from babelshard.configbase import ConfigError
from babelshard.pipelines.captions.checks import check_source_files
from babelshard.pipelines.captions.cocojson import coco_records, karpathy_records
from babelshard.pipelines.captions.sources import SourceFileError


def test_coco_items_with_missing_or_mistyped_fields_are_drops_naming_the_field(tmp_path, read_sources, make_source):
    data = {
        "images": [
            {"id": 1, "coco_url": "http://coco/1.jpg"},
            {"coco_url": "http://coco/2.jpg"},  # no id
            {"id": 3, "coco_url": 12345},  # not a string
            "not an object",
            {"id": 5, "coco_url": "http://coco/5.jpg"},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "caption": "first"},
            {"id": 2, "caption": "names no image"},
            {"id": 3, "image_id": 5, "caption": ["a", "list"]},
            {"id": 4, "image_id": 77, "caption": "an image that is not listed"},
            {"id": 5, "image_id": 5, "caption": "five"},
        ],
    }
    path = tmp_path / "captions.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    records, drops = read_sources([make_source(name="coco", format="coco", path=str(path))])
    assert [r[0] for r in records] == ["http://coco/1.jpg", "http://coco/5.jpg"]
    assert {d[0] for d in drops} == {"malformed_row"}
    problems = sorted(d[1].split(": ")[1] for d in drops)
    assert problems == sorted([
        "images[1] has no id",
        "images[2].coco_url is int, expected str",
        "images[3] is str, expected an object",
        "annotations[1] has no image_id",
        "annotations[2].caption is list, expected str",
        "annotations name image_id 77, which is not in images",
    ])
    assert all(d[1].startswith(f"{path}: ") for d in drops)


@pytest.mark.parametrize(
    "document, problem",
    [
        ([{"id": 1}], "the top level is a list, expected an object with `images` and `annotations`"),
        ("just a string", "the top level is str, expected an object with `images` and `annotations`"),
        ({"images": {"1": {}}, "annotations": []}, "`images` is dict, expected a list"),
    ],
)
def test_a_coco_file_of_the_wrong_shape_is_one_error_naming_it(tmp_path, make_source, document, problem):
    src = make_source(name="coco", format="coco", path=str(tmp_path / "c.json"))
    with pytest.raises(SourceFileError) as error:
        list(coco_records(document, src, "c.json"))
    assert str(error.value) == f"source coco: c.json: {problem}"


def test_karpathy_items_with_missing_fields_are_drops(make_source):
    src = make_source(name="k", format="karpathy", path="k.json", image_root="http://k/")
    data = {"images": [
        {"filepath": "a", "filename": "1.jpg", "split": "train", "sentences": [{"raw": "one"}]},
        {"filepath": "a", "split": "train", "sentences": [{"raw": "no filename"}]},
        {"filepath": "a", "filename": "3.jpg", "sentences": [{"tokens": ["no", "raw"]}]},
        {"filepath": "a", "filename": "4.jpg", "sentences": "not a list"},
    ]}
    results = list(karpathy_records(data, src, "k.json"))
    assert [type(r).__name__ for r in results] == ["CaptionSample", "Drop", "Drop", "Drop"]
    assert [r.detail.split(": ")[1] for r in results[1:]] == [
        "images[1] has no filename", "images[2].sentences[0] has no raw", "images[3].sentences is str, expected list",
    ]


def write_parquet(path, columns: dict) -> str:
    pq.write_table(pa.table(columns), path)
    return str(path)


@pytest.mark.parametrize(
    "columns, fields, message",
    [
        ({"URL": ["http://x/1.jpg"], "TEXT": ["one"]}, {},
         "captions.sources.0.url_column: column 'url' is not in {path} (its columns: URL, TEXT)"),
        ({"url": [1, 2], "caption": ["a", "b"]}, {},
         "captions.sources.0.url_column: column 'url' of {path} is int64; expected a string column"),
        ({"url": ["http://x/1.jpg"], "caption": [["a caption", "another"]]}, {},
         "captions.sources.0.caption_column: column 'caption' of {path} is list<element: string>; "
         "set caption_lists: true to read one caption per item"),
        ({"url": ["http://x/1.jpg"], "caption": [[1, 2]]}, {"caption_lists": True},
         "captions.sources.0.caption_column: column 'caption' of {path} is list<element: int64>; expected a list of strings"),
        ({"url": ["http://x/1.jpg"], "caption": ["a"]}, {"language_columns": {"de": "caption_de"}},
         "captions.sources.0.language_columns.de: column 'caption_de' is not in {path} (its columns: url, caption)"),
        ({"url": ["http://x/1.jpg"], "caption": ["a"], "sha": [3]}, {"hash_column": "sha"},
         "captions.sources.0.hash_column: column 'sha' of {path} is int64; expected a string column"),
    ],
)
def test_a_parquet_schema_that_does_not_fit_the_config_is_one_error(tmp_path, make_source, columns, fields, message):
    path = write_parquet(tmp_path / "t.parquet", columns)
    with pytest.raises(ConfigError) as error:
        check_source_files([make_source(name="p", format="parquet", path=path, **fields)])
    assert str(error.value) == message.format(path=path)


def test_a_parquet_file_that_is_not_parquet_is_one_error(tmp_path, make_source):
    path = tmp_path / "fake.parquet"
    path.write_text("url,caption\nhttp://x/1.jpg,one\n", encoding="utf-8")
    with pytest.raises(SourceFileError, match=rf"^source p: {path} is not a parquet file \(.*\)$"):
        check_source_files([make_source(name="p", format="parquet", path=str(path))])


def test_list_captions_are_one_caption_per_item_only_when_configured(tmp_path, read_sources, make_source):
    path = write_parquet(tmp_path / "lists.parquet", {
        "url": ["http://x/1.jpg", "http://x/2.jpg"], "caption": [["first", "second"], []],
    })
    records, drops = read_sources([make_source(name="p", format="parquet", path=path, caption_lists=True)])
    assert records == [["http://x/1.jpg", {"en": "first"}, {"en": ["second"]}]]
    assert [d[0] for d in drops] == ["missing_caption"]


def test_jsonl_cells_of_the_wrong_type_are_drops_naming_the_field(tmp_path, read_sources, make_source):
    rows = [
        {"url": "http://x/1.jpg", "caption": "fine"},
        {"url": 7, "caption": "number url"},
        {"url": "http://x/3.jpg", "caption": ["a", "list"]},
        {"url": "http://x/4.jpg", "caption": {"en": "an object"}},
    ]
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    records, drops = read_sources([make_source(name="j", format="jsonl", path=str(path))])
    assert [r[0] for r in records] == ["http://x/1.jpg"]
    expected = {
        3: "field caption is a list: set caption_lists: true to read one caption per item",
        4: "field caption is an object, expected a string",
        2: "field url is int, expected a string",
    }
    assert sorted(d[1] for d in drops) == sorted(
        f"{path} line {line}: {problem}: {json.dumps(dict(sorted(rows[line - 1].items())))}" for line, problem in expected.items()
    )
    assert all(d[0] == "malformed_row" for d in drops)


def test_malformed_rows_name_their_line_and_quote_200_characters(tmp_path, read_sources, make_source):
    long_line = "x" * 500
    path = tmp_path / "t.tsv"
    path.write_text(f"a dog\thttp://x/1.jpg\n{long_line}\n", encoding="utf-8")
    _, drops = read_sources([make_source(name="t", format="tsv", path=str(path), columns=["caption", "url"])])
    assert drops == [("malformed_row", f"{path} line 2: 1 fields, expected 2: {'x' * 200}")]


def build_config(tmp_path, source: dict) -> str:
    config = {"output": {"folder": str(tmp_path / "out")}, "captions": {"sources": [source]}}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["coco-list", "not-parquet", "utf16"])
def test_build_exits_2_with_one_line_for_a_bad_source_file(tmp_path, case):
    if case == "coco-list":  # found by the worker that reads the file
        (tmp_path / "c.json").write_text("[]", encoding="utf-8")
        source = {"name": "c", "format": "coco", "path": str(tmp_path / "c.json")}
    elif case == "not-parquet":
        (tmp_path / "p.parquet").write_bytes(b"PAR2 not really")
        source = {"name": "p", "format": "parquet", "path": str(tmp_path / "p.parquet")}
    else:
        (tmp_path / "t.tsv").write_bytes("a\thttp://x/1.jpg\n".encode("utf-16"))
        source = {"name": "t", "format": "tsv", "path": str(tmp_path / "t.tsv"), "columns": ["caption", "url"]}
    result = subprocess.run([sys.executable, "-m", "babelshard.cli", "build", build_config(tmp_path, source)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: source "), result.stderr[-3000:]
    assert "Traceback" not in result.stderr
