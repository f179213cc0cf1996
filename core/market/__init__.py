"""Market: what is traded and what a book looks like; the bottom layer every other package builds on.

Owns the instrument table (tick, lot, minimum size, contract value and the contract-to-base conversion),
the venue registry (one declaration per venue: id, label, kind, adapter, hosts, URLs, size units) and the
immutable ``BookSnapshot`` that crosses threads. Imports only ``core.errors`` and ``core.paths``.
"""
