"""Every number the pages show goes through one of these, so every number carries its unit.

Units follow ``docs/METHODOLOGY.md`` section 1: USD (USDT counted 1:1), bps of the executed notional.
"""

from __future__ import annotations

import math

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
    if a >= 1:
        body = f"{a:,.2f}"
    else:  # three significant digits, never scientific notation: $0.0501, $0.0000809
        body = f"{a:.{max(2, 2 - math.floor(math.log10(a)))}f}"
    return f"{sign}${body}"


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


def rate(fraction: float) -> str:
    """A fee rate in both units: ``5.00 bps (0.050 %)``."""
    return f"{fraction * 1e4:.2f} bps ({fraction * 100:.3f} %)"


def microseconds(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x / 1000:,.2f} ms" if x >= 10_000 else f"{x:,.0f} µs"


def base_amount(x: float, ccy: str) -> str:
    if not math.isfinite(x):
        return f"n/a {ccy}"
    return f"{x:,.6g} {ccy}" if abs(x) >= 1 else f"{x:.6g} {ccy}"
