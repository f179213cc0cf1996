"""What "the per-tick figures equal the explained estimate's" means, shared by the parity tests."""

from __future__ import annotations

import pytest

from core.pricing.pricer import CostFigures

#: every number of a ``CostFigures`` (its timer and path flag are not numbers of the estimate)
NUMBERS = [f for f in CostFigures._fields if f not in ("latency_us", "compiled")]


def assert_figures_equal(f: CostFigures, e: CostFigures) -> None:
    """Every number equal to 1e-12 relative (1e-12 absolute near zero); None exactly where the other is None."""
    for name in NUMBERS:
        a, b = getattr(f, name), getattr(e, name)
        if a is None or b is None:
            assert a is b, name
        else:
            assert a == pytest.approx(b, rel=1e-12, abs=1e-12), name
    if f.maker_fraction == 0.0:  # a market order: net = slippage + fee, impact shown inside slippage
        assert f.net_cost_usd == pytest.approx(f.slippage_usd + f.fee_usd, rel=1e-12, abs=1e-12)
        assert 0 <= f.impact_usd <= f.slippage_usd + 1e-12
