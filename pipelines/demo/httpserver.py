"""A small static file server on the loopback interface, for the demo and benchmarks.

Files are read into memory once, so serving costs no disk I/O. Run it in a thread
(:func:`serve_folder`) or as its own process (``python -m babelshard.pipelines.demo.httpserver
FOLDER``, which prints its base URL), so a benchmark's server does not share the
client's interpreter.
"""
from __future__ import annotations

import argparse
import mimetypes
import os
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

LOOPBACK = "127.0.0.1"


def load_folder(folder: str) -> dict[str, tuple[bytes, str]]:
    """URL path -> (bytes, content type) for every file under ``folder``."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, folder).replace(os.sep, "/")
            with open(path, "rb") as handle:
                files["/" + relative] = (handle.read(), mimetypes.guess_type(name)[0] or "application/octet-stream")
    return files


def make_handler(files: dict[str, tuple[bytes, str]]) -> type[BaseHTTPRequestHandler]:
    class StaticHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            entry = files.get(self.path.split("?", 1)[0])
            if entry is None:
                self.send_error(404)
                return
            data, content_type = entry
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    return StaticHandler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request, client_address) -> None:
        pass  # a client that hangs up early is not the server's problem


@contextmanager
def serve_folder(folder: str, port: int = 0) -> Iterator[str]:
    """Serve ``folder`` at ``http://127.0.0.1:<port>`` in a background thread; yields the base URL."""
    server = QuietServer((LOOPBACK, port), make_handler(load_folder(folder)))
    thread = threading.Thread(target=server.serve_forever, name="babelshard-http", daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = QuietServer((LOOPBACK, args.port), make_handler(load_folder(args.folder)))
    print(f"http://{LOOPBACK}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    sys.exit(main())
