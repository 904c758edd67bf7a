"""Base class and loading helpers for babelshard's typed, frozen configuration.

Every stage defines its own model deriving from :class:`StrictModel`; the job config
nests them. Unknown keys are errors and validation errors name the YAML key path.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from babelshard.errors import UserError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Frozen, keyword-only, no unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class ConfigError(UserError):
    """A config file that cannot be read or does not validate; the message names the key."""


def describe_error(item: Mapping[str, Any]) -> str:
    """One line per error. In a section chosen by its ``kind`` (a union discriminated on
    ``kind``) pydantic's location has the kind after the section: ``model.clip.languages``."""
    key = ".".join(str(part) for part in item["loc"])
    message, ctx = item["msg"], item.get("ctx") or {}
    if item["type"] == "extra_forbidden":
        message = "unknown key"
    elif item["type"] == "union_tag_invalid":
        key, message = f"{key}.kind" if key else "kind", f"unknown kind {ctx.get('tag')!r} (registered: {ctx.get('expected_tags')})"
    elif item["type"] == "union_tag_not_found":
        key, message = f"{key}.kind" if key else "kind", "missing: this section is chosen by its kind"
    elif "expected" in ctx and str(ctx["expected"]) not in message:
        message += f" (allowed: {ctx['expected']})"
    return f"  {key or '(top level)'}: {message}; got {item.get('input')!r}"


def describe_validation_error(error: ValidationError, source: str = "config") -> str:
    lines = [f"{source}: {error.error_count()} invalid setting(s)"]
    lines += [describe_error(item) for item in error.errors()]
    return "\n".join(lines)


def parse_config(model: type[M], data: Any, source: str = "config") -> M:
    """``model`` validated from ``data``: a model class, or a type such as a union of
    models discriminated on ``kind``; errors become one :class:`ConfigError` naming the keys."""
    data = data if data is not None else {}
    try:
        if isinstance(model, type) and issubclass(model, BaseModel):
            return model.model_validate(data)
        return TypeAdapter(model).validate_python(data)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error, source)) from None


def read_yaml(path: str | Path) -> Any:
    """A YAML file at a local path or any fsspec URL (a Flex Template's ``gs://`` config)."""
    import fsspec

    try:
        with fsspec.open(str(path), "r", encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None


def apply_overrides(data: Any, overrides: list[str]) -> Any:
    """``a.b.c=value`` overrides (value parsed as safe YAML); list items by index,
    ``streams.0.batch_size=8``. Any mistake is a :class:`ConfigError` naming the override."""
    data = data if isinstance(data, dict) else {}
    for item in overrides:
        path, sep, raw = item.partition("=")
        if not sep or not path:
            raise ConfigError(f"override {item!r}: expected key.path=value")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as error:
            problem = " ".join(str(error).split())
            raise ConfigError(f"override {item!r}: the value is not plain YAML ({problem})") from None
        node: Any = data
        parts = path.split(".")
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            where = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"override {item!r}: {where}: a list of {len(node)} item(s) needs an index below {len(node)}")
                index = int(part)
                if last:
                    node[index] = value
                else:
                    node = node[index]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            else:
                raise ConfigError(f"override {item!r}: {'.'.join(parts[:depth])} is a value, not a section")
    return data


def load_model(model: type[M], path: str | Path) -> M:
    return parse_config(model, read_yaml(path), source=str(path))


NOT_HASHED = {"hashed": False}  # a field's json_schema_extra: a setting that cannot change any output byte


def unhashed_fields(config: BaseModel) -> dict[str, Any]:
    """``model_dump``'s ``exclude`` for the fields marked :data:`NOT_HASHED`, in nested sections too."""
    exclude: dict[str, Any] = {}
    for name, field in type(config).model_fields.items():
        value = getattr(config, name)
        if field.json_schema_extra == NOT_HASHED:
            exclude[name] = True
        elif isinstance(value, BaseModel) and (inner := unhashed_fields(value)):
            exclude[name] = inner
    return exclude


def config_hash(config: BaseModel) -> str:
    """A stable hash of a resolved config, recorded in every index; fields marked
    :data:`NOT_HASHED` (how much memory a writer may use) are left out."""
    dumped = config.model_dump(mode="json", exclude=unhashed_fields(config))
    canonical = json.dumps(dumped, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


D = TypeVar("D")


def settings_from(target: type[D], config: BaseModel) -> D:
    """The dataclass ``target`` filled from the config fields of the same names (its
    other fields keep their defaults): plain settings for per-record code."""
    fields = type(config).model_fields
    return target(**{field.name: getattr(config, field.name) for field in dataclasses.fields(target) if field.name in fields})
