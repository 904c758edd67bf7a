"""Fixtures of the portable-runner tier: Beam's job service and an external worker pool
on loopback, a moto S3 server the workers write to, a loopback image server that can be
slowed down, real inputs (OpenMoji images with CLDR captions, Debian fortunes, Django
catalogues), and each job's DirectRunner output to compare against."""
from __future__ import annotations

import lzma
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from babelshard.configbase import parse_config
from babelshard.pipelines.demo.httpserver import QuietServer, load_folder, make_handler
from babelshard.pipelines.jobs.config import JobConfig
from babelshard.pipelines.jobs.run import run_job
from babelshard.testing import PortableServices, django_catalogues, read_fortunes, require_debian

EMOJI = 32
PER_SHARD = 8
BUCKET = "babelshard-portable"
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
FORTUNES = {"de": ("fortunes-de", "de/zitate"), "it": ("fortunes-it", "it/definizioni")}
CAPTION_LANGUAGES = ("de", "ja", "ar")


class SlowableServer(QuietServer):
    """The demo's static file server; each request waits ``delay`` seconds first."""

    delay = 0.0


@dataclass
class ImageSite:
    server: SlowableServer
    captions: str

    def slow_down(self, seconds: float) -> None:
        self.server.delay = seconds


@pytest.fixture(scope="session")
def image_site(tmp_path_factory) -> ImageSite:
    from babelshard.pipelines.demo.openmoji import CAPTIONS, pick_emoji, render_openmoji, write_captions

    root = tmp_path_factory.mktemp("openmoji")
    chosen = pick_emoji(EMOJI, ["en", *CAPTION_LANGUAGES])
    render_openmoji(root, chosen, 48)
    static = make_handler(load_folder(str(root)))

    class Handler(static):
        def do_GET(self) -> None:  # noqa: N802
            time.sleep(self.server.delay)
            super().do_GET()

    server = SlowableServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    write_captions(root / CAPTIONS, chosen, f"http://127.0.0.1:{server.server_address[1]}")
    yield ImageSite(server, str(root / CAPTIONS))
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def s3_endpoint():
    """A moto S3 server over real HTTP with one bucket; workers reach it through the environment."""
    pytest.importorskip("s3fs")
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint, **s3_credentials()).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


def s3_credentials() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    """This process (the launcher) talks to the moto server too."""
    import fsspec

    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": s3_endpoint, "skip_instance_cache": True})
    return f"s3://{BUCKET}"


@pytest.fixture(scope="session")
def portable(tmp_path_factory, s3_endpoint):
    """Beam's job service and worker pool, whose SDK workers write to the moto server."""
    env = {**S3_ENV, "FSSPEC_S3_ENDPOINT_URL": s3_endpoint}
    services = PortableServices(str(tmp_path_factory.mktemp("portable-services")), env).start()
    yield services
    services.stop()


@pytest.fixture(scope="session")
def text_inputs(tmp_path_factory) -> dict[str, str]:
    """Fortunes in German and Italian as CC-100 .xz files; Django's French catalogue."""
    root = tmp_path_factory.mktemp("text-inputs")
    paths = {}
    for language, (package, name) in FORTUNES.items():
        source = os.path.join("/usr/share/games/fortunes", name)
        require_debian(source, package)
        body = "".join(f"{paragraph}\n" for paragraph in read_fortunes(source)[:80])
        (root / f"{language}.txt.xz").write_bytes(lzma.compress(body.encode("utf-8")))
        paths[language] = str(root / f"{language}.txt.xz")
    django = Path(django_catalogues(str(root)))
    paths["fr"] = str(django / "conf" / "locale" / "fr" / "LC_MESSAGES" / "django.po")
    return paths


def caption_section(image_site: ImageSite) -> dict:
    download = {"thread_count": 4, "timeout": 10.0, "retries": 1, "allow_loopback": True, "per_host_rate": 0.0,
                "image": {"image_size": 32, "encode_format": "jpg"}}
    source = {"name": "openmoji", "format": "jsonl", "path": image_site.captions, "key_column": "key",
              "language_columns": {lang: f"caption_{lang}" for lang in CAPTION_LANGUAGES}}
    return {"sources": [source], "cleaning": {"min_chars": 1}, "download": download}


@dataclass
class JobConfigs:
    """The tier's job configs; only the output differs between a DirectRunner and a portable run."""

    image_site: ImageSite
    text_inputs: dict[str, str]
    lid_model_path: str

    def job(self, output: str, **sections) -> JobConfig:
        return parse_config(JobConfig, {"name": "portable", "output": {"folder": output, "samples_per_shard": PER_SHARD},
                                        "captions": caption_section(self.image_site), **sections})

    def caption(self, output: str) -> JobConfig:
        """The caption stream alone: download and write each shard in one step."""
        return self.job(output)

    def build(self, output: str) -> JobConfig:
        """Captions, text streams (de, it) and a parallel stream (en-fr) in one build job."""
        lid = {"model_path": self.lid_model_path, "min_score": 0.3}
        text = {"sources": [{"name": f"fortunes-{lang}", "format": "cc100", "language": lang,
                             "paths": [self.text_inputs[lang]]} for lang in FORTUNES],
                "clean": {"min_chars": 15, "min_words": 3}, "lid": lid}
        parallel = {"sources": [{"name": "django-fr", "format": "po", "target_language": "fr",
                                 "paths": [self.text_inputs["fr"]]}], "filters": {"min_chars": 2}, "lid": lid}
        return self.job(output, text=text, parallel=parallel)

    def translation(self) -> dict:
        """Apertium en->es and en->ca, translation pairs as parallel shards."""
        return {"source_language": "en", "targets": {"es": "apertium", "ca": "apertium"},
                "engines": {"apertium": {"kind": "apertium"}},
                "filters": {"length_ratio_min_chars": 20, "lid_min_words": 4, "lid_model_path": self.lid_model_path},
                "outputs": {"captions": True, "parallel": True}}

    def translated(self, output: str) -> JobConfig:
        """Captions downloaded, translated with Apertium and code-switched, then written."""
        codeswitch = {"lexicons": [{"format": "cldr"}, {"format": "freedict", "optional": True,
                                                         "path": "/usr/share/dictd/freedict-eng-fra.index"}],
                      "variants": 2, "sent_ratio": 1.0, "word_ratio": 0.5}
        return self.job(output, translate=self.translation(), codeswitch=codeswitch)


@pytest.fixture(scope="session")
def job_configs(image_site, text_inputs, lid_model_path) -> JobConfigs:
    return JobConfigs(image_site, text_inputs, lid_model_path)


@pytest.fixture(scope="session")
def direct_build(tmp_path_factory, job_configs) -> str:
    """The build job's output root, from the DirectRunner."""
    output = str(tmp_path_factory.mktemp("direct") / "build")
    run_job(job_configs.build(output))
    return output
