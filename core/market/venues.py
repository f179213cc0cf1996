"""The venue registry: every place market data comes from, declared once.

A venue is an exchange (OKX, Binance spot, Binance USD-M, Binance COIN-M) or an aggregator that relays several exchanges
(GoQuant). Its entry says everything the rest of the app needs to know about it: the id used in
``data/instruments.json`` and in recordings, the label pages show, its kind, which wire protocol its live
feed speaks (none when the app has no direct feed from it), its public URLs, the WebSocket hosts a
deployment may reach by default, the instrument it starts on, and the unit its books size orders in.

Adding a venue is one adapter module in ``core/feed`` plus one entry in ``VENUES`` (and, for a new wire
protocol, one ``Protocol`` member that ``core.feed.client.ADAPTERS`` maps to the adapter). Everything else
derives from here: the feed sources (``core.feed.config.Source``), the default host allowlist, the
instruments a live source offers, the page labels and ``Instrument.sized_in_contracts``.

The adapter is named by a ``Protocol`` key rather than a class because ``core.market`` sits below
``core.feed`` and imports only ``core.errors`` and ``core.paths``; ``core.feed.client`` is the one place
that maps a protocol to its adapter class (a test checks that every protocol has one).

Size units: books are kept in base units everywhere (docs/METHODOLOGY.md section 1). A venue that sizes
derivative books in contracts declares ``SizeUnit.CONTRACTS``; the instrument's ``ct_val`` then says how
big a contract is: ``ct_val`` base units (linear, e.g. 0.01 BTC) or ``ct_val`` quote units (inverse, e.g.
100 USD, so ``ct_val / price`` base units).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import InstrumentError


class Protocol(str, enum.Enum):
    """A wire protocol the feed speaks; ``core.feed.client.ADAPTERS`` maps each to its adapter class."""

    GOQUANT = "goquant"  # a full book per message; also the recordings' and the replay server's format
    OKX = "okx"  # OKX v5 public ``books`` channel: snapshot, then sequenced incremental updates


class VenueKind(str, enum.Enum):
    EXCHANGE = "exchange"  # a live feed from it streams its own instruments
    AGGREGATOR = "aggregator"  # relays the books of every exchange in the instrument table


class SizeUnit(str, enum.Enum):
    """What the sizes in a venue's books count (the adapters convert to base units at the edge)."""

    BASE = "base"  # base currency units (BTC for BTCUSDT)
    CONTRACTS = "contracts"  # contracts of ``Instrument.ct_val`` base (linear) or quote (inverse) units


@dataclass(frozen=True, slots=True)
class Venue:
    """One venue; see the module docstring."""

    id: str  # as in data/instruments.json, recordings and fee tables: "okx", "binance-futures"
    label: str  # what pages show: "Binance USD-M"
    kind: VenueKind
    protocol: Protocol | None = None  # the live feed's protocol; None: the app has no direct feed from it
    ws_url: str = ""  # public WebSocket URL; an aggregator's has {exchange} and {symbol} placeholders
    hosts: tuple[str, ...] = ()  # WebSocket hosts a deployment allows by default (the first serves ws_url)
    rest_url: str = ""  # base of the venue's public REST API ("" when none is used)
    default_instrument: tuple[str, str] = ("", "")  # (exchange, symbol) a live source starts on
    derivative_sizes: SizeUnit = SizeUnit.BASE  # spot books are always in base units

    @property
    def live(self) -> bool:
        """The app can stream this venue's feed directly (it is a ``Source``)."""
        return self.protocol is not None

    def size_unit(self, kind: str) -> SizeUnit:
        """The unit of book sizes for an instrument of ``kind`` ("spot" | "swap" | "future")."""
        return SizeUnit.BASE if kind == "spot" else self.derivative_sizes

    def stream_url(self, exchange: str, symbol: str) -> str:
        """The public URL that streams ``exchange``/``symbol`` from this venue's feed."""
        return self.ws_url.format(exchange=exchange, symbol=symbol)


DEFAULT_INSTRUMENT = ("okx", "BTC-USDT-SWAP")

#: every venue, in the order pages list live sources
VENUES: tuple[Venue, ...] = (
    Venue(
        id="goquant",
        label="GoQuant",
        kind=VenueKind.AGGREGATOR,
        protocol=Protocol.GOQUANT,
        ws_url="wss://ws.gomarket-cpp.goquant.io/ws/l2-orderbook/{exchange}/{symbol}",
        hosts=("ws.gomarket-cpp.goquant.io",),
        default_instrument=DEFAULT_INSTRUMENT,
    ),
    Venue(
        id="okx",
        label="OKX",
        kind=VenueKind.EXCHANGE,
        protocol=Protocol.OKX,
        ws_url="wss://ws.okx.com:8443/ws/v5/public",
        hosts=("ws.okx.com", "wspap.okx.com"),  # production, demo trading
        rest_url="https://www.okx.com",
        default_instrument=DEFAULT_INSTRUMENT,
        derivative_sizes=SizeUnit.CONTRACTS,
    ),
    Venue(id="binance", label="Binance spot", kind=VenueKind.EXCHANGE),
    Venue(id="binance-futures", label="Binance USD-M", kind=VenueKind.EXCHANGE),
    # COIN-M perpetuals are inverse: books and trades count contracts of ct_val USD (100 for BTCUSD_PERP)
    Venue(id="binance-coinm", label="Binance COIN-M", kind=VenueKind.EXCHANGE, derivative_sizes=SizeUnit.CONTRACTS),
)

_BY_ID = {v.id: v for v in VENUES}


def venue(venue_id: str) -> Venue:
    """The registry entry of ``venue_id``; ``InstrumentError`` names the known ones otherwise."""
    try:
        return _BY_ID[venue_id.lower()]
    except KeyError:
        raise InstrumentError(f"Unknown venue {venue_id!r}. Known: {', '.join(_BY_ID)}") from None


def live_venues() -> tuple[Venue, ...]:
    """The venues with a direct feed, in registry order (each is a live ``Source``)."""
    return tuple(v for v in VENUES if v.live)


def label(venue_id: str) -> str:
    """What pages call a venue (its id when the registry does not know it)."""
    v = _BY_ID.get(venue_id)
    return v.label if v is not None else venue_id


def default_hosts(venues: Iterable[Venue] = VENUES) -> tuple[str, ...]:
    """Every declared WebSocket host, in registry order: the allowlist of a deployment that sets none."""
    return tuple(dict.fromkeys(h for v in venues for h in v.hosts))


def size_unit(venue_id: str, kind: str) -> SizeUnit:
    """The unit of ``venue_id``'s books for an instrument of ``kind`` (base units for a venue not declared)."""
    v = _BY_ID.get(venue_id)
    return v.size_unit(kind) if v is not None else SizeUnit.BASE
