"""YAML files to config models, with errors that name the file, line, key path and value."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from raytrade.config.collect import CollectConfig
from raytrade.config.errors_format import problems_from
from raytrade.config.experiment import PATTERN_HINTS, ExperimentConfig
from raytrade.config.grid import GridConfig, check_axes, expand
from raytrade.config.session import SessionConfig
from raytrade.core.errors import ConfigError, ConfigProblem, InputError

Model = TypeVar("Model", bound=BaseModel)


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {mark.line + 1}, column "
                f"{mark.column + 1}); each key may appear once", mark)
        seen[key] = loader.construct_object(value_node, deep=True)  # type: ignore[no-untyped-call]
    return seen


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# Dates stay strings for pydantic to parse, so a bad date is reported at its key path instead of
# failing inside the YAML parser.
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_yaml(path: Path) -> dict[str, Any]:
    """Return the top-level mapping of a YAML file, or raise InputError/ConfigError naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read it ({exc.__class__.__name__})") from None
    try:
        doc = yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_yaml_problem(exc)], file=str(path)) from None
    if not isinstance(doc, dict):
        found = "an empty file" if doc is None else f"a {type(doc).__name__}"
        raise ConfigError([ConfigProblem("", found, "a mapping of keys at the top level")],
                          file=str(path))
    return doc


def _yaml_problem(exc: yaml.MarkedYAMLError) -> ConfigProblem:
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
    return ConfigProblem(f"YAML syntax at {where}", str(exc.problem or exc.context),
                         "valid YAML")


def parse(model: type[Model], doc: dict[str, Any], file: str) -> Model:
    """Validate a mapping into `model`, turning every failure into a ConfigError for `file`."""
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(problems_from(exc, model, PATTERN_HINTS), file=file) from None
    except ConfigError as exc:
        raise exc.in_file(file) from None


def load_experiment(path: Path) -> ExperimentConfig:
    return parse(ExperimentConfig, read_yaml(path), str(path))


def load_grid(path: Path) -> tuple[GridConfig, list[ExperimentConfig]]:
    """Return the grid and its expanded, validated trials."""
    grid = parse(GridConfig, read_yaml(path), str(path))
    try:
        check_axes(grid)
    except ConfigError as exc:
        raise exc.in_file(str(path)) from None
    base_path = (path.parent / grid.base).resolve()
    base = load_experiment(base_path)
    try:
        return grid, expand(grid, base)
    except ConfigError as exc:
        raise exc.in_file(str(path)) from None


def is_grid(doc: dict[str, Any]) -> bool:
    return "axes" in doc


def load_collect(path: Path) -> CollectConfig:
    return parse(CollectConfig, read_yaml(path), str(path))


def load_session(path: Path) -> SessionConfig:
    return parse(SessionConfig, read_yaml(path), str(path))
