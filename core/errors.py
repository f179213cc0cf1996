"""Domain errors of the simulator.

One root so callers can catch everything the simulator raises on purpose::

    SimulatorError
    ├── FeedError                 problems with market data (counted, never shown as a traceback)
    │   ├── ParseError            a message that cannot be turned into a book; has a ``reason``
    │   ├── SequenceGap           OKX prevSeqId does not match the last seqId -> resync
    │   ├── BadChecksum           OKX CRC32 of the top 25 levels does not match -> resync
    │   ├── CrossedBook           best bid >= best ask after an update -> resync
    │   ├── CorruptUpdate         an update that would leave an invalid book -> resync
    │   └── ServerNotice          the server announced a disconnect (OKX 64008) -> reconnect
    ├── SourceNotAllowed          a feed URL outside the operator's allowlist (hosted deployments)
    ├── SourceUnavailable         a source a visitor picked could not start; the previous one keeps running
    ├── CaptureBusy               every recording slot of this server is in use
    ├── InstrumentError           unknown exchange / symbol
    └── InputError                a value typed or passed in that cannot be used (also a ValueError)
        └── OrderError            an order the user typed that cannot be priced (size 0, NaN, ...)

The tree is closed: anything core raises to a page is one of these, with a message written for a person
(pages catch ``SimulatorError`` and nothing else; tests/architecture checks both sides). Builtin exceptions
raised in core mark broken invariants of the code itself, never bad input.
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Root of every error the simulator raises deliberately."""


class FeedError(SimulatorError):
    """Market data could not be used."""


class ParseError(FeedError):
    """A feed message could not be parsed into a book.

    ``reason`` is a short machine-readable key used to count parse errors by kind.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ResyncNeeded(FeedError):
    """The local book can no longer be trusted; a fresh snapshot is required."""

    reason = "resync"


class SequenceGap(ResyncNeeded):
    reason = "sequence_gap"


class BadChecksum(ResyncNeeded):
    reason = "bad_checksum"


class CrossedBook(ResyncNeeded):
    reason = "crossed_book"


class CorruptUpdate(ResyncNeeded):
    """An incremental update that would leave the local book invalid (NaN, negative, empty side...)."""

    reason = "corrupt_update"


class ServerNotice(FeedError):
    """The server told us it will close the connection (e.g. OKX notice 64008)."""

    reason = "server_notice"


class SourceNotAllowed(SimulatorError):
    """A visitor asked for a feed URL the operator did not allow."""


class SourceUnavailable(SimulatorError):
    """A data source a visitor picked could not start (refused, unreachable, bad setting); says which, in words."""


class CaptureBusy(SimulatorError):
    """Every recording slot of this server is in use."""


class InstrumentError(SimulatorError):
    """Unknown exchange or instrument."""


class InputError(SimulatorError, ValueError):
    """A value that cannot be used (a setting, a speed, a duration); the message is written for a person.

    Also a ``ValueError``, so code validating numbers the usual Python way still catches it."""


class OrderError(InputError):
    """An order that cannot be priced; the message is written for a person."""
