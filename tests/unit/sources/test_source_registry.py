"""Sources are built by name with their keys from Settings, and nowhere else."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from raytrade.config.settings import Settings
from raytrade.core.errors import InputError
from raytrade.sources.base import MarketDataSource
from raytrade.sources.registry import SOURCES, SourceOptions, build_source


def test_every_registered_source_builds_and_is_named_as_registered() -> None:
    settings = Settings(massive_api_key=SecretStr("m"), binance_api_key=SecretStr("b"),
                        coingecko_api_key=SecretStr("c"))
    for name in SOURCES:
        source = build_source(name, settings, SourceOptions(base_url="http://127.0.0.1:9"))
        assert isinstance(source, MarketDataSource)
        assert source.name == name
        assert "http://127.0.0.1:9" in repr(source)


def test_keys_come_from_settings() -> None:
    settings = Settings(massive_api_key=SecretStr("from-env"))
    source = build_source("massive", settings)
    assert source._key is not None  # type: ignore[attr-defined]
    assert source._key.get_secret_value() == "from-env"  # type: ignore[attr-defined]


def test_unknown_source_name_lists_the_known_ones() -> None:
    with pytest.raises(InputError, match=r"unknown source 'polygon'.*'massive'"):
        build_source("polygon", Settings())
