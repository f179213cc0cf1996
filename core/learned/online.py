"""Online calibration: the p90 band and the maker share corrected, as they go, by what really executed.

Why: a model fitted on some evenings misses another evening's level (``docs/VALIDATION.md``, the held-out day:
its $10k-$100k taker orders paid more than the band said, its resting orders filled more than the maker model
said), and no static correction fitted on the training days can know the next day's level. Every real outcome
that arrives says which way the figure errs, so each size bucket keeps a shift that moves with each outcome:

- p90 band, online quantile tracking (the proportional term of conformal PID control: Angelopoulos, Barber and
  Bates 2023; adaptive conformal inference, Gibbs and Candès 2021): per size bucket, after each real taker
  order ``shift += step x (missed - (1 - level))``, in units of ``max(spread_bps, UNIT_FLOOR_BPS)`` (the unit
  the static band's split-conformal shift is fitted in) or of ``UNIT_FLOOR_BPS`` whatever the spread (``BandUnit``,
  chosen with the step). Over a long run the share of misses tends to
  ``1 - level`` whatever the starting band, because every miss raises the shift by ``step x level`` and every
  cover lowers it by ``step x (1 - level)``; except that a cover of a band already at the expectation leaves it
  (anti-windup: the band cannot go lower, so the shift must not run away below it).
- maker share, online logistic recalibration of the intercept: per size bucket, once a resting order's horizon
  has ended, ``shift += step x (realised fill - shown share)`` in logits (the gradient of the log-loss in the
  intercept), and the share shown is ``sigmoid(logit(model share) + shift)``.

Both are causal: an outcome moves a shift only once it is known (a taker order when it prints, a resting order
when its horizon ends), so a figure shown at time t uses only what executed before t. They start at 0 (the
static models as trained) whenever a source starts and whenever a replay begins its recording again. The steps were chosen by ``core.training.online``'s rule on
the training days alone (``models/online.json``); a step of 0 is the static model.
"""

from __future__ import annotations

import bisect
import json
import math
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ParseError
from core.learned.fill import GRID_SIZES_USD
from core.learned.nets import sigmoid
from core.paths import ONLINE_FILE

LEVEL = 0.9
#: the band tracker's unit: max(spread_bps, this) bps, or this alone (``BandUnit``; a tick or two of BTC, the static
#: band's floor)
UNIT_FLOOR_BPS = 0.03
#: shares are kept this far from 0 and 1 before taking the logit (a finite logit for a share of exactly 0 or 1)
SHARE_EPS = 1e-6
#: each bucket also counts its last this many outcomes: the running totals since the start cannot tell a reader
#: whether the correction in force is still needed, the recent ones can
RECENT_OUTCOMES = 100


def shown_label(label: str) -> str:
    """A size bucket's label as the pages show it ("≥$1M"; the JSON and the reports keep ">=$1M")."""
    return label.replace(">=", "≥")


def size_label(v: float) -> str:
    """$10k, $1M, $3.2M: a bucket edge or a tested size in words."""
    for div, unit in ((1e6, "M"), (1e3, "k")):
        if v >= div:
            x = v / div
            return f"${x:.0f}{unit}" if x >= 10 else f"${x:.2g}{unit}"
    return f"${v:g}"


class BandUnit(Enum):
    """What one unit of the band tracker's shift is worth in bps; chosen with the step (``core.training.online``).

    Why a choice: a shift kept in spread units and learnt while the spread sits at its floor (most of a BTC day) is
    multiplied by the spread of the moment; when a sweep leaves a gap of 2-3 bps for a few seconds it moved the band
    by up to 200 bps on a training recording, where those orders' cost above the walk had a p90 of about 2 bps. A
    fixed unit keeps a shift worth the same bps whatever the spread; the static band still widens with it."""

    SPREAD = f"max(spread_bps, {UNIT_FLOOR_BPS:g})"
    FIXED = f"{UNIT_FLOOR_BPS:g} bps"

    @property
    def words(self) -> str:
        """How a note writes one unit: "max(spread, 0.03 bps)" or "0.03 bps"."""
        return f"max(spread, {UNIT_FLOOR_BPS:g} bps)" if self is BandUnit.SPREAD else self.value

    def bps(self, spread_bps: Any) -> Any:
        """One unit in bps on a book of ``spread_bps`` (a float or an array)."""
        if self is BandUnit.SPREAD:
            return np.fmax(spread_bps, UNIT_FLOOR_BPS)
        return UNIT_FLOOR_BPS


@dataclass(frozen=True, slots=True)
class SizeBuckets:
    """The size buckets a tracker keeps one shift for, by order notional (USD, lower bound inclusive).

    Why a choice: orders of different sizes can err in opposite directions (on the training days resting orders of
    $1M filled more than the maker model said and those of $5M less); one shift for both helps neither, so the
    bucket set is chosen with the step (``core.training.online``)."""

    name: str
    edges_usd: tuple[float, ...]
    _log10: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_log10", tuple(math.log10(v) for v in self.edges_usd))

    @property
    def labels(self) -> tuple[str, ...]:
        e = self.edges_usd
        mid = [f"{size_label(a)}-{size_label(b)[1:]}" for a, b in pairwise(e)]
        return (f"<{size_label(e[0])}", *mid, f">={size_label(e[-1])}")

    def __len__(self) -> int:
        return len(self.edges_usd) + 1

    def of(self, notional_usd: float) -> int:
        """Index into ``labels`` of an order of ``notional_usd`` (on log10 USD, as the models' size input)."""
        return self.of_log10(math.log10(max(float(notional_usd), 1e-9)))

    def of_log10(self, log10_usd: float) -> int:
        return bisect.bisect_right(self._log10, log10_usd)  # on every tick a correction applies: no numpy call


#: one shift per decade of notional: <$1k, $1k-10k, ..., >=$1M (the buckets of the static band's table and of the
#: validator)
DECADES = SizeBuckets("decades", (1e3, 1e4, 1e5, 1e6))
#: one shift per half decade: <$1k, $1k-3.2k, $3.2k-10k, ..., >=$3.2M
HALF_DECADES = SizeBuckets("half decades", tuple(10.0 ** (k / 2) for k in range(6, 14)))
BUCKET_SETS: dict[str, SizeBuckets] = {b.name: b for b in (DECADES, HALF_DECADES)}
#: the validator's (and the static band's) buckets, by which the training rule judges every candidate
BUCKET_LABELS = DECADES.labels


def size_bucket(notional_usd: float) -> int:
    """The validator's size bucket (``DECADES``) of an order of ``notional_usd``."""
    return DECADES.of(notional_usd)


@dataclass(frozen=True, slots=True)
class OnlineSteps:
    """The steps ``core.training.online`` chose (``models/online.json``), and where they came from."""

    band_step: float  # band units (``band_unit``) per real taker order
    share_step: float  # logits per resting order's outcome
    source: str
    band_buckets: SizeBuckets = DECADES
    share_buckets: SizeBuckets = DECADES
    band_unit: BandUnit = BandUnit.SPREAD

    @property
    def describe(self) -> str:
        return (
            f"p90 band step {self.band_step:g} x {self.band_unit.words} per real taker order, size "
            f"buckets by {self.band_buckets.name}; maker share step {self.share_step:g} logit per resting order's "
            f"outcome, size buckets by {self.share_buckets.name} ({self.source})"
        )


def load_steps(path: str | Path = ONLINE_FILE) -> OnlineSteps | None:
    """The chosen steps, or None without a card (the static models alone)."""
    p = Path(path)
    if not p.is_file():
        return None
    card = json.loads(p.read_text(encoding="utf-8"))
    return OnlineSteps(
        band_step=float(card["band"]["step"]),
        share_step=float(card["share"]["step"]),
        source=f"chosen by {card.get('command', 'python -m core.training.online')} on the training days' dates",
        band_buckets=BUCKET_SETS[card["band"].get("buckets", DECADES.name)],
        share_buckets=BUCKET_SETS[card["share"].get("buckets", DECADES.name)],
        band_unit=BandUnit(card["band"].get("unit", BandUnit.SPREAD.value)),
    )


def band_unit_bps(spread_bps: float, unit: BandUnit = BandUnit.SPREAD) -> float:
    return float(unit.bps(float(spread_bps)))


def moved_band(p90_bps: Any, shift: Any, spread_bps: Any, floor_bps: Any, unit: BandUnit = BandUnit.SPREAD) -> Any:
    """The band shown (floats or arrays): the static p90 moved by ``shift`` units (``unit``), never below
    ``floor_bps`` (the expectation). The app's trackers and the validator's replay of them both use it."""
    return np.fmax(p90_bps + shift * unit.bps(spread_bps), floor_bps)


def moved_share(model_share: Any, shift: Any) -> Any:
    """The maker share shown (floats or arrays): the model's, its logit moved by ``shift`` (unchanged at 0)."""
    p = np.clip(model_share, SHARE_EPS, 1.0 - SHARE_EPS)
    return np.where(np.asarray(shift) == 0.0, model_share, sigmoid(np.log(p / (1.0 - p)) + shift))


#: the model share at which ``minute_changes`` measures how much a shift moves what is shown (a mid-size order's)
REFERENCE_SHARE = 0.25
#: the first minutes of a run are the shift leaving 0; ``minute_changes`` measures after them
SETTLE_MS = 120_000


def minute_changes(times_ms: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """How a share tracker moves what a trader sees: the change in points, from one minute to the next, of a model
    share of ``REFERENCE_SHARE`` moved by the shift in force (``shifts`` at ``times_ms``), from ``SETTLE_MS`` after
    the first time on."""
    at_marks = minute_marks(times_ms, shifts)
    return np.diff(moved_share(np.full(at_marks.size, REFERENCE_SHARE), at_marks)) * 100.0


def minute_marks(times_ms: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` (at ``times_ms``, any order) as they stood at each whole minute from ``SETTLE_MS`` after the first
    time on (what a trader refreshing once a minute would see)."""
    if times_ms.size == 0:
        return np.zeros(0)
    order = np.argsort(times_ms, kind="stable")
    times_ms, values = times_ms[order], values[order]
    marks = np.arange(times_ms[0] + SETTLE_MS, times_ms[-1] + 1, 60_000)
    at = np.searchsorted(times_ms, marks, side="right") - 1
    return np.where(at >= 0, values[np.maximum(at, 0)], 0.0)


def moves_summary(changes: Sequence[np.ndarray]) -> dict[str, float] | None:
    """Of several runs' ``minute_changes``: the median and p90 of the size of a minute's change (points), and how
    much of it goes back and forth (points per minute: sum |change| - |net change|, over every minute). A share
    that climbs to the day's level moves without going back and forth; one that chases the last seconds' fills
    swings, however well it averages (``core.training.online``)."""
    runs = [c for c in changes if c.size]
    if not runs:
        return None
    size = np.abs(np.concatenate(runs))
    swing = sum(float(np.abs(c).sum() - abs(c.sum())) for c in runs) / size.size
    return {"median": float(np.median(size)), "p90": float(np.quantile(size, 0.9)), "back_and_forth": swing}


@dataclass(frozen=True, slots=True)
class TrackerState:
    """What a tracker has learnt so far (crosses threads: the feed thread updates, pages read)."""

    step: float
    buckets: SizeBuckets
    shifts: tuple[float, ...]  # per size bucket (band: units of ``unit``; share: logits)
    outcomes: tuple[int, ...]  # outcomes seen per size bucket
    misses: tuple[float, ...]  # band: orders above the band shown; share: sum of realised fills
    shown: tuple[float, ...]  # band: 0; share: sum of the shares shown for those outcomes
    #: the same three over each bucket's last ``RECENT_OUTCOMES`` outcomes (all zero: not known, an older ingest)
    recent_outcomes: tuple[int, ...] = ()
    recent_misses: tuple[float, ...] = ()
    recent_shown: tuple[float, ...] = ()
    #: the band's shift unit (a share tracker's state keeps the default, which means nothing for a share: its shifts
    #: are logits, published under "shifts" as before)
    unit: BandUnit = BandUnit.SPREAD

    def to_doc(self) -> dict[str, Any]:
        """As JSON for the bus (the ingest publishes its trackers; replicas load them). Shifts in another unit than
        the spread one go under their own key (``shifts_key``): a replica of a version before the unit, which does
        not read "unit", then finds no "shifts" and skips the state, instead of reading them in spread units."""
        return {
            "step": self.step,
            "buckets": self.buckets.name,
            shifts_key(self.unit): list(self.shifts),
            "outcomes": list(self.outcomes),
            "misses": list(self.misses),
            "shown": list(self.shown),
            "recent_outcomes": list(self.recent_outcomes),
            "recent_misses": list(self.recent_misses),
            "recent_shown": list(self.recent_shown),
            "unit": self.unit.value,
        }

    @staticmethod
    def from_doc(doc: Any) -> TrackerState:
        """A state read from the bus; ``ParseError`` for anything that is not one (unknown buckets, wrong lengths,
        a value that is not a finite number), so a malformed document is counted and skipped, never applied. The
        recent counts may be absent (an ingest of an older version): then they are not known; so may the unit (then
        the spread unit, the only one an older version had)."""
        if not isinstance(doc, dict) or doc.get("buckets") not in BUCKET_SETS:
            raise ParseError("bad_calibration", "not a tracker state, or size buckets this version does not know")
        buckets = BUCKET_SETS[doc["buckets"]]
        try:
            unit = BandUnit(doc.get("unit", BandUnit.SPREAD.value))
        except ValueError as exc:
            raise ParseError("bad_calibration", "a band unit this version does not know") from exc

        def numbers(key: str, *, optional: bool = False) -> tuple[float, ...]:
            v = doc.get(key)
            if v is None and optional:
                return (0.0,) * len(buckets)
            if not isinstance(v, list) or len(v) != len(buckets):
                raise ParseError("bad_calibration", f"{key}: not one number per size bucket")
            try:
                out = tuple(float(x) for x in v)
            except (TypeError, ValueError) as exc:
                raise ParseError("bad_calibration", f"{key}: not numbers") from exc
            if not all(math.isfinite(x) for x in out):
                raise ParseError("bad_calibration", f"{key}: not finite")
            return out

        def counts(key: str, *, optional: bool = False) -> tuple[int, ...]:
            v = numbers(key, optional=optional)
            if any(x < 0 or x != int(x) for x in v):
                raise ParseError("bad_calibration", f"{key}: not counts")
            return tuple(int(x) for x in v)

        step = doc.get("step")
        if not isinstance(step, int | float) or not step >= 0.0:
            raise ParseError("bad_calibration", "step: not a number of 0 or more")
        outcomes = counts("outcomes")
        rn, ra, rb = (
            counts("recent_outcomes", optional=True),
            numbers("recent_misses", optional=True),
            numbers("recent_shown", optional=True),
        )
        for k in range(len(buckets)):  # a replica rebuilds the window from them: bounded by what it can be
            room = rn[k] + 1e-6  # the running sums' rounding
            if not (rn[k] <= min(RECENT_OUTCOMES, outcomes[k]) and 0 <= ra[k] <= room and 0 <= rb[k] <= room):
                raise ParseError("bad_calibration", "recent counts larger than the window or the outcomes")
        return TrackerState(
            float(step),
            buckets,
            numbers(shifts_key(unit)),
            outcomes,
            numbers("misses"),
            numbers("shown"),
            rn,
            ra,
            rb,
            unit,
        )

    def recent(self, bucket: int) -> tuple[int, float, float]:
        """(outcomes, misses or fills, shown) over the bucket's last ``RECENT_OUTCOMES`` outcomes (0s: not known)."""
        if not self.recent_outcomes:
            return 0, 0.0, 0.0
        return self.recent_outcomes[bucket], self.recent_misses[bucket], self.recent_shown[bucket]

    def band_note(self, bucket: int, spread_bps: float) -> str:
        """What the band tracker has done for orders of ``bucket`` (empty before any outcome), its shift in bps of
        an order on a book of ``spread_bps``. Facts and the rule, no "so": the shift sums every outcome since the
        start (a cover at the floor excepted), so its sign need not follow the share above the band."""
        n = self.outcomes[bucket]
        if not n:
            return ""
        shift = self.shifts[bucket]
        rn, rm, _ = self.recent(bucket)
        recent = f"; the last {rn:,}: {rm / rn:.0%}" if rn and rn < n else ""
        return (
            f"corrected online: of {n:,} real taker orders of {shown_label(self.buckets.labels[bucket])} on this tape "
            f"so far, {self.misses[bucket] / n:.0%} paid more than the band shown them (target {1 - LEVEL:.0%}"
            f"{recent}); the correction stands at {signed(shift * band_unit_bps(spread_bps, self.unit), '.2f')} bps"
            f"{' on this book' if self.unit is BandUnit.SPREAD else ''} ({signed(shift, '.2f')} x {self.unit.words}): "
            "each order above its band raises "
            f"it, each below lowers it a ninth as much, except one whose band was already its expected cost (the "
            f"lowest a band goes)"
        )

    def share_note(self, bucket: int) -> str:
        """What the share tracker has done for the test orders of ``bucket`` (empty before any outcome)."""
        n = self.outcomes[bucket]
        if not n:
            return ""
        rn, rf, rs = self.recent(bucket)
        recent = f"; the last {rn:,} filled {rf / rn:.0%} where it showed {rs / rn:.0%}" if rn and rn < n else ""
        return (
            f"corrected online: the app's {n:,} test limit orders of {shown_label(self.buckets.labels[bucket])} "
            f"whose rest ended on this tape filled {self.misses[bucket] / n:.0%} where the app showed "
            f"{self.shown[bucket] / n:.0%} (its correction included; averaged over 0-5 bps offsets and 10-60 s "
            f"rests){recent}; the correction stands at logit {signed(self.shifts[bucket], '.2f')} (each test order's "
            "fill minus the share shown moves it)"
        )


def shifts_key(unit: BandUnit) -> str:
    """The bus document's key for a tracker's shifts: "shifts" in the spread unit (the only one before session 18,
    and a share tracker's default), "shifts_fixed" in the fixed one."""
    return "shifts" if unit is BandUnit.SPREAD else f"shifts_{unit.name.lower()}"


def signed(x: float, spec: str) -> str:
    """``+0.08``, ``−0.08`` (a true minus sign, as the cards write it), ``0.00``."""
    text = format(abs(x), spec)
    if float(text) == 0.0:
        return text
    return ("+" if x > 0 else "−") + text


class _Tracker:
    """Per-size-bucket shifts behind a lock; ``state()`` hands out a frozen copy."""

    def __init__(self, step: float, buckets: SizeBuckets = DECADES, unit: BandUnit = BandUnit.SPREAD) -> None:
        if not step >= 0.0:
            raise ValueError("an online step must be 0 or more")
        self.step = float(step)
        self.buckets = buckets
        self.unit = unit
        n = len(buckets)
        self._lock = threading.Lock()
        #: the (exchange, symbol) whose outcomes move the shifts: only its orders are corrected (None: every order)
        self.applies_to: tuple[str, str] | None = None
        self._shift = [0.0] * n
        self._n = [0] * n
        self._a = [0.0] * n
        self._b = [0.0] * n
        self._recent: list[deque[tuple[float, float]]] = [deque() for _ in range(n)]
        self._recent_sum = [[0.0, 0.0] for _ in range(n)]  # kept as they go: ``state()`` runs on every estimate

    def applies(self, exchange: str, symbol: str) -> bool:
        return self.applies_to is None or self.applies_to == (exchange, symbol)

    def shift(self, bucket: int) -> float:
        with self._lock:
            return self._shift[bucket]

    def state(self) -> TrackerState:
        with self._lock:
            recent = [
                (len(d), max(r[0], 0.0), max(r[1], 0.0)) for d, r in zip(self._recent, self._recent_sum, strict=True)
            ]
            return TrackerState(
                self.step,
                self.buckets,
                tuple(self._shift),
                tuple(self._n),
                tuple(self._a),
                tuple(self._b),
                tuple(r[0] for r in recent),
                tuple(r[1] for r in recent),
                tuple(r[2] for r in recent),
                self.unit,
            )

    def load(self, state: TrackerState) -> None:
        """Take ``state`` as this tracker's (a bus replica following its ingest's trackers); refuses another bucket
        set, whose shifts would land on the wrong sizes."""
        if state.buckets != self.buckets or len(state.shifts) != len(self.buckets):
            raise ParseError(
                "bad_calibration", f"size buckets by {state.buckets.name}, where this tracker has {self.buckets.name}"
            )
        if state.unit is not self.unit:
            raise ParseError(
                "bad_calibration", f"shifts in units of {state.unit.words}, where this tracker has {self.unit.words}"
            )
        with self._lock:
            self._shift, self._n = list(state.shifts), list(state.outcomes)
            self._a, self._b = list(state.misses), list(state.shown)
            # a replica keeps the ingest's recent counts, not its outcomes: their mean stands for each of them
            self._clear_recent()
            for k in range(len(self.buckets)):
                rn, ra, rb = state.recent(k)
                if rn:
                    self._recent[k].extend([(ra / rn, rb / rn)] * rn)
                    self._recent_sum[k] = [ra, rb]  # as published, not re-added

    def reset(self) -> None:
        with self._lock:
            n = len(self.buckets)
            self._shift, self._n, self._a, self._b = [0.0] * n, [0] * n, [0.0] * n, [0.0] * n
            self._clear_recent()

    def _clear_recent(self) -> None:
        self._recent = [deque() for _ in self.buckets.labels]
        self._recent_sum = [[0.0, 0.0] for _ in self.buckets.labels]

    def _push(self, bucket: int, a: float, b: float) -> None:
        """One outcome into the bucket's recent window (with the lock held)."""
        d, r = self._recent[bucket], self._recent_sum[bucket]
        if len(d) == RECENT_OUTCOMES:
            oa, ob = d.popleft()
            r[0] -= oa
            r[1] -= ob
        d.append((a, b))
        r[0] += a
        r[1] += b


class BandTracker(_Tracker):
    """The p90 band's online shift per size bucket (module doc)."""

    def __init__(
        self, step: float, level: float = LEVEL, buckets: SizeBuckets = DECADES, unit: BandUnit = BandUnit.SPREAD
    ) -> None:
        super().__init__(step, buckets, unit)
        self.level = level

    def band_bps(self, p90_bps: float, spread_bps: float, bucket: int, floor_bps: float) -> float:
        """The band shown: the static p90 moved by the bucket's shift, never below ``floor_bps`` (the expectation)."""
        return float(moved_band(p90_bps, self.shift(bucket), spread_bps, floor_bps, self.unit))

    def observe(self, bucket: int, missed: bool, *, at_floor: bool = False) -> None:
        """One real taker order of ``bucket`` paid more than the band shown for it (``missed``) or not.

        ``at_floor``: the band shown was the expectation (the shift could not lower it). A cover then leaves the
        shift where it is (anti-windup): otherwise a run of small orders that all pay their expectation would drive
        the shift down without end, and the band would take as long to come back when they stop doing so."""
        with self._lock:
            if not (at_floor and not missed):
                self._shift[bucket] += self.step * (float(missed) - (1.0 - self.level))
            self._n[bucket] += 1
            self._a[bucket] += float(missed)
            self._push(bucket, float(missed), 0.0)


class ShareTracker(_Tracker):
    """The maker share's online logit shift per size bucket (module doc).

    Only the sizes of the app's test limit orders (``tested_usd``) have outcomes, each in its own bucket. An order of
    any size takes the shift interpolated linearly in log10 size between the tested sizes around it (flat beyond the
    smallest and the largest): at a tested size that is its bucket's shift; between two, a blend, so that the share
    does not jump at a bucket edge (a $33k order is not moved like $100k ones while a $31k one is moved like $10k
    ones). Between and beyond the tested sizes it is an assumption (said in the order's note): no outcome of its own
    size checks it. The validator's and the rule's orders are all of tested sizes, so it changes none of their
    figures."""

    def __init__(
        self, step: float, buckets: SizeBuckets = DECADES, tested_usd: Sequence[float] = GRID_SIZES_USD
    ) -> None:
        super().__init__(step, buckets)
        self.tested_usd = tuple(sorted(tested_usd))
        self._tested_log10 = [math.log10(v) for v in self.tested_usd]
        self._tested_bucket = [buckets.of(v) for v in self.tested_usd]

    def share(self, model_share: float, bucket: int) -> float:
        """For an order of a tested size in ``bucket`` (the validator's and the rule's orders)."""
        return float(moved_share(model_share, self.shift(bucket)))

    def share_at(self, model_share: float, notional_usd: float) -> float:
        """For an order of any size (what the app shows)."""
        return float(moved_share(model_share, self.shift_at(notional_usd)))

    def shift_at(self, notional_usd: float) -> float:
        x = math.log10(max(float(notional_usd), 1e-9))
        xs = self._tested_log10
        if not xs:
            return self.shift(self.buckets.of(notional_usd))
        with self._lock:
            ys = [self._shift[b] for b in self._tested_bucket]
        k = bisect.bisect_right(xs, x)
        if k == 0:
            return ys[0]
        if k == len(xs):
            return ys[-1]
        w = (x - xs[k - 1]) / (xs[k] - xs[k - 1])
        return (1.0 - w) * ys[k - 1] + w * ys[k]

    def tested_near(self, notional_usd: float) -> float | None:
        """The tested size this order is (within 1%, e.g. a $10k order rounded down to the lot), else None."""
        for v in self.tested_usd:
            if abs(notional_usd / v - 1.0) <= 0.01:
                return v
        return None

    def note(self, notional_usd: float) -> str:
        """What the tracker has done for an order of ``notional_usd`` (empty before any outcome that moves it)."""
        st = self.state()
        near = self.tested_near(notional_usd)
        if near is not None:
            return st.share_note(self.buckets.of(near))
        xs = self.tested_usd
        below = [v for v in xs if v < notional_usd]
        above = [v for v in xs if v > notional_usd]
        around = [v for v in (below[-1:] + above[:1])]
        notes = [st.share_note(self.buckets.of(v)) for v in around]
        if not any(notes):
            return ""
        sizes = " and ".join(size_label(v) for v in around)
        how = "between theirs, by log size" if len(around) == 2 else "theirs"
        return (
            "; ".join(n for n in notes if n)
            + f"; no test order is of this size ({size_label(notional_usd)}), so its correction is {how} (the {sizes} test "
            "orders'): an assumption, not checked on the tape"
        )

    def observe(self, bucket: int, realised: float, shown: float) -> None:
        """A resting order of ``bucket`` shown ``shown`` filled ``realised`` (fractions) by the end of its rest."""
        with self._lock:
            self._shift[bucket] += self.step * (float(realised) - float(shown))
            self._n[bucket] += 1
            self._a[bucket] += float(realised)
            self._b[bucket] += float(shown)
            self._push(bucket, float(realised), float(shown))


def replay_band(
    ts_ms: np.ndarray,
    notional_usd: np.ndarray,
    p90_bps: np.ndarray,
    floor_bps: np.ndarray,
    spread_bps: np.ndarray,
    realised_bps: np.ndarray,
    step: float,
    *,
    level: float = LEVEL,
    tol_bps: float = 1e-6,
    buckets: SizeBuckets = DECADES,
    unit: BandUnit = BandUnit.SPREAD,
) -> np.ndarray:
    """The band each order (in time order) would have been shown with a ``BandTracker`` fed every earlier order.

    Orders stamped the same millisecond are shown their band before any of them updates the tracker (causal)."""
    tracker = BandTracker(step, level, buckets, unit)
    bucket = [buckets.of(v) for v in notional_usd]
    shown = np.full(ts_ms.size, np.nan)
    i = 0
    while i < ts_ms.size:
        j = i
        while j < ts_ms.size and ts_ms[j] == ts_ms[i]:
            j += 1
        for k in range(i, j):
            if np.isfinite(p90_bps[k]):
                shown[k] = tracker.band_bps(float(p90_bps[k]), float(spread_bps[k]), bucket[k], float(floor_bps[k]))
        for k in range(i, j):
            if np.isfinite(shown[k]):
                tracker.observe(
                    bucket[k],
                    bool(realised_bps[k] > shown[k] + tol_bps),
                    at_floor=bool(shown[k] <= floor_bps[k]),
                )
        i = j
    return shown


def replay_share(
    placed_ms: np.ndarray,
    horizon_s: np.ndarray,
    size_usd: np.ndarray,
    predicted: np.ndarray,
    realised: np.ndarray,
    step: float,
    buckets: SizeBuckets = DECADES,
) -> np.ndarray:
    """The maker share each resting order would have been shown with a ``ShareTracker`` fed every order whose rest
    ended before its placement (orders in placement order), as the app counts them."""
    tracker = ShareTracker(step, buckets)
    bucket = [buckets.of(v) for v in size_usd]
    shown = np.empty(placed_ms.size)
    ends = placed_ms + np.round(horizon_s * 1000.0).astype(np.int64)
    by_end = np.argsort(ends, kind="stable")
    nxt = 0
    for i in range(placed_ms.size):
        while nxt < by_end.size and ends[by_end[nxt]] < placed_ms[i]:
            k = int(by_end[nxt])
            if k < i:  # placed earlier (always, as its rest has ended)
                tracker.observe(bucket[k], float(realised[k]), float(shown[k]))
            nxt += 1
        shown[i] = tracker.share(float(predicted[i]), bucket[i])
    return shown
