"""The cost engine: the METHODOLOGY worked example, the decomposition, order validation, model slots."""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError
from fractions import Fraction

import numpy as np
import orjson
import pytest

from core.costs.estimate import CostEstimate, estimate
from core.costs.fees import get_tier
from core.costs.impact import ASSUMED_PERMANENT_SHARE, ASSUMED_REFILL_S, load_impact
from core.costs.models import MakerTakerModel, ModelInput, Models, SlippageModel, SlippagePrediction
from core.costs.order import Order, OrderType, Side, SizeUnit
from core.costs.volatility import SQRT_YEAR_S, VolSource, from_annual, realised_vol
from core.errors import OrderError
from core.feed.goquant import parse_snapshot
from core.market.book import BookSnapshot
from core.market.instruments import get_instrument
from tests.worked import REQUIRED_KEYS

# docs/METHODOLOGY.md section 7: sizes in CONTRACTS (ctVal 0.01 BTC)
WORKED = {
    "timestamp": "2025-05-04T10:39:13Z",
    "exchange": "OKX",
    "symbol": "BTC-USDT-SWAP",
    "asks": [["100001.0", "3"], ["100002.0", "4"], ["100010.0", "20"]],
    "bids": [["99999.0", "5"], ["99998.0", "5"], ["99990.0", "20"]],
}
LV1 = get_tier("okx", "swap", "Lv1")
WORKED_IMPACT = dict(permanent_share=ASSUMED_PERMANENT_SHARE, refill_s=ASSUMED_REFILL_S)


def worked_snapshot() -> BookSnapshot:
    return parse_snapshot(orjson.dumps(WORKED), instrument=get_instrument("okx", "BTC-USDT-SWAP"))


def test_worked_example_buy_10000_usd_lv1():
    # the worked example fixes psi = 0.5 and refill 10 s (the old assumption) so its hand numbers never move
    # when data/impact.json is recalibrated; the default's use of the calibration is tested below
    e = estimate(worked_snapshot(), Order(side="buy", quantity=10_000), fee_tier=LV1, **WORKED_IMPACT)
    # hand walk, exact fractions: 0.03 BTC @ 100001, 0.04 @ 100002, rest of $10,000 @ 100010
    b1, b2 = Fraction(3, 100), Fraction(4, 100)
    b3 = (Fraction(10_000) - b1 * 100_001 - b2 * 100_002) / 100_010  # 2999.89 / 100010
    base = b1 + b2 + b3
    assert e.mid == 100_000.0 and e.best_bid == 99_999.0 and e.best_ask == 100_001.0
    assert e.spread_bps == pytest.approx(0.2, rel=1e-12)
    assert e.filled_base == pytest.approx(float(base), rel=1e-14)  # 0.0999959004...
    assert e.filled_usd == pytest.approx(10_000.0, rel=1e-15)
    assert e.avg_price == pytest.approx(float(10_000 / base), rel=1e-14)  # 100004.0998
    assert e.levels_used == 3 and e.fully_filled and not e.beyond_visible
    walk_cost = b1 * 1 + b2 * 2 + b3 * 10  # sum of base x (price - mid)
    assert e.walk_slippage_usd == pytest.approx(float(walk_cost), rel=1e-12)  # 0.409959
    assert e.walk_slippage_usd == pytest.approx(0.40995900409959, rel=1e-12)
    assert e.walk_slippage_bps == pytest.approx(0.40995900409959, rel=1e-12)  # $10k: bps == USD
    assert e.half_spread_usd == pytest.approx(float(base * 1), rel=1e-12)
    assert e.depth_usd == pytest.approx(float(b2 * 1 + b3 * 9), rel=1e-12)
    # fees: 0.05% taker of $10,000
    assert e.fee_usd == pytest.approx(5.0, rel=1e-15) and e.fee_bps == pytest.approx(5.0, rel=1e-15)
    # calibration: the order is inside the 3 visible levels (0.27 BTC), whose cost beyond the touch is
    # 0.03 x 0 + 0.04 x 1 + 0.20 x 9 = 1.84 USD, so rho = 0.27^2 / (2 x 1.84)
    rho = 0.27**2 / (2 * 1.84)
    assert e.calibration.rho == pytest.approx(rho, rel=1e-12)
    assert e.calibration.epsilon == 1.0
    assert e.calibration.gamma == pytest.approx(0.5 / rho, rel=1e-12)
    assert e.calibration.eta == pytest.approx(10.0 / (2 * rho), rel=1e-12)
    # diagnostic least-squares line, checked against numpy's independent fit
    assert e.calibration.rho_ls == pytest.approx(np.polyfit([1.0, 2.0, 10.0], [0.015, 0.05, 0.17], 1)[0], rel=1e-12)
    impact = 0.5 * (0.5 / rho) * float(base) ** 2
    assert e.impact_usd == pytest.approx(impact, rel=1e-12)
    assert e.impact_usd == pytest.approx(0.12618992717276, rel=1e-10)
    assert e.impact_usd < e.depth_usd  # not capped
    # slippage is what the fills show against the arrival mid: the whole walk, impact included
    assert e.slippage_usd == pytest.approx(float(walk_cost), rel=1e-12)
    assert e.slippage_usd == e.walk_slippage_usd
    assert e.slippage_usd == pytest.approx(0.40995900409959, rel=1e-12)
    # the decomposition: net = slippage + fees exactly; impact is inside slippage, never added again
    assert e.net_cost_usd == e.slippage_usd + e.fee_usd
    assert e.adverse_selection_usd == 0.0 and e.opportunity_usd == 0.0
    assert e.net_cost_usd == pytest.approx(5.40995900409959, rel=1e-12)
    assert e.net_cost_bps == pytest.approx(e.slippage_bps + e.fee_bps, rel=1e-14)
    assert e.maker_fraction == 0.0 and e.slippage_p90_usd is None
    assert e.volatility_source is VolSource.DEFAULT and e.volatility_annual == 0.5
    assert e.volatility_30s_annual is None  # the default measures no scale
    assert e.ac_immediate_usd == pytest.approx(1.0 * float(base) + float(base) ** 2 / (2 * rho), rel=1e-12)
    assert not e.notes[1:]
    assert 0 < e.latency_us < 1e6
    assert e.methods == {
        "book_walk": "book walk",
        "volatility": "documented default (not enough history)",
        "slippage": "book walk",
        "impact": "part of slippage, not added: Almgren–Chriss permanent part 0.5·gamma·X², gamma = 0.5/rho "
        "(refill 10 s; the old fixed assumption)",
        "maker_fraction": "market order: 100% taker",
        "fees": "rule: OKX Lv1 taker",
    }


def test_worked_example_sell_by_base():
    e = estimate(worked_snapshot(), Order(side="sell", quantity=0.12, unit="base"), fee_tier=LV1)
    # 0.05 @ 99999, 0.05 @ 99998, 0.02 @ 99990
    received = 0.05 * 99_999 + 0.05 * 99_998 + 0.02 * 99_990
    assert e.filled_usd == pytest.approx(received, rel=1e-14)
    assert e.walk_slippage_usd == pytest.approx(0.05 * 1 + 0.05 * 2 + 0.02 * 10, rel=1e-12)  # 0.35
    assert e.half_spread_usd == pytest.approx(0.12, rel=1e-12)
    assert e.fee_usd == pytest.approx(0.0005 * received, rel=1e-14)
    assert e.net_cost_usd == e.slippage_usd + e.fee_usd
    assert e.levels_used == 3 and e.side is Side.SELL and e.size_unit is SizeUnit.BASE


def test_the_default_impact_uses_the_calibrated_constants():
    c = load_impact()
    assert c.calibrated, c.source  # data/impact.json is bundled
    e = estimate(worked_snapshot(), Order(side="buy", quantity=10_000), fee_tier=LV1)
    cal = e.calibration
    assert (cal.permanent_share, cal.refill_s) == (c.permanent_share, c.refill_s)
    # the same formula as the worked example with the calibrated psi, capped at the cost beyond the touch
    want = min(0.5 * (c.permanent_share / cal.rho) * e.filled_base**2, e.depth_usd)
    assert e.impact_usd == pytest.approx(want, rel=1e-12)
    assert cal.eta == pytest.approx(c.refill_s / (2 * cal.rho), rel=1e-12)
    assert "calibrated on" in e.methods["impact"] and "data/impact.json" in e.methods["impact"]
    assert e.net_cost_usd == e.slippage_usd + e.fee_usd and e.slippage_usd == e.walk_slippage_usd


def test_beyond_visible_is_flagged_and_noted():
    e = estimate(worked_snapshot(), Order(side="buy", quantity=50_000), fee_tier=LV1)
    assert e.beyond_visible and not e.fully_filled and e.extrapolated_base > 0
    assert e.filled_usd == pytest.approx(50_000.0, rel=1e-14)
    # visible asks hold 0.27 BTC for $27,002.11; the other $22,997.89 costs MORE than the last level's price
    free_base = 0.27 + 22_997.89 / 100_010.0
    assert e.filled_base < free_base
    assert e.avg_price > 50_000.0 / free_base
    assert e.levels_used == 3
    # the METHODOLOGY numbers: slope |100010 - 100000| / 0.27, 0.22995 BTC extrapolated, avg 100010.78
    assert e.walk.extrapolation_slope == pytest.approx(10.0 / 0.27, rel=1e-12)
    assert e.extrapolated_base == pytest.approx(0.22994611368211, rel=1e-10)
    assert e.avg_price == pytest.approx(100_010.77842519655, rel=1e-12)
    assert any("Beyond visible depth" in n for n in e.notes)
    assert "extrapolation" in e.methods["book_walk"]


def test_order_inside_the_touch_has_no_permanent_impact():
    e = estimate(worked_snapshot(), Order("buy", 1_000), fee_tier=LV1)  # 0.01 BTC of the 0.03 at the touch
    assert e.levels_used == 1 and e.depth_usd == 0.0
    assert e.calibration.permanent_cost(e.filled_base) > 0  # the model alone would charge some ...
    assert e.impact_usd == 0.0  # ... but the price does not move
    assert e.slippage_usd == e.walk_slippage_usd == pytest.approx(0.01 * 1.0 * 1000 / 1000.01, rel=1e-12)
    assert "capped" in e.methods["impact"] and any("does not move the price" in n for n in e.notes)


def test_impact_is_capped_at_the_cost_beyond_the_touch():
    # a deep touch and a far, thin second level: the fitted line overstates this order's price move
    snap = BookSnapshot.build(
        exchange="t",
        symbol="T",
        source="test",
        bid_px=[99.995, 0.5],
        bid_sz=[10.0, 0.001],
        ask_px=[100.005, 200.0],
        ask_sz=[10.0, 0.001],
        exchange_ts_ms=0,
        recv_ns=0,
        seq=0,
    )
    e = estimate(snap, Order("buy", 10.0005, unit="base"), fee_tier=LV1, permanent_share=1.0)
    assert e.depth_usd == pytest.approx(0.0005 * 99.995, rel=1e-9)
    assert e.calibration.permanent_cost(10.0005) > e.depth_usd
    assert e.impact_usd == e.depth_usd
    assert e.slippage_usd - e.impact_usd == pytest.approx(
        e.half_spread_usd, rel=1e-9
    )  # the half-spread stays temporary
    assert any("capped" in n for n in e.notes)


def test_volatility_flows_through_and_psi_zero_means_no_impact():
    t = np.arange(200.0)
    m = 100_000 * np.exp(1e-4 * np.cumsum(np.where(np.arange(200) % 2 == 0, 1.0, -1.0)))
    vol = realised_vol(t, m)
    assert vol.source is VolSource.DATA
    e = estimate(worked_snapshot(), Order("buy", 10_000), fee_tier=LV1, volatility=vol, permanent_share=0.0)
    assert e.volatility_annual == vol.annual and e.volatility_per_sqrt_s == vol.sigma_per_sqrt_s
    assert e.calibration.sigma == pytest.approx(100_000.0 * vol.sigma_per_sqrt_s, rel=1e-15)
    assert e.methods["volatility"] == "realised EWMA of mid returns"
    assert e.impact_usd == 0.0 and e.slippage_usd == e.walk_slippage_usd
    assert e.calibration.sigma > 0
    o = estimate(worked_snapshot(), Order("buy", 10_000), fee_tier=LV1, volatility=from_annual(0.9))
    assert o.volatility_annual == 0.9 and o.methods["volatility"] == "user override"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"side": "buy", "quantity": 0}, "zero"),
        ({"side": "buy", "quantity": -5}, "negative"),
        ({"side": "buy", "quantity": math.nan}, "NaN"),
        ({"side": "buy", "quantity": math.inf}, "infinite"),
        ({"side": "buy", "quantity": 2e9}, "more than"),
        ({"side": "buy", "quantity": "abc"}, "number"),
        ({"side": "buy", "quantity": True}, "number"),
        ({"side": "hold", "quantity": 10}, "side"),
        ({"side": "buy", "quantity": 10, "order_type": "stop"}, "order type"),
        ({"side": "buy", "quantity": 10, "unit": "lots"}, "unit"),
        ({"side": "buy", "quantity": 10, "order_type": "limit", "offset_bps": -1}, "offset"),
        ({"side": "buy", "quantity": 10, "order_type": "limit", "horizon_s": 0}, "horizon"),
    ],
)
def test_order_validation_messages(kwargs, match):
    with pytest.raises(OrderError, match=match):
        Order(**kwargs)


def test_order_coerces_strings_and_is_frozen():
    o = Order(side="SELL", quantity="2.5", unit="base", order_type="Market")
    assert o.side is Side.SELL and o.quantity == 2.5 and o.unit is SizeUnit.BASE and o.order_type is OrderType.MARKET
    with pytest.raises(FrozenInstanceError):
        o.quantity = 3.0  # type: ignore[misc]


def test_base_order_above_notional_cap_is_refused():
    """The engine refuses a base size above ENGINE_MAX_NOTIONAL_USD ($2e9) at the current mid; between the entry cap
    ($1e9, checked on what was typed) and it, an order entered before the price moved still prices."""
    with pytest.raises(OrderError, match="more than"):
        estimate(worked_snapshot(), Order("buy", 25_000, unit="base"), fee_tier=LV1)  # ~$2.5e9
    assert estimate(worked_snapshot(), Order("buy", 15_000, unit="base"), fee_tier=LV1).filled_base == 15_000


class FakeSlippage:
    name = "fake quantile model"

    def __init__(self) -> None:
        self.seen: ModelInput | None = None

    def predict(self, x: ModelInput) -> SlippagePrediction:
        self.seen = x
        return SlippagePrediction(expected_bps=3.0, p90_bps=5.0)


class FakeMaker:
    name = "fake logistic"

    def maker_fraction(self, x: ModelInput) -> float:
        return 0.6


def test_slippage_model_slot_replaces_the_walk():
    model = FakeSlippage()
    assert isinstance(model, SlippageModel) and isinstance(FakeMaker(), MakerTakerModel)
    e = estimate(worked_snapshot(), Order("buy", 10_000), fee_tier=LV1, models=Models(slippage=model))
    assert model.seen is not None and model.seen.notional_usd == e.filled_usd
    # the model predicts the same quantity as the walk (total cost vs mid), so it IS the slippage
    assert e.slippage_usd == pytest.approx(3.0, rel=1e-12)  # 3 bps of $10,000 = $3
    assert e.slippage_p90_usd == pytest.approx(5.0, rel=1e-12)
    assert 0 < e.impact_usd < e.slippage_usd  # impact is shown as part of it
    assert e.walk_slippage_usd == pytest.approx(0.40995900409959, rel=1e-12)  # still reported
    assert e.methods["slippage"] == "model: fake quantile model"
    assert e.net_cost_usd == e.slippage_usd + e.fee_usd


def test_a_non_finite_model_prediction_falls_back_to_the_walk():
    class Broken:
        name = "broken"

        def predict(self, x):
            return SlippagePrediction(expected_bps=math.nan, p90_bps=math.inf)

    e = estimate(worked_snapshot(), Order("buy", 10_000), fee_tier=LV1, models=Models(slippage=Broken()))
    assert e.slippage_usd == pytest.approx(0.40995900409959, rel=1e-12) and e.slippage_p90_usd is None
    assert "no finite value" in e.methods["slippage"]


def test_market_order_never_calls_the_maker_model():
    class Boom:
        name = "boom"

        def maker_fraction(self, x):  # pragma: no cover - must not run
            raise AssertionError("called")

    e = estimate(worked_snapshot(), Order("buy", 10_000), fee_tier=LV1, models=Models(maker_taker=Boom()))
    assert e.maker_fraction == 0.0 and e.methods["maker_fraction"] == "market order: 100% taker"


def test_limit_order_needs_the_maker_model_and_uses_its_fraction():
    limit = Order("buy", 10_000, order_type="limit", offset_bps=1.0, horizon_s=30.0)
    with pytest.raises(OrderError, match="maker/taker model"):
        estimate(worked_snapshot(), limit, fee_tier=LV1)
    e = estimate(worked_snapshot(), limit, fee_tier=LV1, models=Models(maker_taker=FakeMaker()))
    assert e.maker_fraction == 0.6
    assert e.fee_usd == pytest.approx(10_000 * (0.6 * 0.0002 + 0.4 * 0.0005), rel=1e-12)  # $3.20
    assert e.methods["maker_fraction"] == "model: fake logistic"
    assert e.methods["fees"] == "rule: OKX Lv1 60% maker / 40% taker"


def test_rebate_tier_lowers_net_cost():
    vip8 = get_tier("okx", "spot", "VIP8")

    class AllMaker:
        name = "all maker"

        def maker_fraction(self, x):
            return 1.0

    e = estimate(
        worked_snapshot(),
        Order("buy", 10_000, order_type="limit"),
        fee_tier=vip8,
        models=Models(maker_taker=AllMaker()),
    )
    assert e.fee_usd == pytest.approx(-0.5, rel=1e-12)
    assert e.net_cost_usd == e.slippage_usd + e.fee_usd
    assert e.net_cost_usd < e.walk_slippage_usd


def test_to_dict_has_every_cli_key_and_serialises():
    e = estimate(worked_snapshot(), Order("buy", 10_000), fee_tier=LV1)
    d = e.to_dict()
    required = list(REQUIRED_KEYS)
    assert set(required) <= set(d)
    back = orjson.loads(orjson.dumps(d))
    assert back["net_cost_usd"] == e.net_cost_usd and back["slippage_p90_usd"] is None
    assert isinstance(e, CostEstimate)
    with pytest.raises(FrozenInstanceError):
        e.net_cost_usd = 0.0  # type: ignore[misc]


#: the CLI's ``--json`` keys, in order: generated from ``CostEstimate``'s fields, so this pins the fields too
JSON_KEYS = [
    "exchange",
    "symbol",
    "side",
    "order_type",
    "size",
    "size_unit",
    "mid",
    "best_bid",
    "best_ask",
    "spread_bps",
    "avg_price",
    "filled_base",
    "filled_usd",
    "levels_used",
    "fully_filled",
    "beyond_visible",
    "extrapolated_base",
    "walk_slippage_usd",
    "walk_slippage_bps",
    "half_spread_usd",
    "depth_usd",
    "slippage_usd",
    "slippage_bps",
    "slippage_p90_usd",
    "slippage_p90_online_usd",
    "fee_usd",
    "fee_bps",
    "impact_usd",
    "impact_bps",
    "adverse_selection_usd",
    "opportunity_usd",
    "net_cost_usd",
    "net_cost_bps",
    "maker_fraction",
    "fee_tier",
    "maker_rate",
    "taker_rate",
    "volatility_per_sqrt_s",
    "volatility_annual",
    "volatility_source",
    "ac_epsilon",
    "ac_eta",
    "ac_gamma",
    "ac_rho",
    "ac_rho_ls",
    "ac_d0_ls",
    "ac_refill_s",
    "ac_permanent_share",
    "ac_immediate_usd",
    "latency_us",
    "latency_ms",
    "limit_price",
    "maker_filled_usd",
    "crossed_usd",
    "at_expiry",
    "maker_fraction_model",
    "volatility_30s_annual",
    "methods",
    "notes",
]


def test_to_dict_keys_and_values_are_pinned():
    class HalfMaker:
        name = "test double: half maker"

        def maker_fraction(self, x):
            return 0.5

    market = estimate(worked_snapshot(), Order("buy", 10_000, unit="usd"), fee_tier=LV1)
    limit = estimate(
        worked_snapshot(),
        Order("sell", 10_000, order_type="limit", offset_bps=1.0, at_expiry="cancel"),
        fee_tier=LV1,
        models=Models(maker_taker=HalfMaker()),
    )
    for e in (market, limit):
        d = e.to_dict()
        assert list(d) == JSON_KEYS
        c = e.calibration
        assert d["side"] == e.side.value and d["order_type"] == e.order_type.value
        assert d["volatility_source"] == e.volatility_source.value
        assert [d[f"ac_{k}"] for k in ("epsilon", "eta", "gamma", "rho", "rho_ls", "d0_ls")] == [
            c.epsilon,
            c.eta,
            c.gamma,
            c.rho,
            c.rho_ls,
            c.d0_ls,
        ]
        assert (d["ac_refill_s"], d["ac_permanent_share"]) == (c.refill_s, c.permanent_share)
        assert d["methods"] == e.methods and d["notes"] == list(e.notes)
        assert d["net_cost_usd"] == e.net_cost_usd and d["latency_ms"] == e.latency_ms
    assert market.to_dict()["size_unit"] == "usd" and market.to_dict()["at_expiry"] is None
    assert limit.to_dict()["at_expiry"] == "cancel" and limit.to_dict()["limit_price"] == limit.limit_price
    base = estimate(worked_snapshot(), Order("buy", 0.1, unit="base"), fee_tier=LV1)
    assert base.to_dict()["size_unit"] == "base"


def test_the_30s_scale_volatility_is_reported_from_data_only():
    """A measured history gives both scales (here a trending one: the 30 s figure above the 1-5 s one); an override
    says nothing about the 30 s scale."""

    gen = np.random.default_rng(4)
    drift = np.zeros(600)
    for i in range(1, 600):
        drift[i] = 0.98 * drift[i - 1] + gen.normal(0.0, 3e-5)
    mids = 5e4 * np.exp(np.concatenate(([0.0], np.cumsum(gen.normal(0.0, 1e-4, 600) + drift))))
    t = np.arange(601, dtype=np.float64)
    vol = realised_vol(t, mids)
    e = estimate(worked_snapshot(), Order("buy", 10_000, unit="usd"), fee_tier=LV1, volatility=vol)
    assert e.volatility_30s_annual == pytest.approx(vol.sigma_at_horizon * SQRT_YEAR_S)
    assert e.volatility_30s_annual > e.volatility_annual
    assert e.to_dict()["volatility_30s_annual"] == e.volatility_30s_annual
    over = estimate(
        worked_snapshot(),
        Order("buy", 10_000, unit="usd"),
        fee_tier=LV1,
        volatility=realised_vol(t, mids, override_annual=0.5),
    )
    assert over.volatility_30s_annual is None
    young = realised_vol(t[:200], mids[:200])  # measured, but 199 returns: too young to show
    assert math.isfinite(young.horizon_sigma_per_sqrt_s) and not young.horizon_settled
    yest = estimate(worked_snapshot(), Order("buy", 10_000, unit="usd"), fee_tier=LV1, volatility=young)
    assert yest.volatility_30s_annual is None
