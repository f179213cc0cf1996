"""The run-time features of the learned models: what a book, the recent flow and an order say, as model rows.

Training (``core.training.dataset``) and serving (``core.learned.models``) build every row with these
functions, so the app computes features exactly as the models were trained on them. Each table lists every
column a row carries (with units, for the model cards); ``ROLE_INPUTS`` says which columns each model reads.
The sampled grids (latencies, offsets, horizons) are also the ranges serving clips its inputs to.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.market.book import BookSnapshot
from core.market.instruments import passive_ticks, smallest_step

#: latencies (ms) between decision and execution sampled for slippage rows; also a model feature
LATENCIES_MS: tuple[float, ...] = (0.0, 50.0, 100.0, 250.0, 500.0, 1000.0)
#: distances (bps) behind the touch sampled for limit orders
OFFSETS_BPS: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 5.0)
#: resting times (s) sampled for limit orders
HORIZONS_S: tuple[float, ...] = (1.0, 5.0, 10.0, 30.0, 60.0)
DEPTH_BANDS_BPS: tuple[float, ...] = (5.0, 25.0, 100.0)
IMBALANCE_BAND_BPS = 25.0
MAX_RATIO = 1e3  # size / depth is capped here so one thin book cannot dominate a linear fit
#: the volatility under the p90 band's scale never goes below this (bps per sqrt(s)), so a flat history cannot
#: collapse the band to the walk
VOL_FLOOR_BPS = 0.1


@dataclass(frozen=True, slots=True)
class Feature:
    """One model input, as written in the model cards."""

    name: str
    unit: str
    description: str


_COMMON_HEAD = (
    Feature("log10_size_usd", "log10 USD", "order notional"),
    Feature("side", "+1 buy / -1 sell", "order direction"),
    Feature("spread_bps", "bps of mid", "best ask - best bid"),
)
_BOOK_SHAPE = (
    Feature("imbalance25", "-1..1", "(bid - ask) / (bid + ask) USD depth within 25 bps of mid"),
    Feature("imbalance_top", "-1..1", "(bid - ask) / (bid + ask) base size at the touch"),
    Feature("side_x_imbalance25", "-1..1", "side x imbalance25 (positive: the book leans the way the order goes)"),
    Feature("side_x_imbalance_top", "-1..1", "side x imbalance_top"),
)
_FLOW = (
    Feature(
        "vol_bps",
        "bps per sqrt(s)",
        "the app's mid volatility (core.costs.volatility.realised_vol: two-scale 1 s / 5 s, EWMA half-life 300 s)",
    ),
    Feature("trades_per_s", "1/s", "recorded trades per second over the last 10 s (0 without trades)"),
    Feature("btc_per_s", "base units/s", "traded base volume per second over the last 10 s (0 without trades)"),
    Feature("log10_trades_per_s", "log10(1/s)", "log10(1 + trades_per_s)"),
    Feature("log10_btc_per_s", "log10(base/s)", "log10(1 + btc_per_s)"),
)
_IS_SPOT = Feature("is_spot", "0/1", "1 for a spot market, 0 for a perpetual/future")

#: every column a slippage row carries (``slippage_vector`` order); models pick their inputs from these
SLIPPAGE_FEATURES: tuple[Feature, ...] = (
    *_COMMON_HEAD,
    Feature("walk_bps", "bps", "book-walk cost of this order at t vs the mid at t (the decision-time baseline)"),
    Feature("log10_depth5_usd", "log10 USD", "log10(1 + USD depth within 5 bps of mid, side consumed)"),
    Feature("log10_depth25_usd", "log10 USD", "log10(1 + USD depth within 25 bps of mid, side consumed)"),
    Feature("log10_depth100_usd", "log10 USD", "log10(1 + USD depth within 100 bps of mid, side consumed)"),
    Feature("size_over_depth5", "ratio", "size / depth within 5 bps (capped at 1000)"),
    Feature("size_over_depth25", "ratio", "size / depth within 25 bps (capped at 1000)"),
    Feature("size_over_depth100", "ratio", "size / depth within 100 bps (capped at 1000)"),
    *_BOOK_SHAPE,
    *_FLOW,
    Feature("latency_ms", "ms", "decision-to-execution latency L"),
    Feature("sqrt_latency_s", "sqrt(s)", "sqrt(L / 1 s)"),
    Feature(
        "latency_move_bps",
        "bps",
        "max(vol_bps, 0.1) x sqrt_latency_s: the typical mid move during the latency (the band's scale)",
    ),
    _IS_SPOT,
)

#: candidate inputs of the maker model (``core.training.extrapolation.INTERACTION_RULE``; ``interactions``): served
#: only when that rule chose one, and then named in the model card's inputs
MAKER_INTERACTIONS: tuple[Feature, ...] = (
    Feature("vol_x_log10_size", "bps per sqrt(s) x log10 USD", "vol_bps x log10_size_usd"),
    Feature("move_x_log10_size", "bps x log10 USD", "move_bps x log10_size_usd"),
    Feature(
        "vol_x_flow_excess",
        "bps per sqrt(s) x log10",
        "vol_bps x max(log10_flow_over_order, 0): the volatility where the flow while the order rests exceeds it "
        "and its queue, so whether it fills hinges on the price coming to it",
    ),
)

#: candidate inputs of the maker model (``core.training.horizon_vol.HORIZON_VOL_RULE``; ``horizon_values``): the
#: mid's move while the order rests measured at the 30 s scale rather than the 1-5 s volatility x sqrt(horizon)
MAKER_HORIZON_VOL: tuple[Feature, ...] = (
    Feature(
        "vol30_bps",
        "bps per sqrt(s)",
        "the volatility of 30 s mid returns (core.costs.volatility, Volatility.sigma_at_horizon; vol_bps until "
        "30 s of history exist)",
    ),
    Feature("move30_bps", "bps", "vol30_bps x sqrt(horizon_s): the mid's move while resting, at the 30 s scale"),
    Feature("offset_over_move30", "ratio", "offset_bps / max(move30_bps, 0.1), capped at 100"),
    Feature(
        "log_variance_ratio",
        "ln ratio",
        "ln(vol30_bps^2 / vol_bps^2), clipped to +-3: above 0 the market trends (moves continue), below 0 it reverts",
    ),
)

#: ``HORIZON_VOL_RULE``'s candidates: name -> (inputs removed, inputs added)
HORIZON_VOL_SWAPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "move_at_horizon": (("move_bps", "offset_over_move"), ("move30_bps", "offset_over_move30")),
    "variance_ratio": ((), ("log_variance_ratio",)),
}


def with_swap(names: Sequence[str], swap: str | None) -> list[str]:
    """The maker model's inputs ``names`` with a ``HORIZON_VOL_SWAPS`` swap applied (None: unchanged)."""
    if swap is None:
        return list(names)
    drop, add = HORIZON_VOL_SWAPS[swap]
    return [n for n in names if n not in drop] + [a for a in add if a not in names]


#: every column a maker row carries (``maker_vector`` order)
MAKER_FEATURES: tuple[Feature, ...] = (
    *_COMMON_HEAD,
    Feature("offset_bps", "bps", "limit price distance behind the touch"),
    Feature("horizon_s", "s", "how long the order rests"),
    Feature("log10_horizon_s", "log10 s", "log10(horizon_s)"),
    Feature("log10_queue_usd", "log10 USD", "log10(1 + visible USD at the order's price level at t)"),
    Feature("log10_depth5_usd", "log10 USD", "log10(1 + USD depth within 5 bps of mid, side the order joins)"),
    Feature("log10_depth25_usd", "log10 USD", "log10(1 + USD depth within 25 bps of mid, side the order joins)"),
    Feature("log10_depth100_usd", "log10 USD", "log10(1 + USD depth within 100 bps of mid, side the order joins)"),
    Feature("size_over_depth5", "ratio", "size / depth within 5 bps on the side the order joins (capped at 1000)"),
    *_BOOK_SHAPE,
    *_FLOW,
    Feature("move_bps", "bps", "vol_bps x sqrt(horizon_s): typical mid move while resting"),
    Feature("offset_over_move", "ratio", "offset_bps / max(move_bps, 0.1), capped at 100"),
    Feature("log10_flow_over_order", "log10", "log10((1 + USD traded per s x horizon) / (size + queue USD))"),
    _IS_SPOT,
    *MAKER_INTERACTIONS,
    *MAKER_HORIZON_VOL,
)

SLIPPAGE_NAMES = tuple(f.name for f in SLIPPAGE_FEATURES)
MAKER_NAMES = tuple(f.name for f in MAKER_FEATURES)
#: what a live feed cannot supply (no trade stream): imputed with training medians at run time (the log10
#: columns follow from these two)
TRADE_FEATURES = ("trades_per_s", "btc_per_s")


# --------------------------------------------------------------------------------------------------
# Features (shared by training and serving)


@dataclass(frozen=True, slots=True)
class BookFeatures:
    """What the book says at one instant, independent of any order."""

    mid: float
    spread_bps: float
    bid_depth_usd: tuple[float, ...]  # within each of DEPTH_BANDS_BPS of mid
    ask_depth_usd: tuple[float, ...]
    imbalance25: float  # (bid - ask) / (bid + ask) USD within IMBALANCE_BAND_BPS
    imbalance_top: float  # (bid - ask) / (bid + ask) base size at the touch


_BANDS = np.asarray(DEPTH_BANDS_BPS) / 1e4


def _depths(px: np.ndarray, cum_quote: np.ndarray, limits: np.ndarray, *, descending: bool) -> tuple[float, ...]:
    """USD of the levels between the touch and each limit price (inclusive): one searchsorted per side."""
    k = np.searchsorted(-px, -limits, side="right") if descending else np.searchsorted(px, limits, side="right")
    return tuple(float(cum_quote[i - 1]) if i > 0 else 0.0 for i in k.tolist())


def book_features(snapshot: BookSnapshot) -> BookFeatures:
    """Spread, banded depth and imbalance of one book (two searchsorted calls, no level loop)."""
    mid = snapshot.mid
    bids = _depths(snapshot.bid_px, snapshot.bid_cum_quote, mid * (1.0 - _BANDS), descending=True)
    asks = _depths(snapshot.ask_px, snapshot.ask_cum_quote, mid * (1.0 + _BANDS), descending=False)
    i = DEPTH_BANDS_BPS.index(IMBALANCE_BAND_BPS)
    tot = bids[i] + asks[i]
    b0, a0 = float(snapshot.bid_sz[0]), float(snapshot.ask_sz[0])
    return BookFeatures(
        mid=mid,
        spread_bps=snapshot.spread_bps,
        bid_depth_usd=bids,
        ask_depth_usd=asks,
        imbalance25=(bids[i] - asks[i]) / tot if tot > 0 else 0.0,
        imbalance_top=(b0 - a0) / (b0 + a0) if b0 + a0 > 0 else 0.0,
    )


@dataclass(frozen=True, slots=True)
class FlowFeatures:
    """Recent market activity before ``t``: volatility and trade intensity."""

    vol_bps: float  # bps per sqrt(second)
    trades_per_s: float
    btc_per_s: float
    #: the 30 s-scale volatility, bps per sqrt(second) (``Volatility.sigma_at_horizon``); NaN: not measured, taken
    #: as ``vol_bps`` (a random walk)
    vol30_bps: float = math.nan

    @property
    def vol_at_horizon_bps(self) -> float:
        """``vol30_bps``, or ``vol_bps`` where it was not measured (NaN or 0): a random walk, the same everywhere."""
        return self.vol30_bps if math.isfinite(self.vol30_bps) and self.vol30_bps > 0 else self.vol_bps


def _ratio(size: float, depth: float) -> float:
    return min(size / depth, MAX_RATIO) if depth > 0 else MAX_RATIO


def _flow_values(flow: FlowFeatures) -> list[float]:
    return [
        flow.vol_bps,
        flow.trades_per_s,
        flow.btc_per_s,
        math.log10(1.0 + flow.trades_per_s),
        math.log10(1.0 + flow.btc_per_s),
    ]


def _shape_values(bf: BookFeatures, side: int) -> list[float]:
    return [bf.imbalance25, bf.imbalance_top, side * bf.imbalance25, side * bf.imbalance_top]


def slippage_vector(
    bf: BookFeatures,
    flow: FlowFeatures,
    *,
    side: int,
    size_usd: float,
    walk_bps: float,
    latency_ms: float,
    is_spot: bool,
) -> np.ndarray:
    """One slippage row, in ``SLIPPAGE_NAMES`` order."""
    depth = bf.ask_depth_usd if side > 0 else bf.bid_depth_usd
    return np.array(
        [
            math.log10(size_usd),
            float(side),
            bf.spread_bps,
            walk_bps,
            *(math.log10(1.0 + d) for d in depth),
            *(_ratio(size_usd, d) for d in depth),
            *_shape_values(bf, side),
            *_flow_values(flow),
            latency_ms,
            math.sqrt(latency_ms / 1000.0),
            latency_move(flow.vol_bps, latency_ms),
            1.0 if is_spot else 0.0,
        ],
        dtype=np.float64,
    )


def latency_move(vol_bps: float, latency_ms: float) -> float:
    """The typical mid move (bps) during a latency: ``max(vol, floor) x sqrt(L / 1 s)``."""
    return max(vol_bps, VOL_FLOOR_BPS) * math.sqrt(latency_ms / 1000.0)


def maker_vector(
    bf: BookFeatures,
    flow: FlowFeatures,
    *,
    side: int,
    size_usd: float,
    offset_bps: float,
    horizon_s: float,
    queue_usd: float,
    is_spot: bool,
) -> np.ndarray:
    """One maker/taker row, in ``MAKER_NAMES`` order."""
    depth = bf.bid_depth_usd if side > 0 else bf.ask_depth_usd
    move = flow.vol_bps * math.sqrt(horizon_s)
    flow_usd = flow.btc_per_s * bf.mid * horizon_s
    return np.array(
        [
            math.log10(size_usd),
            float(side),
            bf.spread_bps,
            offset_bps,
            horizon_s,
            math.log10(horizon_s),
            math.log10(1.0 + queue_usd),
            *(math.log10(1.0 + d) for d in depth),
            _ratio(size_usd, depth[0]),
            *_shape_values(bf, side),
            *_flow_values(flow),
            move,
            min(offset_bps / max(move, 0.1), 100.0),
            flow_over := math.log10((1.0 + flow_usd) / (size_usd + queue_usd)),
            1.0 if is_spot else 0.0,
            *interactions(flow.vol_bps, move, math.log10(size_usd), flow_over),
            *horizon_values(flow.vol_bps, flow.vol_at_horizon_bps, offset_bps, horizon_s),
        ],
        dtype=np.float64,
    )


def interactions(vol_bps: Any, move_bps: Any, log10_size_usd: Any, log10_flow_over_order: Any) -> tuple[Any, ...]:
    """The ``MAKER_INTERACTIONS`` columns (scalars or arrays), candidate inputs of the maker model
    (``core.training.extrapolation.INTERACTION_RULE``): a linear logit cannot let volatility matter more for small
    orders, which fill once the price trades through them, than for large ones, which the traded volume limits."""
    return (
        vol_bps * log10_size_usd,
        move_bps * log10_size_usd,
        vol_bps * np.maximum(log10_flow_over_order, 0.0),
    )


MAX_LOG_VARIANCE_RATIO = 3.0


def horizon_values(vol_bps: Any, vol30_bps: Any, offset_bps: Any, horizon_s: Any) -> tuple[Any, ...]:
    """The ``MAKER_HORIZON_VOL`` columns (scalars or arrays)."""
    move30 = vol30_bps * np.sqrt(horizon_s)
    ratio = np.log(np.maximum(vol30_bps, 1e-9) ** 2 / np.maximum(vol_bps, 1e-9) ** 2)
    return (
        vol30_bps,
        move30,
        np.minimum(offset_bps / np.maximum(move30, 0.1), 100.0),
        np.clip(ratio, -MAX_LOG_VARIANCE_RATIO, MAX_LOG_VARIANCE_RATIO),
    )


def infer_tick(snapshot: BookSnapshot) -> float:
    """Smallest price step seen in the book: a fallback when the instrument's tick is unknown."""
    return smallest_step(snapshot.bid_px, snapshot.ask_px)


@dataclass(frozen=True, slots=True)
class LimitPrice:
    """Where a passive order rests and what is visibly queued there when it arrives."""

    ticks: int  # price / tick, rounded
    price: float
    queue_base: float  # visible size at exactly this price at placement (others ahead of us)
    visible: bool  # the price lies within the recorded levels of its side


def limit_price(snapshot: BookSnapshot, side: int, offset_bps: float, tick: float) -> LimitPrice:
    """Buy: best bid minus the offset; sell: best ask plus it; rounded to the nearest tick."""
    if side > 0:
        touch, px, sz = snapshot.best_bid, snapshot.bid_px, snapshot.bid_sz
    else:
        touch, px, sz = snapshot.best_ask, snapshot.ask_px, snapshot.ask_sz
    ticks = passive_ticks(touch, tick, offset_bps, buy=side > 0)
    lvl = np.rint(px / tick).astype(np.int64)
    hit = lvl == ticks
    queue = float(sz[hit].sum())
    visible = bool(ticks >= lvl[-1]) if side > 0 else bool(ticks <= lvl[-1])
    return LimitPrice(ticks=ticks, price=ticks * tick, queue_base=queue, visible=visible)


# --------------------------------------------------------------------------------------------------
# Model inputs per role

#: slippage model inputs (a subset of the dataset's columns). The models predict the cost as the
#: decision-time book walk plus vol x sqrt(L) x (a learned function): at zero latency they return the walk
#: exactly, and the drift and the spread of outcomes scale like a random walk's move during the latency,
#: so the p90 band widens in proportion to the volatility (the learned part adds size and book shape).
SLIPPAGE_INPUTS: tuple[str, ...] = (
    "log10_size_usd",
    "spread_bps",
    "walk_bps",
    "log10_depth5_usd",
    "log10_depth25_usd",
    "size_over_depth5",
    "size_over_depth25",
    "side_x_imbalance25",
    "side_x_imbalance_top",
    "vol_bps",
    "log10_trades_per_s",
    "log10_btc_per_s",
    "sqrt_latency_s",
    "latency_move_bps",
    "is_spot",
)
SLIPPAGE_OFFSET = "walk_bps"  # added to the output unchanged
SLIPPAGE_SCALE = "latency_move_bps"  # multiplies the learned part
#: maker/taker inputs: quantities that keep their meaning when the market's activity level changes
#: (distance in units of the typical move, the order's size against the queue ahead and the flow expected
#: while it rests, which way the book leans). The label is size-aware, so the share falls with size.
MAKER_INPUTS: tuple[str, ...] = (
    "log10_size_usd",
    "offset_bps",
    "log10_horizon_s",
    "log10_queue_usd",
    "log10_flow_over_order",
    "side_x_imbalance25",
    "side_x_imbalance_top",
    "vol_bps",
    "move_bps",
    "offset_over_move",
    "is_spot",
)
ROLE_INPUTS = {"slippage_expected": SLIPPAGE_INPUTS, "slippage_quantiles": SLIPPAGE_INPUTS, "maker_taker": MAKER_INPUTS}


def input_features(role: str, names: Sequence[str] | None = None) -> tuple[Feature, ...]:
    """The model's inputs ``names`` (default ``ROLE_INPUTS[role]``) with units, for its card."""
    table = {f.name: f for f in (MAKER_FEATURES if role == "maker_taker" else SLIPPAGE_FEATURES)}
    return tuple(table[n] for n in (names or ROLE_INPUTS[role]))


def structure(role: str) -> dict[str, int | None]:
    """Column indices (within the role's inputs) of the pass-through offset and the output scale."""
    if role == "maker_taker":
        return {"offset_index": None, "scale_index": None}
    return {
        "offset_index": SLIPPAGE_INPUTS.index(SLIPPAGE_OFFSET),
        "scale_index": SLIPPAGE_INPUTS.index(SLIPPAGE_SCALE),
    }
