"""The held-out day said plainly (core.training.held_out): the inputs' shift and the maker caveat, hand-made."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.training.held_out import covariate_shift, label_by_recording, maker_caveat

pytestmark = pytest.mark.unit


def test_covariate_shift_finds_the_input_that_left_the_training_range():
    rng = np.random.default_rng(1)
    train = pd.DataFrame({"vol_bps": rng.uniform(0.8, 1.2, 1000), "size": rng.uniform(1, 7, 1000)})
    quiet = pd.DataFrame({"vol_bps": rng.uniform(0.1, 0.6, 500), "size": rng.uniform(1, 7, 500)})
    got = covariate_shift(train, {"quiet": quiet}, ["vol_bps", "size"])["quiet"]
    assert got["vol_bps"]["outside"] == 1.0 and got["size"]["outside"] < 0.05
    assert got["vol_bps"]["median"] < got["vol_bps"]["train_p1_p99"][0]


def test_label_by_recording_buckets_fills_by_size():
    rows = pd.DataFrame(
        {
            "recording": ["a"] * 4 + ["b"] * 2,
            "size_usd": [50.0, 5e4, 5e4, 5e6, 50.0, 5e6],
            "fill_fraction": [1.0, 0.5, 0.0, 0.1, 0.0, 0.0],
        }
    )
    got = label_by_recording(rows, (10.0, 1e3, 1e4, 1e5, 1e6, 1e7), ["s", "m1", "m2", "l1", "l2"])
    assert got["a"]["m2"] == {"n": 2, "fill": 0.25, "any": 0.5}
    assert got["a"]["l2"]["fill"] == 0.1 and got["b"]["l2"]["any"] == 0.0 and "m2" not in got["b"]


def test_maker_caveat_names_only_the_buckets_outside_the_interval_with_points():
    by_size = [
        {"bucket": "$10k-$100k", "predicted": 0.30, "realised": 0.3199, "realised_ci": [0.28, 0.36]},
        {"bucket": "$100k-$1M", "predicted": 0.198, "realised": 0.255, "realised_ci": [0.208, 0.298]},
        {"bucket": "$1M-$10M", "predicted": 0.30, "realised": 0.15, "realised_ci": [0.11, 0.18]},
    ]
    shift = {"vol_bps": {"outside": 1.0, "median": 0.35, "train_median": 1.0}, "size": {"outside": 0.0}}
    text = maker_caveat("day X", by_size, shift)
    assert (
        "under-predicted by 5.7 points at $100k-$1M (predicted 0.198, realised 0.255 [0.208, 0.298], outside its 95% "
        "interval)" in text
    )
    assert "over-predicted by 15.0 points at $1M-$10M" in text and "$10k-$100k" not in text  # 2 points, inside
    near = {"bucket": "$1k-$10k", "predicted": 0.273, "realised": 0.301, "realised_ci": [0.258, 0.345]}
    assert "under-predicted by 2.8 points at $1k-$10k (predicted 0.273, realised 0.301 [0.258, 0.345])" in (
        maker_caveat("day X", [near])
    )
    assert "100% of orders had vol_bps outside the training range" in text
    ok = maker_caveat("day X", by_size[:1], {"size": {"outside": 0.01, "median": 1, "train_median": 1}})
    assert "within 2 points and the realised 95% interval in every size bucket" in ok and "outside" not in ok


def test_maker_caveat_names_a_day_whose_variance_ratio_left_the_training_range():
    by_size = [{"bucket": "$100k-$1M", "predicted": 0.17, "realised": 0.25, "realised_ci": [0.2, 0.29]}]
    trending = {"median": 2.81, "above": 0.62, "below": 0.0, "n": 100, "use": "held out"}
    text = maker_caveat("day X", by_size, ratio=(trending, (0.4, 1.9)))
    assert (
        "its variance ratio (30 s over 1-5 s variance; above 1 moves continue, below 1 they revert) had 62% of orders "
        "above the training days' 0.40-1.90 (median 2.81)" in text
    )
    low_median = {"median": 0.81, "above": 0.33, "below": 0.0, "n": 100, "use": "held out"}  # a tail above only
    assert "had 33% of orders above the training days' 0.40-1.90 (median 0.81)" in maker_caveat(
        "day X", by_size, ratio=(low_median, (0.4, 1.9))
    )
    inside = {"median": 1.0, "above": 0.02, "below": 0.01, "n": 100, "use": "held out"}
    assert "variance ratio" not in maker_caveat("day X", by_size, ratio=(inside, (0.4, 1.9)))
    assert "variance ratio" not in maker_caveat("day X", by_size, ratio=(None, (0.4, 1.9)))


def test_the_maker_note_takes_the_caveat_of_the_orders_own_instrument():
    """The card joins one sentence per held-out recording (train.py); the app keeps the order's instrument's."""
    from core.learned.models import caveat_for

    row = {"bucket": "$10k-$100k", "predicted": 0.2, "realised": 0.3, "realised_ci": [0.25, 0.35]}
    names = ("binance-futures_BTCUSDT_20240718.jsonl.gz", "binance-futures_ETHUSDT_20240718.jsonl.gz")
    card = " ".join(maker_caveat(f"{n}, never used to fit or choose", [row]) for n in names)
    btc = caveat_for(card, "binance-futures", "BTCUSDT")
    assert btc.startswith("on the held-out day (binance-futures_BTCUSDT_20240718") and "ETHUSDT" not in btc
    assert "under-predicted by 10.0 points at $10k-$100k" in btc
    eth = caveat_for(card, "binance-futures", "ETHUSDT")
    assert "ETHUSDT_20240718" in eth and "BTCUSDT" not in eth
    other = caveat_for(card, "okx", "BTC-USDT-SWAP")  # no held-out day of its own: the headline one, said so
    assert other.startswith("no held-out day for this instrument; for another one") and "BTCUSDT_20240718" in other
    assert caveat_for("", "okx", "BTC-USDT-SWAP") == ""


def test_the_maker_note_keeps_the_misses_and_leaves_why_to_the_model_card():
    from core.learned.models import caveat_for

    row = {"bucket": "$10k-$100k", "predicted": 0.2, "realised": 0.3, "realised_ci": [0.25, 0.35]}
    shift = {"vol_bps": {"outside": 0.9, "median": 0.3, "train_median": 0.8}}
    card = maker_caveat("binance-futures_BTCUSDT_20240718.jsonl.gz, never used to fit or choose", [row], shift)
    assert "that day 90% of orders had vol_bps outside" in card
    note = caveat_for(card, "binance-futures", "BTCUSDT")
    assert "under-predicted by 10.0 points" in note and "vol_bps" not in note
    assert note.endswith("(the Models page says why).")
