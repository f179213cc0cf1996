"""The interface every market-data source implements, so one WebSocket client serves them all."""

from __future__ import annotations

from abc import ABC, abstractmethod

from core.market.book import BookSnapshot
from core.market.instruments import Instrument
from core.market.tape import LiveTape


class Adapter(ABC):
    """Turns one venue's messages into ``BookSnapshot``s; owns no socket (the feed does)."""

    #: source name shown in the UI and stored in each snapshot ("replay", "goquant", "okx")
    source: str = ""
    #: the venue also streams its public trades on this connection (OKX ``trades``): the feed hands the adapter a
    #: ``LiveTape`` (``trades``) and the adapter appends to it; the online calibration reads it
    carries_trades: bool = False

    def __init__(self, instrument: Instrument, url: str) -> None:
        self.instrument = instrument
        self.url = url
        #: nanoseconds spent in the last message: parse (bytes -> numbers) and book (apply + freeze)
        self.last_parse_ns = 0
        self.last_book_ns = 0
        self.trades: LiveTape | None = None  # set by the feed where ``carries_trades``
        #: connections the feed has opened with this adapter: a listener sees a reconnect, however short, by it
        self.connections = 0

    @classmethod
    def for_feed(cls, instrument: Instrument, url: str, *, source: str, snapshot_wait_s: float) -> Adapter:
        """The adapter the feed opens for a source (``source``: its name; ``snapshot_wait_s``: how long a venue
        that sends its book snapshot after the subscription is given before the adapter asks another way)."""
        return cls(instrument, url)

    def on_connect(self) -> list[str]:
        """Messages to send right after connecting (subscriptions)."""
        return []

    def keepalive(self) -> str | None:
        """Application-level ping to send after a quiet spell, or None (protocol pings suffice)."""
        return None

    def resync(self) -> list[str]:
        """Forget the local book; return messages that bring a fresh snapshot ([] = reconnect instead)."""
        return []

    def reset(self) -> None:  # noqa: B027  (an optional hook: most adapters keep no state)
        """Called on every new connection: drop any state tied to the previous one."""

    @abstractmethod
    def on_message(self, raw: bytes | str, recv_ns: int) -> BookSnapshot | None:
        """Return the new book, None for a message that carries none (ack, pong), or raise FeedError."""

    def bootstrap_request(self, now: float) -> str | None:
        """An HTTP URL the feed should GET to build the book (OKX REST snapshot), or None."""
        return None

    def on_bootstrap(self, body: bytes, recv_ns: int) -> BookSnapshot | None:
        """The response to ``bootstrap_request``; returns the book, or None to ask again later."""
        return None

    def native_message(self) -> bytes | None:
        """The current book as a GoQuant-format message in venue units, for the recorder."""
        return None
