"""Fixtures of the caption ingest tests: real images and a real loopback HTTP server that
misbehaves on purpose (404, 500, 429, slow, HTML, truncated, oversized, bomb, redirects).
"""
from __future__ import annotations

import io
import threading
import time
import zlib
from collections import Counter
from http.server import ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from babelshard.pipelines.captions.config import ResizeConfig
from babelshard.pipelines.demo.job import default_demo_config
from babelshard.testing import QuietHandler, png_file

SLOW_SECONDS = 2.0


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def noise_jpeg(width: int, height: int, seed: int) -> bytes:
    """Noise does not compress: a JPEG whose size grows with its area."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return jpeg_bytes(Image.fromarray(pixels), quality=95)


def png_bomb(side: int) -> bytes:
    """A valid grayscale PNG of side x side zero pixels: tiny file, huge when decoded."""
    header = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    compressor = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    return png_file(header, b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush())


@pytest.fixture(scope="session")
def real_images(tmp_path_factory):
    """Rendered OpenMoji PNGs (real artwork) as PNG and JPEG, plus special files."""
    from babelshard.pipelines.demo.openmoji import pick_emoji, render_png

    emoji = pick_emoji(12, ["en"])
    images = {}
    for number, item in enumerate(emoji):
        png = render_png(item.hexcode, 96)
        images[f"/img/{number}.png"] = (png, "image/png")
        images[f"/img/{number}.jpg"] = (jpeg_bytes(Image.open(io.BytesIO(png))), "image/jpeg")
    whole = noise_jpeg(160, 120, 1)
    images["/truncated.jpg"] = (whole[: len(whole) // 2], "image/jpeg")
    images["/big.jpg"] = (noise_jpeg(700, 700, 2), "image/jpeg")
    images["/bomb.png"] = (png_bomb(12_000), "image/png")
    images["/tiny.jpg"] = (jpeg_bytes(Image.new("RGB", (6, 6), "red")), "image/jpeg")
    images["/html"] = (b"<!doctype html><html><body>Not found, sorry</body></html>", "text/html; charset=utf-8")
    return images


class MisbehavingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, images):
        super().__init__(("127.0.0.1", 0), MisbehavingHandler)
        self.images = images
        self.hits: Counter = Counter()
        self.lock = threading.Lock()
        self.active = self.peak = 0  # requests to /held/ being served at once, and the most seen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def hit(self, path: str) -> int:
        with self.lock:
            self.hits[path] += 1
            return self.hits[path]

    def handle_error(self, request, client_address) -> None:
        pass  # clients that time out hang up on the slow route


class MisbehavingHandler(QuietHandler):
    def send_body(self, data: bytes, content_type: str, status: int = 200, headers=(), length: int | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data) if length is None else length))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        server: MisbehavingServer = self.server
        path = self.path.split("?", 1)[0]
        count = server.hit(path)
        first_image = server.images["/img/0.jpg"]
        if path in server.images:
            self.send_body(*server.images[path])
        elif path == "/500":
            self.send_body(b"oops", "text/plain", status=500)
        elif path.startswith("/429-once/"):
            if count == 1:
                self.send_body(b"slow down", "text/plain", status=429, headers=[("Retry-After", "0")])
            else:
                self.send_body(*first_image)
        elif path == "/429-always":
            self.send_body(b"slow down", "text/plain", status=429, headers=[("Retry-After", "0")])
        elif path == "/slow.jpg":
            time.sleep(SLOW_SECONDS)
            self.send_body(*first_image)
        elif path.startswith("/held/"):
            with server.lock:
                server.active += 1
                server.peak = max(server.peak, server.active)
            time.sleep(0.2)
            with server.lock:
                server.active -= 1
            self.send_body(*first_image)
        elif path == "/robots.jpg":
            self.send_body(*first_image, headers=[("X-Robots-Tag", "noai")])
        elif path == "/short-read.jpg":
            data, content_type = first_image
            self.send_body(data[:100], content_type, length=len(data))
        elif path == "/chunked-big.jpg":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(server.images["/big.jpg"][0])
        elif path.startswith("/redirect/"):
            target = {
                "ok": "/img/1.jpg",
                "private": "http://10.1.2.3/image.jpg",
                "metadata": "http://169.254.169.254/latest/meta-data/",
                "ftp": "ftp://127.0.0.1/image.jpg",
                "loop": "/redirect/loop",
            }[path.rsplit("/", 1)[1]]
            self.redirect(target)
        else:
            self.send_body(b"no such thing", "text/plain", status=404)


@pytest.fixture(scope="session")
def image_server(real_images):
    server = MisbehavingServer(real_images)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def download_settings():
    """The demo's download settings (loopback allowed, no per-host rate limit) with fast
    limits for tests: short timeouts and backoff, a small byte limit, small JPEGs."""
    demo = default_demo_config().captions.download
    image = ResizeConfig(image_size=32, resize_mode="border", encode_format="jpg", min_image_size=8)
    fast = {"thread_count": 8, "timeout": 0.5, "deadline": 10.0, "retries": 2, "backoff": 0.01, "max_backoff": 0.05,
            "max_bytes": 400_000, "per_host_concurrency": 8, "image": image}
    return demo.model_copy(update=fast)
