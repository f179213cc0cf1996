"""The Simulator's view logic (core/views: simulator, inputs, fee_choice, formatting) on a hand-checked book.

The book is the worked example of docs/METHODOLOGY.md section 8 (OKX BTC-USDT-SWAP, sizes in BTC):
asks 0.03 @ 100 001, 0.04 @ 100 002, 0.20 @ 100 010; bids 0.05 @ 99 999, 0.05 @ 99 998, 0.20 @ 99 990.
Mid 100 000, OKX swap Lv1 fees 0.02 % maker / 0.05 % taker.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.costs.impact import load_impact
from core.costs.models import Models, SlippagePrediction
from core.costs.order import AtExpiry
from core.costs.volatility import VolSource
from core.errors import SimulatorError
from core.feed.config import Source
from core.feed.replay import RecordingInfo
from core.market.book import BookSnapshot
from core.market.instruments import instruments
from core.views import fee_choice
from core.views import formatting as fmt
from core.views import inputs as vi
from core.views import simulator as sc
from tests.worked import worked_book

EX, MKT = "okx", "swap"


@pytest.fixture
def book() -> BookSnapshot:
    return worked_book(exchange_ts_ms=1_746_355_153_000, recv_ns=1_746_355_153_000_000_000)


def parse(**changes) -> vi.Scenario:
    return vi.parse_inputs(replace(vi.RawInputs(), **changes), exchange=EX, market=MKT, limit_available=False)


# ---- step 1: inputs -------------------------------------------------------------------------------


def test_defaults_give_a_10k_usd_market_buy_at_the_entry_tier():
    s = parse()
    assert s.ok and not s.errors
    assert s.order.side.value == "buy" and s.order.quantity == 10_000.0 and s.order.order_type.value == "market"
    assert s.fee_tier.tier == "Lv1" and s.fee_tier.maker_rate == 0.0002 and s.fee_tier.taker_rate == 0.0005
    assert s.volatility_override is None and s.latency_ms == vi.DEFAULT_LATENCY_MS


BAD_INPUTS = [
    (vi.QUANTITY, {"quantity_usd": 0.0}, "The order size is $0; enter an amount above zero."),
    (
        vi.QUANTITY,
        {"quantity_usd": -5.0},
        "The order size is negative (-$5.00); enter a positive amount and pick buy or sell with Side.",
    ),
    (
        vi.QUANTITY,
        {"quantity_usd": math.nan},
        "The order size is not a number; enter an amount in USD, for example 100.",
    ),
    (vi.QUANTITY, {"quantity_usd": None}, "Enter an order size in USD, for example 100."),
    (vi.QUANTITY, {"quantity_usd": math.inf}, "The order size is infinite; enter a finite amount in USD."),
    (vi.QUANTITY, {"quantity_usd": "ten"}, "The order size is not a number; enter an amount in USD, for example 100."),
    (
        vi.QUANTITY,
        {"quantity_usd": 2e9},
        "$2,000,000,000.00 is more than the $1,000,000,000.00 this simulator prices; check the number of zeros.",
    ),
    (vi.SIDE, {"side": "hold"}, "Choose a side: buy or sell."),
    (
        vi.ORDER_TYPE,
        {"order_type": "limit"},
        "Limit orders need the maker/taker model, which is not loaded; choose a market order.",
    ),
    (
        vi.VOLATILITY,
        {"override_volatility": True, "volatility_pct": 0.0},
        "The volatility must be above 0 % a year; you entered 0 %.",
    ),
    (
        vi.VOLATILITY,
        {"override_volatility": True, "volatility_pct": -20.0},
        "The volatility must be above 0 % a year; you entered -20 %.",
    ),
    (
        vi.VOLATILITY,
        {"override_volatility": True, "volatility_pct": 5000.0},
        "The volatility must be at most 1,000 % a year; you entered 5,000 %.",
    ),
    (
        vi.VOLATILITY,
        {"override_volatility": True, "volatility_pct": math.nan},
        "The volatility must be a finite number of % a year (50 = 50 %).",
    ),
    (
        vi.VOLATILITY,
        {"override_volatility": True, "volatility_pct": None},
        "Enter a volatility in % a year (50 = 50 %), or untick the override.",
    ),
    (
        vi.MAKER_RATE,
        {"override_fees": True, "maker_bps": 500.0, "taker_bps": 5.0},
        "The maker rate 500 bps is 5 % of the notional; fee rates are within ±100 bps (±1 %). Enter bps: 5 bps = 0.05 %.",
    ),
    (
        vi.TAKER_RATE,
        {"override_fees": True, "maker_bps": 2.0, "taker_bps": math.nan},
        "The taker rate must be a finite number of bps (5 bps = 0.05 %).",
    ),
    (
        vi.TAKER_RATE,
        {"override_fees": True, "maker_bps": 2.0, "taker_bps": None},
        "Enter the taker rate in bps (5 bps = 0.05 %), or untick the override.",
    ),
    (vi.LATENCY, {"latency_ms": -1.0}, "The latency must be at least 0 ms; you entered -1 ms."),
    (vi.LATENCY, {"latency_ms": 1e6}, "The latency must be at most 60,000 ms; you entered 1e+06 ms."),
    (vi.LATENCY, {"latency_ms": None}, "Enter the latency in ms."),
]


@pytest.mark.parametrize(
    "field,changes,message", BAD_INPUTS, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(BAD_INPUTS)]
)
def test_each_bad_input_gets_its_own_plain_message(field, changes, message):
    s = parse(**changes)
    assert not s.ok
    assert s.errors == {field: message}  # that field only, in words; never an exception


def test_what_the_models_learned_is_said_at_the_fields():
    """A walkthrough: a 10 bps offset was refused only in the message box (cut off there), a 600 s horizon and a
    5,000 ms latency were priced as 60 s and 1,000 ms with the note only in the collapsed notes. With the loaded
    models' ranges each is said under its own box."""
    from core.learned.models import load_models

    ranges = vi.model_ranges(load_models().models)
    assert ranges.offset_max_bps == 5.0 and ranges.horizon_s == (1.0, 60.0) and ranges.latency_max_ms == 1000.0

    def check(**raw) -> vi.Scenario:
        return vi.parse_inputs(
            replace(vi.RawInputs(), **raw), exchange=EX, market=MKT, limit_available=True, ranges=ranges
        )

    far = check(order_type="limit", offset_bps=10.0, horizon_s=30.0)
    assert not far.ok and far.errors[vi.OFFSET].startswith("Enter an offset of at most 5 bps: the fill model learned")
    assert check(order_type="limit", offset_bps=5.0, horizon_s=30.0).ok
    long = check(order_type="limit", offset_bps=1.0, horizon_s=600.0)
    assert long.ok and long.notes[vi.HORIZON].startswith(
        "Priced as a 60 s rest: the fill model learned rests of 1-60 s"
    )
    assert "this order rests 600 s, so it would likely fill more than shown" in long.notes[vi.HORIZON]
    assert vi.HORIZON not in check(order_type="limit", offset_bps=1.0, horizon_s=60.0).notes
    slow = check(latency_ms=5000.0)
    assert slow.ok and slow.notes[vi.LATENCY].startswith("The slippage model learned delays of 0-1000 ms")
    assert vi.LATENCY not in check(latency_ms=1000.0).notes
    assert parse(order_type="market", latency_ms=5000.0).notes.get(vi.LATENCY) is None  # no ranges: no claim


def test_limit_fields_are_checked_when_limit_orders_are_available():
    s = vi.parse_inputs(
        replace(vi.RawInputs(), order_type="limit", offset_bps=-1.0, horizon_s=0.0),
        exchange=EX,
        market=MKT,
        limit_available=True,
    )
    assert s.errors == {
        vi.OFFSET: "The limit offset must be at least 0 bps; you entered -1 bps.",
        vi.HORIZON: "The horizon must be above 0 seconds; you entered 0 seconds.",
    }
    ok = vi.parse_inputs(
        replace(vi.RawInputs(), order_type="limit", offset_bps=1.0, horizon_s=30.0, at_expiry="cancel"),
        exchange=EX,
        market=MKT,
        limit_available=True,
    )
    assert ok.ok and ok.order.offset_bps == 1.0 and ok.order.horizon_s == 30.0
    assert ok.at_expiry is AtExpiry.CANCEL and ok.order.at_expiry is AtExpiry.CANCEL
    assert (
        ok.notes[vi.AT_EXPIRY]
        == "The unfilled rest is cancelled: it costs nothing, and it is not bought or sold either."
    )


def test_fee_override_in_bps_with_a_rebate():
    s = parse(override_fees=True, maker_bps=-1.0, taker_bps=4.0)
    assert s.ok and s.fee_tier.overridden and s.fee_tier.label == "OKX Lv1 (override)"
    assert s.fee_tier.maker_rate == pytest.approx(-0.0001) and s.fee_tier.taker_rate == pytest.approx(0.0004)
    assert s.notes[vi.MAKER_RATE].startswith("A rebate: the venue pays you 1 bps") and vi.TAKER_RATE not in s.notes
    same = parse(override_fees=True, maker_bps=2.0, taker_bps=5.0)
    assert not same.fee_tier.overridden  # the tier's own rates typed back in: still the published tier
    assert vi.MAKER_RATE not in same.notes and vi.TAKER_RATE not in same.notes


@pytest.mark.parametrize(
    "maker,taker,field,says",
    [
        (2.0, -1.0, vi.TAKER_RATE, "A negative taker rate is a rebate for taking liquidity"),
        (6.0, 5.0, vi.MAKER_RATE, "The maker rate is above the taker rate"),
    ],
)
def test_an_odd_fee_override_is_priced_and_said(maker, taker, field, says):
    """A negative taker rate or a maker rate above the taker rate is legal arithmetic but most likely a typo: the order
    is priced with it (the trader may mean it) and a note says so next to the box."""
    s = parse(override_fees=True, maker_bps=maker, taker_bps=taker)
    assert s.ok and s.fee_tier.taker_rate == pytest.approx(taker / 1e4)
    assert s.notes[field].startswith(says), s.notes


def test_fee_choices_offer_every_table_primary_first():
    okx_spot = fee_choice.fee_choices("okx", "spot")
    assert okx_spot[0].key == "okx.com/Lv1" and okx_spot[0].label == "Lv1"
    older = [c for c in okx_spot if not c.primary]
    assert older and older[0].label.endswith("(older table)")
    assert parse(fee_key="okx.com/Lv3").fee_tier.taker_rate == 0.0004
    assert fee_choice.fee_choices("okx", "swap")[0].rates == "maker 0.020 % (2.00 bps) · taker 0.050 % (5.00 bps)"


def test_no_fee_table_asks_for_rates():
    s = vi.parse_inputs(vi.RawInputs(), exchange="okx", market="option", limit_available=False)
    assert s.errors == {vi.FEE_TIER: "There is no fee table for okx option; tick 'Override the rates' and enter them."}
    s = vi.parse_inputs(
        replace(vi.RawInputs(), override_fees=True, maker_bps=1.0, taker_bps=3.0),
        exchange="okx",
        market="option",
        limit_available=False,
    )
    assert s.ok and s.fee_tier.tier == "custom" and s.fee_tier.taker_rate == pytest.approx(0.0003)


# ---- step 2: the view -----------------------------------------------------------------------------


def test_10k_buy_matches_the_worked_example(book):
    v = sc.compute_view(book, parse(quantity_usd=10_000.0))
    e = v.estimate
    assert v.error is None and v.depth_warning is None
    assert e.filled_usd == pytest.approx(10_000.0) and e.filled_base == pytest.approx(0.0999959004, rel=1e-9)
    assert e.avg_price == pytest.approx(100_004.0998, abs=1e-4)
    assert e.slippage_usd == pytest.approx(0.4099590, abs=1e-7)  # the whole walk vs the arrival mid
    # impact with the calibrated psi (data/impact.json): 0.5 x psi / rho x X^2, rho = 0.27^2 / (2 x 1.84)
    impact = min(0.5 * load_impact().permanent_share / (0.27**2 / 3.68) * 0.0999959004**2, 0.3099631)
    assert e.impact_usd == pytest.approx(impact, rel=1e-6)
    assert e.fee_usd == pytest.approx(5.0)
    assert e.net_cost_usd == pytest.approx(5.4099590, abs=1e-7) and e.net_cost_bps == pytest.approx(5.4099590, abs=1e-7)
    assert v.volatility.source is VolSource.DEFAULT  # no mid history

    t = pd.DataFrame(v.breakdown, columns=list(sc.BREAKDOWN_COLUMNS))
    assert list(t["component"]) == [
        "Expected slippage (vs arrival mid)",
        "  of which market impact (permanent)",
        "Fees",
        "Net cost",
    ]
    assert t["USD"].tolist() == pytest.approx([0.4099590, impact, 5.0, 5.4099590], rel=1e-6)
    assert t["USD"].iloc[0] + t["USD"].iloc[2] == t["USD"].iloc[3]  # impact is not added again
    assert t["method"].iloc[0] == "book walk" and t["method"].iloc[2] == "rule: OKX Lv1 taker"

    d = v.depth
    assert (d.fill_from, d.fill_to, d.mid) == (100_001.0, 100_010.0, 100_000.0)
    assert d.avg_price == pytest.approx(100_004.0998, abs=1e-4)
    assert d.x_range[0] < d.fill_from and d.x_range[1] > d.fill_to
    # cumulative USD depth per level: 3 000.03, 7 000.11, 27 002.11 (asks); 4 999.95, 9 999.85, 29 997.85 (bids)
    assert d.asks["cum_usd"].tolist() == pytest.approx([3000.03, 7000.11, 27002.11])
    assert d.bids["cum_usd"].tolist() == pytest.approx([4999.95, 9999.85, 29997.85])
    assert d.asks["cum_base"].tolist() == pytest.approx([0.03, 0.07, 0.27])

    m = dict(v.methods)
    assert m["Expected slippage"] == "book walk"
    assert m["Maker/taker proportion"] == "market order: 100% taker"


def test_sell_and_side_change_the_outputs(book):
    buy = sc.compute_view(book, parse(quantity_usd=10_000.0)).estimate
    sell = sc.compute_view(book, parse(quantity_usd=10_000.0, side="sell")).estimate
    # sell walks the bids: 0.05 @ 99 999 ($4 999.95), 0.05 @ 99 998 ($4 999.90), then $0.15 at 99 990
    assert sell.filled_base == pytest.approx(0.05 + 0.05 + 0.15 / 99_990, rel=1e-12)
    assert sell.walk_slippage_usd == pytest.approx(0.05 * 1 + 0.05 * 2 + 0.15 / 99_990 * 10, rel=1e-9)
    assert sell.net_cost_usd != buy.net_cost_usd


def test_beyond_visible_depth_is_a_warning_not_an_error(book):
    v = sc.compute_view(book, parse(quantity_usd=50_000.0))
    assert v.error is None and v.estimate.beyond_visible
    assert v.depth_warning == (
        "Beyond visible depth: the visible asks hold $27,002.11; the other $22,997.89 is priced by extending the "
        "book at its average depth slope: a rough estimate, high if deeper books get denser, and it can jump from one "
        "book to the next as large orders enter or leave the visible levels."
    )
    assert v.estimate.avg_price == pytest.approx(100_010.78, abs=0.01)
    # the fill range reaches the extrapolated marginal price: 100 010 + (10 / 0.27) x extrapolated base
    assert v.depth.fill_to == pytest.approx(100_010.0 + 10.0 / 0.27 * v.estimate.extrapolated_base)
    assert v.depth.beyond_visible and sc.depth_warning(book, "buy", 27_000.0) is None


def test_order_the_book_cannot_price_gives_a_message(book):
    v = sc.compute_view(book, parse(quantity_usd=5e8, side="sell"))
    assert v.estimate is None and "reduce the size" in v.error and v.curve is None


def test_invalid_scenario_gives_a_message_not_an_exception(book):
    v = sc.compute_view(book, parse(quantity_usd=0.0))
    assert v.estimate is None and v.error == "The order size is $0; enter an amount above zero."


def test_cost_curve_hand_checked_points(book):
    s = parse()
    v = sc.compute_view(book, s, curve_sizes_usd=[1_000.0, 10_000.0, 50_000.0])
    c = v.curve
    assert c["size_usd"].tolist() == [1_000.0, 10_000.0, 50_000.0]
    # $1 000: inside the touch, half-spread 1 USD/BTC on 0.0099999 BTC = 0.099999 bps, plus 5 bps taker
    assert c["net_bps"].iloc[0] == pytest.approx(5.0 + 1_000 / 100_001 * 1 / 1_000 * 1e4, abs=1e-9)
    assert c["impact_bps"].iloc[0] == 0.0
    assert c["net_bps"].iloc[1] == pytest.approx(5.4099590, abs=1e-7)
    assert c["beyond_visible"].tolist() == [False, False, True]
    assert c["net_bps"].is_monotonic_increasing


def test_default_curve_spans_10_usd_to_10m_log_spaced(book):
    c = sc.compute_view(book, parse()).curve
    assert c["size_usd"].iloc[0] == pytest.approx(10.0) and c["size_usd"].iloc[-1] == pytest.approx(1e7)
    ratios = c["size_usd"].iloc[1:].to_numpy() / c["size_usd"].iloc[:-1].to_numpy()
    assert np.allclose(ratios, ratios[0]) and c["net_bps"].notna().all()


def test_curve_marks_unpriceable_sizes_as_nan(book):
    c = sc.compute_view(book, parse(side="sell"), curve_sizes_usd=[1_000.0, 5e8]).curve
    assert math.isfinite(c["net_bps"].iloc[0]) and math.isnan(c["net_bps"].iloc[1])


def test_volatility_override_and_history(book):
    v = sc.compute_view(book, parse(override_volatility=True, volatility_pct=80.0))
    assert v.estimate.volatility_annual == pytest.approx(0.8) and v.volatility.source is VolSource.OVERRIDE
    t = np.arange(120.0)
    mids = 100_000.0 * np.exp(0.0001 * np.where(np.arange(120) % 2, 1.0, -1.0))  # +-1 bp every second
    v = sc.compute_view(book, parse(), mid_history=(t, mids))
    assert v.volatility.source is VolSource.DATA and v.estimate.volatility_source is VolSource.DATA
    # pure +-1 bp bounce: the two-scale estimate is zero, so the 5 s scale alone is used: 2 bp / sqrt(5)
    assert v.estimate.volatility_per_sqrt_s == pytest.approx(0.0002 / math.sqrt(5.0), rel=1e-6)


def test_internal_latency_adds_feed_processing_and_cost():
    timings = {
        "parse_us": np.array([10.0, 20.0]),
        "book_us": np.array([5.0, 5.0]),
        "publish_us": np.array([1.0, 1.0]),
        "cost_us": np.array([30.0]),
    }
    lat = sc.internal_latency(timings, 40.0)
    assert (lat.feed_last_us, lat.cost_last_us, lat.last_us, lat.ticks) == (26.0, 40.0, 66.0, 2)
    assert lat.p50_us == pytest.approx(21.0 + 35.0)
    assert lat.p99_us == pytest.approx(25.9 + 39.9)
    none = sc.internal_latency(None, 40.0)
    assert none.last_us == 40.0 and none.ticks == 0


class StubSlippage:
    name = "stub model"

    def __init__(self) -> None:
        self.latencies: list[float] = []

    def predict(self, x) -> SlippagePrediction:
        self.latencies.append(x.order.latency_ms)
        return SlippagePrediction(expected_bps=1.0, p90_bps=2.0)


class StubMakerTaker:
    name = "stub maker/taker"

    def maker_fraction(self, x) -> float:
        return 0.25


def test_models_get_the_latency_and_are_named_in_methods(book):
    stub = StubSlippage()
    fallbacks = {"maker_taker": "No trained maker_taker model; limit orders cannot be priced."}
    v = sc.compute_view(
        book,
        parse(quantity_usd=10_000.0, latency_ms=250.0),
        models=Models(slippage=stub),
        fallbacks=fallbacks,
        curve_sizes_usd=[1_000.0],
    )
    assert stub.latencies == [250.0, 250.0]  # the order, then the one curve point
    e = v.estimate
    # the model's total (1 bp of $10 000 = $1) is the slippage; the p90 band likewise; impact shown inside it
    assert e.slippage_usd == pytest.approx(1.0, abs=1e-12)
    assert e.slippage_p90_usd == pytest.approx(2.0, abs=1e-12)
    assert 0 < e.impact_usd < e.slippage_usd and e.net_cost_usd == e.slippage_usd + e.fee_usd
    m = dict(v.methods)
    assert m["Expected slippage"] == "model: stub model"
    assert m["Maker/taker model"] == "No trained maker_taker model; limit orders cannot be priced."


def test_source_instruments_and_feed_config(tmp_path):
    recs = [
        RecordingInfo(
            path=tmp_path / "a.jsonl.gz",
            exchange="binance-futures",
            symbol="BTCUSDT",
            label="a",
            date="2024-08-08",
            messages=1,
            source="x",
        ),
        RecordingInfo(
            path=tmp_path / "b.jsonl.gz",
            exchange="binance",
            symbol="BTCUSDT",
            label="b",
            date="2024-08-08",
            messages=1,
            source="x",
        ),
    ]
    table = instruments()
    assert sc.source_instruments(Source.REPLAY, table, recs) == {"binance-futures": ["BTCUSDT"], "binance": ["BTCUSDT"]}
    assert list(sc.source_instruments(Source.OKX, table, recs)) == ["okx"]
    own = sc.source_instruments(Source.REPLAY, table, recs, running=("okx", "BTC-USDT-SWAP"))  # a user's recording
    assert own["okx"] == ["BTC-USDT-SWAP"] and own["binance"] == ["BTCUSDT"]
    assert "BTC-USDT-SWAP" in sc.source_instruments(Source.GOQUANT, table, recs)["okx"]
    cfg = sc.feed_config_for(Source.REPLAY, "binance", "BTCUSDT", recordings=recs, replay_speed=2.0)
    assert cfg.source is Source.REPLAY and Path(cfg.replay_file).name == "b.jsonl.gz" and cfg.replay_speed == 2.0
    live = sc.feed_config_for(Source.OKX, "okx", "ETH-USDT-SWAP", recordings=recs)
    assert (live.source, live.exchange, live.symbol) == (Source.OKX, "okx", "ETH-USDT-SWAP")
    with pytest.raises(SimulatorError, match="No bundled recording"):
        sc.feed_config_for(Source.REPLAY, "okx", "BTC-USDT-SWAP", recordings=recs)


def test_preferred_symbol():
    assert sc.preferred_symbol(["BTC-USD-SWAP", "BTC-USDT-SWAP", "ETH-USDT-SWAP"]) == "BTC-USDT-SWAP"
    assert sc.preferred_symbol(["ETHUSDT", "BTCUSDT"]) == "BTCUSDT"
    assert sc.preferred_symbol(["ETH-USDT", "SOL-USDT"]) == "ETH-USDT" and sc.preferred_symbol([]) == ""


def test_market_kind():
    t = instruments()
    assert sc.market_kind(t.get("okx", "BTC-USDT")) == "spot"
    assert sc.market_kind(t.get("binance-futures", "BTCUSDT")) == "swap"


@pytest.mark.parametrize(
    "x,text",
    [
        (1741.632, "$1,741.63"),
        (0.0501, "$0.0501"),
        (8.09e-05, "$0.0000809"),
        (-0.5, "-$0.500"),
        (-0.99999, "-$1.00"),  # rounds to a dollar: two decimals, not "-$1.000"
        (0.999, "$0.999"),
        (1e-20, "$0.00"),
        (math.nan, "n/a"),
    ],
)
def test_usd_format(x, text):
    assert fmt.usd(x) == text


@pytest.mark.parametrize(
    "x,text", [(5.0, "5.00 bps"), (12.34, "12.3 bps"), (0.0081, "0.0081 bps"), (1.4e-18, "0.00 bps")]
)
def test_bps_format(x, text):
    assert fmt.bps(x) == text


def test_limit_order_marks_its_price_and_splits_maker_and_rest(book):
    models = Models(maker_taker=StubMakerTaker())
    raw = dict(order_type="limit", quantity_usd=10_000.0, offset_bps=1.0, horizon_s=30.0)
    cross = sc.compute_view(
        book,
        vi.parse_inputs(
            replace(vi.RawInputs(), **raw, at_expiry="cross"), exchange=EX, market=MKT, limit_available=True
        ),
        models=models,
    )
    e = cross.estimate
    limit_px = 99_999.0 * (1 - 1e-4)  # a buy rests 1 bp below the best bid: 99 989.0001
    assert e.limit_price == pytest.approx(limit_px) and e.maker_filled_usd == pytest.approx(2_500.0)
    assert e.crossed_usd == pytest.approx(7_500.0) and e.maker_fraction == 0.25
    d = cross.depth
    # the footprint runs from the resting price to where the crossed $7 500 ends on the asks (level 3)
    assert d.fill_from == pytest.approx(limit_px) and d.fill_to == 100_010.0
    assert cross.depth_warning is None
    m = dict(cross.methods)
    assert m["Maker/taker proportion"] == "model: stub maker/taker"

    cancel = sc.compute_view(
        book,
        vi.parse_inputs(
            replace(vi.RawInputs(), **raw, at_expiry="cancel"), exchange=EX, market=MKT, limit_available=True
        ),
        models=models,
    )
    e = cancel.estimate
    assert e.crossed_usd == 0.0 and e.filled_usd == pytest.approx(2_500.0) and e.fee_bps == pytest.approx(2.0)  # maker
    assert cancel.depth.fill_from == cancel.depth.fill_to == pytest.approx(limit_px)
    big = vi.parse_inputs(
        replace(vi.RawInputs(), **{**raw, "quantity_usd": 50_000.0}, at_expiry="cancel"),
        exchange=EX,
        market=MKT,
        limit_available=True,
    )
    assert sc.compute_view(book, big, models=models).depth_warning is None  # a cancelled rest never walks


def test_a_cancelled_rests_cards_say_the_whole_order_and_what_fills(book):
    """A walkthrough: 'Order size 0.162 BTC / $688.24' (the whole order in BTC over the filled 7% in USD) made a far,
    mostly cancelled bid read as a small profitable order. The size card gives the whole order's worth and what is
    expected to fill; the net cost says its bps are of the filled part and the rest is not traded."""
    from core.views import preview

    inst = instruments().get(EX, "BTC-USDT-SWAP")
    raw = replace(
        vi.RawInputs(), order_type="limit", quantity_usd=10_000.0, offset_bps=1.0, horizon_s=30.0, at_expiry="cancel"
    )
    scenario = vi.size_order(
        vi.parse_inputs(raw, exchange=EX, market=MKT, limit_available=True, instrument=inst), inst, book.mid
    )
    view = sc.compute_view(book, scenario, models=Models(maker_taker=StubMakerTaker()))
    e = view.estimate
    assert e.filled_usd == pytest.approx(0.25 * scenario.sizing.notional_usd)
    size = next(c for c in preview.order_cards(view, scenario.sizing, inst) if c.label == "Order size")
    assert (
        size.delta == fmt.usd(scenario.sizing.notional_usd) and size.note == f"expected to fill {fmt.usd(e.filled_usd)}"
    )
    net = next(c for c in preview.cost_cards(e) if c.label == "Net cost")
    assert net.note == f"of {fmt.usd(e.filled_usd)} expected to fill; the rest is not traded"
