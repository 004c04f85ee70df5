"""FeatureService: a named actor that computes each (bars fingerprint, feature spec) once and
hands every trial that asks the same frame through the object store, as Arrow.

The cache is bounded in bytes and evicts the least recently used frame. A trial whose request
fails (the actor died, the object was lost) computes its features itself: sharing is an
optimisation, never a dependency.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

import polars as pl
import pyarrow as pa
import ray
from ray.exceptions import RayError

from raytrade.features.metadata import HASH_KEY
from raytrade.features.pipeline import FeaturePipeline
from raytrade.runtime.local import NAMESPACE
from raytrade.runtime.metrics import CacheMetrics

SERVICE_NAME = "feature-service"
DEFAULT_MAX_BYTES = 2 << 30
log = logging.getLogger(__name__)


class FeatureService:
    """The actor's body. Methods run one at a time, so a key is never computed twice."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, code_version: str = "") -> None:
        self._max_bytes = max_bytes
        self._code_version = code_version
        self._cache: OrderedDict[tuple[str, str], tuple[ray.ObjectRef[Any], int]] = (
            OrderedDict())
        self._hits = self._misses = self._evictions = 0
        self._metrics = CacheMetrics()

    def features(self, fingerprint: str, metadata: dict[str, Any],
                 bars: list[ray.ObjectRef[Any]], code_version: str) -> list[ray.ObjectRef[Any]]:
        """Return [ref of the Arrow table] of the pipeline's output for the bars `fingerprint`
        names; `bars` (a ref in a list, so it is only fetched on a miss) are those bars. A
        caller running other raytrade code is refused: it computes its own features."""
        if code_version != self._code_version:
            raise RuntimeError(f"this FeatureService runs raytrade {self._code_version}, the "
                               f"caller {code_version}")
        key = (fingerprint, str(metadata[HASH_KEY]))  # the pipeline is rebuilt only on a miss
        if key in self._cache:
            self._hits += 1
            self._metrics.hits.inc()
            self._cache.move_to_end(key)
            return [self._cache[key][0]]
        self._misses += 1
        self._metrics.misses.inc()
        pipeline = FeaturePipeline.from_metadata(metadata)  # verifies the hash it carries
        frame = pl.from_arrow(ray.get(bars[0]))
        assert isinstance(frame, pl.DataFrame)
        table = pipeline.transform(frame.lazy()).collect().to_arrow()
        ref = ray.put(table)
        self._cache[key] = (ref, table.nbytes)
        self._evict()
        return [ref]

    def _evict(self) -> None:
        while len(self._cache) > 1 and self._size() > self._max_bytes:
            self._cache.popitem(last=False)
            self._evictions += 1

    def _size(self) -> int:
        return sum(n for _, n in self._cache.values())

    def stats(self) -> dict[str, int]:
        """Return hits, misses (= computations), evictions, entries and cached bytes."""
        return {"hits": self._hits, "misses": self._misses, "evictions": self._evictions,
                "entries": len(self._cache), "bytes": self._size()}

    def code_version(self) -> str:
        return self._code_version


def feature_service(code_version: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Return the FeatureService, starting it if needed (without waiting for it to be ready).

    It belongs to the driver that started it and ends with it, so its code is always the
    driver's: a detached one could outlive an upgrade and serve features from older code."""
    actor: Any = ray.remote(FeatureService).options(
        name=SERVICE_NAME, namespace=NAMESPACE, get_if_exists=True, num_cpus=0,
        max_restarts=3)
    return actor.remote(max_bytes, code_version)


class SharedFeatures:
    """A runner FeatureSource that asks the FeatureService; on any Ray failure it computes."""

    def __init__(self, service: Any, code_version: str) -> None:
        self._service = service
        self._code_version = code_version

    def __call__(self, bars: pl.DataFrame, pipeline: FeaturePipeline,
                 fingerprint: str) -> pl.DataFrame:
        try:
            refs: list[ray.ObjectRef[Any]] = ray.get(self._service.features.remote(
                fingerprint, pipeline.metadata(), [ray.put(bars.to_arrow())],
                self._code_version))
            table = ray.get(refs[0])
        except RayError as exc:
            log.warning("FeatureService unavailable (%s); computing features locally",
                        type(exc).__name__)
            return pipeline.transform(bars.lazy()).collect()
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame) and isinstance(table, pa.Table)
        return frame
