"""Market impact calibrated from what the mid and the book did after real taker orders.

The cost engine's impact model (``core.costs.impact``) has two constants: the **permanent share** ψ (the share
of the walk's price move that persists: ``impact_usd = ½ γ X² = ψ x depth cost`` for an order fitted on its own
walk) and the **refill time** τ_r (how long consumed depth takes to come back; it sets η = τ_r / 2ρ). Both are
estimated here from the taker orders of a recording (``core.market.tape``) that walked past their first
price (the only orders the model gives any impact):

- **markout** at horizon h: ``½ x side x (mid(t + h) - m0) x X``, USD, with m0 the arrival mid (the last book at or
  before trade time + the measured book delay, ``core.validation.delay``) and X the order's base quantity:
  Almgren–Chriss' permanent cost ``½ γ X²`` read off the mid's move ``γ X``.
- **permanent share** ψ(h) = Σ markout(h) / Σ depth cost, a ratio of sums over the orders (so large orders
  weigh by their cost), depth cost = ``side x (notional - X x first price)`` of the real fills. The constant is
  ψ at the longest horizon, ``PERMANENT_HORIZON_S``: what is left after the book has refilled.
- **refill** R(h) = Σ min(max(D(h) - D1, 0), C) / Σ C, D the base depth on the side the order took within the
  order's walk distance of that book's own mid (the book's shape, not fixed prices, so a lasting price move is
  not counted as missing depth): C = D0 - D1 the depth gone between the book the order met (D0) and the next
  book (D1), D(h) on the last book at or before t + h. The share of the taken depth that is back; the refill
  time τ_r is the least-squares fit of ``R(h) = L x (1 - exp(-h / τ_r))``, L the share that comes back at all
  (the rest of the book's shape has moved for good).

Intervals: the circular block bootstrap over seconds of ``core.validation.bootstrap`` (the same replicates for
the numerator and denominator of every ratio; τ_r refitted on every replicate's curve). Out of sample: the
constants fitted on the training recording(s) are scored on another day's orders against the old assumption
(ψ = 0.5, τ_r = 10 s): per-order absolute error of the permanent cost (bps of the order's notional) and the
squared error of the refill curve. ``sqrt_law`` puts the square-root law ``Y σ_daily sqrt(Q / V_daily)`` beside
the app's numbers as a cross-check. ``python -m core.validation.impact`` writes ``data/impact.json``, which
``core.costs.impact`` loads.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.costs.estimate import estimate
from core.costs.fees import get_tier
from core.costs.impact import (
    ASSUMED_PERMANENT_SHARE,
    ASSUMED_REFILL_S,
    SQRT_LAW_Y,
    ImpactConstants,
    load_impact,
    sqrt_law_bps,
)
from core.costs.order import Order, Side
from core.costs.volatility import realised_vol
from core.errors import InputError
from core.feed.goquant import parse_snapshot
from core.feed.recording import iso_ms, iter_lines
from core.market.tape import TakerOrders, Tape, group_orders
from core.paths import DATA_DIR, IMPACT_FILE, ROOT
from core.validation.books import Books, load_books
from core.validation.bootstrap import MIN_INTERVAL_N, BlockBootstrap, Resampler
from core.validation.delay import measure_delay
from core.validation.market_orders import SIZE_BUCKETS

#: markout and refill horizons, seconds after the taker order
HORIZONS_S: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0, 5.0, 10.0, 30.0)
#: the horizon whose markout is taken as permanent
PERMANENT_HORIZON_S = 30.0
#: refill times tried by the least-squares fit, seconds (log grid)
REFILL_GRID_S = np.logspace(-2, 3, 1001)
#: order sizes of the square-root-law cross-check, USD
SQRT_LAW_SIZES_USD: tuple[float, ...] = (1e5, 1e6, 1e7)
#: the default recordings: fit on the 2024-08-08 BTCUSDT USD-M day, score on 2024-07-18/19
TRAIN = ("binance-futures_BTCUSDT_20240808",)
TEST = ("binance-futures_BTCUSDT_20240718",)
METHOD = (
    "permanent share = sum of ½·side·(mid(t+{h:g} s) − arrival mid)·X over sum of realised depth cost (beyond the "
    "first fill price), taker orders that walked past their first price; refill time = least-squares fit of "
    "L·(1 − exp(−h/τ)) to the share of the depth taken (book met minus next book, within the walk distance of each book's mid) back at h = "
    "{hs} s; 95% circular block-bootstrap intervals over seconds"
)


@dataclass(frozen=True)
class ImpactSample:
    """One row per taker order that walked past its first price (time order); arrays per horizon in columns."""

    recording: str
    ts_ms: np.ndarray
    notional: np.ndarray  # USD
    qty: np.ndarray  # base units taken
    depth_usd: np.ndarray  # realised cost beyond the first fill price (> 0)
    walk_usd: np.ndarray  # realised cost vs the arrival mid
    markout_usd: np.ndarray  # (n, horizons) ½ side (mid(t+h) - m0) X
    consumed_base: np.ndarray  # depth gone from the taken price range between the book met and the next one
    refilled_base: np.ndarray  # (n, horizons) of it back at t + h, clipped to [0, consumed]
    horizons_s: tuple[float, ...]

    def __len__(self) -> int:
        return int(self.ts_ms.size)

    def _seconds(self) -> tuple[np.ndarray, int]:
        if not len(self):
            return np.zeros(0, dtype=np.int64), 1
        second = self.ts_ms // 1000 - int(self.ts_ms.min()) // 1000
        return second, int(second.max()) + 1

    @property
    def n_seconds(self) -> int:
        return self._seconds()[1]

    def block(self, spec: BlockBootstrap) -> BlockBootstrap:
        """``spec`` for this sample by ``BLOCK_RULE``: at least the longest markout horizon, and the Politis-White
        block of the mid markouts at that horizon."""
        second, n = self._seconds()
        longest = self.markout_usd[:, -1] if len(self) else np.zeros(0)
        return spec.for_family(second, [longest], n, window_s=max(self.horizons_s))

    def resampler(self, spec: BlockBootstrap) -> Resampler:
        second, n = self._seconds()
        return Resampler.of(self.block(spec), second, n)


def depth_within(px: np.ndarray, sz: np.ndarray, mid: float, distance: float) -> float:
    """Base units on one side within ``distance`` of ``mid`` (a little slack for decimal prices)."""
    return float(sz[np.abs(px - mid) <= distance * (1 + 1e-9)].sum())


def measure(
    books: Books, orders: TakerOrders, *, lag_ms: int, horizons_s: Sequence[float] = HORIZONS_S
) -> ImpactSample:
    """Markouts and refill of every walked taker order with a book before it and ``max(horizons)`` after it."""
    hs = tuple(float(h) for h in horizons_s)
    idx = books.index_at(orders.ts_ms + lag_ms)
    last_px = orders.trade_price[orders.stop - 1]
    depth = orders.side * (orders.notional - orders.qty * orders.first_price)
    keep = (idx >= 0) & (depth > 0) & (orders.ts_ms + int(max(hs) * 1000) <= books.ts_ms[-1])
    keep &= idx + 1 < len(books)
    rows = np.flatnonzero(keep)
    mid = books.mid
    m0 = mid[idx[rows]]
    side = orders.side[rows]
    dist = side * (last_px[rows] - m0)  # how far from the arrival mid the order walked
    at = np.stack([books.index_at(orders.ts_ms[rows] + round(h * 1000)) for h in hs], axis=1)
    at = np.maximum(at, idx[rows, None] + 1)  # never before the first book after the one the order met
    # depth queries per book: (row, column); column -2 is the book the order met, -1 the next one (after it)
    queries: dict[int, list[tuple[int, int]]] = {}
    for r, b in enumerate(idx[rows]):
        queries.setdefault(int(b), []).append((r, -2))
        queries.setdefault(int(b) + 1, []).append((r, -1))
    for r in range(rows.size):
        for k in range(len(hs)):
            queries.setdefault(int(at[r, k]), []).append((r, k))
    pre, post = np.zeros(rows.size), np.zeros(rows.size)
    dh = np.zeros((rows.size, len(hs)))
    last = max(queries) if queries else -1
    for i, line in enumerate(iter_lines(books.path)):
        if i > last:
            break
        want = queries.get(i)
        if not want:
            continue
        s = parse_snapshot(line, instrument=books.instrument, source="recording", seq=i)
        for r, k in want:
            px, sz = (s.ask_px, s.ask_sz) if side[r] > 0 else (s.bid_px, s.bid_sz)
            v = depth_within(px, sz, s.mid, float(dist[r]))
            if k == -2:
                pre[r] = v
            elif k == -1:
                post[r] = v
            else:
                dh[r, k] = v
    qty = orders.qty[rows]
    consumed = np.maximum(pre - post, 0.0)
    return ImpactSample(
        recording=books.path.name,
        ts_ms=orders.ts_ms[rows],
        notional=orders.notional[rows],
        qty=qty,
        depth_usd=depth[rows],
        walk_usd=side * (orders.notional[rows] - qty * m0),
        markout_usd=0.5 * side[:, None] * (mid[at] - m0[:, None]) * qty[:, None],
        consumed_base=consumed,
        refilled_base=np.clip(dh - post[:, None], 0.0, consumed[:, None]),
        horizons_s=hs,
    )


def sample_of(recording: Path, trades: Path, *, max_lines: int | None = None) -> tuple[Books, Tape, ImpactSample]:
    books = load_books(recording, max_lines=max_lines)
    tape = Tape.from_parquet(trades)
    orders = group_orders(tape)
    lag = measure_delay(books, orders).lag_ms
    return books, tape, measure(books, orders, lag_ms=lag)


# ---- estimators (point and bootstrap replicates) ---------------------------------------------------------------


def _per_second(rs: Resampler, values: np.ndarray) -> np.ndarray:
    return rs.weights @ np.bincount(rs.second, weights=values, minlength=rs.n_seconds)


def ratio(num: np.ndarray, den: np.ndarray, rs: Resampler | None = None) -> np.ndarray:
    """Σnum / Σden, or its bootstrap replicates (NaN where a replicate's Σden is 0)."""
    if rs is None:
        d = float(den.sum())
        return np.asarray(float(num.sum()) / d if d > 0 else math.nan)
    top, bottom = _per_second(rs, num), _per_second(rs, den)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), np.nan)


def permanent_curve(s: ImpactSample, rs: Resampler | None = None) -> np.ndarray:
    """ψ(h) per horizon (or (replicates, horizons))."""
    return np.stack([ratio(s.markout_usd[:, k], s.depth_usd, rs) for k in range(len(s.horizons_s))], axis=-1)


def refill_curve(s: ImpactSample, rs: Resampler | None = None) -> np.ndarray:
    """R(h) per horizon (or (replicates, horizons))."""
    return np.stack([ratio(s.refilled_base[:, k], s.consumed_base, rs) for k in range(len(s.horizons_s))], axis=-1)


def refill_model(
    horizons_s: Sequence[float], refill_s: float | np.ndarray, level: float | np.ndarray = 1.0
) -> np.ndarray:
    """level x (1 - exp(-h / τ_r)): the share of consumed depth back after h seconds (last axis = horizons)."""
    h = np.asarray(horizons_s, dtype=np.float64)
    tau = np.asarray(refill_s, dtype=np.float64)[..., None]
    return np.asarray(level, dtype=np.float64)[..., None] * (1.0 - np.exp(-h / tau))


def fit_refill(horizons_s: Sequence[float], curve: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares (τ_r, level) of ``level x (1 - exp(-h / τ_r))`` for each curve (last axis = horizons):
    τ_r on ``REFILL_GRID_S``, the level in closed form for each τ_r. NaN for a curve with NaNs."""
    c = np.atleast_2d(curve)
    shape = 1.0 - np.exp(-np.asarray(horizons_s, dtype=np.float64)[None, :] / REFILL_GRID_S[:, None])  # (grid, h)
    level = (c @ shape.T) / (shape * shape).sum(axis=1)  # (curves, grid)
    sse = ((c[:, None, :] - level[:, :, None] * shape[None, :, :]) ** 2).sum(axis=2)
    best = np.argmin(np.where(np.isfinite(sse), sse, np.inf), axis=1)
    ok = np.isfinite(c).all(axis=1)
    tau = np.where(ok, REFILL_GRID_S[best], np.nan)
    lev = np.where(ok, level[np.arange(c.shape[0]), best], np.nan)
    return (tau, lev) if np.ndim(curve) > 1 else (tau[0], lev[0])


def _round(x: Any, digits: int = 6) -> Any:
    if x is None:
        return None
    if isinstance(x, np.ndarray):
        return [_round(v, digits) for v in x.tolist()]
    if isinstance(x, list | tuple):
        return [_round(v, digits) for v in x]
    x = float(x)
    return None if not math.isfinite(x) else round(x, digits)


def _ci(reps: np.ndarray, spec: BlockBootstrap, n: int) -> list[float] | None:
    r = reps[np.isfinite(reps)]
    if n < MIN_INTERVAL_N or r.size == 0:
        return None
    tail = 50.0 * (1.0 - spec.level)
    return _round([np.percentile(r, tail), np.percentile(r, 100.0 - tail)])


def fit(s: ImpactSample, spec: BlockBootstrap) -> dict[str, Any]:
    """ψ and τ_r with their intervals and the curves they come from."""
    rs = s.resampler(spec)
    k = s.horizons_s.index(PERMANENT_HORIZON_S)
    psi_c, psi_r = permanent_curve(s), permanent_curve(s, rs)
    ref_c, ref_r = refill_curve(s), refill_curve(s, rs)
    (tau, level), (tau_r, level_r) = fit_refill(s.horizons_s, ref_c), fit_refill(s.horizons_s, ref_r)
    n = len(s)
    return {
        "n_orders": n,
        "permanent_share": _round(psi_c[k]),
        "permanent_share_ci": _ci(psi_r[:, k], spec, n),
        "refill_s": _round(tau),
        "refill_s_ci": _ci(tau_r, spec, n),
        "refilled_share": _round(level),
        "refilled_share_ci": _ci(level_r, spec, n),
        "horizons_s": list(s.horizons_s),
        "permanent_share_by_horizon": _round(psi_c),
        "permanent_share_by_horizon_ci": [_ci(psi_r[:, j], spec, n) for j in range(len(s.horizons_s))],
        "refill_by_horizon": _round(ref_c),
        "refill_by_horizon_ci": [_ci(ref_r[:, j], spec, n) for j in range(len(s.horizons_s))],
        "depth_usd": _round(s.depth_usd.sum(), 2),
        "walk_usd": _round(s.walk_usd.sum(), 2),
        "notional_usd": _round(s.notional.sum(), 2),
    }


def by_size(s: ImpactSample) -> list[dict[str, Any]]:
    """ψ(h) and the mean mid markout (bps) per size bucket (no intervals: a few buckets hold few orders)."""
    lows = np.array([lo for _, lo, _ in SIZE_BUCKETS[1:]])
    bucket = np.searchsorted(lows, s.notional, side="right")
    out = []
    for j, (name, _, _) in enumerate(SIZE_BUCKETS):
        m = bucket == j
        sub = ImpactSample(
            s.recording,
            s.ts_ms[m],
            s.notional[m],
            s.qty[m],
            s.depth_usd[m],
            s.walk_usd[m],
            s.markout_usd[m],
            s.consumed_base[m],
            s.refilled_base[m],
            s.horizons_s,
        )
        mid_bps = 2.0 * sub.markout_usd / sub.notional[:, None] * 1e4 if len(sub) else np.zeros((0, len(s.horizons_s)))
        out.append(
            {
                "bucket": name,
                "n": len(sub),
                "permanent_share_by_horizon": _round(permanent_curve(sub)) if len(sub) else None,
                "mid_markout_bps_by_horizon": _round(mid_bps.mean(axis=0)) if len(sub) else None,
                "walk_bps": _round(sub.walk_usd.sum() / sub.notional.sum() * 1e4) if len(sub) else None,
            }
        )
    return out


def score(
    s: ImpactSample, spec: BlockBootstrap, *, permanent_share: float, refill_s: float, refilled_share: float = 1.0
) -> dict[str, Any]:
    """The constants against the old assumption on ``s``: errors of each and their difference with an interval."""
    rs = s.resampler(spec)
    k = s.horizons_s.index(PERMANENT_HORIZON_S)
    observed = s.markout_usd[:, k] / s.notional * 1e4

    def abs_err(psi: float) -> np.ndarray:
        return np.abs(observed - psi * s.depth_usd / s.notional * 1e4)

    cal, base = abs_err(permanent_share), abs_err(ASSUMED_PERMANENT_SHARE)
    ref_c, ref_r = refill_curve(s), refill_curve(s, rs)

    def sse(tau: float, curve: np.ndarray, level: float = 1.0) -> np.ndarray:
        return ((curve - refill_model(s.horizons_s, tau, level)) ** 2).sum(axis=-1)

    n = len(s)
    return {
        "n_orders": n,
        "permanent_cost_mae_bps": {
            "calibrated": _round(cal.mean()),
            "assumed": _round(base.mean()),
            "difference": _round((cal - base).mean()),
            "difference_ci": _round(rs.interval(cal - base)),
            "what": f"mean |observed ½·mid move·X at {PERMANENT_HORIZON_S:g} s − ψ·depth cost| per order, bps of "
            "its notional; difference = calibrated − assumed (negative: the calibration is better)",
        },
        "observed_permanent_share": _round(permanent_curve(s)[k]),
        "observed_permanent_share_ci": _ci(permanent_curve(s, rs)[:, k], spec, n),
        "refill_curve_sse": {
            "calibrated": _round(sse(refill_s, ref_c, refilled_share)),
            "assumed": _round(sse(ASSUMED_REFILL_S, ref_c)),
            "difference": _round(sse(refill_s, ref_c, refilled_share) - sse(ASSUMED_REFILL_S, ref_c)),
            "difference_ci": _ci(sse(refill_s, ref_r, refilled_share) - sse(ASSUMED_REFILL_S, ref_r), spec, n),
            "what": "sum over horizons of (observed refill share − level·(1 − exp(−h/τ_r)))², the assumption with "
            "level 1 (all depth back); difference = calibrated − assumed (negative: the calibration is better)",
        },
        "observed_refill_by_horizon": _round(ref_c),
        "observed_refill_s": _round(fit_refill(s.horizons_s, ref_c)[0]),
        "observed_refilled_share": _round(fit_refill(s.horizons_s, ref_c)[1]),
    }


# ---- the square-root law beside the app -------------------------------------------------------------------------


def daily_volume(tape: Tape) -> tuple[float, str]:
    """USD traded per day if the tape's rate held all day, and how it was obtained (an assumption)."""
    span_s = max((int(tape.ts_ms.max()) - int(tape.ts_ms.min())) / 1000.0, 1.0) if len(tape) else math.nan
    usd = float((tape.price * tape.qty).sum())
    return usd / span_s * 86_400.0, (
        f"measured: {usd:,.0f} USD traded on the tape in {span_s:,.0f} s, scaled to 24 h (assumption: that rate "
        "holds all day)"
    )


def sqrt_law(books: Books, tape: Tape, constants: ImpactConstants) -> dict[str, Any]:
    """The square-root law next to the app's slippage and impact on the recording's last book, per order size."""
    vol = realised_vol(books.ts_ms / 1000.0, books.mid)
    sigma_daily = vol.annual / math.sqrt(365.0)
    volume, how = daily_volume(tape)
    snap = next(iter(books.snapshots([len(books) - 1]).values()))
    tier = get_tier(books.instrument.exchange, books.instrument.kind)
    rows = []
    for q in SQRT_LAW_SIZES_USD:
        e = estimate(snap, Order(Side.BUY, q), fee_tier=tier, volatility=vol)
        rows.append(
            {
                "size_usd": q,
                "sqrt_law_bps": _round([sqrt_law_bps(q, sigma_daily, volume, y) for y in SQRT_LAW_Y]),
                "app_slippage_bps": _round(e.slippage_bps),
                "app_impact_bps": _round(e.impact_bps),
            }
        )
    return {
        "formula": "Y · σ_daily · sqrt(Q / V_daily) × 1e4 bps",
        "Y": list(SQRT_LAW_Y),
        "sigma_daily": _round(sigma_daily),
        "sigma_how": (vol.note or "realised volatility of the recording").rstrip("."),
        "daily_volume_usd": _round(volume, 0),
        "daily_volume_how": how,
        "book": iso_ms(int(books.ts_ms[-1])),
        "constants": {"permanent_share": constants.permanent_share, "refill_s": constants.refill_s},
        "rows": rows,
        "note": "The square-root law describes the whole impact of a metaorder worked over time, not one order's "
        "immediate walk: it is a cross-check of scale, not the same quantity.",
    }


# ---- the validator's key and the calibration file ----------------------------------------------------------------


def impact_figures(
    books: Books, tape: Tape, orders: TakerOrders, *, lag_ms: int, spec: BlockBootstrap
) -> dict[str, Any]:
    """The validator's ``impact`` key for one recording: this recording's fit, the stored constants scored on it
    against the old assumption, and the square-root-law cross-check."""
    s = measure(books, orders, lag_ms=lag_ms)
    constants = load_impact()
    out: dict[str, Any] = {
        "stored": constants.to_dict(),
        "in_sample": books.path.name.removesuffix(".jsonl.gz") in constants.fitted_on,
    }
    if len(s) < MIN_INTERVAL_N:
        out["note"] = f"Only {len(s)} taker orders walked past their first price with {max(HORIZONS_S):g} s after them."
        return out
    out["this_recording"] = fit(s, spec)
    out["by_size"] = by_size(s)
    out["score"] = score(
        s,
        spec,
        permanent_share=constants.permanent_share,
        refill_s=constants.refill_s,
        refilled_share=constants.refilled_share,
    )
    out["sqrt_law"] = sqrt_law(books, tape, constants)
    out["bootstrap"] = s.block(spec).to_dict(s.n_seconds)
    return out


def _ci_text(x: Any, ci: Any, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    return f"{x:.{digits}f}" + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "")


def impact_section(fig: dict[str, Any]) -> list[str]:
    """The Markdown of one recording's ``impact`` key (``docs/VALIDATION.md``)."""
    st = fig["stored"]
    head = (
        f"Constants in use ({st['source']}): permanent share ψ = {_ci_text(st['permanent_share'], st['permanent_share_ci'])}"
        f", refill time τ_r = {_ci_text(st['refill_s'], st['refill_s_ci'])} s, fitted on "
        f"{', '.join(st['fitted_on']) or 'nothing'}; this recording is "
        + ("**in sample** (the constants were fitted on it)." if fig["in_sample"] else "**out of sample**.")
    )
    if "note" in fig:
        return [head, "", fig["note"], ""]
    f, sc = fig["this_recording"], fig["score"]
    hs = f["horizons_s"]
    out = [
        head,
        "",
        f"{f['n_orders']:,} taker orders walked past their first price (with {max(hs):g} s of books after them). "
        f"On this recording alone: ψ = {_ci_text(f['permanent_share'], f['permanent_share_ci'])}, τ_r = "
        f"{_ci_text(f['refill_s'], f['refill_s_ci'])} s, share of the taken depth that comes back "
        f"{_ci_text(f['refilled_share'], f['refilled_share_ci'])}.",
        "",
        "| after | ψ(h) = Σ ½·mid move·X / Σ depth cost [95% CI] | refilled share of taken depth [95% CI] |",
        "|---|---|---|",
    ]
    for j, h in enumerate(hs):
        out.append(
            f"| {h:g} s | {_ci_text(f['permanent_share_by_horizon'][j], f['permanent_share_by_horizon_ci'][j])} | "
            f"{_ci_text(f['refill_by_horizon'][j], f['refill_by_horizon_ci'][j])} |"
        )
    mae, sse = sc["permanent_cost_mae_bps"], sc["refill_curve_sse"]
    out += [
        "",
        f"Score of the constants in use against the old assumption (ψ = {ASSUMED_PERMANENT_SHARE:g}, τ_r = "
        f"{ASSUMED_REFILL_S:g} s) on this recording: permanent-cost MAE {mae['calibrated']:.4f} vs "
        f"{mae['assumed']:.4f} bps per order (difference {_ci_text(mae['difference'], mae['difference_ci'], 4)}); "
        f"refill-curve squared error {sse['calibrated']:.4f} vs {sse['assumed']:.4f} (difference "
        f"{_ci_text(sse['difference'], sse['difference_ci'], 4)}). Negative differences favour the calibration.",
        "",
        "| size | n | ψ at "
        + " / ".join(f"{h:g}" for h in hs)
        + " s | mean mid markout (bps) at the same | walk (bps) |",
        "|---|---:|---|---|---:|",
    ]
    for row in fig["by_size"]:
        if not row["n"]:
            continue
        fmt = " / ".join("n/a" if v is None else f"{v:.2f}" for v in row["permanent_share_by_horizon"])
        mk = " / ".join("n/a" if v is None else f"{v:.2f}" for v in row["mid_markout_bps_by_horizon"])
        out.append(f"| {row['bucket']} | {row['n']:,} | {fmt} | {mk} | {row['walk_bps']:.3f} |")
    sq = fig["sqrt_law"]
    out += [
        "",
        f"Square-root law cross-check ({sq['formula']}, Y = {sq['Y'][0]:g}–{sq['Y'][-1]:g}; σ_daily = "
        f"{sq['sigma_daily']:.4f} ({sq['sigma_how']}); V_daily = {sq['daily_volume_usd']:,.0f} USD, "
        f"{sq['daily_volume_how']}). App numbers: a buy on the last book ({sq['book']}).",
        "",
        "| size | square-root law (bps) | app slippage (bps) | of which impact (bps) |",
        "|---|---|---:|---:|",
    ]
    for row in sq["rows"]:
        lo, hi = row["sqrt_law_bps"]
        law = "n/a" if lo is None else f"{lo:.2f}–{hi:.2f}"
        out.append(f"| ${row['size_usd']:,.0f} | {law} | {row['app_slippage_bps']:.3f} | {row['app_impact_bps']:.3f} |")
    out += ["", sq["note"], ""]
    return out


def _pairs(stems: Sequence[str], data_dir: Path) -> list[tuple[Path, Path]]:
    return [(data_dir / "recordings" / f"{s}.jsonl.gz", data_dir / "trades" / f"{s}.parquet") for s in stems]


def pooled(samples: Sequence[ImpactSample]) -> ImpactSample:
    """Several recordings as one sample (their times kept apart, so bootstrap blocks never straddle two)."""
    if len(samples) == 1:
        return samples[0]
    shift, parts = 0, []
    for s in samples:
        parts.append(s.ts_ms - int(s.ts_ms.min()) + shift)
        shift = int(parts[-1].max()) + 10_000
    cat = np.concatenate
    return ImpactSample(
        "+".join(s.recording for s in samples),
        cat(parts),
        cat([s.notional for s in samples]),
        cat([s.qty for s in samples]),
        cat([s.depth_usd for s in samples]),
        cat([s.walk_usd for s in samples]),
        cat([s.markout_usd for s in samples]),
        cat([s.consumed_base for s in samples]),
        cat([s.refilled_base for s in samples]),
        samples[0].horizons_s,
    )


def calibrate_impact(
    train: Sequence[tuple[Path, Path]],
    test: Sequence[tuple[Path, Path]],
    *,
    spec: BlockBootstrap | None = None,
    max_lines: int | None = None,
) -> dict[str, Any]:
    """The contents of ``data/impact.json``: constants fitted on ``train``, scored out of sample on ``test``."""
    spec = spec or BlockBootstrap()
    tr = pooled([sample_of(r, t, max_lines=max_lines)[2] for r, t in train])
    if len(tr) < MIN_INTERVAL_N:
        raise InputError(f"Only {len(tr)} walked taker orders in the training data: too few to calibrate impact.")
    fitted = fit(tr, spec)
    out_of_sample = []
    for r, t in test:
        books, _tape, s = sample_of(r, t, max_lines=max_lines)
        out_of_sample.append(
            {
                "recording": _rel(r),
                "span_utc": [iso_ms(int(books.ts_ms[0])), iso_ms(int(books.ts_ms[-1]))],
                **score(
                    s,
                    spec,
                    permanent_share=fitted["permanent_share"],
                    refill_s=fitted["refill_s"],
                    refilled_share=fitted["refilled_share"],
                ),
            }
        )
    volumes = {}
    for rec in sorted((DATA_DIR / "trades").glob("*.parquet")):
        exchange, rest = rec.stem.split("_", 1)  # <exchange>_<symbol>_<yyyymmdd>
        volumes[f"{exchange}:{rest.rsplit('_', 1)[0]}"] = _round(daily_volume(Tape.from_parquet(rec))[0], 0)
    return {
        "permanent_share": fitted["permanent_share"],
        "permanent_share_ci": fitted["permanent_share_ci"],
        "refill_s": fitted["refill_s"],
        "refill_s_ci": fitted["refill_s_ci"],
        "refilled_share": fitted["refilled_share"],
        "refilled_share_ci": fitted["refilled_share_ci"],
        "fitted_on": [r.name.removesuffix(".jsonl.gz") for r, _ in train],
        "data": [[_rel(r), _rel(t)] for r, t in train],
        "created": dt.date.today().isoformat(),
        "method": METHOD.format(h=PERMANENT_HORIZON_S, hs=", ".join(f"{h:g}" for h in HORIZONS_S)),
        "code": "core/validation/impact.py (python -m core.validation.impact)",
        "bootstrap": tr.block(spec).to_dict(tr.n_seconds),
        "training_fit": fitted,
        "baseline": {
            "permanent_share": ASSUMED_PERMANENT_SHARE,
            "refill_s": ASSUMED_REFILL_S,
            "what": "the old fixed assumption",
        },
        "out_of_sample": out_of_sample,
        "daily_volume_usd": volumes,
        "daily_volume_how": "each bundled trade tape's USD volume scaled to 24 h (assumption: the recorded rate "
        "holds all day); used only by the square-root-law cross-check",
    }


def _rel(path: Path) -> str:
    p = path.resolve()
    return p.relative_to(ROOT).as_posix() if p.is_relative_to(ROOT) else str(p)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m core.validation.impact",
        description="Calibrate the permanent share and refill time from taker orders; write data/impact.json.",
    )
    p.add_argument("--train", nargs="+", default=list(TRAIN), help="recording stems to fit on (data/recordings)")
    p.add_argument("--test", nargs="*", default=list(TEST), help="recording stems to score out of sample")
    p.add_argument("--out", type=Path, default=IMPACT_FILE, help="where to write the constants (JSON)")
    p.add_argument("--data-dir", type=Path, default=DATA_DIR, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    train, test = _pairs(args.train, args.data_dir), _pairs(args.test, args.data_dir)
    missing = [str(x) for pair in (*train, *test) for x in pair if not x.exists()]
    if missing:
        print(f"Not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        doc = calibrate_impact(train, test)
    except InputError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    args.out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(
        f"permanent share {doc['permanent_share']} {doc['permanent_share_ci']}, refill {doc['refill_s']} s "
        f"{doc['refill_s_ci']} -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
