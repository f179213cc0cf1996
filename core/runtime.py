"""The composition root: builds the store, the feed, the per-tick tracker, instruments and policy, once.

Pages talk to a ``Runtime`` and nothing below it: they never reach into ``feed.store`` or the tracker, so
the feed, store and pricing can change (or move to another process) without touching a page. One runtime
serves every session of a process (``pages.common.get_runtime`` caches it); every method is thread-safe
because each delegates to a thread-safe object (the store's lock, the tracker's lock, the feed's start
lock). ``from_environment`` is what the app runs; tests build a ``Runtime`` around their own feed.

With ``TCS_BUS`` set (several processes: ``python -m core.ingest`` publishes to Redis, app replicas read),
the runtime runs no feed of its own: a ``BusReader`` (``core.feed.bus``) fills the same store and calls the
tracker on every book it publishes, and visitors cannot switch the source (the ingest decides it).

Several venues at once (``venues``): in the embedded default a ``ReplayGroup`` (``core.feed.group``) replays
the bundled recordings of the same minutes as the default one on one shared clock into the same store,
started on first use in the background. The main feed stays the one shared, switchable feed: a replay of a
group recording runs on the group's clock (its book is then from the same recorded instant), and the group
never streams the instrument the main feed streams. On a bus replica the venues are the instruments the
reader takes from the ingest.

The wiring lives here and nowhere else: the feed knows no pricing and the tracker knows no store. The
runtime builds the ``CostTracker`` on the store's mid history and tick-cost ring and attaches it as the
feed's first listener, so each book is priced before any other listener (a capture) sees it; the feed
logs and survives any listener's exception, so a pricing bug never stops the feed.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from core.costs.models import Models
from core.errors import InstrumentError, SimulatorError, SourceNotAllowed, SourceUnavailable
from core.feed.bus import BusInstrument, BusReader, BusSettings, bus_instruments
from core.feed.capture import Capture, capture_file_name
from core.feed.client import Feed, Listener
from core.feed.config import FeedConfig, Source, SourcePolicy, load_config, load_policy
from core.feed.group import ReplayGroup
from core.feed.metrics import MetricsExporter, export_if_configured
from core.feed.replay import ReplayClock, ReplayInfo, bundled_recordings, default_recording, same_minutes
from core.feed.store import BookStore, FeedStatus
from core.market.book import BookSnapshot
from core.market.instruments import Instrument, InstrumentTable
from core.pricing.pricer import CostFigures
from core.pricing.tracker import CostTracker, Track

if TYPE_CHECKING:  # imported where the calibration starts (with the models, after the first page view's imports)
    from core.pricing.calibration import BusCalibration, CalibrationStatus, OnlineCalibration

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelsUnavailable:
    """Stands in for ``core.learned.models.LoadedModels`` when the learned models cannot be loaded at all."""

    reason: str
    models: Models = field(default_factory=Models)
    cards: dict = field(default_factory=dict)
    nets: dict = field(default_factory=dict)

    @property
    def fallbacks(self) -> dict[str, str]:
        return dict.fromkeys(("slippage_expected", "slippage_quantiles", "maker_taker"), self.reason)


@dataclass(frozen=True)
class VenueBook:
    """One venue's newest book for the Venues view."""

    instrument: Instrument
    book: BookSnapshot | None  # None before its first book
    age_s: float  # since the book was received (a bus book: since it was published); inf without one
    note: str = ""  # why the book is not from the venues' common instant (then it is not compared)


@dataclass(frozen=True)
class VenueBooks:
    """Every venue's newest book at one moment, and where they come from."""

    books: tuple[VenueBook, ...]
    source: str  # "replay" (the embedded group) or "bus" (an ingest service)
    stale_after_s: float  # a book older than this is stale
    clock: ReplayClock | None = None  # the replay's shared clock (None on a bus replica)


class Runtime:
    """Everything a page may ask of the running system; see the module docstring."""

    def __init__(
        self,
        feed: Feed | None = None,
        *,
        tracker: CostTracker | None = None,
        bus: BusReader | None = None,
        group: ReplayGroup | None = None,
    ) -> None:
        """With ``bus``, books come from the bus reader (whose store must be the feed's) and the feed idles.
        ``group`` (whose store must be the feed's) serves the other venues of the same recorded minutes."""
        #: the feed this runtime drives (tests and CLIs may use it; pages use the methods below)
        self.feed = feed if feed is not None else Feed()
        #: the bus reader filling the store instead of the feed (None: the feed runs in this process)
        self.bus = bus
        if bus is not None and bus.store is not self.feed.store:
            raise SimulatorError("the bus reader must fill the runtime's store")
        if group is not None and group.store is not self.feed.store:
            raise SimulatorError("the venue group must fill the runtime's store")
        #: the other venues of the same recorded minutes (None: only the main feed's, or the bus's)
        self.group = group
        store = self.feed.store
        if tracker is None:  # not ``tracker or …``: a tracker with no tracks is falsy (it has a length)
            tracker = CostTracker(mids=store.mids, record_tick_cost=store.record_tick_cost)
        #: prices the orders the open pages show on every book, on the feed thread (feed -> store -> costs)
        self.tracker = tracker
        (bus or self.feed).add_listener(self.tracker, first=True)
        self._config_error = ""
        self._models: Any = None
        self._models_lock = threading.Lock()
        self._calibration: OnlineCalibration | BusCalibration | None = None
        self._exporter: MetricsExporter | None = None

    # ---- source --------------------------------------------------------------------------------
    @property
    def config(self) -> FeedConfig | None:
        return self.feed.config

    @property
    def replay(self) -> ReplayInfo | None:
        return self.feed.replay

    @property
    def policy(self) -> SourcePolicy | None:
        return self.feed.policy

    @property
    def config_error(self) -> str:
        """Why the operator's configured source did not start (empty when it did)."""
        return self._config_error

    def start(self, config: FeedConfig) -> None:
        """Run ``config`` (idempotent; a new config switches every session's view). Refusals raise
        ``SimulatorError`` with a plain message; the previous source keeps running."""
        if self.bus is not None:
            raise SourceNotAllowed("This deployment shows the books of its ingest service; the source is chosen there.")
        if self.group is not None:
            config = self.group.on_clock(config)
        try:
            self.feed.start(config)
        except SimulatorError:
            raise
        except (OSError, TimeoutError, ValueError) as exc:  # unreachable, timed out, a bad setting: in words
            raise SourceUnavailable(str(exc) or type(exc).__name__) from exc
        else:
            with self._models_lock:  # not between _start_calibration reading the config and storing the calibration
                cal = self._calibration
            if cal is not None:  # the new source's tape (or none): the trackers start over
                from core.pricing.calibration import OnlineCalibration  # loaded already, with the calibration

                assert isinstance(cal, OnlineCalibration)  # a bus replica has no source of its own to start
                cal.follow(*self.feed.tape())
        finally:
            if self.group is not None:  # whatever runs now: the group leaves the main feed's instrument to it
                status = self.feed.store.status()
                self.group.follow((status.exchange, status.symbol))

    def close(self) -> None:
        """Stop every feed, the venue group and the bus reader, and end their threads (tests, CLIs)."""
        if self.group is not None:
            self.group.shutdown()
        if self.bus is not None:
            self.bus.stop()
        self.feed.shutdown()
        if self._calibration is not None:
            self._calibration.close()

    @property
    def instruments(self) -> InstrumentTable:
        return self.feed.table

    def instrument(self, exchange: str, symbol: str) -> Instrument:
        return self.feed.table.get(exchange, symbol)

    # ---- market data ---------------------------------------------------------------------------
    def latest(self, exchange: str | None = None, symbol: str | None = None) -> BookSnapshot | None:
        return self.feed.store.latest(exchange, symbol)

    def status(self) -> FeedStatus:
        return self.feed.store.status()

    def bus_instruments(self) -> tuple[BusInstrument, ...]:
        """On a bus replica: each instrument's book age and the ingest's status of it (empty otherwise)."""
        return self.bus.instrument_states() if self.bus is not None else ()

    def messages_per_second(self) -> float:
        return self.feed.store.messages_per_second()

    def tick_timings(self) -> dict[str, np.ndarray]:
        return self.feed.store.tick_timings()

    def message_rate(self) -> tuple[np.ndarray, np.ndarray]:
        return self.feed.store.message_rate()

    def mids(self, exchange: str | None = None, symbol: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        return self.feed.store.mids(exchange, symbol)

    def mid_chart(self, exchange: str | None = None, symbol: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(receive time s, mid) of the kept books, across replay restarts (the chart breaks its line there)."""
        return self.feed.store.mid_chart(exchange, symbol)

    def is_replay(self, exchange: str | None = None, symbol: str | None = None) -> bool:
        """The instrument's books come from a replay (``Source.replayed``; before any book, this process's source)."""
        snap = self.latest(exchange, symbol)
        return Source.replayed(snap.source) if snap is not None else self.replay is not None

    def restarts(self, exchange: str | None = None, symbol: str | None = None) -> tuple[float, ...]:
        """When the instrument's feed clock went backwards (a replay starting over), wall-clock s, oldest first."""
        return self.feed.store.restarts(exchange, symbol)

    def venues(self) -> VenueBooks:
        """Every venue's newest book for the Venues view: the bus reader's instruments on a replica, else the
        replay group's venues (started here on first use, in the background) or the main feed's alone."""
        store, now = self.feed.store, time.time_ns()
        if self.bus is not None:
            books = [
                VenueBook(inst, store.latest(*key), self.bus.age_s(*key))
                for key in self.bus.instruments
                if (inst := self._known(key)) is not None
            ]
            return VenueBooks(tuple(books), "bus", self.bus.settings.stale_after_s)
        status = store.status()
        keys = self.group.instruments if self.group is not None else ((status.exchange, status.symbol),)
        if self.group is not None:
            self.group.start()
        config = self.feed.config
        on_clock = self.group is not None and config is not None and config.replay_clock is self.group.clock
        out = []
        for key in keys:
            inst = self._known(key)
            if inst is None:
                continue
            book = store.latest(*key)
            note = ""
            if self.group is not None and not self.group.serves(key) and not on_clock:
                note = (
                    "The shared feed streams this instrument from another source, day or speed now, so its book "
                    "is not from the same recorded instant as the others."
                )
            out.append(VenueBook(inst, book, book.age_s(now) if book is not None else math.inf, note))
        clock = self.group.clock if self.group is not None else None
        return VenueBooks(tuple(out), "replay", self.feed.settings.stale_after_s, clock)

    def _known(self, key: tuple[str, str]) -> Instrument | None:
        try:
            return self.feed.table.get(*key)
        except InstrumentError:  # a venue the instrument table does not list cannot be priced
            return None

    def record_refresh(self, ms: float) -> None:
        """A page's server-side render time (the Latency page shows it)."""
        self.feed.store.record_refresh(ms)

    def record_cost_latency(self, latency_us: float) -> None:
        self.feed.store.record_cost_latency(latency_us)

    # ---- pricing -------------------------------------------------------------------------------
    def track(
        self,
        key: Hashable,
        factory: Any,
        *,
        exchange: str,
        symbol: str,
        volatility_override: float | None = None,
        owner: Hashable | None = None,
    ) -> Track:
        """Price these inputs on every book from now on (shared by sessions with the same inputs)."""
        return self.tracker.track(
            key, factory, exchange=exchange, symbol=symbol, volatility_override=volatility_override, owner=owner
        )

    def figures(self, track: Track) -> list[CostFigures]:
        return self.tracker.figures(track)

    def models(self) -> Any:
        """The learned models, loaded once per process (``LoadedModels`` or ``ModelsUnavailable``); where the online
        calibration runs (``core.pricing.calibration``), they carry its trackers."""
        with self._models_lock:
            if self._models is None:
                loaded = _load_models()
                self._calibration = self._start_calibration(loaded)
                self._models = (
                    replace(loaded, models=self._calibration.wrap(loaded.models))
                    if self._calibration is not None
                    else loaded
                )
            return self._models

    def calibration(self) -> CalibrationStatus | None:
        """What the online calibration has done (None: it does not run in this process)."""
        self.models()
        return self._calibration.status() if self._calibration is not None else None

    def _start_calibration(self, loaded: Any) -> OnlineCalibration | BusCalibration | None:
        """The online calibration on this process's own feed, or on a bus replica the ingest's (which runs it on
        the tape and publishes its trackers), when models and the chosen steps (models/online.json) are there."""
        if isinstance(loaded, ModelsUnavailable):
            return None
        from core.learned.online import load_steps
        from core.pricing.calibration import BusCalibration, OnlineCalibration

        try:
            steps = load_steps()
        except (OSError, ValueError, KeyError, TypeError):  # a broken card must not take the pages down
            log.warning("online calibration: models/online.json not read; the static models are used", exc_info=True)
            return None
        if steps is None:
            return None
        if self.bus is not None:  # the status line's instrument, as this process's own feed would calibrate
            remote = BusCalibration(steps, self.bus.instruments[0])
            self.bus.add_status_listener(remote.on_status)
            return remote
        cal = OnlineCalibration(loaded.models, steps, load_delay_s=CALIBRATION_LOAD_DELAY_S)
        self.feed.add_listener(cal)
        cal.follow(*self.feed.tape())
        return cal

    # ---- listeners (captures) ------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        (self.bus or self.feed).add_listener(fn)

    def remove_listener(self, fn: Listener) -> None:
        (self.bus or self.feed).remove_listener(fn)

    @property
    def capture_refusal(self) -> str:
        """Why this process cannot record the feed (empty when it can): a bus replica has no venue messages."""
        if self.bus is None:
            return ""
        return (
            "This app shows the books of its ingest service, so it has no venue messages to record. "
            "The operator records on the ingest's machine (python -m core.record)."
        )

    def capture(self, seconds: float) -> Capture:
        """Record the current feed for ``seconds`` into a file named after its instrument and the start time.

        Raises ``InputError`` for a duration outside 1..600 s, ``CaptureBusy`` when every recording slot of
        this process is in use, and ``SourceNotAllowed`` on a bus replica.
        """
        if self.capture_refusal:
            raise SourceNotAllowed(self.capture_refusal)
        status = self.feed.store.status()
        name = capture_file_name(status.exchange, status.symbol, time.time())
        return Capture(self.feed, seconds, file_name=name, trades=self.feed.live_trades).start()


#: the online calibration reads its tape this long after the source starts (pandas and the Parquet read stay out of
#: the first page view, as the instrument refresh below)
CALIBRATION_LOAD_DELAY_S = 10.0


def _load_models() -> Any:
    try:
        from core.learned.models import load_models  # read once, on first use

        return load_models()
    except Exception as exc:  # a broken or missing model package must never stop the simulator
        log.warning("learned models not loaded", exc_info=True)
        return ModelsUnavailable(
            reason=f"The learned models could not be loaded ({type(exc).__name__}); the rule-based methods are used."
        )


#: the OKX instrument refresh (two HTTPS requests and their JSON; the bundled rows serve meanwhile) starts this long
#: after the runtime, so its TLS set-up and parsing do not compete with the first page view for the interpreter
INSTRUMENTS_REFRESH_DELAY_S = 10.0


def _refresh_instruments_later(table: InstrumentTable) -> threading.Timer:
    timer = threading.Timer(INSTRUMENTS_REFRESH_DELAY_S, table.refresh_in_background)
    timer.name, timer.daemon = "tcs-instruments-refresh-timer", True
    timer.start()
    return timer


def from_environment() -> Runtime:
    """The app's runtime: the operator's policy and source (env, then secrets, then the replay default).

    A configured source that cannot start must not take the app down: the replay runs and
    ``config_error`` says why.
    """
    logging.getLogger("websockets").setLevel(logging.WARNING)
    if os.environ.get("TCS_BUS"):
        return _from_bus(os.environ["TCS_BUS"])
    store = BookStore()
    rt = Runtime(Feed(store, policy=load_policy()), group=_replay_group(store))
    _refresh_instruments_later(rt.feed.table)
    try:
        rt.start(load_config())
    except Exception as exc:  # any bad operator setting: run the replay and say why
        log.error("feed configuration refused: %s", exc)
        rt._config_error = f"The configured data source could not start ({exc}); showing the bundled replay instead."
        rt.start(FeedConfig())
    rt._exporter = export_if_configured(rt.feed.store)  # only with TCS_METRICS_FILE set (load and soak runs)
    return rt


def _replay_group(store: BookStore) -> ReplayGroup | None:
    """The bundled recordings of the same minutes as the default one, on one clock that starts now."""
    try:
        venues = same_minutes(default_recording(), bundled_recordings())
    except (FileNotFoundError, ValueError, SimulatorError):  # no manifest or no times in it: the main feed alone
        return None
    if len(venues) < 2 or not all(r.start and r.end for r in venues):
        return None
    return ReplayGroup(store, venues, ReplayClock.common(venues))


def _from_bus(url: str) -> Runtime:
    """An app replica: no feed of its own; one bus reader fills the store (``TCS_BUS_INSTRUMENTS``, the first
    one is the status line's). Visitors can neither switch the source nor type a URL."""
    store = BookStore()
    policy = replace(load_policy(), allow_source_switch=False, allow_custom_url=False)
    reader = BusReader(url, store, bus_instruments(), settings=BusSettings.from_env())
    rt = Runtime(Feed(store, policy=policy), bus=reader)
    _refresh_instruments_later(rt.feed.table)
    reader.start()
    rt._exporter = export_if_configured(store)
    return rt
