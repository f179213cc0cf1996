"""Per-tick cost numbers for fixed order inputs: what the feed thread computes on every book.

``core.costs.estimate.estimate`` builds the full, explained estimate (methods, notes, the walk's fills, the
Almgren–Chriss calibration) that a page renders once per refresh. Every tick needs only the numbers, so a
``TickPricer`` prepares the inputs once (order, fee tier, models compiled to ``core.learned._nets.DenseNet``)
and ``figures`` redoes only the book-dependent work in compiled code: the walk, the depth line, banded depth
and the models' forward pass. Both add the parts up with the same ``core.costs.composition.compose``, so the
figures equal ``estimate``'s to 1e-12 (tests check it on real and generated books); any case
the compiled path does not cover (limit orders, an order beyond the visible book, custom models, a missing
kernel) takes ``estimate`` itself, so the numbers never depend on which path ran.
"""

from __future__ import annotations

import time
from typing import NamedTuple

from core.compiled import load
from core.costs.composition import bps, compose, predicted_cost
from core.costs.estimate import CostEstimate, estimate
from core.costs.fees import FeeTier
from core.costs.impact import DEFAULT_PERMANENT_SHARE, DEFAULT_REFILL_S, MIN_FIT_LEVELS, settings_error
from core.costs.models import Models
from core.costs.order import MAX_NOTIONAL_USD, Order, OrderType, Side, SizeUnit
from core.costs.volatility import Volatility, default_volatility
from core.costs.walk import BOUNDARY_RTOL
from core.learned.features import DEPTH_BANDS_BPS
from core.learned.models import SlippageModelImpl
from core.market.book import BookSnapshot

_kernel = load("core.costs._walk")  # compiled walk, depth line and banded depth; None: estimate() does it

_BANDS = tuple(b / 1e4 for b in DEPTH_BANDS_BPS)


class CostFigures(NamedTuple):
    """Every number of one estimate, for one book. A tuple (immutable, cheap to build on every tick).

    USD positive = cost to the trader; bps of ``filled_usd``; ``net_cost_usd = slippage_usd + fee_usd +
    impact_usd``. ``compiled`` says whether the compiled path produced it (else ``estimate`` did).
    """

    seq: int
    exchange_ts_ms: int
    recv_ns: int
    mid: float
    avg_price: float
    filled_base: float
    filled_usd: float
    levels_used: int
    walk_slippage_usd: float
    slippage_usd: float
    slippage_bps: float
    slippage_p90_usd: float | None
    fee_usd: float
    fee_bps: float
    impact_usd: float
    impact_bps: float
    net_cost_usd: float
    net_cost_bps: float
    maker_fraction: float
    ac_immediate_usd: float
    latency_us: float
    compiled: bool

    @classmethod
    def of(cls, e: CostEstimate, snap: BookSnapshot, latency_us: float) -> CostFigures:
        return cls(
            snap.seq,
            snap.exchange_ts_ms,
            snap.recv_ns,
            e.mid,
            e.avg_price,
            e.filled_base,
            e.filled_usd,
            e.levels_used,
            e.walk_slippage_usd,
            e.slippage_usd,
            e.slippage_bps,
            e.slippage_p90_usd,
            e.fee_usd,
            e.fee_bps,
            e.impact_usd,
            e.impact_bps,
            e.net_cost_usd,
            e.net_cost_bps,
            e.maker_fraction,
            e.ac_immediate_usd,
            latency_us,
            False,
        )


class TickPricer:
    """``estimate`` for one set of inputs, prepared once so each tick only redoes the book-dependent work."""

    def __init__(
        self,
        order: Order,
        *,
        fee_tier: FeeTier,
        models: Models | None = None,
        refill_s: float = DEFAULT_REFILL_S,
        permanent_share: float = DEFAULT_PERMANENT_SHARE,
    ) -> None:
        self.order = order
        self.fee_tier = fee_tier
        self.models = models or Models()
        self.refill_s = refill_s
        self.permanent_share = permanent_share
        self._slip = None
        self._expected = self._quantiles = None
        compiled = _kernel is not None and order.order_type is OrderType.MARKET
        if settings_error(refill_s, permanent_share) is not None:
            compiled = False  # estimate() -> calibrate() raises the plain message
        slip = self.models.slippage
        if slip is not None and compiled:
            if isinstance(slip, SlippageModelImpl):
                self._slip = slip
                self._expected = slip.expected.compiled() if slip.expected is not None else None
                self._quantiles = slip.quantiles.compiled() if slip.quantiles is not None else None
                compiled = (slip.expected is None or self._expected is not None) and (
                    slip.quantiles is None or self._quantiles is not None
                )
            else:  # a model the compiled path does not know: let estimate() call it
                compiled = False
        self.compiled = compiled

    def estimate(self, snap: BookSnapshot, volatility: Volatility | None = None) -> CostEstimate:
        """The full, explained estimate (what a page renders)."""
        return estimate(
            snap,
            self.order,
            fee_tier=self.fee_tier,
            volatility=volatility,
            refill_s=self.refill_s,
            permanent_share=self.permanent_share,
            models=self.models,
        )

    def figures(self, snap: BookSnapshot, volatility: Volatility | None = None) -> CostFigures:
        """The numbers of ``estimate(snap)``; raises ``OrderError`` exactly where ``estimate`` does."""
        t0 = time.perf_counter_ns()
        if self.compiled:
            out = self._compiled(snap, volatility, t0)
            if out is not None:
                return out
        e = self.estimate(snap, volatility)
        return CostFigures.of(e, snap, (time.perf_counter_ns() - t0) / 1e3)

    def _compiled(self, snap: BookSnapshot, vol: Volatility | None, t0: int) -> CostFigures | None:
        o = self.order
        bid0, ask0 = float(snap.bid_px[0]), float(snap.ask_px[0])
        mid = 0.5 * (bid0 + ask0)
        by_quote = o.unit is SizeUnit.QUOTE
        if not by_quote and o.quantity * mid > MAX_NOTIONAL_USD:
            return None  # estimate() raises the plain message
        buy = o.side is Side.BUY
        if buy:
            px, sz, cb, cq = snap.ask_px, snap.ask_sz, snap.ask_cum_base, snap.ask_cum_quote
        else:
            px, sz, cb, cq = snap.bid_px, snap.bid_sz, snap.bid_cum_base, snap.bid_cum_quote
        kernel = _kernel
        if kernel is None:
            return None
        r = kernel.walk_fill(px, sz, cb, cq, o.quantity, by_quote, buy, mid, BOUNDARY_RTOL, MIN_FIT_LEVELS)
        if r is None:
            return None  # beyond the visible book: estimate() extrapolates and says so
        levels, base, notional, half, depth, rho = r
        walk_cost = half + depth
        total = walk_cost
        p90_total: float | None = None
        slip = self._slip
        if slip is not None:
            if vol is None:
                vol = default_volatility(mid=mid)
            walk_bps = bps(walk_cost, notional)
            bands = kernel.band_depths(snap.bid_px, snap.bid_cum_quote, snap.ask_px, snap.ask_cum_quote, mid, _BANDS)
            row = slip.tick_row(
                snap,
                bands,
                side=1 if buy else -1,
                notional_usd=notional,
                walk_bps=walk_bps,
                vol_per_sqrt_s=vol.sigma_per_sqrt_s,
                latency_ms=o.latency_ms,
            )
            exp = self._expected(row)[0] if self._expected is not None else walk_bps
            p90 = max(self._quantiles(row)[1], exp) if self._quantiles is not None else None
            predicted = predicted_cost(exp, p90, notional)
            if predicted is not None:
                total, p90_total = predicted
        parts = compose(
            total=total,
            p90_total=p90_total,
            walked=total,
            half_spread=half,
            base=base,
            epsilon=0.5 * (ask0 - bid0),
            rho=rho,
            permanent_share=self.permanent_share,
            notional=notional,
            maker_usd=0.0,
            fee_tier=self.fee_tier,
        )
        return CostFigures(
            snap.seq,
            snap.exchange_ts_ms,
            snap.recv_ns,
            mid,
            notional / base,
            base,
            notional,
            levels,
            walk_cost,
            parts.slippage_usd,
            parts.slippage_bps,
            parts.slippage_p90_usd,
            parts.fee_usd,
            parts.fee_bps,
            parts.impact_usd,
            parts.impact_bps,
            parts.net_cost_usd,
            parts.net_cost_bps,
            0.0,
            parts.ac_immediate_usd,
            (time.perf_counter_ns() - t0) / 1e3,
            True,
        )


#: True when the compiled walk (core/costs/_walk.pyx) is built and on: the Latency page says which path runs
KERNEL_BUILT = _kernel is not None
