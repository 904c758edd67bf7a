"""Helpers for babelshard's own tests and for users testing their configs offline."""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import struct
import zlib
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable, Iterator, Sequence

from babelshard.records import Caption, CaptionSample, stable_key


def require_debian(path: str, package: str) -> None:
    """Skip the calling test unless a file that a Debian package installs is present."""
    import pytest

    if not os.path.exists(path):
        pytest.skip(f"needs the Debian package {package} (apt-get install {package})")


def require_command(command: str, package: str) -> None:
    """Skip the calling test unless a command that a Debian package installs is on PATH."""
    import pytest

    if shutil.which(command) is None:
        pytest.skip(f"needs `{command}` from the Debian package {package} (apt-get install {package})")


def read_fortunes(path: str) -> list[str]:
    """Fortunes of one Debian fortune file, each joined into one paragraph (the files are hard-wrapped)."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    paragraphs = []
    for fortune in text.split("\n%\n"):
        paragraph = " ".join(line.strip() for line in fortune.splitlines() if line.strip() and line.strip() != "%")
        if paragraph:
            paragraphs.append(paragraph)
    return paragraphs


def django_catalogues(target: str) -> str:
    """Extract Django's conf/locale and contrib/admin/locale catalogues (.po and .mo) into ``target``.

    The Django wheel is fetched once with ``pip download`` into babelshard's cache; the
    calling test skips, naming the command, when that fails. Returns ``target/django``.
    """
    import glob
    import subprocess
    import sys
    import zipfile

    import pytest

    from babelshard.langid import cache_dir

    wheels = cache_dir() / "wheels"
    found = sorted(glob.glob(str(wheels / "django-*.whl")))
    if not found:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(wheels), "django"]
        result = subprocess.run(command, capture_output=True, text=True)
        found = sorted(glob.glob(str(wheels / "django-*.whl")))
        if result.returncode != 0 or not found:
            pytest.skip(f"Django wheel unavailable (pip download django): {result.stderr.strip()[-200:]}")
    with zipfile.ZipFile(found[-1]) as archive:
        for name in archive.namelist():
            if "/locale/" in name and name.endswith(("django.po", "django.mo")) and (
                name.startswith("django/conf/") or name.startswith("django/contrib/admin/")
            ):
                archive.extract(name, target)
    return os.path.join(target, "django")


def toy_translation(model_dir: str, targets: Sequence[str] = ("es", "de"), **sections: Any) -> dict:
    """A translate section's settings sending every target to the toy CTranslate2 model in
    ``model_dir`` (greedy, at most 8 tokens) with parallel pairs on and the filters off;
    ``sections`` replace whole sections."""
    engine = {"kind": "ctranslate2", "model_path": model_dir, "language_tokens": "m2m100", "device": "cpu",
              "beam_size": 1, "max_decoding_length": 8}
    settings = {"targets": {target: "toy" for target in targets}, "engines": {"toy": engine},
                "filters": {"enabled": False}, "outputs": {"parallel": True}}
    return {**settings, **sections}


def png_image(index: int, size: int = 48) -> bytes:
    """A small real PNG: a colour gradient that differs per index."""
    from PIL import Image

    image = Image.linear_gradient("L").resize((size, size)).convert("RGB")
    image = Image.merge("RGB", (image.getchannel(0), Image.new("L", (size, size), index * 37 % 256), image.getchannel(2)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def caption_records(count: int, image_bytes: int = 0) -> list[CaptionSample]:
    records = []
    for i in range(count):
        image = png_image(i) if image_bytes == 0 else bytes((i * 31 + j) % 251 for j in range(image_bytes))
        records.append(
            CaptionSample(
                key=stable_key("test", f"http://127.0.0.1/{i}.png"),
                source="test",
                url=f"http://127.0.0.1/{i}.png",
                captions={
                    "en": Caption(f"emoji number {i}"),
                    "de": Caption(f"Emoji Nummer {i}", provenance="mt", engine="ctranslate2", model="tiny", score=-0.5),
                },
                image=image,
                image_format="png",
                meta={"width": 48, "height": 48},
            )
        )
    return records


def synthetic_photo(width: int, height: int, seed: int) -> "Image.Image":
    """An RGB picture with a photo's statistics: a 1/f amplitude spectrum (as natural
    scenes have), colour that mostly follows luminance, a few hard-edged shapes and
    sensor grain. The field is drawn at a quarter of the size and upsampled, as a lens
    blurs, so even 4,000-pixel pictures take a fraction of a second."""
    import numpy as np
    from PIL import Image, ImageChops, ImageDraw

    rng = np.random.default_rng(seed)
    small_h, small_w = max(2, height // 4), max(2, width // 4)
    frequency = np.hypot(np.fft.fftfreq(small_h)[:, None], np.fft.rfftfreq(small_w)[None, :])
    frequency[0, 0] = 1.0
    shape = (3, small_h, small_w // 2 + 1)
    spectrum = (rng.normal(size=shape) + 1j * rng.normal(size=shape)) / frequency
    field = np.fft.irfft2(spectrum, s=(small_h, small_w))
    field = 0.7 * field[0] + 0.3 * field  # colour channels share most of the luminance
    low, high = field.min(axis=(1, 2), keepdims=True), field.max(axis=(1, 2), keepdims=True)
    channels = (field - low) / np.maximum(high - low, 1e-9) * 255
    image = Image.fromarray(channels.transpose(1, 2, 0).astype(np.uint8)).resize((width, height), Image.BICUBIC)
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(1, max(2, min(width, height) // 3)))
        colour = tuple(int(value) for value in rng.integers(0, 256, 3))
        draw.ellipse((x, y, x + size, y + size // 2 + 1), fill=colour)
    grain = Image.fromarray(rng.integers(0, 7, (height, width, 3), dtype=np.uint8))  # uniform, deviation 2
    return ImageChops.add(image, grain, offset=-3)


def encode_image(image: "Image.Image", image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, data and CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_file(header: bytes, compressed: bytes) -> bytes:
    """A PNG built by hand from its IHDR data and its zlib-compressed scanlines."""
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", compressed) + png_chunk(b"IEND", b"")


def varied_images(seed: int = 0) -> dict[str, bytes]:
    """Encoded pictures in the forms a crawl meets: JPEG photos from 6 px to 3,200 px (sides
    that are and are not multiples of 8, panoramas, qualities 75-92), every EXIF
    orientation, CMYK, grey, grey + alpha, RGBA with graded and with opaque alpha, palette
    with and without transparency, GIF, WebP, 16-bit grey and 16-bit colour PNG. Names say
    what each is; 16-bit ones start with ``16bit``."""
    import cv2
    import numpy as np
    from PIL import Image

    def photo(width: int, height: int) -> Image.Image:
        return synthetic_photo(width, height, seed + width * 7 + height)

    images = {
        f"photo_{w}x{h}.jpg": encode_image(photo(w, h), "JPEG", quality=q)
        for w, h, q in [(6, 6, 90), (31, 17, 90), (300, 200, 90), (640, 480, 85), (1024, 768, 92),
                        (1603, 1201, 80), (3200, 2400, 90), (2400, 600, 90), (600, 1400, 75)]
    }
    base, large = photo(480, 320), photo(2400, 1600)
    for orientation in range(1, 9):
        exif = base.getexif()
        exif[0x0112] = orientation
        images[f"exif{orientation}_480x320.jpg"] = encode_image(base, "JPEG", quality=90, exif=exif.tobytes())
    exif = large.getexif()
    exif[0x0112] = 6
    images["exif6_2400x1600.jpg"] = encode_image(large, "JPEG", quality=90, exif=exif.tobytes())
    alpha = Image.linear_gradient("L").resize(base.size).rotate(30, expand=False, fillcolor=0)
    images.update({
        "cmyk_480x320.jpg": encode_image(base.convert("CMYK"), "JPEG", quality=90),
        "cmyk_2400x1600.jpg": encode_image(large.convert("CMYK"), "JPEG", quality=90),
        "grey_2400x1600.jpg": encode_image(large.convert("L"), "JPEG", quality=90),
        "grey_480x320.png": encode_image(base.convert("L"), "PNG"),
        "grey_alpha_480x320.png": encode_image(Image.merge("LA", (base.convert("L"), alpha)), "PNG"),
        "rgba_480x320.png": encode_image(Image.merge("RGBA", (*base.split(), alpha)), "PNG"),
        "rgba_opaque_1024x768.png": encode_image(photo(1024, 768).convert("RGBA"), "PNG"),
        "palette_480x320.png": encode_image(base.convert("P"), "PNG"),
        "palette_transparent_480x320.png": encode_image(base.convert("P"), "PNG", transparency=0),
        "palette_transparent_480x320.gif": encode_image(base.convert("P"), "GIF", transparency=0),
        "photo_640x480.webp": encode_image(photo(640, 480), "WEBP", quality=90),
        "rgba_480x320.webp": encode_image(Image.merge("RGBA", (*base.split(), alpha)), "WEBP", quality=90),
    })
    low_bits = np.random.default_rng(seed).integers(0, 256, (*base.size[::-1], 3), dtype=np.uint16)
    deep_bgr = np.asarray(base)[:, :, ::-1].astype(np.uint16) * 256 + low_bits
    images["16bit_grey_480x320.png"] = encode_image(Image.fromarray(np.ascontiguousarray(deep_bgr[:, :, 1])), "PNG")
    images["16bit_rgb_480x320.png"] = cv2.imencode(".png", deep_bgr)[1].tobytes()
    return images


def write_karpathy_coco(root: str, images_root: str, test_images: list[tuple[bytes, list[str]]]) -> str:
    """A tiny release in the layout of Karpathy's ``dataset_coco.json`` (every image in the
    test split, ``val2014``) with its image files under ``images_root``; returns the json path.
    ``test_images``: each image's bytes (JPEG, PNG or WebP) and its English sentences."""
    import json

    entries = []
    for number, (data, sentences) in enumerate(test_images):
        cocoid = 100000 + number
        filename = f"COCO_val2014_{cocoid:012d}.jpg"
        os.makedirs(os.path.join(images_root, "val2014"), exist_ok=True)
        with open(os.path.join(images_root, "val2014", filename), "wb") as handle:
            handle.write(data)
        entries.append({
            "filepath": "val2014", "filename": filename, "imgid": number, "split": "test", "cocoid": cocoid,
            "sentids": list(range(number * 10, number * 10 + len(sentences))),
            "sentences": [{"raw": text, "tokens": text.lower().split(), "imgid": number, "sentid": number * 10 + n}
                          for n, text in enumerate(sentences)],
        })
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, "dataset_coco.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"images": entries, "dataset": "coco"}, handle)
    return path


XTD10_FILES = {
    **{lang: f"XTD10/test_1kcaptions_{lang}.txt" for lang in ("en", "es", "it", "ko", "pl", "ru", "tr", "zh")},
    "de": "MIC/test_1kcaptions_de.txt", "fr": "MIC/test_1kcaptions_fr.txt", "ja": "STAIR/test_1kcaptions_jp.txt",
}


def write_xtd10(root: str, images_root: str, test_images: list[tuple[bytes, dict[str, str]]]) -> None:
    """A tiny XTD10 clone (image list, one caption file per language, line-aligned) with its
    COCO train2014 images under ``images_root``; ``test_images``: bytes and a caption per
    language of :data:`XTD10_FILES` (a missing language gets the English caption)."""
    names = [f"COCO_train2014_{200000 + number:012d}.jpg" for number in range(len(test_images))]
    os.makedirs(os.path.join(images_root, "train2014"), exist_ok=True)
    for name, (data, _) in zip(names, test_images):
        with open(os.path.join(images_root, "train2014", name), "wb") as handle:
            handle.write(data)
    files = {"XTD10/test_image_names.txt": names}
    for lang, relative in XTD10_FILES.items():
        files[relative] = [captions.get(lang, captions["en"]) for _, captions in test_images]
    for relative, lines in files.items():
        os.makedirs(os.path.dirname(os.path.join(root, relative)), exist_ok=True)
        with open(os.path.join(root, relative), "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")


def load_hf_dataset(folder: str, cache_dir: str, streaming: bool = False):
    """Hugging Face ``datasets.load_dataset`` on a shard folder, offline, with its cache in ``cache_dir``.

    The folder's dataset card picks the builder and declares the features."""
    import os

    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    import datasets

    datasets.disable_progress_bars()
    return datasets.load_dataset(folder, split="train", streaming=streaming, cache_dir=cache_dir)


class HeadlessChromium:
    """Debian's ``chromium`` driven over the DevTools protocol: load a page, collect what its
    console and script errors say, evaluate expressions, take screenshots.

    ``with HeadlessChromium(profile_dir) as browser: errors = browser.load(url)``."""

    def __init__(self, profile_dir: str, command: str = "chromium", width: int = 1200, height: int = 1500):
        self.profile_dir, self.command, self.size = profile_dir, command, (width, height)
        self.process, self.socket, self.next_id, self.events = None, None, 0, []

    def __enter__(self) -> "HeadlessChromium":
        import json
        import subprocess
        import time
        import urllib.request

        import websocket

        # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start
        self.process = subprocess.Popen(
            [self.command, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
             f"--window-size={self.size[0]},{self.size[1]}", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile_dir}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        port_file = os.path.join(self.profile_dir, "DevToolsActivePort")
        for _ in range(600):  # up to a minute for the browser to start
            if os.path.exists(port_file) and open(port_file).read().count("\n") >= 1:
                break
            time.sleep(0.1)
        port = open(port_file).read().split("\n")[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as response:
            page = next(t for t in json.load(response) if t["type"] == "page")
        self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        return self

    def __exit__(self, *exc) -> None:
        if self.socket is not None:
            self.socket.close()
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def call(self, method: str, **params):
        """Send one command and return its result; events that arrive meanwhile are kept."""
        import json

        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_for(self, event: str, limit: int = 10_000) -> None:
        import json

        if any(e.get("method") == event for e in self.events):
            return
        for _ in range(limit):
            message = json.loads(self.socket.recv())
            self.events.append(message)
            if message.get("method") == event:
                return
        raise RuntimeError(f"no {event} after {limit} messages")

    def load(self, url: str) -> list[str]:
        """Navigate and wait for the load event; returns the console errors and uncaught exceptions so far."""
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        return self.errors()

    def errors(self) -> list[str]:
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(details.get("exception", {}).get("description") or details.get("text", "exception"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(params["entry"].get("text", ""))
        return found

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def screenshot(self) -> bytes:
        import base64

        return base64.b64decode(self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"])


def folder_digests(root: str) -> dict[str, str]:
    """sha256 of every file under ``root`` (a local folder or fsspec URL), by path relative to it,
    but for the empty ``.commit.lock`` that shard commits lock on local disks (object stores have none)."""
    import hashlib

    from babelshard.fs import filesystem

    fs, base = filesystem(root)
    base = base.rstrip("/")
    return {
        path[len(base) + 1 :]: hashlib.sha256(fs.cat_file(path)).hexdigest()
        for path in sorted(fs.find(base))
        if path.rsplit("/", 1)[-1] != ".commit.lock"
    }


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op threads set to ``count`` inside the block (tests on a shared machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def adamw_losses(loss_of: Callable[[Any], Any], parameters: Sequence[Any], batches: Sequence[Any], steps: int,
                 lr: float) -> list[float]:
    """AdamW (no weight decay) on ``parameters`` for ``steps`` steps, cycling over ``batches``;
    ``loss_of(batch)`` gives the loss tensor. Returns every step's loss."""
    import torch

    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=0.0)
    losses = []
    for step in range(steps):
        loss = loss_of(batches[step % len(batches)])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


MOTO_S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@contextlib.contextmanager
def moto_s3_server(bucket: str) -> Iterator[str]:
    """moto's standalone S3 server over real HTTP on loopback, holding one empty ``bucket``;
    yields its endpoint URL. Skips the calling test when s3fs or moto is not installed."""
    import pytest

    pytest.importorskip("s3fs")
    moto_server = pytest.importorskip("moto.server")
    import boto3

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        credentials = {"aws_access_key_id": MOTO_S3_ENV["AWS_ACCESS_KEY_ID"],
                       "aws_secret_access_key": MOTO_S3_ENV["AWS_SECRET_ACCESS_KEY"],
                       "region_name": MOTO_S3_ENV["AWS_DEFAULT_REGION"]}
        boto3.client("s3", endpoint_url=endpoint, **credentials).create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        server.stop()


def use_s3_endpoint(endpoint: str, monkeypatch: Any) -> None:
    """Point this process's ``s3://`` (fsspec) at ``endpoint`` with moto's credentials,
    until the test that owns ``monkeypatch`` ends."""
    import fsspec

    for name, value in MOTO_S3_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": endpoint, "skip_instance_cache": True})


def wait_for_port(port: int, process, log: str, timeout: float = 60.0) -> None:
    import socket
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode} before listening on {port}; see {log}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout:.0f} s; see {log}")


def _read_if_exists(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


class PortableServices:
    """Beam's job service and an external SDK worker pool on loopback, each its own process.

    A job submitted with :meth:`runner_flags` goes through Beam's portable runner
    protocol as on Flink, Spark or Dataflow Runner v2: the pipeline travels as a proto
    to ``local_job_service_main``, which runs it with Beam's Python FnApiRunner, and
    the pool (``worker_pool_main``) starts a separate SDK worker process for each job.
    Workers inherit ``env`` (on top of this process's environment).
    """

    def __init__(self, workdir: str, env: dict[str, str] | None = None):
        self.workdir, self.env = workdir, env or {}
        self.processes: dict[str, object] = {}
        self.job_port = self.pool_port = 0

    def start(self) -> "PortableServices":
        import subprocess
        import sys

        os.makedirs(self.workdir, exist_ok=True)
        env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", **self.env}
        # The pool starts each worker as `python`: the one of this environment.
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        port_file = os.path.join(self.workdir, "job_service.port")
        commands = {  # both on port 0: the system picks free ports, read back below
            "job_service": ["-m", "apache_beam.runners.portability.local_job_service_main", "--port", "0",
                            "--port_file", port_file, "--staging_dir", os.path.join(self.workdir, "staging")],
            "worker_pool": ["-m", "apache_beam.runners.worker.worker_pool_main", "--service_port", "0"],
        }
        for name, args in commands.items():
            with open(self.log_path(name), "wb") as log:
                self.processes[name] = subprocess.Popen([sys.executable, *args], env=env, stdout=log,
                                                        stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True)
        self.job_port = int(self._wait_for("job_service", lambda: _read_if_exists(port_file)))
        self.pool_port = int(self._wait_for("worker_pool", self._pool_port_from_log))
        wait_for_port(self.job_port, self.processes["job_service"], self.log_path("job_service"))
        wait_for_port(self.pool_port, self.processes["worker_pool"], self.log_path("worker_pool"))
        return self

    def _wait_for(self, name: str, read, timeout: float = 60.0) -> str:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.processes[name].poll() is None:
            found = read()
            if found:
                return found
            time.sleep(0.1)
        raise RuntimeError(f"the {name} did not say its port; see {self.log_path(name)}")

    def _pool_port_from_log(self) -> str | None:
        import re

        found = re.search(r"worker pool servicer at port: \S+:(\d+)", _read_if_exists(self.log_path("worker_pool")) or "")
        return found.group(1) if found else None

    def log_path(self, name: str) -> str:
        return os.path.join(self.workdir, f"{name}.log")

    def runner_flags(self) -> list[str]:
        return [
            "--runner=PortableRunner",
            f"--job_endpoint=localhost:{self.job_port}",
            "--environment_type=EXTERNAL",
            f"--environment_config=localhost:{self.pool_port}",
        ]

    def runner_options(self) -> dict[str, str]:
        """The same as :meth:`runner_flags`, as a ``beam.options`` mapping (vocabulary configs)."""
        return dict(flag[2:].split("=", 1) for flag in self.runner_flags()[1:])

    def worker_pids(self) -> list[int]:
        """The SDK worker processes the pool is running now."""
        pid = self.processes["worker_pool"].pid
        children: list[int] = []
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                children += [int(child) for child in handle.read().split()]
        return sorted(children)

    def cancel_running_jobs(self) -> list[str]:
        """Ask the job service to cancel every job not yet finished; returns their ids."""
        import grpc
        from apache_beam.portability.api import beam_job_api_pb2, beam_job_api_pb2_grpc

        finished = {beam_job_api_pb2.JobState.DONE, beam_job_api_pb2.JobState.FAILED,
                    beam_job_api_pb2.JobState.CANCELLED}
        with grpc.insecure_channel(f"localhost:{self.job_port}") as channel:
            service = beam_job_api_pb2_grpc.JobServiceStub(channel)
            jobs = service.GetJobs(beam_job_api_pb2.GetJobsRequest(), timeout=30).job_info
            running = [job.job_id for job in jobs if job.state not in finished]
            for job_id in running:
                service.Cancel(beam_job_api_pb2.CancelJobRequest(job_id=job_id), timeout=30)
        return running

    def stop(self) -> None:
        import signal
        import subprocess

        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)  # the pool's workers share its session
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


class QuietHandler(BaseHTTPRequestHandler):
    """A test server's request handler: no request log on stderr, and redirects."""

    def log_message(self, *args) -> None:
        pass

    def redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()
