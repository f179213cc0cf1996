"""The worked example of docs/METHODOLOGY.md section 8 as a book in base units (BTC), shared by the tests:
asks 0.03 @ 100,001, 0.04 @ 100,002, 0.20 @ 100,010; bids 0.05 @ 99,999, 0.05 @ 99,998, 0.20 @ 99,990; mid 100,000."""

from __future__ import annotations

import numpy as np

from core.market.book import BookSnapshot

#: the keys `python -m core.simulate --json` and CostEstimate.to_dict always carry
REQUIRED_KEYS = (
    "mid",
    "best_bid",
    "best_ask",
    "avg_price",
    "filled_base",
    "filled_usd",
    "levels_used",
    "fully_filled",
    "walk_slippage_usd",
    "slippage_usd",
    "slippage_bps",
    "fee_usd",
    "impact_usd",
    "net_cost_usd",
    "net_cost_bps",
    "maker_fraction",
    "volatility_annual",
    "latency_us",
)


def worked_book(*, exchange_ts_ms: int = 1, recv_ns: int = 1) -> BookSnapshot:
    return BookSnapshot.build(
        exchange="okx",
        symbol="BTC-USDT-SWAP",
        source="test",
        bid_px=np.array([99_999.0, 99_998.0, 99_990.0]),
        bid_sz=np.array([0.05, 0.05, 0.20]),
        ask_px=np.array([100_001.0, 100_002.0, 100_010.0]),
        ask_sz=np.array([0.03, 0.04, 0.20]),
        exchange_ts_ms=exchange_ts_ms,
        recv_ns=recv_ns,
        seq=1,
    )
