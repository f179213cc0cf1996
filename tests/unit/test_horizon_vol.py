"""core.training.horizon_vol: HORIZON_VOL_RULE on hand-made rows of two days."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.learned.features import HORIZON_VOL_SWAPS, horizon_values, with_swap
from core.training.day_spread import with_imputed_flow
from core.training.horizon_vol import horizon_vol_evidence

DAY_MS = 86_400_000
NAMES = ["offset_bps", "log10_horizon_s", "vol_bps", "move_bps", "offset_over_move"]
INSTRUMENTS = {"rec0": "x:BTC", "rec1": "x:BTC"}


def rows(day: int, ratio: float, *, law: str, n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Resting orders on day ``day`` whose 30 s-scale volatility is ``ratio`` x the short-scale one (with noise).
    ``law='horizon'``: an order fills when the price's reach at the 30 s scale covers its offset; ``law='short'``:
    the short-scale reach decides (a random walk), whatever the 30 s figure says."""
    rng = np.random.default_rng(seed)
    vol = rng.uniform(0.3, 1.2, n)
    vol30 = vol * ratio * np.exp(rng.normal(0.0, 0.15, n))
    off = rng.choice([0.0, 0.5, 1.0, 2.0, 5.0], n)
    hor = rng.choice([1.0, 5.0, 10.0, 30.0, 60.0], n)
    move = vol * np.sqrt(hor)
    v30, m30, oom30, lvr = horizon_values(vol, vol30, off, hor)
    d = pd.DataFrame(
        {
            "recording": f"rec{day}",
            "t_ms": 1_700_000_000_000 + day * DAY_MS + np.arange(n) * 1000.0,
            "log10_size_usd": rng.uniform(1.0, 7.0, n),
            "log10_queue_usd": 3.0,
            "horizon_s": hor,
            "log10_horizon_s": np.log10(hor),
            "btc_per_s": 1.0,
            "mid": 50_000.0,
            "offset_bps": off,
            "vol_bps": vol,
            "move_bps": move,
            "offset_over_move": np.minimum(off / np.maximum(move, 0.1), 100.0),
            "vol30_bps": v30,
            "move30_bps": m30,
            "offset_over_move30": oom30,
            "log_variance_ratio": lvr,
        }
    ).pipe(lambda d: with_imputed_flow(d, 50_000.0))
    reach = d["offset_over_move30"] if law == "horizon" else d["offset_over_move"]
    p = 1.0 / (1.0 + np.exp(3.0 * (reach - 0.6)))
    return d.assign(fill_fraction=(rng.random(n) < p).astype(float))


def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    val = (np.arange(len(df)) // 60) % 4 == 1
    return df[~val].reset_index(drop=True), df[val].reset_index(drop=True)


def test_a_trending_and_a_reverting_day_choose_the_horizon_scale():
    """Fills follow the 30 s-scale reach; one day trends (ratio 2.5), the other reverts (0.5). A fit on one day
    scores the other: the short-scale inputs miss by far more than 1 point in some bucket, the candidates do not."""
    df = pd.concat([rows(0, 2.5, law="horizon"), rows(1, 0.5, law="horizon", seed=1)], ignore_index=True)
    ev = horizon_vol_evidence(*split(df), NAMES, INSTRUMENTS, clip=False)
    assert ev is not None and ev["chosen"] in HORIZON_VOL_SWAPS
    inc, best = ev["arms"]["incumbent"], ev["arms"][ev["chosen"]]
    assert inc["worst_gap"] > 0.05 and best["worst_gap"] < inc["worst_gap"] - 0.01
    assert set(inc["folds"]) == {"2023-11-14", "2023-11-15"}
    assert inc["folds"]["2023-11-14"]["fitted_on"] == ["2023-11-15"]
    assert all(ev["tests"][ev["chosen"]].values())


def test_a_random_walk_law_keeps_the_incumbent():
    """The 30 s figure varies by day but says nothing about fills: no candidate cuts the day gap by a point."""
    df = pd.concat([rows(0, 2.5, law="short"), rows(1, 0.5, law="short", seed=1)], ignore_index=True)
    ev = horizon_vol_evidence(*split(df), NAMES, INSTRUMENTS, clip=False)
    assert ev is not None and ev["chosen"] is None
    assert not all(ev["tests"]["move_at_horizon"].values())


def test_one_date_decides_nothing_and_the_swap_keeps_order():
    one = rows(0, 2.5, law="horizon")
    assert horizon_vol_evidence(*split(one), NAMES, {"rec0": "x:BTC"}, clip=False) is None
    assert with_swap(NAMES, None) == NAMES
    assert with_swap(NAMES, "move_at_horizon") == [
        "offset_bps",
        "log10_horizon_s",
        "vol_bps",
        "move30_bps",
        "offset_over_move30",
    ]
    assert with_swap(NAMES, "variance_ratio") == [*NAMES, "log_variance_ratio"]


def test_variance_ratio_summary_describes_each_recording_against_the_training_range():
    from core.training.horizon_vol import ratio_range, variance_ratio_summary

    train = pd.concat([rows(0, 1.0, law="short"), rows(1, 0.8, law="short", seed=1)], ignore_index=True)
    held = rows(2, 2.5, law="short", seed=2).assign(recording="held")
    lo, hi = ratio_range(train)
    assert lo < 0.8 < 1.0 < hi  # the two training days' ratios (with noise) sit inside their own p1-p99
    out = variance_ratio_summary(train, {"held": held, "empty": held.iloc[:0]})
    assert out["train_p1_p99"] == [lo, hi] and set(out["by_recording"]) == {"rec0", "rec1", "held"}
    h = out["by_recording"]["held"]
    assert h["use"] == "held out" and h["median"] > hi and h["above"] > 0.5 and h["below"] == 0.0
    assert out["by_recording"]["rec0"]["above"] + out["by_recording"]["rec0"]["below"] < 0.05


def test_the_report_section_survives_a_regime_without_buckets_and_compares_shared_buckets():
    from core.training.report import _horizon_vol

    df = pd.concat([rows(0, 2.5, law="horizon"), rows(1, 0.5, law="horizon", seed=1)], ignore_index=True)
    ev = horizon_vol_evidence(*split(df), NAMES, INSTRUMENTS, clip=False)
    g = {"bucket": "$10-$1k", "n": 30, "predicted": 0.3, "realised": 0.2, "realised_ci": [0.1, 0.3]}
    card = {
        "correction": {"horizon_vol": ev},
        "held_out": {
            "a": {"by_regime": {"inside": [g], "above": []}},  # 20+ rows above, none in a 20-row bucket
            "b": {"by_regime": {"inside": [g], "above": [{**g, "realised": 0.25}, {**g, "bucket": "$1M-$10M"}]}},
        },
    }
    text = "\n".join(_horizon_vol(card))
    assert "`a`" not in text.split("Mean |predicted - realised|")[1]
    assert "`b` 10.0 points where it does not fire, 5.0 where it fires" in text  # the shared $10-$1k bucket only
    assert "not out-of-sample evidence for the warning" in text
