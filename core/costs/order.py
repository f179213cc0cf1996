"""The order a user wants priced: its enums, its limits, and the validation that turns input into an ``Order``.

Strings are accepted wherever an enum is expected (what the UI and CLI pass); every field is checked once
here, so the rest of the cost engine can trust an ``Order``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from core.checks import finite_number, parse
from core.errors import OrderError

#: orders above this notional (USD) are rejected as a typo rather than priced
MAX_NOTIONAL_USD = 1e9
#: the engine's cap on a size in base units, priced at each new mid: an order entered within ``MAX_NOTIONAL_USD``
#: (checked once, on what was typed, as an exchange checks on submission) keeps being priced while the price moves
#: (a walkthrough found a $999,999,999 order vanishing when the mid ticked up). Twice the entry cap: a price
#: doubling during a session is not a case to guard against, a size typed 10x too large is.
ENGINE_MAX_NOTIONAL_USD = 2 * MAX_NOTIONAL_USD
#: longest assumed delay between deciding and reaching the book, milliseconds
MAX_LATENCY_MS = 60_000.0


class Side(str, Enum):
    """Direction of the order; the string values are what the UI and CLI pass."""

    BUY = "buy"
    SELL = "sell"

    @classmethod
    def parse(cls, value: Side | str) -> Side:
        return parse(cls, value, what="side")


class SizeUnit(str, Enum):
    """What the order size counts: quote currency (USD/USDT notional) or base units (e.g. BTC)."""

    QUOTE = "quote"
    BASE = "base"

    @classmethod
    def parse(cls, value: SizeUnit | str) -> SizeUnit:
        return parse(
            cls,
            value,
            what="size unit",
            hint="'usd' (quote) or 'base'",
            aliases={"usd": cls.QUOTE, "usdt": cls.QUOTE},
        )


class OrderType(str, Enum):
    MARKET = "market"
    LIMIT = "limit"

    @classmethod
    def parse(cls, value: OrderType | str) -> OrderType:
        return parse(cls, value, what="order type")


class AtExpiry(str, Enum):
    """What happens to the part of a limit order still unfilled at its horizon."""

    CANCEL = "cancel"  # left unexecuted: no cost, no fee (and no position)
    CROSS = "cross"  # crossed as taker at the horizon against the book

    @classmethod
    def parse(cls, value: AtExpiry | str) -> AtExpiry:
        return parse(cls, value, what="at-expiry action")


@dataclass(frozen=True, slots=True)
class Order:
    """What the user wants to do. Strings are accepted for the enums; every field is validated.

    ``offset_bps`` and ``horizon_s`` describe a limit order (distance behind the touch, time it rests)
    and ``at_expiry`` what happens to its unfilled rest; they are ignored for market orders.
    ``latency_ms`` is the assumed delay between deciding and reaching the book (learned slippage band).
    """

    side: Side
    quantity: float  # in ``unit``: USD notional or base units
    unit: SizeUnit = SizeUnit.QUOTE
    order_type: OrderType = OrderType.MARKET
    offset_bps: float = 0.0
    horizon_s: float = 60.0
    at_expiry: AtExpiry = AtExpiry.CROSS
    latency_ms: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "side", Side.parse(self.side))
        object.__setattr__(self, "unit", SizeUnit.parse(self.unit))
        object.__setattr__(self, "order_type", OrderType.parse(self.order_type))
        object.__setattr__(self, "at_expiry", AtExpiry.parse(self.at_expiry))
        lat = finite_number(self.latency_ms, "Latency (ms)")
        if not 0 <= lat <= MAX_LATENCY_MS:
            raise OrderError(f"Latency must be between 0 and {MAX_LATENCY_MS:,.0f} ms, got {lat:g}.")
        object.__setattr__(self, "latency_ms", lat)
        what = "Order size in USD" if self.unit is SizeUnit.QUOTE else "Order size in base units"
        q = finite_number(self.quantity, what)
        if q == 0:
            raise OrderError(f"{what} is zero; enter an amount above zero.")
        if q < 0:
            raise OrderError(f"{what} is negative ({q:g}); use the side (buy/sell) for direction and a positive size.")
        if self.unit is SizeUnit.QUOTE and q > MAX_NOTIONAL_USD:
            raise OrderError(
                f"${q:,.0f} is more than the ${MAX_NOTIONAL_USD:,.0f} this simulator prices; check the size."
            )
        object.__setattr__(self, "quantity", q)
        if self.order_type is OrderType.LIMIT:
            off = finite_number(self.offset_bps, "Limit offset (bps)")
            hor = finite_number(self.horizon_s, "Limit horizon (seconds)")
            if off < 0:
                raise OrderError(f"Limit offset must be >= 0 bps behind the touch, got {off:g}.")
            if hor <= 0:
                raise OrderError(f"Limit horizon must be a positive number of seconds, got {hor:g}.")
            object.__setattr__(self, "offset_bps", off)
            object.__setattr__(self, "horizon_s", hor)
