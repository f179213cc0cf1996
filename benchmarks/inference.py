"""Model inference cost: the compiled forward pass used per tick (``core.learned._nets.DenseNet``) and the numpy
one used by the explained estimate, versus Keras `model(x)` and `predict` (Keras via ``core.training``)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


def _median_us(fn, n: int) -> float:
    fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        out.append(time.perf_counter_ns() - t0)
    return float(np.median(out)) / 1e3


def bench_inference() -> dict:
    """For each shipped ``models/*.keras``: numpy vs Keras call vs Keras predict on one row (µs)."""
    paths = sorted(MODELS_DIR.glob("*.keras"))
    if not paths:
        return {"inference": "no shipped models in models/"}
    from core.learned.models import read_card
    from core.training.keras_models import load_keras, net_from_keras

    out: dict[str, dict] = {}
    for path in paths:
        keras_model = load_keras(path)
        card = read_card(path.with_suffix(".json"))
        kind = card.get("kind") or card.get("model", {}).get("kind")
        net = net_from_keras(keras_model, kind)
        n_in = int(keras_model.inputs[0].shape[-1])
        row = np.random.default_rng(0).normal(size=(1, n_in)).astype(np.float32)
        dense = net.compiled()
        as_list = row[0].astype(np.float64).tolist()
        res = {
            "infer_compiled_us": round(_median_us(lambda d=dense, a=as_list: d(a), 5000), 2)
            if dense is not None
            else None,
            "infer_numpy_us": round(_median_us(lambda n=net, r=row: n.forward(r), 2000), 2),
            "infer_keras_call_us": round(_median_us(lambda k=keras_model, r=row: k(r, training=False), 200), 1),
            "infer_keras_predict_us": round(_median_us(lambda k=keras_model, r=row: k.predict(r, verbose=0), 30), 1),
        }
        if res["infer_numpy_us"]:
            res["speedup_vs_call"] = round(res["infer_keras_call_us"] / res["infer_numpy_us"], 1)
        out[path.stem] = res
    return {"inference": out}


def tf_calls_on_tick_path(pipe, msgs) -> int:
    """Count Python calls into tensorflow/keras while ticks run (must be 0)."""
    calls = 0

    def prof(frame, event, arg):
        nonlocal calls
        if event == "call":
            f = frame.f_code.co_filename
            if "/tensorflow/" in f or "/keras/" in f:
                calls += 1

    sys.setprofile(prof)
    try:
        for raw in msgs:
            pipe(raw)
    finally:
        sys.setprofile(None)
    return calls


def card_summary() -> dict:
    return {p.stem: json.loads(p.read_text()).get("use", None) for p in sorted(MODELS_DIR.glob("*.json"))}
