"""Record any source to the replay format, so a user with internet can capture live data.

    python -m core.record --url wss://ws.gomarket-cpp.goquant.io/ws/l2-orderbook/okx/BTC-USDT-SWAP --seconds 60 --out data/recordings/mine.jsonl.gz
    python -m core.record --source okx --symbol BTC-USDT-SWAP --seconds 60 --out okx.jsonl.gz

Each book the feed publishes is written in the GoQuant message format in the venue's size units (GoQuant
messages verbatim; OKX books rebuilt from snapshot + updates), so replay and training read it unchanged. Where the
source also streams its public trades (OKX), ``--trades FILE`` writes them beside the books in the format of
``data/trades`` (base units), so the capture can be scored against what really executed:

    python -m core.record --source okx --symbol BTC-USDT-SWAP --seconds 600 --out okx.jsonl.gz --trades okx.parquet
    python -m core.validate --recording okx.jsonl.gz --trades okx.parquet --markdown okx.md
"""

from __future__ import annotations

import argparse
import logging
import math
import queue
import sys
import threading
import time
from pathlib import Path

from core.errors import InputError, SimulatorError
from core.feed.adapter import Adapter
from core.feed.client import Feed, FeedSettings, streams_trades
from core.feed.config import FeedConfig, Source
from core.feed.recording import RecordingWriter
from core.feed.store import FeedStatus
from core.market.book import BookSnapshot
from core.market.tape import Tape

MAX_SECONDS = 24 * 3600
#: trades kept in memory for ``--trades`` (a busy perpetual prints a few million a day)
MAX_TRADES = 5_000_000


class Recorder:
    """A feed listener that records every published book.

    On the feed thread it only takes the message and queues it; compression and disk writes happen on
    its own named daemon thread, so recording never adds gzip time to the per-tick path.
    """

    def __init__(
        self, out: str | Path, *, max_messages: int | None = None, trades_out: str | Path | None = None
    ) -> None:
        self.writer = RecordingWriter(out)
        self.max_messages = max_messages
        #: the source's trades (``LiveTape`` listener ``on_trades``), written to ``trades_out`` when it closes
        self.trades_out = Path(trades_out) if trades_out is not None else None
        self._trades: list[Tape] = []
        self.trades_seen = 0
        self.trades_written = 0
        self.done = threading.Event()
        self.count = 0  # messages taken from the feed
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write, name=f"tcs-recorder-{id(self):x}", daemon=True)
        self._thread.start()

    def __call__(self, adapter: Adapter, snap: BookSnapshot) -> None:
        with self._lock:
            if self.done.is_set():
                return
            msg = adapter.native_message()
            if msg is not None:
                self._queue.put(msg)
                self.count += 1
            if self.max_messages is not None and self.count >= self.max_messages:
                self.done.set()

    def on_trades(self, trades: Tape) -> None:
        """A batch of the source's trades (on the feed thread): kept in memory, bounded, until ``close``."""
        with self._lock:
            if self.done.is_set() or self.trades_seen + len(trades) > MAX_TRADES:
                return
            self._trades.append(trades)
            self.trades_seen += len(trades)

    def _write(self) -> None:
        while (msg := self._queue.get()) is not None:
            self.writer.write(msg)

    def close(self) -> int:
        """Stop taking messages, write what is queued, close the file; returns the messages written."""
        with self._lock:
            first = not self.done.is_set() or self._thread.is_alive()
            self.done.set()
        if first and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
            self.writer.close()
            if self.trades_out is not None and self._trades:
                tape = Tape.joined(self._trades)
                tape.to_parquet(self.trades_out)
                self.trades_written = len(tape)
        return self.writer.count


def record(
    config: FeedConfig,
    out: str | Path,
    *,
    seconds: float,
    max_messages: int | None = None,
    feed: Feed | None = None,
    trades_out: str | Path | None = None,
) -> tuple[int, FeedStatus]:
    """Run ``config`` for ``seconds`` (or until ``max_messages``); returns (messages written, final status).
    ``trades_out``: also write the source's public trades there (``InputError`` for a source that streams none)."""
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS):
        raise InputError(f"seconds must be between 0 and {MAX_SECONDS}")
    if trades_out is not None and not streams_trades(config):
        raise InputError(
            f"The {config.source.value} source streams books alone, so there are no trades to record; drop --trades "
            "(OKX streams its trades beside its books)."
        )
    own = feed is None
    feed = feed or Feed(settings=FeedSettings())
    rec = Recorder(out, max_messages=max_messages, trades_out=trades_out)
    feed.add_listener(rec)
    if trades_out is not None:
        feed.trades.add_listener(rec.on_trades)
    try:
        if own or not feed.running:  # listener first, then the feed: the recording starts with its first book
            feed.start(config)
        rec.done.wait(seconds)
    finally:
        feed.remove_listener(rec)
        feed.trades.remove_listener(rec.on_trades)
        n = rec.close()
        status = feed.store.status()
        if own:
            feed.shutdown()
    return n, status


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.record", description="Record a feed to a replayable file.")
    p.add_argument("--url", default="", help="WebSocket URL (default: the source's public URL)")
    p.add_argument("--source", choices=[s.value for s in Source if s is not Source.REPLAY], default="goquant")
    p.add_argument("--exchange", default="", help="default: from a GoQuant URL path, else okx")
    p.add_argument("--symbol", default="", help="default: from a GoQuant URL path, else BTC-USDT-SWAP")
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--max-messages", type=int, default=None)
    p.add_argument("--out", type=Path, required=True, help="output file (.jsonl.gz)")
    p.add_argument(
        "--trades", type=Path, default=None, help="also write the source's public trades here (.parquet; OKX only)"
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    try:
        config = FeedConfig(source=Source(args.source), exchange=args.exchange, symbol=args.symbol, url=args.url)
        t0 = time.time()
        n, status = record(
            config, args.out, seconds=args.seconds, max_messages=args.max_messages, trades_out=args.trades
        )
    except (SimulatorError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {n} books to {args.out} in {time.time() - t0:.1f} s "
        f"(messages {status.messages}, parse errors {status.parse_error_total}, reconnects {status.reconnects})"
    )
    if args.trades is not None:
        got = len(Tape.from_parquet(args.trades)) if args.trades.exists() else 0
        print(f"wrote {got} trades to {args.trades}" if got else "no trades arrived: no trades file written")
    return 0 if n > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
