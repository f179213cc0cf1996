"""Shipped models: numpy path == Keras, non-crossing quantiles, complete cards, deterministic training,
fallback when a card declines, and the cost-engine protocols."""

from __future__ import annotations

import json
import random
import shutil
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.costs.estimate import estimate
from core.costs.fees import get_tier
from core.costs.models import MakerTakerModel, ModelInput, Models, SlippageModel
from core.costs.order import Order
from core.costs.volatility import HORIZON_MIN_RETURNS, SQRT_YEAR_S, from_annual
from core.costs.walk import walk_book
from core.errors import OrderError
from core.feed.recording import sha256_file
from core.feed.replay import default_recording
from core.learned.features import (
    MAKER_INPUTS,
    MAKER_NAMES,
    ROLE_INPUTS,
    SLIPPAGE_INPUTS,
    SLIPPAGE_NAMES,
    FlowFeatures,
    structure,
)
from core.learned.models import KINDS, MODELS_DIR, ROLES, band_instrument, load_models
from core.learned.nets import NumpyNet
from core.training.dataset import find_trades, load_market, maker_rows, slippage_rows
from core.training.keras_models import FitConfig, load_keras, net_from_keras, train_model

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = {
    "held_out",
    "held_out_day",
    "validation_baselines",
    "role",
    "file",
    "architecture",
    "use",
    "reason",
    "display_name",
    "features",
    "target",
    "samples",
    "split",
    "metrics",
    "baselines",
    "candidates",
    "data",
    "trained_at",
    "seed",
    "versions",
    "serving",
}


@pytest.fixture(scope="module")
def real():
    """Real rows from the first ~105 s of the bundled futures recording (with its trades)."""
    rec = default_recording().path
    m = load_market(rec, find_trades(rec), max_lines=2_000)
    return m, slippage_rows(m, n_times=60, per_time=5, seed=11), maker_rows(m, n_times=15, per_time=5, seed=11)


def rows_for(role: str, real) -> np.ndarray:
    _, s, k = real
    df = k if role == "maker_taker" else s
    return df[list(ROLE_INPUTS[role])].to_numpy(np.float64)


def random_rows(net: NumpyNet, n: int, seed: int) -> np.ndarray:
    """Rows spread over 4 standard deviations of the training data, plus some far outside it."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, size=(n, net.n_features))
    z[: n // 10] *= 10
    return net.mean + z * net.scale


@pytest.fixture(scope="module")
def shipped():
    """role -> (card, keras model, numpy net) for every shipped model."""
    out = {}
    for role in ROLES:
        card = json.loads((MODELS_DIR / f"{role}.json").read_text())
        model = load_keras(MODELS_DIR / card["file"])
        out[role] = (card, model, net_from_keras(model, KINDS[role]))
    return out


# ---------------------------------------------------------------- shipped files


def test_cards_exist_with_required_keys_and_metrics(shipped):
    for role, (card, _, _) in shipped.items():
        assert card.keys() >= REQUIRED, REQUIRED - card.keys()
        assert card["role"] == role and isinstance(card["use"], bool) and card["reason"]
        assert [f["name"] for f in card["features"]] == list(ROLE_INPUTS[role])
        assert all(f["unit"] and f["description"] for f in card["features"])
        assert card["samples"]["train"] > 1_000 and card["samples"]["test"] > 500
        assert {"keras", "numpy", "python"} <= card["versions"].keys()
        test = card["metrics"]["test"]
        if role == "slippage_expected":
            assert {"mae_bps", "rmse_bps"} <= test.keys()
            assert {"book_walk_at_decision", "constant_train_median"} <= card["baselines"].keys()
        elif role == "slippage_quantiles":
            assert len(test["coverage"]) == 3 and test["crossings"] == 0
            assert {"book_walk_at_decision", "constant_train_quantiles"} <= card["baselines"].keys()
        else:
            assert {"log_loss", "auc_full_fill", "brier"} <= test.keys()
            assert len(card["metrics"]["calibration_deciles"]) == 10
            assert "base_rate" in card["baselines"]
        # the card's verdict agrees with its own validation numbers (the held-out ones played no part)
        key = {"slippage_expected": "mae_bps", "slippage_quantiles": "mean_pinball_bps", "maker_taker": "log_loss"}[
            role
        ]
        val = card["metrics"]["validation"]
        beats = all(val[key] < b[key] for b in card["validation_baselines"].values())
        assert card["use"] == (
            beats
            and (role != "slippage_quantiles" or 0.85 <= val["coverage"][1] <= 0.95)
            and (role != "maker_taker" or val["auc_full_fill"] > 0.5)
        )
        for d in card["data"]:  # trained and reported on exactly the bundled files
            assert sha256_file(ROOT / d["recording"]) == d["recording_sha256"]
            if d["trades"]:
                assert sha256_file(ROOT / d["trades"]) == d["trades_sha256"]
        # every held-out recording has its score, interval and the paired difference to each baseline
        for e in card["held_out"].values():
            assert e["model"][key + "_ci"] is not None
            assert all(b["model_minus_baseline_ci"] is not None for b in e["baselines"].values())
        assert (MODELS_DIR / card["file"]).stat().st_size < 2_000_000


def test_cards_split_by_day_never_trains_or_chooses_on_the_held_out_day(shipped):
    from core.training.train import HELD_OUT_DAY, TRAINING_RECORDINGS

    for card, _, _ in shipped.values():
        split = card["split"]
        train = set(split["train_recordings"])
        held = set(split["held_out_recordings"])
        assert train == set(TRAINING_RECORDINGS) and not train & held
        assert split["held_out_day"] == list(HELD_OUT_DAY) and set(HELD_OUT_DAY) <= held
        by_name = {Path(d["recording"]).name: d for d in card["data"]}
        train_dates = {by_name[n]["date"] for n in train}
        for n in HELD_OUT_DAY:  # another day: its date is not a training date, and it was only reported
            assert by_name[n]["use"] == "held_out_day" and by_name[n]["date"] not in train_dates
        for n in held:
            assert "train" not in split["ranges_utc"][n] and "validation_blocks" not in split["ranges_utc"][n]
        for n in train:  # validation blocks lie inside the training windows
            r = split["ranges_utc"][n]
            assert r["validation_blocks"] and all(
                r["train"][0] <= a < b <= r["train"][1] for a, b in r["validation_blocks"]
            )
        # the held-out numbers the card reports are of the held-out day, and its rows entered no fit
        assert card["held_out_day"] in HELD_OUT_DAY
        assert card["samples"]["test"] == card["held_out"][card["held_out_day"]]["n"]
        assert card["samples"]["train"] == card["samples"]["fit"] + card["samples"]["validation"]
        # the corrections fitted after training (and the choice of the band's unit) saw only the training date
        corr = card["correction"]
        used = set(corr.get("conformal", {}).get("by_recording", {}))
        used |= set(corr.get("recalibration", {}).get("recordings", []))
        used |= {
            c["fold"].removeprefix("recording ")
            for e in corr.get("conformal", {}).get("choice", {}).get("candidates", [])
            for c in e["cells"]
            if c["fold"].startswith("recording ")
        }
        assert not used & set(HELD_OUT_DAY) and all(by_name[n]["date"] in train_dates for n in used)


def test_python_m_core_train_defaults_to_the_shipped_models_recordings(shipped):
    # new bundled recordings must not silently enter training: they are reported as held out
    from core.training.train import default_held_out, default_sources

    defaults = sorted(p.name for p in default_sources())
    held = sorted(p.name for p in default_held_out())
    for card, _, _ in shipped.values():
        assert sorted(card["split"]["train_recordings"]) == defaults
        assert sorted(card["split"]["held_out_recordings"]) == held


def test_tiny_training_is_deterministic_and_numpy_matches(real):
    _, s, k = real
    cases = [
        (
            "regression",
            s[list(SLIPPAGE_INPUTS)].to_numpy()[:200],
            s["label_bps"].to_numpy()[:200],
            structure("slippage_expected"),
            (),
        ),
        (
            "quantiles",
            s[list(SLIPPAGE_INPUTS)].to_numpy()[:200],
            s["label_bps"].to_numpy()[:200],
            structure("slippage_quantiles"),
            (8,),
        ),
        (
            "probability",
            k[list(MAKER_INPUTS)].to_numpy()[:200],
            k["fill_fraction"].to_numpy()[:200],
            structure("maker_taker"),
            (8,),
        ),
    ]
    for kind, x, y, st, hidden in cases:
        cfg = FitConfig(hidden=hidden, epochs=2, batch_size=32)
        a = train_model(kind, x, y, cfg, seed=5, **st)
        b = train_model(kind, x, y, cfg, seed=5, **st)
        wa, wb = a.get_weights(), b.get_weights()
        assert len(wa) == len(wb) and all(np.array_equal(p, q) for p, q in zip(wa, wb, strict=False)), kind
        if hidden:  # a different seed starts from other random weights
            c = train_model(kind, x, y, cfg, seed=6, **st)
            assert not all(np.array_equal(p, q) for p, q in zip(wa, c.get_weights(), strict=False)), kind
        net = net_from_keras(a, kind)
        assert np.abs(np.asarray(a(x)).reshape(net.forward(x).shape) - net.forward(x)).max() <= 1e-5, kind


def test_training_ignores_other_threads_drawing_from_the_global_random(real):
    """CI once saw two seeded fits differ: a websockets keepalive ping (``random.getrandbits``) in a feed
    thread shifted the global stream Keras drew its initial-weight seeds from."""
    _, _, k = real
    x, y = k[list(MAKER_INPUTS)].to_numpy()[:200], k["fill_fraction"].to_numpy()[:200]
    cfg = FitConfig(hidden=(8,), epochs=1, batch_size=64)
    stop = threading.Event()

    def draw() -> None:
        while not stop.is_set():
            random.getrandbits(32)

    noise = threading.Thread(target=draw, daemon=True)
    noise.start()
    try:
        a = train_model("probability", x, y, cfg, seed=5, **structure("maker_taker"))
        b = train_model("probability", x, y, cfg, seed=5, **structure("maker_taker"))
    finally:
        stop.set()
        noise.join(5)
    assert all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights(), strict=True))


# ---------------------------------------------------------------- loading, fallback, protocols


def snapshot_input(real, order: Order, *, row=None):
    m, s, _ = real
    r = s.iloc[0] if row is None else row
    snap = m.snapshot(m.index_at(r.t_ms))
    walk = walk_book(snap, order.side, order.quantity)
    vol = from_annual(max(r.vol_bps, 1e-3) / 1e4 * SQRT_YEAR_S, mid=snap.mid)
    return ModelInput(snapshot=snap, order=order, walk=walk, volatility=vol, notional_usd=walk.filled_quote)


def test_loaded_models_follow_the_cards_and_implement_the_protocols(real):
    lm = load_models()
    cards = {r: json.loads((MODELS_DIR / f"{r}.json").read_text()) for r in ROLES}
    slip, mk = lm.models.slippage, lm.models.maker_taker
    assert isinstance(slip, SlippageModel) and isinstance(mk, MakerTakerModel)
    assert (slip.expected is not None) == cards["slippage_expected"]["use"]
    assert (slip.quantiles is not None) == cards["slippage_quantiles"]["use"]
    for r in ROLES:
        assert (r in lm.fallbacks) == (not cards[r]["use"])
    mi = snapshot_input(real, Order(side="buy", quantity=25_000.0, order_type="limit", offset_bps=1, horizon_s=10))
    p = slip.with_latency(500).predict(mi)
    if slip.expected is None:
        assert p.expected_bps == mi.walk.cost_bps  # the baseline, stated in the fallback reason
    if slip.quantiles is not None:
        assert p.p90_bps >= p.expected_bps
        # at zero latency the model's band is the walk; the widening fitted on real taker orders (the card's
        # correction, a multiple of the volatility per size bucket and instrument or market kind) is added at every
        # latency, with the book's instrument's cells where the band has them
        widen = 0.0
        if slip.quantiles.band_shift is not None:
            key = band_instrument(mi.snapshot.exchange, mi.snapshot.symbol)
            widen = float(slip.quantiles.band_shift(slip.features(mi, latency_ms=0.0)[None, :], key)[0])
        assert slip.with_latency(0).predict(mi).p90_bps == pytest.approx(mi.walk.cost_bps + widen, abs=1e-12)
    f = mk.maker_fraction(mi)
    assert 0.0 <= f <= 1.0
    # a farther, shorter order is less likely to fill than one at the touch resting a minute
    far = snapshot_input(real, Order(side="buy", quantity=25_000.0, order_type="limit", offset_bps=5, horizon_s=1))
    near = snapshot_input(real, Order(side="buy", quantity=25_000.0, order_type="limit", offset_bps=0, horizon_s=60))
    assert mk.maker_fraction(far) < f < mk.maker_fraction(near)
    # the engine accepts them
    est = estimate(mi.snapshot, mi.order, fee_tier=get_tier("binance-futures", "swap"), models=lm.models)
    assert 0.0 <= est.maker_fraction <= 1.0 and "model" in est.methods["maker_fraction"]


def test_a_limit_order_beyond_the_learned_offsets_is_refused_and_a_long_rest_is_said(real):
    """The model clips its inputs to the offsets it learned (0-5 bps): pricing a far order at its real price with the
    share of a 5 bps one showed a price gain that is not there (a bid 10% under the market 'filling' 56%)."""
    lm = load_models()
    mk = lm.models.maker_taker
    (_, off_hi), (_, hor_hi) = mk.trained_range()
    assert off_hi == 5.0 and hor_hi == 60.0
    tier = get_tier("binance-futures", "swap")
    snap = snapshot_input(real, Order(side="buy", quantity=1.0)).snapshot
    for off in (off_hi + 0.5, 1000.0):
        with pytest.raises(OrderError, match=f"at most {off_hi:g} bps"):
            estimate(
                snap,
                Order("buy", 10_000.0, order_type="limit", offset_bps=off, horizon_s=60),
                fee_tier=tier,
                models=lm.models,
            )
    edge = estimate(
        snap,
        Order("buy", 10_000.0, order_type="limit", offset_bps=off_hi, horizon_s=60),
        fee_tier=tier,
        models=lm.models,
    )
    assert 0.0 <= edge.maker_fraction <= 1.0
    long = estimate(
        snap, Order("buy", 10_000.0, order_type="limit", offset_bps=1.0, horizon_s=600), fee_tier=tier, models=lm.models
    )
    assert any("those of a 60 s rest, the longest the fill model learned" in n for n in long.notes)
    assert not any("the fill model learned" in n for n in edge.notes)


def maker_row_as_served(mk, m, k, *, recorded_flow: bool = True) -> np.ndarray:
    """The input row the app builds for the training maker row ``k`` (its order and instant; its recorded flow, or
    without ``recorded_flow`` the flow imputed as a live feed gets it)."""
    return mk.features_for(
        m.snapshot(m.index_at(k.t_ms)),
        side="buy" if k.side > 0 else "sell",
        size_usd=k.size_usd,
        offset_bps=k.offset_bps,
        horizon_s=k.horizon_s,
        vol_bps=k.vol_bps,
        trades=FlowFeatures(k.vol_bps, k.trades_per_s, k.btc_per_s) if recorded_flow else None,
        vol30_bps=k.vol30_bps,
    )


def test_serving_features_equal_training_features(real):
    """The row the app builds for an order equals the row training built for the same order and instant."""
    lm = load_models()
    m, s, _ = real
    for r in s.sample(15, random_state=2).itertuples():
        order = Order(side="buy" if r.side > 0 else "sell", quantity=r.size_usd)
        mi = snapshot_input(real, order, row=r)
        got = lm.models.slippage.features(
            mi, latency_ms=r.latency_ms, trades=FlowFeatures(r.vol_bps, r.trades_per_s, r.btc_per_s)
        )
        want = np.array([getattr(r, n) for n in SLIPPAGE_INPUTS])
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    k = real[2].iloc[3]
    got = maker_row_as_served(lm.models.maker_taker, m, k)
    np.testing.assert_allclose(got, k[list(MAKER_INPUTS)].to_numpy(np.float64), rtol=1e-9, atol=1e-9)
    assert set(SLIPPAGE_INPUTS) <= set(SLIPPAGE_NAMES) and set(MAKER_INPUTS) <= set(MAKER_NAMES)


# The per-tick path never calling Keras is checked in a fresh process by
# tests/architecture/test_serving_imports.py (models loaded, an order priced, neither TensorFlow nor Keras imported).


def copy_models(tmp_path: Path) -> Path:
    d = tmp_path / "models"
    shutil.copytree(MODELS_DIR, d)
    return d


def edit_card(d: Path, role: str, **changes) -> None:
    p = d / f"{role}.json"
    card = json.loads(p.read_text())
    card.update(changes)
    p.write_text(json.dumps(card))


def test_load_models_falls_back_when_a_card_says_no(tmp_path):
    d = copy_models(tmp_path)
    edit_card(d, "maker_taker", use=False, reason="held-out log-loss 0.9 does not beat the base rate (0.7)")
    edit_card(d, "slippage_quantiles", use=False, reason="its p90 covers 70% of held-out costs")
    lm = load_models(d)
    assert lm.models.maker_taker is None
    assert "does not beat the base rate" in lm.fallbacks["maker_taker"]
    assert "limit orders cannot be priced" in lm.fallbacks["maker_taker"]
    assert "70%" in lm.fallbacks["slippage_quantiles"]
    exp_used = json.loads((d / "slippage_expected.json").read_text())["use"]
    if exp_used:
        assert lm.models.slippage is not None and lm.models.slippage.quantiles is None
    else:
        assert lm.models.slippage is None  # neither slippage model: the engine keeps the book walk
    assert isinstance(lm.models, Models)


def test_load_models_falls_back_on_missing_stale_or_broken_files(tmp_path):
    lm = load_models(tmp_path / "nowhere")
    assert lm.models == Models() and set(lm.fallbacks) == set(ROLES)
    assert all("python -m core.train" in why for why in lm.fallbacks.values())
    d = copy_models(tmp_path)
    card = json.loads((d / "maker_taker.json").read_text())
    edit_card(d, "maker_taker", features=card["features"][:-1])
    (d / "slippage_quantiles.keras").write_bytes(b"not a keras file")
    (d / "slippage_quantiles.npz").write_bytes(b"not an npz file")  # the file actually served
    lm = load_models(d)
    assert lm.models.maker_taker is None and "other features" in lm.fallbacks["maker_taker"]
    assert "could not be loaded" in lm.fallbacks["slippage_quantiles"]


def test_shipped_corrections_are_the_ones_their_cards_describe():
    """The .npz serves the p90 widening and the maker recalibration the cards report (core.training.conformal,
    core.training.recalibration), and the widening covers the training days' taker orders as it claims."""
    lm = load_models()
    q_card = lm.cards["slippage_quantiles"]
    conf = q_card["correction"]["conformal"]
    shift = NumpyNet.load_npz(MODELS_DIR / "slippage_quantiles.npz").band_shift
    assert shift is not None and (shift.table >= 0).all()
    for cell in conf["table"]:
        g = 1 if cell["market"] == "spot" else 0
        k = [c["bucket"] for c in conf["table"] if c["market"] == cell["market"]].index(cell["bucket"])
        assert shift.table[g, k] == pytest.approx(cell["shift_units"], abs=1e-12)
    # per-instrument rows: served exactly when the card says the rule chose them, with the card's values
    cells = conf.get("cells", {})
    assert list(shift.instruments) == cells.get("served_instruments", [])
    assert bool(shift.instruments) == (cells.get("chosen", "pooled") != "pooled")
    names = [c["bucket"] for c in conf["table"] if c["market"] == "derivative"]
    for c in cells.get("instrument_table", []):
        if c["instrument"] in shift.instruments:
            row = 2 + shift.instruments.index(c["instrument"])
            assert shift.table[row, names.index(c["bucket"])] == pytest.approx(c["shift_units"], abs=1e-12)
    # the unit the card says was chosen by cross-validation is the one served
    assert ROLE_INPUTS["slippage_quantiles"][shift.scale_col] == conf["normaliser"]["column"]
    assert shift.floor == conf["normaliser"]["floor"]
    after = {(r["market"], r["bucket"]): r for r in conf["coverage_after"]}
    assert after[("all", "all sizes")]["coverage"] >= 0.9
    if not shift.instruments:  # pooled cells: each is fitted on its own orders, so covers them (in sample)
        assert all(r["coverage"] >= 0.88 for r in conf["coverage_after"] if r["n"] >= 100)
    elif cells["chosen"] != "shrunk toward pooled":
        # an own cell is fitted on its orders and these variants serve it or a wider one: at least 90% in sample
        own = {(c["instrument"], c["bucket"]) for c in cells["instrument_table"] if c["own"]}
        assert all(c["shift_units"] >= c["own_units"] for c in cells["instrument_table"] if c["own"])
        by_inst = conf["coverage_by_instrument"]["after"]
        assert own and all(r["coverage"] >= 0.9 for r in by_inst if (r["instrument"], r["bucket"]) in own)
    rec = lm.cards["maker_taker"]["correction"]["recalibration"]
    served = NumpyNet.load_npz(MODELS_DIR / "maker_taker.npz").recalibration
    if rec["ridge"] == "none":
        assert served is None
    else:
        assert served is not None
        assert np.allclose(served.coef[0], rec["coef"]["derivative"]) and np.allclose(
            served.coef[1], rec["coef"]["spot"]
        )


def test_a_card_with_the_chosen_interaction_input_is_served_with_it(tmp_path, real):
    """A maker card naming MAKER_INPUTS plus the interaction INTERACTION_RULE chose is served with that column
    (built by maker_vector); any other extra input is refused as a stale model."""

    from core.learned.features import MAKER_INTERACTIONS
    from core.learned.nets import DenseWeights

    d = copy_models(tmp_path)
    net = NumpyNet.load_npz(d / "maker_taker.npz")
    head = net.heads[0]
    pad = (
        {"clip_lo": np.append(net.clip_lo, -1e9), "clip_hi": np.append(net.clip_hi, 1e9)}
        if net.clip_lo is not None
        else {}
    )
    wide = replace(
        net,
        mean=np.append(net.mean, 0.0),
        scale=np.append(net.scale, 1.0),
        heads=(DenseWeights(np.vstack([head.w, np.zeros((1, head.w.shape[1]))]), head.b, head.activation),),
        **pad,
    )
    wide.save_npz(d / "maker_taker.npz")
    card = json.loads((d / "maker_taker.json").read_text())
    extra = MAKER_INTERACTIONS[0]
    feats = [*card["features"], {"name": extra.name, "unit": extra.unit, "description": extra.description}]
    edit_card(d, "maker_taker", features=feats)
    mk = load_models(d).models.maker_taker
    assert mk is not None and mk.inputs == (*MAKER_INPUTS, extra.name)
    m, _, k = real
    r = k.iloc[3]
    got = maker_row_as_served(mk, m, r)
    np.testing.assert_allclose(got, r[[*MAKER_INPUTS, extra.name]].to_numpy(np.float64), rtol=1e-9, atol=1e-9)
    assert got[-1] == pytest.approx(r.vol_bps * np.log10(r.size_usd))
    # the new column has weight 0 here: the served share is the 11-input model's on the same row
    assert wide.forward(got)[0] == pytest.approx(net.forward(got[:-1])[0], abs=1e-12)
    edit_card(d, "maker_taker", features=[*card["features"], {"name": "trades_per_s", "unit": "", "description": ""}])
    lm = load_models(d)
    assert lm.models.maker_taker is None and "other features" in lm.fallbacks["maker_taker"]


def test_a_model_served_with_the_30s_scale_inputs_builds_the_training_row(tmp_path, real):
    """HORIZON_VOL_RULE's 'move_at_horizon' swap served: the card names move30_bps and offset_over_move30 in place of
    move_bps and offset_over_move (same number of inputs, so the weights load); the row the app builds from the
    volatility's 30 s scale equals the training row, and the share differs from the random-walk row's."""
    from core.learned.features import MAKER_FEATURES, with_swap

    d = copy_models(tmp_path)
    card = json.loads((d / "maker_taker.json").read_text())
    table = {f.name: f for f in MAKER_FEATURES}
    names = with_swap([f["name"] for f in card["features"]], "move_at_horizon")  # as training orders them
    feats = [{"name": n, "unit": table[n].unit, "description": table[n].description} for n in names]
    edit_card(d, "maker_taker", features=feats)
    mk = load_models(d).models.maker_taker
    assert mk is not None and "move30_bps" in mk.inputs and "move_bps" not in mk.inputs
    m, _, k = real
    r = k.iloc[5]
    assert abs(r.vol30_bps - r.vol_bps) > 1e-6  # the recording's 30 s scale differs from its short one
    got = maker_row_as_served(mk, m, r)
    np.testing.assert_allclose(got, r[names].to_numpy(np.float64), rtol=1e-9, atol=1e-9)
    assert got[names.index("move30_bps")] == pytest.approx(r.vol30_bps * np.sqrt(r.horizon_s))
    as_walk = r.copy()
    as_walk["vol30_bps"] = r.vol_bps  # what an override or a short history serves: a random walk
    walk = maker_row_as_served(mk, m, as_walk)
    assert mk.net.forward(got)[0] != pytest.approx(mk.net.forward(walk)[0], abs=1e-9)


def _trend_parts(n: int = 1200) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """1 s grid times, random-walk shocks and a drift that persists for tens of seconds (a trending mid)."""
    gen = np.random.default_rng(3)
    e = gen.normal(0.0, 1e-4, n)
    drift = np.zeros(n)
    for i in range(1, n):
        drift[i] = 0.98 * drift[i - 1] + gen.normal(0.0, 3e-5)
    return n, np.arange(n + 1, dtype=np.float64), e, drift


def test_the_maker_note_warns_when_the_market_trends_outside_the_training_range(real):
    """The card's variance-ratio range: a trending mid history (moves continue for tens of seconds) is named in the
    maker share's note as extrapolated; a random walk, an override and a short history are not."""
    from core.costs.volatility import realised_vol

    mk = load_models().models.maker_taker
    rng_ = json.loads((MODELS_DIR / "maker_taker.json").read_text())["serving"]["variance_ratio_range"]
    assert rng_[0] < 1.0 < rng_[1]
    n, t, e, drift = _trend_parts()
    trend = realised_vol(t, 5e4 * np.exp(np.concatenate(([0.0], np.cumsum(e + drift)))))
    ratio = (trend.sigma_at_horizon / trend.sigma_per_sqrt_s) ** 2
    assert ratio > rng_[1]
    assert "trending" in mk.regime(trend) and f"30 s variance is {ratio:.2f}x" in mk.regime(trend)
    assert f"about {np.sqrt(ratio):.2f}x as far per 30 s" in mk.regime(trend)
    young = realised_vol(t[:200], 5e4 * np.exp(np.concatenate(([0.0], np.cumsum(e + drift))))[:200])
    assert young.n_returns < HORIZON_MIN_RETURNS and mk.regime(young) == ""  # too young to judge
    walk = realised_vol(t, 5e4 * np.exp(np.concatenate(([0.0], np.cumsum(e)))))
    assert rng_[0] <= (walk.sigma_at_horizon / walk.sigma_per_sqrt_s) ** 2 <= rng_[1] and mk.regime(walk) == ""
    assert (
        mk.regime(realised_vol(t, 5e4 * np.exp(np.concatenate(([0.0], np.cumsum(e + drift)))), override_annual=0.5))
        == ""
    )
    assert mk.regime(realised_vol(t, np.full(n + 1, 5e4))) == ""  # a mid that never moved: no ratio, no warning
    mi = snapshot_input(real, Order(side="buy", quantity=25_000.0, order_type="limit", offset_bps=1, horizon_s=10))
    assert "extrapolated" not in mk.flow_source(replace(mi, volatility=trend))  # said once, in the notes


def test_a_limit_order_in_a_trending_market_says_so_in_its_notes(real):
    """The engine's notes carry the maker model's regime warning (plain words), and only when it applies."""
    from core.costs.volatility import realised_vol

    lm = load_models()
    _, t, e, drift = _trend_parts()
    trend = realised_vol(t, 5e4 * np.exp(np.concatenate(([0.0], np.cumsum(e + drift)))))
    walk = realised_vol(t, 5e4 * np.exp(np.concatenate(([0.0], np.cumsum(e)))))
    mi = snapshot_input(real, Order(side="buy", quantity=25_000.0, order_type="limit", offset_bps=1, horizon_s=10))
    tier = get_tier("binance-futures", "swap")
    hot = estimate(mi.snapshot, mi.order, fee_tier=tier, volatility=trend, models=lm.models)
    calm = estimate(mi.snapshot, mi.order, fee_tier=tier, volatility=walk, models=lm.models)
    assert any(
        s.startswith("Maker share outside the model's training conditions: the mid's 30 s variance") for s in hot.notes
    )
    assert not any("training conditions" in s for s in calm.notes)


def test_served_inputs_accept_the_rules_choices_and_nothing_else():
    from core.learned.features import HORIZON_VOL_SWAPS, MAKER_INTERACTIONS, with_swap
    from core.learned.models import served_inputs

    def card(names):
        return {"features": [{"name": n} for n in names]}

    inter = (*MAKER_INPUTS, MAKER_INTERACTIONS[0].name)
    for names in (MAKER_INPUTS, inter, *(with_swap(b, s) for b in (MAKER_INPUTS, inter) for s in HORIZON_VOL_SWAPS)):
        assert served_inputs("maker_taker", card(names)) == tuple(names)
    assert served_inputs("maker_taker", card([*MAKER_INPUTS, "log_variance_ratio", "move30_bps"])) is None
    assert served_inputs("maker_taker", card(list(reversed(MAKER_INPUTS)))) is None  # the order is the weights'
