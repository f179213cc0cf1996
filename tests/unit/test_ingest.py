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
