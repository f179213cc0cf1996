"""Instrument metadata: tick size, lot size, contract value and the contract-to-base conversion.

A bundled table in ``data/instruments.json`` makes the app work offline. When OKX's public REST endpoint
is reachable, ``refresh_okx`` updates the OKX rows in the background; any failure keeps the bundled rows.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import overload

import numpy as np

from core.errors import InstrumentError
from core.market.venues import SizeUnit, size_unit, venue
from core.paths import DATA_DIR

log = logging.getLogger(__name__)

BUNDLED_PATH = DATA_DIR / "instruments.json"
OKX_REST = venue("okx").rest_url + "/api/v5/public/instruments?instType={inst_type}"


@dataclass(frozen=True, slots=True)
class Instrument:
    exchange: str  # venue id: "okx", "binance" (spot), "binance-futures" (USDⓈ-M)
    symbol: str  # venue symbol, e.g. "BTC-USDT-SWAP"
    kind: str  # "spot" | "swap" | "future"
    base: str
    quote: str
    tick_size: float  # price step, quote currency
    lot_size: float  # size step, in the venue's size unit (``core.market.venues``: contracts or base)
    min_size: float  # minimum order, same unit as lot_size
    ct_val: float = 1.0  # contract value: base units per contract (linear) or quote per contract (inverse)
    ct_type: str = ""  # "linear" | "inverse" | "" for spot
    ct_val_ccy: str = ""

    @property
    def sized_in_contracts(self) -> bool:
        """Book sizes are contracts rather than base units (the venue registry says which venues do that)."""
        return size_unit(self.exchange, self.kind) is SizeUnit.CONTRACTS

    @property
    def label(self) -> str:
        return f"{self.symbol} ({self.kind})"

    @property
    def size_label(self) -> str:
        """What the venue's order sizes count: ``contracts`` or the base currency (``BTC``)."""
        return "contracts" if self.sized_in_contracts else self.base

    @property
    def price_decimals(self) -> int:
        """Decimals of a price on this venue's tick (0.1 -> 1, 0.01 -> 2), so prices print as the venue quotes them."""
        return max(0, -math.floor(math.log10(self.tick_size) + 1e-9)) if self.tick_size > 0 else 2

    def round_down_to_lot(self, size: float) -> float:
        """``size`` (venue unit) rounded down to a whole number of lots, as an exchange rounds a quantity to its
        step; a size a hair under a lot boundary from float arithmetic (0.0119999999) counts as on it."""
        if self.lot_size <= 0:
            return size
        lots = math.floor(size / self.lot_size + 1e-9)
        decimals = max(0, -math.floor(math.log10(self.lot_size) + 1e-9))
        return round(lots * self.lot_size, decimals + 2)

    def below_minimum(self, size: float) -> bool:
        """``size`` (venue unit) is under the venue's minimum order (float residue tolerated)."""
        return size < self.min_size * (1 - 1e-9)

    @overload
    def to_base(self, px: np.ndarray | float, sz: np.ndarray) -> np.ndarray: ...
    @overload
    def to_base(self, px: np.ndarray | float, sz: float) -> np.ndarray | float: ...
    def to_base(self, px: np.ndarray | float, sz: np.ndarray | float) -> np.ndarray | float:
        """Venue book size -> base units (contracts x ctVal, or x ctVal / price for inverse)."""
        if not self.sized_in_contracts:
            return sz
        if self.ct_type == "inverse":
            return sz * self.ct_val / px
        return sz * self.ct_val

    @overload
    def from_base(self, px: np.ndarray | float, base: np.ndarray) -> np.ndarray: ...
    @overload
    def from_base(self, px: np.ndarray | float, base: float) -> np.ndarray | float: ...
    def from_base(self, px: np.ndarray | float, base: np.ndarray | float) -> np.ndarray | float:
        """Base units -> venue size unit (the inverse of ``to_base``)."""
        if not self.sized_in_contracts:
            return base
        if self.ct_type == "inverse":
            return base * px / self.ct_val
        return base / self.ct_val


class InstrumentTable:
    """Thread-safe lookup; refreshed rows replace bundled ones atomically (dict swap)."""

    def __init__(self, instruments: list[Instrument], *, as_of: str = "", origin: str = "bundled") -> None:
        self._by_key = {(i.exchange, i.symbol): i for i in instruments}
        self._lock = threading.Lock()
        self.as_of = as_of
        self.origin = origin

    @classmethod
    def load(cls, path: Path = BUNDLED_PATH) -> InstrumentTable:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls([Instrument(**row) for row in doc["instruments"]], as_of=doc.get("as_of", ""))

    def get(self, exchange: str, symbol: str) -> Instrument:
        try:
            return self._by_key[(exchange.lower(), symbol.upper())]
        except KeyError:
            raise InstrumentError(
                f"Unknown instrument {symbol!r} on {exchange!r}. Known: "
                + ", ".join(sorted(f"{e}:{s}" for e, s in self._by_key))
            ) from None

    def exchanges(self) -> list[str]:
        return sorted({e for e, _ in self._by_key})

    def symbols(self, exchange: str) -> list[str]:
        return sorted(s for e, s in self._by_key if e == exchange)

    def all(self) -> list[Instrument]:
        return list(self._by_key.values())

    def update(self, instruments: list[Instrument], *, origin: str) -> None:
        with self._lock:
            merged = dict(self._by_key)
            merged.update({(i.exchange, i.symbol): i for i in instruments})
            self._by_key = merged
            self.origin = origin

    def refresh_okx(self, *, timeout_s: float = 3.0) -> bool:
        """Update OKX rows from the public REST endpoint; False (and bundled rows kept) on any failure."""
        fresh: list[Instrument] = []
        try:
            for inst_type in ("SPOT", "SWAP"):
                with urllib.request.urlopen(OKX_REST.format(inst_type=inst_type), timeout=timeout_s) as resp:
                    doc = json.loads(resp.read(4_000_000))
                known = {s for e, s in self._by_key if e == "okx"}
                for row in doc.get("data", []):
                    if row.get("instId") in known and row.get("state", "live") == "live":
                        old = self._by_key[("okx", row["instId"])]
                        fresh.append(
                            replace(
                                old,
                                tick_size=float(row["tickSz"]),
                                lot_size=float(row["lotSz"]),
                                min_size=float(row["minSz"]),
                                ct_val=float(row["ctVal"]) if row.get("ctVal") else old.ct_val,
                            )
                        )
        except Exception as exc:  # offline is the normal case here: keep the bundled table
            log.info("OKX instruments not refreshed (%s); using bundled table", type(exc).__name__)
            return False
        self.update(fresh, origin="okx-rest")
        log.info("refreshed %d OKX instruments from REST", len(fresh))
        return True

    def refresh_in_background(self) -> threading.Thread:
        t = threading.Thread(target=self.refresh_okx, name="tcs-instruments-refresh", daemon=True)
        t.start()
        return t


_DEFAULT: InstrumentTable | None = None
_DEFAULT_LOCK = threading.Lock()


def instruments() -> InstrumentTable:
    """The process-wide table (bundled until a refresh succeeds)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = InstrumentTable.load()
        return _DEFAULT


def get_instrument(exchange: str, symbol: str) -> Instrument:
    return instruments().get(exchange, symbol)


def price_tick(exchange: str, symbol: str, bid_px: np.ndarray, ask_px: np.ndarray) -> float:
    """The venue's tick from the table; for an instrument it does not list, the smallest step seen in the book."""
    try:
        return get_instrument(exchange, symbol).tick_size
    except InstrumentError:
        return smallest_step(bid_px, ask_px)


def smallest_step(bid_px: np.ndarray, ask_px: np.ndarray) -> float:
    """Smallest price step between levels of a book (its spread when it has one level a side)."""
    steps = np.concatenate([-np.diff(bid_px), np.diff(ask_px)])
    steps = steps[steps > 0]
    if steps.size:
        return float(steps.min())
    spread = float(ask_px[0] - bid_px[0]) if bid_px.size and ask_px.size else 0.0
    return max(spread, 1e-8)


def passive_ticks(touch: float, tick: float, offset_bps: float, *, buy: bool) -> int:
    """Price, in whole ticks, of an order resting ``offset_bps`` behind the touch (below the bid for a buy,
    above the ask for a sell), the offset rounded to the nearest tick: an exchange takes no price off its tick.
    One rule for the cost engine, the maker model's features and the validator's simulated orders."""
    touch_t = int(round(touch / tick))  # noqa: RUF046 (the tick arithmetic the models were trained with)
    step = offset_ticks(touch, tick, offset_bps)
    return touch_t - step if buy else touch_t + step


def offset_ticks(touch: float, tick: float, offset_bps: float) -> int:
    """How many whole ticks ``offset_bps`` behind ``touch`` is (the rounding ``passive_ticks`` places by)."""
    return int(round(offset_bps / 1e4 * touch / tick))  # noqa: RUF046
