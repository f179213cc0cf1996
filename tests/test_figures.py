"""The Simulator's charts are built from a real view: the right traces, the order's fill range marked."""

from dataclasses import replace

from core import scenario as sc
from core.figures import breakdown_figure, curve_figure, depth_figure
from core.goquant import parse_snapshot
from core.instruments import get_instrument


def test_figures_show_the_order_on_a_real_book(recorded_messages):
    inst = get_instrument("binance-futures", "BTCUSDT")
    snap = parse_snapshot(recorded_messages[0], instrument=inst)
    scenario = sc.parse_inputs(replace(sc.RawInputs(), quantity_usd=250_000.0), exchange=inst.exchange,
                               market=inst.kind, limit_available=False)
    view = sc.compute_view(snap, scenario)
    b, d, c = breakdown_figure(view), depth_figure(view, inst.base, inst.quote), curve_figure(view)
    assert len(b.data) >= 1 and len(b.data[0].x) == 4  # slippage, impact, fees, net
    names = " ".join(t.name or "" for t in d.data)
    assert "Bids" in names and "Asks" in names and "fill range" in names
    assert c.layout.xaxis.type == "log"
