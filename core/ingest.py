"""`python -m core.ingest`: run the feeds of several instruments at once and publish every book to the bus.

One ``Feed`` per instrument (the same client, adapters, validation, reconnects and watchdog as the app's),
all feeding one ``BusPublisher`` (``core.feed.bus``) that writes to Redis; app replicas started with
``TCS_BUS`` read from there. Feeds are ``source[:exchange:symbol]`` (``--feed`` or ``TCS_INGEST_FEEDS``,
comma-separated); without any, each bundled instrument's first recording is replayed on loopback (no network
needed).
Live sources obey the deployment's allowlist (``TCS_ALLOWED_HOSTS``), like the app: every feed is checked
before any starts, and one refused host stops the ingest with a plain message (exit status 2). What the
ingest subscribes to is set here, by the operator, and nowhere else: app replicas cannot change it.
Where a feed replays a bundled recording with its trade tape, or streams a live source's trades beside its books
(OKX), the ingest also runs the online calibration on it (``core.pricing.calibration``) and publishes its trackers with the instrument's status, so every replica shows the
same corrected p90 band and maker share as one app process would.
One ingest publishes an instrument at a time: it takes the instrument's lease in Redis before starting (and
renews it with every write, ``core.feed.bus``); a second ingest for the same instrument waits ``--lease-wait``
seconds for it, then refuses in words. A stopped ingest frees its leases; a dead one's lapse within
``lease_ttl_s``, so a restart takes over. The Redis password comes from ``TCS_BUS_PASSWORD`` (or the URL) and is never printed.

    python -m core.ingest --bus redis://127.0.0.1:6379/0
    python -m core.ingest --feed okx:okx:BTC-USDT-SWAP --feed replay:binance:BTCUSDT
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence

import orjson

from core.errors import SimulatorError
from core.feed.bus import DEFAULT_URL, BusPublisher, BusSettings, redacted
from core.feed.client import Feed, FeedSettings, streams_trades
from core.feed.config import FeedConfig, Source, SourcePolicy, load_policy, tape_of
from core.feed.recording import iter_lines
from core.feed.replay import RecordingInfo, ReplayClock, bundled_recordings, default_recording, same_minutes
from core.feed.store import BookStore
from core.market.instruments import instruments
from core.pricing.calibration import OnlineCalibration

log = logging.getLogger(__name__)


def feed_config(spec: str, *, replay_speed: float = 1.0) -> FeedConfig:
    """``source[:exchange:symbol]`` -> the feed config; a replay names a bundled recording's instrument."""
    source, _, instrument = spec.strip().partition(":")
    exchange, _, symbol = instrument.partition(":")
    src = Source(source.lower())
    if src is not Source.REPLAY:
        return FeedConfig(source=src, exchange=exchange, symbol=symbol)
    recordings = bundled_recordings()
    for rec in recordings:
        if not instrument or (rec.exchange == exchange.lower() and rec.symbol == symbol.upper()):
            return FeedConfig(source=src, replay_file=str(rec.path), replay_speed=replay_speed)
    known = ", ".join(f"replay:{r.exchange}:{r.symbol}" for r in recordings)
    raise SimulatorError(f"no bundled recording of {instrument!r}; bundled: {known}")


def default_configs(*, replay_speed: float = 1.0) -> list[FeedConfig]:
    """One bundled recording per instrument, replayed (the embedded default: loopback only).

    An instrument recorded on several days (binance-futures BTCUSDT) keeps only its first listed recording:
    two feeds publishing to the one stream of that instrument would interleave the books of two days. The
    recordings of the same minutes as the default one play on one ``ReplayClock``, so the replicas' Venues view
    compares books of one recorded instant, as in the embedded default (``core.feed.group``).
    """
    first: dict[tuple[str, str], RecordingInfo] = {}
    for r in bundled_recordings():
        first.setdefault((r.exchange, r.symbol), r)
    together = same_minutes(default_recording(), list(first.values()))
    clock = ReplayClock.common(together, speed=replay_speed) if replay_speed > 0 and len(together) > 1 else None
    return [
        FeedConfig(replay_file=str(r.path), replay_speed=replay_speed, replay_clock=clock if r in together else None)
        for r in first.values()
    ]


def config_instrument(config: FeedConfig) -> tuple[str, str]:
    """The (exchange, symbol) a resolved config will publish: a live source's, or the replay file's first book's."""
    if config.is_live:
        return config.exchange, config.symbol
    for line in iter_lines(config.replay_file or default_recording().path):
        doc = orjson.loads(line)
        return str(doc.get("exchange", "")).lower(), str(doc.get("symbol", "")).upper()
    raise SimulatorError(f"the recording {config.replay_file} holds no book")


class Ingest:
    """The feeds and the publisher of one ingest process."""

    def __init__(
        self,
        configs: Sequence[FeedConfig],
        *,
        bus_url: str = DEFAULT_URL,
        settings: BusSettings | None = None,
        feed_settings: FeedSettings | None = None,
        policy: SourcePolicy | None = None,
        run: str = "",
        calibrate: bool = True,
    ) -> None:
        """``calibrate``: run the online calibration on each replay with a bundled trade tape and publish its
        trackers with the instrument's status, for every replica to apply (``core.pricing.calibration``)."""
        if not configs:
            raise SimulatorError("the ingest needs at least one feed")
        self.configs = [c.resolved() for c in configs]
        if policy is not None:  # every live URL against the allowlist before anything starts or connects
            for config in self.configs:
                if config.is_live:
                    policy.check(config.url)
        self.publisher = BusPublisher(bus_url, settings=settings or BusSettings(), run=run)
        table = instruments()
        self.feeds = [
            Feed(BookStore(), settings=feed_settings or FeedSettings(), table=table, policy=policy)
            for _ in self.configs
        ]
        self.calibrate = calibrate
        self.calibrations: list[OnlineCalibration | None] = [None] * len(self.feeds)

    @property
    def run(self) -> str:
        return self.publisher.run

    def start(self, *, lease_wait_s: float = 0.0, on_wait: Callable[[str], None] | None = None) -> Ingest:
        """Take every instrument's publishing lease (waiting up to ``lease_wait_s`` for one another run holds;
        ``SourceUnavailable`` in words when it still does), then start the publisher and the feeds."""
        instruments = [config_instrument(c) for c in self.configs]
        twice = {i for i in instruments if instruments.count(i) > 1}
        if twice:
            names = ", ".join(f"{ex}/{sym}" for ex, sym in sorted(twice))
            raise SimulatorError(f"{names}: one feed per instrument (two would interleave on one stream)")
        self.publisher.claim(instruments, wait_s=lease_wait_s, on_wait=on_wait)
        self.publisher.start()
        if self.calibrate:
            self.calibrations = _calibrations(self.feeds, self.configs)
        for feed, config, cal in zip(self.feeds, self.configs, self.calibrations, strict=True):
            self.publisher.attach(feed, calibration=cal.bus_document if cal is not None else None)
            feed.start(config)
            if cal is not None:  # what the source turned out to carry: a recording's tape, or its live trades
                cal.follow(*feed.tape())
        return self

    def stop(self) -> None:
        for feed in self.feeds:
            feed.shutdown()
        self.publisher.close()
        for cal in self.calibrations:
            if cal is not None:
                cal.close()


def _calibrations(feeds: Sequence[Feed], configs: Sequence[FeedConfig]) -> list[OnlineCalibration | None]:
    """The online calibration of each feed that replays a bundled recording with its tape or streams a live source's
    trades (None for the others, and for all when the models or the chosen steps cannot be read: the replicas then
    show the static models). ``start`` has each follow its feed's tape once the feed runs."""
    tapes = [tape_of(c)[0] is not None or streams_trades(c) for c in configs]
    if not any(tapes):
        return [None] * len(feeds)
    try:
        from core.learned.models import load_models
        from core.learned.online import load_steps

        steps, loaded = load_steps(), load_models()
    except Exception:  # a broken model package must not stop the books
        log.warning("online calibration not started: the models or models/online.json not read", exc_info=True)
        return [None] * len(feeds)
    if steps is None:
        return [None] * len(feeds)
    out: list[OnlineCalibration | None] = []
    for feed, has_tape in zip(feeds, tapes, strict=True):
        if not has_tape:
            out.append(None)
            continue
        cal = OnlineCalibration(loaded.models, steps)
        feed.add_listener(cal)
        out.append(cal)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.ingest", description=__doc__.splitlines()[0])
    p.add_argument("--bus", default=os.environ.get("TCS_BUS") or DEFAULT_URL, help="redis://[:password@]host:port/db")
    p.add_argument("--feed", action="append", default=[], help="source[:exchange:symbol], repeatable")
    p.add_argument("--speed", type=float, default=1.0, help="replay pace multiplier (0 = unpaced)")
    p.add_argument(
        "--lease-wait",
        type=float,
        default=2 * BusSettings.lease_ttl_s,
        help="seconds to wait for an instrument another ingest publishes (a dead one's lease lapses in "
        f"{BusSettings.lease_ttl_s:g} s); then refuse",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())  # before any feed starts: a stop is never lost
    specs = args.feed or [s for s in os.environ.get("TCS_INGEST_FEEDS", "").split(",") if s.strip()]
    try:
        configs = [feed_config(s, replay_speed=args.speed) for s in specs] or default_configs(replay_speed=args.speed)
        ingest = Ingest(configs, bus_url=args.bus, settings=BusSettings.from_env(), policy=load_policy())
        ingest.start(lease_wait_s=args.lease_wait, on_wait=lambda m: print(m, flush=True))
    except (SimulatorError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    names = [f"{f.store.status().exchange}/{f.store.status().symbol}" for f in ingest.feeds]
    print(f"ingest run {ingest.run}: {', '.join(names)} -> {redacted(args.bus)}; Ctrl-C to stop", flush=True)
    try:
        while not done.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    ingest.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
