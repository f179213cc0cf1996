"""Replay server: serves a recording over a real WebSocket on loopback, in the GoQuant message format.

The app's default source. The feed client cannot tell it from the live GoQuant endpoint except by the URL,
which is why the UI labels everything it shows as a replay with the recording's date.

    python -m core.replay --data data/recordings/binance-futures_BTCUSDT_20240808.jsonl.gz --port 8765 --loop
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from core.errors import InputError
from core.feed.recording import Recording, load_recording, open_recording, parse_timestamp_ms
from core.market.venues import Protocol
from core.paths import DATA_DIR

log = logging.getLogger(__name__)

MANIFEST = DATA_DIR / "recordings.json"
PATH_PREFIX = "/ws/l2-orderbook/"
#: what the replay server speaks (recordings are GoQuant messages), so the feed reads it with that adapter
PROTOCOL = Protocol.GOQUANT
#: a clocked replay skipping to the instant's book yields to the event loop every this many skipped messages
#: (the skip inflates and reads the recording from its start: about 0.3 s for the default one)
SKIP_YIELD_EVERY = 2000


@dataclass(frozen=True)
class RecordingInfo:
    """A bundled recording as listed in ``data/recordings.json``."""

    path: Path
    exchange: str
    symbol: str
    label: str
    date: str
    messages: int
    source: str
    default: bool = False
    start: str = ""  # ISO-8601 UTC of the first message ("" when the manifest has none)
    end: str = ""
    levels: int = 0
    trades: Path | None = None  # its trades (Parquet) when the manifest lists them


@dataclass(frozen=True)
class ReplayInfo:
    """What the UI needs to label a running replay."""

    file: str
    date: str
    exchange: str
    symbol: str
    messages: int
    duration_s: float
    speed: float
    url: str


def bundled_recordings(manifest: Path = MANIFEST) -> list[RecordingInfo]:
    """Every recording ``data/recordings.json`` lists: the one reader of the manifest (replay, catalog,
    training and validation all use it)."""
    if not manifest.exists():
        return []
    doc = json.loads(manifest.read_text(encoding="utf-8"))
    out = []
    for r in doc.get("recordings", []):
        start = str(r.get("start", ""))
        out.append(
            RecordingInfo(
                path=manifest.parent / r["file"],
                exchange=r["exchange"],
                symbol=r["symbol"],
                label=r.get("label", f"{r['exchange']} {r['symbol']}"),
                date=r.get("date", start[:10]),
                messages=int(r.get("messages", 0)),
                source=r.get("source", ""),
                default=bool(r.get("default", False)),
                start=start,
                end=str(r.get("end", "")),
                levels=int(r.get("levels", 0)),
                trades=manifest.parent / r["trades"] if r.get("trades") else None,
            )
        )
    return out


def same_minutes(anchor: RecordingInfo, recordings: Sequence[RecordingInfo]) -> list[RecordingInfo]:
    """The recordings whose time range overlaps ``anchor``'s, ``anchor`` first and one per instrument (a
    second day of an instrument never joins: two days on one key would interleave)."""
    lo, hi = parse_timestamp_ms(anchor.start), parse_timestamp_ms(anchor.end)
    out = {anchor.path: anchor}
    keys = {(anchor.exchange, anchor.symbol)}
    for r in recordings:
        if not (r.start and r.end) or (r.exchange, r.symbol) in keys:
            continue
        if parse_timestamp_ms(r.start) < hi and parse_timestamp_ms(r.end) > lo:
            out[r.path] = r
            keys.add((r.exchange, r.symbol))
    return list(out.values())


@dataclass(frozen=True)
class ReplayClock:
    """One recorded clock for several replays, so every venue's book at a moment is from the same recorded
    instant: the common window (latest start to earliest end) replayed from ``epoch_s`` (``time.monotonic``)
    at ``speed``, starting over at its end, for every server that uses it at once."""

    start_ms: int
    end_ms: int
    epoch_s: float
    speed: float = 1.0

    def __post_init__(self) -> None:
        if not (self.end_ms > self.start_ms and math.isfinite(self.speed) and self.speed > 0):
            raise InputError("a replay clock needs a window of positive length and a positive finite speed")

    @classmethod
    def common(
        cls, recordings: Sequence[RecordingInfo], *, speed: float = 1.0, epoch_s: float | None = None
    ) -> ReplayClock:
        """The clock of the window all ``recordings`` cover (from the manifest's start and end)."""
        starts = [parse_timestamp_ms(r.start) for r in recordings]
        ends = [parse_timestamp_ms(r.end) for r in recordings]
        return cls(max(starts), min(ends), time.monotonic() if epoch_s is None else epoch_s, speed)

    @property
    def period_s(self) -> float:
        return (self.end_ms - self.start_ms) / 1000.0 / self.speed

    def cycle(self, now_s: float) -> int:
        """How many times the window has been played through at ``now_s``."""
        return max(0, math.floor((now_s - self.epoch_s) / self.period_s))

    def recorded_ms(self, now_s: float | None = None) -> float:
        """The recorded instant every replay on this clock is at (ms since epoch)."""
        now_s = time.monotonic() if now_s is None else now_s
        elapsed = max(0.0, now_s - self.epoch_s) - self.cycle(now_s) * self.period_s
        return self.start_ms + elapsed * self.speed * 1000.0

    def due_s(self, cycle: int, ts_ms: int) -> float:
        """When (``time.monotonic``) a message recorded at ``ts_ms`` is sent in ``cycle``."""
        return self.epoch_s + cycle * self.period_s + (ts_ms - self.start_ms) / 1000.0 / self.speed


def default_recording() -> RecordingInfo:
    recs = bundled_recordings()
    if not recs:
        raise FileNotFoundError(f"no bundled recordings listed in {MANIFEST}")
    return next((r for r in recs if r.default), recs[0])


def open_replay(path: str | Path, manifest: Path = MANIFEST) -> Recording:
    """The recording at ``path``, ready to replay: a bundled one (listed in the manifest with its count and range)
    read up to its first line, its index built only if asked (``open_recording``); any other file read and
    checked in full (``load_recording``: uploads, captures, a ``--data`` path)."""
    want = Path(path).resolve()
    for r in bundled_recordings(manifest):
        if r.messages and r.start and r.end and r.path.resolve() == want:
            start, end = parse_timestamp_ms(r.start), parse_timestamp_ms(r.end)
            return open_recording(want, messages=r.messages, start_ms=start, end_ms=end)
    return load_recording(path)


class ReplayServer:
    """Streams one recording to every client, paced by the original timestamps divided by ``speed``.

    Each connection starts at the beginning of the recording; with ``loop`` it starts over at the end,
    so an app left open keeps ticking (``loops`` counts the restarts; the pages mark each one). ``speed <= 0`` sends as fast as the socket takes it.
    """

    def __init__(
        self,
        recording: Recording,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        loop: bool = True,
        clock: ReplayClock | None = None,
    ) -> None:
        """With ``clock``, every connection joins the clock's current instant instead of starting at the
        recording's beginning, and only the clock's window is served (``speed`` and ``loop`` are the clock's)."""
        if not math.isfinite(speed):
            raise InputError("speed must be finite")
        self.recording = recording
        self.clock = clock
        self.host = host
        self.port = port
        self.speed = speed
        self.loop = loop
        self.path = f"{PATH_PREFIX}{recording.exchange}/{recording.symbol}"
        self._server: Server | None = None
        self.connections = 0  # total accepted, for tests and the load benchmark
        self.sent = 0
        #: times a connection started the recording (or the clock's window) over; the client sees each as its
        #: exchange time going backwards, which the store records (``BookStore.restarts``) and the pages mark
        self.loops = 0
        #: optional hook called after each send with (exchange ts ms, wall-clock s): tick-to-screen timing
        self.on_send: Callable[[int, float], None] | None = None

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}{self.path}"

    def _check_path(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.lower() != self.path.lower():
            return connection.respond(404, f"this replay serves {self.path}\n")
        return None

    async def start(self) -> str:
        self._server = await serve(
            self._handler, self.host, self.port, process_request=self._check_path, compression=None
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("replay of %s (%d messages) at %s", self.recording.path.name, len(self.recording), self.url)
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _send(self, ws: ServerConnection, msg: bytes, ts: int) -> None:
        await ws.send(msg, text=True)
        self.sent += 1
        if self.on_send is not None:
            self.on_send(ts, time.time())

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        if self.clock is not None:
            with contextlib.suppress(ConnectionClosed):
                await self._on_clock(ws, self.clock)
            return
        rec = self.recording
        loop = asyncio.get_running_loop()
        try:
            while True:
                t0 = loop.time()
                base = rec.start_ms
                for ts, msg in rec.iter_timed():
                    if self.speed > 0:
                        due = t0 + (ts - base) / 1000.0 / self.speed
                        delay = due - loop.time()
                        if delay > 0:
                            await asyncio.sleep(delay)
                    await self._send(ws, msg, ts)
                if not self.loop:
                    break
                await asyncio.sleep(0.1 / max(self.speed, 1.0))
                self.loops += 1
            await ws.close()
        except ConnectionClosed:
            pass

    async def _on_clock(self, ws: ServerConnection, clock: ReplayClock) -> None:
        """Serve the window on the shared clock: first the book of the current recorded instant (the newest
        message at or before it: each message is a full book; the first message when none is), at once, then
        each later one when the clock reaches it. Read as it streams: the messages before the instant are
        skipped (no index needed, so a replay starts without reading its whole recording first)."""
        while True:
            now = time.monotonic()
            cycle, at = clock.cycle(now), clock.recorded_ms(now)
            held: tuple[int, bytes] | None = None  # the newest message at or before the instant, not sent yet
            started = False  # the instant's book has been sent
            skipped = 0
            for ts, msg in self.recording.iter_timed():
                if ts > clock.end_ms:
                    break
                if not started:
                    if ts <= at:
                        held = (ts, msg)
                        skipped += 1
                        if skipped % SKIP_YIELD_EVERY == 0:  # other clients and the server keep being served
                            await asyncio.sleep(0)
                        continue
                    started = True
                    if held is None:  # the window's first message is after the instant: it is the first book
                        await self._send(ws, msg, ts)
                        continue
                    await self._send(ws, held[1], held[0])
                    held = None
                delay = clock.due_s(cycle, ts) - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._send(ws, msg, ts)
            if held is not None:  # no message of the window is after the instant: its book is the last one
                await self._send(ws, held[1], held[0])
            await asyncio.sleep(max(clock.due_s(cycle + 1, clock.start_ms) - time.monotonic(), 0.0) + 0.001)
            self.loops += 1

    async def __aenter__(self) -> ReplayServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def _serve_forever(args: argparse.Namespace) -> None:
    rec = open_replay(args.data)
    async with ReplayServer(rec, port=args.port, speed=args.speed, loop=args.loop) as server:
        print(f"replaying {rec.path.name}: {len(rec)} messages, {rec.duration_s:.1f} s recorded on {rec.date}")
        print(
            f"serving {server.url} (speed x{args.speed}{', looping' if args.loop else ''}); Ctrl-C to stop", flush=True
        )
        await asyncio.Future()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.replay", description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None, help="recording (.jsonl.gz); default: the bundled default")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--speed", type=float, default=1.0, help="pace multiplier (2 = twice as fast; 0 = no pacing)")
    p.add_argument("--loop", action="store_true", help="start over at the end")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.data is None:
        args.data = default_recording().path
    if not Path(args.data).exists():
        print(f"error: recording not found: {args.data}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve_forever(args))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"error: cannot serve on port {args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
