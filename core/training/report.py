"""``docs/MODELS.md``, written from the model cards so the document can never contradict the shipped models.

``render_docs(cards)`` takes the cards ``core.training.train`` wrote (``models/*.json``, role -> card) and
returns the whole document: the fixed explanation of labels, queue rule and split, then each role's held-out
results beside its baselines and the plain-language verdicts computed from the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.training.dataset import TRAIN_FRACTION, VALIDATION_FRACTION


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
        "Generated by `python -m core.train` from the model cards (`models/*.json`); edit `core/training/report.py`, "
        "not this file. Code: `core/training/dataset.py` (rows and labels), `core/learned/features.py` (the features, "
        "shared by training and serving), `core/training/keras_models.py` (Keras models), `core/training/train.py` "
        "(training, evaluation), `core/training/report.py` (this document), `core/learned/nets.py` (numpy and "
        "compiled inference), `core/learned/models.py` (serving, loading).",
        "",
        "## Summary",
        "",
        _table(
            ["role", "model", "used by the app", "why"],
            [[f"`{r}`", c["display_name"], "yes" if c["use"] else "**no**", c["reason"]] for r, c in cards.items()],
        ),
        "",
        "When a model is not used the app keeps the rule-based number and says why (`core.learned.models.load_models` "
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
        "`allow_pickle=False`). At run time `core.learned.models.load_models` reads those once into a numpy forward "
        "pass, so the app and the CLI never import TensorFlow. The per-tick path runs the same weights through a "
        "compiled forward pass (`core.learned._nets.DenseNet`, about 0.5 µs a model, equal to the numpy pass to 1e-12 "
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
        "python -m core.train                 # the two 2024-08-08 BTCUSDT recordings -> models/ and this file",
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
