"""The learned-model slots of the cost engine: what a model reads, what it returns, and where it plugs in.

The engine only knows these protocols; ``core.learned`` implements them. A slot left empty (``None``)
keeps the rule-based method for that number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from core.costs.order import Order
from core.costs.volatility import Volatility
from core.costs.walk import Walk
from core.market.book import BookSnapshot


@dataclass(frozen=True, slots=True)
class ModelInput:
    """Everything a learned model may read to build its features for one estimate."""

    snapshot: BookSnapshot
    order: Order
    walk: Walk
    volatility: Volatility
    notional_usd: float


@dataclass(frozen=True, slots=True)
class SlippagePrediction:
    """A model's TOTAL immediate cost versus the arrival mid (the same quantity as the book walk's cost),
    in bps of the executed notional. The engine subtracts the permanent impact from it."""

    expected_bps: float
    p90_bps: float | None = None
    #: the part of ``p90_bps`` the online calibration added (``core.learned.online``; negative: it narrowed the band)
    p90_online_bps: float = 0.0


@runtime_checkable
class SlippageModel(Protocol):
    name: str  # shown in ``methods``, e.g. "linear model (held-out MAE 0.8 bps)"

    def predict(self, x: ModelInput) -> SlippagePrediction: ...


@runtime_checkable
class MakerTakerModel(Protocol):
    name: str

    def maker_fraction(self, x: ModelInput) -> float:
        """Expected share of the order's notional filled as maker, in [0, 1]."""
        ...


@dataclass(frozen=True, slots=True)
class LimitRisk:
    """What resting costs beyond the limit price, in bps of the mid at placement (positive = cost), estimated
    from the recorded tape (``docs/MODELS.md``): the expected mid move against the part that fills (adverse
    selection: fills come when the price moves through the order) and away from the part that does not
    (opportunity: a rest crossed at expiry pays the move). Intervals are block-bootstrap 95% intervals."""

    adverse_selection_bps: float
    opportunity_bps: float
    adverse_selection_ci: tuple[float, float] | None
    opportunity_ci: tuple[float, float] | None
    source: str  # where the figures come from, one phrase


@runtime_checkable
class LimitRiskModel(Protocol):
    """A maker/taker model that also prices adverse selection and opportunity cost."""

    def limit_risk(self, x: ModelInput) -> LimitRisk | None: ...


@runtime_checkable
class FlowSourceModel(Protocol):
    """A maker/taker model whose trade-flow inputs are imputed (a live feed has no trades) says from what."""

    def flow_source(self, x: ModelInput) -> str: ...


@runtime_checkable
class OnlineNoteModel(Protocol):
    """A model corrected online by real outcomes (``core.learned.online``) says by how many, for the method note
    (empty while nothing has corrected it)."""

    def online_note(self, x: ModelInput) -> str: ...


@runtime_checkable
class OnlineShareModel(Protocol):
    """A maker/taker model corrected online gives its share with and without the correction, so the card can say
    how much of the share shown the correction makes (a 5-point gap between filled and shown can move a share 15)."""

    def maker_fraction_parts(self, x: ModelInput) -> tuple[float, float | None]:
        """(share shown, the model's own share or None where no correction applies)."""
        ...


@runtime_checkable
class RegimeModel(Protocol):
    """A maker/taker model that can say when the market lies outside the conditions it was trained on."""

    def regime(self, vol: Volatility) -> str: ...


@runtime_checkable
class TrainedRangeModel(Protocol):
    """A maker/taker model that knows the limit offsets and horizons it learned fill rates on: beyond the offsets
    it has no estimate (the app refuses the order), beyond the horizons it serves the nearest (the app says so)."""

    def trained_range(self) -> tuple[tuple[float, float], tuple[float, float]]: ...  # (offset bps), (horizon s)


@dataclass(frozen=True, slots=True)
class Models:
    """The learned-model slots; ``None`` keeps the rule-based method for that number."""

    slippage: SlippageModel | None = None
    maker_taker: MakerTakerModel | None = None
