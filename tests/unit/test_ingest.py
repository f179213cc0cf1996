"""What the ingest runs by default (``python -m core.ingest`` and ``make cluster`` without ``--feed``)."""

from __future__ import annotations

from pathlib import Path

from core.feed.replay import bundled_recordings
from core.ingest import default_configs


def test_the_default_ingest_runs_one_recording_per_instrument():
    # one stream per instrument: two recordings of one instrument (two days) would interleave their books there
    instrument = {r.path: (r.exchange, r.symbol) for r in bundled_recordings()}
    chosen = [instrument[Path(str(c.replay_file))] for c in default_configs()]
    assert len(chosen) == len(set(chosen)) == len(set(instrument.values()))


def test_the_cluster_points_its_replicas_at_what_the_ingest_publishes():
    from core.cluster import replica_instruments
    from core.feed.replay import default_recording

    rec = default_recording()
    assert replica_instruments(["replay:binance:BTCUSDT", "okx:okx:BTC-USDT-SWAP"]) == (
        "binance:BTCUSDT,okx:BTC-USDT-SWAP"
    )
    assert replica_instruments(["replay"]) == f"{rec.exchange}:{rec.symbol}"
