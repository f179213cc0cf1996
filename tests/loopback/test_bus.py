"""The book bus with the real parts: a real redis-server on a free loopback port, a real ingest (replay feed
on loopback) publishing to it, real readers filling real book stores; Redis killed and frozen on cue.

Every wait is bounded (``wait_for``); no test asserts a time beyond its generous deadline.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import redis

from core.feed.bus import BusReader, BusSettings, encode_book, stream_key
from core.feed.config import FeedConfig, Source
from core.feed.goquant import parse_snapshot
from core.feed.store import BookStore, FeedState
from core.ingest import Ingest
from core.market.book import BookSnapshot
from core.market.instruments import get_instrument
from tests.conftest import FAST, ROOT, wait_for

FUT = get_instrument("binance-futures", "BTCUSDT")
KEY = ("binance-futures", "BTCUSDT")
SETTINGS = BusSettings(stale_after_s=1.0, heartbeat_s=0.2, backoff_max_s=0.5, socket_timeout_s=0.5)

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not installed (`make test` installs it)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A real redis-server on loopback without persistence; can be killed, restarted and frozen."""

    def __init__(self, password: str | None = None) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.password = password
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        args = ["redis-server", "--save", "", "--appendonly", "no", "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--requirepass", self.password] if self.password else []
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, password=self.password, socket_timeout=0.5, socket_connect_timeout=0.5)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        assert wait_for(answers, 10), "redis-server did not answer PING"
        client.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)  # a frozen server must be able to die
        self.proc.kill()
        self.proc.wait(10)
        self.proc = None

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, password=self.password, socket_timeout=2, socket_connect_timeout=2)


@pytest.fixture
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    if server.proc is not None:
        server.kill()


PASSWORD = "s3cret-" + "x" * 20  # what the tests give redis-server's requirepass


@pytest.fixture
def secured_redis():
    """A real redis-server that refuses clients without ``PASSWORD`` (``requirepass``)."""
    server = RedisServer(password=PASSWORD)
    server.start()
    yield server
    if server.proc is not None:
        server.kill()


@pytest.fixture
def readers():
    made: list[BusReader] = []

    def make(url: str, instruments=(KEY,), settings: BusSettings = SETTINGS) -> BusReader:
        reader = BusReader(url, BookStore(), instruments, settings=settings)
        made.append(reader)
        return reader.start()

    yield make
    for r in made:
        r.stop()


@pytest.fixture
def ingests():
    made: list[Ingest] = []

    def make(url: str, replay_file: Path, *, run: str = "", speed: float = 10.0) -> Ingest:
        config = FeedConfig(source=Source.REPLAY, replay_file=str(replay_file), replay_speed=speed)
        ingest = Ingest([config], bus_url=url, settings=SETTINGS, feed_settings=FAST, run=run)
        made.append(ingest)
        return ingest.start()

    yield make
    for i in made:
        i.stop()


def same_book(a: BookSnapshot, b: BookSnapshot) -> bool:
    return (
        a.key == b.key
        and a.source == b.source
        and a.exchange_ts_ms == b.exchange_ts_ms
        and a.recv_ns == b.recv_ns
        and a.seq == b.seq
        and all(np.array_equal(getattr(a, n), getattr(b, n)) for n in ("bid_px", "bid_sz", "ask_px", "ask_sz"))
        and all(np.array_equal(getattr(a, n), getattr(b, n)) for n in ("bid_cum_quote", "ask_cum_quote"))
    )


def fresh(reader: BusReader) -> bool:
    return reader.store.state is FeedState.LIVE and reader.age_s(*KEY) < 0.5


def test_books_from_a_real_ingest_reach_the_reader_unchanged(redis_server, readers, ingests, slice_file):
    reader = readers(redis_server.url)
    got: list[BookSnapshot] = []
    reader.add_listener(lambda _src, snap: got.append(snap))
    ingest = ingests(redis_server.url, slice_file)
    sent: dict[tuple[int, int], BookSnapshot] = {}
    ingest.feeds[0].add_listener(lambda _a, snap: sent.__setitem__((snap.seq, snap.recv_ns), snap))
    assert wait_for(lambda: len(got) >= 30, 20), f"only {len(got)} books arrived through the bus"
    checked = [b for b in list(got) if (b.seq, b.recv_ns) in sent]  # books published before we listened aside
    assert len(checked) >= 20
    for book in checked:
        assert same_book(book, sent[(book.seq, book.recv_ns)])
    st = reader.store.status()
    assert st.source == "bus" and st.parse_error_total == 0 and st.state is FeedState.LIVE
    latest = reader.store.latest(*KEY)
    assert latest is not None and any(latest is b for b in got)
    assert wait_for(lambda: reader.ingest_status(*KEY) is not None, 5)
    doc = reader.ingest_status(*KEY)
    assert doc is not None and doc["run"] == ingest.run and doc["state"] == "live" and doc["books"] > 0


def test_two_readers_show_the_same_newest_book(redis_server, readers, ingests, slice_file):
    ingest = ingests(redis_server.url, slice_file)
    a, b = readers(redis_server.url), readers(redis_server.url)
    assert wait_for(lambda: fresh(a) and fresh(b), 20)
    ingest.stop()  # the stream's newest entry stays put: both readers must end on it
    newest = redis_server.client().xrevrange(stream_key(*KEY), "+", "-", count=1)[0][1]
    seq = int(newest[b"book_seq"])

    def on_newest(r: BusReader) -> bool:
        book = r.store.latest(*KEY)
        return book is not None and book.seq == seq

    assert wait_for(lambda: on_newest(a) and on_newest(b), 10)
    book_a, book_b = a.store.latest(*KEY), b.store.latest(*KEY)
    assert book_a is not None and book_b is not None and same_book(book_a, book_b)


def good_entry(snap: BookSnapshot, run: str, seq: int) -> dict:
    return encode_book(snap, run=run, seq=seq, pub_ns=time.time_ns())


def corrupt(entry: dict, case: str) -> dict:
    e = dict(entry)
    if case == "missing_field":
        del e["ask_sz"]
    elif case == "wrong_shape":
        e["bid_px"] = e["bid_px"][:-3]
    elif case == "bad_field":
        e["seq"] = "seven"
    elif case == "crossed_book":
        px = np.frombuffer(e["bid_px"], dtype="<f8").copy()
        px += 1e6
        e["bid_px"] = px.tobytes()
    elif case == "non_finite_level":
        sz = np.frombuffer(e["ask_sz"], dtype="<f8").copy()
        sz[3] = np.nan
        e["ask_sz"] = sz.tobytes()
    elif case == "unsorted_levels":
        px = np.frombuffer(e["ask_px"], dtype="<f8").copy()
        px[[1, 2]] = px[[2, 1]]
        e["ask_px"] = px.tobytes()
    elif case == "wrong_instrument":
        e["symbol"] = "ETHUSDT"
    return e


@pytest.mark.parametrize(
    "case",
    [
        "missing_field",
        "wrong_shape",
        "bad_field",
        "crossed_book",
        "non_finite_level",
        "unsorted_levels",
        "wrong_instrument",
    ],
)
def test_a_malformed_entry_is_counted_and_skipped(redis_server, readers, recorded_messages, case):
    first, second = (
        parse_snapshot(m, instrument=FUT, source="replay", seq=i) for i, m in enumerate(recorded_messages[:2])
    )
    r = redis_server.client()
    reader = readers(redis_server.url)
    r.xadd(stream_key(*KEY), good_entry(first, "run-a", 1))
    assert wait_for(lambda: reader.store.latest(*KEY) is not None, 10)
    r.xadd(stream_key(*KEY), corrupt(good_entry(second, "run-a", 2), case))
    assert wait_for(lambda: reader.store.status().parse_errors.get(case) == 1, 10), reader.store.status().parse_errors
    assert same_book(reader.store.latest(*KEY), first)  # the malformed one was never shown
    r.xadd(stream_key(*KEY), good_entry(second, "run-a", 3))
    assert wait_for(lambda: reader.store.latest(*KEY).seq == second.seq, 10)
    assert same_book(reader.store.latest(*KEY), second) and reader.store.status().parse_error_total == 1


def test_an_old_entry_left_on_the_bus_is_shown_stale_never_live(redis_server, readers, recorded_messages):
    """A replica that starts after the ingest died finds the stream's last entry: its age counts from its
    publish time, so it is shown (the last good book) but marked stale, not live."""
    book = parse_snapshot(recorded_messages[0], instrument=FUT, source="replay", seq=0)
    r = redis_server.client()
    hour_ago = time.time_ns() - 3_600 * 1_000_000_000
    r.xadd(stream_key(*KEY), encode_book(book, run="gone", seq=1, pub_ns=hour_ago))
    reader = readers(redis_server.url)
    states: list[FeedState] = []
    assert wait_for(lambda: states.append(reader.store.state) or reader.store.latest(*KEY) is not None, 10)
    end = time.monotonic() + 1.0
    while time.monotonic() < end:  # watch a while: it must never flip to live
        states.append(reader.store.state)
        time.sleep(0.02)
    assert FeedState.LIVE not in states and reader.store.state is FeedState.STALE
    assert reader.age_s(*KEY) > 3_000 and same_book(reader.store.latest(*KEY), book)


def test_an_entry_not_newer_than_the_last_of_its_run_is_dropped(redis_server, readers, recorded_messages):
    books = [parse_snapshot(m, instrument=FUT, source="replay", seq=i) for i, m in enumerate(recorded_messages[:3])]
    r = redis_server.client()
    reader = readers(redis_server.url)
    r.xadd(stream_key(*KEY), good_entry(books[0], "run-a", 5))
    assert wait_for(lambda: reader.store.latest(*KEY) is not None, 10)
    r.xadd(stream_key(*KEY), good_entry(books[1], "run-a", 5))  # replayed or duplicated: not newer
    r.xadd(stream_key(*KEY), good_entry(books[2], "run-a", 4))
    assert wait_for(lambda: reader.skipped_old >= 1, 10)
    assert same_book(reader.store.latest(*KEY), books[0])
    r.xadd(stream_key(*KEY), good_entry(books[1], "run-b", 1))  # a new run starts at 1 and is followed
    assert wait_for(lambda: reader.store.latest(*KEY).seq == books[1].seq, 10)
    assert reader.store.status().parse_error_total == 0


def test_an_ingest_restart_with_a_new_run_id_is_followed(redis_server, readers, ingests, slice_file):
    reader = readers(redis_server.url)
    first = ingests(redis_server.url, slice_file, run="first")
    assert wait_for(lambda: fresh(reader), 20)
    first.stop()
    assert wait_for(lambda: reader.store.state is FeedState.STALE, 10)  # the ingest is gone: stale by age
    runs: list[str] = []
    reader.add_listener(lambda _src, _snap: runs.append(reader._last[KEY][0]))
    ingests(redis_server.url, slice_file, run="second")  # its sequence numbers start over at 1
    assert wait_for(lambda: fresh(reader) and runs and runs[-1] == "second", 20)
    assert wait_for(lambda: reader.ingest_status(*KEY) and reader.ingest_status(*KEY)["run"] == "second", 5)


@pytest.mark.parametrize("down_s", [2.0, 10.0])  # 2 s: redis-py could hide it; 10 s: ConnectionErrors for sure
def test_redis_killed_goes_stale_keeps_the_book_and_recovers(redis_server, readers, ingests, slice_file, down_s):
    reader = readers(redis_server.url)
    ingests(redis_server.url, slice_file)
    assert wait_for(lambda: fresh(reader), 20)
    redis_server.kill()
    killed = time.monotonic()
    assert wait_for(lambda: reader.store.state is FeedState.STALE, 10)
    kept = reader.store.latest(*KEY)
    assert kept is not None  # the last good book stays, marked stale
    time.sleep(max(0.0, down_s - (time.monotonic() - killed)))
    redis_server.start()
    assert wait_for(lambda: fresh(reader), 15), reader.store.status()
    assert reader.store.latest(*KEY).recv_ns > kept.recv_ns
    assert reader.store.status().reconnects >= 1 and reader.store.status().parse_error_total == 0


def test_a_slow_reader_skips_ahead_to_the_newest_book_instead_of_lagging(redis_server, readers, recorded_messages):
    """A reader that falls behind (here: starts after 500 books were published) shows the newest book at once
    and never walks through the backlog."""
    books = [parse_snapshot(m, instrument=FUT, source="replay", seq=i) for i, m in enumerate(recorded_messages[:50])]
    r = redis_server.client()
    pipe = r.pipeline(transaction=False)
    for seq in range(1, 501):
        pipe.xadd(stream_key(*KEY), good_entry(books[seq % len(books)], "run-a", seq))
    pipe.execute()
    newest = books[500 % len(books)]
    reader = readers(redis_server.url)
    shown: list[BookSnapshot] = []
    reader.add_listener(lambda _src, snap: shown.append(snap))
    assert wait_for(lambda: reader.store.latest(*KEY) is not None, 10)
    assert same_book(reader.store.latest(*KEY), newest) and reader._last[KEY] == ("run-a", 500)
    time.sleep(0.5)  # give a lagging reader the time to replay its backlog: it must not
    assert len(shown) <= 2, f"the reader walked through {len(shown)} old books"


def test_a_capped_reader_takes_at_most_one_book_per_interval_and_always_the_newest(
    redis_server, readers, recorded_messages
):
    """A replica's cap (``min_interval_s``): at 200 books a second on the bus it takes about 5 a second, and
    once publishing stops it shows the last book published, not an older one it skipped to."""
    books = [parse_snapshot(m, instrument=FUT, source="replay", seq=i) for i, m in enumerate(recorded_messages[:50])]
    capped = BusSettings(
        stale_after_s=1.0, heartbeat_s=0.2, backoff_max_s=0.5, socket_timeout_s=0.5, min_interval_s=0.2
    )
    reader = readers(redis_server.url, settings=capped)
    taken: list[BookSnapshot] = []
    reader.add_listener(lambda _src, snap: taken.append(snap))
    r = redis_server.client()
    seq, start = 0, time.monotonic()
    while time.monotonic() - start < 2.0 and seq < 1_000:  # bounded in time and count
        seq += 1
        r.xadd(stream_key(*KEY), good_entry(books[seq % len(books)], "run-a", seq))
        time.sleep(0.005)
    assert seq >= 100, "the publisher loop itself was too slow to test anything"
    assert wait_for(lambda: reader._last.get(KEY) == ("run-a", seq), 5), "the newest book was never taken"
    assert same_book(reader.store.latest(*KEY), books[seq % len(books)])
    elapsed = time.monotonic() - start
    assert 2 <= len(taken) <= elapsed / 0.2 + 3, f"{len(taken)} books taken in {elapsed:.1f} s at one per 0.2 s"


def test_the_replica_cap_comes_from_the_environment_with_a_default():
    assert BusSettings().min_interval_s == 0.0  # the library default takes every book
    assert BusSettings.from_env({}).min_interval_s == 0.05  # an app replica: 20 books a second per instrument
    assert BusSettings.from_env({"TCS_BUS_MIN_INTERVAL_S": "0.5"}).min_interval_s == 0.5


def test_redis_frozen_goes_stale_by_age_and_recovers_after_sigcont(redis_server, readers, ingests, slice_file):
    reader = readers(redis_server.url)
    ingests(redis_server.url, slice_file)
    assert wait_for(lambda: fresh(reader), 20)
    redis_server.freeze()  # raises nothing on its own: only the book's age can tell
    try:
        assert wait_for(lambda: reader.store.state is FeedState.STALE, 10)
        kept = reader.store.latest(*KEY)
        assert kept is not None
        time.sleep(1.0)
    finally:
        redis_server.thaw()
    assert wait_for(lambda: fresh(reader), 15), reader.store.status()
    assert reader.store.latest(*KEY).recv_ns > kept.recv_ns


def test_python_m_core_ingest_publishes_the_bundled_replay(redis_server, readers):
    """The entry point itself, as the operator runs it: the embedded default replays every bundled recording."""
    env = {**os.environ, "TCS_BUS": redis_server.url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.ingest", "--speed", "5"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        reader = readers(redis_server.url, instruments=(KEY, ("binance", "BTCUSDT")))
        # both books newer than the stale threshold at once (the ingest replays every bundled recording: on
        # a loaded 2-core machine its start-up alone can take tens of seconds)
        assert wait_for(lambda: max(reader.age_s(*KEY), reader.age_s("binance", "BTCUSDT")) < 1.0, 60)
        assert reader.store.latest("binance", "BTCUSDT").source == "replay"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "ingest run" in out


def test_an_app_runtime_with_tcs_bus_runs_no_feed_and_prices_every_book_from_the_bus(
    redis_server, ingests, slice_file, monkeypatch
):
    from core.costs.fees import get_tier
    from core.costs.order import Order
    from core.errors import SourceNotAllowed
    from core.pricing.pricer import TickPricer
    from core.runtime import from_environment

    monkeypatch.setenv("TCS_BUS", redis_server.url)
    monkeypatch.setenv("TCS_BUS_INSTRUMENTS", "binance-futures:BTCUSDT")
    monkeypatch.setenv("TCS_BUS_STALE_S", "1.5")
    ingest = ingests(redis_server.url, slice_file)
    rt = from_environment()
    try:
        assert rt.bus is not None and not rt.feed.running and rt.config is None
        assert rt.policy is not None and not rt.policy.allow_source_switch and not rt.policy.allow_custom_url
        est = TickPricer(Order("buy", 25_000.0, unit="quote"), fee_tier=get_tier(FUT.exchange, FUT.kind))
        track = rt.track("k", lambda: est, exchange=FUT.exchange, symbol=FUT.symbol)
        assert wait_for(lambda: len(rt.figures(track)) >= 10, 20), "the tracker priced no book from the bus"
        assert rt.status().state is FeedState.LIVE and rt.status().source == "bus"
        ingest.stop()  # then the newest book stays put: it must be the last one priced

        def last_book_priced() -> bool:
            book = rt.latest()
            return book is not None and book.key == KEY and rt.figures(track)[-1].recv_ns == book.recv_ns

        assert wait_for(last_book_priced, 10)
        with pytest.raises(SourceNotAllowed):
            rt.start(FeedConfig())
        with pytest.raises(SourceNotAllowed):
            rt.capture(5)
        assert not rt.feed.running  # a refused start changed nothing
    finally:
        rt.bus.stop()


def test_every_replica_applies_the_corrections_its_ingest_learns_from_the_tape(redis_server, monkeypatch):
    """The ingest replays a bundled recording with its trade tape and runs the online calibration on it; a replica
    (from the environment, as the app starts) loads the trackers the ingest publishes with its status, so its
    served models carry the ingest's corrections; a malformed document is counted and the last good ones kept."""
    import orjson

    from core.feed.bus import status_key
    from core.learned.online import TrackerState
    from core.pricing.calibration import CalibrationState
    from core.runtime import from_environment

    monkeypatch.setenv("TCS_BUS", redis_server.url)
    monkeypatch.setenv("TCS_BUS_INSTRUMENTS", "binance-futures:BTCUSDT")
    config = FeedConfig(source=Source.REPLAY, replay_speed=10.0)  # the default recording, which has its tape
    ingest = Ingest([config], bus_url=redis_server.url, settings=SETTINGS, feed_settings=FAST).start()
    rt = from_environment()
    client = redis_server.client()
    try:
        assert ingest.calibrations[0] is not None
        assert rt.calibration() is not None and rt.calibration().from_bus

        def learning() -> bool:
            st = rt.calibration()
            return st.state is CalibrationState.LEARNING and st.taker_orders > 0 and st.resting_orders > 0

        # generous: the ingest loads the models and the tape, and prices a grid of 72 resting orders every 5 s of the
        # recording, on a 2-core machine that may be running other tests' processes
        assert wait_for(learning, 180), f"the replica never saw the ingest learn: {rt.calibration()}"
        assert rt.calibration().ingest_run == ingest.run
        served = rt.models().models
        band, share = served.slippage.band, served.maker_taker.share

        def same_as_published() -> bool:  # the replica has read the newest status document the ingest wrote
            doc = orjson.loads(client.get(status_key(*KEY)))["calibration"]
            return (
                band.state() == TrackerState.from_doc(doc["band"])
                and share.state() == TrackerState.from_doc(doc["share"])
                and rt.calibration().taker_orders == doc["taker_orders"]
            )

        assert wait_for(same_as_published, 20), "the replica's trackers never matched the ingest's document"
        assert any(band.state().shifts) and any(share.state().shifts)
        ingest.stop()
        kept = band.state(), share.state()
        good = orjson.loads(client.get(status_key(*KEY)) or b"{}")
        bad = {**good, "run": ingest.run, "calibration": {**(good.get("calibration") or {}), "band": {"buckets": 7}}}
        client.set(status_key(*KEY), orjson.dumps(bad))
        assert wait_for(lambda: rt.calibration().skipped["bad_bus_documents"] > 0, 10)
        assert (band.state(), share.state()) == kept
    finally:
        ingest.stop()
        client.close()
        rt.close()


def test_an_ingest_on_a_live_okx_feed_calibrates_on_its_trades_and_publishes_it(redis_server):
    """A live source that streams its trades (OKX, here a local server sending the real capture's books and
    trades): the ingest's calibration follows them, and the status document every replica reads says so."""
    import orjson

    from core.feed.bus import status_key
    from core.pricing.calibration import CalibrationStatus
    from tests.loopback.test_feed import okx_books_and_trades, okx_server
    from tests.servers import LoopbackServer

    client = redis_server.client()
    with LoopbackServer(okx_server(okx_books_and_trades())) as server:
        config = FeedConfig(source=Source.OKX, exchange="okx", symbol="BTC-USDT", url=server.url("/ws/v5/public"))
        ingest = Ingest([config], bus_url=redis_server.url, settings=SETTINGS, feed_settings=FAST).start()
        try:
            assert ingest.calibrations[0] is not None

            def published() -> CalibrationStatus | None:
                raw = client.get(status_key("okx", "BTC-USDT"))
                doc = orjson.loads(raw).get("calibration") if raw else None
                st = CalibrationStatus.from_doc(doc, run=ingest.run) if doc else None
                return st if st is not None and st.taker_orders > 0 else None

            assert wait_for(lambda: published() is not None, 60), "the ingest never published a live calibration"
            st = published()
            assert st is not None and st.live and st.instrument == ("okx", "BTC-USDT")
        finally:
            ingest.stop()
            client.close()


# ---- security: a Redis with requirepass, the ingest's allowlist, what a visitor may change -------------------
def test_a_reader_without_the_password_says_so_plainly_and_shows_stale_with_it_it_works(
    secured_redis, readers, ingests, slice_file, monkeypatch
):
    from core.views.market import summarize

    monkeypatch.setenv("TCS_BUS_PASSWORD", PASSWORD)  # the ingest (and the second reader) get it from the env
    ingests(secured_redis.url, slice_file)
    monkeypatch.delenv("TCS_BUS_PASSWORD")
    refused = readers(secured_redis.url)  # no password anywhere
    assert wait_for(lambda: "password" in refused.store.status().last_error, 10), refused.store.status()
    st = refused.store.status()
    assert "requirepass" in st.last_error and "Traceback" not in st.last_error and PASSWORD not in st.last_error
    time.sleep(0.5)
    assert refused.store.latest(*KEY) is None and refused.store.state is not FeedState.LIVE
    summary = summarize(None, st, None, msgs_per_s=0.0, now_ns=time.time_ns())
    assert summary.stale
    wrong = readers(secured_redis.url.replace("redis://", "redis://:wrong@"))
    assert wait_for(lambda: "password" in wrong.store.status().last_error, 10)
    assert wrong.store.status().url == secured_redis.url.replace("redis://", "redis://:***@")  # never shown
    granted = readers(secured_redis.url.replace("redis://", f"redis://:{PASSWORD}@"))
    assert wait_for(lambda: fresh(granted), 20), granted.store.status()
    assert PASSWORD not in granted.store.status().url and granted.store.status().parse_error_total == 0
    monkeypatch.setenv("TCS_BUS_PASSWORD", PASSWORD)
    from_env = readers(secured_redis.url)
    assert wait_for(lambda: fresh(from_env), 20), from_env.store.status()


def test_the_ingest_refuses_a_live_host_outside_the_allowlist_before_starting_anything():
    from core.errors import SourceNotAllowed
    from core.feed.config import SourcePolicy

    okx = FeedConfig(source=Source("okx"))
    local = SourcePolicy(allowed_hosts=("127.0.0.1",))
    with pytest.raises(SourceNotAllowed, match="allowlist"):
        Ingest([FeedConfig(), okx], bus_url="redis://127.0.0.1:1/0", policy=local)
    allowed = Ingest([okx], bus_url="redis://127.0.0.1:1/0", policy=SourcePolicy())  # the default list: OKX
    assert not allowed.publisher._thread and not any(f.running for f in allowed.feeds)  # checked, nothing started


def test_python_m_core_ingest_refuses_a_host_outside_the_allowlist_in_words(redis_server):
    env = {**os.environ, "TCS_BUS": redis_server.url, "TCS_ALLOWED_HOSTS": "127.0.0.1"}
    env.pop("TCS_FEED_URL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "core.ingest", "--feed", "okx:okx:BTC-USDT-SWAP"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "allowlist" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert redis_server.client().keys("book:*") == []  # nothing was published


def test_a_bus_replica_offers_visitors_no_source_switch_and_no_recording(
    secured_redis, ingests, slice_file, monkeypatch
):
    """The Data page on a replica (real AppTest run): plain refusals instead of controls, no traceback."""
    from streamlit.testing.v1 import AppTest

    from pages.common import get_runtime

    monkeypatch.setenv("TCS_BUS_PASSWORD", PASSWORD)
    monkeypatch.setenv("TCS_BUS", secured_redis.url)
    monkeypatch.setenv("TCS_BUS_INSTRUMENTS", "binance-futures:BTCUSDT")
    ingests(secured_redis.url, slice_file)
    get_runtime.clear()  # this process's cached runtime must be built from the env above
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.switch_page("pages/data.py").run()
        assert not at.exception
        infos = [i.value for i in at.info]
        assert any("ingest service" in i and "record" in i for i in infos), infos
        assert any("ingest service" in i and "cannot be changed" in i for i in infos), infos
        labels = [b.label for b in at.button]
        assert "Start recording" not in labels and "Switch replay" not in labels
        assert not at.error and not at.warning
    finally:
        rt = get_runtime()
        if rt.bus is not None:
            rt.bus.stop()
        get_runtime.clear()


# ---- one ingest per instrument: the lease -------------------------------------------------------------------
def start_ingest_process(url: str, *extra: str) -> subprocess.Popen:
    """``python -m core.ingest`` publishing the bundled binance BTCUSDT replay at 5x."""
    env = {**os.environ, "TCS_BUS": url}
    args = [sys.executable, "-m", "core.ingest", "--feed", "replay:binance:BTCUSDT", "--speed", "5", *extra]
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


SPOT = ("binance", "BTCUSDT")


def runs_on_stream(client: redis.Redis, key: str, seconds: float) -> list[str]:
    """The run id of every entry appended to ``key`` during ``seconds``, in stream order (read in bulk)."""
    runs: list[str] = []
    last = b"$"
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        got = client.xread({key: last}, count=1000, block=200)
        for _key, entries in got:
            for entry_id, fields in entries:
                runs.append(fields[b"run"].decode())
                last = entry_id
    return runs


def test_a_second_ingest_for_the_same_instrument_refuses_in_words_and_never_interleaves(redis_server, readers):
    from core.errors import SourceUnavailable
    from core.feed.replay import bundled_recordings

    spot = next(r for r in bundled_recordings() if (r.exchange, r.symbol) == SPOT)
    config = FeedConfig(source=Source.REPLAY, replay_file=str(spot.path), replay_speed=5.0)
    first = Ingest([config], bus_url=redis_server.url, settings=SETTINGS, feed_settings=FAST, run="first")
    second = Ingest([config], bus_url=redis_server.url, settings=SETTINGS, feed_settings=FAST, run="second")
    first.start()
    try:
        reader = readers(redis_server.url, instruments=(SPOT,))
        assert wait_for(lambda: reader.store.state is FeedState.LIVE, 20)
        with pytest.raises(
            SourceUnavailable, match="Another ingest already publishes binance/BTCUSDT by ingest run first"
        ):
            second.start(lease_wait_s=0.5)
        assert not second.publisher._thread and not any(f.running for f in second.feeds)
        assert redis_server.client().get("lease:binance:BTCUSDT") == b"first"
        proc = start_ingest_process(redis_server.url, "--lease-wait", "1")  # the operator's command, refused
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 2 and "Another ingest already publishes binance/BTCUSDT" in err, err
        assert "Traceback" not in err and "waiting up to 1 s" in out
        assert set(runs_on_stream(redis_server.client(), stream_key(*SPOT), 1.0)) == {"first"}
    finally:
        first.stop()
        second.stop()
    assert redis_server.client().get("lease:binance:BTCUSDT") is None  # a clean stop frees it at once


def test_a_dead_ingests_lease_lapses_and_a_restart_takes_over(redis_server, readers):
    client = redis_server.client()
    dead = start_ingest_process(redis_server.url)
    try:
        reader = readers(redis_server.url, instruments=(SPOT,))
        assert wait_for(lambda: reader.store.state is FeedState.LIVE, 60), reader.store.status()
        old_run = client.get("lease:binance:BTCUSDT").decode()
        dead.kill()  # no clean stop: the lease stays until it lapses
        dead.wait(10)
        assert client.get("lease:binance:BTCUSDT") == old_run.encode()
        restart = start_ingest_process(redis_server.url, "--lease-wait", "30")
        try:
            assert wait_for(lambda: (client.get("lease:binance:BTCUSDT") or old_run.encode()) != old_run.encode(), 30)
            assert wait_for(lambda: reader._last[SPOT][0] != old_run and reader.store.state is FeedState.LIVE, 20)
            assert restart.poll() is None
        finally:
            restart.send_signal(signal.SIGTERM)
            out, _ = restart.communicate(timeout=20)
        assert "waiting up to 30 s for the lease of binance/BTCUSDT by ingest run " + old_run in out
    finally:
        if dead.poll() is None:
            dead.kill()


def test_a_frozen_ingest_that_lost_its_lease_cannot_write_when_it_wakes(redis_server):
    """SIGSTOP the first ingest past its lease, let a second take over, SIGCONT the first: from the takeover
    on, every entry on the stream is the second's (the lease is checked in the same script as the write)."""
    client = redis_server.client()
    frozen = start_ingest_process(redis_server.url)
    try:
        assert wait_for(lambda: client.get("lease:binance:BTCUSDT") is not None, 60)
        old = client.get("lease:binance:BTCUSDT")
        frozen.send_signal(signal.SIGSTOP)
        successor = start_ingest_process(redis_server.url, "--lease-wait", "30")
        try:
            assert wait_for(lambda: client.get("lease:binance:BTCUSDT") not in (None, old), 30)
            new = client.get("lease:binance:BTCUSDT").decode()
            frozen.send_signal(signal.SIGCONT)  # it wakes with books to send and a lease it believes it has
            runs = runs_on_stream(client, stream_key(*SPOT), 3.0)
            assert runs and set(runs) == {new}, {r: runs.count(r) for r in set(runs)}
            assert frozen.poll() is None and client.get("lease:binance:BTCUSDT").decode() == new
        finally:
            successor.send_signal(signal.SIGTERM)
            successor.communicate(timeout=20)
    finally:
        frozen.send_signal(signal.SIGCONT)
        frozen.send_signal(signal.SIGTERM)
        frozen.communicate(timeout=20)


def test_a_replicas_status_line_shows_what_the_ingest_streams_its_counters_and_each_books_age(
    redis_server, ingests, slice_file, monkeypatch
):
    """Real ingest -> Redis -> a replica's Market page (AppTest): REPLAY from the ingest's status document,
    the ingest's own counters, and an instrument nobody publishes named as having no book."""
    from streamlit.testing.v1 import AppTest

    from pages.common import get_runtime

    monkeypatch.setenv("TCS_BUS", redis_server.url)
    monkeypatch.setenv("TCS_BUS_INSTRUMENTS", "binance-futures:BTCUSDT,okx:BTC-USDT-SWAP")
    ingest = ingests(redis_server.url, slice_file, run="ingest-a")
    get_runtime.clear()
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.switch_page("pages/market.py").run()

        def ready() -> bool:
            at.run()
            return any("Ingest run ingest-a" in c.value for c in at.caption)

        assert wait_for(ready, 30, 0.5), [c.value for c in at.caption]
        assert not at.exception
        line = next(m.value for m in at.markdown if "-badge[" in m.value)
        assert ":violet-badge[REPLAY]" in line and "via the ingest service (run ingest-a)" in line
        caption = next(c.value for c in at.caption if "Ingest run" in c.value)
        doc = get_runtime().bus.ingest_status(*KEY)
        assert doc is not None and f"{doc['reconnects']:,} reconnects" in caption and " messages" in caption
        assert "0 malformed" in caption and "BTC-USDT-SWAP none yet" in caption
        assert ingest.feeds[0].store.status().messages > 0
    finally:
        rt = get_runtime()
        if rt.bus is not None:
            rt.bus.stop()
        get_runtime.clear()
