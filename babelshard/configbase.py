"""Base class and loading helpers for babelshard's typed, frozen configuration.

Every stage defines its own model deriving from :class:`StrictModel`; the job config
nests them. Unknown keys are errors and validation errors name the YAML key path.
"""
from __future__ import annotations

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
        raise ConfigError(f"{path}: not valid YAML: {error}") from None


def load_model(model: type[M], path: str | Path) -> M:
    return parse_config(model, read_yaml(path), source=str(path))


def config_hash(config: BaseModel) -> str:
    """A stable hash of a resolved config, recorded in every index."""
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
