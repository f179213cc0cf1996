"""The one import guard for the compiled twins (``*.pyx`` beside their Python modules, built by ``make venv``).

Every compiled path goes through ``load``: a module that is not built, or ``TCS_NATIVE=0`` in the
environment (the one switch that turns all compiled paths off, e.g. to compare), gives ``None`` and the
caller takes its Python twin, which computes the same numbers.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

#: the compiled modules, each beside the Python module it mirrors
MODULES = ("core.feed._goquant", "core.feed._okx", "core.costs._walk", "core.learned._nets")

#: False when the operator (or a benchmark) switched every compiled path off with TCS_NATIVE=0
ENABLED = os.environ.get("TCS_NATIVE", "1") != "0"


def load(name: str) -> ModuleType | None:
    """The compiled module ``name`` (one of ``MODULES``), or None when switched off or not built."""
    if name not in MODULES:
        raise KeyError(f"{name} is not a compiled module of this project")
    if not ENABLED:
        return None
    try:
        return importlib.import_module(name)
    except ImportError:  # not built here: the Python twin runs
        return None


def built() -> dict[str, bool]:
    """Which compiled modules are built and on (the Latency page and the benchmark report it)."""
    return {name: load(name) is not None for name in MODULES}
