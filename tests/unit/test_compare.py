"""Freeze and compare on a real recorded book with the shipped models, and the live figure's recent range."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from core.feed.goquant import parse_snapshot
from core.learned.models import load_models
from core.market.instruments import get_instrument
from core.views import compare as cmp
from core.views import formatting as fmt
from core.views import inputs as vi

INST = get_instrument("binance-futures", "BTCUSDT")


@pytest.fixture(scope="module")
def loaded():
    return load_models()


@pytest.fixture
def pinned(recorded_messages):
    books = [parse_snapshot(raw, instrument=INST) for raw in recorded_messages[:400]]
    t = np.array([b.exchange_ts_ms / 1e3 for b in books])
    m = np.array([b.mid for b in books])
    return cmp.pin(books[-1], (t, m))


def scenario(raw: vi.RawInputs, loaded) -> vi.Scenario:
    return vi.parse_inputs(
        raw, exchange=INST.exchange, market="swap", limit_available=loaded.models.maker_taker is not None
    )


def test_only_volatility_differs_so_the_expected_cost_is_identical_and_the_p90_is_not(pinned, loaded):
    assert loaded.models.slippage is not None and loaded.models.slippage.quantiles is not None  # the shipped p90 model
    a = replace(vi.RawInputs(), quantity_usd=1_000_000.0, latency_ms=250.0)
    b = cmp.variant(a, volatility_pct=200.0)
    c = cmp.variant(a, volatility_pct=5.0, latency_ms=1000.0)
    r = cmp.compare(
        pinned,
        [("A", scenario(a, loaded)), ("B", scenario(b, loaded)), ("C", scenario(c, loaded))],
        models=loaded.models,
    )
    ea, eb, ec = (p.estimate for p in r.priced)
    assert ea.net_cost_usd == eb.net_cost_usd == ec.net_cost_usd  # same book: bit for bit
    assert ea.fee_usd == eb.fee_usd and ea.impact_usd == eb.impact_usd
    assert eb.slippage_p90_usd != ea.slippage_p90_usd and ec.slippage_p90_usd != ea.slippage_p90_usd
    assert eb.volatility_annual == pytest.approx(2.0) and ea.volatility_annual == pinned.volatility.annual
    # the tables say which inputs differ and by how much each output moved
    assert r.inputs.at["Volatility (a year)", "differs from A"] == "B, C"
    # short cells (a walkthrough found "50.0% a year (pinned estimat" cut off): the figure and where it came from
    assert r.inputs.at["Volatility (a year)", "B"] == "200.0% (entered)"
    source = {"data": "pinned book", "default": "default"}[pinned.volatility.source.value]
    assert r.inputs.at["Volatility (a year)", "A"] == f"{pinned.volatility.annual:.1%} ({source})"
    assert r.inputs.at["Latency (ms)", "differs from A"] == "C"
    assert r.inputs.at["Size", "differs from A"] == ""
    assert r.outputs.at["Expected cost (net) (USD)", "B − A"] == 0.0
    assert cmp.outputs_shown(r, 1).at["Expected cost (net) (USD)", "B − A"] == "0"
    noisy = replace(r, outputs=r.outputs.assign(**{"B − A": r.outputs["B − A"] + 1.3e-15}))
    assert cmp.outputs_shown(noisy, 1).at["Expected cost (net) (USD)", "B − A"] == "0"  # noise, not a change
    assert r.outputs.at["Slippage p90 (USD)", "B − A"] == pytest.approx(eb.slippage_p90_usd - ea.slippage_p90_usd)
    assert "differs from A in volatility" in r.moves[0] and "expected cost (net) unchanged" in r.moves[0]
    assert "slippage p90 unchanged" not in r.moves[0]
    assert "only the p90 band" in cmp.what_moves(loaded.models)


def test_a_different_size_moves_the_expected_cost_and_a_bad_variant_is_a_plain_message(pinned, loaded):
    a = replace(vi.RawInputs(), quantity_usd=10_000.0)
    r = cmp.compare(
        pinned,
        [
            ("A", scenario(a, loaded)),
            ("B", scenario(cmp.variant(a, quantity_usd=2_000_000.0), loaded)),
            ("C", scenario(cmp.variant(a, quantity_usd=-5.0), loaded)),
        ],
        models=loaded.models,
    )
    assert r.priced[1].estimate.net_cost_usd > r.priced[0].estimate.net_cost_usd
    assert r.outputs.at["Expected cost (net) (USD)", "B − A"] > 0
    assert r.priced[2].estimate is None and "negative" in r.priced[2].error
    assert np.isnan(r.outputs.at["Expected cost (net) (USD)", "C"]) and "not compared" in r.moves[1]
    # as the page shows it: text in each row's unit, prices on the tick, n/a where not priced, no raw floats
    shown = cmp.outputs_shown(r, 1)
    ea, eb = r.priced[0].estimate, r.priced[1].estimate
    assert shown.at["Expected cost (net) (USD)", "A"] == fmt.usd(ea.net_cost_usd)
    assert shown.at["Expected cost (net) (USD)", "B − A"] == "+" + fmt.usd(eb.net_cost_usd - ea.net_cost_usd)
    assert shown.at["Average fill price (quote)", "A"] == fmt.price(ea.avg_price, 1)
    assert shown.at["Maker share (%)", "A"] == "0.0 %" and shown.at["Maker share (%)", "B − A"] == "0.0 points"
    assert shown.at["Expected cost (net) (USD)", "C"] == "n/a"
    assert not any("e-" in v or v in ("nan", "None") for v in shown.to_numpy().ravel())


def test_the_pinned_book_does_not_change_when_the_feed_moves_on(pinned):
    with pytest.raises(ValueError):
        pinned.mids[0] = 1.0  # read-only copies
    assert pinned.volatility.n_returns > 0
    assert "Pinned: the Binance" in cmp.describe_pin(pinned) and "exactly this book" in cmp.describe_pin(pinned)


def test_recent_range_is_the_median_and_range_of_the_last_30_seconds():
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    recv = [t0 + pd.Timedelta(seconds=s) for s in (0, 10, 40, 50, 60, 70)]
    cost = [100.0, 900.0, 10.0, 30.0, 20.0, 50.0]  # the first two are older than 30 s before the last
    ticks = pd.DataFrame({"received_utc": recv, "net_cost_usd": cost})
    r = cmp.recent_range(ticks, now_usd=50.0)
    assert (r.median_usd, r.low_usd, r.high_usd, r.ticks, r.span_s) == (25.0, 10.0, 50.0, 4, 30.0)
    text = cmp.recent_text(r)
    assert "median $25.00" in text and "range $10.00 to $50.00" in text and "4 books" in text
    assert cmp.recent_range(None, 1.0) is None and "Collecting" in cmp.recent_text(None)


def test_a_share_is_shown_in_percent_and_its_change_in_points(pinned, loaded):
    if loaded.models.maker_taker is None:
        pytest.skip("no maker/taker model shipped")
    a = replace(vi.RawInputs(), order_type="limit", quantity_usd=10_000.0, offset_bps=0.0, horizon_s=60.0)
    r = cmp.compare(
        pinned,
        [("A", scenario(a, loaded)), ("B", scenario(cmp.variant(a, quantity_usd=5_000_000.0), loaded))],
        models=loaded.models,
    )
    fa, fb = (p.estimate.maker_fraction for p in r.priced)
    assert r.outputs.at["Maker share (%)", "A"] == pytest.approx(100 * fa)
    assert r.outputs.at["Maker share (%)", "B − A"] == pytest.approx(100 * (fb - fa))
    assert f"maker share {fa:.1%} → {fb:.1%} (-{100 * (fa - fb):.1f} points)" in r.moves[0]
    assert "Expected cost (net) (bps)" in r.outputs.index and "Expected cost (net), bps (bps)" not in r.outputs.index


def test_the_inputs_table_gives_the_size_as_the_venue_takes_it_and_its_worth(pinned, loaded):
    """A walkthrough: 'Size (USD) $0.161 | $16.18' for $10,000 and $1,000,000 orders, the coin amount printed as
    dollars (a market order is sized in the coin after the venue's lot)."""
    mid = pinned.snapshot.mid
    a = replace(vi.RawInputs(), quantity_usd=10_000.0)
    sized = [
        (lab, vi.size_order(scenario(raw, loaded), INST, mid))
        for lab, raw in (("A", a), ("B", cmp.variant(a, quantity_usd=1e6)))
    ]
    r = cmp.compare(pinned, sized, models=loaded.models)
    for lab, s in sized:
        shown = r.inputs.at["Size", lab]
        assert shown == f"{fmt.size_amount(s.sizing.venue_size, 'BTC')} ({fmt.usd(s.sizing.notional_usd)})", shown
        assert 0.99 * (1e4 if lab == "A" else 1e6) < s.sizing.notional_usd <= (1e4 if lab == "A" else 1e6)


def test_a_variant_with_no_change_gets_one_short_line_not_a_list_of_unchanged(pinned, loaded):
    """A walkthrough: after the variants were lost, "B differs from A in nothing: … unchanged" filled the panel."""
    a = replace(vi.RawInputs(), quantity_usd=10_000.0)
    r = cmp.compare(
        pinned,
        [("A", scenario(a, loaded)), ("B", scenario(cmp.variant(a), loaded)), ("C", scenario(a, loaded))],
        models=loaded.models,
    )
    assert r.moves[0] == (
        "B is A unchanged, so every figure is the same: give it a side, size, volatility or latency to compare."
    )
    assert r.moves[1].startswith("C is A unchanged") and not any("unchanged (" in m for m in r.moves)
    assert (r.inputs["differs from A"] == "").all()
