"""The experiment file (DESIGN.md section 4) as a frozen pydantic model.

Field-level rules live on the fields; rules that relate fields live in `rules.py` and run after
the model is built, so every error names an absolute key path such as `split.embargo`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from raytrade.config.base import FrozenModel
from raytrade.config.rules import check_rules
from raytrade.core.types import (
    SYMBOL_HINT,
    AssetClass,
    Timeframe,
    asset_class_of,
    is_canonical_symbol,
)

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"
SOURCE_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"
PATTERN_HINTS: dict[str, str] = {
    NAME_PATTERN: "a lower-case name of letters, digits, '.', '_' or '-' (at most 100 characters)",
    SOURCE_PATTERN: "a lower-case source name such as sample, bundled, binance or massive",
}
FEATURE_GROUPS = ("returns", "volatility", "momentum", "trend", "range", "volume", "calendar")
FEATURE_SETS = ("crypto", "equities")

FeatureGroup = Literal["returns", "volatility", "momentum", "trend", "range", "volume", "calendar"]
Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]


def _canonical_symbol(value: str) -> str:
    if not is_canonical_symbol(value):
        raise ValueError(f"Input should be {SYMBOL_HINT}")
    return value


Symbol = Annotated[str, AfterValidator(_canonical_symbol)]


class DataSpec(FrozenModel):
    """Which bars the experiment reads from the lake: one symbol, one timeframe, a date window."""

    source: Annotated[str, Field(pattern=SOURCE_PATTERN)]
    symbol: Symbol
    timeframe: Timeframe
    start: date = Field(description="First day of the window (UTC), inclusive.")
    end: date = Field(description="Last day of the window (UTC), inclusive.")

    @property
    def asset_class(self) -> AssetClass:
        return asset_class_of(self.symbol)

    def window(self) -> tuple[datetime, datetime]:
        """Return the window as UTC datetimes [start 00:00, day after end 00:00)."""
        start = datetime.combine(self.start, time(0), tzinfo=UTC)
        end = datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=UTC)
        return start, end


class FeatureSpec(FrozenModel):
    """Either a named feature set or a list of groups (exactly one of the two)."""

    set: Literal["crypto", "equities"] | None = None
    groups: tuple[FeatureGroup, ...] | None = Field(default=None, min_length=1)


class ModelParams(FrozenModel):
    """XGBoost parameters that a hypothesis may set; everything else is fixed by training."""

    max_depth: int = Field(4, ge=1, le=16)
    eta: float = Field(0.05, gt=0.0, le=1.0)
    num_boost_round: int = Field(400, ge=1, le=20_000)
    early_stopping_rounds: int = Field(50, ge=1)
    subsample: float = Field(1.0, gt=0.0, le=1.0)
    colsample_bytree: float = Field(1.0, gt=0.0, le=1.0)
    min_child_weight: float = Field(1.0, ge=0.0)
    reg_lambda: float = Field(1.0, ge=0.0, alias="lambda")
    reg_alpha: float = Field(0.0, ge=0.0, alias="alpha")


class ModelSpec(FrozenModel):
    kind: Literal["binary", "multiclass"]
    params: ModelParams = ModelParams()


class LabelSpec(FrozenModel):
    """Forward-return labels, computed inside each split segment after the split."""

    holding_period: int = Field(ge=1, le=10_000, description="Bars a position is held.")
    profit_target: float = Field(gt=0.0, lt=1.0, description="Log-return target, e.g. 0.004.")
    stop_loss: float | None = Field(
        None, gt=0.0, lt=1.0, description="Multiclass barrier below; defaults to profit_target."
    )


class SplitSpec(FrozenModel):
    """Chronological split; the embargo (bars) separates segments so labels cannot overlap."""

    scheme: Literal["holdout", "walk_forward"] = "holdout"
    train: Fraction = 0.6
    validation: Fraction = 0.2
    test: Fraction = 0.2
    embargo: int | Literal["auto"] = "auto"
    folds: int = Field(1, ge=1, le=100)
    window: Literal["expanding", "rolling"] = "expanding"


class CostSpec(FrozenModel):
    fee_bps: float = Field(10.0, ge=0.0, le=1_000.0)
    slippage_bps: float = Field(2.0, ge=0.0, le=1_000.0)


class GateSpec(FrozenModel):
    """Thresholds of the three-tier gate; what the file leaves out takes these defaults."""

    min_coverage: Probability = 0.95
    min_trades: int = Field(30, ge=0)
    min_sharpe: float = 0.5
    win_rate: tuple[Probability, Probability] = (0.4, 0.7)
    capital_protection: bool = False
    min_psr: Probability = 0.95
    min_dsr: Probability = 0.95
    max_pbo: Probability = 0.5


class ExperimentConfig(FrozenModel):
    """One hypothesis: what data, which features, which model, how to judge it."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    family: Annotated[str, Field(pattern=NAME_PATTERN)]
    description: str = ""
    seed: int = Field(42, ge=0, lt=2**32)
    data: DataSpec
    features: FeatureSpec
    model: ModelSpec
    label: LabelSpec
    split: SplitSpec = SplitSpec()
    costs: CostSpec = CostSpec()
    gate: GateSpec = GateSpec()

    @model_validator(mode="before")
    @classmethod
    def _family_defaults_to_name(cls, data: object) -> object:
        # Trials in one family deflate each other's Sharpe (gate tier 3), so the default is
        # deliberately narrow: the experiment itself.
        if isinstance(data, dict) and data.get("family") is None and "name" in data:
            return {**data, "family": data["name"]}
        return data

    @model_validator(mode="after")
    def _cross_field_rules(self) -> ExperimentConfig:
        from_rules = check_rules(self)
        if from_rules:
            raise from_rules
        return self

    @property
    def embargo_bars(self) -> int:
        """Return the embargo in bars; `auto` is the holding period."""
        embargo = self.split.embargo
        return self.label.holding_period if embargo == "auto" else embargo

