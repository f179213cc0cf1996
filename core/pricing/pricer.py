"""Per-tick cost numbers for fixed order inputs: what the feed thread computes on every book.

``core.costs.estimate.estimate`` builds the full, explained estimate (methods, notes, the walk's fills, the
Almgren–Chriss calibration) that a page renders once per refresh; its ``core.costs.composition.compose`` is the
one composition of the costs. Every tick needs only the numbers, so a ``TickPricer`` prepares the inputs once
(order, fee tier, models compiled to ``core.learned._nets.DenseNet``, the features that do not depend on the
book) and ``figures`` is one call into ``core.costs._walk.TickKernel``: the walk, the depth line, banded depth,
the book's features, the models' forward pass and the composition, each the compiled twin of its Python part,
so the figures equal ``estimate``'s to 1e-12 (tests check it on real and generated books). Any case the
compiled path does not cover (limit orders, an order beyond the visible book, custom models, a missing kernel)
takes ``estimate`` itself, so the numbers never depend on which path ran.
"""

from __future__ import annotations

import math
import time
from typing import Any, NamedTuple

from core.compiled import load
from core.costs.estimate import CostEstimate, estimate
from core.costs.fees import FeeTier
from core.costs.impact import DEFAULT_PERMANENT_SHARE, DEFAULT_REFILL_S, MIN_FIT_LEVELS, settings_error
from core.costs.models import Models
from core.costs.order import ENGINE_MAX_NOTIONAL_USD, Order, OrderType, Side, SizeUnit
from core.costs.volatility import Volatility, default_volatility
from core.costs.walk import BOUNDARY_RTOL
from core.learned.features import DEPTH_BANDS_BPS, IMBALANCE_BAND_BPS, MAX_RATIO
from core.learned.models import SlippageModelImpl, band_instrument
from core.market.book import BookSnapshot

_kernel = load("core.costs._walk")  # compiled walk, depth line and banded depth; None: estimate() does it

_BANDS = tuple(b / 1e4 for b in DEPTH_BANDS_BPS)
_perf_ns = time.perf_counter_ns


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
        self._tick = self._new_kernel(self._quantiles) if compiled and _kernel is not None else None
        #: kernels whose quantile net's band is an instrument's own (``BandShift.instruments``), by (exchange, symbol)
        self._ticks: dict[tuple[str, str], Any] = {}
        q = self._slip.quantiles if self._slip is not None else None
        self._band_instruments = q.band_shift.instruments if q is not None and q.band_shift is not None else ()

    def _new_kernel(self, quantiles: Any) -> Any:
        """The compiled per-tick pricer, with ``quantiles`` (a compiled quantile net) as its band."""
        order, fee_tier = self.order, self.fee_tier
        assert _kernel is not None
        return _kernel.TickKernel(
            quantity=order.quantity,
            by_quote=order.unit is SizeUnit.QUOTE,
            buy=order.side is Side.BUY,
            rtol=BOUNDARY_RTOL,
            min_fit_levels=MIN_FIT_LEVELS,
            bands=_BANDS,
            permanent_share=self.permanent_share,
            maker_rate=fee_tier.maker_rate,
            taker_rate=fee_tier.taker_rate,
            max_notional=ENGINE_MAX_NOTIONAL_USD,
            models=self._slip is not None,
            expected=self._expected,
            quantiles=quantiles,
            order_features=self._order_features,
            imbalance_band=DEPTH_BANDS_BPS.index(IMBALANCE_BAND_BPS),
            max_ratio=MAX_RATIO,
            figures_cls=CostFigures,
            perf_ns=time.perf_counter_ns,
        )

    def _kernel_for(self, snap: BookSnapshot) -> Any:
        """The kernel for ``snap``'s instrument: its own band's where the quantile net has per-instrument cells
        (built once per instrument), else the one built up front (the pooled band)."""
        if not self._band_instruments:
            return self._tick
        where = (snap.exchange, snap.symbol)
        tick = self._ticks.get(where)
        if tick is None:
            key = band_instrument(*where)
            slip = self._slip
            assert slip is not None and slip.quantiles is not None
            own = key in self._band_instruments
            tick = self._new_kernel(slip.quantiles.compiled(key)) if own else self._tick
            self._ticks[where] = tick
        return tick

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
        t0 = _perf_ns()
        tick = self._tick
        if tick is not None and self.compiled:
            tick = self._kernel_for(snap)  # one call; it asks ``_order_features`` when the volatility changed
            out = tick.figures(snap, volatility, t0)
            if out is not None:
                return self._online(out, snap)
        e = self.estimate(snap, volatility)
        return CostFigures.of(e, snap, (_perf_ns() - t0) / 1e3)

    def _online(self, out: CostFigures, snap: BookSnapshot) -> CostFigures:
        """The compiled figures with the online band tracker's shift applied to the p90 (as
        ``SlippageModelImpl.predict`` applies it on the Python path; ``core.learned.online``); unchanged while the
        shift is 0."""
        slip = self._slip
        if slip is None or slip.band is None or out.slippage_p90_usd is None or not out.filled_usd > 0:
            return out
        if not slip.band.applies(snap.exchange, snap.symbol):
            return out
        log10_size = math.log10(max(out.filled_usd, 1e-9))
        if slip.band.shift(slip.band.buckets.of_log10(log10_size)) == 0.0:
            return out
        notional = out.filled_usd
        p90 = slip.online_p90(out.slippage_p90_usd / notional * 1e4, out.slippage_bps, log10_size, snap.spread_bps)
        return out._replace(slippage_p90_usd=p90 * notional / 1e4)

    def _order_features(self, snap: BookSnapshot, vol: Volatility | None) -> list[float]:
        """``tick_row``'s entries that do not depend on the book (volatility, latency, the venue's imputed flow);
        the kernel computes the first ``BOOK_FEATURES`` (the book's) itself and keeps these while ``vol`` stays
        the same object (the tracker hands the same ``Volatility`` for a second)."""
        slip = self._slip
        assert slip is not None
        if vol is None:
            vol = default_volatility(mid=snap.mid)
        nothing = (0.0,) * len(_BANDS)
        row = slip.tick_row(
            snap,
            (nothing, nothing),
            side=1 if self.order.side is Side.BUY else -1,
            notional_usd=1.0,
            walk_bps=0.0,
            vol_per_sqrt_s=vol.sigma_per_sqrt_s,
            latency_ms=self.order.latency_ms,
        )
        return row[_kernel.BOOK_FEATURES :]  # type: ignore[union-attr]


#: True when the compiled walk (core/costs/_walk.pyx) is built and on: the Latency page says which path runs
KERNEL_BUILT = _kernel is not None
