"""Limit orders: maker share at the limit price, the rest cancelled or crossed; latency on orders; the CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.costs.estimate import estimate
from core.costs.fees import custom_tier
from core.costs.models import Models
from core.costs.order import AtExpiry, Order
from core.errors import OrderError
from core.market.book import BookSnapshot

ROOT = Path(__file__).resolve().parents[2]
TIER = custom_tier(exchange="okx", market="spot", maker_rate=0.0002, taker_rate=0.0005)


def book() -> BookSnapshot:
    return BookSnapshot.build(
        exchange="okx",
        symbol="BTC-USDT",
        source="test",
        bid_px=np.array([99.9, 99.8]),
        bid_sz=np.array([10.0, 10.0]),
        ask_px=np.array([100.1, 100.2]),
        ask_sz=np.array([5.0, 10.0]),
        exchange_ts_ms=0,
        recv_ns=0,
        seq=0,
    )


class FixedMaker:
    """A maker/taker slot filled with a known fraction, so every number below can be checked by hand."""

    name = "fixed 25% (test)"

    def maker_fraction(self, x) -> float:
        return 0.25


MODELS = Models(maker_taker=FixedMaker())
LIMIT_PX = 99.9 * (1 - 10 / 1e4)  # 10 bps behind the best bid
MAKER_BASE = 250 / LIMIT_PX
MAKER_COST = (LIMIT_PX - 100.0) * MAKER_BASE  # negative: the maker part earns the spread and the offset
CROSS_BASE = 5 + 249.5 / 100.2  # $750 walks 5 @ 100.1 ($500.50) then $249.50 @ 100.2
CROSS_COST = 0.1 * 5 + 0.2 * (249.5 / 100.2)


def test_limit_buy_crossed_at_expiry_by_hand():
    e = estimate(
        book(), Order("buy", 1000, order_type="limit", offset_bps=10, horizon_s=10), fee_tier=TIER, models=MODELS
    )
    assert e.limit_price == pytest.approx(LIMIT_PX, rel=1e-12)
    assert e.maker_fraction == 0.25 and e.maker_filled_usd == pytest.approx(250) and e.crossed_usd == pytest.approx(750)
    assert e.filled_usd == pytest.approx(1000) and e.filled_base == pytest.approx(MAKER_BASE + CROSS_BASE)
    assert e.fee_usd == pytest.approx(250 * 0.0002 + 750 * 0.0005)  # 0.05 + 0.375
    assert e.slippage_usd == pytest.approx(MAKER_COST + CROSS_COST, rel=1e-9)
    assert 0 < e.impact_usd <= CROSS_COST  # part of the crossed rest's walk, not added
    assert e.net_cost_usd == e.slippage_usd + e.fee_usd + e.adverse_selection_usd + e.opportunity_usd
    assert e.net_cost_usd == pytest.approx(MAKER_COST + CROSS_COST + 0.425, rel=1e-9)
    assert e.at_expiry is AtExpiry.CROSS and e.levels_used == 2 and "25% maker" in e.methods["fees"]


def test_limit_buy_cancelled_at_expiry_by_hand():
    e = estimate(
        book(),
        Order("buy", 1000, order_type="limit", offset_bps=10, horizon_s=10, at_expiry="cancel"),
        fee_tier=TIER,
        models=MODELS,
    )
    assert e.filled_usd == pytest.approx(250) and e.crossed_usd == 0.0 and e.impact_usd == 0.0
    assert e.fee_usd == pytest.approx(250 * 0.0002)
    assert e.net_cost_usd == pytest.approx(MAKER_COST + 0.05, rel=1e-9)
    assert e.avg_price == pytest.approx(LIMIT_PX) and e.methods["fees"].endswith(" maker")
    assert e.net_cost_bps == pytest.approx(e.net_cost_usd / 250 * 1e4)


def test_limit_sell_rests_above_the_ask():
    e = estimate(
        book(),
        Order("sell", 1000, order_type="limit", offset_bps=0, horizon_s=5, at_expiry="cancel"),
        fee_tier=TIER,
        models=MODELS,
    )
    assert e.limit_price == 100.1
    base = 250 / 100.1
    assert e.slippage_usd == pytest.approx((100.0 - 100.1) * base)  # sells above mid: a gain


def test_limit_needs_the_maker_model_and_usd_size():
    with pytest.raises(OrderError, match="maker/taker model"):
        estimate(book(), Order("buy", 1000, order_type="limit"), fee_tier=TIER)
    with pytest.raises(OrderError, match="USD"):
        estimate(book(), Order("buy", 1, unit="base", order_type="limit"), fee_tier=TIER, models=MODELS)


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(latency_ms=-1), "Latency"),
        (dict(latency_ms=float("nan")), "NaN"),
        (dict(latency_ms=1e9), "Latency"),
        (dict(order_type="limit", at_expiry="hold"), "at-expiry"),
        (dict(order_type="limit", horizon_s=0), "horizon"),
        (dict(order_type="limit", offset_bps=-2), "offset"),
    ],
)
def test_bad_limit_and_latency_inputs_are_plain_errors(kw, match):
    with pytest.raises(OrderError, match=match):
        Order("buy", 100, **kw)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core.simulate", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def snapshot_file(tmp_path_factory, recorded_messages):
    p = tmp_path_factory.mktemp("snap") / "book.json"
    p.write_bytes(recorded_messages[0])
    return str(p)


def test_cli_limit_order_with_the_shipped_maker_model(snapshot_file):
    r = run_cli(
        "--snapshot",
        snapshot_file,
        "--exchange",
        "binance-futures",
        "--symbol",
        "BTCUSDT",
        "--side",
        "buy",
        "--usd",
        "100000",
        "--order-type",
        "limit",
        "--offset-bps",
        "1",
        "--horizon-s",
        "10",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert 0 < d["maker_fraction"] < 1 and d["limit_price"] < d["best_bid"] and d["at_expiry"] == "cross"
    assert d["methods"]["maker_fraction"].startswith("model: logistic")
    parts = d["slippage_usd"] + d["fee_usd"] + d["adverse_selection_usd"] + d["opportunity_usd"]
    assert math.isclose(d["net_cost_usd"], parts, rel_tol=1e-12)


def test_cli_latency_gives_a_p90_band_from_the_quantile_model(snapshot_file):
    base = [
        "--snapshot",
        snapshot_file,
        "--exchange",
        "binance-futures",
        "--symbol",
        "BTCUSDT",
        "--side",
        "sell",
        "--usd",
        "250000",
        "--json",
    ]
    r = run_cli(*base, "--latency-ms", "500")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["slippage_p90_usd"] > d["slippage_usd"] and d["latency_ms"] == 500
    assert "quantile" in d["methods"]["slippage_p90"]
    rules = json.loads(run_cli(*base, "--latency-ms", "500", "--no-models").stdout)
    assert rules["slippage_p90_usd"] is None and rules["slippage_usd"] == pytest.approx(d["slippage_usd"])
    bad = run_cli(*base, "--latency-ms", "-5")
    assert bad.returncode == 2 and "Latency" in bad.stderr and "Traceback" not in bad.stderr
