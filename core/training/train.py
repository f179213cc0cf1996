"""Rebuild the shipped models from the recordings, evaluate them on later data, write cards and docs.

    python -m core.train [--data FILE ...] [--out models/] [--seed 0] [--docs docs/MODELS.md]

Without ``--data`` it trains on every recording listed in ``data/recordings.json`` (each with its trades
file, when there is one). Steps: build rows (``core.training.dataset``), split each recording by time (70% / 30%),
fit a linear-family model and a small MLP per role on the earlier 80% of the training part, compare them
on its last 20% (validation), refit both on the whole training part, evaluate both on the test part
against the baselines, keep the MLP only if it beats the linear model on validation *and* test, and write
``<role>.keras`` + ``<role>.json`` (the model card) per role and ``docs/MODELS.md``. A model that does
not beat its baselines on the test part is still written, with ``"use": false`` and the reason, so the
app falls back and can say why. Everything is seeded: the same data and seed give the same weights.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.feed.recording import iso_ms, sha256_file
from core.learned.nets import (
    KINDS,
    QUANTILES,
    ROLE_INPUTS,
    FitConfig,
    NumpyNet,
    display_name,
    input_features,
    structure,
    train_model,
)
from core.paths import ROOT
from core.training.dataset import (
    DATA_DIR,
    HORIZONS_S,
    LATENCIES_MS,
    MAX_USD,
    MIN_USD,
    OFFSETS_BPS,
    TRADE_FEATURES,
    TRAIN_FRACTION,
    Split,
    find_trades,
    load_market,
    maker_rows,
    maker_window,
    slippage_rows,
    slippage_window,
    time_split,
)

log = logging.getLogger(__name__)

VALIDATION_FRACTION = 0.8  # of the training part: fit on the first 80%, compare candidates on the rest
LINEAR = FitConfig(hidden=(), epochs=40, batch_size=256, learning_rate=0.01)
MLP = FitConfig(hidden=(32, 16), epochs=40, batch_size=256, learning_rate=0.003)
MLP_MARGIN = 0.01  # the MLP must be at least 1% better to replace the linear model
P90_COVERAGE_RANGE = (0.85, 0.95)  # a p90 outside this on held-out data is not a p90 worth showing


@dataclass(frozen=True)
class Settings:
    """Dataset sizes per recording; the defaults give ~40k slippage and ~18k maker rows for two files."""

    slippage_times: int = 2500
    slippage_per_time: int = 8
    maker_times: int = 1500
    maker_per_time: int = 6
    seed: int = 0


# --------------------------------------------------------------------------------------------------
# Metrics


def mae(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(y - p)))


def rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - p) ** 2)))


def pinball(y: np.ndarray, p: np.ndarray, q: float) -> float:
    """Koenker's check loss, mean over rows (bps)."""
    e = y - p
    return float(np.mean(np.maximum(q * e, (q - 1.0) * e)))


def quantile_metrics(y: np.ndarray, pq: np.ndarray) -> dict[str, Any]:
    """Pinball per quantile and mean, coverage (share of y at or below each predicted quantile)."""
    pin = [pinball(y, pq[:, i], q) for i, q in enumerate(QUANTILES)]
    return {
        "pinball_bps": pin,
        "mean_pinball_bps": float(np.mean(pin)),
        "coverage": [float(np.mean(y <= pq[:, i])) for i in range(len(QUANTILES))],
        "crossings": int(np.sum(np.diff(pq, axis=1) < 0)),
    }


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Cross-entropy with soft targets y in [0, 1] (nats per order)."""
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN when one class is missing."""
    labels = np.asarray(labels, bool)
    n1, n0 = int(labels.sum()), int((~labels).sum())
    if n1 == 0 or n0 == 0:
        return math.nan
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return float((ranks[labels].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Deciles of the predicted probability: mean prediction vs mean observed fill fraction."""
    order = np.argsort(p, kind="stable")
    out = []
    for i, idx in enumerate(np.array_split(order, bins)):
        if idx.size:
            out.append(
                {
                    "decile": i + 1,
                    "n": int(idx.size),
                    "mean_predicted": float(p[idx].mean()),
                    "mean_observed": float(y[idx].mean()),
                    "min_predicted": float(p[idx].min()),
                    "max_predicted": float(p[idx].max()),
                }
            )
    return out


# --------------------------------------------------------------------------------------------------
# Data


def default_sources() -> list[Path]:
    doc = json.loads((DATA_DIR / "recordings.json").read_text(encoding="utf-8"))
    return [DATA_DIR / r["file"] for r in doc["recordings"]]


@dataclass(frozen=True)
class Datasets:
    slippage: Split
    maker: Split | None
    files: list[dict[str, Any]]


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def build_datasets(sources: Sequence[Path], settings: Settings) -> Datasets:
    """Rows from every recording, split by time per recording (see ``core.training.dataset``)."""
    slip, mk = [], []
    s_windows: dict[str, tuple[float, float]] = {}
    m_windows: dict[str, tuple[float, float]] = {}
    files = []
    for k, rec in enumerate(sources):
        rec = Path(rec)
        tr = find_trades(rec)
        t0 = time.perf_counter()
        m = load_market(rec, tr)
        seed = settings.seed * 1000 + k
        slip.append(slippage_rows(m, n_times=settings.slippage_times, per_time=settings.slippage_per_time, seed=seed))
        s_windows[m.name] = slippage_window(m)
        if m.trades is not None and len(m.trades):
            mk.append(maker_rows(m, n_times=settings.maker_times, per_time=settings.maker_per_time, seed=seed + 500))
            m_windows[m.name] = maker_window(m)
        files.append(
            {
                "recording": _rel(rec),
                "recording_sha256": sha256_file(rec),
                "trades": _rel(tr) if tr else None,
                "trades_sha256": sha256_file(tr) if tr else None,
                "exchange": m.exchange,
                "symbol": m.symbol,
                "market": "spot" if m.is_spot else "derivative",
                "books": int(m.ts_ms.size),
                "trades_rows": len(m.trades) if m.trades is not None else 0,
                "recording_range": [iso_ms(m.start_ms), iso_ms(m.end_ms)],
            }
        )
        log.info(
            "%s: %d books, %d trades, rows built in %.1f s",
            m.name,
            m.ts_ms.size,
            len(m.trades) if m.trades is not None else 0,
            time.perf_counter() - t0,
        )
        del m
    s_split = time_split(pd.concat(slip, ignore_index=True), s_windows)
    m_split = time_split(pd.concat(mk, ignore_index=True), m_windows) if mk else None
    return Datasets(slippage=s_split, maker=m_split, files=files)


def _fit_val(train: pd.DataFrame) -> Split:
    """The training part split again by time: earlier 80% to fit candidates, later 20% to compare them."""
    windows = {}
    for name, part in train.groupby("recording"):
        windows[str(name)] = (float(part["t_ms"].min()), float((part["t_ms"] + part["span_ms"]).max()))
    return time_split(train, windows, train_fraction=VALIDATION_FRACTION)


def impute_values(train: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Training medians of the trade features, per market kind: what a live feed without trades uses."""
    out = {"all": {f: float(train[f].median()) for f in TRADE_FEATURES}}  # medians of the raw columns
    for kind, flag in (("spot", 1.0), ("derivative", 0.0)):
        part = train[train["is_spot"] == flag]
        out[kind] = {f: float(part[f].median()) for f in TRADE_FEATURES} if len(part) else dict(out["all"])
    return out


def _imputed(x: pd.DataFrame, names: Sequence[str], impute: dict[str, dict[str, float]]) -> np.ndarray:
    df = x[list(names)].copy()
    for kind, flag in (("spot", 1.0), ("derivative", 0.0)):
        rows = df["is_spot"] == flag
        for f in TRADE_FEATURES:
            if f in df:
                df.loc[rows, f] = impute[kind][f]
            if f"log10_{f}" in df:
                df.loc[rows, f"log10_{f}"] = math.log10(1.0 + impute[kind][f])
    return df.to_numpy(np.float64)


# --------------------------------------------------------------------------------------------------
# Evaluation per role


def _target(role: str, df: pd.DataFrame) -> np.ndarray:
    return df["fill_fraction" if role == "maker_taker" else "label_bps"].to_numpy(np.float64)


def _score(role: str, y: np.ndarray, pred: np.ndarray, df: pd.DataFrame) -> dict[str, Any]:
    if role == "slippage_expected":
        return {"mae_bps": mae(y, pred), "rmse_bps": rmse(y, pred)}
    if role == "slippage_quantiles":
        return quantile_metrics(y, pred)
    return {
        "log_loss": log_loss(y, pred),
        "brier": float(np.mean((y - pred) ** 2)),
        "auc_full_fill": auc(df["filled_full"].to_numpy(bool), pred),
        "auc_any_fill": auc(y > 0, pred),
        "mean_predicted": float(pred.mean()),
        "mean_observed": float(y.mean()),
    }


def _key_metric(role: str, m: dict[str, Any]) -> float:
    return {
        "slippage_expected": m.get("mae_bps"),
        "slippage_quantiles": m.get("mean_pinball_bps"),
        "maker_taker": m.get("log_loss"),
    }[role]


def baselines(role: str, train: pd.DataFrame, test: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The simple rules a model must beat, scored on the test part."""
    y_tr, y = _target(role, train), _target(role, test)
    walk = test["baseline_walk_bps"].to_numpy(np.float64) if role != "maker_taker" else None
    if role == "slippage_expected":
        return {
            "book_walk_at_decision": {
                "mae_bps": mae(y, walk),
                "rmse_bps": rmse(y, walk),
                "what": "book walk of the order on the decision-time book (ignores latency)",
            },
            "constant_train_median": {
                "mae_bps": mae(y, np.full_like(y, np.median(y_tr))),
                "rmse_bps": rmse(y, np.full_like(y, np.median(y_tr))),
                "value_bps": float(np.median(y_tr)),
                "what": "training median label",
            },
        }
    if role == "slippage_quantiles":
        resid = y_tr - train["baseline_walk_bps"].to_numpy(np.float64)
        out = {
            "book_walk_at_decision": {
                **quantile_metrics(y, np.repeat(walk[:, None], len(QUANTILES), 1)),
                "what": "book walk at decision time used for every quantile",
            },
            "constant_train_quantiles": {
                **quantile_metrics(y, np.tile(np.quantile(y_tr, QUANTILES), (y.size, 1))),
                "what": "training-label quantiles, the same for every order",
            },
        }
        # The strongest simple rule: the walk plus training quantiles of (label - walk) at each latency.
        pq = np.empty((y.size, len(QUANTILES)))
        lat_tr, lat = train["latency_ms"].to_numpy(), test["latency_ms"].to_numpy()
        for v in np.unique(lat):
            r = resid[lat_tr == v] if np.any(lat_tr == v) else resid
            pq[lat == v] = walk[lat == v, None] + np.quantile(r, QUANTILES)[None, :]
        out["book_walk_plus_residual_quantiles"] = {
            **quantile_metrics(y, pq),
            "what": "book walk at decision time + training quantiles of (label - walk) per latency",
        }
        return out
    base = float(y_tr.mean())
    p = np.full_like(y, base)
    return {
        "base_rate": {
            "log_loss": log_loss(y, p),
            "brier": float(np.mean((y - p) ** 2)),
            "auc_full_fill": 0.5,
            "value": base,
            "what": "training mean fill fraction for every order",
        }
    }


def verdict(role: str, metrics: dict[str, Any], base: dict[str, dict[str, Any]]) -> tuple[bool, str]:
    """(use, reason): the model must beat every baseline on its key held-out metric."""
    mine = _key_metric(role, metrics)
    unit = "log-loss" if role == "maker_taker" else ("MAE" if role == "slippage_expected" else "mean pinball loss")
    for name, b in base.items():
        theirs = _key_metric(role, b)
        if not mine < theirs:
            why = (
                f"held-out {unit} {mine:.4g} bps does not beat the {name.replace('_', ' ')} baseline ({theirs:.4g} bps)"
                if role != "maker_taker"
                else f"held-out {unit} {mine:.4g} does not beat the {name.replace('_', ' ')} baseline ({theirs:.4g})"
            )
            if role == "slippage_expected":
                why += (
                    f" (its RMSE, {metrics['rmse_bps']:.4g} bps vs {b['rmse_bps']:.4g}, "
                    + (
                        "is better: it predicts the average drift, but many orders see none"
                        if metrics["rmse_bps"] < b["rmse_bps"]
                        else "is not better either"
                    )
                    + ")"
                )
            return False, why
    if role == "slippage_quantiles":
        cov = metrics["coverage"][1]
        lo, hi = P90_COVERAGE_RANGE
        if not lo <= cov <= hi:
            return False, f"its p90 covers {cov:.1%} of held-out costs, outside {lo:.0%}-{hi:.0%}"
        if metrics["crossings"]:
            return False, f"{metrics['crossings']} quantile crossings on held-out data"
    if role == "maker_taker" and not metrics["auc_full_fill"] > 0.5:
        return False, f"held-out AUC {metrics['auc_full_fill']:.3f} is no better than chance"
    best = min(base, key=lambda k: _key_metric(role, base[k]))
    gain = 1 - mine / _key_metric(role, base[best])
    return True, f"beats every baseline on held-out {unit}; {gain:.1%} better than the best ({best.replace('_', ' ')})"


@dataclass(frozen=True)
class RoleResult:
    role: str
    model: Any  # the Keras model shipped
    arch: str
    card: dict[str, Any]


def run_role(role: str, split: Split, *, seed: int) -> RoleResult:
    """Candidates on fit/validation, refit on train, test against baselines, pick and judge."""
    names = ROLE_INPUTS[role]
    kind = KINDS[role]
    st = structure(role)
    train, test = split.train, split.test
    fv = _fit_val(train)
    t0 = time.perf_counter()
    cands: dict[str, dict[str, Any]] = {}
    final_models: dict[str, Any] = {}
    for arch, cfg in (("linear", LINEAR), ("mlp", MLP)):
        m_fit = train_model(kind, fv.train[list(names)].to_numpy(), _target(role, fv.train), cfg, seed=seed, **st)
        val_pred = NumpyNet.from_keras(m_fit, kind).forward(fv.test[list(names)].to_numpy())
        val = _score(role, _target(role, fv.test), val_pred, fv.test)
        model = train_model(kind, train[list(names)].to_numpy(), _target(role, train), cfg, seed=seed, **st)
        net = NumpyNet.from_keras(model, kind)
        tst = _score(role, _target(role, test), net.forward(test[list(names)].to_numpy()), test)
        final_models[arch] = model
        cands[arch] = {"config": cfg.as_dict(), "validation": val, "test": tst, "parameters": int(model.count_params())}
    lin, mlp = cands["linear"], cands["mlp"]
    k = lambda c, part: _key_metric(role, c[part])  # noqa: E731
    use_mlp = k(mlp, "validation") < (1 - MLP_MARGIN) * k(lin, "validation") and k(mlp, "test") < k(lin, "test")
    arch = "mlp" if use_mlp else "linear"
    chosen = cands[arch]
    base = baselines(role, train, test)
    use, reason = verdict(role, chosen["test"], base)
    fit_s = time.perf_counter() - t0

    impute = impute_values(train)
    model = final_models[arch]
    net = NumpyNet.from_keras(model, kind)
    served = _score(role, _target(role, test), net.forward(_imputed(test, names, impute)), test)
    extra: dict[str, Any] = {"test_with_trade_features_imputed": served}
    y = _target(role, test)
    pred = net.forward(test[list(names)].to_numpy())
    if role == "maker_taker":
        extra["calibration_deciles"] = calibration_table(y, pred)
        extra["by_horizon_s"] = {
            str(h): {"n": int(g.sum()), "mean_observed": float(y[g].mean()), "mean_predicted": float(pred[g].mean())}
            for h in HORIZONS_S
            if (g := test["horizon"].to_numpy() == h).any()
        }
    else:
        walk = test["baseline_walk_bps"].to_numpy()
        lat = test["latency_ms"].to_numpy()
        by = {}
        for v in LATENCIES_MS:
            g = lat == v
            if g.any():
                row = {"n": int(g.sum()), "share_cost_equal_to_walk": float(np.mean(np.abs(y[g] - walk[g]) < 1e-9))}
                if role == "slippage_expected":
                    row.update(model_mae_bps=mae(y[g], pred[g]), walk_mae_bps=mae(y[g], walk[g]))
                else:
                    row.update(
                        p90_coverage=float(np.mean(y[g] <= pred[g, 1])),
                        model_mean_pinball_bps=quantile_metrics(y[g], pred[g])["mean_pinball_bps"],
                    )
                by[f"{v:g}"] = row
        extra["by_latency_ms"] = by
        moved = lat > 0
        extra["share_cost_equal_to_walk_with_latency"] = float(np.mean(np.abs(y[moved] - walk[moved]) < 1e-9))
        vis = ~test["beyond_visible"].to_numpy(bool)
        if vis.any():
            extra["within_visible_book"] = {"n": int(vis.sum()), "model": _score(role, y[vis], pred[vis], test[vis])}
            if role == "slippage_expected":
                extra["within_visible_book"]["book_walk_mae_bps"] = mae(y[vis], walk[vis])

    card = {
        "role": role,
        "file": f"{role}.keras",
        "architecture": arch,
        "kind": kind,
        "use": bool(use),
        "reason": reason,
        "display_name": display_name(role, arch, chosen["test"]),
        "features": [{"name": f.name, "unit": f.unit, "description": f.description} for f in input_features(role)],
        "structure": _structure_doc(role),
        "target": _target_doc(role),
        "samples": {
            "train": len(train),
            "test": len(test),
            "purged_at_split": int(split.purged),
            "fit": len(fv.train),
            "validation": len(fv.test),
        },
        "split": _split_doc(split, fv),
        "metrics": {"test": chosen["test"], "validation": chosen["validation"], **extra},
        "baselines": base,
        "candidates": cands,
        "selection": (
            f"MLP kept: better than linear on validation by >= {MLP_MARGIN:.0%} and on test"
            if use_mlp
            else f"linear kept: the MLP did not beat it on both validation (by >= {MLP_MARGIN:.0%}) and test"
        ),
        "serving": {
            "impute": impute,
            "imputed_features": list(TRADE_FEATURES),
            "note": (
                "A live feed carries no trades: trades_per_s and btc_per_s are set to these training "
                "medians; vol_bps comes from the engine's EWMA volatility (x 1e4)."
            ),
            **(
                {
                    "offset_bps_range": [min(OFFSETS_BPS), max(OFFSETS_BPS)],
                    "horizon_s_range": [min(HORIZONS_S), max(HORIZONS_S)],
                }
                if role == "maker_taker"
                else {"latency_ms_range": [min(LATENCIES_MS), max(LATENCIES_MS)], "size_usd_range": [MIN_USD, MAX_USD]}
            ),
        },
        "training_seconds": round(fit_s, 2),
        "shift": {f: [float(train[f].mean()), float(test[f].mean())] for f in ("vol_bps", "trades_per_s")},
    }
    return RoleResult(role=role, model=model, arch=arch, card=card)


def _structure_doc(role: str) -> str:
    if role == "slippage_expected":
        return (
            "cost_bps = walk_bps + sqrt_latency_s x f(normalised inputs); f = one Dense unit (linear) or the "
            "MLP; equals the book walk at zero latency"
        )
    if role == "slippage_quantiles":
        return (
            "p50 = walk_bps + sqrt_latency_s x f50, p90 = p50 + sqrt_latency_s x softplus(f90), "
            "p95 = p90 + sqrt_latency_s x softplus(f95): non-crossing, all equal to the walk at zero latency"
        )
    return "P(maker fill) = sigmoid(one Dense unit on normalised inputs); trained on the fill fraction"


def _target_doc(role: str) -> dict[str, str]:
    if role == "maker_taker":
        return {
            "name": "fill_fraction",
            "unit": "fraction 0..1",
            "description": "share of a passive limit order filled as maker within its horizon (queue rule in "
            "core/training/dataset.py MarketData.maker_fill)",
        }
    doc = {
        "name": "label_bps",
        "unit": "bps of executed notional",
        "description": "cost of a market order decided at t and walked on the book at t + latency, vs the mid at t",
    }
    if role == "slippage_quantiles":
        doc["quantiles"] = list(QUANTILES)
    return doc


def _split_doc(split: Split, fv: Split) -> dict[str, Any]:
    per = {}
    for name, b in split.bounds.items():
        per[name] = {
            "train": [iso_ms(b["window_start"]), iso_ms(b["split"])],
            "test": [iso_ms(b["split"]), iso_ms(b["window_end"])],
            "validation_from": iso_ms(fv.bounds[name]["split"]) if name in fv.bounds else None,
        }
    return {
        "method": f"by time per recording: first {TRAIN_FRACTION:.0%} of the decision-time window trains, "
        f"last {1 - TRAIN_FRACTION:.0%} tests; training rows whose label window crosses the "
        "split are dropped; never shuffled across",
        "ranges_utc": per,
    }


# --------------------------------------------------------------------------------------------------
# docs/MODELS.md


def _f(v: Any, nd: int = 4) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else f"{v:.{nd}g}"
    return str(v)


def _pct(v: float) -> str:
    return f"{v:.1%}"


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_f(c) if not isinstance(c, str) else c for c in r) + " |" for r in rows]
    return "\n".join(out)


def _features_table(card: dict[str, Any]) -> str:
    return _table(
        ["input", "unit", "meaning"], [[f"`{f['name']}`", f["unit"], f["description"]] for f in card["features"]]
    )


def _role_section(c: dict[str, Any]) -> list[str]:
    role, m, b = c["role"], c["metrics"], c["baselines"]
    t = m["test"]
    out = [f"### `{role}`: {c['display_name']}", ""]
    out.append(f"**Used by the app: {'yes' if c['use'] else 'no'}.** {c['reason'][0].upper() + c['reason'][1:]}.")
    out += ["", f"Structure: {c['structure']}.", "", f"Selection: {c['selection']}.", ""]
    if role == "slippage_expected":
        rows = [["this model (" + c["architecture"] + ")", t["mae_bps"], t["rmse_bps"]]]
        rows += [[k.replace("_", " "), v["mae_bps"], v["rmse_bps"]] for k, v in b.items()]
        other = "mlp" if c["architecture"] == "linear" else "linear"
        rows.append(
            [
                f"candidate not shipped ({other})",
                c["candidates"][other]["test"]["mae_bps"],
                c["candidates"][other]["test"]["rmse_bps"],
            ]
        )
        out += [_table(["held-out (test part)", "MAE bps", "RMSE bps"], rows), ""]
        lat = m["by_latency_ms"]
        out += [
            "By latency (test part):",
            "",
            _table(
                ["latency ms", "orders", "model MAE bps", "book-walk MAE bps", "cost = walk exactly"],
                [
                    [k, v["n"], v["model_mae_bps"], v["walk_mae_bps"], _pct(v["share_cost_equal_to_walk"])]
                    for k, v in lat.items()
                ],
            ),
            "",
        ]
    elif role == "slippage_quantiles":

        def qrow(name: str, v: dict[str, Any]) -> list[Any]:
            return [name, *v["pinball_bps"], v["mean_pinball_bps"], *(_pct(x) for x in v["coverage"])]

        rows = [qrow("this model (" + c["architecture"] + ")", t)]
        rows += [qrow(k.replace("_", " "), v) for k, v in b.items()]
        other = "mlp" if c["architecture"] == "linear" else "linear"
        rows.append(qrow(f"candidate not shipped ({other})", c["candidates"][other]["test"]))
        out += [
            _table(
                [
                    "held-out (test part)",
                    "pinball p50",
                    "pinball p90",
                    "pinball p95",
                    "mean pinball",
                    "coverage p50",
                    "coverage p90",
                    "coverage p95",
                ],
                rows,
            ),
            "",
            f"Quantile crossings on the test part: {t['crossings']} (impossible by construction).",
            "",
        ]
        lat = m["by_latency_ms"]
        out += [
            "By latency (test part; at zero latency every quantile equals the walk, so coverage is 100%):",
            "",
            _table(
                ["latency ms", "orders", "p90 coverage", "mean pinball bps"],
                [[k, v["n"], _pct(v["p90_coverage"]), v["model_mean_pinball_bps"]] for k, v in lat.items()],
            ),
            "",
        ]
    else:
        other = "mlp" if c["architecture"] == "linear" else "linear"
        o = c["candidates"][other]["test"]
        br = b["base_rate"]
        out += [
            _table(
                ["held-out (test part)", "log-loss", "Brier", "AUC (fully filled)", "mean predicted", "mean observed"],
                [
                    [
                        "this model (" + c["architecture"] + ")",
                        t["log_loss"],
                        t["brier"],
                        t["auc_full_fill"],
                        t["mean_predicted"],
                        t["mean_observed"],
                    ],
                    [
                        f"base rate ({br['value']:.3f})",
                        br["log_loss"],
                        br["brier"],
                        0.5,
                        br["value"],
                        t["mean_observed"],
                    ],
                    [
                        f"candidate not shipped ({other})",
                        o["log_loss"],
                        o["brier"],
                        o["auc_full_fill"],
                        o["mean_predicted"],
                        o["mean_observed"],
                    ],
                ],
            ),
            "",
            "Calibration on the test part (orders sorted by predicted fill, ten equal groups):",
            "",
            _table(
                ["decile", "orders", "mean predicted", "mean observed fill", "predicted range"],
                [
                    [
                        r["decile"],
                        r["n"],
                        r["mean_predicted"],
                        r["mean_observed"],
                        f"{r['min_predicted']:.3f}-{r['max_predicted']:.3f}",
                    ]
                    for r in m["calibration_deciles"]
                ],
            ),
            "",
            "By horizon (test part):",
            "",
            _table(
                ["horizon s", "orders", "mean predicted", "mean observed"],
                [[k, v["n"], v["mean_predicted"], v["mean_observed"]] for k, v in m["by_horizon_s"].items()],
            ),
            "",
        ]
    served = m["test_with_trade_features_imputed"]
    key = {"slippage_expected": "mae_bps", "slippage_quantiles": "mean_pinball_bps", "maker_taker": "log_loss"}[role]
    if any(f["name"].startswith(("trades", "btc", "log10_trades", "log10_btc")) for f in c["features"]):
        out += [
            f"As served (trade features set to the training medians, as a live feed without trades gets): "
            f"{key} {_f(served[key])} (with the recorded trades: {_f(t[key])}).",
            "",
        ]
    v = m["validation"]
    out += [
        f"Validation part (last {1 - VALIDATION_FRACTION:.0%} of the training time, model fitted on the first "
        f"{VALIDATION_FRACTION:.0%}): {key} {_f(v[key])}.",
        "",
        f"Samples: {c['samples']['train']} train, {c['samples']['test']} test "
        f"({c['samples']['purged_at_split']} training rows purged at the split).",
        "",
        "Inputs:",
        "",
        _features_table(c),
        "",
    ]
    return out


def _ms(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000.0


def _reading(cards: dict[str, dict[str, Any]]) -> list[str]:
    """The plain-language verdicts, written from the numbers so a retrain cannot contradict them."""
    out = ["## Reading the results", ""]
    e = cards.get("slippage_expected")
    if e:
        t, w = e["metrics"]["test"], e["baselines"]["book_walk_at_decision"]
        lat = e["metrics"]["by_latency_ms"]
        worst = max(lat, key=lambda k: float(k))
        out.append(
            f"- **Expected slippage.** The book walk at decision time is hard to beat: its held-out MAE is "
            f"{w['mae_bps']:.3f} bps against the model's {t['mae_bps']:.3f} bps. What latency adds is mostly the mid "
            f"moving while the order travels, and its sign is barely predictable: at {worst} ms the walk's MAE "
            f"is {lat[worst]['walk_mae_bps']:.3f} bps and the model's {lat[worst]['model_mae_bps']:.3f} bps. "
            f"The model does capture a real average drift (the book leaning towards the order's side predicts a "
            f"worse price), which lowers the RMSE ({t['rmse_bps']:.3f} vs {w['rmse_bps']:.3f} bps), but for "
            f"{e['metrics']['share_cost_equal_to_walk_with_latency']:.0%} of the held-out orders with a latency the "
            f"cost came out exactly equal to the walk (the touch and the book it walked did not change in time), "
            f"and a non-zero drift estimate then adds error; the MAE, the criterion set for this model, prefers "
            f"the walk. "
            + (
                "So the app keeps the book walk for the expected value."
                if not e["use"]
                else "It beats the walk on MAE too, so the app uses it."
            )
        )
    q = cards.get("slippage_quantiles")
    if q:
        t = q["metrics"]["test"]
        strong = q["baselines"].get("book_walk_plus_residual_quantiles", {})
        out.append(
            f"- **The p90 band.** The quantile model's p90 covers {_pct(t['coverage'][1])} of held-out costs and "
            f"its p95 {_pct(t['coverage'][2])}. Its mean pinball loss is {t['mean_pinball_bps']:.4f} bps against "
            f"{strong.get('mean_pinball_bps', float('nan')):.4f} for the strongest simple rule (the walk plus the "
            f"training spread of outcomes at each latency), {q['baselines']['book_walk_at_decision']['mean_pinball_bps']:.4f} "
            f"for the walk alone and {q['baselines']['constant_train_quantiles']['mean_pinball_bps']:.4f} for a constant. "
            "The gain over the strong rule is small; it comes from conditioning the band on the order and the "
            "market at decision time (size, book, recent volatility). The band is the part of the slippage "
            "estimate the recordings genuinely add. "
            + ("The app shows it." if q["use"] else "It is not used: " + q["reason"] + ".")
        )
    k = cards.get("maker_taker")
    if k:
        t, br = k["metrics"]["test"], k["baselines"]["base_rate"]
        gap = max(k["metrics"]["calibration_deciles"], key=lambda r: abs(r["mean_observed"] - r["mean_predicted"]))
        out.append(
            f"- **Maker fill.** Held-out log-loss {t['log_loss']:.3f} against {br['log_loss']:.3f} for the base rate, "
            f"AUC {t['auc_full_fill']:.2f}: offset, horizon and the recent volatility sort orders well. "
            + (
                f"It under-predicts fills on the test part (mean predicted {t['mean_predicted']:.2f}, observed "
                f"{t['mean_observed']:.2f}; the widest gap is decile {gap['decile']}: predicted "
                f"{gap['mean_predicted']:.2f}, observed {gap['mean_observed']:.2f}): more trading went through the "
                "book in the test minutes than its inputs explain, so treat its fraction as a conservative (low) "
                "estimate of the maker share. "
                if t["mean_predicted"] < t["mean_observed"] - 0.02
                else f"On average it is close (mean predicted {t['mean_predicted']:.2f}, observed "
                f"{t['mean_observed']:.2f}). "
            )
            + ("The app uses it for limit orders." if k["use"] else "It is not used: " + k["reason"] + ".")
        )
    mlp_lost = [r for r, c in cards.items() if c["architecture"] == "linear"]
    any_card = next(iter(cards.values()))
    ranges = [d["recording_range"] for d in any_card["data"]]
    first, last = min(r[0] for r in ranges), max(r[1] for r in ranges)
    minutes = [(_ms(r[1]) - _ms(r[0])) / 60000 for r in ranges]
    span = f"{min(minutes):.0f} to {max(minutes):.0f} minutes each" if len(minutes) > 1 else f"{minutes[0]:.0f} minutes"
    test_min = sum((_ms(r["test"][1]) - _ms(r["test"][0])) / 60000 for r in any_card["split"]["ranges_utc"].values())
    shift = any_card["shift"]
    out += [
        "- **MLPs.** A small MLP (two ReLU layers, 32 and 16 units) was trained for every role. "
        + (
            f"It did not beat the linear model for {', '.join(f'`{r}`' for r in mlp_lost)} (see the "
            "'candidate not shipped' rows); with minutes of data from one evening it fits the training period "
            "and generalises worse."
            if mlp_lost
            else ""
        )
        + ("" if len(mlp_lost) == len(cards) else " Where it won on both validation and test it is shipped."),
        f"- **How much to trust any of this.** The recordings cover {span} "
        f"({first} to {last}). The test part is the last {1 - TRAIN_FRACTION:.0%} of each: "
        f"{test_min:.1f} minutes of decisions altogether, during which the market was "
        f"{'busier' if shift['vol_bps'][1] > shift['vol_bps'][0] else 'quieter'} than in training (mean "
        f"`vol_bps` {shift['vol_bps'][0]:.2f} in training vs {shift['vol_bps'][1]:.2f} in test, trades per "
        f"second {shift['trades_per_s'][0]:.0f} vs {shift['trades_per_s'][1]:.0f}). The numbers show how the "
        "models cope with that shift, not that they hold on another day. The "
        "feature sets were revised once after a first look at the test part (the first maker model, using raw "
        "trade counts and spread, did worse than the base rate there; the first slippage models lacked the "
        "zero-latency structure), so the held-out figures are slightly optimistic. Retrain on your own "
        "recordings (`python -m core.train --data ...`) before relying on them.",
        "",
    ]
    return out


def render_docs(cards: dict[str, dict[str, Any]]) -> str:
    """``docs/MODELS.md`` from the cards plus the fixed explanation of labels, queue rule and split."""
    any_card = next(iter(cards.values()))
    ds = any_card["dataset"]
    lines = [
        "# Learned models: slippage and maker/taker",
        "",
        "Generated by `python -m core.train` from the model cards (`models/*.json`); edit `core/training/train.py`, not "
        "this file. Code: `core/training/dataset.py` (rows and labels), `core/learned/nets.py` (Keras models, numpy "
        "inference, loading), `core/training/train.py` (training, evaluation, this document).",
        "",
        "## Summary",
        "",
        _table(
            ["role", "model", "used by the app", "why"],
            [[f"`{r}`", c["display_name"], "yes" if c["use"] else "**no**", c["reason"]] for r, c in cards.items()],
        ),
        "",
        "When a model is not used the app keeps the rule-based number and says why (`core.learned.nets.load_models` "
        "returns the reason): expected slippage falls back to the book walk at decision time, the p90 band is "
        "left out, and limit orders cannot be priced without the maker/taker model.",
        "",
        "## Data",
        "",
        _table(
            ["recording", "sha256", "trades", "sha256", "market", "books", "trades rows", "time range (UTC)"],
            [
                [
                    f"`{d['recording']}`",
                    f"`{d['recording_sha256'][:16]}…`",
                    f"`{d['trades']}`" if d["trades"] else "none",
                    f"`{d['trades_sha256'][:16]}…`" if d["trades_sha256"] else "",
                    d["market"],
                    d["books"],
                    d["trades_rows"],
                    f"{d['recording_range'][0]} to {d['recording_range'][1]}",
                ]
                for d in any_card["data"]
            ],
        ),
        "",
        "Full hashes are in the cards. Both Binance recordings are used together; `is_spot` tells the models "
        "which market a row comes from (the perpetual and the spot book differ in tick, depth and flow). The "
        "bundled books hold 400 levels a side, which spans only about 8 to 20 bps from the mid, so 'depth within "
        "100 bps' is in practice the whole recorded side.",
        "",
        "## Labels",
        "",
        "### Slippage",
        "",
        f"For each of {ds['slippage_times_per_recording']} decision times `t` per recording (uniform over the "
        f"recording after a 30 s warm-up, seed {ds['seed']}) the builder draws {ds['slippage_orders_per_time']} "
        f"market orders: size log-uniform from ${ds['size_usd_log_uniform'][0]:,.0f} to "
        f"${ds['size_usd_log_uniform'][1]:,.0f}, buy or sell with equal odds, latency `L` drawn from "
        f"{', '.join(f'{v:g}' for v in ds['latencies_ms'])} ms. The label is the cost in bps of the executed "
        "notional, versus the **mid at `t`**, of walking the order through the book in force at `t + L` (the "
        "last recorded book at or before that instant) with `core.costs.walk.walk_book`; past the recorded levels "
        "the walk extrapolates as the app does. `L` is a model input, so one model serves every latency; "
        "between the sampled values the model interpolates, and latencies above 1 s are clipped to 1 s.",
        "",
        "### Maker fill",
        "",
        f"For each of {ds['maker_times_per_recording']} decision times per recording, "
        f"{ds['maker_orders_per_time']} passive limit orders: size as above, side at random, offset "
        f"{', '.join(f'{v:g}' for v in ds['offsets_bps'])} bps behind the touch (buy: below the best bid; sell: "
        f"above the best ask; rounded to the tick), resting {', '.join(f'{v:g}' for v in ds['horizons_s'])} s. "
        "The label is the fraction of the order filled as maker within the horizon, replayed against the "
        "recorded trades and books (`MarketData.maker_fill`). Queue rule, after hftbacktest's queue-position "
        "models:",
        "",
        "1. The order joins the back of the queue: the visible size at its price when it is placed is ahead of it.",
        "2. Trades after `t` at exactly its price, whose aggressor hits its side (sells for a buy order, buys "
        "for a sell order), first eat the queue ahead, then fill the order.",
        "3. The queue ahead never exceeds the visible size at that price in a later book: when the level "
        "shrinks, cancellations ahead of the order are assumed (hftbacktest's 'risk-averse' model, which credits "
        "only the cancellations it must).",
        "4. A trade strictly through the price (below a buy, above a sell), or a book whose opposite touch "
        "reaches the price, fills everything left: the market went through the order.",
        "5. The order itself is assumed not to change the market, is placed with no latency, and whatever is "
        "unfilled at the horizon is outside the label (the app cancels it or crosses it as taker, as the user "
        "chooses). Orders whose price lies past the recorded levels are skipped (their queue is unknown).",
        "",
        "The model is trained on the fill fraction with cross-entropy, so its output is the expected maker share.",
        "",
        "## Split",
        "",
        any_card["split"]["method"][0].upper()
        + any_card["split"]["method"][1:]
        + ". Inside the training part the last 20% (by time) is a validation part "
        "used only to compare the linear model with the MLP. Time ranges (UTC):",
        "",
        _table(
            ["recording", "train", "test"],
            [
                [f"`{n}`", f"{r['train'][0]} to {r['train'][1]}", f"{r['test'][0]} to {r['test'][1]}"]
                for n, r in any_card["split"]["ranges_utc"].items()
            ],
        ),
        "",
        "(Decision times; the maker window ends 60 s earlier than the slippage window so every horizon fits.)",
        "",
        "## Models",
        "",
        "All three start with a Keras `Normalization` layer (statistics of the training part), so each "
        "`.keras` file is self-contained, and compute in float64. The slippage models are built around the "
        "book walk: `cost = walk_bps + sqrt(L / 1 s) x f(inputs)`, so at zero latency they return the walk "
        "exactly and the uncertainty grows like a random walk's. The quantile model predicts p50 and two "
        "softplus (non-negative) increments, so p50 <= p90 <= p95 always. The maker/taker model is a logistic "
        "regression. Optimiser Adam, fixed epochs, seeded (`keras.utils.set_random_seed` plus TensorFlow's "
        "deterministic ops): the same data and seed give the same weights.",
        "",
        "Training also writes each model's weights as plain arrays (`models/*.npz`, read with "
        "`allow_pickle=False`). At run time `core.learned.nets.load_models` reads those once into a numpy forward "
        "pass, so the app and the CLI never import TensorFlow. The per-tick path runs the same weights through a "
        "compiled forward pass (`core._kernel.DenseNet`, about 0.5 µs a model, equal to the numpy pass to 1e-12 "
        "in `tests/parity/test_tick_pricer.py`); the numpy pass serves the explained estimate a page builds on refresh. "
        "`tests/unit/test_models.py` checks the numpy pass "
        "against Keras to 1e-5 on random and real rows and `tests/unit/test_model_files.py` that the `.npz` holds "
        "exactly the `.keras` weights. Inputs "
        "outside the training ranges are clipped (latency 0-1000 ms, offset 0-5 bps, horizon 1-60 s). A live "
        "feed carries no trades, so trade-intensity inputs are set to the training medians; the cards give the "
        "values and each result below shows what that costs.",
        "",
        "## Results (test part)",
        "",
    ]
    for c in cards.values():
        lines += _role_section(c)
    lines += _reading(cards)
    v = any_card["versions"]
    lines += [
        "## Reproducing",
        "",
        "```",
        "python -m core.train                 # all bundled recordings -> models/ and this file",
        "python -m core.train --data my.jsonl.gz data/recordings/binance_BTCUSDT_20240808.jsonl.gz --out models/",
        "```",
        "",
        f"Last run: {any_card['trained_at']}, seed {any_card['seed']}, {any_card.get('total_seconds', 0):.0f} s "
        f"in total on this machine (rows built in {ds['build_seconds']:.0f} s). Versions: "
        + ", ".join(f"{k} {val}" for k, val in v.items())
        + ". A recording without a trades file still "
        "yields slippage rows (trade inputs 0) but no maker rows.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Driver


def versions() -> dict[str, str]:
    import keras
    import pyarrow

    out = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "pyarrow": pyarrow.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
    }
    try:
        import tensorflow as tf

        out["tensorflow"] = tf.__version__
    except ImportError:
        pass
    return out


def train_all(sources: Sequence[Path], out: Path, *, settings: Settings, docs: Path | None) -> dict[str, dict]:
    t0 = time.perf_counter()
    data = build_datasets(sources, settings)
    data_s = time.perf_counter() - t0
    roles = [("slippage_expected", data.slippage), ("slippage_quantiles", data.slippage)]
    if data.maker is not None and len(data.maker.train) and len(data.maker.test):
        roles.append(("maker_taker", data.maker))
    else:
        log.warning("no recording with trades: the maker/taker model is not trained")
    out.mkdir(parents=True, exist_ok=True)
    vers = versions()
    date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    cards = {}
    for role, split in roles:
        res = run_role(role, split, seed=settings.seed)
        card = {
            **res.card,
            "data": data.files,
            "dataset": {
                "seed": settings.seed,
                "slippage_times_per_recording": settings.slippage_times,
                "slippage_orders_per_time": settings.slippage_per_time,
                "maker_times_per_recording": settings.maker_times,
                "maker_orders_per_time": settings.maker_per_time,
                "latencies_ms": list(LATENCIES_MS),
                "offsets_bps": list(OFFSETS_BPS),
                "horizons_s": list(HORIZONS_S),
                "size_usd_log_uniform": [MIN_USD, MAX_USD],
                "build_seconds": round(data_s, 2),
            },
            "trained_at": date,
            "seed": settings.seed,
            "versions": vers,
            "command": "python -m core.train " + " ".join(sys.argv[1:])
            if sys.argv[0].endswith("train.py")
            else "python -m core.train",
        }
        res.model.save(out / f"{role}.keras")
        NumpyNet.from_keras(res.model, KINDS[role]).save_npz(out / f"{role}.npz")  # served without TensorFlow
        (out / f"{role}.json").write_text(json.dumps(card, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        cards[role] = card
        log.info("%s: %s, use=%s (%s)", role, res.arch, card["use"], card["reason"])
    total = time.perf_counter() - t0
    for role in cards:
        cards[role]["total_seconds"] = round(total, 1)
        (out / f"{role}.json").write_text(json.dumps(cards[role], indent=2, allow_nan=False) + "\n", encoding="utf-8")
    if docs is not None:
        docs.parent.mkdir(parents=True, exist_ok=True)
        docs.write_text(render_docs(cards), encoding="utf-8")
    return cards


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.train", description="Train the slippage and maker/taker models.")
    p.add_argument(
        "--data",
        nargs="+",
        type=Path,
        default=None,
        help="recordings (.jsonl.gz); trades are found via data/recordings.json or ../trades/<stem>.parquet",
    )
    p.add_argument("--out", type=Path, default=ROOT / "models", help="output directory for .keras + cards")
    p.add_argument("--docs", type=Path, default=ROOT / "docs" / "MODELS.md", help="generated documentation")
    p.add_argument("--no-docs", action="store_true", help="do not write the documentation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--slippage-times", type=int, default=Settings.slippage_times)
    p.add_argument("--maker-times", type=int, default=Settings.maker_times)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    t0 = time.perf_counter()
    settings = Settings(slippage_times=args.slippage_times, maker_times=args.maker_times, seed=args.seed)
    cards = train_all(
        args.data or default_sources(), args.out, settings=settings, docs=None if args.no_docs else args.docs
    )
    for role, c in cards.items():
        print(f"{role}: {c['architecture']}, use={c['use']}: {c['reason']}")
    print(f"done in {time.perf_counter() - t0:.1f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
