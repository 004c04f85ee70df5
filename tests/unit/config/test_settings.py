"""Secrets come from the environment and never show up in a repr, a log line or an error."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from raytrade.config.settings import Settings, redact_url

SECRETS = {
    "RAYTRADE_MASSIVE_API_KEY": "massive-key-7Q2Z9X",
    "RAYTRADE_ALPACA_KEY_ID": "alpaca-id-K3J8W1",
    "RAYTRADE_ALPACA_SECRET_KEY": "alpaca-secret-P0L9M8",
    "RAYTRADE_BINANCE_API_KEY": "binance-key-U7Y6T5",
    "RAYTRADE_BINANCE_API_SECRET": "binance-secret-R4E3W2",
    "RAYTRADE_COINGECKO_API_KEY": "coingecko-key-Q1A2Z3",
}
DB_PASSWORD = "db-pass-H6G5F4"


@pytest.fixture
def secret_env(raytrade_env: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    # a database that is not there: the error message must not carry the password either
    monkeypatch.setenv("RAYTRADE_DATABASE_URL",
                       f"postgresql+psycopg://trader:{DB_PASSWORD}@127.0.0.1:1/raytrade")
    return Settings()


def _assert_clean(text: str) -> None:
    for secret in [*SECRETS.values(), DB_PASSWORD]:
        assert secret not in text


def test_settings_read_secrets_from_the_environment(secret_env: Settings) -> None:
    assert secret_env.binance_api_key is not None
    assert secret_env.binance_api_key.get_secret_value() == SECRETS["RAYTRADE_BINANCE_API_KEY"]


def test_secrets_never_appear_in_repr_str_json_or_logs(
    secret_env: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("raytrade").info("settings: %s / %r", secret_env, secret_env)
    _assert_clean(repr(secret_env) + str(secret_env) + secret_env.model_dump_json())
    _assert_clean(str(secret_env.describe()) + caplog.text)
    assert secret_env.describe()["binance_api_key"] == "set"


def test_cli_output_and_errors_never_echo_secrets(secret_env: Settings, cli) -> None:  # type: ignore[no-untyped-def]
    shown = cli("settings", "--json")
    assert shown.code == 0 and "trader:***@127.0.0.1" in shown.out
    failed = cli("db", "current")  # nothing listens on port 1: a clean error, exit 1
    assert failed.code == 1 and "cannot reach the database" in failed.err
    for result in (shown, failed):
        _assert_clean(result.out + result.err)


def test_redact_url_keeps_what_helps_debugging() -> None:
    assert redact_url("postgresql://u:p@h:5/db") == "postgresql://u:***@h:5/db"
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"
