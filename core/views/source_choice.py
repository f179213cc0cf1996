"""The Simulator's data-source choice on the runtime: what a source offers, and switching the shared feed.

One feed serves every session of the process, so a choice here switches it for everyone; each session's
sidebar follows what the feed streams (``running``). A source that cannot start raises
``SourceUnavailable`` with a plain message and the previous source keeps running.
"""

from __future__ import annotations

from core.errors import SimulatorError, SourceUnavailable
from core.feed.config import FeedConfig, Source
from core.feed.replay import bundled_recordings
from core.runtime import Runtime
from core.views.market import EXCHANGE_LABELS
from core.views.simulator import feed_config_for, preferred_symbol, source_instruments

#: the selectbox values of the data sources, in the order offered
SOURCES: tuple[str, ...] = tuple(s.value for s in Source)


def source_label(value: str) -> str:
    """``Replay (bundled recording)`` for ``replay``: how the page names a source."""
    return Source(value).label


def running(rt: Runtime) -> tuple[str, str, str]:
    """(source, exchange, symbol) the shared feed streams now."""
    status = rt.status()
    return ((rt.config.source if rt.config else Source.REPLAY).value, status.exchange, status.symbol)


#: how long after another session switched the shared feed this session's Simulator says so (seconds)
SWITCH_NOTICE_S = 60.0


def switched_note(before: tuple[str, str, str], now: tuple[str, str, str]) -> str:
    """What a session is told when the shared feed was switched elsewhere (another visitor, or the Data page): one
    feed serves every session, so its order is now priced on another instrument, and it should not learn that
    from a changed number alone."""
    was = f"{before[2]} on {EXCHANGE_LABELS.get(before[1], before[1])}"
    is_ = f"{now[2]} on {EXCHANGE_LABELS.get(now[1], now[1])} ({source_label(now[0]).lower()})"
    return (
        f"The shared feed was switched from {was} to {is_} in another session or on the Data page: one feed serves "
        "every visitor of this app, so your order is now priced on it. Pick your instrument again in the sidebar "
        "to switch back (for everyone)."
    )


def offered(rt: Runtime, source: str) -> dict[str, list[str]]:
    """exchange -> symbols ``source`` can stream; what the feed streams from it now is always among them."""
    now = running(rt)
    return source_instruments(
        Source(source), rt.instruments, bundled_recordings(), running=now[1:] if now[0] == source else None
    )


def instrument_labels(rt: Runtime, exchange: str, symbols: list[str]) -> dict[str, str]:
    """symbol -> its label in the instrument list (``BTCUSDT (swap)``)."""
    return {s: rt.instrument(exchange, s).label for s in symbols}


def switching_locked(rt: Runtime) -> bool:
    """The operator fixed the data source of this deployment."""
    return rt.policy is not None and not rt.policy.allow_source_switch


def custom_url_allowed(rt: Runtime) -> bool:
    """The operator lets visitors type a GoQuant-format URL (to allowlisted hosts only)."""
    return rt.policy is not None and rt.policy.allow_custom_url


def switch(rt: Runtime, source: str, exchange: str | None, symbol: str | None) -> bool:
    """Stream ``exchange``/``symbol`` from ``source`` (an exchange or symbol the source does not offer gives
    its first exchange / preferred symbol). False when the feed streams that already (nothing to do)."""
    offer = offered(rt, source)
    exchange = exchange if exchange in offer else next(iter(offer), "")
    symbols = offer.get(exchange, [])
    symbol = symbol if symbol in symbols else preferred_symbol(symbols)
    if (source, exchange, symbol) == running(rt):
        return False
    speed = rt.config.replay_speed if rt.config else 1.0
    src = Source(source)
    try:
        rt.start(feed_config_for(src, exchange, symbol, recordings=bundled_recordings(), replay_speed=speed))
    except SimulatorError as exc:
        raise SourceUnavailable(f"Could not switch to {src.label} {symbol}: {exc}") from exc
    return True


def connect_custom(rt: Runtime, url: str) -> None:
    """A visitor-typed GoQuant URL; the runtime's source policy refuses hosts outside the allowlist."""
    url = url.strip()
    try:
        rt.start(FeedConfig(source=Source("goquant"), url=url))
    except SimulatorError as exc:
        raise SourceUnavailable(f"Could not connect to {url or '(no URL)'}: {exc}") from exc
