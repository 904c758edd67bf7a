"""The files beside ``index.json`` that let other readers use a shard folder as it is.

- ``README.md``: a dataset card whose YAML front matter tells Hugging Face ``datasets``
  which files are the data (``configs``/``data_files``) and the type of every member
  (``dataset_info.features``). Declared features are what make the samples of a stream
  readable although they do not all carry the same members (a language without a
  caption, a sample without code-switched variants): the webdataset builder fills a
  declared member a sample lacks with None, where without them it infers the members
  from the first samples and refuses a shard whose samples differ.
- ``sizes.json``: sample count per shard, the file OpenCLIP reads for the size of a
  WebDataset (otherwise it needs ``--train-num-samples``).

Both come from the index (counts, languages, shard list) plus the member names of the
first samples of the first shard (the image format and any model outputs); every
``<lang>.txt`` member is declared from the index's language counts.
"""
from __future__ import annotations

import io
import json
import tarfile
from typing import TYPE_CHECKING, Any, Mapping

import yaml

from babelshard.fs import filesystem, join, write_bytes_atomic

if TYPE_CHECKING:  # index.py calls this module before writing the index
    from babelshard.shards.index import ShardIndex

CARD_NAME = "README.md"
SIZES_NAME = "sizes.json"
MEMBER_SAMPLE = 1000  # samples of the first shard whose members are read: a random sample, shards are in key-hash order
IMAGE_MEMBERS = ("jpg", "jpeg", "png", "webp")
FEATURE_ORDER = ("__key__",)  # then the members sorted by name, then __url__ (the order the reader yields)
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))


def sizes_json(index: ShardIndex) -> dict[str, int]:
    """OpenCLIP's ``sizes.json``: shard file name -> number of samples."""
    return {shard.name: shard.samples for shard in index.shards}


def index_languages(index: ShardIndex) -> list[str]:
    """Languages of the stream; a parallel stream counts pairs (``en-de``)."""
    languages = set()
    for name in index.languages:
        languages.update(name.split("-") if index.stream == "parallel" else [name])
    return sorted(languages)


def language_members(index: ShardIndex) -> set[str]:
    """The caption members every language of the index implies."""
    if index.stream == "text":
        return set()
    return {"txt" if index.stream == "caption" and lang == "en" else f"{lang}.txt" for lang in index_languages(index)}


def first_members(folder: str, index: ShardIndex, limit: int = MEMBER_SAMPLE) -> dict[str, bytes]:
    """Member name -> its first value, over the first ``limit`` samples of the first shard.

    Reads the tar as a stream, so only those samples' bytes are fetched."""
    if not index.shards:
        return {}
    fs, path = filesystem(join(folder, index.shards[0].name))
    found: dict[str, bytes] = {}
    keys: set[str] = set()
    with fs.open(path, "rb") as handle, tarfile.open(fileobj=handle, mode="r|") as archive:
        for member in archive:
            if not member.isfile():
                continue
            key, _, name = member.name.rsplit("/", 1)[-1].partition(".")
            if key not in keys and len(keys) == limit:
                break
            keys.add(key)
            if name not in found:
                found[name] = archive.extractfile(member).read()
    return found


class FirstMembers:
    """What :func:`first_members` would read back, kept while the first shard is written."""

    def __init__(self, limit: int = MEMBER_SAMPLE):
        self.limit, self.samples = limit, 0
        self.found: dict[str, bytes] = {}

    def add(self, members: list[tuple[str, bytes]]) -> None:
        """One sample's (tar member name, bytes), in the order they go into the tar."""
        if not members or self.samples == self.limit:  # a sample without members is not in the tar
            return
        self.samples += 1
        for member, data in members:
            self.found.setdefault(member.partition(".")[2], data)


def npy_feature(value: bytes) -> dict[str, Any]:
    """A ``.npy`` member as nested lists of its dtype (the builder decodes it to an array)."""
    from numpy.lib.format import read_array

    array = read_array(io.BytesIO(value), allow_pickle=False)
    feature: Any = array.dtype.name
    for _ in range(max(array.ndim, 1)):
        feature = {"list": feature}
    return feature


def member_feature(name: str, value: bytes | None) -> dict[str, Any]:
    """The ``dataset_info.features`` entry of one member."""
    extension = name.rsplit(".", 1)[-1]
    if name in IMAGE_MEMBERS:
        return {"name": name, "dtype": "image"}
    if extension == "txt" or name in FEATURE_ORDER or name == "__url__":
        return {"name": name, "dtype": "string"}
    if extension == "json":
        return {"name": name, "dtype": "json"}
    if extension == "npy" and value is not None:
        return {"name": name, **npy_feature(value)}
    return {"name": name, "dtype": "binary"}


def stream_features(folder: str, index: ShardIndex, seen: Mapping[str, bytes] | None = None) -> list[dict[str, Any]]:
    """Features from ``seen`` (what :func:`first_members` returns, when the writer kept it) or the first shard."""
    if seen is None:
        seen = first_members(folder, index)
    members = sorted(set(seen) | language_members(index))
    names = [*FEATURE_ORDER, *members, "__url__"]
    return [member_feature(name, seen.get(name)) for name in names]


def size_category(samples: int) -> str:
    for limit, label in SIZE_CATEGORIES:
        if samples < limit:
            return label
    return "n>1T"


def card_metadata(index: ShardIndex, features: list[dict[str, Any]]) -> dict[str, Any]:
    languages = index_languages(index)
    return {
        "license": str(index.extra.get("license", "unknown")),
        "language": languages,
        "multilinguality": "multilingual" if len(languages) > 1 else "monolingual",
        "size_categories": [size_category(index.samples)],
        "tags": ["webdataset", "babelshard", f"babelshard-{index.stream}"],
        "configs": [{
            "config_name": "default",
            "data_files": [{"split": "train", "path": [shard.name for shard in index.shards]}],
        }],
        "dataset_info": {"features": features, "download_size": index.bytes},
    }


def shard_pattern(index: ShardIndex) -> str:
    """The brace pattern webdataset and OpenCLIP expand, when the shards are numbered without gaps."""
    names = [shard.name for shard in index.shards]
    expected = [f"shard-{number:06d}.tar" for number in range(len(names))]
    if names != expected or not names:
        return "::".join(names)
    return names[0] if len(names) == 1 else f"shard-{{000000..{len(names) - 1:06d}}}.tar"


def feature_type(feature: Mapping[str, Any]) -> str:
    """``image``, ``string``, ``json``, or ``list of list of float32`` for an array member."""
    if "dtype" in feature:
        return str(feature["dtype"])
    inner: Any = feature["list"]
    depth = 1
    while isinstance(inner, Mapping):
        inner, depth = inner["list"], depth + 1
    return "list of " * depth + str(inner)


def card_body(index: ShardIndex, features: list[dict[str, Any]]) -> str:
    title = index.extra.get("job", "babelshard")
    lines = [
        f"# {title}: {index.stream} stream",
        "",
        f"{index.samples:,} samples in {len(index.shards)} WebDataset shards ({index.bytes:,} bytes), "
        f"written by {index.creator} (config hash `{index.config_hash}`). `index.json` lists every shard "
        "with its size and sha256; `sizes.json` gives OpenCLIP the sample counts.",
        "",
        "| language | samples |",
        "|---|---:|",
        *(f"| {language} | {count:,} |" for language, count in index.languages.items()),
        "",
        "| member | type |",
        "|---|---|",
        *(f"| `{f['name']}` | {feature_type(f)} |" for f in features if not f["name"].startswith("__")),
        "",
        "A sample lacks a member it has no value for (a language without a caption); readers that",
        "need the same members in every sample get None there from the features declared above.",
        "",
        "```python",
        "from datasets import load_dataset",
        'dataset = load_dataset("path/to/this/folder", split="train")  # or streaming=True',
        "",
        "import webdataset as wds",
        f'samples = wds.WebDataset("path/to/this/folder/{shard_pattern(index)}", shardshuffle=False).decode("pil")',
        "```",
        "",
    ]
    return "\n".join(lines)


def render_card(index: ShardIndex, features: list[dict[str, Any]]) -> str:
    metadata = yaml.safe_dump(card_metadata(index, features), sort_keys=False, allow_unicode=True)
    return f"---\n{metadata}---\n\n{card_body(index, features)}"


def write_card_files(folder: str, index: ShardIndex, seen: Mapping[str, bytes] | None = None) -> None:
    """``README.md`` and ``sizes.json`` for a finished folder (the index goes after them);
    ``seen``: the first shard's first members, when the writer kept them."""
    features = stream_features(folder, index, seen)
    write_bytes_atomic(join(folder, CARD_NAME), render_card(index, features).encode("utf-8"))
    sizes = json.dumps(sizes_json(index), indent=1, sort_keys=True) + "\n"
    write_bytes_atomic(join(folder, SIZES_NAME), sizes.encode("utf-8"))


def read_card_metadata(text: str) -> Mapping[str, Any]:
    """The YAML front matter of a card."""
    if not text.startswith("---\n"):
        return {}
    return yaml.safe_load(text[4 : text.index("\n---\n", 4)]) or {}
