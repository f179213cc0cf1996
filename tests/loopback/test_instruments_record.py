"""Instrument metadata refresh from an OKX-style REST endpoint (a real HTTP server on 127.0.0.1), and
recording the OKX source to the replay format."""

from __future__ import annotations

import http.server
import json
import threading
from typing import ClassVar

import orjson
import pytest

from core.errors import InstrumentError
from core.feed.client import Feed
from core.feed.config import FeedConfig, Source
from core.feed.goquant import parse_snapshot
from core.feed.recorder import record
from core.feed.recording import load_recording
from core.market import instruments as inst_mod
from core.market.instruments import InstrumentTable
from tests.conftest import FAST
from tests.loopback.test_feed import _okx_books, okx_server
from tests.servers import LoopbackServer


class _Handler(http.server.BaseHTTPRequestHandler):
    rows: ClassVar[dict[str, list[dict[str, str]]]] = {
        "SPOT": [
            {
                "instId": "BTC-USDT",
                "state": "live",
                "tickSz": "0.1",
                "lotSz": "0.00000001",
                "minSz": "0.00001",
                "ctVal": "",
            }
        ],
        "SWAP": [
            {
                "instId": "BTC-USDT-SWAP",
                "state": "live",
                "tickSz": "0.1",
                "lotSz": "0.01",
                "minSz": "0.01",
                "ctVal": "0.001",
            },
            {"instId": "NEW-USDT-SWAP", "state": "live", "tickSz": "1", "lotSz": "1", "minSz": "1", "ctVal": "1"},
        ],
    }

    def do_GET(self):
        kind = self.path.rsplit("=", 1)[-1]
        body = json.dumps({"code": "0", "data": self.rows.get(kind, [])}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def rest_server(monkeypatch):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    monkeypatch.setattr(
        inst_mod,
        "OKX_REST",
        f"http://127.0.0.1:{srv.server_address[1]}/api/v5/public/instruments?instType={{inst_type}}",
    )
    yield srv
    srv.shutdown()


def test_refresh_updates_known_okx_rows_from_rest(rest_server):
    table = InstrumentTable.load()
    assert table.get("okx", "BTC-USDT-SWAP").ct_val == 0.01
    assert table.refresh_okx(timeout_s=5) is True
    swap = table.get("okx", "BTC-USDT-SWAP")
    assert swap.ct_val == 0.001 and swap.lot_size == 0.01 and table.origin == "okx-rest"  # fetched, not bundled
    assert table.get("okx", "BTC-USDT").ct_val == 1.0  # an empty ctVal (spot) keeps the bundled value
    with pytest.raises(InstrumentError):
        table.get("okx", "NEW-USDT-SWAP")  # only instruments the app knows are refreshed


def test_refresh_falls_back_silently_when_unreachable(monkeypatch):
    monkeypatch.setattr(inst_mod, "OKX_REST", "http://127.0.0.1:9/none?instType={inst_type}")
    table = InstrumentTable.load()
    assert table.refresh_okx(timeout_s=1) is False
    assert table.get("okx", "BTC-USDT-SWAP").ct_val == 0.01 and table.origin == "bundled"


def test_recording_the_okx_source_gives_replayable_goquant_books(tmp_path):
    frames = _okx_books()[:25]
    out = tmp_path / "okx.jsonl.gz"
    with LoopbackServer(okx_server(frames)) as server:
        feed = Feed(settings=FAST)
        try:
            config = FeedConfig(source=Source.OKX, exchange="okx", symbol="BTC-USDT", url=server.url("/ws/v5/public"))
            n, status = record(config, out, seconds=15, max_messages=25, feed=feed)  # starts the idle feed
            live = feed.store.latest("okx", "BTC-USDT")
        finally:
            feed.shutdown()
    assert n == 25 and status.parse_error_total == 0
    rec = load_recording(out)
    assert rec.exchange == "okx" and rec.symbol == "BTC-USDT" and len(rec) == 25
    last = rec.messages[-1]
    from core.market.instruments import get_instrument

    replayed = parse_snapshot(last, instrument=get_instrument("okx", "BTC-USDT"))
    assert replayed.best_bid == live.best_bid and replayed.best_ask == live.best_ask
    assert replayed.bid_sz.tolist() == live.bid_sz.tolist()
    assert replayed.exchange_ts_ms == int(frames[-1]["data"][0]["ts"])
    doc = orjson.loads(last)
    assert all(isinstance(p, str) and isinstance(q, str) for p, q in doc["bids"] + doc["asks"])  # OKX's strings
    assert doc["bids"][0][0] == f"{live.best_bid:.1f}"
