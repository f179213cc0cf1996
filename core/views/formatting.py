"""Every number the pages show goes through one of these, so every number carries its unit.

Units follow ``docs/METHODOLOGY.md`` section 1: USD (USDT counted 1:1), bps of the executed notional.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

#: amounts below these print as zero: float residue (e.g. 1e-20 USD of impact), not money
ZERO_USD = 1e-8
ZERO_BPS = 1e-6


def usd(x: float | None) -> str:
    """``$1,234.56``, ``$0.000809``, ``-$0.50``; small amounts keep three significant digits."""
    if x is None or not math.isfinite(x):
        return "n/a"
    a = abs(x)
    if a < ZERO_USD:
        return "$0.00"
    sign = "-" if x < 0 else ""
    places = 2 if a >= 1 else max(2, 2 - math.floor(math.log10(a)))  # below $1: three significant digits
    if places > 2 and round(a, places) >= 1:  # 0.99999 rounds to a dollar: $1.00, not $1.000
        places = 2
    body = f"{a:,.{places}f}"  # never scientific notation: $0.0501, $0.0000809
    return f"{sign}${body}"


def usd_brief(x: float | None) -> str:
    """A headline amount: ``usd`` from one cent up, ``< $0.01`` below (a sub-cent cost is read as "nothing",
    its exact size is in bps and % beside it and in the breakdown table)."""
    if x is not None and math.isfinite(x) and ZERO_USD <= abs(x) < 0.01:
        return "< $0.01" if x > 0 else "> -$0.01"
    return usd(x)


def usd_short(x: float) -> str:
    """``$10``, ``$1.5k``, ``$2M``: axis-style amounts."""
    a = abs(x)
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"${x / div:.3g}{suffix}"
    return f"${x:.3g}"


def bps(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    a = abs(x)
    if a < ZERO_BPS:
        return "0.00 bps"
    if a >= 10:
        return f"{x:,.1f} bps"
    if a >= 0.01:
        return f"{x:.2f} bps"
    return f"{x:.2g} bps"


def percent(x: float | None) -> str:
    """A percentage sized to its value: ``12.3 %``, ``1.23 %``, ``0.0501 %``, ``0.000081 %`` (never ``0.00 %``
    for a cost that is not zero)."""
    if x is None or not math.isfinite(x):
        return "n/a"
    a = abs(x)
    if a < ZERO_BPS / 100:
        return "0 %"
    if a >= 10:
        return f"{x:,.1f} %"
    if a >= 1:
        return f"{x:.2f} %"
    return f"{x:.{max(2, 2 - math.floor(math.log10(a)))}f} %"


def bps_pct(x_bps: float | None) -> str:
    """A cost in both relative units: ``5.01 bps · 0.0501 %`` (1 bps = 0.01 %)."""
    return f"{bps(x_bps)} · {percent(x_bps / 100 if x_bps is not None else None)}"


def price(px: float, decimals: int = 2) -> str:
    """A price with the venue's tick decimals: ``61,802.3``."""
    return f"{px:,.{decimals}f}" if math.isfinite(px) else "n/a"


def mid_price(px: float, decimals: int = 2) -> str:
    """A mid price: halfway between two ticks it keeps the half tick (``61,815.85`` on a 0.1 tick), so the
    distances from it shown beside it (``0.0081 bps from mid``) agree with what is written."""
    if not math.isfinite(px):
        return "n/a"
    on_tick = math.isclose(px, round(px, decimals), rel_tol=0.0, abs_tol=10.0 ** -(decimals + 3))
    return price(px, decimals if on_tick else decimals + 1)


def size_amount(x: float, unit: str) -> str:
    """An order size in its unit: ``0.012 BTC``, ``3 contracts``, ``1 contract``, ``$100.00``."""
    if unit == "USD":
        return usd(x)
    if unit == "contracts":
        return f"{significant(x)} contract{'' if x == 1 else 's'}"
    return base_amount(x, unit)


def rate(fraction: float) -> str:
    """A fee rate in both units: ``5.00 bps (0.050 %)``."""
    return f"{fraction * 1e4:.2f} bps ({fraction * 100:.3f} %)"


def microseconds(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x / 1000:,.2f} ms" if x >= 10_000 else f"{x:,.0f} µs"


def significant(x: float, digits: int = 6) -> str:
    """``x`` to ``digits`` significant digits, never in scientific notation, trailing zeros dropped:
    ``0.012``, ``0.00001``, ``16.226``, ``1,250``."""
    if not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    text = f"{x:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def lot_amount(x: float, unit: str, lot: float) -> str:
    """A size on a venue's lot, with every digit the lot allows: ``16,215.221 BTC`` (where six significant digits
    read ``16,215.2`` and hid the rounding to 0.001), ``0.162 BTC``, ``3 contracts``."""
    if not (math.isfinite(x) and lot > 0) or unit == "USD":
        return size_amount(x, unit)
    places = max(0, -math.floor(math.log10(lot) + 1e-9))
    digits = max(6, (math.floor(math.log10(abs(x))) + 1 if x else 1) + places)
    text = significant(x, digits)
    return f"{text} contract{'' if x == 1 else 's'}" if unit == "contracts" else f"{text} {unit}"


def base_amount(x: float, ccy: str) -> str:
    if not math.isfinite(x):
        return f"n/a {ccy}"
    return f"{significant(x)} {ccy}"


MARKDOWN_SPECIAL = frozenset("\\`*_{}[]<>()#+-!|$~:")
_MARKDOWN_ESCAPE = str.maketrans({ch: "\\" + ch for ch in MARKDOWN_SPECIAL})


def _markdown_cell(v: object) -> str:
    text = str(v).replace("\n", " ")
    indent = len(text) - len(text.lstrip(" "))
    # every Markdown (and Streamlit: $ math, :colour[...]) special character taken literally
    return "&nbsp;" * indent + text.strip().translate(_MARKDOWN_ESCAPE)


def markdown_rows(columns: Sequence[object], rows: Iterable[Sequence[object]]) -> str:
    """A small text table as a Markdown table: one text element to send on each refresh, where a DataFrame is
    converted to Arrow every time (a millisecond or more). Leading spaces kept (as ``&nbsp;``)."""
    head = "| " + " | ".join(_markdown_cell(c) for c in columns) + " |"
    rule = "|" + "---|" * len(columns)
    body = ["| " + " | ".join(_markdown_cell(v) for v in row) + " |" for row in rows]
    return "\n".join([head, rule, *body])


def markdown_table(frame: Any) -> str:
    """``markdown_rows`` of a DataFrame (its columns and rows)."""
    return markdown_rows(list(frame.columns), frame.itertuples(index=False, name=None))
