"""The headless CLI: JSON and table output on the worked example, and every bad input exits cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.worked import REQUIRED_KEYS

ROOT = Path(__file__).resolve().parents[2]
WORKED = {
    "timestamp": "2025-05-04T10:39:13Z",
    "exchange": "OKX",
    "symbol": "BTC-USDT-SWAP",
    "asks": [["100001.0", "3"], ["100002.0", "4"], ["100010.0", "20"]],
    "bids": [["99999.0", "5"], ["99998.0", "5"], ["99990.0", "20"]],
}
REQUIRED = list(REQUIRED_KEYS)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core.simulate", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.fixture()
def snap_file(tmp_path: Path) -> Path:
    p = tmp_path / "book.json"
    p.write_bytes(orjson.dumps(WORKED))
    return p


def base_args(path: Path) -> list[str]:
    return ["--snapshot", str(path), "--exchange", "okx", "--symbol", "BTC-USDT-SWAP", "--side", "buy"]


@pytest.mark.parametrize("size", [("--usd", "1000"), ("--usd", "10000"), ("--base", "0.12"), ("--usd", "50000")])
def test_json_net_cost_is_slippage_plus_fee_for_a_market_order_without_latency(snap_file, size):
    r = run(*base_args(snap_file), *size, "--fee-tier", "Lv1", "--latency-ms", "0", "--json")
    assert r.returncode == 0, r.stderr
    d = orjson.loads(r.stdout)
    assert d["net_cost_usd"] == d["slippage_usd"] + d["fee_usd"]  # exactly: impact is inside slippage
    assert 0 <= d["impact_usd"] <= d["walk_slippage_usd"] - d["half_spread_usd"] + 1e-12  # shown, never added


def test_json_output_worked_example(snap_file):
    # METHODOLOGY.md section 8 fixes psi = 0.5 and refill 10 s so its hand numbers do not move with a recalibration
    worked = ("--permanent-share", "0.5", "--refill-s", "10")
    r = run(*base_args(snap_file), "--usd", "10000", "--fee-tier", "Lv1", *worked, "--json")
    assert r.returncode == 0, r.stderr
    d = orjson.loads(r.stdout)
    assert set(REQUIRED) <= set(d)
    assert d["mid"] == 100_000.0 and d["best_bid"] == 99_999.0 and d["best_ask"] == 100_001.0
    assert d["filled_usd"] == pytest.approx(10_000.0, rel=1e-15)
    assert d["filled_base"] == pytest.approx(0.09999590040995901, rel=1e-14)
    assert d["avg_price"] == pytest.approx(100_004.09975811427, rel=1e-14)
    assert d["levels_used"] == 3 and d["fully_filled"] is True
    assert d["walk_slippage_usd"] == pytest.approx(0.40995900409959, rel=1e-12)
    assert d["fee_usd"] == pytest.approx(5.0, rel=1e-15)
    assert d["impact_usd"] == pytest.approx(0.12618992717276, rel=1e-10)
    # slippage = what the fills show vs the arrival mid (impact included); net = slippage + fee exactly
    assert d["slippage_usd"] == pytest.approx(0.40995900409959, rel=1e-12)
    assert d["slippage_usd"] == pytest.approx(d["walk_slippage_usd"], rel=1e-12)  # via the models' bps
    assert d["net_cost_usd"] == d["slippage_usd"] + d["fee_usd"]
    assert d["adverse_selection_usd"] == 0.0 and d["opportunity_usd"] == 0.0
    assert d["net_cost_usd"] == pytest.approx(5.40995900409959, rel=1e-12)
    assert d["maker_fraction"] == 0.0
    assert d["volatility_annual"] == 0.5 and d["volatility_source"] == "default"
    assert d["latency_us"] > 0
    assert d["methods"]["fees"] == "rule: OKX Lv1 taker"


def test_volatility_override_base_size_and_fee_override(snap_file):
    r = run(
        *base_args(snap_file),
        "--base",
        "0.05",
        "--volatility",
        "0.8",
        "--taker-rate",
        "0.0004",
        "--order-type",
        "market",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    d = orjson.loads(r.stdout)
    assert d["volatility_annual"] == 0.8 and d["volatility_source"] == "override"
    assert d["filled_base"] == pytest.approx(0.05, rel=1e-15)
    assert d["filled_usd"] == pytest.approx(0.03 * 100_001 + 0.02 * 100_002, rel=1e-14)
    assert d["fee_usd"] == pytest.approx(0.0004 * d["filled_usd"], rel=1e-14)
    assert d["fee_tier"] == "OKX Lv1 (override)"


def test_table_output_is_readable(snap_file):
    r = run(*base_args(snap_file), "--usd", "10000", "--fee-tier", "Lv1")
    assert r.returncode == 0, r.stderr
    assert "NET COST" in r.stdout and "5.4100 USD" in r.stdout
    assert "market impact (permanent)" in r.stdout and "OKX Lv1" in r.stdout


def test_beyond_visible_depth_is_reported(snap_file):
    r = run(*base_args(snap_file), "--usd", "50000", "--json")
    d = orjson.loads(r.stdout)
    assert r.returncode == 0 and d["fully_filled"] is False and d["beyond_visible"] is True


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--usd", "0"], "zero"),
        (["--usd", "-5"], "negative"),
        (["--usd", "nan"], "NaN"),
        (["--usd", "inf"], "infinite"),
        (["--usd", "abc"], "invalid float"),
        (["--usd", "1e12"], "more than"),
        (["--base", "0"], "zero"),
        (["--usd", "10", "--fee-tier", "VIP9"], "Unknown fee tier"),
        (["--usd", "10", "--bnb"], "no discount for paying fees in BNB"),
        (["--usd", "10", "--volatility", "0"], "Volatility"),
        (["--usd", "10", "--volatility", "nan"], "Volatility"),
        (["--usd", "10", "--order-type", "stop"], "order type"),
        (["--usd", "10", "--order-type", "limit", "--no-models"], "maker/taker model"),
        (["--usd", "10", "--taker-rate", "0.5"], "Taker rate"),
        (["--usd", "10", "--permanent-share", "2"], "Permanent share"),
        (["--usd", "10", "--base", "1"], "not allowed"),
        ([], "one of the arguments --usd --base is required"),
    ],
)
def test_bad_order_inputs_exit_with_one_line(snap_file, extra, needle):
    r = run(*base_args(snap_file), *extra)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert needle in lines[0]
    assert r.stdout == ""


def test_bad_side_and_unknown_symbol(snap_file):
    r = run("--snapshot", str(snap_file), "--side", "hold", "--usd", "10")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "side" in r.stderr
    r = run("--snapshot", str(snap_file), "--symbol", "DOGE-XYZ", "--side", "buy", "--usd", "10")
    assert r.returncode != 0 and "Unknown instrument" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_missing_file_and_directory(tmp_path):
    r = run(*base_args(tmp_path / "nope.json"), "--usd", "10")
    assert r.returncode != 0 and "not found" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run(*base_args(tmp_path), "--usd", "10")
    assert r.returncode != 0 and "not a file" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "malformed_json"),
        (b"not json at all", "malformed_json"),
        (b"[1, 2, 3]", "wrong_shape"),
        (b'{"bids": [["1", "1"]]}', "missing_asks"),
        (b'{"asks": [["x", "1"]], "bids": [["1", "1"]]}', "non_numeric_level"),
        (b'{"asks": [], "bids": [["1", "1"]]}', "empty_side"),
        (b'{"asks": [["100", "1"]], "bids": [["101", "1"]]}', "crossed_book"),
        (b'{"asks": [["101", "1"], ["100", "1"]], "bids": [["99", "1"]]}', "unsorted_levels"),
        (b'{"asks": [["101"]], "bids": [["99", "1"]]}', "wrong_shape"),
        (b'{"symbol": "ETH-USDT-SWAP", "asks": [["101", "1"]], "bids": [["99", "1"]]}', "wrong_instrument"),
    ],
)
def test_malformed_books_exit_with_one_line(tmp_path, content, reason):
    p = tmp_path / "bad.json"
    p.write_bytes(content)
    r = run(*base_args(p), "--usd", "10")
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "malformed book" in lines[0] and reason in lines[0]
