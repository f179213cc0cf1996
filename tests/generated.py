"""Generated order books for property tests: any shape Hypothesis picks, always a valid, uncrossed book."""

from __future__ import annotations

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from core.market.book import BookSnapshot


@st.composite
def books(
    draw: st.DrawFn,
    *,
    mirrored: bool = False,
    levels: tuple[int, int] = (1, 25),
    mid: tuple[float, float] = (1.0, 1e5),
    gap: tuple[float, float] = (1e-5, 1e-2),
    size: tuple[float, float] = (1e-3, 1e3),
    exchange: str = "t",
    symbol: str = "T",
) -> BookSnapshot:
    """A book around a random mid: per-level gaps (fractions of mid) and sizes per side, or one side's mirror.

    Each range is (low, high) inclusive; ``exchange`` and ``symbol`` name the instrument (a learned model
    reads them).
    """
    m = draw(st.floats(*mid))
    n_ask = draw(st.integers(*levels))
    n_bid = n_ask if mirrored else draw(st.integers(*levels))
    gaps = st.floats(*gap)
    sizes = st.floats(*size)
    ask_gaps = np.array(draw(st.lists(gaps, min_size=n_ask, max_size=n_ask)))
    ask_sz = np.array(draw(st.lists(sizes, min_size=n_ask, max_size=n_ask)))
    if mirrored:
        bid_gaps, bid_sz = ask_gaps, ask_sz
    else:
        bid_gaps = np.array(draw(st.lists(gaps, min_size=n_bid, max_size=n_bid)))
        bid_sz = np.array(draw(st.lists(sizes, min_size=n_bid, max_size=n_bid)))
    ask_d = m * np.cumsum(ask_gaps)
    bid_d = m * np.cumsum(bid_gaps)
    assume(bid_d[-1] < 0.5 * m)
    return BookSnapshot.build(
        exchange=exchange,
        symbol=symbol,
        source="hypothesis",
        bid_px=m - bid_d,
        bid_sz=bid_sz,
        ask_px=m + ask_d,
        ask_sz=ask_sz,
        exchange_ts_ms=0,
        recv_ns=0,
        seq=0,
    )
