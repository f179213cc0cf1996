"""core.feed.capture: bounded recordings of the feed for download, with a stub feed and the real Recorder."""

from __future__ import annotations

import gzip
import time

import pytest

from core.errors import InputError
from core.feed.capture import Capture, CaptureState, capture_file_name, check_seconds


class StubAdapter:
    def __init__(self) -> None:
        self.n = 0

    def native_message(self) -> bytes:
        self.n += 1
        return b'{"timestamp":"2024-08-08T23:54:16.509Z","n":%d}' % self.n


class StubFeed:
    def __init__(self) -> None:
        self.listeners: list = []

    def add_listener(self, fn) -> None:
        self.listeners.append(fn)

    def remove_listener(self, fn) -> None:
        self.listeners = [f for f in self.listeners if f is not fn]

    def tick(self, adapter: StubAdapter, k: int = 1) -> None:
        for _ in range(k):
            for fn in list(self.listeners):
                fn(adapter, None)


@pytest.mark.parametrize("bad", [0, 0.5, -3, 601, 1e12, float("nan"), float("inf"), "ten", None, False])
def test_bad_lengths_are_refused(bad):
    with pytest.raises(ValueError, match="Recording length must"):
        check_seconds(bad)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (None, "Recording length must be a number of seconds, got None."),
        ("ten", "Recording length must be a number of seconds, got 'ten'."),
        (float("nan"), "Recording length must be a finite number of seconds, got nan."),
        (601, "Recording length must be between 1 and 600 seconds, got 601."),
    ],
)
def test_length_messages_in_full(bad, message):
    with pytest.raises(InputError) as info:
        check_seconds(bad)
    assert str(info.value) == message


def test_length_bounds_accepted():
    assert check_seconds(1) == 1.0 and check_seconds("600") == 600.0


def test_file_name_is_utc_and_safe():
    assert (
        capture_file_name("binance-futures", "BTCUSDT", 1723161256)
        == "binance-futures_BTCUSDT_20240808-235416.jsonl.gz"
    )
    assert capture_file_name("a/../b", "", 0) == "a..b_feed_19700101-000000.jsonl.gz"


def test_capture_records_then_detaches_and_serves_bytes():
    feed, adapter = StubFeed(), StubAdapter()
    cap = Capture(feed, 60, file_name="x.jsonl.gz").start()
    assert len(feed.listeners) == 1 and cap.status().state is CaptureState.RECORDING
    feed.tick(adapter, 3)
    assert cap.status().messages == 3 and cap.data is None
    cap.finish()
    cap.finish()  # idempotent
    s = cap.status()
    assert s.state is CaptureState.DONE and s.messages == 3 and s.progress == 1.0 and not s.limit_hit
    assert feed.listeners == [] and s.size_bytes == len(cap.data)
    lines = gzip.decompress(cap.data).splitlines()
    assert [line[-6:] for line in lines] == [b'"n":1}', b'"n":2}', b'"n":3}']
    feed.tick(adapter)  # nothing more is recorded
    assert cap.status().messages == 3 and not cap._dir.exists()  # temp file removed


def test_capture_stops_at_the_message_limit():
    feed, adapter = StubFeed(), StubAdapter()
    cap = Capture(feed, 600, max_messages=5).start()
    feed.tick(adapter, 8)
    s = cap.status()
    assert s.state is CaptureState.DONE and s.messages == 5 and s.limit_hit and feed.listeners == []


def test_capture_ends_by_itself_after_its_seconds():
    feed, adapter = StubFeed(), StubAdapter()
    t = [100.0]
    cap = Capture(feed, 1, clock=lambda: t[0]).start()
    t[0] = 100.5
    assert cap.status().progress == pytest.approx(0.5)
    feed.tick(adapter)
    deadline = time.monotonic() + 5
    while cap.status().state is CaptureState.RECORDING and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cap.status().state is CaptureState.DONE and cap.status().messages == 1 and feed.listeners == []


def test_at_most_two_recordings_run_at_once_in_a_process():
    from core.errors import CaptureBusy
    from core.feed.capture import MAX_CONCURRENT, Capture

    class Feedish:
        def add_listener(self, fn):
            pass

        def remove_listener(self, fn):
            pass

    running = [Capture(Feedish(), 60).start() for _ in range(MAX_CONCURRENT)]
    try:
        with pytest.raises(CaptureBusy, match="already running"):
            Capture(Feedish(), 60).start()
        running.pop().finish()
        running.append(Capture(Feedish(), 60).start())  # a slot came free
    finally:
        for c in running:
            c.finish()


def test_a_capture_of_a_live_okx_feed_keeps_its_trades_for_the_validator(feed):
    """A real feed on a local server speaking OKX with the real capture's frames: the Data page's recording also
    holds the public trades streamed meanwhile (Parquet, base units), named after the books' file."""
    import io

    import orjson

    from core.feed.config import FeedConfig, Source
    from core.market.tape import Tape
    from core.views.capture import done_text
    from tests.conftest import wait_for
    from tests.loopback.test_feed import okx_books_and_trades, okx_server
    from tests.servers import LoopbackServer

    frames = okx_books_and_trades()
    rows = [d for f in frames if f["arg"]["channel"] == "trades" for d in f["data"]]
    with LoopbackServer(okx_server(frames)) as server:
        config = FeedConfig(source=Source.OKX, exchange="okx", symbol="BTC-USDT", url=server.url("/ws/v5/public"))
        cap = Capture(feed, 60, file_name="okx_BTC-USDT_x.jsonl.gz", trades=feed.trades).start()
        feed.start(config)
        assert wait_for(lambda: feed.trades.received == len(rows), 15), feed.trades.received
        cap.finish()
    s = cap.status()
    assert s.state is CaptureState.DONE and s.messages > 0 and s.trades == len(rows)
    tape = Tape.from_parquet(io.BytesIO(cap.trades_data))
    assert len(tape) == len(rows) and sorted(tape.ts_ms.tolist()) == sorted(int(d["ts"]) for d in rows)
    assert cap.trades_file_name == "okx_BTC-USDT_x.parquet" and f"{len(rows):,} public trades" in done_text(s)
    assert orjson.loads(gzip.decompress(cap.data).splitlines()[0])["exchange"] == "okx"
    # a capture of a source of books alone (the replay) holds no trades, and says nothing of them
    feed.start(FeedConfig(source=Source.REPLAY, replay_speed=0, replay_loop=False))
    books_only = Capture(feed, 60, trades=feed.trades).start()
    assert wait_for(lambda: books_only.status().messages > 10, 15)
    books_only.finish()
    assert books_only.status().messages > 10 and books_only.trades_data is None
    assert "trades" not in done_text(books_only.status())
