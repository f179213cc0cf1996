"""Which feed to run: from environment variables, then ``.streamlit/secrets.toml`` ``[feed]``, then defaults.

Environment (highest priority): ``TCS_SOURCE`` (replay | goquant | okx), ``TCS_FEED_URL`` (overrides the
URL, e.g. a local server), ``TCS_EXCHANGE``, ``TCS_SYMBOL``, ``TCS_REPLAY_FILE``, ``TCS_REPLAY_SPEED``.

Security for hosted deployments: the app only connects to hosts in ``SourcePolicy.allowed_hosts``
(``TCS_ALLOWED_HOSTS`` / ``allowed_hosts``); the operator's own ``TCS_FEED_URL`` host is added to it.
Visitors cannot type a URL unless the operator sets ``TCS_ALLOW_CUSTOM_URL=1`` / ``allow_custom_url``.
"""

from __future__ import annotations

import enum
import logging
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

from core.errors import InputError, SimulatorError, SourceNotAllowed
from core.feed.replay import ReplayClock, bundled_recordings, default_recording
from core.market.venues import Protocol, Venue, default_hosts, live_venues, venue
from core.paths import ROOT

log = logging.getLogger(__name__)

SECRETS = ROOT / ".streamlit" / "secrets.toml"


class Source(str, enum.Enum):
    """Where the books come from: the bundled replay, or the live feed of a venue in the registry.

    ``REPLAY`` is declared here; every other member is generated from ``core.market.venues.live_venues()``
    (named by the venue id upper-cased: ``Source.GOQUANT``, ``Source.OKX``), so a new venue needs no edit here.
    """

    _ignore_ = "_members _v"
    REPLAY = "replay"  # bundled recording served on loopback (the default; works offline)
    _members = vars()
    for _v in live_venues():
        _members[_v.id.upper().replace("-", "_")] = _v.id

    @staticmethod
    def replayed(source: str) -> bool:
        """A book's ``source`` says it came from the replay (here, or at a bus replica's ingest: the name crosses the
        bus with the book), so a step back in its time is the replay starting over, not an exchange's clock."""
        return source == Source.REPLAY.value

    @property
    def venue(self) -> Venue | None:
        """The registry entry of a live source (None for the replay)."""
        return None if self.value == "replay" else venue(self.value)

    @property
    def label(self) -> str:
        v = self.venue
        return "Replay (bundled recording)" if v is None else f"{v.label} live"


@dataclass(frozen=True)
class FeedConfig:
    """One feed configuration; two equal configs mean 'already running, nothing to do'."""

    source: Source = Source.REPLAY
    exchange: str = ""  # empty: the replay recording's, or the live venue's default (okx)
    symbol: str = ""  # empty: the replay recording's, or the live venue's default (BTC-USDT-SWAP)
    url: str = ""  # empty: the source's public URL (or the replay server's)
    replay_file: str = ""  # empty: the bundled default recording
    replay_speed: float = 1.0
    replay_loop: bool = True
    replay_clock: ReplayClock | None = None  # a replay on a clock shared with other venues' (core.runtime sets it)

    def __post_init__(self) -> None:
        if not isinstance(self.source, Source):
            object.__setattr__(self, "source", Source(str(self.source).lower()))
        if not (math.isfinite(self.replay_speed) and 0 <= self.replay_speed <= 1000):
            raise InputError("replay speed must be between 0 (unpaced) and 1000")
        object.__setattr__(self, "exchange", self.exchange.lower())
        object.__setattr__(self, "symbol", self.symbol.upper())

    @property
    def is_live(self) -> bool:
        return self.source is not Source.REPLAY

    def resolved(self) -> FeedConfig:
        """Fill exchange, symbol and URL for live sources (the replay fills them when it starts)."""
        if self.source is Source.REPLAY:
            return self
        v = venue(self.source.value)
        exchange, symbol = self.exchange, self.symbol
        if self.url and v.protocol is Protocol.GOQUANT and (not exchange or not symbol):
            parsed = url_instrument(self.url)
            if parsed:
                exchange, symbol = exchange or parsed[0], symbol or parsed[1]
        exchange = exchange or v.default_instrument[0]
        symbol = symbol or v.default_instrument[1]
        url = self.url or v.stream_url(exchange, symbol)
        return replace(self, exchange=exchange, symbol=symbol, url=url)


#: every WebSocket host the venue registry declares (a deployment that names none allows these)
DEFAULT_ALLOWED_HOSTS = default_hosts()
TRUTHY = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class SourcePolicy:
    """What a visitor of a shared deployment may make this server connect to."""

    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS
    allow_custom_url: bool = False  # show a URL box in the UI (off: visitors pick from the sources only)
    allow_source_switch: bool = True  # visitors may switch between replay and the allowed live sources

    def check(self, url: str) -> None:
        """Raise ``SourceNotAllowed`` unless ``url`` is ws(s):// to an allowed host."""
        parsed = urlparse(url)
        if parsed.scheme not in ("ws", "wss"):
            raise SourceNotAllowed(
                f"Only ws:// or wss:// feed URLs are accepted, not {parsed.scheme or 'no scheme'!r}."
            )
        host = (parsed.hostname or "").lower()
        if host not in self.allowed_hosts:
            raise SourceNotAllowed(
                f"Feed host {host or '(none)'!r} is not in this deployment's allowlist "
                f"({', '.join(self.allowed_hosts)}). The operator can add it with TCS_ALLOWED_HOSTS."
            )


def load_policy(env: Mapping[str, str] | None = None, secrets_path: Path = SECRETS) -> SourcePolicy:
    env = os.environ if env is None else env
    section = _secrets_section(secrets_path)
    hosts_raw = env.get("TCS_ALLOWED_HOSTS") or section.get("allowed_hosts") or DEFAULT_ALLOWED_HOSTS
    hosts = [
        h.strip().lower() for h in (hosts_raw.split(",") if isinstance(hosts_raw, str) else hosts_raw) if h.strip()
    ]
    operator_url = env.get("TCS_FEED_URL") or section.get("url")
    operator_host = urlparse(str(operator_url)).hostname if operator_url else None
    if operator_host:
        hosts.append(operator_host.lower())  # the operator's own choice is trusted
    custom = str(env.get("TCS_ALLOW_CUSTOM_URL") or section.get("allow_custom_url", "")).lower() in TRUTHY
    switch = str(env.get("TCS_ALLOW_SOURCE_SWITCH") or section.get("allow_source_switch", "true")).lower() in TRUTHY
    return SourcePolicy(allowed_hosts=tuple(dict.fromkeys(hosts)), allow_custom_url=custom, allow_source_switch=switch)


def _secrets_section(secrets_path: Path) -> dict:
    if not secrets_path.exists():
        return {}
    with open(secrets_path, "rb") as fh:
        return tomllib.load(fh).get("feed", {})


def url_instrument(url: str) -> tuple[str, str] | None:
    """``…/ws/l2-orderbook/{exchange}/{symbol}`` -> (exchange, symbol)."""
    parts = [p for p in urlparse(url).path.split("/") if p]
    if len(parts) >= 2 and "l2-orderbook" in parts:
        i = parts.index("l2-orderbook")
        if len(parts) >= i + 3:
            return parts[i + 1].lower(), parts[i + 2].upper()
    return None


def load_config(env: Mapping[str, str] | None = None, secrets_path: Path = SECRETS) -> FeedConfig:
    env = os.environ if env is None else env
    section = _secrets_section(secrets_path)

    def pick(env_key: str, secret_key: str, default: str = "") -> str:
        return str(env.get(env_key) or section.get(secret_key) or default)

    return FeedConfig(
        source=Source(pick("TCS_SOURCE", "source", "replay").lower()),
        exchange=pick("TCS_EXCHANGE", "exchange"),
        symbol=pick("TCS_SYMBOL", "symbol"),
        url=pick("TCS_FEED_URL", "url"),
        replay_file=pick("TCS_REPLAY_FILE", "replay_file"),
        replay_speed=float(pick("TCS_REPLAY_SPEED", "replay_speed", "1.0")),
    )


def tape_of(config: FeedConfig | None) -> tuple[Path | None, tuple[str, str] | None]:
    """The trades file and instrument of a replayed bundled recording that has one (what the online calibration
    follows); (None, None) for any other source (a live feed, a visitor's recording: books alone)."""
    if config is None or config.source is not Source.REPLAY:
        return None, None
    try:
        path = Path(config.replay_file).resolve() if config.replay_file else default_recording().path.resolve()
        for r in bundled_recordings():
            if r.path.resolve() == path and r.trades is not None and r.trades.is_file():
                return r.trades, (r.exchange, r.symbol)
    except (OSError, ValueError, SimulatorError):
        log.warning("online calibration: the replay's tape could not be found", exc_info=True)
    return None, None
