"""The base every config model shares: frozen, unknown keys refused, identity by hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict


class FrozenModel(BaseModel):
    """A config value: immutable, strict about unknown keys, identified by its canonical JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def canonical_json(self) -> str:
        """Return the JSON that defines this config's identity: defaults included, keys sorted."""
        return canonical_json(self.model_dump(mode="json", by_alias=True))

    def config_hash(self) -> str:
        """Return the sha256 of the canonical JSON; equal configs hash equal, whatever the YAML."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)
