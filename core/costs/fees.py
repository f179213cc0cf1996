"""Trading fees: tier tables as data (``data/fees.json``) and the expected-fee rule.

Rates are fractions of notional (``0.0005`` = 0.05% = 5 bps). Positive means the trader pays; negative is a
rebate the trader receives, so a maker rebate lowers the expected fee and can make it negative. Fees do
not depend on the path of the price, so they are kept out of Almgren–Chriss' epsilon and reported alone.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from core.errors import InputError, OrderError
from core.market import venues
from core.paths import DATA_DIR

FEES_PATH = DATA_DIR / "fees.json"

#: largest fee or rebate rate accepted from a user override, as a fraction (1% = 100 bps); anything
#: above is almost certainly a percentage typed as a fraction.
MAX_ABS_RATE = 0.01


@dataclass(frozen=True, slots=True)
class FeeTier:
    """One row of a fee schedule."""

    exchange: str  # venue id as in ``data/instruments.json``: "okx", "binance", "binance-futures"
    market: str  # instrument kind: "spot" | "swap"
    tier: str  # "Lv1", "VIP3", ...
    maker_rate: float  # fraction of notional for liquidity-providing fills; negative = rebate
    taker_rate: float  # fraction of notional for liquidity-taking fills; negative = rebate
    requirement: str = ""
    source: str = ""
    as_of: str = ""
    confidence: str = ""
    table: str = ""  # which published table the row comes from ("okx.com", "older", "assumed", "user")
    overridden: bool = False  # True when the user replaced a rate
    assumption: bool = False  # True when the rates are not a published figure (the UI must say so)
    bnb_discount: float = 0.0  # the venue's discount for paying fees in BNB (0.25 = 25 % off); 0 = none offered
    bnb_applied: bool = False  # True when the rates already carry that discount

    @property
    def label(self) -> str:
        """Short name for the UI, with the venue as pages name it: ``"OKX Lv1"``, ``"Binance spot VIP0 + BNB -25%"``
        or ``"OKX Lv1 (override)"`` (not the venue's id: a walkthrough read "BINANCE-FUTURES VIP0" as internal)."""
        name = f"{venues.label(self.exchange)} {self.tier}"
        if self.bnb_applied:
            name += f" + BNB -{self.bnb_discount:.0%}"
        return name + " (override)" if self.overridden else name

    @property
    def maker_bps(self) -> float:
        return self.maker_rate * 1e4

    @property
    def taker_bps(self) -> float:
        return self.taker_rate * 1e4


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    exchange: str
    market: str
    table: str
    primary: bool
    note: str
    tiers: tuple[FeeTier, ...]
    bnb_discount: float = 0.0  # fraction off fees paid in BNB; 0 where the venue offers no such discount
    bnb_source: str = ""


def _check_rate(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise OrderError(f"{name} must be a number (a fraction: 0.0005 = 0.05%), got {value!r}.") from None
    if not math.isfinite(v):
        raise OrderError(f"{name} must be a finite number, got {value!r}.")
    if abs(v) > MAX_ABS_RATE:
        raise OrderError(
            f"{name} {v:g} is {v * 100:g}% of notional; enter a fraction (0.0005 = 0.05%) between "
            f"-{MAX_ABS_RATE:g} and {MAX_ABS_RATE:g}."
        )
    return v


def _check_discount(value: float | str) -> float:
    try:
        d = float(value)
    except (TypeError, ValueError):
        raise OrderError(f"bnb_discount must be a fraction in [0, 1), got {value!r}.") from None
    if not (0.0 <= d < 1.0):  # also rejects NaN
        raise OrderError(f"bnb_discount must be a fraction in [0, 1), got {value!r}.")
    return d


class FeeBook:
    """All schedules, loaded once from JSON; read-only afterwards, so safe to share between threads."""

    def __init__(self, schedules: list[FeeSchedule]) -> None:
        self._schedules = tuple(schedules)

    @classmethod
    def load(cls, path: Path = FEES_PATH) -> FeeBook:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        out: list[FeeSchedule] = []
        for s in doc["schedules"]:
            discount = _check_discount(s.get("bnb_discount", 0.0))
            tiers = tuple(
                FeeTier(
                    exchange=s["exchange"],
                    market=s["market"],
                    tier=row["tier"],
                    maker_rate=_check_rate("maker_rate", row["maker_rate"]),
                    taker_rate=_check_rate("taker_rate", row["taker_rate"]),
                    requirement=row.get("requirement", ""),
                    source=row.get("source", ""),
                    as_of=row.get("as_of", ""),
                    confidence=row.get("confidence", ""),
                    table=s["table"],
                    assumption=bool(row.get("assumption", False)),
                    bnb_discount=discount,
                )
                for row in s["tiers"]
            )
            out.append(
                FeeSchedule(
                    s["exchange"],
                    s["market"],
                    s["table"],
                    bool(s.get("primary")),
                    s.get("note", ""),
                    tiers,
                    bnb_discount=discount,
                    bnb_source=s.get("bnb_source", ""),
                )
            )
        return cls(out)

    def every_schedule(self) -> tuple[FeeSchedule, ...]:
        """Every table of every venue, in file order (for checks and the docs)."""
        return self._schedules

    def schedules(self, exchange: str, market: str) -> list[FeeSchedule]:
        """Every published table for a venue and market kind, the primary one first."""
        found = [s for s in self._schedules if s.exchange == exchange.lower() and s.market == market.lower()]
        return sorted(found, key=lambda s: not s.primary)

    def schedule(self, exchange: str, market: str, *, table: str | None = None) -> FeeSchedule:
        found = self.schedules(exchange, market)
        if not found:
            known = sorted({f"{s.exchange}/{s.market}" for s in self._schedules})
            raise OrderError(f"No fee table for {exchange} {market}. Known: {', '.join(known)}.")
        if table is None:
            return found[0]
        for s in found:
            if s.table.lower() == table.lower():
                return s
        raise OrderError(
            f"Unknown fee table {table!r} for {exchange} {market}; choose one of: "
            + ", ".join(s.table for s in found)
            + "."
        )

    def tiers(self, exchange: str, market: str, *, table: str | None = None) -> list[FeeTier]:
        """The tiers of one table, entry tier first."""
        return list(self.schedule(exchange, market, table=table).tiers)

    def tier(
        self, exchange: str, market: str, name: str | None = None, *, table: str | None = None, bnb: bool = False
    ) -> FeeTier:
        """Look up one tier by name (case-insensitive); ``None`` gives the entry tier.

        ``bnb=True`` applies the venue's pay-in-BNB discount (``pay_in_bnb``); refused where there is none.
        """
        tiers = self.tiers(exchange, market, table=table)
        if name is None:
            return pay_in_bnb(tiers[0]) if bnb else tiers[0]
        for t in tiers:
            if t.tier.lower() == str(name).strip().lower():
                return pay_in_bnb(t) if bnb else t
        raise OrderError(
            f"Unknown fee tier {name!r} for {exchange} {market}; choose one of: "
            + ", ".join(t.tier for t in tiers)
            + "."
        )


_DEFAULT: FeeBook | None = None
_LOCK = threading.Lock()


def fee_book() -> FeeBook:
    """The process-wide fee tables (loaded on first use)."""
    global _DEFAULT
    with _LOCK:
        if _DEFAULT is None:
            _DEFAULT = FeeBook.load()
        return _DEFAULT


def list_tiers(exchange: str, market: str, *, table: str | None = None) -> list[FeeTier]:
    return fee_book().tiers(exchange, market, table=table)


def get_tier(
    exchange: str, market: str, name: str | None = None, *, table: str | None = None, bnb: bool = False
) -> FeeTier:
    return fee_book().tier(exchange, market, name, table=table, bnb=bnb)


def pay_in_bnb(tier: FeeTier) -> FeeTier:
    """The tier with the venue's discount for paying fees in BNB: each rate x (1 - discount).

    Only fees paid shrink; a rebate (a negative rate) is paid to the trader, not charged, so it stays as it is.
    The result is still a ``FeeTier``, so the one cost composition prices it like any other tier.
    """
    if tier.bnb_discount <= 0.0:
        raise OrderError(f"{tier.exchange} {tier.market} offers no discount for paying fees in BNB.")
    if tier.bnb_applied:
        return tier
    keep = 1.0 - tier.bnb_discount

    def cut(rate: float) -> float:
        return rate * keep if rate > 0.0 else rate

    return replace(
        tier,
        maker_rate=cut(tier.maker_rate),
        taker_rate=cut(tier.taker_rate),
        source=f"{tier.source}; fees paid in BNB: -{tier.bnb_discount:.0%}",
        bnb_applied=True,
    )


def override(tier: FeeTier, *, maker_rate: float | None = None, taker_rate: float | None = None) -> FeeTier:
    """A copy of ``tier`` with user-entered rates (fractions); validated, and marked as overridden."""
    if maker_rate is None and taker_rate is None:
        return tier
    return replace(
        tier,
        maker_rate=tier.maker_rate if maker_rate is None else _check_rate("Maker rate", maker_rate),
        taker_rate=tier.taker_rate if taker_rate is None else _check_rate("Taker rate", taker_rate),
        source="user override of " + (tier.source or tier.label),
        overridden=True,
    )


def custom_tier(*, exchange: str, market: str, maker_rate: float, taker_rate: float, name: str = "custom") -> FeeTier:
    """A tier typed in by the user for a venue or tier the tables do not cover."""
    return FeeTier(
        exchange=exchange.lower(),
        market=market.lower(),
        tier=name,
        maker_rate=_check_rate("Maker rate", maker_rate),
        taker_rate=_check_rate("Taker rate", taker_rate),
        source="entered by the user",
        table="user",
        overridden=True,
    )


def expected_fee(notional_usd: float, maker_fraction: float, maker_rate: float, taker_rate: float) -> float:
    """notional x (f x maker + (1 - f) x taker), in USD; negative when rebates outweigh fees.

    ``maker_fraction`` is the expected share of the notional filled as maker (0 for a market order).
    """
    n = float(notional_usd)
    f = float(maker_fraction)
    if not math.isfinite(n) or n < 0:
        raise InputError(f"Notional must be a non-negative finite amount, got {notional_usd!r}.")
    if not (0.0 <= f <= 1.0):  # also rejects NaN
        raise InputError(f"Maker fraction must be between 0 and 1, got {maker_fraction!r}.")
    if not (math.isfinite(maker_rate) and math.isfinite(taker_rate)):
        raise InputError("Fee rates must be finite numbers.")
    return n * (f * maker_rate + (1.0 - f) * taker_rate)


def fee_method(tier: FeeTier, maker_fraction: float) -> str:
    """Provenance string for the ``methods`` mapping, e.g. ``"rule: OKX Lv1 taker"``."""
    if maker_fraction <= 0.0:
        which = "taker"
    elif maker_fraction >= 1.0:
        which = "maker"
    else:
        which = f"{maker_fraction:.0%} maker / {1 - maker_fraction:.0%} taker"
    return f"rule: {tier.label} {which}"
