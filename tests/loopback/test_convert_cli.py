"""`python -m core.convert --raw` as a user runs it, on short slices of real captures: one recording and its
trades for a capture it has never seen, COIN-M contracts kept and read as BTC, and plain refusals (exit 2)."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from core.costs.estimate import estimate
from core.costs.fees import get_tier
from core.costs.order import Order, SizeUnit
from core.feed.conversion import main
from core.feed.goquant import GoQuantAdapter
from core.feed.recording import load_recording
from core.market.instruments import get_instrument

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "hftbacktest"
CM_HEAD = FIXTURES / "btcusd_perp_20240808_head200.gz"


def lines_of(path: Path) -> list[bytes]:
    with gzip.open(path, "rb") as fh:
        return fh.read().splitlines(keepends=True)


def copy_lines(lines: list[bytes], path: Path) -> Path:
    with gzip.open(path, "wb") as fh:
        fh.writelines(lines)
    return path


def kind(line: bytes) -> str:
    doc = orjson.loads(line.split(b" ", 1)[1])
    return "snapshot" if "lastUpdateId" in doc else doc["stream"].split("@")[1]


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core.convert", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_raw_coinm_capture_end_to_end(tmp_path):
    raw = copy_lines(lines_of(CM_HEAD)[:150], tmp_path / "first150.gz")  # a capture the converter never saw
    out = tmp_path / "out"
    r = run_cli("--raw", raw, "--market", "cm", "--symbol", "BTCUSD_PERP", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "sizes in contracts of 100 USD" in r.stdout
    rec_path = out / "recordings" / "binance-coinm_BTCUSD_PERP_20240808.jsonl.gz"
    trades = pq.read_table(out / "trades" / "binance-coinm_BTCUSD_PERP_20240808.parquet")
    assert sorted(p.name for p in out.rglob("*.*")) == [
        "binance-coinm_BTCUSD_PERP_20240808.jsonl.gz",
        "binance-coinm_BTCUSD_PERP_20240808.parquet",
    ]
    # the four trades of the first 150 lines: contracts as sent, and BTC = contracts x 100 / price
    assert trades.column("size_contracts").to_pylist() == [4.0, 1.0, 5.0, 10.0]
    assert trades.column("qty").to_pylist()[3] == pytest.approx(10 * 100 / 61808.8)

    # the app replays it: the feed's own adapter reads contracts as BTC, and a $10k buy prices sensibly
    rec = load_recording(rec_path)
    inst = get_instrument(rec.exchange, rec.symbol)
    adapter = GoQuantAdapter(inst, "ws://replay")
    snaps = [adapter.on_message(m, recv_ns=i) for i, m in enumerate(rec.messages)]
    assert len(snaps) == len(rec) > 5
    last = orjson.loads(rec.messages[-1])
    book = snaps[-1]
    assert book is not None
    assert book.ask_sz[0] == pytest.approx(float(last["asks"][0][1]) * 100 / float(last["asks"][0][0]), rel=1e-12)
    assert book.ask_sz.sum() > 10  # hundreds of thousands of contracts of 100 USD: dozens of BTC, not millions
    est = estimate(
        book, Order(side="buy", quantity=10_000, unit=SizeUnit.QUOTE), fee_tier=get_tier("binance-coinm", "swap")
    )
    assert est.filled_usd == pytest.approx(10_000, rel=1e-9) and est.net_cost_usd > 0
    assert est.filled_base == pytest.approx(10_000 / est.avg_price, rel=1e-9)
    assert abs(est.avg_price / book.mid - 1) < 0.01


def test_a_sequence_gap_is_refused_in_one_line(tmp_path):
    lines = lines_of(CM_HEAD)
    snap = next(i for i, line in enumerate(lines) if kind(line) == "snapshot")
    diffs_after = [i for i, line in enumerate(lines) if i > snap and kind(line).startswith("depth")]
    del lines[diffs_after[3]]  # one diff missing: its successor's pu names an update that never came
    out = tmp_path / "out"
    r = run_cli(
        "--raw", copy_lines(lines, tmp_path / "gap.gz"), "--market", "cm", "--symbol", "BTCUSD_PERP", "--out", out
    )
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("convert: refused: sequence gap") and r.stderr.count("\n") == 1, r.stderr
    assert not list(out.rglob("*.*")), "a refused conversion leaves no file"


def test_a_capture_without_snapshot_is_refused(tmp_path, capsys):
    lines = [line for line in lines_of(CM_HEAD) if kind(line) != "snapshot"]
    raw = copy_lines(lines, tmp_path / "nosnap.gz")
    assert main(["--raw", str(raw), "--market", "cm", "--symbol", "BTCUSD_PERP", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("convert: refused: no_snapshot: no REST depth snapshot line in nosnap.gz")
    assert err.count("\n") == 1 and not list((tmp_path / "o").rglob("*.*"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--market", "coinm", "--symbol", "BTCUSD_PERP"], "unknown market 'coinm': use one of usdm, spot, cm"),
        (["--market", "cm", "--symbol", "SOLUSD_PERP"], "unknown COIN-M symbol SOLUSD_PERP"),
        (["--market", "usdm", "--symbol", "BTCUSDT"], "holds BTCUSD_PERP, not BTCUSDT"),  # the wrong file
        (["--market", "cm", "--symbol", "BTC USD"], "symbol must be letters, digits and _"),
    ],
)
def test_what_cannot_be_converted_is_refused(tmp_path, capsys, args, message):
    assert main(["--raw", str(CM_HEAD), *args, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("convert: refused:") and message in err and err.count("\n") == 1, err
    assert not list(tmp_path.rglob("*.*"))


def test_usage_errors_are_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--raw", "x.gz", "--out", "o"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == "convert: error: --raw needs --market (usdm, spot or cm) and --symbol\n"
