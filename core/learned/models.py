"""The learned cost models the engine serves, and loading them from ``models/`` with a fallback per role.

Three roles, one JSON model card and one set of weights (``.npz``, beside the ``.keras`` training wrote) each:

- ``slippage_expected``: expected total immediate cost (bps) of a market order at a latency: linear
  regression (one Dense unit, mean squared error), or a small MLP where that won on held-out data.
- ``slippage_quantiles``: p50, p90 and p95 of the same cost (pinball loss). Non-crossing by
  construction: the model outputs p50 and two softplus (hence >= 0) increments, p90 = p50 + d90 and
  p95 = p90 + d95.
- ``maker_taker``: share of a passive limit order filled as maker within its horizon: logistic regression
  (one Dense sigmoid unit, cross-entropy on the fill fraction).

``load_models`` reads each card and its ``.npz`` once into a ``NumpyNet`` (``core.learned.nets``) and fills
the ``core.costs.estimate.Models`` slots; a role it cannot serve keeps the engine's rule-based number and
says why. Serving never imports TensorFlow or Keras: the models are trained, and the ``.npz`` written, by
``core.training``.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.costs.models import LimitRisk, ModelInput, Models, SlippagePrediction
from core.costs.order import Side
from core.costs.volatility import Volatility
from core.errors import InstrumentError
from core.learned.features import (
    DEPTH_BANDS_BPS,
    HORIZON_VOL_SWAPS,
    HORIZONS_S,
    IMBALANCE_BAND_BPS,
    LATENCIES_MS,
    MAKER_INPUTS,
    MAKER_INTERACTIONS,
    MAKER_NAMES,
    MAX_RATIO,
    OFFSETS_BPS,
    ROLE_INPUTS,
    SLIPPAGE_INPUTS,
    SLIPPAGE_NAMES,
    FlowFeatures,
    book_features,
    infer_tick,
    latency_move,
    limit_price,
    maker_vector,
    slippage_vector,
    with_swap,
)
from core.learned.imputation import FlowImputation, ImputedFlow, instrument_key
from core.learned.nets import NumpyNet
from core.learned.online import BandTracker, ShareTracker, moved_share
from core.market.instruments import Instrument, get_instrument
from core.paths import MODELS_DIR

log = logging.getLogger(__name__)

ROLES = ("slippage_expected", "slippage_quantiles", "maker_taker")
KINDS = {"slippage_expected": "regression", "slippage_quantiles": "quantiles", "maker_taker": "probability"}
#: the quantiles a ``quantiles`` model predicts, in output order
QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.95)
_SLIP_IDX = np.array([SLIPPAGE_NAMES.index(n) for n in SLIPPAGE_INPUTS])
_SIZE_COL, _SPREAD_COL = SLIPPAGE_INPUTS.index("log10_size_usd"), SLIPPAGE_INPUTS.index("spread_bps")


# --------------------------------------------------------------------------------------------------
# Serving: the cost-engine protocols backed by the numpy path


def _clip(v: float, lo: float, hi: float) -> float:
    return min(max(v, lo), hi)


def _side_sign(side: Side | str) -> int:
    return 1 if Side.parse(side) is Side.BUY else -1


def _flow(x: ModelInput, impute: dict[str, float], trades: FlowFeatures | None) -> FlowFeatures:
    """Volatility from the engine's estimate; trade intensity from the caller or the training median."""
    vol_bps = float(x.volatility.sigma_per_sqrt_s) * 1e4
    vol30 = float(x.volatility.sigma_at_horizon) * 1e4
    if trades is not None:
        return FlowFeatures(vol_bps, trades.trades_per_s, trades.btc_per_s, vol30)
    return FlowFeatures(vol_bps, impute["trades_per_s"], impute["btc_per_s"], vol30)


@functools.lru_cache(maxsize=64)
def _instrument(exchange: str, symbol: str) -> Instrument | None:
    """Instrument metadata once per (exchange, symbol): the per-tick path must not repeat the lookup."""
    try:
        return get_instrument(exchange, symbol)
    except InstrumentError:
        return None


def _is_spot(exchange: str, symbol: str) -> bool:
    inst = _instrument(exchange, symbol)
    return inst is not None and inst.kind == "spot"  # unknown: treat as a derivative, like most venues here


def band_instrument(exchange: str, symbol: str) -> str | None:
    """The key (``exchange:symbol``, as the instrument table spells them) that picks a band's per-instrument cells
    (``core.learned.nets.BandShift``), looked up in the instrument table; None for an instrument it does not list
    (the pooled cells then)."""
    inst = _instrument(exchange, symbol)
    return instrument_key(inst.exchange, inst.symbol) if inst is not None else None


def _tick(snapshot: Any) -> float:
    inst = _instrument(snapshot.exchange, snapshot.symbol)
    return inst.tick_size if inst is not None else infer_tick(snapshot)


def _impute_for(card: dict[str, Any], spot: bool) -> dict[str, float]:
    imp = card.get("serving", {}).get("impute", {})
    return {k: float(v) for k, v in imp.get("spot" if spot else "derivative", imp.get("all", {})).items()}


@dataclass(frozen=True)
class SlippageModelImpl:
    """``core.costs.estimate.SlippageModel``: expected cost and p90 in bps of the executed notional.

    ``expected`` is None when the expected-value model declined (its card says ``use: false``): the book
    walk at decision time is then the expected value. ``quantiles`` is None when the quantile model
    declined: no p90 band. The latency comes from ``x.latency_ms`` or ``x.order.latency_ms`` when the
    engine supplies one, else ``latency_ms`` here; it is clipped to the trained range.
    """

    name: str
    expected: NumpyNet | None
    quantiles: NumpyNet | None
    impute: dict[str, dict[str, float]]  # "spot"/"derivative" -> trade-feature medians of the training data
    latency_ms: float = 0.0
    cards: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    #: the online calibration's band tracker (``core.learned.online``); None: the static band
    band: BandTracker | None = field(default=None, repr=False, compare=False)

    def with_latency(self, latency_ms: float) -> SlippageModelImpl:
        return replace(self, latency_ms=float(latency_ms))

    def features(
        self, x: ModelInput, *, latency_ms: float | None = None, trades: FlowFeatures | None = None
    ) -> np.ndarray:
        """The model-input row (``SLIPPAGE_INPUTS``) the training code would have built for this order."""
        lat = latency_ms
        if lat is None:
            lat = getattr(x, "latency_ms", None)
        if lat is None:
            lat = getattr(x.order, "latency_ms", None)
        lat = _clip(float(self.latency_ms if lat is None else lat), 0.0, max(LATENCIES_MS))
        snap = x.snapshot
        spot = _is_spot(snap.exchange, snap.symbol)
        row = slippage_vector(
            book_features(snap),
            _flow(x, self.impute["spot" if spot else "derivative"], trades),
            side=_side_sign(x.order.side),
            size_usd=max(float(x.notional_usd), 1e-9),
            walk_bps=float(x.walk.cost_bps),
            latency_ms=lat,
            is_spot=spot,
        )
        return row[_SLIP_IDX]

    def tick_row(
        self,
        snap: Any,
        bands: tuple[tuple[float, ...], tuple[float, ...]],
        *,
        side: int,
        notional_usd: float,
        walk_bps: float,
        vol_per_sqrt_s: float,
        latency_ms: float,
    ) -> list[float]:
        """``features`` from numbers the per-tick path already has (banded depth from the kernel), as a
        plain list: the same values, without building the full training row. Tests hold the two equal."""
        spot = _is_spot(snap.exchange, snap.symbol)
        imp = self.impute["spot" if spot else "derivative"]
        bid_d, ask_d = bands
        depth = ask_d if side > 0 else bid_d
        i = DEPTH_BANDS_BPS.index(IMBALANCE_BAND_BPS)
        tot = bid_d[i] + ask_d[i]
        imb25 = (bid_d[i] - ask_d[i]) / tot if tot > 0 else 0.0
        b0, a0 = float(snap.bid_sz[0]), float(snap.ask_sz[0])
        imb_top = (b0 - a0) / (b0 + a0) if b0 + a0 > 0 else 0.0
        size = max(float(notional_usd), 1e-9)
        lat = _clip(float(latency_ms), 0.0, max(LATENCIES_MS))
        return [
            math.log10(size),
            snap.spread_bps,
            walk_bps,
            math.log10(1.0 + depth[0]),
            math.log10(1.0 + depth[1]),
            min(size / depth[0], MAX_RATIO) if depth[0] > 0 else MAX_RATIO,
            min(size / depth[1], MAX_RATIO) if depth[1] > 0 else MAX_RATIO,
            side * imb25,
            side * imb_top,
            float(vol_per_sqrt_s) * 1e4,
            math.log10(1.0 + imp["trades_per_s"]),
            math.log10(1.0 + imp["btc_per_s"]),
            math.sqrt(lat / 1000.0),
            latency_move(float(vol_per_sqrt_s) * 1e4, lat),
            1.0 if spot else 0.0,
        ]

    def predict_row(
        self, row: np.ndarray, walk_bps: float, instrument: str | None = None
    ) -> tuple[float, float | None]:
        """(expected bps, p90 bps or None) for one feature row of ``instrument`` (``band_instrument``)."""
        exp = float(self.expected.forward(row)[0]) if self.expected is not None else walk_bps
        p90 = None
        if self.quantiles is not None:
            p90 = max(float(self.quantiles.forward(row, instrument)[0, 1]), exp)  # a band never below the expectation
        return exp, p90

    def online_p90(self, p90_bps: float, expected_bps: float, log10_size_usd: float, spread_bps: float) -> float:
        """The static p90 moved by the online band tracker's shift for the order's size bucket (the per-tick path
        applies it to the compiled figures through this same method)."""
        assert self.band is not None
        return self.band.band_bps(p90_bps, spread_bps, self.band.buckets.of_log10(log10_size_usd), expected_bps)

    def online_note(self, x: ModelInput) -> str:
        if self.band is None or self.quantiles is None or not self.band.applies(x.snapshot.exchange, x.snapshot.symbol):
            return ""
        return self.band.state().band_note(self.band.buckets.of(x.notional_usd), x.snapshot.spread_bps)

    def predict_quantiles(self, x: ModelInput, **kw: Any) -> np.ndarray | None:
        """(p50, p90, p95) in bps, or None without a quantile model."""
        if self.quantiles is None:
            return None
        snap = x.snapshot
        return self.quantiles.forward(self.features(x, **kw), band_instrument(snap.exchange, snap.symbol))[0]

    def predict(self, x: ModelInput) -> SlippagePrediction:
        snap = x.snapshot
        row = self.features(x)
        exp, p90 = self.predict_row(row, float(x.walk.cost_bps), band_instrument(snap.exchange, snap.symbol))
        online = 0.0
        if p90 is not None and self.band is not None and self.band.applies(snap.exchange, snap.symbol):
            static = p90
            p90 = self.online_p90(p90, exp, float(row[_SIZE_COL]), float(row[_SPREAD_COL]))
            online = p90 - static
        return SlippagePrediction(expected_bps=exp, p90_bps=p90, p90_online_bps=online)


@dataclass(frozen=True)
class MakerTakerModelImpl:
    """``core.costs.estimate.MakerTakerModel``: expected share of a limit order filled as maker within its horizon.

    Reads ``order.side``, ``order.offset_bps`` and ``order.horizon_s`` (horizon clipped to the trained
    1-60 s, offset to 0-5 bps; the card says so) and the notional.
    """

    name: str
    net: NumpyNet
    impute: dict[str, dict[str, float]]  # per market kind, base units: only for a card without ``flows``
    cards: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    flows: FlowImputation | None = None  # per instrument, USD terms (``core.learned.imputation``)
    #: the net per instrument key (``NumpyNet.for_instrument``), filled on first use
    by_instrument: dict[str, NumpyNet] = field(default_factory=dict, repr=False, compare=False)
    #: the model's inputs (its card's): ``MAKER_INPUTS``, plus the interaction ``INTERACTION_RULE`` chose if any
    inputs: tuple[str, ...] = MAKER_INPUTS
    #: the online calibration's share tracker (``core.learned.online``); None: the model's share as trained
    share: ShareTracker | None = field(default=None, repr=False, compare=False)
    _idx: np.ndarray = field(init=False, repr=False, compare=False)  # their columns in a ``maker_vector`` row

    def __post_init__(self) -> None:
        object.__setattr__(self, "_idx", np.array([MAKER_NAMES.index(n) for n in self.inputs]))

    def imputed_flow(self, snapshot: Any) -> ImputedFlow:
        """The trade flow a live feed without trades gets for this instrument (``core.learned.imputation``)."""
        spot = _is_spot(snapshot.exchange, snapshot.symbol)
        if self.flows is not None:
            return self.flows.flow(snapshot.exchange, snapshot.symbol, spot=spot, mid=float(snapshot.mid))
        imp = self.impute["spot" if spot else "derivative"]
        kind = "spot" if spot else "derivative"
        return ImputedFlow(imp["trades_per_s"], imp["btc_per_s"], f"trade flow imputed with the training {kind} median")

    def flow_source(self, x: ModelInput) -> str:
        """Where the order's imputed trade flow (and its instrument's calibration) come from, and how the share did on
        the held-out day (the card's ``caveat``), for the method note."""
        rc = self.net.recalibration
        key = instrument_key(x.snapshot.exchange, x.snapshot.symbol)
        shift = dict(rc.shifts).get(key) if rc is not None and rc.shifts else None
        calib = (
            "" if shift is None else f"; recalibrated for {key} on its training-date tape (logit shift {shift:+.2f})"
        )
        caveat = caveat_for(
            self.cards.get("maker_taker", {}).get("caveat") or "", x.snapshot.exchange, x.snapshot.symbol
        )
        return self.imputed_flow(x.snapshot).source + calib + (f"; {caveat}" if caveat else "")

    def regime(self, vol: Volatility) -> str:
        """A plain warning when the market's 30 s over 1-5 s variance lies outside the training days' range (the card's
        ``serving.variance_ratio_range``): the share is then extrapolated. Empty otherwise, without data, and before
        ``HORIZON_MIN_RETURNS`` returns (on a random walk a younger estimate leaves the range too often: about half
        the time at 31 s, a tenth at 300 s)."""
        rng = self.cards.get("maker_taker", {}).get("serving", {}).get("variance_ratio_range")
        if not rng or not vol.horizon_settled or not vol.sigma_per_sqrt_s > 0:  # no ratio, or too young to judge
            return ""
        ratio = (vol.sigma_at_horizon / vol.sigma_per_sqrt_s) ** 2
        if rng[0] <= ratio <= rng[1]:
            return ""
        way = "trending: moves continue" if ratio > rng[1] else "reverting: moves undo themselves"
        return (
            f"the mid's 30 s variance is {ratio:.2f}x what its 1-5 s volatility implies for a random walk ({way}; "
            f"about {math.sqrt(ratio):.2f}x as far per 30 s), outside the training days' {rng[0]:.2f}-{rng[1]:.2f}, "
            "so this share is extrapolated"
        )

    def net_for(self, snapshot: Any) -> NumpyNet:
        """The net as served for the book's instrument (its recalibration's shift, if it has one)."""
        key = instrument_key(snapshot.exchange, snapshot.symbol)
        net = self.by_instrument.get(key)
        if net is None:
            net = self.by_instrument[key] = self.net.for_instrument(key)
        return net

    def features_for(
        self,
        snapshot: Any,
        *,
        side: Side | str,
        size_usd: float,
        offset_bps: float,
        horizon_s: float,
        vol_bps: float,
        trades: FlowFeatures | None = None,
        vol30_bps: float = math.nan,
    ) -> np.ndarray:
        """Lower-level entry: a book and order parameters -> the model-input row (``inputs``); ``vol30_bps`` NaN:
        the 30 s-scale volatility taken as ``vol_bps``."""
        spot = _is_spot(snapshot.exchange, snapshot.symbol)
        if trades is None and self.flows is not None:  # the numbers only: the note's words are built on demand
            tps, base = self.flows.rates(snapshot.exchange, snapshot.symbol, spot=spot, mid=float(snapshot.mid))
            flow = FlowFeatures(vol_bps, tps, base, vol30_bps)
        elif trades is None:
            imp = self.imputed_flow(snapshot)
            flow = FlowFeatures(vol_bps, imp.trades_per_s, imp.base_per_s, vol30_bps)
        else:
            flow = FlowFeatures(vol_bps, trades.trades_per_s, trades.btc_per_s, vol30_bps)
        s = _side_sign(side)
        off = _clip(float(offset_bps), min(OFFSETS_BPS), max(OFFSETS_BPS))
        hor = _clip(float(horizon_s), min(HORIZONS_S), max(HORIZONS_S))
        lp = limit_price(snapshot, s, off, _tick(snapshot))
        row = maker_vector(
            book_features(snapshot),
            flow,
            side=s,
            size_usd=max(float(size_usd), 1e-9),
            offset_bps=off,
            horizon_s=hor,
            queue_usd=lp.queue_base * lp.price,
            is_spot=spot,
        )
        return row[self._idx]

    def features(self, x: ModelInput, *, trades: FlowFeatures | None = None) -> np.ndarray:
        o = x.order
        return self.features_for(
            x.snapshot,
            side=o.side,
            size_usd=x.notional_usd,
            offset_bps=o.offset_bps,
            horizon_s=o.horizon_s,
            vol_bps=float(x.volatility.sigma_per_sqrt_s) * 1e4,
            trades=trades,
            vol30_bps=float(x.volatility.sigma_at_horizon) * 1e4,
        )

    def maker_fraction(self, x: ModelInput) -> float:
        return self.maker_fraction_parts(x)[0]

    def maker_fraction_parts(self, x: ModelInput) -> tuple[float, float | None]:
        p = _clip(float(self.net_for(x.snapshot).forward(self.features(x))[0]), 0.0, 1.0)
        if self.share is None or not self.share.applies(x.snapshot.exchange, x.snapshot.symbol):
            return p, None
        shift = self.share.shift_at(x.notional_usd)
        if shift == 0.0:  # no test order's outcome has moved it yet: nothing to say beside the share
            return p, None
        return float(moved_share(p, shift)), p

    def online_note(self, x: ModelInput) -> str:
        if self.share is None or not self.share.applies(x.snapshot.exchange, x.snapshot.symbol):
            return ""
        return self.share.note(x.notional_usd)

    def trained_range(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The offsets (bps) and horizons (s) the fill rates were learned on; ``features_for`` clips to them."""
        return (min(OFFSETS_BPS), max(OFFSETS_BPS)), (min(HORIZONS_S), max(HORIZONS_S))

    def limit_risk(self, x: ModelInput) -> LimitRisk | None:
        """Adverse selection and opportunity cost at the order's horizon, from the card's tape estimates
        (per trained horizon, linear in between, clipped to 1-60 s); None when the card has none."""
        return risk_at(self.cards.get("maker_taker", {}), float(x.order.horizon_s))


#: each of the card's caveat sentences starts so (``core.training.held_out.maker_caveat``), naming its recording
_CAVEAT_HEAD = "On the held-out day ("


#: the clause of a caveat sentence after the by-size misses (the inputs that left the training range): on the model
#: card, not in an order's note
_CAVEAT_WHY = "; that day "


def caveat_for(caveat: str, exchange: str, symbol: str) -> str:
    """The card's held-out caveat for the order's own instrument, by-size misses only: the sentences of its
    recordings, or, where the held-out day has none of it, the first (headline) sentence said to be another
    instrument's. One instrument's misses, not every instrument's account, keep the maker note readable (and an
    ETHUSDT figure off a BTCUSDT order); why the day differed is on the model card."""
    parts = [p.strip() for p in caveat.split(_CAVEAT_HEAD) if p.strip()]
    if not parts:
        return ""
    parts = [
        p.split(_CAVEAT_WHY)[0].rstrip(".") + (" (the Models page says why)" if _CAVEAT_WHY in p else "") + "."
        for p in parts
    ]
    own = [p for p in parts if p.startswith(f"{exchange}_{symbol}_")]
    if own:
        return " ".join(f"on the held-out day ({p}" for p in own).replace(". on the held-out", "; on the held-out")
    return f"no held-out day for this instrument; for another one, on the held-out day ({parts[0]}"


def risk_at(card: dict[str, Any], horizon_s: float) -> LimitRisk | None:
    """``LimitRisk`` at ``horizon_s`` from a maker card's ``metrics.limit_costs`` (None when absent)."""
    table = card.get("metrics", {}).get("limit_costs", {}).get("by_horizon_s", {})
    rows = sorted((float(h), r) for h, r in table.items())
    if not rows:
        return None
    hs = np.array([h for h, _ in rows])
    h = _clip(horizon_s, float(hs[0]), float(hs[-1]))

    def at(key: str) -> float:
        v = np.array([r.get(key) if r.get(key) is not None else np.nan for _, r in rows], dtype=np.float64)
        ok = np.isfinite(v)
        return float(np.interp(h, hs[ok], v[ok])) if ok.any() else 0.0

    def ci(key: str) -> tuple[float, float] | None:
        pairs = [r.get(key) for _, r in rows]
        if any(p is None for p in pairs):
            return None
        lo = np.interp(h, hs, [p[0] for p in pairs])
        hi = np.interp(h, hs, [p[1] for p in pairs])
        return float(lo), float(hi)

    days = sorted({d.get("date", "") for d in card.get("data", []) if d.get("use") == "train"})
    return LimitRisk(
        adverse_selection_bps=at("adverse_selection_bps"),
        opportunity_bps=at("opportunity_bps"),
        adverse_selection_ci=ci("adverse_selection_ci"),
        opportunity_ci=ci("opportunity_ci"),
        source=f"estimated on the recorded tape of {', '.join(days) or 'the training days'} (docs/MODELS.md)",
    )


# --------------------------------------------------------------------------------------------------
# Loading with fallback


@dataclass(frozen=True)
class LoadedModels:
    """What ``load_models`` found: the engine's slots plus why any slot keeps the rule-based method."""

    models: Models
    fallbacks: dict[str, str]  # role -> plain-language reason the baseline is used instead
    cards: dict[str, dict[str, Any]]
    nets: dict[str, NumpyNet]

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(self.fallbacks.values())


EXPECTED_FEATURES = ROLE_INPUTS


def served_inputs(role: str, card: dict[str, Any]) -> tuple[str, ...] | None:
    """The inputs the card's model reads, when this code builds them: the role's (``ROLE_INPUTS``), or for the
    maker model those plus the one interaction ``core.training.extrapolation.INTERACTION_RULE`` chose and with the
    swap ``core.training.horizon_vol.HORIZON_VOL_RULE`` chose; else None."""
    names = tuple(f["name"] for f in card.get("features", []))
    allowed = [EXPECTED_FEATURES[role]]
    if role == "maker_taker":
        bases = [MAKER_INPUTS, *((*MAKER_INPUTS, f.name) for f in MAKER_INTERACTIONS)]
        allowed += [tuple(with_swap(b, swap)) for b in bases for swap in HORIZON_VOL_SWAPS]
        allowed += bases[1:]
    return names if names in allowed else None


BASELINE_WORDS = {
    "slippage_expected": "the book walk at decision time is used for expected slippage",
    "slippage_quantiles": "no p90 band is shown",
    "maker_taker": "limit orders cannot be priced",
}


def read_card(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _load_role(models_dir: Path, role: str) -> tuple[NumpyNet | None, dict[str, Any], str]:
    """(net or None, card, reason when None)."""
    card_path = models_dir / f"{role}.json"
    if not card_path.exists():
        return None, {}, f"No trained {role} model in {models_dir} (run `python -m core.train`)"
    try:
        card = read_card(card_path)
    except (OSError, ValueError) as exc:
        return None, {}, f"The {role} model card could not be read ({type(exc).__name__})"
    if not card.get("use", False):
        return None, card, f"The {role} model is not used: {card.get('reason', 'its card says use = false')}"
    inputs = served_inputs(role, card)
    if inputs is None:
        return None, card, f"The {role} model was trained on other features than this code builds; retrain it"
    npz_path = (models_dir / card.get("file", f"{role}.keras")).with_suffix(".npz")
    if not npz_path.exists():
        return None, card, f"The {role} model has no weights file {npz_path.name} (run `python -m core.train`)"
    try:
        # the .npz holds exactly the .keras weights (written beside it by core.training.train, checked equal by
        # tests/unit/test_model_files.py), so serving never imports TensorFlow or Keras
        net = NumpyNet.load_npz(npz_path)
    except Exception as exc:  # a corrupt file must not stop the app: fall back, say why
        log.warning("could not load %s", npz_path, exc_info=True)
        return None, card, f"The {role} model file could not be loaded ({type(exc).__name__})"
    if net.n_features != len(inputs):
        return None, card, f"The {role} model expects {net.n_features} features, not {len(inputs)}"
    return net, card, ""


def load_models(models_dir: str | Path = MODELS_DIR, *, latency_ms: float = 0.0) -> LoadedModels:
    """Read the cards and weights once (``core.runtime.Runtime.models`` does, once per process).

    A role whose card says ``use: false``, or whose files are missing or stale, leaves its slot empty and
    ``fallbacks[role]`` says why in one sentence, so the engine keeps its baseline for that number.
    """
    d = Path(models_dir)
    nets: dict[str, NumpyNet] = {}
    cards: dict[str, dict[str, Any]] = {}
    fallbacks: dict[str, str] = {}
    for role in ROLES:
        net, card, why = _load_role(d, role)
        if card:
            cards[role] = card
        if net is None:
            fallbacks[role] = f"{why}; {BASELINE_WORDS[role]}."
        else:
            nets[role] = net

    slippage = None
    if "slippage_expected" in nets or "slippage_quantiles" in nets:
        src = cards["slippage_expected"] if "slippage_expected" in nets else cards["slippage_quantiles"]
        parts = []
        if "slippage_expected" in nets:
            parts.append(cards["slippage_expected"].get("display_name", "slippage model"))
        else:
            parts.append("book walk at decision time")
        if "slippage_quantiles" in nets:
            parts.append("p90 from " + cards["slippage_quantiles"].get("display_name", "quantile model"))
        slippage = SlippageModelImpl(
            name="; ".join(parts),
            expected=nets.get("slippage_expected"),
            quantiles=nets.get("slippage_quantiles"),
            impute={"spot": _impute_for(src, True), "derivative": _impute_for(src, False)},
            latency_ms=latency_ms,
            cards={k: v for k, v in cards.items() if k.startswith("slippage")},
        )
    maker = None
    if "maker_taker" in nets:
        c = cards["maker_taker"]
        maker = MakerTakerModelImpl(
            name=c.get("display_name", "maker/taker model"),
            net=nets["maker_taker"],
            impute={"spot": _impute_for(c, True), "derivative": _impute_for(c, False)},
            cards={"maker_taker": c},
            flows=FlowImputation.from_card(c),
            inputs=served_inputs("maker_taker", c) or MAKER_INPUTS,
        )
    return LoadedModels(
        # the protocols declare ``name`` as a plain attribute; these frozen dataclasses expose it read-only
        models=Models(slippage=slippage, maker_taker=maker),  # type: ignore[arg-type]
        fallbacks=fallbacks,
        cards=cards,
        nets=nets,
    )


def display_name(role: str, arch: str, metrics: dict[str, Any]) -> str:
    """The short label the engine shows in ``methods``, with the held-out number that justifies it."""
    what = (
        "MLP"
        if arch == "mlp"
        else {
            "slippage_expected": "linear regression",
            "slippage_quantiles": "linear quantile regression",
            "maker_taker": "logistic regression",
        }[role]
    )
    if role == "slippage_expected":
        return f"{what} (held-out MAE {metrics['mae_bps']:.3g} bps)"
    if role == "slippage_quantiles":
        real = metrics.get("taker_p90_coverage")  # the served band on the held-out day's real taker orders
        if real is not None:
            return f"{what} (p90 covered {real:.0%} of the held-out day's real taker orders)"
        return f"{what} (held-out p90 coverage {metrics['coverage'][1]:.0%} of its simulated orders)"
    return f"{what} (held-out log-loss {metrics['log_loss']:.3g})"
