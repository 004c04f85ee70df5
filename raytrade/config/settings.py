"""Settings and secrets, read from the environment (prefix RAYTRADE_) and nowhere else.

Secrets are `SecretStr`: their repr, str and JSON show `**********`. Code that needs the value
calls `.get_secret_value()` at the edge where it talks to the vendor, and never logs it.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOME = Path("~/.raytrade")


class Settings(BaseSettings):
    """Where raytrade keeps its state and the credentials it may use."""

    model_config = SettingsConfigDict(env_prefix="RAYTRADE_", frozen=True, extra="ignore")

    home: Path = Field(DEFAULT_HOME, description="Root of local state: lake, models, embedded db.")
    database_url: SecretStr | None = Field(
        None, description="SQLAlchemy URL of PostgreSQL; unset means the embedded server.")
    lake_root: Path | None = Field(None, description="Parquet bar lake; default HOME/lake.")
    models_dir: Path | None = Field(None, description="Promoted models; default HOME/models.")
    massive_api_key: SecretStr | None = Field(None, description="Massive (formerly Polygon.io).")
    alpaca_key_id: SecretStr | None = None
    alpaca_secret_key: SecretStr | None = None
    binance_api_key: SecretStr | None = None
    binance_api_secret: SecretStr | None = None
    coingecko_api_key: SecretStr | None = None
    # API roots, when not the vendors' public hosts (a proxy, or `raytrade venues` fakes).
    massive_base_url: str | None = None
    binance_base_url: str | None = Field(None, description="The host root (API_URL = it + /api).")
    coingecko_base_url: str | None = Field(None, description="…/api/v3")
    geckoterminal_base_url: str | None = Field(None, description="…/api/v2")

    def base_url(self, source: str) -> str | None:
        """Return the configured API root of a source (`binance_us` shares Binance's)."""
        vendor = source.removesuffix("_us")
        value = getattr(self, f"{vendor}_base_url", None)
        return value if isinstance(value, str) else None

    @property
    def home_dir(self) -> Path:
        return self.home.expanduser()

    @property
    def lake_dir(self) -> Path:
        return (self.lake_root or self.home_dir / "lake").expanduser()

    @property
    def models_path(self) -> Path:
        return (self.models_dir or self.home_dir / "models").expanduser()

    @property
    def runs_path(self) -> Path:
        """Each run's artifacts before (and whether or not) it is promoted."""
        return self.home_dir / "runs"

    @property
    def embedded_db_dir(self) -> Path:
        return self.home_dir / "pg"

    def describe(self) -> dict[str, str]:
        """Return what a person may see: paths, a redacted database URL, secrets as set/unset."""
        url = self.database_url
        shown = {
            "home": str(self.home_dir),
            "database": redact_url(url.get_secret_value()) if url else
            f"embedded PostgreSQL in {self.embedded_db_dir}",
            "lake_root": str(self.lake_dir),
            "models_dir": str(self.models_path),
        }
        for name in ("massive_api_key", "alpaca_key_id", "alpaca_secret_key", "binance_api_key",
                     "binance_api_secret", "coingecko_api_key"):
            shown[name] = "set" if getattr(self, name) is not None else "unset"
        return shown


def redact_url(url: str) -> str:
    """Return the URL with any password replaced by ***; other parts stay for debugging."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{userinfo}:***@{netloc[1]}"))
