"""`python -m core.replay` and `python -m core.record` as a user runs them, over real loopback sockets."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from websockets.exceptions import InvalidHandshake
from websockets.sync.client import connect

from core.feed.recording import load_recording
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_replay_cli_serves_the_recording_in_order(slice_file, recorded_messages):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.feed.replay", "--data", str(slice_file), "--port", str(port), "--speed", "50"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"ws://127.0.0.1:{port}/ws/l2-orderbook/binance-futures/BTCUSDT"
        deadline = time.monotonic() + 20
        while True:
            try:
                ws = connect(url, open_timeout=2, proxy=None)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with ws:
            got = [ws.recv(timeout=5) for _ in range(5)]
        assert [g.encode() for g in got] == recorded_messages[:5]
        with pytest.raises(InvalidHandshake):  # a path the replay does not serve is refused (HTTP 404)
            connect(f"ws://127.0.0.1:{port}/ws/l2-orderbook/okx/ETH-USDT-SWAP", open_timeout=2, proxy=None)
    finally:
        proc.terminate()
        proc.wait(10)


def test_replay_cli_missing_file_is_a_one_line_error(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "core.feed.replay", "--data", str(tmp_path / "nope.jsonl.gz")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and r.stderr.startswith("error: recording not found") and "Traceback" not in r.stderr


def _run_replay_server(slice_file, port):
    code = (
        "import asyncio\n"
        "from core.feed.recording import load_recording\n"
        "from core.feed.replay import ReplayServer\n"
        "async def main():\n"
        f"    async with ReplayServer(load_recording({str(slice_file)!r}), port={port}, speed=20, loop=True):\n"
        "        await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)


def test_record_cli_captures_a_goquant_server(tmp_path, slice_file, recorded_messages):
    port = free_port()
    server = _run_replay_server(slice_file, port)
    out = tmp_path / "captured.jsonl.gz"
    try:
        time.sleep(2)
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "core.feed.recorder",
                "--url",
                f"ws://127.0.0.1:{port}/ws/l2-orderbook/binance-futures/BTCUSDT",
                "--seconds",
                "20",
                "--max-messages",
                "40",
                "--out",
                str(out),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=90,
        )
    finally:
        server.terminate()
        server.wait(10)
    assert r.returncode == 0, r.stderr
    assert "wrote 40 books" in r.stdout
    rec = load_recording(out)
    assert len(rec) == 40 and rec.exchange == "binance-futures" and rec.symbol == "BTCUSDT"
    assert list(rec.messages) == recorded_messages[:40]  # GoQuant messages are recorded verbatim


def test_record_cli_rejects_bad_arguments(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "core.feed.recorder",
            "--url",
            "ws://127.0.0.1:9/x",
            "--seconds",
            "-1",
            "--out",
            str(tmp_path / "x.gz"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "error:" in r.stderr and "Traceback" not in r.stderr


def test_a_recorded_okx_session_with_its_trades_can_be_scored_by_the_validator(tmp_path):
    """Record books and trades from a local server speaking OKX's protocol with the real capture's frames, then
    ``python -m core.validate`` scores the app's estimates on the recording against those trades."""
    import json

    from core.feed.client import Feed
    from core.feed.config import FeedConfig, Source
    from core.feed.recorder import record
    from core.market.tape import Tape
    from tests.conftest import FAST
    from tests.loopback.test_feed import okx_books_and_trades, okx_server
    from tests.servers import LoopbackServer

    frames = okx_books_and_trades()
    n_books = sum(f["arg"]["channel"] == "books" for f in frames)
    rows = [d for f in frames if f["arg"]["channel"] == "trades" for d in f["data"]]
    out, trades = tmp_path / "okx.jsonl.gz", tmp_path / "okx.parquet"
    with LoopbackServer(okx_server(frames)) as server:
        config = FeedConfig(source=Source.OKX, exchange="okx", symbol="BTC-USDT", url=server.url("/ws/v5/public"))
        feed = Feed(settings=FAST)
        n, status = record(config, out, seconds=30, max_messages=n_books - 2, trades_out=trades, feed=feed)
        feed.shutdown()
    assert n == n_books - 2 and status.parse_error_total == 0
    tape = Tape.from_parquet(trades)
    assert 0 < len(tape) <= len(rows) and set(tape.ts_ms.tolist()) <= {int(d["ts"]) for d in rows}
    assert np.allclose(
        sorted(tape.qty), sorted(float(d["sz"]) for d in rows if int(d["ts"]) in set(tape.ts_ms.tolist()))
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "core.validate",
            "--recording",
            str(out),
            "--trades",
            str(trades),
            "--json",
            str(tmp_path / "v.json"),
            "--replicates",
            "50",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "v.json").read_text())
    assert doc["recordings"][0]["market_orders"]["all"]["n"] > 0
    # a source of books alone has no trades to record: refused in words before anything starts
    from core.errors import InputError

    with pytest.raises(InputError, match="streams books alone"):
        record(FeedConfig(source=Source.GOQUANT, url="ws://127.0.0.1:9/x"), out, seconds=1, trades_out=trades)
