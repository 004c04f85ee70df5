"""Model artifacts on disk, and promotion of gate-passing models (files + a `models` row).

A run writes its artifacts (XGBoost JSON model, feature metadata, resolved config, metrics and
decision rule) into its own folder with a manifest of sha256 hashes; promotion copies them into
`models/<experiment>/<run_id>/` and records the manifest's hash. Loading verifies every hash.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from raytrade.core.errors import IntegrityError, MissingDataError
from raytrade.data.atomic import atomic_write
from raytrade.features.pipeline import FeaturePipeline
from raytrade.research.training import TrainedModel
from raytrade.research.training import load_model as load_trained
from raytrade.store.repository import (
    ModelSummary,
    assert_promotable,
    get_model,
    record_model,
)
from raytrade.store.session import Engine

MANIFEST = "manifest.json"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_artifacts(directory: Path, files: Mapping[str, bytes]) -> dict[str, str]:
    """Write each file atomically plus a manifest of their hashes; return name -> sha256."""
    hashes = {name: sha256_bytes(data) for name, data in files.items()}
    for name, data in files.items():
        atomic_write(directory / name, partial(_put, data))
    manifest = json.dumps(hashes, sort_keys=True, indent=1).encode()
    atomic_write(directory / MANIFEST, partial(_put, manifest))
    return hashes


def _put(data: bytes, handle: BinaryIO) -> None:
    handle.write(data)


def found_hashes(directory: Path, names: list[str]) -> dict[str, str | None]:
    """Return the sha256 of each named file as it is on disk now, None where it is missing."""
    return {name: sha256_bytes((directory / name).read_bytes())
            if (directory / name).is_file() else None for name in names}


def manifest_hash(directory: Path) -> str:
    return sha256_bytes((directory / MANIFEST).read_bytes())


def promote(engine: Engine, *, run_id: int, experiment: str, source: Path, models_dir: Path,
            feature_metadata: Mapping[str, Any]) -> Path:
    """Copy a run's verified artifacts into the models directory and record the promotion."""
    assert_promotable(engine, run_id)
    verify(source)
    target = models_dir / experiment / str(run_id)
    staging = target.with_name(f".{run_id}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    verify(staging)
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    record_model(engine, run_id=run_id, path=str(target), sha256=manifest_hash(target),
                 feature_metadata=dict(feature_metadata))
    return target


def verify(directory: Path, expected_manifest: str | None = None) -> dict[str, str]:
    """Return the manifest after checking every file against it; raise IntegrityError if not."""
    if not (directory / MANIFEST).is_file():
        raise MissingDataError(f"{directory} holds no model artifacts ({MANIFEST} is missing)")
    if expected_manifest is not None and manifest_hash(directory) != expected_manifest:
        raise IntegrityError(f"{directory / MANIFEST} differs from the promoted record")
    recorded: dict[str, str] = json.loads((directory / MANIFEST).read_text())
    found = found_hashes(directory, list(recorded))
    bad = sorted(name for name, digest in recorded.items() if found[name] != digest)
    if bad:
        raise IntegrityError(f"model artifacts in {directory} are missing or changed: {bad}")
    return recorded


@dataclass(frozen=True)
class PromotedFiles:
    """A promoted model's verified files, as bytes, for the caller to rebuild from."""

    summary: ModelSummary
    files: Mapping[str, bytes]

    def json(self, name: str) -> Any:
        return json.loads(self.files[name])


def load_promoted(engine: Engine, run_id: int) -> PromotedFiles:
    """Return a promoted model's files after verifying them against the store's record."""
    summary = get_model(engine, run_id)
    directory = Path(summary.path)
    recorded = verify(directory, expected_manifest=summary.sha256)
    return PromotedFiles(summary, {name: (directory / name).read_bytes() for name in recorded})


@dataclass(frozen=True)
class LoadedModel:
    """A promoted model ready to predict: its pipeline, booster and decision rule, verified."""

    run_id: int
    pipeline: FeaturePipeline
    model: TrainedModel
    decision_rule: Mapping[str, Any]


def load_model(engine: Engine, run_id: int) -> LoadedModel:
    """Load a promoted model: verify every hash, rebuild the FeaturePipeline from its metadata."""
    return loaded_from(load_promoted(engine, run_id))


def loaded_from(promoted: PromotedFiles) -> LoadedModel:
    """Rebuild a promoted model from its verified files."""
    run_id = promoted.summary.run_id
    rule = promoted.json("decision.json")
    pipeline = FeaturePipeline.from_metadata(promoted.json("features.json"))
    if list(pipeline.feature_names) != rule["feature_names"]:
        raise IntegrityError(f"run {run_id}: the model's features differ from its pipeline's")
    model = load_trained(promoted.files["model.json"], kind=rule["kind"],
                         feature_names=pipeline.feature_names,
                         best_iteration=int(rule["best_iteration"]))
    return LoadedModel(run_id, pipeline, model, rule)
