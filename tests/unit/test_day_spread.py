"""core.training.day_spread: leave one training date out, per size bucket, on hand-made rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.training.day_spread import MIN_SPREAD, day_spread, with_imputed_flow
from core.training.recalibration import GAP_BUCKETS

DAY_MS = 86_400_000


def rows(day: int, fill: float, n: int = 600, seed: int = 0) -> pd.DataFrame:
    """One recording of one instrument on day ``day`` whose orders fill ``fill`` of the time, whatever their size."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(1.0, 7.0, n)
    return pd.DataFrame(
        {
            "recording": f"rec{day}",
            "t_ms": 1_700_000_000_000 + day * DAY_MS + np.arange(n) * 1000.0,
            "fill_fraction": (rng.random(n) < fill).astype(float),
            "log10_size_usd": size,
            "log10_queue_usd": 3.0,
            "horizon_s": 10.0,
            "btc_per_s": 2.0,
            "mid": 50_000.0,
        }
    ).pipe(lambda d: with_imputed_flow(d, 1e5))


def test_each_date_is_scored_by_a_model_of_the_others_and_the_range_is_the_worst_shift():
    df = pd.concat([rows(0, 0.2), rows(1, 0.6, seed=1)], ignore_index=True)
    names = ["log10_size_usd", "log10_flow_over_order"]
    out = day_spread(df, names, {"rec0": "x:BTC", "rec1": "x:BTC"}, clip=False)
    assert out is not None and len(out["folds"]) == 2
    for f in out["folds"].values():
        assert len(f["fitted_on"]) == 1 and f["instruments"] == ["x:BTC"]
        for g in f["by_size"]:  # a model of the other day: its fill rate, not this day's
            assert abs(g["predicted"] - g["realised"]) > 0.2
    shifts = {}
    for f in out["folds"].values():
        for g in f["by_size"]:
            shifts[g["bucket"]] = max(shifts.get(g["bucket"], MIN_SPREAD), abs(g["predicted"] - g["realised"]))
    assert out["by_bucket"] == pytest.approx(shifts)
    assert list(out["by_bucket"]) == [b for b in GAP_BUCKETS if b in out["by_bucket"]]  # in size order
    assert "not_served" in out


def test_one_date_or_no_shared_instrument_gives_no_range():
    names = ["log10_size_usd", "log10_flow_over_order"]
    one = pd.concat([rows(0, 0.3), rows(0, 0.3, seed=2).assign(recording="rec0b")], ignore_index=True)
    assert day_spread(one, names, {"rec0": "x:BTC", "rec0b": "x:BTC"}, clip=False) is None
    two = pd.concat([rows(0, 0.3), rows(1, 0.3, seed=1)], ignore_index=True)
    assert day_spread(two, names, {"rec0": "x:BTC", "rec1": "x:ETH"}, clip=False) is None
