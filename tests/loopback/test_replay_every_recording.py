"""Every bundled recording replays through the app's own path (replay server -> feed client -> GoQuant parser ->
book store) and prices a $10k buy with plausible numbers; COIN-M contracts arrive as BTC."""

from __future__ import annotations

import itertools
import threading

import orjson
import pytest

from core.costs.estimate import estimate
from core.costs.fees import get_tier
from core.costs.order import Order, SizeUnit
from core.feed.config import FeedConfig, Source
from core.feed.recording import RecordingWriter, load_recording
from core.feed.replay import bundled_recordings
from core.market.instruments import get_instrument

N = 40  # books per recording: every 50th of the first 2,000


@pytest.mark.parametrize("rec", bundled_recordings(), ids=lambda r: r.path.name)
def test_a_slice_of_every_recording_replays_and_prices_a_10k_buy(rec, feed, tmp_path):
    raw = list(itertools.islice(load_recording(rec.path).iter_messages(), 0, 50 * N, 50))
    path = tmp_path / rec.path.name
    with RecordingWriter(path) as w:
        for m in raw:
            w.write(m)
    got = []
    done = threading.Event()

    def collect(adapter, snap):
        got.append(snap)
        if len(got) == N:
            done.set()

    feed.add_listener(collect)
    feed.start(FeedConfig(source=Source.REPLAY, replay_file=str(path), replay_speed=0, replay_loop=False))
    assert done.wait(30), f"only {len(got)} of {N} books arrived"
    assert feed.store.status().parse_error_total == 0

    inst = get_instrument(rec.exchange, rec.symbol)
    tier = get_tier(inst.exchange, inst.kind)
    order = Order(side="buy", quantity=10_000.0, unit=SizeUnit.QUOTE)
    for snap, msg in zip(got[:N], raw, strict=True):  # a non-looping replay may start over after the end
        doc = orjson.loads(msg)
        assert (snap.exchange, snap.symbol) == (rec.exchange, rec.symbol)
        px, size = (float(x) for x in doc["asks"][0])
        # the venue's size unit becomes base units: contracts x 100 USD / price on COIN-M, unchanged elsewhere
        want = size * inst.ct_val / px if inst.sized_in_contracts else size
        assert snap.ask_px[0] == px and snap.ask_sz[0] == pytest.approx(want, rel=1e-12)
        book_usd = float((snap.bid_px * snap.bid_sz).sum() + (snap.ask_px * snap.ask_sz).sum())
        assert 1e5 < book_usd < 2e9, f"{book_usd:,.0f} USD on the recorded book: a unit is wrong"
        est = estimate(snap, order, fee_tier=tier)
        assert est.fully_filled and est.filled_usd == pytest.approx(10_000.0, rel=1e-9)
        assert est.filled_base == pytest.approx(10_000.0 / est.avg_price, rel=1e-9)
        assert est.net_cost_usd > 0 and est.fee_usd == pytest.approx(10_000.0 * tier.taker_rate)
        assert est.avg_price >= est.best_ask * (1 - 1e-12) and abs(est.avg_price / est.mid - 1) < 0.01
