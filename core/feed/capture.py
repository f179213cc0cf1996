"""Record the running feed for a bounded number of seconds, for download from the Data page.

A ``Capture`` attaches a ``core.feed.recorder.Recorder`` to the shared feed as a listener (it runs on the feed
thread and only appends to a gzip file), and a named daemon timer detaches it after ``seconds``. The
finished file is read into memory once and deleted; the bytes are what the download button serves.
Everything is bounded: 1 to 600 seconds and at most ``MAX_MESSAGES`` books, so one visitor cannot fill
the server's disk or memory. The output is the replay format (GoQuant JSON lines, gzip), so a download
can be replayed with ``python -m core.replay --data FILE``.
"""

from __future__ import annotations

import enum
import logging
import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from core.errors import CaptureBusy, InputError
from core.feed.recorder import Recorder
from core.market.tape import LiveTape, Tape

log = logging.getLogger(__name__)

MIN_SECONDS = 1.0
MAX_SECONDS = 600.0
MAX_MESSAGES = 20_000  # ~6 MB of gzip for 400-level books; a 600 s capture at 10x replay speed stays under it
MAX_CONCURRENT = 2  # recordings running at once in this process, whoever started them
_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT)


class Listenable(Protocol):
    def add_listener(self, fn: Callable[..., None]) -> None: ...
    def remove_listener(self, fn: Callable[..., None]) -> None: ...


class CaptureState(str, enum.Enum):
    RECORDING = "recording"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CaptureStatus:
    """What the page shows about a capture, as one value."""

    state: CaptureState
    elapsed_s: float
    seconds: float  # requested duration
    messages: int
    size_bytes: int  # of the finished file (0 while recording)
    file_name: str
    error: str
    limit_hit: bool  # stopped early at MAX_MESSAGES
    trades: int = 0  # the source's public trades recorded beside the books (a live OKX feed; 0 elsewhere)

    @property
    def progress(self) -> float:
        """Fraction of the requested time elapsed, 0..1 (1 once done)."""
        if self.state is not CaptureState.RECORDING:
            return 1.0
        return min(max(self.elapsed_s / self.seconds, 0.0), 1.0) if self.seconds > 0 else 1.0


def check_seconds(value: Any) -> float:
    """A duration typed by a user; ``InputError`` with a plain message unless 1 <= value <= 600 s."""
    if isinstance(value, bool) or value is None:
        raise InputError(f"Recording length must be a number of seconds, got {value!r}.")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"Recording length must be a number of seconds, got {value!r}.") from None
    if not math.isfinite(v):
        raise InputError(f"Recording length must be a finite number of seconds, got {value!r}.")
    if not MIN_SECONDS <= v <= MAX_SECONDS:
        raise InputError(f"Recording length must be between {MIN_SECONDS:g} and {MAX_SECONDS:g} seconds, got {v:g}.")
    return v


def capture_file_name(exchange: str, symbol: str, when: float) -> str:
    """``binance-futures_BTCUSDT_20240808-235416.jsonl.gz`` style name (UTC wall-clock start)."""
    stamp = datetime.fromtimestamp(when, tz=UTC).strftime("%Y%m%d-%H%M%S")
    safe = "_".join("".join(ch for ch in part if ch.isalnum() or ch in "-.") or "feed" for part in (exchange, symbol))
    return f"{safe}_{stamp}.jsonl.gz"


class Capture:
    """One bounded recording of the feed; thread-safe; start it with ``start``."""

    def __init__(
        self,
        feed: Listenable,
        seconds: float,
        *,
        file_name: str = "recording.jsonl.gz",
        max_messages: int = MAX_MESSAGES,
        clock: Callable[[], float] = time.monotonic,
        trades: LiveTape | None = None,
    ) -> None:
        """``trades``: the source's live trades (``Feed.live_trades``), recorded beside the books when given, so
        the download can be scored with ``python -m core.validate``."""
        self.seconds = check_seconds(seconds)
        self.file_name = file_name
        self.max_messages = max_messages
        self._feed = feed
        self._clock = clock
        self._dir = Path(tempfile.mkdtemp(prefix="tcs-capture-"))
        self._trades = trades
        self._recorder = Recorder(
            self._dir / "capture.jsonl.gz",
            max_messages=max_messages,
            trades_out=self._dir / "trades.parquet" if trades is not None else None,
        )
        self._trades_data: bytes | None = None
        #: the source whose trades come first: another one's (a switch meanwhile) are not kept
        self._generation: int | None = None
        self._lock = threading.Lock()  # guards the fields below
        self._state = CaptureState.RECORDING
        self._started = clock()
        self._ended: float | None = None
        self._data: bytes | None = None
        self._error = ""
        self._count = 0
        self._timer: threading.Timer | None = None
        self._slot = False  # holds one of the process-wide recording slots

    def start(self) -> Capture:
        """Attach to the feed; raises ``CaptureBusy`` when ``MAX_CONCURRENT`` recordings already run."""
        if not _SLOTS.acquire(blocking=False):
            self._recorder.close()
            shutil.rmtree(self._dir, ignore_errors=True)
            raise CaptureBusy(
                f"{MAX_CONCURRENT} recordings are already running on this server; try again when one finishes."
            )
        self._slot = True
        self._started = self._clock()
        self._feed.add_listener(self._recorder)
        if self._trades is not None:
            self._trades.add_listener(self._on_trades)
        self._timer = threading.Timer(self.seconds, self.finish)
        self._timer.name = f"tcs-capture-{id(self):x}"
        self._timer.daemon = True
        self._timer.start()
        return self

    def finish(self) -> None:
        """Detach from the feed, close the file and keep its bytes; idempotent (timer, stop button, limit)."""
        with self._lock:
            if self._state is not CaptureState.RECORDING:
                return
            if self._timer is not None:
                self._timer.cancel()
            self._feed.remove_listener(self._recorder)
            if self._trades is not None:
                self._trades.remove_listener(self._on_trades)
            if self._slot:
                self._slot = False
                _SLOTS.release()
            try:
                self._count = self._recorder.close()
                self._data = self._recorder.writer.path.read_bytes()
                out = self._recorder.trades_out
                if out is not None and out.exists():
                    self._trades_data = out.read_bytes()
                self._state = CaptureState.DONE
            except OSError as exc:
                log.warning("capture failed", exc_info=True)
                self._error = f"The recording could not be written: {exc.strerror or exc}"
                self._state = CaptureState.FAILED
            finally:
                shutil.rmtree(self._dir, ignore_errors=True)
            self._ended = self._clock()

    @property
    def data(self) -> bytes | None:
        """The finished file (gzip JSON lines), None until done."""
        return self._data

    def _on_trades(self, trades: Tape) -> None:
        if self._trades is None:
            return
        if self._generation is None:
            self._generation = self._trades.generation
        if self._trades.generation == self._generation:
            self._recorder.on_trades(trades)

    @property
    def trades_data(self) -> bytes | None:
        """The source's trades recorded beside the books (Parquet, ``data/trades``' format), None without any."""
        return self._trades_data

    @property
    def trades_file_name(self) -> str:
        return self.file_name.removesuffix(".jsonl.gz") + ".parquet"

    def status(self) -> CaptureStatus:
        if self._recorder.done.is_set() and self._state is CaptureState.RECORDING:
            self.finish()  # the message limit was reached before the time ran out
        with self._lock:
            state = self._state
            end = self._ended if self._ended is not None else self._clock()
            messages = self._count if state is not CaptureState.RECORDING else self._recorder.count
            return CaptureStatus(
                state=state,
                elapsed_s=end - self._started,
                seconds=self.seconds,
                messages=messages,
                size_bytes=len(self._data) if self._data is not None else 0,
                file_name=self.file_name,
                error=self._error,
                limit_hit=messages >= self.max_messages,
                trades=self._recorder.trades_written
                if state is not CaptureState.RECORDING
                else self._recorder.trades_seen,
            )
