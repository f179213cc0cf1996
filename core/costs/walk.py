"""The book walk: what a market order pays against the visible book, versus the arrival mid.

Vectorised: the snapshot already carries cumulative base and quote depth per side, so finding the last
level an order touches is one ``np.searchsorted`` and the fills are slices; there is no Python loop over
levels. Sizes are base units (BTC, never contracts) and prices quote currency (USDT, treated as USD).

Beyond the visible book the order is not priced at the last level for free. The remainder is priced by
extending the visible book at its own average density (see ``extrapolation_slope``): the marginal price
keeps moving away from the last level at the rate the visible book moves away from the mid per unit of
depth. The walk says how much was extrapolated (``beyond_visible``, ``extrapolated_base``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.costs.order import Side, SizeUnit
from core.errors import OrderError
from core.market.book import BookSnapshot

#: relative tolerance for "the order ends exactly on a level boundary" (float cumulative sums)
BOUNDARY_RTOL = 1e-12


@dataclass(frozen=True, slots=True)
class Walk:
    """Result of walking one side of the book. Amounts in quote currency, positive = cost to the trader."""

    side: Side
    unit: SizeUnit
    requested: float  # the order size, in ``unit``
    mid: float  # arrival mid the costs are measured against
    best: float  # best ask for a buy, best bid for a sell
    fill_px: np.ndarray  # price of each visible level touched, in walk order
    fill_base: np.ndarray  # base units taken at each of those levels (the last one may be partial)
    avg_price: float  # filled_quote / filled_base, including any extrapolated remainder
    filled_base: float  # base units priced (visible + extrapolated)
    filled_quote: float  # quote currency paid (buy) or received (sell), visible + extrapolated
    levels_used: int  # visible levels touched
    fully_filled: bool  # the visible book alone fills the order
    beyond_visible: bool  # the order is larger than the visible side
    extrapolated_base: float  # base units priced by extrapolation (0 when none or extrapolation is off)
    extrapolation_slope: float  # quote per base per base used beyond the last level (0 when unused)
    half_spread_cost: float  # filled_base * |best - mid|: the cost of crossing to the touch
    depth_cost: float  # sum over fills of base * |price - best|: the cost of walking past the touch
    cost: float  # half_spread_cost + depth_cost = |filled_quote - filled_base * mid|, signed as a cost

    @property
    def cost_bps(self) -> float:
        """Cost in basis points of the executed notional (``filled_quote``)."""
        return self.cost / self.filled_quote * 1e4 if self.filled_quote > 0 else 0.0

    @property
    def half_spread_bps(self) -> float:
        return self.half_spread_cost / self.filled_quote * 1e4 if self.filled_quote > 0 else 0.0

    @property
    def depth_bps(self) -> float:
        return self.depth_cost / self.filled_quote * 1e4 if self.filled_quote > 0 else 0.0

    @property
    def filled_usd(self) -> float:
        """Alias: quote currency is USD or a USD stablecoin for every bundled instrument."""
        return self.filled_quote


def extrapolation_slope(px: np.ndarray, cum_base: np.ndarray, mid: float) -> float:
    """Price move per base unit beyond the visible book: |last price - mid| / visible base depth.

    The visible side spreads ``cum_base[-1]`` units over ``|px[-1] - mid|`` of price; the extrapolation
    assumes the hidden book continues at that same average density. Real books usually get denser further
    out, so this errs towards a higher cost. Always positive for an uncrossed book, even with one level.
    """
    return abs(float(px[-1]) - mid) / float(cum_base[-1])


def _extrapolate_buy(p_last: float, slope: float, *, base: float | None, quote: float | None) -> tuple[float, float]:
    """Marginal price p_last + slope*q. Returns (base, quote) of the remainder."""
    if base is None:
        assert quote is not None  # exactly one of base and quote is given
        # q*(p_last + slope*q/2) = quote, the stable root of the quadratic
        base = 2.0 * quote / (p_last + math.sqrt(p_last * p_last + 2.0 * slope * quote))
        return base, quote
    return base, base * (p_last + 0.5 * slope * base)


def _extrapolate_sell(p_last: float, slope: float, *, base: float | None, quote: float | None) -> tuple[float, float]:
    """Marginal price max(p_last - slope*q, 0). Returns (base, quote) of the remainder."""
    q_zero = p_last / slope  # base units after which the extrapolated bid would reach zero
    max_quote = 0.5 * p_last * q_zero
    if base is None:
        assert quote is not None  # exactly one of base and quote is given
        if quote >= max_quote:
            raise OrderError(
                f"This sell asks for {quote:,.0f} more in proceeds than the visible book holds, more than a "
                f"book of this shape could plausibly pay ({max_quote:,.0f}); reduce the size."
            )
        disc = p_last * p_last - 2.0 * slope * quote
        base = 2.0 * quote / (p_last + math.sqrt(disc))
        return base, quote
    if base >= q_zero:
        return base, max_quote
    return base, base * (p_last - 0.5 * slope * base)


def walk_book(
    snapshot: BookSnapshot,
    side: Side | str,
    quantity: float,
    *,
    unit: SizeUnit | str = SizeUnit.QUOTE,
    extrapolate: bool = True,
) -> Walk:
    """Walk the asks (buy) or bids (sell) for ``quantity`` in ``unit``; see the module docstring.

    Raises ``OrderError`` for a size that is not a positive finite number.
    """
    side = Side.parse(side)
    unit = SizeUnit.parse(unit)
    q = float(quantity)
    if not math.isfinite(q) or q <= 0:
        raise OrderError(f"Order size must be a positive finite number, got {quantity!r}.")

    buy = side is Side.BUY
    if buy:
        px, sz, cum_b, cum_q = snapshot.ask_px, snapshot.ask_sz, snapshot.ask_cum_base, snapshot.ask_cum_quote
    else:
        px, sz, cum_b, cum_q = snapshot.bid_px, snapshot.bid_sz, snapshot.bid_cum_base, snapshot.bid_cum_quote
    mid = 0.5 * (float(snapshot.bid_px[0]) + float(snapshot.ask_px[0]))
    best = float(px[0])
    n = px.shape[0]
    by_quote = unit is SizeUnit.QUOTE
    cum = cum_q if by_quote else cum_b

    k = int(np.searchsorted(cum, q * (1.0 - BOUNDARY_RTOL), side="left"))
    extra_base = 0.0
    extra_quote = 0.0
    slope = 0.0
    if k < n:
        prev_b = float(cum_b[k - 1]) if k else 0.0
        prev_q = float(cum_q[k - 1]) if k else 0.0
        p_k = float(px[k])
        s_k = float(sz[k])
        if by_quote:
            part_b = min((q - prev_q) / p_k, s_k)
        else:
            part_b = min(q - prev_b, s_k)
        fill_base = sz[: k + 1].copy()
        fill_base[k] = part_b
        fill_px = px[: k + 1]
        vis_base = prev_b + part_b
        vis_quote = prev_q + part_b * p_k
        levels = k + 1
        fully = True
    else:
        fill_base = sz.copy()
        fill_px = px
        vis_base = float(cum_b[-1])
        vis_quote = float(cum_q[-1])
        levels = n
        fully = False
        if extrapolate:
            slope = extrapolation_slope(px, cum_b, mid)
            p_last = float(px[-1])
            rem = q - (vis_quote if by_quote else vis_base)
            step = _extrapolate_buy if buy else _extrapolate_sell
            if by_quote:
                extra_base, extra_quote = step(p_last, slope, base=None, quote=rem)
            else:
                extra_base, extra_quote = step(p_last, slope, base=rem, quote=None)
    fill_base.setflags(write=False)

    filled_base = vis_base + extra_base
    filled_quote = vis_quote + extra_quote
    # Cost pieces are sums of non-negative terms, so they are >= 0 exactly, with no cancellation.
    dist = (fill_px - best) if buy else (best - fill_px)
    depth = float(np.dot(fill_base, dist))
    if extra_base > 0:
        extra_at_best = extra_base * best
        depth += (extra_quote - extra_at_best) if buy else (extra_at_best - extra_quote)
    half = filled_base * ((best - mid) if buy else (mid - best))
    return Walk(
        side=side,
        unit=unit,
        requested=q,
        mid=mid,
        best=best,
        fill_px=fill_px,
        fill_base=fill_base,
        avg_price=filled_quote / filled_base,
        filled_base=filled_base,
        filled_quote=filled_quote,
        levels_used=levels,
        fully_filled=fully,
        beyond_visible=not fully,
        extrapolated_base=extra_base,
        extrapolation_slope=slope,
        half_spread_cost=half,
        depth_cost=depth,
        cost=half + depth,
    )
