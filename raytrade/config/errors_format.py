"""Turn pydantic's validation errors into ConfigProblems a person can act on.

Each problem names the key path as written in the YAML (`label.holding_period`,
`features.groups[1]`), the value found and what was expected, with a did-you-mean for unknown keys.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from raytrade.core.errors import ConfigProblem

MAX_FOUND = 80


def problems_from(
    error: ValidationError, model: type[BaseModel], pattern_hints: Mapping[str, str]
) -> list[ConfigProblem]:
    """Return one problem per offending key path, merging the branches of a union.

    `pattern_hints` says in words what each regex-constrained field expects.
    """
    merged: dict[str, tuple[str, list[str]]] = {}
    for detail in error.errors():
        path, owner = _clean_path(detail["loc"], model)
        found = _found(detail)
        expected = _expected(detail, owner, pattern_hints)
        if path in merged:
            merged[path][1].append(expected)
        else:
            merged[path] = (found, [expected])
    return [
        ConfigProblem(path, found, " or ".join(dict.fromkeys(expected)))
        for path, (found, expected) in merged.items()
    ]


def _clean_path(loc: tuple[int | str, ...], model: type[BaseModel]) -> tuple[str, Any]:
    """Drop pydantic's union-branch tags from `loc`; return the path and the innermost model."""
    parts: list[str] = []
    current: Any = model
    owner: Any = model
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
            current = _element_type(current)
            continue
        if _is_model(current):
            field = _field_named(current, item)
            owner = current
            parts.append(f".{item}")
            current = _unwrap(field.annotation) if field is not None else None
        elif typing.get_origin(current) is dict:
            parts.append(f"[{item!r}]")
            current = _element_type(current)
        # anything else is a union-branch tag such as 'int' or "literal['auto']": not a key
    return "".join(parts).lstrip("."), owner


def _field_named(model: type[BaseModel], key: str) -> Any:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional so nested models and containers can be walked."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return tp


def _element_type(tp: Any) -> Any:
    args = typing.get_args(tp)
    return _unwrap(args[-1]) if args else None


def _found(detail: ErrorDetails) -> str:
    if detail["type"] == "missing":
        return "nothing (the key is missing)"
    text = repr(detail["input"])
    return text if len(text) <= MAX_FOUND else text[: MAX_FOUND - 3] + "..."


def _expected(detail: ErrorDetails, owner: Any, pattern_hints: Mapping[str, str]) -> str:
    kind = detail["type"]
    if kind == "missing":
        return "a value: this key is required"
    if kind == "extra_forbidden":
        return _known_keys_hint(str(detail["loc"][-1]), owner)
    if kind == "string_pattern_mismatch":
        pattern = str((detail.get("ctx") or {}).get("pattern", ""))
        return pattern_hints.get(pattern, f"text matching {pattern}")
    message = detail["msg"]
    for prefix in ("Value error, ", "Input should be ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _known_keys_hint(key: str, owner: Any) -> str:
    if not _is_model(owner):
        return "no such key"
    known = [field.alias or name for name, field in owner.model_fields.items()]
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    return f"one of the known keys {', '.join(known)}{hint}"
