"""The cost tracker prices the open pages' orders on every book the real feed delivers, and stays bounded."""

from __future__ import annotations

import threading

import pytest

from core.costs.fees import get_tier
from core.costs.order import Order
from core.feed.config import FeedConfig, Source
from core.feed.store import BookStore
from core.market.instruments import get_instrument
from core.pricing.pricer import CostFigures, TickPricer
from core.pricing.tracker import CostTracker
from core.runtime import Runtime

FUT = get_instrument("binance-futures", "BTCUSDT")
TIER = get_tier(FUT.exchange, FUT.kind)


def on_store(store: BookStore, **settings) -> CostTracker:
    """A tracker wired to ``store`` the way ``core.runtime`` wires it."""
    return CostTracker(mids=store.mids, record_tick_cost=store.record_tick_cost, **settings)


def pricer(size: float = 100.0, unit: str = "quote") -> TickPricer:
    return TickPricer(Order("buy", size, unit=unit), fee_tier=TIER)


class Collect:
    """A feed listener keeping every book; ``done`` is set once ``n`` arrived."""

    def __init__(self, n: int) -> None:
        self.n, self.books, self.done = n, [], threading.Event()

    def __call__(self, adapter, snap) -> None:
        self.books.append(snap)
        if len(self.books) == self.n:
            self.done.set()


def test_every_book_of_a_real_replay_is_priced_for_the_tracked_order(feed, slice_file):
    collect = Collect(150)
    books = collect.books
    feed.add_listener(collect)  # added before the runtime, and still run after its tracker
    rt = Runtime(feed)
    est = pricer(25_000.0)
    track = rt.track("k", lambda: est, exchange=FUT.exchange, symbol=FUT.symbol)
    feed.start(FeedConfig(source=Source.REPLAY, replay_file=str(slice_file), replay_speed=0, replay_loop=False))
    assert collect.done.wait(20), f"only {len(books)} books arrived"
    figs = rt.figures(track)
    by_recv = {f.recv_ns: f for f in figs}
    for snap in books[:150]:
        f = by_recv[snap.recv_ns]  # each book a listener sees is already priced
        vol = rt.tracker.volatility(snap, None)  # cached: at most a second old, as on the feed thread
        want = est.figures(snap, vol)
        assert f.compiled and f.net_cost_usd == pytest.approx(want.net_cost_usd, rel=1e-9)
        assert f.mid == snap.mid
    timings = feed.store.tick_timings()
    assert timings["tick_cost_us"].size >= 150 and (timings["tracked_orders"] == 1).all()
    assert track.error is None


def test_same_inputs_share_one_track_and_different_inputs_get_their_own():
    tr = on_store(BookStore())
    made = []

    def factory():
        made.append(1)
        return pricer()

    a = tr.track(("buy", 100), factory, exchange=FUT.exchange, symbol=FUT.symbol)
    b = tr.track(("buy", 100), factory, exchange=FUT.exchange, symbol=FUT.symbol)
    c = tr.track(("sell", 100), factory, exchange=FUT.exchange, symbol=FUT.symbol)
    assert a is b and a is not c and len(made) == 2 and len(tr) == 2


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_idle_tracks_are_dropped_and_the_count_is_capped(recorded_messages):
    from core.feed.goquant import parse_snapshot

    clock = Clock()
    store = BookStore()
    tr = on_store(store, idle_s=30.0, max_tracks=3, clock=clock)
    old = tr.track("old", pricer, exchange=FUT.exchange, symbol=FUT.symbol)
    clock.t += 31.0
    snap = parse_snapshot(recorded_messages[0], instrument=FUT)
    store.publish(snap)
    tr(None, snap)  # the idle track is not priced, and is dropped
    assert len(tr) == 0 and len(tr.figures(old)) == 0
    for i in range(5):
        clock.t += 1.0
        tr.track(i, pricer, exchange=FUT.exchange, symbol=FUT.symbol)
    assert len(tr) == 3 and set(tr._tracks) == {2, 3, 4}  # the most recently asked survive


def test_an_order_the_book_cannot_price_reports_a_plain_error_and_others_go_on(recorded_messages):
    from core.feed.goquant import parse_snapshot

    store = BookStore()
    tr = on_store(store)
    bad = tr.track("bad", lambda: pricer(1e7, "base"), exchange=FUT.exchange, symbol=FUT.symbol)
    good = tr.track("good", pricer, exchange=FUT.exchange, symbol=FUT.symbol)
    for raw in recorded_messages[:5]:
        snap = parse_snapshot(raw, instrument=FUT)
        store.publish(snap)
        tr(None, snap)
    assert "check the size" in bad.error and not tr.figures(bad)
    assert len(tr.figures(good)) == 5 and all(isinstance(f, CostFigures) for f in tr.figures(good))


def test_volatility_is_recomputed_at_most_once_a_second(recorded_messages):
    from core.feed.goquant import parse_snapshot

    clock = Clock()
    store = BookStore()
    tr = on_store(store, clock=clock)
    snap = parse_snapshot(recorded_messages[0], instrument=FUT)
    store.publish(snap)
    v1 = tr.volatility(snap, None)
    assert tr.volatility(snap, None) is v1
    assert tr.volatility(snap, 0.8) is not v1 and tr.volatility(snap, 0.8).annual == pytest.approx(0.8)
    clock.t += 1.01
    assert tr.volatility(snap, None) is not v1


def test_tracks_of_another_instrument_are_not_priced(recorded_messages):
    from core.feed.goquant import parse_snapshot

    store = BookStore()
    tr = on_store(store)
    other = tr.track("okx", pricer, exchange="okx", symbol="BTC-USDT-SWAP")
    snap = parse_snapshot(recorded_messages[0], instrument=FUT)
    store.publish(snap)
    tr(None, snap)
    assert not tr.figures(other) and store.tick_timings()["tick_cost_us"].size == 0


class Broken:
    """Stands in for a TickPricer with a bug: any exception, not only the plain order errors."""

    def figures(self, snap, vol):
        raise ZeroDivisionError("a bug")


def test_a_failing_track_does_not_stop_the_others(recorded_messages, caplog):
    from core.feed.goquant import parse_snapshot

    store = BookStore()
    tr = on_store(store)
    bad = tr.track("bug", Broken, exchange=FUT.exchange, symbol=FUT.symbol)
    good = tr.track("good", pricer, exchange=FUT.exchange, symbol=FUT.symbol)
    for raw in recorded_messages[:3]:
        snap = parse_snapshot(raw, instrument=FUT)
        store.publish(snap)
        tr(None, snap)
    assert "internal error" in bad.error and len(tr.figures(good)) == 3
    assert store.tick_timings()["tick_cost_us"].size == 3
    assert "pricing a tracked order failed" in caplog.text


def test_a_session_holds_one_track_and_others_keep_theirs():
    clock = Clock()
    tr = on_store(BookStore(), max_tracks=3, clock=clock)
    mine = tr.track("other-session", pricer, exchange=FUT.exchange, symbol=FUT.symbol, owner="s2")
    for size in range(100, 120):  # one visitor drags the size through 20 values
        clock.t += 0.1
        last = tr.track(("size", size), pricer, exchange=FUT.exchange, symbol=FUT.symbol, owner="s1")
    assert set(tr._tracks) == {"other-session", ("size", 119)} and last.owners == {"s1"}
    assert tr._tracks["other-session"] is mine
    shared = tr.track(("size", 119), pricer, exchange=FUT.exchange, symbol=FUT.symbol, owner="s2")
    assert shared is last and shared.owners == {"s1", "s2"} and "other-session" not in tr._tracks


def test_a_failing_tracker_never_stops_the_feed_nor_the_listeners_after_it(feed, slice_file, caplog):
    collect = Collect(50)

    class Boom(CostTracker):
        def __call__(self, adapter, snap):
            raise ZeroDivisionError("a pricing bug")

    store = feed.store
    Runtime(feed, tracker=Boom(mids=store.mids, record_tick_cost=store.record_tick_cost))
    feed.add_listener(collect)
    feed.start(FeedConfig(source=Source.REPLAY, replay_file=str(slice_file), replay_speed=0, replay_loop=False))
    assert collect.done.wait(20), f"only {len(collect.books)} books arrived"
    assert store.status().books >= 50 and "feed listener failed" in caplog.text and "a pricing bug" in caplog.text
