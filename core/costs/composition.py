"""The cost composition: how the immediate cost, permanent impact and fees add up to the numbers shown.

One function, ``compose``, used by both the explained estimate (``core.costs.estimate``) and the per-tick
pricer (``core.pricing.pricer``), so the arithmetic of the decomposition exists once (``docs/METHODOLOGY.md``
section 2). All amounts in USD, positive = cost to the trader; bps are of the executed notional.

- impact: Almgren–Chriss' permanent part ``0.5 gamma X^2`` (gamma = permanent share / rho), capped at the
  cost of walking past the touch: Almgren–Chriss carves the permanent term out of that part (eta), never out
  of the half-spread (epsilon is temporary by definition), so the temporary part is never negative.
- slippage = total immediate cost - impact (and its p90 likewise).
- fee = notional x (maker share x maker rate + taker share x taker rate).
- net = slippage + fee + impact, exactly.
- a learned model's prediction (bps of the executed notional) becomes the total immediate cost in USD, or
  none when it is not finite (``predicted_cost``), so a broken prediction never reaches the user.
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

    slippage_usd: float  # temporary part of the expected immediate cost
    slippage_bps: float
    slippage_p90_usd: float | None  # 90th percentile of the temporary part (models only)
    fee_usd: float
    fee_bps: float
    impact_usd: float  # permanent part, at most the cost beyond the touch
    impact_bps: float
    net_cost_usd: float
    net_cost_bps: float
    ac_immediate_usd: float
    permanent_usd: float  # Almgren–Chriss' 0.5 gamma X^2 before the cap
    beyond_touch_usd: float  # the cap: walked cost minus its half-spread part
    maker_share: float  # share of the executed notional filled as maker (what the fee used)


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
) -> Composition:
    """Decompose one order's cost; see the module docstring.

    ``total`` (and ``p90_total``) is the total immediate cost (book walk or model), ``walked`` the cost of the
    part that walks the book and ``half_spread`` its half-spread part, ``base`` the base units that walk the
    book (0 for a resting limit order), ``epsilon`` and ``rho`` the calibrated half-spread and depth density,
    ``notional`` the executed USD and ``maker_usd`` the part of it filled as maker.
    """
    impact_ac = permanent_cost(permanent_gamma(permanent_share, rho), base)
    beyond_touch = max(walked - (half_spread if base > 0 else 0.0), 0.0)
    impact = min(impact_ac, beyond_touch)
    slippage = total - impact
    share = maker_usd / notional if notional > 0 else 1.0
    fee = expected_fee(notional, share, fee_tier.maker_rate, fee_tier.taker_rate) if notional > 0 else 0.0
    net = slippage + fee + impact
    return Composition(
        slippage,
        bps(slippage, notional),
        None if p90_total is None else p90_total - impact,
        fee,
        bps(fee, notional),
        impact,
        bps(impact, notional),
        net,
        bps(net, notional),
        immediate_cost(epsilon, rho, base),
        impact_ac,
        beyond_touch,
        share,
    )
