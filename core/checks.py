"""Checks of values typed by a user or passed at an API edge, with one wording for every layer.

Base module: imports only ``core.errors``, so any layer may use it. A number must be finite and an enum
string must name a member; anything else is an ``OrderError`` (or the error type the caller names) whose
message says in plain words what was wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import Enum
from typing import Any, TypeVar

from core.errors import OrderError

E = TypeVar("E", bound=Enum)


def _as_float(value: Any, what: str, error: type[Exception]) -> float:
    if isinstance(value, bool) or value is None:
        raise error(f"{what} must be a number, got {value!r}.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise error(f"{what} must be a number, got {value!r}.") from None


def finite_number(value: Any, what: str, *, error: type[Exception] = OrderError) -> float:
    """``value`` as a finite float, or ``error`` (default ``OrderError``) naming ``what`` in plain words."""
    v = _as_float(value, what, error)
    if math.isnan(v):
        raise error(f"{what} is not a number (NaN); enter a number.")
    if math.isinf(v):
        raise error(f"{what} is infinite; enter a finite number.")
    return v


def parse(enum: type[E], value: E | str, *, what: str, hint: str = "", aliases: Mapping[str, E] | None = None) -> E:
    """The member of ``enum`` that ``value`` names (case and surrounding spaces ignored), else ``OrderError``.

    ``aliases`` maps extra spellings to members; ``hint`` lists the accepted spellings in the message
    (default: the members' values, e.g. ``'buy' or 'sell'``).
    """
    if isinstance(value, enum):
        return value
    key = str(value).strip().lower()
    if aliases and key in aliases:
        return aliases[key]
    try:
        return enum(key)
    except ValueError:
        pass
    names = hint or " or ".join(repr(m.value) for m in enum)
    raise OrderError(f"Unknown {what} {value!r}: use {names}.")
