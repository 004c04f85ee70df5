"""Grid files: a base experiment and axes whose product is the set of trials."""

from __future__ import annotations

import hashlib
import itertools
import re
import typing
from typing import Annotated, Any

from pydantic import Field, ValidationError

from raytrade.config.base import FrozenModel
from raytrade.config.errors_format import problems_from
from raytrade.config.experiment import NAME_PATTERN, PATTERN_HINTS, ExperimentConfig
from raytrade.core.errors import ConfigError, ConfigProblem

Scalar = str | int | float | bool
AxisValue = Scalar | tuple[Scalar, ...]  # a list value, e.g. features.groups: [returns, trend]
FIXED_KEYS = frozenset({"name", "family"})  # a grid's trials share one family by construction
MAX_NAME = 100


class Resources(FrozenModel):
    """What one trial asks of the cluster; GPU asks are dropped when the cluster has none.

    With `train_workers` > 1, a trial whose training rows reach `distributed_min_rows` trains
    with Ray Train's XGBoostTrainer on that many workers, each with `cpu` CPUs (and `gpu`).
    """

    cpu: float = Field(1.0, gt=0.0, le=64.0)
    gpu: float = Field(0.0, ge=0.0, le=8.0)
    train_workers: int = Field(1, ge=1, le=64)
    distributed_min_rows: int = Field(1_000_000, ge=1)


class GridConfig(FrozenModel):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    base: str = Field(description="Path of the base experiment, relative to the grid file.")
    axes: dict[str, Annotated[tuple[AxisValue, ...], Field(min_length=1)]] = Field(min_length=1)
    resources: Resources = Resources()


def _leaf_paths(model: type[FrozenModel], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        annotation = _model_of(field.annotation)
        if annotation is not None:
            paths |= _leaf_paths(annotation, key + ".")
        else:
            paths.add(key)
    return paths


def _model_of(annotation: Any) -> type[FrozenModel] | None:
    """Return the config model inside `annotation` (also `Model | None`), or None."""
    candidates = typing.get_args(annotation) or (annotation,)
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, FrozenModel)]
    return models[0] if len(models) == 1 else None


AXIS_KEYS = frozenset(_leaf_paths(ExperimentConfig)) - FIXED_KEYS


def check_axes(grid: GridConfig) -> None:
    """Raise ConfigError for axes that name no experiment key, or keys a grid may not vary."""
    problems = []
    for key in grid.axes:
        if key in FIXED_KEYS:
            problems.append(ConfigProblem(f"axes[{key!r}]", key,
                                          "an experiment key other than name or family"))
        elif key not in AXIS_KEYS:
            problems.append(ConfigProblem(f"axes[{key!r}]", key,
                                          "a dotted experiment key such as data.symbol"))
    if problems:
        raise ConfigError(problems)


def expand(grid: GridConfig, base: ExperimentConfig) -> list[ExperimentConfig]:
    """Return one validated experiment per point of the axes' product, in a stable order."""
    check_axes(grid)
    keys = list(grid.axes)
    base_doc = base.model_dump(mode="json", by_alias=True)
    trials = []
    for values in itertools.product(*(grid.axes[k] for k in keys)):
        doc = _with_overrides(base_doc, dict(zip(keys, values, strict=True)))
        doc["name"] = trial_name(base.name, values)
        try:
            trials.append(ExperimentConfig.model_validate(doc))
        except ValidationError as exc:
            raise _trial_error(problems_from(exc, ExperimentConfig, PATTERN_HINTS), keys,
                               values) from None
        except ConfigError as exc:
            raise _trial_error(exc.problems, keys, values) from None
    return trials


def _with_overrides(doc: dict[str, Any], overrides: dict[str, AxisValue]) -> dict[str, Any]:
    out: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in doc.items()}
    for dotted, value in overrides.items():
        node = out
        *parents, leaf = dotted.split(".")
        for part in parents:
            node[part] = dict(node.get(part) or {})  # an unset optional section starts empty
            node = node[part]
        node[leaf] = value
    return out


def trial_name(base_name: str, values: tuple[AxisValue, ...]) -> str:
    """Return a readable, valid experiment name for one trial, e.g. `btc-momentum.eth-usd.12`."""
    parts = [re.sub(r"[^a-z0-9_]+", "-", _text(v).lower()).strip("-") or "x" for v in values]
    name = ".".join([base_name, *parts])
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: MAX_NAME - 11]}.{digest}"


def _text(value: AxisValue) -> str:
    return "_".join(map(str, value)) if isinstance(value, tuple) else str(value)


def _trial_error(problems: list[ConfigProblem], keys: list[str],
                 values: tuple[AxisValue, ...]) -> ConfigError:
    point = ", ".join(f"{k}={v!r}" for k, v in zip(keys, values, strict=True))
    return ConfigError([
        ConfigProblem(f"axes[{p.path!r}]" if p.path in keys else p.path,
                      p.found, f"{p.expected} (in the trial {point})")
        for p in problems
    ])
