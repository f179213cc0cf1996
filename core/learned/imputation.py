"""The trade flow a live feed cannot supply, imputed per instrument in USD and converted to base units at the mid.

A live feed here carries books, not trades, so the maker model's flow inputs (``trades_per_s`` and the base
volume per second, which enters it only through ``log10_flow_over_order``, the USD traded while the order
rests against its size) are imputed. A base-unit median measured on BTCUSDT is wrong for ETH (a base unit
~20x cheaper) and for a thinner venue such as COIN-M, so the card stores the median flow per instrument
(exchange, symbol) measured on the training date's tapes, in trades per second and USD per second, and
serving converts USD to base units with the current mid. An instrument without a measured tape falls back to
the median of its market kind (spot or derivative) of the training rows, also in USD, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def instrument_key(exchange: str, symbol: str) -> str:
    """The key of an instrument in the card's ``flow_by_instrument`` table."""
    return f"{exchange}:{symbol}"


@dataclass(frozen=True, slots=True)
class ImputedFlow:
    """Trade flow for one order: trades per second, base units per second, and where the figures come from."""

    trades_per_s: float
    base_per_s: float
    source: str  # one phrase, shown in the app's method note


@dataclass(frozen=True)
class FlowImputation:
    """Per-instrument medians (USD terms) with a per-kind fallback; ``date``: the tapes' date."""

    by_instrument: dict[str, dict[str, float]] = field(default_factory=dict)
    by_kind: dict[str, dict[str, float]] = field(default_factory=dict)  # "spot"/"derivative"
    date: str = ""  # the tapes' dates, for a card whose rows do not name their own
    #: the dates of each row's tapes (instrument keys and kinds), for the method note
    dates: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> FlowImputation | None:
        """From a maker card's ``serving.flow_imputation``; None when the card predates it."""
        d = card.get("serving", {}).get("flow_imputation")
        if not d:
            return None

        def num(t: dict[str, Any]) -> dict[str, dict[str, float]]:
            return {
                k: {"trades_per_s": float(v["trades_per_s"]), "usd_per_s": float(v["usd_per_s"])} for k, v in t.items()
            }

        rows = {**d.get("by_instrument", {}), **d.get("by_kind", {})}
        return cls(
            by_instrument=num(d.get("by_instrument", {})),
            by_kind=num(d.get("by_kind", {})),
            date=d.get("date", ""),
            dates={k: tuple(v["dates"]) for k, v in rows.items() if v.get("dates")},
        )

    def _on(self, key: str) -> str:
        """`` on the 2024-08-08 tape`` / `` on the 2023-04-04 and 2024-08-08 tapes`` for a row, or ''."""
        ds = self.dates.get(key) or ((self.date,) if self.date else ())
        if not ds:
            return ""
        return f" on the {' and '.join(ds)} tape{'s' if len(ds) > 1 else ''}"

    def _row(self, exchange: str, symbol: str, *, spot: bool) -> tuple[dict[str, float], bool]:
        """(the instrument's measured medians, else its kind's; whether they are the instrument's own)."""
        row = self.by_instrument.get(instrument_key(exchange, symbol))
        if row is not None:
            return row, True
        kind = "spot" if spot else "derivative"
        return self.by_kind.get(kind) or next(
            iter(self.by_kind.values()), {"trades_per_s": 0.0, "usd_per_s": 0.0}
        ), False

    def rates(self, exchange: str, symbol: str, *, spot: bool, mid: float) -> tuple[float, float]:
        """(trades per second, base units per second) for the model row: no words, so the tick path builds none."""
        row, _ = self._row(exchange, symbol, spot=spot)
        return row["trades_per_s"], (row["usd_per_s"] / mid if mid > 0 else 0.0)

    def lookup(self, exchange: str, symbol: str, *, spot: bool) -> tuple[dict[str, float], str]:
        """(the instrument's measured medians, else its kind's, in trades/s and USD/s; where they come from)."""
        row, own = self._row(exchange, symbol, spot=spot)
        kind = "spot" if spot else "derivative"
        if own:
            on = self._on(instrument_key(exchange, symbol))
            return row, f"trade flow imputed with the median of {symbol} on {exchange}{on}"
        return row, (
            f"no trades of {symbol} on {exchange} in the training recordings: trade flow imputed with the median of "
            f"the training {kind} market{self._on(kind)} (an assumption)"
        )

    def flow(self, exchange: str, symbol: str, *, spot: bool, mid: float) -> ImputedFlow:
        """``lookup`` in base units: USD per second / mid (for an inverse contract too: the tape's sizes are base
        units, so its USD flow is base x price)."""
        _, source = self.lookup(exchange, symbol, spot=spot)
        trades_per_s, base_per_s = self.rates(exchange, symbol, spot=spot, mid=mid)
        return ImputedFlow(trades_per_s=trades_per_s, base_per_s=base_per_s, source=source)
