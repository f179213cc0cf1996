"""core.training.day_spread: leave one training date out, per size bucket, on hand-made rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.training.day_spread import MIN_SPREAD, day_spread, with_imputed_flow
from core.training.recalibration import GAP_BUCKETS

DAY_MS = 86_400_000
NAMES = ["log10_size_usd", "log10_flow_over_order"]


def rows(day: int, usd_per_s: float, n: int = 800, seed: int = 0, law: float | None = None) -> pd.DataFrame:
    """One recording on day ``day`` with a trade flow of ``usd_per_s``. Orders fill with the probability ``law``
    when given, else by one law of the flow over the order (more flow while resting, more fills), the same on
    every day."""
    rng = np.random.default_rng(seed)
    d = pd.DataFrame(
        {
            "recording": f"rec{day}",
            "t_ms": 1_700_000_000_000 + day * DAY_MS + np.arange(n) * 1000.0,
            "log10_size_usd": rng.uniform(1.0, 7.0, n),
            "log10_queue_usd": 3.0,
            "horizon_s": 10.0,
            "btc_per_s": usd_per_s / 50_000.0,
            "mid": 50_000.0,
        }
    ).pipe(lambda d: with_imputed_flow(d, usd_per_s))
    p = np.full(n, law) if law is not None else 1.0 / (1.0 + np.exp(-1.5 * (d["log10_flow_over_order"] - 2.0)))
    return d.assign(fill_fraction=(rng.random(n) < p).astype(float))


def test_each_date_is_scored_with_the_other_dates_flow_as_serving_imputes_it():
    """Both days follow one law of the flow, but the quiet day is scored with the busy day's flow (what a live
    feed without trades gets): predicted far above realised. Scored with its own flow it would agree."""
    df = pd.concat([rows(0, 1e2), rows(1, 1e5, seed=1)], ignore_index=True)
    out = day_spread(df, NAMES, {"rec0": "x:BTC", "rec1": "x:BTC"}, clip=False)
    assert out is not None and set(out["folds"]) == {"2023-11-14", "2023-11-15"}
    quiet, busy = out["folds"]["2023-11-14"], out["folds"]["2023-11-15"]
    assert quiet["fitted_on"] == ["2023-11-15"] and quiet["instruments"] == ["x:BTC"]
    # orders up to $100k: the flow decides their fill (larger ones fill little on either day)
    for g in quiet["by_size"][:3]:
        assert g["predicted"] - g["realised"] > 0.1, g  # the busy day's flow fills more
    for g in busy["by_size"][:3]:
        assert g["realised"] - g["predicted"] > 0.1, g
    worst = {
        b: max(
            abs(g["predicted"] - g["realised"]) for f in out["folds"].values() for g in f["by_size"] if g["bucket"] == b
        )
        for b in out["by_bucket"]
    }
    assert out["by_bucket"] == pytest.approx(worst)
    assert list(out["by_bucket"]) == [b for b in GAP_BUCKETS if b in out["by_bucket"]]  # in size order


def test_days_that_agree_get_the_floor():
    df = pd.concat([rows(0, 1e5, law=0.3), rows(1, 1e5, seed=1, law=0.3)], ignore_index=True)
    out = day_spread(df, NAMES, {"rec0": "x:BTC", "rec1": "x:BTC"}, clip=True)
    assert out is not None and min(out["by_bucket"].values()) >= MIN_SPREAD
    assert max(out["by_bucket"].values()) < 0.12  # sampling noise of a few hundred orders, no day shift


def test_one_date_or_no_shared_instrument_gives_no_range():
    one = pd.concat([rows(0, 1e5), rows(0, 1e5, seed=2).assign(recording="rec0b")], ignore_index=True)
    assert day_spread(one, NAMES, {"rec0": "x:BTC", "rec0b": "x:BTC"}, clip=False) is None
    two = pd.concat([rows(0, 1e5), rows(1, 1e5, seed=1)], ignore_index=True)
    assert day_spread(two, NAMES, {"rec0": "x:BTC", "rec1": "x:ETH"}, clip=False) is None
