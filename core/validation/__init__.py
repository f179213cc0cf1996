"""Validation: the app's own estimates scored against what really executed on a recorded market.

``tape`` reads the recorded trades and groups them into public taker orders, ``books`` replays a recording's
books, ``delay`` measures how long after a trade the book shows it, ``market_orders`` prices every taker order
with ``core.costs.estimate.estimate`` (the code the pages run, with the shipped models) and scores it,
``limit_orders`` simulates resting limit orders with a size-aware queue on the tape against the app's maker fraction,
``bootstrap`` puts block-bootstrap intervals on the figures and ``report`` writes the JSON and
``docs/VALIDATION.md``. It may import every serving layer; nothing in serving imports it.
``python -m core.validate`` is its entry point.
"""
