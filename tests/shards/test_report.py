"""``babelshard report``: the numbers it gathers, the page it writes, and that page in a real
headless browser (Debian's chromium): no console errors, every plot drawn."""
from __future__ import annotations

import base64
import dataclasses
import io
import os

import pytest
from PIL import Image

from babelshard.records import CodeSwitchVariant
from babelshard.shards.report import write_report
from babelshard.shards.report_data import gather, switched_share
from babelshard.shards.weights import find_indexes, write_weights
from babelshard.shards.writer import ShardWriter, write_records
from babelshard.stats import Drop
from babelshard.testing import HeadlessChromium, caption_records, require_command

pytest.importorskip("matplotlib", reason="babelshard report draws with matplotlib (pip install matplotlib)")


def switched(number: int) -> tuple:
    # 1 of 4 tokens switched on even samples, 3 of 4 on odd ones
    langs = ["en", "en", "en", "de"] if number % 2 == 0 else ["de", "fr", "de", "en"]
    return (CodeSwitchVariant(0, "t", ("a", "b", "c", "d"), tuple(langs)),)


def build_dataset(root: str, clip_scores: bool) -> None:
    """A caption folder (translated German with QE scores, code-switching, drops) and two text folders with weights."""
    writer = ShardWriter(os.path.join(root, "caption"), stream="caption", max_samples=4)
    for number, record in enumerate(caption_records(10)):
        meta = {**record.meta, "original_width": 96, "original_height": 64 + number % 2}
        if clip_scores:
            meta["clip_score"] = 0.2 + number / 100
        writer.write_record(dataclasses.replace(record, meta=meta, codeswitched=switched(number)))
    for number in range(3):
        writer.write_drop(Drop(f"k{number}", "download", "not_found" if number else "too_small"))
    writer.close()
    text_records = [dataclasses.replace(r, text=f"Satz Nummer {i}.") for i, r in enumerate(caption_text_records("de", 6))]
    write_records(os.path.join(root, "text", "de"), "text", text_records)
    write_records(os.path.join(root, "text", "fr"), "text", caption_text_records("fr", 2))
    write_weights(os.path.join(root, "text"), find_indexes(os.path.join(root, "text")), alpha=0.3)


def caption_text_records(language: str, count: int):
    from babelshard.records import TextSample, stable_key

    return [TextSample(stable_key("t", language, str(i)), f"phrase {i}", language, "test", 0.9) for i in range(count)]


def test_gather_counts_drops_provenance_scores_and_switching(tmp_path):
    build_dataset(str(tmp_path), clip_scores=True)
    dataset = gather(str(tmp_path))
    caption, de, fr = dataset.folders
    assert caption.drops == {"download/not_found": 2, "download/too_small": 1} and caption.stats.inputs == 13
    assert caption.sampled == 10 and caption.provenance == {("en", "human"): 10, ("de", "ctranslate2"): 10}
    assert caption.quality == {"de": [-0.5] * 10}
    assert sorted(caption.switched_shares) == [0.25] * 5 + [0.75] * 5
    assert sorted(caption.clip_scores) == pytest.approx([0.2 + n / 100 for n in range(10)])
    assert caption.image_sizes == [(48, 48)] * 10 and sorted(set(caption.original_sizes)) == [(96, 64), (96, 65)]
    assert sorted(caption.caption_chars["en"]) == sorted(len(f"emoji number {n}") for n in range(10))
    assert (de.index.stream, de.sampled, fr.sampled) == ("text", 6, 2)
    assert dataset.weights[os.path.join(str(tmp_path), "text")]["languages"]["de"]["samples"] == 6
    assert switched_share(CodeSwitchVariant(0, "", (), ())) is None


def test_page_embeds_every_png_it_writes_and_clip_scores_only_when_present(tmp_path):
    for clip in (True, False):
        root, output = str(tmp_path / f"data-{clip}"), str(tmp_path / f"report-{clip}")
        build_dataset(root, clip_scores=clip)
        page = open(write_report(root, output), encoding="utf-8").read()
        pngs = sorted(name for name in os.listdir(output) if name.endswith(".png"))
        for name in pngs:
            data = open(os.path.join(output, name), "rb").read()
            assert Image.open(io.BytesIO(data)).format == "PNG"
            assert base64.b64encode(data).decode() in page
        assert page.count("<img ") == len(pngs)
        assert ("caption-clip.png" in pngs) is clip
        assert {"caption-drops.png", "caption-languages.png", "caption-lengths.png", "caption-provenance.png",
                "caption-quality.png", "caption-images.png", "caption-codeswitch.png", "text-weights.png",
                "text-de-languages.png", "text-de-lengths.png"} <= set(pngs)
        assert "http://" not in page and "https://" not in page  # nothing to fetch: the page works offline


def test_report_page_renders_in_headless_chromium(tmp_path):
    require_command("chromium", "chromium")
    pytest.importorskip("websocket", reason="websocket-client (pip install websocket-client) talks to chromium")
    build_dataset(str(tmp_path / "data"), clip_scores=True)
    page = write_report(str(tmp_path / "data"), str(tmp_path / "report"))
    pngs = [name for name in os.listdir(tmp_path / "report") if name.endswith(".png")]
    with HeadlessChromium(str(tmp_path / "profile")) as browser:
        assert browser.load(f"file://{page}") == []
        images = browser.evaluate(
            "Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth, shown: i.getBoundingClientRect().width}))"
        )
        screenshot = Image.open(io.BytesIO(browser.screenshot()))
        assert browser.errors() == []
    assert len(images) == len(pngs) >= 10
    assert all(image["complete"] and image["width"] == 700 and image["shown"] > 100 for image in images), images
    assert screenshot.size[0] == 1200 and screenshot.size[1] > 1500  # the whole page, beyond the window
