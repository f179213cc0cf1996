"""Pricing: the open pages' orders priced on every book, on the feed thread.

Owns the per-tick pricer (prepared once per input set; it calls the costs composition, never re-derives
it) and the tracker that a runtime attaches to the feed as a listener. Imports ``core.learned``,
``core.costs``, ``core.market`` and the base modules; it reads books through the listener call, not the
feed package.
"""
