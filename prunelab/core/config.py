"""Configs as validated data: one YAML reader, one ``--set`` override rule, one error formatter.

Every config (a training run or sweep, a phase study, a robustness study, ...) is a pydantic
model with ``extra="forbid"``. The helpers here turn a YAML file or a mapping into such a model
and turn pydantic's errors into the one-line messages prunelab promises: the dotted key, what is
wrong, and the closest valid key for a typo.

A section typed ``Any`` (because it is validated by a model that registers itself later, like
``dst``) is described to the formatter through the class attribute ``config_sections``:
``{"dst": DSTConfig}``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from prunelab.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def config_hash(content: dict[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, no whitespace) of ``content``, first 12 hex digits.

    This is the one hashing rule of run and study ids: equal content, equal id.

    Examples
    --------
    >>> config_hash({"b": 1, "a": [1, 2]}) == config_hash({"a": [1, 2], "b": 1})
    True
    """
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def section_model(root: type[BaseModel], path: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The pydantic model that validates the section at ``path`` below ``root`` (or None)."""
    model: type[BaseModel] | None = root
    for part in path:
        if model is None or not isinstance(part, str):
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        sections = getattr(model, "config_sections", {}) or {}
        ann = field.annotation
        nxt = sections.get(part)
        if nxt is None:
            for candidate in getattr(ann, "__args__", ()) or (ann,):
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    nxt = candidate
        model = nxt() if callable(nxt) and not isinstance(nxt, type) else nxt
    return model


def _keys(model: type[BaseModel]) -> list[str]:
    """The keys a config section accepts (aliases where a field has one), sorted."""
    return sorted(f.alias or name for name, f in model.model_fields.items())


def format_error(err: ValidationError, root: type[BaseModel], what: str = "config") -> str:
    """One line for the first error of ``err``, raised while validating ``root``."""
    first = err.errors()[0]
    loc = tuple(first["loc"])
    dotted = ".".join(str(p) for p in loc)
    ctx_error = (first.get("ctx") or {}).get("error")
    if isinstance(ctx_error, ConfigError):  # already one line; name the key when it belongs to one
        return f"{what} key {dotted!r}: {ctx_error}" if loc else str(ctx_error)
    if first["type"] == "extra_forbidden":
        parent = section_model(root, loc[:-1])
        valid = _keys(parent) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        hint = (
            f"; did you mean {'.'.join([*map(str, loc[:-1]), close[0]])!r}?"
            if close
            else (f"; valid keys: {', '.join(valid)}" if valid else "")
        )
        return f"unknown key {dotted!r} in the {what}{hint}"
    if first["type"] == "missing":
        return f"missing {what} key {dotted!r}; add it to the {what}"
    msg = str(first["msg"]).removeprefix("Value error, ").splitlines()[0]
    got = "" if "got" in msg else f" (got {first.get('input')!r})"
    if not loc:
        return f"{what}: {msg}"
    if msg.startswith(dotted + " ") or msg.startswith(f"{loc[-1]} "):
        return f"{what} key {msg}{got}"
    return f"{what} key {dotted!r}: {msg}{got}"


def parse_model(cls: type[M], raw: Any, what: str = "config") -> M:
    """Validate a mapping into ``cls``; a one-line :class:`ConfigError` otherwise."""
    if not isinstance(raw, dict):
        raise ConfigError(f"a {what} must be a YAML mapping, got {type(raw).__name__}")
    try:
        return cls.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(format_error(err, cls, what)) from None


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML file as a mapping (empty file: ``{}``), with one-line errors for missing or bad files."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"config file {str(path)!r} not found; pass the path of a YAML config (see configs/)"
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(
            f"config {str(path)!r} is not valid YAML{where}; fix the syntax"
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(
            f"config {str(path)!r} must be a YAML mapping of sections, got {type(raw).__name__}"
        )
    return null_keys(raw)


def null_keys(raw: Any) -> Any:
    """YAML reads an unquoted ``null:`` key as None; map it back to the string ``"null"``."""
    if isinstance(raw, dict):
        return {("null" if k is None else k): null_keys(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [null_keys(v) for v in raw]
    return raw


def apply_override(
    raw: dict[str, Any], assignment: str, root: type[BaseModel] | None = None
) -> None:
    """Apply ``key.sub=value`` (value parsed as YAML) to a raw config mapping in place.

    With ``root`` the dotted key is checked against the config schema first (one-line
    :class:`ConfigError` with the closest key for a typo).
    """
    if "=" not in assignment:
        raise ConfigError(f"--set expects key=value, got {assignment!r}; e.g. --set train.lr=0.05")
    key, _, text = assignment.partition("=")
    parts = key.strip().split(".")
    model: type[BaseModel] | None = root
    for k, part in enumerate(parts):
        if model is None:
            break
        if part not in model.model_fields and part not in _keys(model):
            valid = _keys(model)
            close = difflib.get_close_matches(part, valid, n=1)
            hint = (
                f"; did you mean {'.'.join([*parts[:k], close[0]])!r}?"
                if close
                else f"; valid: {', '.join(valid)}"
            )
            raise ConfigError(f"--set: unknown config key {key!r}{hint}")
        model = section_model(root, tuple(parts[: k + 1])) if root is not None else None
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set: {key!r} goes through a non-mapping value")
    node[parts[-1]] = yaml.safe_load(text)


def deep_merge(
    base: dict[str, Any], override: dict[str, Any], atomic: tuple[str, ...] = ("options",)
) -> dict[str, Any]:
    """Merge ``override`` into ``base`` in place (nested mappings merged, keys in ``atomic`` replaced)."""
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and key not in atomic:
            deep_merge(base[key], value, atomic)
        else:
            base[key] = value
    return base
