"""The app's online calibration run over a recording, and what it showed at each order's moment.

``core.pricing.calibration.OnlineCalibration`` (the app's own code) is fed every book of the recording in order
with the recording's trade tape, as the app feeds it while the replay plays from the first book; it keeps the
history of its shifts. An order at time t was shown the static figure moved by the shift of its size bucket as it
stood before t (only outcomes known before t: causal). The validator scores those shown figures against the same
orders it scores the static models on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.costs.models import Models
from core.learned.online import OnlineSteps, moved_band, moved_share
from core.pricing.calibration import OnlineCalibration
from core.validation.books import Books


@dataclass(frozen=True)
class OnlineRun:
    """The shifts the app's trackers took over one recording (book time ms, bucket, shift after)."""

    steps: OnlineSteps
    band_hist: tuple[np.ndarray, np.ndarray, np.ndarray]
    share_hist: tuple[np.ndarray, np.ndarray, np.ndarray]
    taker_orders: int
    resting_orders: int

    @staticmethod
    def _at(hist: tuple[np.ndarray, np.ndarray, np.ndarray], buckets: np.ndarray, t_ms: np.ndarray) -> np.ndarray:
        """Each row's bucket's shift as it stood strictly before its time (0 before any outcome)."""
        times, bucket, shift = hist
        out = np.zeros(t_ms.size)
        for b in np.unique(buckets):
            mine = bucket == b
            at = np.searchsorted(times[mine], t_ms[buckets == b], side="left") - 1
            vals = shift[mine]
            out[buckets == b] = np.where(at >= 0, vals[np.maximum(at, 0)] if vals.size else 0.0, 0.0)
        return out

    def band_bps(
        self, ts_ms: np.ndarray, notional: np.ndarray, p90: np.ndarray, estimate: np.ndarray, spread: np.ndarray
    ) -> np.ndarray:
        """The p90 each order was shown: the static p90 moved by its bucket's shift, never below the estimate."""
        buckets = np.array([self.steps.band_buckets.of(v) for v in notional], dtype=np.int64)
        moved = moved_band(p90, self._at(self.band_hist, buckets, ts_ms), spread, estimate, self.steps.band_unit)
        return np.where(np.isfinite(p90), moved, np.nan)

    def band_shift(self, ts_ms: np.ndarray, buckets: np.ndarray) -> np.ndarray:
        """The band's shift (units of ``steps.band_unit``) in force just before each time, per bucket (``steps.band_buckets``)."""
        return self._at(self.band_hist, buckets, ts_ms)

    def share_shift(self, placed_ms: np.ndarray, size_usd: np.ndarray) -> np.ndarray:
        """The maker share's shift (logits) in force when each resting order was placed."""
        buckets = np.array([self.steps.share_buckets.of(v) for v in size_usd], dtype=np.int64)
        return self._at(self.share_hist, buckets, placed_ms)

    def share(self, placed_ms: np.ndarray, size_usd: np.ndarray, predicted: np.ndarray) -> np.ndarray:
        """The maker share each resting order was shown: the model's, its logit moved by its bucket's shift."""
        buckets = np.array([self.steps.share_buckets.of(v) for v in size_usd], dtype=np.int64)
        return moved_share(predicted, self._at(self.share_hist, buckets, placed_ms))


def run_online(books: Books, trades: Path, models: Models, steps: OnlineSteps) -> OnlineRun:
    """Feed the app's calibration every book of ``books`` with the tape ``trades``, from the first book."""
    inst = books.instrument
    cal = OnlineCalibration(models, steps, keep_history=True)
    cal.follow(Path(trades), (inst.exchange, inst.symbol))
    snaps = books.snapshots(range(len(books)))
    for i in range(len(books)):
        cal.on_book(snaps[i])
    st = cal.status()
    return OnlineRun(
        steps=steps,
        band_hist=cal.history("band"),
        share_hist=cal.history("share"),
        taker_orders=st.taker_orders,
        resting_orders=st.resting_orders,
    )
