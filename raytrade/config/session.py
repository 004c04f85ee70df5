"""Paper-session files: which promoted model trades, at which broker, on which bars, within
which limits. Validated like experiment files, so every error names its key path."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, HttpUrl, model_validator

from raytrade.config.base import FrozenModel
from raytrade.config.experiment import NAME_PATTERN, SOURCE_PATTERN, Symbol
from raytrade.core.errors import ConfigError, ConfigProblem
from raytrade.core.types import Timeframe

BrokerKind = Literal["simulated", "alpaca", "binance"]


class ModelRef(FrozenModel):
    """A promoted model, named by the run that trained it (it must have a passing gate row)."""

    run_id: int = Field(ge=1, description="The run whose promoted model the session trades.")


class BrokerSpec(FrozenModel):
    """Where orders go; keys come from the environment, never from this file."""

    kind: BrokerKind
    base_url: HttpUrl | None = Field(None, description="The broker's API root (default: its "
                                     "paper endpoint); a fake venue's address in a sandbox.")
    fee_bps: float | None = Field(
        None, ge=0.0, le=1_000.0,
        description="Simulated broker only: fee per fill (default: the experiment's costs).")
    slippage_bps: float | None = Field(
        None, ge=0.0, le=1_000.0,
        description="Simulated broker only: slippage on the next bar's open (default: the "
                    "experiment's costs).")


class BarsSpec(FrozenModel):
    """The bars the session trades on: a collector's lake partition, or a vendor's stream."""

    source: Annotated[str, Field(pattern=SOURCE_PATTERN)]
    symbol: Symbol
    timeframe: Timeframe
    stream: Annotated[str, Field(pattern=SOURCE_PATTERN)] | None = Field(
        None, description="Read closed bars from this vendor's live stream instead of the "
                          "collector's partition (source, symbol, timeframe).")
    base_url: HttpUrl | None = Field(None, description="With stream: the vendor's stream root.")


class RiskSpec(FrozenModel):
    """Limits the session trades within; amounts are in the account currency."""

    max_position_notional: float = Field(gt=0.0, description="Cap on the amount of one entry.")
    max_daily_loss: float = Field(gt=0.0, description="Kill switch: once equity is this far "
                                  "below the UTC day's start, flatten and halt.")
    stale_after_bars: float = Field(2.0, gt=0.0, le=1_000.0, description="No new position when "
                                    "the newest bar closed more than this many intervals ago.")
    max_orders_per_minute: int = Field(10, ge=1, le=10_000,
                                       description="Orders sent in any 60 s of clock time.")


class SessionConfig(FrozenModel):
    """One paper-trading session, named; its name keys its store rows and its Ray actor."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    description: str = ""
    model: ModelRef
    broker: BrokerSpec
    bars: BarsSpec
    capital: float = Field(gt=0.0, le=1e12, description="Account currency the session trades.")
    risk: RiskSpec
    parity_every_bars: int = Field(
        100, ge=1, le=1_000_000,
        description="Recompute the decisions through the batch path every this many bars.")

    @model_validator(mode="after")
    def _cross_field_rules(self) -> SessionConfig:
        problems = costs_only_when_simulated(self) + entry_cap_within_capital(self)
        if problems:
            raise ConfigError(problems)
        return self


def costs_only_when_simulated(cfg: SessionConfig) -> list[ConfigProblem]:
    # A real venue charges its own fees; a number here would silently disagree with it.
    broker = cfg.broker
    return [ConfigProblem(f"broker.{key}", repr(getattr(broker, key)),
                          "no value unless broker.kind is simulated (the venue charges its "
                          "own fees and slippage)")
            for key in ("fee_bps", "slippage_bps")
            if broker.kind != "simulated" and getattr(broker, key) is not None]


def entry_cap_within_capital(cfg: SessionConfig) -> list[ConfigProblem]:
    # A cap above capital can never bind, which hides a typo in either number.
    cap = cfg.risk.max_position_notional
    if cap <= cfg.capital:
        return []
    return [ConfigProblem("risk.max_position_notional", repr(cap),
                          f"at most capital ({cfg.capital:g})")]


__all__ = ["BarsSpec", "BrokerKind", "BrokerSpec", "ModelRef", "RiskSpec", "SessionConfig"]
