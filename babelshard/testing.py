"""Helpers for babelshard's own tests and for users testing their configs offline."""
from __future__ import annotations

import io
import os
import shutil

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
