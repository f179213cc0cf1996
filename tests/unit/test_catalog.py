"""core.views.catalog: the bundled recordings with provenance, replay speed checks and the switch policy."""

from __future__ import annotations

import json
import math

import pytest

from core.errors import InputError
from core.feed.config import Source, SourcePolicy
from core.views.catalog import (
    catalog,
    catalog_table,
    check_speed,
    current_index,
    license_of,
    replay_config,
    switch_allowed,
)


def test_bundled_catalog_matches_provenance():
    entries = catalog()
    assert [e.file for e in entries] == [
        "binance-futures_BTCUSDT_20240808.jsonl.gz",
        "binance_BTCUSDT_20240808.jsonl.gz",
        "binance-coinm_BTCUSD_PERP_20240808.jsonl.gz",
        "binance-futures_ETHUSDT_20240808.jsonl.gz",
        "binance_ETHUSDT_20240808.jsonl.gz",
        "binance-futures_BTCUSDT_20240718.jsonl.gz",
        "binance-futures_BTCUSDT_20230404.jsonl.gz",
        "binance-futures_ETHUSDT_20240718.jsonl.gz",
    ]
    fut = entries[0]
    assert fut.default and fut.exchange == "binance-futures" and fut.date == "2024-08-08"
    # PROVENANCE.md: 2024-08-08T23:54:16.509Z to 2024-08-09T00:00:01.105Z = 344.596 s, 6,537 messages
    assert fut.duration_s == pytest.approx(344.596) and fut.messages == 6537 and fut.levels == 400
    assert fut.size_bytes == 1_981_143 and fut.license == "MIT" and "hftbacktest" in fut.source
    assert entries[1].duration_s == pytest.approx(650.401)  # 23:54:15.408 to 00:05:05.809
    assert entries[5].date == "2024-07-18" and entries[2].exchange == "binance-coinm"
    assert entries[6].date == "2023-04-04" and entries[7].date == "2024-07-18" and entries[7].symbol == "ETHUSDT"
    t = catalog_table(entries)
    assert len(t) == 8 and t["size (MB)"].iloc[0] == pytest.approx(1.981143) and set(t["license"]) == {"MIT"}


def test_catalog_of_a_partial_manifest(tmp_path):
    m = tmp_path / "recordings.json"
    m.write_text(json.dumps({"recordings": [{"file": "x.jsonl.gz", "exchange": "okx", "symbol": "BTC-USDT"}]}))
    (e,) = catalog(m)
    assert (
        math.isnan(e.duration_s)
        and e.size_bytes == 0
        and e.license == "see PROVENANCE.md"
        and e.label == "okx BTC-USDT"
    )
    assert catalog(tmp_path / "missing.json") == []


def test_license_of():
    assert license_of("hftbacktest examples (MIT)") == "MIT"
    assert license_of("somewhere (by x) (Apache-2.0) ") == "Apache-2.0"
    assert license_of("") == "see PROVENANCE.md"


@pytest.mark.parametrize("bad", [0, -1, 0.05, 101, 1e9, float("nan"), float("inf"), "fast", None, True])
def test_bad_speeds_are_refused_in_plain_words(bad):
    with pytest.raises(ValueError, match="Replay speed must"):
        check_speed(bad)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (None, "Replay speed must be a number, got None."),
        (float("inf"), "Replay speed must be a finite number between 0.1 and 100, got inf."),
        (200, "Replay speed must be between 0.1x and 100x real time, got 200."),
    ],
)
def test_speed_messages_in_full(bad, message):
    with pytest.raises(InputError) as info:
        check_speed(bad)
    assert str(info.value) == message


def test_replay_config_and_policy():
    e = catalog()[1]
    cfg = replay_config(e, "2")
    assert cfg.source is Source.REPLAY and cfg.replay_file == str(e.path) and cfg.replay_speed == 2.0
    assert switch_allowed(None) and switch_allowed(SourcePolicy())
    assert not switch_allowed(SourcePolicy(allow_source_switch=False))


def test_current_index_by_file_name_then_default():
    entries = catalog()
    assert current_index(entries, "/any/dir/binance_BTCUSDT_20240808.jsonl.gz") == 1
    assert current_index(entries, None) == 0 and current_index(entries, "other.gz") == 0
