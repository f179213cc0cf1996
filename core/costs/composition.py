"""The cost composition: how the immediate cost, market impact and fees add up to the numbers shown.

One function, ``compose``, used by both the explained estimate (``core.costs.estimate``) and the per-tick
pricer (``core.pricing.pricer``), so the arithmetic of the decomposition exists once (``docs/METHODOLOGY.md``
section 2). All amounts in USD, positive = cost to the trader; bps are of the executed notional.

- slippage = the total immediate cost versus the arrival mid: what the fills show (book walk or a learned
  model's total, which predicts that same quantity). Its p90 likewise. This is what a trader calls slippage.
- impact: the part of that slippage the order itself causes and that persists, Almgren–Chriss' permanent
  part ``0.5 gamma X^2`` (gamma = permanent share / rho, the share calibrated from markouts after real
  taker orders, ``core.costs.impact``), capped at the cost of walking past the touch: the half-spread is paid
  whatever the size, so it is never impact. Impact is INSIDE slippage; it is shown, never added again.
- fee = notional x (maker share x maker rate + taker share x taker rate).
- limit orders only: the expected adverse selection (the markout when filled) and opportunity cost (the move
  when not filled). They are ``adverse_selection_usd`` and ``opportunity_usd`` here, priced per
  horizon from the training days' tape by ``core.costs.limit`` (passed in by ``core.costs.estimate``).
- net = slippage + fee + adverse selection + opportunity cost, exactly (a market order: slippage + fee).
- a learned model's prediction (bps of the executed notional) becomes the slippage in USD, or none when it is
  not finite (``predicted_cost``), so a broken prediction never reaches the user.
- ac_immediate = epsilon X + X^2 / (2 rho), Almgren–Chriss' immediate cost on the fitted depth line.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from core.costs.fees import FeeTier, expected_fee
from core.costs.impact import immediate_cost, permanent_cost, permanent_gamma


def bps(usd: float, notional: float) -> float:
    """``usd`` in basis points of ``notional`` (0 when nothing was executed)."""
    return usd / notional * 1e4 if notional > 0 else 0.0


def predicted_cost(expected_bps: float, p90_bps: float | None, notional: float) -> tuple[float, float | None] | None:
    """A model's (total, p90 total) immediate cost in USD from its bps, or None when ``expected_bps`` is not
    finite (the caller keeps the book walk); a non-finite p90 is dropped alone."""
    if not math.isfinite(expected_bps):
        return None
    p90 = p90_bps * notional / 1e4 if p90_bps is not None and math.isfinite(p90_bps) else None
    return expected_bps * notional / 1e4, p90


class Composition(NamedTuple):
    """The decomposed cost of one order on one book. A tuple: cheap enough to build on every tick."""

    slippage_usd: float  # whole immediate cost vs the arrival mid (what the fills show), impact included
    slippage_bps: float
    slippage_p90_usd: float | None  # 90th percentile of it (models only)
    fee_usd: float
    fee_bps: float
    impact_usd: float  # the permanent part of slippage the order causes (included in slippage, not added)
    impact_bps: float
    adverse_selection_usd: float  # limit orders: expected markout when filled (core.costs.limit; 0 for a market order)
    opportunity_usd: float  # limit orders: expected move away when not filled (core.costs.limit; 0 for a market order)
    net_cost_usd: float  # slippage + fee + adverse selection + opportunity
    net_cost_bps: float
    ac_immediate_usd: float
    permanent_usd: float  # Almgren–Chriss' 0.5 gamma X^2 before the cap
    beyond_touch_usd: float  # the cap: walked cost minus its half-spread part
    maker_share: float  # share of the executed notional filled as maker (what the fee used)

    @property
    def temporary_usd(self) -> float:
        """The part of slippage that reverts (what working the order over time can save)."""
        return self.slippage_usd - self.impact_usd


def compose(
    *,
    total: float,
    p90_total: float | None,
    walked: float,
    half_spread: float,
    base: float,
    epsilon: float,
    rho: float,
    permanent_share: float,
    notional: float,
    maker_usd: float,
    fee_tier: FeeTier,
    adverse_selection_usd: float = 0.0,
    opportunity_usd: float = 0.0,
) -> Composition:
    """Decompose one order's cost; see the module docstring.

    ``total`` (and ``p90_total``) is the total immediate cost (book walk or model), ``walked`` the cost of the
    part that walks the book and ``half_spread`` its half-spread part, ``base`` the base units that walk the
    book (0 for a resting limit order), ``epsilon`` and ``rho`` the calibrated half-spread and depth density,
    ``notional`` the executed USD and ``maker_usd`` the part of it filled as maker; ``adverse_selection_usd``
    and ``opportunity_usd`` the expected limit-order terms (0 for a market order).
    """
    impact_ac = permanent_cost(permanent_gamma(permanent_share, rho), base)
    beyond_touch = max(walked - (half_spread if base > 0 else 0.0), 0.0)
    impact = min(impact_ac, beyond_touch)
    share = maker_usd / notional if notional > 0 else 1.0
    fee = expected_fee(notional, share, fee_tier.maker_rate, fee_tier.taker_rate) if notional > 0 else 0.0
    net = total + fee + adverse_selection_usd + opportunity_usd
    return Composition(
        total,
        bps(total, notional),
        p90_total,
        fee,
        bps(fee, notional),
        impact,
        bps(impact, notional),
        adverse_selection_usd,
        opportunity_usd,
        net,
        bps(net, notional),
        immediate_cost(epsilon, rho, base),
        impact_ac,
        beyond_touch,
        share,
    )
