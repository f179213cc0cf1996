"""Costs: what an order costs on one book, every number defined once (docs/METHODOLOGY.md).

Owns the order and its validation, the book walk, fee tiers, volatility, Almgren–Chriss impact and
calibration, limit-order execution, execution schedules and the one composition that turns them into a
``CostEstimate`` (net = slippage + fees, plus a limit order's adverse selection and opportunity cost; impact
is inside slippage). The compiled ``_walk`` twin runs only the heavy loops.
Imports ``core.market`` and the base modules only; learned models plug in through the ``Models`` slots.
"""
