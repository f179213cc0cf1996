"""``python -m core.training.online``: choose the online calibration's steps on the training days alone.

``core.learned.online`` corrects the p90 band and the maker share by the outcomes that arrive; how fast (its
step) is chosen here by ``ONLINE_RULE``, on the recordings of the training days' dates only (the held-out day
chooses nothing), and written to ``models/online.json`` with the evidence.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from core.costs.fees import get_tier
from core.learned.models import ROLES, LoadedModels, SlippageModelImpl, load_models
from core.learned.online import (
    BUCKET_LABELS,
    DECADES,
    HALF_DECADES,
    LEVEL,
    BandUnit,
    SizeBuckets,
    minute_changes,
    moves_summary,
    replay_band,
    replay_share,
    size_bucket,
)
from core.market.tape import Tape
from core.paths import DOCS_DIR, ONLINE_FILE
from core.training.conformal import (
    _NAMES,
    MIN_JUDGED,
    Cells,
    Normaliser,
    TakerScores,
    fit_instrument_table,
    fit_table,
    score_taker_orders,
    shifted_p90,
)
from core.training.report import render_docs
from core.training.train import previous_training_set
from core.validation.books import load_books
from core.validation.limit_orders import LimitGrid, SimulatedLimits, simulate_limits, size_label
from core.validation.report import bundled, rel

#: the candidate steps, written with the rule before any of them was scored on any recording
BAND_STEPS: tuple[float, ...] = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)  # band units per taker order
#: said plainly: the first run (training days only) chose the largest band step then listed, 1.0; 3.0 and 10.0 were
#: added after it, so that the chosen step is not the edge of the grid by construction
SHARE_STEPS: tuple[float, ...] = (0.0, 0.003, 0.01, 0.03, 0.1, 0.3)  # logits per resting order's outcome
#: the candidate size buckets (one shift each), tried with every step but 0 (where they make no difference)
BUCKET_CANDIDATES: tuple[SizeBuckets, ...] = (DECADES, HALF_DECADES)
#: the band's candidate shift units (session 18), tried with every step but 0 and every bucket set
BAND_UNITS: tuple[BandUnit, ...] = (BandUnit.SPREAD, BandUnit.FIXED)

#: a step is eligible when its worst judged cell is within this of nominal (coverage) or of the fill (share)
TOLERANCE = 0.05

ONLINE_RULE = (
    "How fast the online calibration moves (core.learned.online), chosen on the training days' dates alone, written "
    "before any candidate was scored on any recording (and after the held-out day's misses of the static models had "
    "been seen: they motivated the method, docs/MODELS.md). Data: every recording with trades of the training days' "
    "dates (the static band's calibration recordings). p90 band: each recording in turn is left out; the static band "
    "is refitted without it exactly as served (the card's normaliser and cells, core.training.conformal) and the "
    "left-out recording's real taker orders are replayed in time order through a band tracker of each candidate "
    "step, starting at 0; a cell is a recording x size bucket with at least MIN_JUDGED orders; a step is eligible when "
    "its worst |coverage - 90%| over the cells is at most TOLERANCE (5 points), and the eligible step with the lowest "
    "mean pinball loss at 0.9 over every left-out order (the proper score of a p90: it rewards coverage and a narrow "
    "band together) is chosen; if no step is eligible, the smallest worst cell (the smaller step on a tie). Maker share: the validator's grid of resting orders (core.validation.limit_orders.LimitGrid) is "
    "simulated on each recording with the served models and replayed in time order through a share tracker of each "
    "candidate step, starting at 0 (an order's outcome counts once its rest has ended); a cell is a recording x "
    "grid size with at least MIN_JUDGED orders; a step is eligible when its worst |mean shown share - mean realised "
    "fill| over the cells is at most TOLERANCE, and the eligible step with the lowest mean log-loss against the "
    "size-aware fill is chosen; if none is eligible, the smallest worst cell. Amended after a first run on the "
    "training days (never the held-out day): that run judged by coverage alone, which any large enough step "
    "satisfies (a band that jumps after every miss covers 90% and says little), so the loss was added. The maker model's predictions "
    "are in sample on the training recordings (its recalibration used every recording of those dates), so the rule "
    "leans to the static model; the band's are out of the left-out recording. Amended a second time (session 16) after "
    "the held-out day showed the online maker share of $1M orders 6-7 points under what filled, with $1M and $5M "
    "orders sharing one tracker (>=$1M): the training days' own evidence shows the same (the $1M cells under the "
    "fill in all six calibration recordings, the $5M cells over it in five), so the size buckets became a candidate "
    "alongside the step, for the band and the share alike: decades (edges $1k, $10k, $100k, $1M) or half decades "
    "(edges every half decade from $1k to $3.2M). Each (step, buckets) pair is judged by the same cells and losses "
    "(the band's cells stay the validator's decades whatever the tracker's buckets), and on a tie of loss the "
    "smaller step, then the fewer buckets, is chosen. The held-out day chooses nothing; but this candidate was "
    "added after its miss was seen, which a reader should weigh. Amended a third time (session 16), for the maker "
    "share only: a candidate whose mean log-loss over the training days is above the static model's (step 0) is "
    "not eligible, whatever its cells. Why: the second amendment chose step 0.1 (half decades), the only candidate "
    "with every cell within 5 points, and measuring how much it moves what a trader sees (first on the held-out "
    "day, then on the training days: minute_moves_points, the change per minute of a 25% share and how much of it "
    "goes back and forth) showed it swinging about 20 points a minute, chasing the last seconds' fills: it "
    "averages right in every cell, but its log-loss (0.529) is above the static model's (0.469), so each order's "
    "share is worse than with no correction. The band keeps its rule: its pinball over the pool rises as it widens where the static band "
    "under-covered, which is what the band is for (coverage in every size bucket); its moves are reported. Amended a "
    "fourth time (session 18), for the band only, on the training days' evidence alone: replaying the chosen band "
    "(step 3, spread units) on the left-out calibration recordings moved it by up to 200 bps on 2024-08-08 BTCUSDT "
    "books whose spread had opened to about 2.6 bps for a few seconds, where those orders' cost above the walk had a "
    "p90 of about 2 bps; and the app showed the same on the replay of that training recording (a $50k order's p90 "
    "$169). A shift learnt while the spread sits at its floor is multiplied by the spread of the moment. So the "
    "shift's unit became a candidate beside the step and the buckets: max(spread_bps, 0.03), as before, or 0.03 bps "
    "whatever the spread (core.learned.online.BandUnit); each (step, buckets, unit) is judged by the same cells and "
    "pinball loss, and on a tie the spread unit is kept. Each candidate's move of the band from the static one "
    "(median, p99, max in bps) is reported beside it, not judged. Written before any candidate in the fixed unit was "
    "scored; the held-out day chooses nothing."
)


def calibration_pairs(loaded: LoadedModels, data_dir: Path | None = None) -> list[tuple[Path, Path]]:
    """(recording, trades) of the static band's calibration recordings, as the quantile card names them."""
    card = loaded.cards.get("slippage_quantiles", {})
    names = set(card.get("correction", {}).get("conformal", {}).get("by_recording", {}))
    pairs = bundled(data_dir) if data_dir is not None else bundled()
    return [(r, t) for r, t in pairs if r.name in names]


def _judge(cells: list[dict[str, Any]], key: str) -> tuple[float, float]:
    dev = [c[key] for c in cells if c["n"] >= MIN_JUDGED and c[key] is not None]
    return (max(dev), float(np.mean(dev))) if dev else (float("inf"), float("inf"))


def _best(cand: list[dict[str, Any]], worst: str, loss: str) -> dict[str, Any]:
    """``ONLINE_RULE``'s choice: the lowest loss among the steps whose worst judged cell is within ``TOLERANCE``,
    else the smallest worst cell (the smaller step on a tie)."""
    ok = [c for c in cand if c[worst] <= TOLERANCE]
    if ok:
        return min(ok, key=lambda c: (c[loss], c["step"], c.get("n_buckets", 0), c.get("unit_order", 0)))
    return min(cand, key=lambda c: (c[worst], c["step"], c.get("n_buckets", 0), c.get("unit_order", 0)))


def _candidates(steps: Sequence[float]) -> list[tuple[float, SizeBuckets]]:
    """Every (step, buckets) pair ``ONLINE_RULE`` scores (step 0 once: no shift moves, whatever the buckets)."""
    return [(step, b) for step in steps for b in (BUCKET_CANDIDATES if step > 0 else BUCKET_CANDIDATES[:1])]


def _band_candidates(steps: Sequence[float]) -> list[tuple[float, SizeBuckets, BandUnit]]:
    """Every (step, buckets, unit) the band's rule scores (step 0 once, in the spread unit: nothing moves)."""
    return [(step, b, u) for step, b in _candidates(steps) for u in (BAND_UNITS if step > 0 else BAND_UNITS[:1])]


def band_evidence(
    t: TakerScores, norm: Normaliser, cells_of: Cells, steps: Sequence[float], expected: np.ndarray | None = None
) -> dict[str, Any]:
    """Leave-one-recording-out coverage of each (step, buckets, unit)'s online band (``ONLINE_RULE``); ``expected``: the
    served expected cost per order (None: the book walk, as served while the expected-value model is declined)."""
    spread = t.x[:, _NAMES.index("spread_bps")]
    notional = 10.0 ** t.x[:, _NAMES.index("log10_size_usd")]
    folds = []  # per left-out recording, in time order: the static band refitted without it, as served
    for rec in np.unique(t.recording):
        held = t.recording == rec
        fit = t.subset(~held)
        pooled, _ = fit_table(fit, norm)
        table, keys, _ = fit_instrument_table(fit, norm, pooled, cells_of)
        part = t.subset(held)
        order = np.argsort(part.ts_ms, kind="stable")
        # as served: the static p90 at least the expectation (the book walk, the expected-value model being
        # declined), and the expectation as the moved band's floor
        walk = part.x[:, _NAMES.index("walk_bps")][order]
        floor = walk if expected is None else expected[held][order]
        p90 = np.fmax(shifted_p90(part, table, norm, keys)[order], floor)
        size = notional[held][order]
        folds.append((str(rec), part.ts_ms[order], size, p90, floor, spread[held][order], part.realised_bps[order]))
    cand: list[dict[str, Any]] = []
    for step, buckets, unit in _band_candidates(steps):
        cells: list[dict[str, Any]] = []
        loss: list[np.ndarray] = []
        moved: list[np.ndarray] = []
        for rec, ts, size, p90, floor, spr, real in folds:
            shown = replay_band(ts, size, p90, floor, spr, real, step, buckets=buckets, unit=unit)
            moved.append(shown - np.fmax(p90, floor))
            hit = real <= shown + 1e-6
            loss.append(np.where(real > shown, LEVEL * (real - shown), (1.0 - LEVEL) * (shown - real)))
            judged = np.array([size_bucket(v) for v in size])  # the validator's buckets, whatever the tracker's
            for k, name in enumerate(BUCKET_LABELS):
                m = judged == k
                if m.any():
                    cov = float(hit[m].mean())
                    cells.append(
                        {"recording": rec, "bucket": name, "n": int(m.sum()), "coverage": cov, "dev": abs(cov - LEVEL)}
                    )
        worst, mean = _judge(cells, "dev")
        pinball = float(np.concatenate(loss).mean())
        shift_bps = np.abs(np.concatenate(moved))
        cand.append(
            {
                "step": step,
                "buckets": buckets.name,
                "n_buckets": len(buckets),
                "unit": unit.value,
                "unit_order": BAND_UNITS.index(unit),
                # how far the band was moved from the static one (bps, |shown - static|): reported, not judged
                "moved_bps": {
                    "median": float(np.median(shift_bps)),
                    "p99": float(np.quantile(shift_bps, 0.99)),
                    "max": float(shift_bps.max()),
                },
                "worst_deviation": worst,
                "mean_deviation": mean,
                "pinball_bps": pinball,
                "cells": cells,
            }
        )
    best = _best(cand, "worst_deviation", "pinball_bps")
    return {
        "unit": best["unit"],
        "step": best["step"],
        "buckets": best["buckets"],
        "candidates": cand,
    }


def share_evidence(sims: dict[str, SimulatedLimits], steps: Sequence[float]) -> dict[str, Any]:
    """Each (step, buckets)'s online maker share against the size-aware fill on each recording (``ONLINE_RULE``)."""
    cand: list[dict[str, Any]] = []
    for step, buckets in _candidates(steps):
        cells: list[dict[str, Any]] = []
        loss: list[np.ndarray] = []
        moves: list[np.ndarray] = []
        for rec, s in sims.items():
            shown = replay_share(s.placed_ms, s.horizon_s, s.size_usd, s.predicted, s.realised, step, buckets)
            p = np.clip(shown, 1e-6, 1 - 1e-6)
            loss.append(-(s.realised * np.log(p) + (1.0 - s.realised) * np.log(1.0 - p)))
            q = np.clip(s.predicted, 1e-6, 1 - 1e-6)
            shift = np.log(p / (1 - p)) - np.log(q / (1 - q))  # the shift in force when each order was placed
            for size in np.unique(s.size_usd):
                m = s.size_usd == size
                moves.append(minute_changes(s.placed_ms[m], shift[m]))
                gap = float(shown[m].mean() - s.realised[m].mean())
                cells.append(
                    {
                        "recording": rec,
                        "size": size_label(float(size)),
                        "n": int(m.sum()),
                        "shown": float(shown[m].mean()),
                        "realised": float(s.realised[m].mean()),
                        "gap": abs(gap),
                    }
                )
        worst, mean = _judge(cells, "gap")
        log_loss = float(np.concatenate(loss).mean())
        cand.append(
            {
                "step": step,
                "buckets": buckets.name,
                "n_buckets": len(buckets),
                "worst_gap": worst,
                "mean_gap": mean,
                "log_loss": log_loss,
                "minute_moves_points": moves_summary(moves),
                "cells": cells,
            }
        )
    static = next(c["log_loss"] for c in cand if c["step"] == 0.0)
    # a step whose log-loss is above the static model's makes the share of each order worse than no correction
    best = _best([c for c in cand if c["log_loss"] <= static], "worst_gap", "log_loss")
    return {"unit": "logit", "step": best["step"], "buckets": best["buckets"], "candidates": cand}


def choose(loaded: LoadedModels, pairs: Sequence[tuple[Path, Path]], grid: LimitGrid | None = None) -> dict[str, Any]:
    """The card of ``models/online.json``: both steps chosen by ``ONLINE_RULE`` on ``pairs``."""
    grid = grid or LimitGrid()
    qcard = loaded.cards["slippage_quantiles"]["correction"]["conformal"]
    nc = qcard["normaliser"]
    norm = Normaliser(nc["column"], float(nc["floor"]), two_sided=bool(nc["two_sided"]))
    cells_of = Cells(qcard["cells"]["chosen"])
    net = replace(loaded.nets["slippage_quantiles"], band_shift=None)
    slip = loaded.models.slippage
    assert isinstance(slip, SlippageModelImpl)
    scores = score_taker_orders(pairs, net, slip.impute)
    expected = None
    if slip.expected is not None:  # the served expectation, where the expected-value model is used
        expected = np.array([slip.predict_row(row, float(row[_NAMES.index("walk_bps")]))[0] for row in scores.x])
    band = band_evidence(scores, norm, cells_of, BAND_STEPS, expected)
    sims: dict[str, SimulatedLimits] = {}
    for rec, trades in pairs:
        books = load_books(rec)
        inst = books.instrument
        sims[rec.name] = simulate_limits(
            books,
            Tape.from_parquet(trades),
            grid=grid,
            fee_tier=get_tier(inst.exchange, inst.kind),
            models=loaded.models,
        )
    share = share_evidence(sims, SHARE_STEPS)
    return {
        "what": ONLINE_RULE,
        "level": LEVEL,
        "min_judged": MIN_JUDGED,
        "tolerance": TOLERANCE,
        "recordings": [rel(r) for r, _ in pairs],
        "band": {**band, "static_normaliser": norm.name, "static_cells": cells_of.value},
        "share": {**share, "grid": grid.to_dict()},
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "python -m core.training.online",
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.training.online", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ONLINE_FILE, help="where the card goes (default: models/online.json)")
    p.add_argument("--no-docs", action="store_true", help="do not rewrite docs/MODELS.md")
    args = p.parse_args(argv)
    loaded = load_models()
    if "slippage_quantiles" not in loaded.nets or loaded.models.maker_taker is None:
        print("The online calibration needs the served quantile and maker models.", file=sys.stderr)
        return 1
    pairs = calibration_pairs(loaded)
    if not pairs:
        print("No calibration recording with trades found.", file=sys.stderr)
        return 1
    card = choose(loaded, pairs)
    args.out.write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    if not args.no_docs:  # docs/MODELS.md is written from every card, this one included
        cards = {r: c for r, c in loaded.cards.items() if r in ROLES}
        (DOCS_DIR / "MODELS.md").write_text(render_docs(cards, previous_training_set(), card), encoding="utf-8")
    band, share = card["band"], card["share"]
    print(
        f"band step {band['step']} x {band['unit']} ({band['buckets']}), share step {share['step']} logits "
        f"({share['buckets']}) -> {args.out}"
    )
    for c in band["candidates"]:
        print(
            f"  band step {c['step']} {c['buckets']} x {c['unit']}: worst {c['worst_deviation']:.4f} "
            f"mean {c['mean_deviation']:.4f} pinball {c['pinball_bps']:.4f}"
        )
    for c in share["candidates"]:
        print(
            f"  share step {c['step']} {c['buckets']}: worst {c['worst_gap']:.4f} mean {c['mean_gap']:.4f} "
            f"log-loss {c['log_loss']:.4f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
