"""Feature metadata: what a trained model needs to get the same feature numbers back.

The metadata lists the features in model column order with their parameters, the warm-up and
the pipeline version, and carries `spec_hash`, the sha256 of the canonical JSON of everything
else. Reading it back refuses another pipeline version or a hash that does not match: a model
must never be fed silently different numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from raytrade.config.base import canonical_json
from raytrade.core.errors import IntegrityError
from raytrade.features.groups import Feature

HASH_KEY = "spec_hash"
VERSION_KEY = "pipeline_version"


def build_metadata(features: Sequence[Feature], warmup: int, version: int) -> dict[str, Any]:
    """Return the JSON-ready metadata of a pipeline, its hash included."""
    body: dict[str, Any] = {
        VERSION_KEY: version,
        "feature_names": [f.name for f in features],
        "features": [f.describe() for f in features],
        "warmup": warmup,
        "needs_volume": any(f.needs_volume for f in features),
    }
    return {**body, HASH_KEY: hash_of(body)}


def hash_of(body: Mapping[str, Any]) -> str:
    """Return the sha256 of the canonical JSON (sorted keys, no whitespace) of `body`."""
    return hashlib.sha256(canonical_json(dict(body)).encode()).hexdigest()


def verified_names(meta: Mapping[str, Any], version: int) -> tuple[str, ...]:
    """Return the feature names of metadata written by `version` whose hash matches.

    Raise IntegrityError otherwise, naming what differs.
    """
    if not isinstance(meta, Mapping):
        raise IntegrityError(f"feature metadata must be a JSON object, got {type(meta).__name__}")
    found = meta.get(VERSION_KEY)
    if found != version:
        raise IntegrityError(
            f"feature metadata was written by feature pipeline version {found!r} and this is "
            f"version {version}: its formulas differ, so retrain the model with this version")
    body = {k: v for k, v in meta.items() if k != HASH_KEY}
    try:
        computed = hash_of(body)
    except (TypeError, ValueError) as exc:
        raise IntegrityError(f"feature metadata is not plain JSON: {exc}") from None
    recorded = meta.get(HASH_KEY)
    if recorded != computed:
        raise IntegrityError(
            f"feature metadata does not match its spec_hash (recorded {recorded!r}, computed "
            f"{computed}): it was edited or corrupted after it was written")
    names = meta.get("feature_names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise IntegrityError("feature metadata has no list of feature names")
    return tuple(names)
