"""The maker model's trade flow, imputed per instrument in USD and converted to base units at the mid
(core.learned.imputation): ETH gets its own flow, not BTCUSDT's in base units; the inverse COIN-M contract's
USD flow is its contracts x $100; an instrument without a recorded tape falls back to its market kind and the
method note says so; training's recalibration rows are the rows serving builds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core.costs.estimate import estimate
from core.costs.fees import get_tier
from core.costs.order import Order
from core.feed.replay import default_recording
from core.learned.features import MAKER_INPUTS, MAKER_NAMES, FlowFeatures, book_features, maker_vector
from core.learned.imputation import FlowImputation, instrument_key
from core.learned.models import load_models
from core.market.book import BookSnapshot
from core.paths import DATA_DIR
from core.training.dataset import find_trades, load_market, maker_rows
from core.training.train import flow_imputation, imputed_maker
from tests.unit.test_models import maker_row_as_served


def book(exchange: str, symbol: str, mid: float) -> BookSnapshot:
    """A two-level book around ``mid`` (one tick = 1e-4 of the mid), 1 base unit a level."""
    h = mid * 1e-4
    return BookSnapshot.build(
        exchange=exchange,
        symbol=symbol,
        source="test",
        bid_px=np.array([mid - h, mid - 2 * h]),
        bid_sz=np.array([1.0, 1.0]),
        ask_px=np.array([mid + h, mid + 2 * h]),
        ask_sz=np.array([1.0, 1.0]),
        exchange_ts_ms=0,
        recv_ns=0,
        seq=0,
    )


HAND = FlowImputation(
    by_instrument={
        instrument_key("binance-futures", "BTCUSDT"): {"trades_per_s": 40.0, "usd_per_s": 2e5},
        instrument_key("binance-futures", "ETHUSDT"): {"trades_per_s": 30.0, "usd_per_s": 5e4},
        instrument_key("binance-coinm", "BTCUSD_PERP"): {"trades_per_s": 8.0, "usd_per_s": 1.5e4},
    },
    by_kind={"derivative": {"trades_per_s": 40.0, "usd_per_s": 2e5}, "spot": {"trades_per_s": 20.0, "usd_per_s": 3e4}},
    date="2024-08-08",
)


def test_usd_flow_becomes_base_units_at_the_mid_per_instrument():
    btc = HAND.flow("binance-futures", "BTCUSDT", spot=False, mid=50_000.0)
    eth = HAND.flow("binance-futures", "ETHUSDT", spot=False, mid=2_500.0)
    inverse = HAND.flow("binance-coinm", "BTCUSD_PERP", spot=False, mid=50_000.0)
    assert btc.base_per_s == pytest.approx(4.0)  # BTC per second
    assert eth.base_per_s == pytest.approx(20.0)  # ETH per second: its own flow, 20x cheaper per unit
    # the inverse contract: $15k/s = 150 contracts of $100 per second = 0.3 BTC per second at $50k
    assert inverse.base_per_s == pytest.approx(150 * 100 / 50_000.0)
    assert (btc.trades_per_s, eth.trades_per_s, inverse.trades_per_s) == (40.0, 30.0, 8.0)
    assert "ETHUSDT on binance-futures on the 2024-08-08 tape" in eth.source
    # the price level does not change the USD flow the model sees: same log10_flow_over_order at any mid
    rows = []
    for mid in (50_000.0, 2_500.0):
        f = HAND.flow("binance-futures", "ETHUSDT", spot=False, mid=mid)
        rows.append(
            maker_vector(
                book_features(book("binance-futures", "ETHUSDT", mid)),
                FlowFeatures(vol_bps=1.0, trades_per_s=f.trades_per_s, btc_per_s=f.base_per_s),
                side=1,
                size_usd=1e6,
                offset_bps=0.0,
                horizon_s=10.0,
                queue_usd=0.0,
                is_spot=False,
            )[MAKER_NAMES.index("log10_flow_over_order")]
        )
    assert rows[0] == pytest.approx(rows[1]) == pytest.approx(math.log10((1 + 5e4 * 10) / 1e6))


def test_an_instrument_without_a_tape_falls_back_to_its_kind_and_says_so():
    f = HAND.flow("okx", "ETH-USDT-SWAP", spot=False, mid=2_500.0)
    assert f.base_per_s == pytest.approx(2e5 / 2_500.0) and f.trades_per_s == 40.0
    assert "no trades of ETH-USDT-SWAP on okx in the training recordings" in f.source and "derivative" in f.source
    s = HAND.flow("okx", "BTC-USDT", spot=True, mid=50_000.0)
    assert s.base_per_s == pytest.approx(3e4 / 50_000.0) and "spot" in s.source


def test_shipped_card_measures_every_same_day_instrument_and_the_app_says_which_flow_it_used():
    lm = load_models()
    mk = lm.models.maker_taker
    assert mk is not None and mk.flows is not None
    fi = lm.cards["maker_taker"]["serving"]["flow_imputation"]
    assert fi["date"] == "2023-04-04 and 2024-08-08"  # the training days' dates, both tapes pooled per instrument
    btc = fi["by_instrument"]["binance-futures:BTCUSDT"]["recording"]
    assert "20230404" in btc and "20240808" in btc
    keys = {
        "binance-futures:BTCUSDT",
        "binance:BTCUSDT",
        "binance-futures:ETHUSDT",
        "binance:ETHUSDT",
        "binance-coinm:BTCUSD_PERP",
    }
    assert set(fi["by_instrument"]) == keys
    assert all("20240718" not in v["recording"] for v in fi["by_instrument"].values())  # never the held-out day
    for key, mid in (("binance-futures:ETHUSDT", 2_600.0), ("binance-coinm:BTCUSD_PERP", 60_000.0)):
        ex, sym = key.split(":")
        got = mk.imputed_flow(book(ex, sym, mid))
        assert got.base_per_s * mid == pytest.approx(fi["by_instrument"][key]["usd_per_s"])
    # the inverse contract's USD flow is a count of $100 contracts: its tape's base x price is a multiple of $100
    tape = pd.read_parquet(DATA_DIR / "trades" / "binance-coinm_BTCUSD_PERP_20240808.parquet")
    contracts = tape["qty"] * tape["price"] / 100.0
    np.testing.assert_allclose(contracts, np.round(contracts), atol=1e-6)
    # ETH's base flow differs from BTC's at their prices (the old imputation gave both BTCUSDT's base units)
    eth = mk.imputed_flow(book("binance-futures", "ETHUSDT", 2_600.0)).base_per_s
    btc = mk.imputed_flow(book("binance-futures", "BTCUSDT", 60_000.0)).base_per_s
    assert eth > 5 * btc
    # the method note the app shows names the source, and says when it is the fallback
    order = Order(side="buy", quantity=50_000.0, order_type="limit", offset_bps=0, horizon_s=10)
    known = estimate(
        book("binance-futures", "ETHUSDT", 2_600.0),
        order,
        fee_tier=get_tier("binance-futures", "swap"),
        models=lm.models,
    )
    # each instrument names the dates of its own tapes: ETHUSDT was recorded on 2024-08-08 only
    assert "median of ETHUSDT on binance-futures on the 2024-08-08 tape;" in known.methods["maker_fraction"]
    btc = estimate(
        book("binance-futures", "BTCUSDT", 60_000.0),
        order,
        fee_tier=get_tier("binance-futures", "swap"),
        models=lm.models,
    )
    assert (
        "median of BTCUSDT on binance-futures on the 2023-04-04 and 2024-08-08 tapes" in btc.methods["maker_fraction"]
    )
    other = estimate(book("okx", "ETH-USDT-SWAP", 2_600.0), order, fee_tier=get_tier("okx", "swap"), models=lm.models)
    assert "no trades of ETH-USDT-SWAP on okx in the training recordings" in other.methods["maker_fraction"]


def test_recalibration_rows_are_the_rows_serving_builds():
    """Training's recalibration and served held-out scores impute the flow as the app does (same function of
    the card), so the fitted correction sees the inputs it will be served."""
    lm = load_models()
    mk = lm.models.maker_taker
    assert mk is not None and mk.flows is not None
    rec = default_recording().path
    m = load_market(rec, find_trades(rec), max_lines=2_000)
    rows = maker_rows(m, n_times=6, per_time=4, seed=3)
    served = imputed_maker(rows, mk.flows, {m.name: (m.exchange, m.symbol, m.is_spot)})
    for i in range(0, len(rows), 5):
        got = maker_row_as_served(mk, m, rows.iloc[i], recorded_flow=False)
        np.testing.assert_allclose(got, served.iloc[i][list(MAKER_INPUTS)].to_numpy(np.float64), rtol=1e-9, atol=1e-9)


def test_the_shipped_maker_model_gives_a_thin_instrument_a_lower_share_for_the_same_order():
    """The same book and order, the flow of a busy instrument (2024-08-08 BTCUSDT perpetual) vs a thin one
    (COIN-M): the shipped model, recalibration included, gives the thin one the lower share at every size from
    $100k, and its compiled twin the same number."""
    lm = load_models()
    mk = lm.models.maker_taker
    assert mk is not None and mk.flows is not None
    snap = book("binance-futures", "BTCUSDT", 60_000.0)
    busy = mk.flows.rates("binance-futures", "BTCUSDT", spot=False, mid=60_000.0)
    thin = mk.flows.rates("binance-coinm", "BTCUSD_PERP", spot=False, mid=60_000.0)
    assert thin[1] < busy[1]
    dense = mk.net.compiled()
    for size in (1e5, 1e6, 5e6):
        share = {}
        for name, (tps, base) in (("busy", busy), ("thin", thin)):
            row = mk.features_for(
                snap,
                side="buy",
                size_usd=size,
                offset_bps=0.0,
                horizon_s=30.0,
                vol_bps=1.0,
                trades=FlowFeatures(vol_bps=1.0, trades_per_s=tps, btc_per_s=base),
            )
            share[name] = float(mk.net.forward(row)[0])
            if dense is not None:
                assert dense(row.tolist())[0] == pytest.approx(share[name], abs=1e-12)
        assert share["thin"] < share["busy"], size


def test_an_instruments_recordings_of_several_dates_are_pooled_and_named():
    """Two tapes of one instrument (two training dates) give one row: the median over both recordings' decision
    times, with both dates; another instrument keeps its own date."""
    day = 86_400_000

    def rec(name: str, t0: int, usd: list[float], spot: float = 0.0) -> pd.DataFrame:
        n = len(usd)
        return pd.DataFrame(
            {
                "recording": name,
                "t_ms": t0 + np.arange(n) * 1000.0,
                "trades_per_s": np.arange(n, dtype=float),
                "btc_per_s": np.asarray(usd) / 50_000.0,
                "mid": 50_000.0,
                "is_spot": spot,
            }
        )

    a = rec("a.jsonl.gz", 1_680_652_800_000, [1e4, 2e4, 3e4])  # 2023-04-05
    b = rec("b.jsonl.gz", 1_680_652_800_000 + 500 * day, [4e4, 5e4])  # 2024-08-17
    c = rec("c.jsonl.gz", 1_680_652_800_000 + 500 * day, [7e3], spot=1.0)
    inst = {"a.jsonl.gz": ("x", "BTC", False), "b.jsonl.gz": ("x", "BTC", False), "c.jsonl.gz": ("y", "BTC", True)}
    card = flow_imputation(pd.concat([a, b, c]), pd.concat([a, b, c]), inst, "2023-04-05 and 2024-08-17")
    row = card["by_instrument"]["x:BTC"]
    assert row["usd_per_s"] == pytest.approx(3e4) and row["times"] == 5  # the median of all five times
    assert row["dates"] == ["2023-04-05", "2024-08-17"] and row["recording"] == "a.jsonl.gz, b.jsonl.gz"
    assert card["by_instrument"]["y:BTC"]["dates"] == ["2024-08-17"]
    fi = FlowImputation.from_card({"serving": {"flow_imputation": card}})
    assert fi.lookup("x", "BTC", spot=False)[1].endswith("on the 2023-04-05 and 2024-08-17 tapes")
    assert fi.lookup("y", "BTC", spot=True)[1].endswith("on the 2024-08-17 tape")
    assert fi.lookup("z", "ETH", spot=True)[1].endswith("spot market on the 2024-08-17 tape (an assumption)")
