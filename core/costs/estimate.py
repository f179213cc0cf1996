"""The cost engine: one call turns (book, order, settings) into every number the app shows.

Decomposition (``docs/METHODOLOGY.md`` section 2), all in USD, positive = cost to the trader:

- ``walk_slippage_usd``: what the order pays versus the arrival mid walking the visible book (half-spread
  part + depth part, extrapolated beyond the visible book). For an immediate order this IS Almgren–Chriss'
  whole expected cost (eq. 13: ``epsilon X + eta X^2 / tau``), permanent and temporary parts together.
- ``slippage_usd``: the whole immediate cost versus the arrival mid, what the fills show: the book walk, or a
  learned model's prediction of that same quantity. This is what a trader means by slippage.
- ``impact_usd``: the part of ``slippage_usd`` the order causes and that persists, Almgren–Chriss'
  ``0.5 gamma X^2`` with the permanent share calibrated from real taker orders (``data/impact.json``), capped
  at the cost beyond the touch. Included in slippage, never added to it.
- ``fee_usd``: notional x (maker share x maker rate + taker share x taker rate).
- ``net_cost_usd = slippage_usd + fee_usd`` (+ ``adverse_selection_usd + opportunity_usd``, the expected
  limit-order terms from ``core.costs.limit``) exactly: nothing is counted twice. bps are of
  the executed notional ``filled_usd``.

The arithmetic of the decomposition lives in ``core.costs.composition.compose``, shared with the per-tick
pricer; this module gathers its inputs (walk, calibration, models, limit execution) and explains them.

A learned slippage model (``SlippageModel``) may replace the book walk as the total immediate cost, and a
maker/taker model (``MakerTakerModel``) supplies the maker share of limit orders; ``methods`` says which
method produced each number.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any

from core.costs.composition import bps, compose, predicted_cost
from core.costs.fees import FeeTier, fee_method
from core.costs.impact import DEFAULT_PERMANENT_SHARE, DEFAULT_REFILL_S, Calibration, calibrate, impact_source
from core.costs.limit import limit_execution
from core.costs.models import ModelInput, Models, OnlineNoteModel
from core.costs.order import ENGINE_MAX_NOTIONAL_USD, MAX_NOTIONAL_USD, AtExpiry, Order, OrderType, Side, SizeUnit
from core.costs.volatility import SQRT_YEAR_S, Volatility, VolSource, default_volatility
from core.costs.walk import Walk, walk_book
from core.errors import OrderError
from core.market.book import BookSnapshot

#: the Almgren–Chriss parameters the JSON output carries, each as ``ac_<name>``
AC_KEYS = ("epsilon", "eta", "gamma", "rho", "rho_ls", "d0_ls", "refill_s", "permanent_share")


def _unit_json(unit: SizeUnit) -> dict[str, Any]:
    return {"size_unit": "usd" if unit is SizeUnit.QUOTE else "base"}


def _calibration_json(c: Calibration) -> dict[str, Any]:
    return {f"ac_{k}": getattr(c, k) for k in AC_KEYS}


def _no_json(_: object) -> dict[str, Any]:
    return {}


def _plain(value: Any) -> Any:
    """A JSON-ready copy of one field's value: enums by value, mappings as dicts, tuples as lists."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _json(how: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """Field metadata: ``to_dict`` writes the field as the pairs ``how(value)`` instead of one plain key."""
    return {"json": how}


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """Every output for one (book, order). USD amounts are positive when they cost the trader; bps are of
    ``filled_usd``; ``net_cost_usd == slippage_usd + fee_usd + adverse_selection_usd + opportunity_usd``
    exactly (the last two are 0 for a market order; impact is inside slippage, never added).

    The field order is the key order of ``to_dict`` (the CLI's ``--json`` output)."""

    exchange: str
    symbol: str
    side: Side
    order_type: OrderType
    size: float  # as entered
    size_unit: SizeUnit = field(metadata=_json(_unit_json))
    # market
    mid: float
    best_bid: float
    best_ask: float
    spread_bps: float
    # execution against the book
    avg_price: float
    filled_base: float
    filled_usd: float
    levels_used: int
    fully_filled: bool
    beyond_visible: bool
    extrapolated_base: float
    walk_slippage_usd: float  # whole book-walk cost vs arrival mid
    walk_slippage_bps: float
    half_spread_usd: float  # part of the walk cost from crossing to the touch
    depth_usd: float  # part of the walk cost from going past the touch
    # the decomposition
    slippage_usd: float  # whole expected immediate cost vs the arrival mid (what the fills show)
    slippage_bps: float
    slippage_p90_usd: float | None  # 90th percentile of it (models only)
    slippage_p90_online_usd: float  # the part of the p90 the online calibration added (0 without it)
    fee_usd: float
    fee_bps: float
    impact_usd: float  # the part of slippage the order causes: permanent 0.5 gamma X^2, at most beyond the touch
    impact_bps: float
    adverse_selection_usd: float  # limit orders: expected markout of the filled part (core.costs.limit)
    opportunity_usd: float  # limit orders: expected move away before the rest crosses (core.costs.limit)
    net_cost_usd: float
    net_cost_bps: float
    # inputs the numbers used
    maker_fraction: float
    fee_tier: str
    maker_rate: float
    taker_rate: float
    volatility_per_sqrt_s: float  # fraction per sqrt(second)
    volatility_annual: float  # fraction, 0.5 = 50%
    volatility_source: VolSource
    calibration: Calibration = field(metadata=_json(_calibration_json))
    ac_immediate_usd: float  # Almgren–Chriss immediate cost epsilon X + X^2 / (2 rho) (= walk when fitted on it)
    latency_us: float  # time inside ``estimate``, microseconds (perf_counter_ns)
    latency_ms: float = 0.0
    limit_price: float | None = None  # limit orders: the resting price (quote currency)
    maker_filled_usd: float = 0.0  # limit orders: expected notional filled as maker
    crossed_usd: float = 0.0  # limit orders: notional crossed as taker at the horizon
    at_expiry: AtExpiry | None = None
    #: limit orders whose maker share an online correction moved: the model's own share (None: no correction)
    maker_fraction_model: float | None = None
    #: the volatility of 30 s mid returns, annualised, where the data measured one from enough history
    #: (``Volatility.horizon_settled``); above ``volatility_annual`` moves continue (trending), below they revert
    volatility_30s_annual: float | None = None
    methods: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    walk: Walk | None = field(repr=False, default=None, metadata=_json(_no_json))

    @property
    def maker_part_usd(self) -> float:
        """Limit orders: the part of slippage filled as maker at the limit price (negative: a gain, the spread
        and the offset earned); the rest of slippage is the crossed rest's book walk. 0 for a market order."""
        return self.slippage_usd - self.walk_slippage_usd if self.order_type is OrderType.LIMIT else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready flat mapping (the CLI's ``--json`` output), one key per field in field order except
        where a field's metadata says otherwise (the size unit's name, the calibration's ``ac_*`` keys)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            how = f.metadata.get("json")
            if how is None:
                out[f.name] = _plain(value)
            else:
                out.update(how(value))
        return out


def estimate(
    snapshot: BookSnapshot,
    order: Order,
    *,
    fee_tier: FeeTier,
    volatility: Volatility | None = None,
    refill_s: float = DEFAULT_REFILL_S,
    permanent_share: float = DEFAULT_PERMANENT_SHARE,
    models: Models | None = None,
) -> CostEstimate:
    """Price ``order`` against ``snapshot``; see the module docstring for what each number means.

    Raises ``OrderError`` (plain message) for an order that cannot be priced.
    """
    t0 = time.perf_counter_ns()
    models = models or Models()
    mid = snapshot.mid
    notes: list[str] = []
    methods: dict[str, str] = {}

    if order.unit is SizeUnit.BASE and order.quantity * mid > ENGINE_MAX_NOTIONAL_USD:
        raise OrderError(
            f"This size ({order.quantity:g} in the instrument's base currency) is about ${order.quantity * mid:,.0f} "
            f"at the current price, more than the ${MAX_NOTIONAL_USD:,.0f} this simulator prices; check the size."
        )
    if order.order_type is OrderType.LIMIT and models.maker_taker is None:
        raise OrderError(
            "Limit orders need the maker/taker model, which is not loaded; price the order as a market order."
        )
    if order.order_type is OrderType.LIMIT and order.unit is SizeUnit.BASE:
        raise OrderError("Size limit orders in USD.")

    walk = walk_book(snapshot, order.side, order.quantity, unit=order.unit)
    notional = walk.filled_quote
    if walk.beyond_visible:
        notes.append(
            f"Beyond visible depth: {walk.extrapolated_base:.6g} base units were priced by extending the book "
            "at its average depth slope (a conservative estimate)."
        )
        methods["book_walk"] = "book walk + extrapolation beyond visible depth"
    else:
        methods["book_walk"] = "book walk"

    vol = volatility if volatility is not None else default_volatility(mid=mid)
    methods["volatility"] = {
        VolSource.DATA: "realised EWMA of mid returns",
        VolSource.OVERRIDE: "user override",
        VolSource.DEFAULT: "documented default (not enough history)",
    }[vol.source]
    if vol.source is VolSource.DEFAULT:
        notes.append(vol.note)

    mi = ModelInput(snapshot=snapshot, order=order, walk=walk, volatility=vol, notional_usd=notional)
    limit = None
    if order.order_type is OrderType.LIMIT:
        assert models.maker_taker is not None  # checked above
        limit = limit_execution(snapshot, order, mi, models.maker_taker, notes, methods)
        if limit.cross is not None:
            walk = limit.cross  # the part that walks the book is the crossed rest
        notional = limit.maker_usd + limit.crossed_usd

    cal = calibrate(
        snapshot,
        order.side,
        walk.filled_base,
        sigma=mid * vol.sigma_per_sqrt_s,
        refill_s=refill_s,
        permanent_share=permanent_share,
        walk=walk,
    )
    x = walk.filled_base if (limit is None or limit.cross is not None) else 0.0

    p90_total: float | None = None
    p90_online = 0.0
    if limit is not None:
        total = limit.maker_cost + (limit.cross.cost if limit.cross is not None else 0.0)
        methods["slippage"] = "maker part at the limit price vs mid" + (
            " + book walk of the crossed rest" if limit.cross else ""
        )
    elif models.slippage is not None:
        pred = models.slippage.predict(mi)
        predicted = predicted_cost(pred.expected_bps, pred.p90_bps, notional)
        if predicted is not None:
            total, p90_total = predicted
            if p90_total is not None:
                p90_online = pred.p90_online_bps * notional / 1e4
            methods["slippage"] = f"model: {models.slippage.name}"
            if p90_total is not None:
                methods["slippage_p90"] = (
                    f"quantile model at {order.latency_ms:g} ms latency, widened to cover 9 in 10 real taker orders "
                    "of its training date (per instrument and size where it had enough); on a day it never saw, the "
                    "share covered is the one its label quotes (by size: see Validation)"
                )
                note = models.slippage.online_note(mi) if isinstance(models.slippage, OnlineNoteModel) else ""
                if note:
                    methods["slippage_p90"] += "; " + note
        else:  # a broken prediction must not reach the user: fall back, and say so
            total = walk.cost
            methods["slippage"] = "book walk (the slippage model returned no finite value)"
    else:
        total = walk.cost
        methods["slippage"] = "book walk"

    walked = total if limit is None else (limit.cross.cost if limit.cross is not None else 0.0)
    parts = compose(
        total=total,
        p90_total=p90_total,
        walked=walked,
        half_spread=walk.half_spread_cost,
        base=x,
        epsilon=cal.epsilon,
        rho=cal.rho,
        permanent_share=cal.permanent_share,
        notional=notional,
        maker_usd=limit.maker_usd if limit is not None else 0.0,
        fee_tier=fee_tier,
        # a limit order's expected markout when filled and move away before the rest crosses (core.costs.limit)
        adverse_selection_usd=limit.adverse_selection_usd if limit is not None else 0.0,
        opportunity_usd=limit.opportunity_usd if limit is not None else 0.0,
    )
    methods["impact"] = (
        f"part of slippage, not added: Almgren–Chriss permanent part 0.5·gamma·X², gamma = {permanent_share:.3g}/rho "
        f"(refill {refill_s:.3g} s; {impact_source(permanent_share, refill_s)})"
    )
    if limit is not None and limit.cross is None:
        methods["impact"] = "none: a resting limit order does not walk the book"
    elif parts.impact_usd < parts.permanent_usd:
        methods["impact"] += ", capped at the cost beyond the touch"
        if parts.beyond_touch_usd == 0.0:
            notes.append("The order stays within the best level, so it does not move the price: no permanent impact.")
        else:
            notes.append(
                "Permanent impact capped at the cost of walking past the best level, all the price move "
                "this order causes on the visible book."
            )
    if limit is None:
        maker_fraction = 0.0
        methods["maker_fraction"] = "market order: 100% taker"
    else:
        maker_fraction = limit.fraction
    methods["fees"] = fee_method(fee_tier, parts.maker_share)

    if limit is None:
        filled_base, avg_price, levels, fully = walk.filled_base, walk.avg_price, walk.levels_used, walk.fully_filled
        beyond, walked_cost, half, depth = walk.beyond_visible, walk.cost, walk.half_spread_cost, walk.depth_cost
    else:
        c = limit.cross
        filled_base = limit.maker_usd / limit.price + (c.filled_base if c else 0.0)
        avg_price = notional / filled_base if filled_base > 0 else math.nan
        levels, fully = (c.levels_used if c else 0), (c is not None or limit.fraction >= 1.0)
        beyond = c.beyond_visible if c else False
        walked_cost, half, depth = (c.cost, c.half_spread_cost, c.depth_cost) if c else (0.0, 0.0, 0.0)
    latency_us = (time.perf_counter_ns() - t0) / 1e3
    return CostEstimate(
        exchange=snapshot.exchange,
        symbol=snapshot.symbol,
        side=order.side,
        order_type=order.order_type,
        size=order.quantity,
        size_unit=order.unit,
        mid=mid,
        best_bid=snapshot.best_bid,
        best_ask=snapshot.best_ask,
        spread_bps=snapshot.spread_bps,
        avg_price=avg_price,
        filled_base=filled_base,
        filled_usd=notional,
        levels_used=levels,
        fully_filled=fully,
        beyond_visible=beyond,
        extrapolated_base=walk.extrapolated_base if (limit is None or limit.cross) else 0.0,
        walk_slippage_usd=walked_cost,
        walk_slippage_bps=bps(walked_cost, notional),
        half_spread_usd=half,
        depth_usd=depth,
        slippage_usd=parts.slippage_usd,
        slippage_bps=parts.slippage_bps,
        slippage_p90_usd=parts.slippage_p90_usd,
        slippage_p90_online_usd=p90_online,
        fee_usd=parts.fee_usd,
        fee_bps=parts.fee_bps,
        impact_usd=parts.impact_usd,
        impact_bps=parts.impact_bps,
        adverse_selection_usd=parts.adverse_selection_usd,
        opportunity_usd=parts.opportunity_usd,
        net_cost_usd=parts.net_cost_usd,
        net_cost_bps=parts.net_cost_bps,
        maker_fraction=maker_fraction,
        fee_tier=fee_tier.label,
        maker_rate=fee_tier.maker_rate,
        taker_rate=fee_tier.taker_rate,
        volatility_per_sqrt_s=vol.sigma_per_sqrt_s,
        volatility_annual=vol.annual,
        volatility_source=vol.source,
        volatility_30s_annual=vol.sigma_at_horizon * SQRT_YEAR_S if vol.horizon_settled else None,
        calibration=cal,
        ac_immediate_usd=parts.ac_immediate_usd,
        latency_us=latency_us,
        methods=methods,
        limit_price=limit.price if limit else None,
        maker_filled_usd=limit.maker_usd if limit else 0.0,
        crossed_usd=limit.crossed_usd if limit else 0.0,
        at_expiry=order.at_expiry if limit else None,
        maker_fraction_model=limit.model_fraction if limit else None,
        latency_ms=order.latency_ms,
        notes=tuple(notes),
        walk=walk,
    )
