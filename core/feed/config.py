"""Which feed to run: from environment variables, then ``.streamlit/secrets.toml`` ``[feed]``, then defaults.

Environment (highest priority): ``TCS_SOURCE`` (replay | goquant | okx), ``TCS_FEED_URL`` (overrides the
URL, e.g. a local server), ``TCS_EXCHANGE``, ``TCS_SYMBOL``, ``TCS_REPLAY_FILE``, ``TCS_REPLAY_SPEED``.

Security for hosted deployments: the app only connects to hosts in ``SourcePolicy.allowed_hosts``
(``TCS_ALLOWED_HOSTS`` / ``allowed_hosts``); the operator's own ``TCS_FEED_URL`` host is added to it.
Visitors cannot type a URL unless the operator sets ``TCS_ALLOW_CUSTOM_URL=1`` / ``allow_custom_url``.
"""

from __future__ import annotations

import enum
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

from core.errors import SourceNotAllowed
from core.feed import goquant, okx
from core.paths import ROOT

SECRETS = ROOT / ".streamlit" / "secrets.toml"


class Source(str, enum.Enum):
    REPLAY = "replay"  # bundled recording served on loopback (the default; works offline)
    GOQUANT = "goquant"  # GoQuant full-snapshot stream
    OKX = "okx"  # OKX v5 public books channel

    @property
    def label(self) -> str:
        return {"replay": "Replay (bundled recording)", "goquant": "GoQuant live", "okx": "OKX live"}[self.value]


@dataclass(frozen=True)
class FeedConfig:
    """One feed configuration; two equal configs mean 'already running, nothing to do'."""

    source: Source = Source.REPLAY
    exchange: str = ""  # empty: the replay recording's, or okx for live sources
    symbol: str = ""  # empty: the replay recording's, or BTC-USDT-SWAP
    url: str = ""  # empty: the source's public URL (or the replay server's)
    replay_file: str = ""  # empty: the bundled default recording
    replay_speed: float = 1.0
    replay_loop: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.source, Source):
            object.__setattr__(self, "source", Source(str(self.source).lower()))
        if not (math.isfinite(self.replay_speed) and 0 <= self.replay_speed <= 1000):
            raise ValueError("replay speed must be between 0 (unpaced) and 1000")
        object.__setattr__(self, "exchange", self.exchange.lower())
        object.__setattr__(self, "symbol", self.symbol.upper())

    @property
    def is_live(self) -> bool:
        return self.source is not Source.REPLAY

    def resolved(self) -> FeedConfig:
        """Fill exchange, symbol and URL for live sources (the replay fills them when it starts)."""
        if self.source is Source.REPLAY:
            return self
        exchange, symbol = self.exchange, self.symbol
        if self.url and self.source is Source.GOQUANT and (not exchange or not symbol):
            parsed = url_instrument(self.url)
            if parsed:
                exchange, symbol = exchange or parsed[0], symbol or parsed[1]
        exchange = exchange or "okx"
        symbol = symbol or "BTC-USDT-SWAP"
        url = self.url
        if not url:
            if self.source is Source.GOQUANT:
                url = goquant.URL_TEMPLATE.format(exchange=exchange, symbol=symbol)
            else:
                url = okx.URL
        return replace(self, exchange=exchange, symbol=symbol, url=url)


DEFAULT_ALLOWED_HOSTS = ("ws.gomarket-cpp.goquant.io", "ws.okx.com", "wspap.okx.com")
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
    if operator_url and urlparse(str(operator_url)).hostname:
        hosts.append(urlparse(str(operator_url)).hostname.lower())  # the operator's own choice is trusted
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
