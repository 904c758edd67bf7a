"""The adversarial suite's own loopback server: it drips headers and bodies, stalls,
and redirects to places a downloader must not go. Every slow route stops by itself
(after ``DRIP_LIMIT`` seconds or when the client hangs up)."""
from __future__ import annotations

import io
import threading
import time
from http.server import ThreadingHTTPServer

import pytest
from PIL import Image

from babelshard.pipelines.captions.config import DownloadConfig, ResizeConfig
from babelshard.testing import QuietHandler

DRIP_EVERY = 0.25  # seconds between two bytes: far below any per-read timeout used here
DRIP_LIMIT = 30.0  # a dripping route gives up after this long even if nobody hangs up
GATE_LIMIT = 300.0  # a gated route serves after this long even if the test never opens the gate


def small_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((40, 40)).convert("RGB").save(buffer, format="JPEG")
    return buffer.getvalue()


class HostileHandler(QuietHandler):
    protocol_version = "HTTP/1.1"

    def drip(self, data: bytes) -> None:
        """Send ``data`` one byte at a time, DRIP_EVERY apart, until done, hung up or DRIP_LIMIT."""
        stop = time.monotonic() + DRIP_LIMIT
        for byte in data:
            if time.monotonic() > stop:
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return  # the client gave up: what it should do
            time.sleep(DRIP_EVERY)

    def do_GET(self) -> None:  # noqa: N802
        image = self.server.image
        path = self.path
        if path == "/ok.jpg":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(image)))
            self.end_headers()
            self.wfile.write(image)
        elif path == "/drip-headers.jpg":
            headers = "HTTP/1.1 200 OK\r\n" + "".join(f"X-Padding-{i}: {'x' * 40}\r\n" for i in range(100))
            self.drip(headers.encode("ascii"))
        elif path == "/drip-body.jpg":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(image)))
            self.end_headers()
            self.wfile.flush()
            self.drip(image)
        elif path.startswith("/gated/"):  # a distinct real image per number, when the gate is open
            from babelshard.testing import png_image

            with self.server.lock:
                self.server.waiting += 1
            self.server.gate.wait(GATE_LIMIT)
            time.sleep(0.05)
            data = png_image(int(path.rsplit("/", 1)[1].split(".")[0]))
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif path == "/silent.jpg":
            time.sleep(min(DRIP_LIMIT, 20.0))  # accepts, then says nothing
        elif path.startswith("/redirect/"):
            port = self.server.server_address[1]
            self.redirect({
                "file": "file:///etc/passwd",
                "credentials": f"http://user:secret@127.0.0.1:{port}/ok.jpg",
                "bad-port": "http://127.0.0.1:99999/ok.jpg",
                "ok": "/ok.jpg",
            }[path.rsplit("/", 1)[1]])
        else:
            self.send_error(404)


class HostileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), HostileHandler)
        self.image = small_jpeg()
        self.gate = threading.Event()  # open unless a test closes it
        self.gate.set()
        self.lock = threading.Lock()
        self.waiting = 0  # requests that have reached a closed or open gate

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request, client_address) -> None:
        pass  # clients that hang up on a dripping route are expected


@pytest.fixture(scope="module")
def hostile_server():
    server = HostileServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def strict_settings():
    """A 2 s deadline and a 1 s per-read timeout: each drip byte comes well within the timeout."""
    return DownloadConfig(
        thread_count=2, timeout=1.0, deadline=2.0, retries=2, backoff=0.01, max_backoff=0.05,
        per_host_rate=0.0, allow_loopback=True,
        image=ResizeConfig(image_size=32, resize_mode="border", encode_format="jpg", min_image_size=8),
    )


@pytest.fixture
def read_sources(tmp_path):
    """Run ReadCaptionSources in a TestPipeline: (records, drops) as plain tuples,
    records as (url, captions per language, extra captions), drops as (reason, detail)."""
    import json

    import apache_beam as beam
    from apache_beam.testing.test_pipeline import TestPipeline

    from babelshard.pipelines.captions.read import ReadCaptionSources

    def record_row(record) -> str:
        captions = {lang: caption.text for lang, caption in record.captions.items()}
        extra = {lang: list(texts) for lang, texts in record.extra_captions.items()}
        return json.dumps([record.url, captions, extra], sort_keys=True)

    def run(sources, name: str = "read"):
        folder = tmp_path / f"{name}-out"
        with TestPipeline() as pipeline:
            read = pipeline | ReadCaptionSources(sources)
            read.main | "Records" >> beam.Map(record_row) | "WriteRecords" >> beam.io.WriteToText(
                str(folder / "records.jsonl"), shard_name_template=""
            )
            read.drops | "Drops" >> beam.Map(lambda d: json.dumps([d.reason, d.detail])) | "WriteDrops" >> beam.io.WriteToText(
                str(folder / "drops.jsonl"), shard_name_template=""
            )
        rows = lambda name: sorted(json.loads(line) for line in (folder / name).read_text(encoding="utf-8").splitlines())  # noqa: E731
        return rows("records.jsonl"), [tuple(row) for row in rows("drops.jsonl")]

    return run


def table_source(**fields):
    from babelshard.configbase import parse_config
    from babelshard.pipelines.captions.config import CaptionJobConfig

    return parse_config(CaptionJobConfig, {"sources": [fields]}).sources[0]


@pytest.fixture
def make_source():
    """A source config from keyword fields, validated like the YAML would be."""
    return table_source
