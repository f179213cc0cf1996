"""Feed: market data in, validated books out, on one daemon thread per process.

Owns the venue adapters (GoQuant, OKX), the WebSocket client (connection lifecycle, watchdog, backoff),
the thread-safe ``BookStore`` and its ``FeedStatus``, the loopback replay server, the recorder, the
recording format, bounded captures and the converter that rebuilds recordings from raw exchange captures.
Imports ``core.market`` and the base modules only: it knows nothing of costs, models or pages; listeners
(such as the per-tick pricer) are attached by ``core.runtime``.
"""
