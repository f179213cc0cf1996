"""A live source's public trades (OKX ``trades``) as the online calibration's tape: parsing real captured frames in
base units, the bounded live tape, and the calibration scoring them exactly as it scores a recording's tape."""

from __future__ import annotations

import numpy as np
import orjson
import pandas as pd
import pytest

from core.errors import ParseError
from core.feed.okx import OkxAdapter, parse_trades
from core.learned.models import load_models
from core.learned.online import OnlineSteps
from core.market.instruments import get_instrument
from core.market.tape import LiveTape, Tape
from core.pricing import calibration as calib
from core.pricing.calibration import CalibrationState, OnlineCalibration
from tests.conftest import okx_frames

SPOT = get_instrument("okx", "BTC-USDT")
STEPS = OnlineSteps(band_step=3.0, share_step=0.03, source="test")


def _frames(inst_id: str = "BTC-USDT") -> list[dict]:
    """The capture's book and trade pushes of ``inst_id``, in the order OKX sent them."""
    out = []
    for _, raw in okx_frames():
        m = orjson.loads(raw)
        arg = m.get("arg") or {}
        if "data" in m and arg.get("instId") == inst_id and arg.get("channel") in ("books", "trades"):
            out.append(m)
    return out


def test_real_trade_pushes_parse_in_base_units_with_the_takers_side():
    pushes = [m for m in _frames() if m["arg"]["channel"] == "trades"]
    assert len(pushes) > 50
    rows = [d for m in pushes for d in m["data"]]
    tape = Tape.joined([parse_trades(m, SPOT) for m in pushes])
    assert len(tape) == len(rows)
    by_id = sorted(rows, key=lambda d: int(d["ts"]))  # a hand check: spot sizes are BTC, side is the taker's
    assert tape.ts_ms.tolist() == [int(d["ts"]) for d in by_id]
    assert np.allclose(np.sort(tape.qty), np.sort([float(d["sz"]) for d in rows]))
    assert int((tape.side == 1).sum()) == sum(d["side"] == "buy" for d in rows)


def test_swap_trades_convert_contracts_linear_and_inverse():
    def push(inst_id: str, px: str, sz: str, side: str = "buy") -> dict:
        d = {"instId": inst_id, "tradeId": "1", "px": px, "sz": sz, "side": side, "ts": "1652459224818"}
        return {"arg": {"channel": "trades", "instId": inst_id}, "data": [d]}

    linear = parse_trades(push("BTC-USDT-SWAP", "30000", "7"), get_instrument("okx", "BTC-USDT-SWAP"))
    assert linear.qty[0] == pytest.approx(0.07)  # 7 contracts of 0.01 BTC
    inverse = parse_trades(push("BTC-USD-SWAP", "30000", "150", "sell"), get_instrument("okx", "BTC-USD-SWAP"))
    assert inverse.qty[0] == pytest.approx(150 * 100 / 30000)  # 150 contracts of 100 USD at 30,000 USD/BTC
    assert inverse.side[0] == -1  # a sell taker


@pytest.mark.parametrize(
    "data",
    [
        [{"px": "1", "sz": "1", "ts": "99999999999999999999", "side": "buy"}],  # would overflow the tape
        [{"px": "1", "sz": "1", "ts": "0", "side": "buy"}],
        None,
        [{"px": "1", "sz": "1", "ts": "1"}],
        [{"px": "x", "sz": "1", "ts": "1", "side": "buy"}],
        [{"px": "1", "sz": "-1", "ts": "1", "side": "buy"}],
        [{"px": "1", "sz": "1", "ts": "1", "side": "up"}],
    ],
)
def test_a_malformed_trade_push_is_refused_with_a_reason(data):
    with pytest.raises(ParseError) as exc:
        parse_trades({"arg": {"channel": "trades"}, "data": data}, SPOT)
    assert exc.value.reason == "bad_trades"


def test_the_live_tape_hands_over_what_arrived_in_time_order_and_stays_bounded():
    tape = LiveTape(max_pending=5)
    tape.append(Tape.from_rows([(20, 1.0, 1.0, False), (30, 1.0, 1.0, True)]))
    tape.append(Tape.from_rows([(10, 1.0, 2.0, False)]))  # a trade that arrived late
    got = tape.take()
    assert (
        got.ts_ms.tolist() == [10, 20, 30] and got.qty.tolist() == [2.0, 1.0, 1.0] and got.side.tolist() == [1, 1, -1]
    )
    assert len(tape.take()) == 0 and tape.received == 3
    for k in range(4):  # a reader that stopped: the oldest go, counted
        tape.append(Tape.from_rows([(k, 1.0, 1.0, False), (k, 1.0, 1.0, False)]))
    assert tape.dropped == 4 and len(tape.take()) == 4  # 8 appended, at most 5 held: whole pushes go
    tape.clear()
    assert tape.received == tape.dropped == 0 and tape.generation == 1


def _events():
    """(exchange time, kind, push) of the capture's BTC-USDT books and trades, by exchange time."""
    out = []
    for m in _frames():
        if m["arg"]["channel"] == "trades":
            out.append((min(int(d["ts"]) for d in m["data"]), 0, m))
        else:
            out.append((int(m["data"][0]["ts"]), 1, m))
    return sorted(out, key=lambda e: (e[0], e[1]))


def test_live_trades_are_scored_exactly_as_a_recorded_tape_of_the_same_trades(tmp_path, monkeypatch):
    """With no lag and a take on every book, the live path must give the recorded path's trackers: the same orders
    scored on the same books. (The lag only delays scoring; ``test_feed``'s loopback test runs it with the lag.)"""
    monkeypatch.setattr(calib, "LIVE_LAG_MS", 0)
    monkeypatch.setattr(calib, "LIVE_SYNC_MS", 0)
    models = load_models().models
    live_tape = LiveTape()
    adapter = OkxAdapter(SPOT, "ws://127.0.0.1:1/ws/v5/public")
    adapter.trades = live_tape
    live = OnlineCalibration(models, STEPS)
    live.follow(live_tape, ("okx", "BTC-USDT"))
    books, trades = [], []
    for _, _, m in _events():
        snap = adapter.on_message(orjson.dumps(m), 0)
        if m["arg"]["channel"] == "trades":
            trades.append(parse_trades(m, SPOT))
        if snap is not None:
            books.append(snap)
            live.on_book(snap)
    st = live.status()
    assert st.state is CalibrationState.LEARNING and st.live and st.tape == calib.LIVE_TAPE
    assert st.taker_orders > 10 and st.skipped["late_trades"] == 0
    # the same trades as a recording's tape file
    t = Tape.joined(trades)
    path = tmp_path / "okx_trades.parquet"
    pd.DataFrame({"ts_ms": t.ts_ms, "price": t.price, "qty": t.qty, "buyer_is_maker": t.side < 0}).to_parquet(path)
    recorded = OnlineCalibration(models, STEPS)
    recorded.follow(path, ("okx", "BTC-USDT"))
    for snap in books:
        recorded.on_book(snap)
    rt = recorded.status()
    assert not rt.live and rt.taker_orders == st.taker_orders
    assert rt.band == st.band and rt.share == st.share and rt.resting_orders == st.resting_orders


def test_with_the_lag_the_last_second_waits_and_a_late_trade_is_counted_not_scored():
    from dataclasses import replace

    models = load_models().models
    live_tape = LiveTape()
    cal = OnlineCalibration(models, STEPS)
    cal.follow(live_tape, ("okx", "BTC-USDT"))
    adapter = OkxAdapter(SPOT, "ws://127.0.0.1:1/ws/v5/public")
    adapter.trades = live_tape
    books = []
    for _, _, m in _events():
        snap = adapter.on_message(orjson.dumps(m), 0)
        if snap is not None:
            books.append(snap)
            cal.on_book(snap)
    scored = cal.status().taker_orders
    last = books[-1]
    t = last.exchange_ts_ms
    assert cal._orders is not None
    waiting = int(((cal._orders.ts_ms >= t - calib.LIVE_LAG_MS) & (cal._orders.ts_ms < t)).sum())
    assert waiting > 0  # the capture's last second has taker orders, not scored yet
    cal.on_book(replace(last, exchange_ts_ms=t + 2 * calib.LIVE_LAG_MS, seq=last.seq + 1))  # a second later
    assert scored < cal.status().taker_orders <= scored + waiting
    # a trade stamped before the moment already scored, arriving now: counted, never scored
    live_tape.append(Tape.from_rows([(t - 5000, float(last.mid), 0.01, False)]))
    before = cal.status().taker_orders
    cal.on_book(replace(last, exchange_ts_ms=t + 3 * calib.LIVE_LAG_MS, seq=last.seq + 2))
    assert cal.status().skipped["late_trades"] == 1 and cal.status().taker_orders == before


def test_the_models_page_says_the_calibration_follows_the_live_trades():
    from core.views.models import online_view

    live_tape = LiveTape()
    cal = OnlineCalibration(load_models().models, STEPS)
    cal.follow(live_tape, ("okx", "BTC-USDT"))
    st = cal.status()
    v = online_view(st, 0.1, now_s=st.since_s + 30)
    assert v.learning and "public trades its live feed streams, as they arrive" in v.headline
    assert "OKX BTC-USDT" in v.headline and "30 s ago" in v.headline and "recording's own times" not in v.headline
    # the same status through the bus (an ingest on a live feed) says so on a replica too
    back = type(st).from_doc(orjson.loads(orjson.dumps(st.to_doc())), run="r1")
    assert back.live and "The ingest service (run r1) checks" in online_view(back).headline


def test_a_failing_listener_never_stops_the_tape():
    tape = LiveTape()
    got: list[int] = []

    def broken(t: Tape) -> None:
        raise RuntimeError("a recorder's bug")

    tape.add_listener(broken)
    tape.add_listener(lambda t: got.append(len(t)))
    tape.append(Tape.from_rows([(1, 1.0, 1.0, False)]))
    assert got == [1] and len(tape.take()) == 1


def _fed(cal: OnlineCalibration, live_tape: LiveTape, delay_ms: int = 0, connection: int | None = None) -> list:
    """The capture's BTC-USDT books through an adapter into ``cal``; each trade push arrives ``delay_ms`` of book
    time after its first trade (a slow trades channel), each book with the feed's ``connection`` count. Returns the
    books."""
    adapter = OkxAdapter(SPOT, "ws://127.0.0.1:1/ws/v5/public")
    events = [(ts + (delay_ms if kind == 0 else 0), kind, m) for ts, kind, m in _events()]
    books = []
    for _, _, m in sorted(events, key=lambda e: (e[0], e[1])):
        if m["arg"]["channel"] == "trades":
            live_tape.append(parse_trades(m, SPOT))
            continue
        snap = adapter.on_message(orjson.dumps(m), 0)
        if snap is not None:
            books.append(snap)
            cal.on_book(snap, connection=connection)
    return books


def test_a_trade_within_the_lag_is_scored_one_later_is_counted_late():
    models = load_models().models
    on_time, slow = LiveTape(), LiveTape()
    a, b = OnlineCalibration(models, STEPS), OnlineCalibration(models, STEPS)
    a.follow(on_time, ("okx", "BTC-USDT"))
    b.follow(slow, ("okx", "BTC-USDT"))
    _fed(a, on_time, delay_ms=0)
    _fed(b, slow, delay_ms=calib.LIVE_LAG_MS - 100)  # 0.9 s late: within the lag, whenever the take falls
    assert b.status().skipped["late_trades"] == 0 and b.status().band == a.status().band
    c, late = OnlineCalibration(models, STEPS), LiveTape()
    c.follow(late, ("okx", "BTC-USDT"))
    _fed(c, late, delay_ms=3 * calib.LIVE_LAG_MS)  # 3 s late: their moment was scored before they came
    assert c.status().skipped["late_trades"] > 0 and c.status().taker_orders < a.status().taker_orders


def test_a_reconnect_gap_leaves_resting_orders_unscored_and_a_clock_step_back_starts_over():
    from dataclasses import replace

    models = load_models().models
    live_tape = LiveTape()
    cal = OnlineCalibration(models, STEPS)
    cal.follow(live_tape, ("okx", "BTC-USDT"))
    books = _fed(cal, live_tape)
    last = books[-1]
    spanning = sum(r.end_ms > last.exchange_ts_ms for r in cal._resting)  # their rest reaches past the last book
    ended = len(cal._resting) - spanning
    assert spanning > 0
    before = sum(cal.status().share.outcomes)
    # the books stop for two minutes (a reconnect; the trades of that time never arrive)
    cal.on_book(replace(last, exchange_ts_ms=last.exchange_ts_ms + 121_000, seq=last.seq + 1))
    st = cal.status()
    # none scored as an unfilled one: only those whose rest had ended before the gap are
    assert st.skipped["resting_in_gap"] == spanning and sum(st.share.outcomes) == before + ended
    # the clock steps back 5 s: the trackers start over and what was kept is dropped, so nothing is scored twice
    cal.on_book(replace(last, exchange_ts_ms=last.exchange_ts_ms + 116_000, seq=last.seq + 2))
    st = cal.status()
    assert st.taker_orders == 0 and not any(st.band.outcomes) and cal._trades[0].size == 0
    # and trades after the step back are taken and scored (not counted late)
    t0 = last.exchange_ts_ms + 116_000
    live_tape.append(Tape.from_rows([(t0 + 100, float(last.best_ask), 0.01, False)]))
    for k in range(1, 12):
        cal.on_book(replace(last, exchange_ts_ms=t0 + 250 * k, seq=last.seq + 2 + k))
    st = cal.status()
    assert st.skipped["late_trades"] == 0 and st.taker_orders == 1


def test_a_short_reconnect_is_seen_by_the_connection_count_not_only_by_a_pause():
    """A reconnect of under a second leaves no pause in the books' times, but its trades were lost all the same:
    the feed's connection count (``Adapter.connections``, passed with each book) says so."""
    from dataclasses import replace

    models = load_models().models
    live_tape = LiveTape()
    cal = OnlineCalibration(models, STEPS)
    cal.follow(live_tape, ("okx", "BTC-USDT"))
    books = _fed(cal, live_tape, connection=1)
    last = books[-1]
    spanning = sum(r.end_ms > last.exchange_ts_ms for r in cal._resting)
    assert spanning > 0
    cal.on_book(replace(last, exchange_ts_ms=last.exchange_ts_ms + 300, seq=last.seq + 1), connection=1)
    assert cal.status().skipped["resting_in_gap"] == 0  # the same connection, no pause: nothing lost
    cal.on_book(replace(last, exchange_ts_ms=last.exchange_ts_ms + 600, seq=last.seq + 2), connection=2)
    assert cal.status().skipped["resting_in_gap"] == spanning  # a new connection 0.3 s later: counted
