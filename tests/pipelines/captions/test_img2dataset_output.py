"""img2dataset's own output (its real downloader run against a loopback HTTP server, in
each of its three output formats) imported as a caption stream, with the server gone."""
from __future__ import annotations

import csv
import io
import os
import tarfile

import pytest
from typer.testing import CliRunner

from babelshard.cli import app
from babelshard.pipelines.captions.img2dataset_output import (
    Img2datasetFolderError,
    Img2datasetReason,
    import_img2dataset,
    read_img2dataset,
)
from babelshard.pipelines.demo.httpserver import serve_folder
from babelshard.shards.reader import iter_records, verify_folder
from babelshard.stats import Drop
from babelshard.testing import png_image

GOOD = 6
FORMATS = ("webdataset", "parquet", "files")


def _rows(base: str) -> list[dict[str, str]]:
    rows = [{"url": f"{base}/img{i}.png", "caption": f"a gradient number {i}"} for i in range(GOOD)]
    rows.append({"url": f"{base}/gone.png", "caption": "a missing image"})  # 404
    rows.append({"url": f"{base}/notimage.png", "caption": "text, not an image"})  # cannot be decoded
    rows.append({"url": f"{base}/img0.png?again", "caption": ""})  # no caption
    return rows


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One real img2dataset run per output format; the server is stopped afterwards."""
    img2dataset = pytest.importorskip("img2dataset")
    root = tmp_path_factory.mktemp("img2dataset")
    served = root / "served"
    served.mkdir()
    for i in range(GOOD):
        (served / f"img{i}.png").write_bytes(png_image(i, size=40))
    (served / "notimage.png").write_bytes(b"this is not an image\n")
    saved_env = dict(os.environ)
    os.environ.update(no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost")
    outputs = {}
    try:
        with serve_folder(str(served)) as base:
            rows = _rows(base)
            url_list = root / "urls.csv"
            with open(url_list, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=["url", "caption"])
                writer.writeheader()
                writer.writerows(rows)
            for output_format in FORMATS:
                outputs[output_format] = str(root / output_format)
                img2dataset.download(
                    url_list=str(url_list), input_format="csv", url_col="url", caption_col="caption",
                    output_format=output_format, output_folder=outputs[output_format], image_size=32,
                    processes_count=1, thread_count=2, number_sample_per_shard=4, timeout=5, retries=0,
                    enable_wandb=False, extract_exif=False)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
    return outputs, rows


@pytest.mark.parametrize("output_format", FORMATS)
def test_every_row_is_a_sample_or_a_drop_with_img2datasets_status(runs, tmp_path, output_format):
    outputs, rows = runs
    index = import_img2dataset(outputs[output_format], str(tmp_path / "caption"), max_samples=4)
    assert index.samples == GOOD
    stats = __import__("json").loads((tmp_path / "caption" / "stats.json").read_text())
    assert stats["inputs"] == len(rows)
    assert stats["drops"] == {
        "import_img2dataset/failed_to_download": 1,
        "import_img2dataset/failed_to_resize": 1,
        "import_img2dataset/missing_caption": 1,
    }
    verify_folder(str(tmp_path / "caption"))
    captions = {record.url: record.caption for record in iter_records(str(tmp_path / "caption"))}
    assert captions == {row["url"]: row["caption"] for row in rows[:GOOD]}


def test_images_are_img2datasets_own_bytes(runs):
    outputs, rows = runs
    members = {}
    for name in sorted(os.listdir(outputs["webdataset"])):
        if name.endswith(".tar"):
            with tarfile.open(os.path.join(outputs["webdataset"], name)) as tar:
                for member in tar:
                    members[member.name] = tar.extractfile(member).read()
    captioned = [name[: -len(".txt")] for name, data in members.items() if name.endswith(".txt") and data.strip()]
    samples = [r for r in read_img2dataset(outputs["webdataset"]) if not isinstance(r, Drop)]
    assert len(captioned) == GOOD
    assert sorted(s.image for s in samples) == sorted(members[f"{key}.jpg"] for key in captioned)
    from PIL import Image

    assert {Image.open(io.BytesIO(s.image)).size for s in samples} == {(32, 32)}


def test_the_three_formats_give_the_same_stream(runs, tmp_path):
    outputs, _ = runs
    streams = []
    for output_format in FORMATS:
        records = list(read_img2dataset(outputs[output_format]))
        # sorted: img2dataset writes a shard's rows in the order its downloads finish
        streams.append(sorted((r.key, r.reason if isinstance(r, Drop) else r.image) for r in records))
    assert streams[0] == streams[1] == streams[2]


def test_a_download_error_keeps_its_message_as_detail(runs):
    outputs, rows = runs
    drops = {d.url: d for d in read_img2dataset(outputs["parquet"]) if isinstance(d, Drop)}
    gone = drops[rows[GOOD]["url"]]
    assert gone.reason == Img2datasetReason.FAILED_TO_DOWNLOAD and "404" in gone.detail


def test_an_unfinished_run_is_refused_in_one_line(runs, tmp_path):
    import shutil

    outputs, _ = runs
    copy = tmp_path / "copy"
    shutil.copytree(outputs["webdataset"], copy)
    os.remove(copy / "00001_stats.json")
    with pytest.raises(Img2datasetFolderError, match="00001_stats.json"):
        import_img2dataset(str(copy), str(tmp_path / "out"))
    assert not (tmp_path / "out" / "index.json").exists()


def test_the_cli_imports_and_names_a_missing_folder(runs, tmp_path):
    outputs, _ = runs
    runner = CliRunner()
    result = runner.invoke(app, ["import", "img2dataset", outputs["files"], str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert f"wrote {GOOD} samples" in result.output
    result = runner.invoke(app, ["import", "img2dataset", str(tmp_path / "nowhere"), str(tmp_path / "out2")])
    assert result.exit_code == 2
    assert "nowhere" in result.output and len(result.output.strip().splitlines()) == 1
