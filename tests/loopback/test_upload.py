"""A recording file from a visitor: bad ones get a plain message, a good one replays as the shared feed."""

from __future__ import annotations

import gzip

import orjson
import pytest

from core.errors import InputError
from core.feed.recording import RecordingWriter
from core.market.instruments import InstrumentTable
from core.runtime import Runtime
from core.views import upload
from tests.conftest import wait_for

TABLE = InstrumentTable.load()


def gz(*lines: bytes) -> bytes:
    return gzip.compress(b"\n".join(lines) + b"\n")


def good_file(tmp_path, recorded_messages, n: int = 40) -> bytes:
    path = tmp_path / "mine.jsonl.gz"
    with RecordingWriter(path) as w:
        for m in recorded_messages[:n]:
            w.write(m)
    return path.read_bytes()


def refused(name: str, data: bytes, tmp_path) -> str:
    with pytest.raises(InputError) as info:
        upload.check_recording(name, data, TABLE, directory=tmp_path / "up")
    return str(info.value)


def test_bad_files_get_a_plain_message_and_leave_nothing_behind(tmp_path, recorded_messages, monkeypatch):
    assert "is empty" in refused("x.jsonl.gz", b"", tmp_path)
    assert "is not a gzip file" in refused("x.jsonl.gz", b'{"timestamp": 1}\n', tmp_path)
    assert "not a complete gzip file" in refused("x.jsonl.gz", gz(*recorded_messages[:5])[:200], tmp_path)
    assert "not valid JSON" in refused("x.jsonl.gz", gz(b"print('hello')"), tmp_path)
    assert "no timestamp" in refused("x.jsonl.gz", gz(b'{"bids": []}'), tmp_path)
    doc = orjson.loads(recorded_messages[0])
    other = orjson.dumps({**doc, "exchange": "nowhere", "symbol": "XYZ"})
    assert "Unknown instrument 'XYZ' on 'nowhere'" in refused("x.jsonl.gz", gz(other), tmp_path)
    crossed = orjson.dumps({**doc, "bids": [["99999999", "1"]]})
    assert "first book is not a valid order book (crossed_book)" in refused("x.jsonl.gz", gz(crossed), tmp_path)
    monkeypatch.setattr(upload, "MAX_UPLOAD_BYTES", 1000)  # the limit, made small enough to test with a real file
    message = refused("big.jsonl.gz", good_file(tmp_path, recorded_messages), tmp_path)
    assert "big.jsonl.gz is" in message and f"the limit is {upload.MAX_UPLOAD_MB} MB" in message
    assert not list((tmp_path / "up").glob("*"))  # nothing refused is kept


def test_a_good_file_is_stored_under_our_name_and_replays_as_the_shared_feed(feed, tmp_path, recorded_messages):
    data = good_file(tmp_path, recorded_messages)
    checked = upload.check_recording("../../etc/my recording.jsonl.gz", data, TABLE, directory=tmp_path / "up")
    assert checked.path.parent == tmp_path / "up" and checked.path.name.endswith("-my_recording.jsonl.gz")
    assert (checked.exchange, checked.symbol, checked.books) == ("binance-futures", "BTCUSDT", 40)
    assert "40 books of BTCUSDT on binance-futures" in checked.describe()
    rt = Runtime(feed)
    rt.start(upload.upload_config(checked, 5.0))
    assert rt.replay is not None and rt.replay.file == checked.path.name
    assert wait_for(lambda: rt.status().books >= 20, 30), rt.status()
    with pytest.raises(InputError, match="Replay speed"):
        upload.upload_config(checked, 0.0)
