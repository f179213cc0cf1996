"""A bundled recording opened for replay (``open_replay``) reads only its first line, yet gives the same
messages, timestamps, count, range and instrument as reading it through (``load_recording``); a summary that
is not the file's is refused."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from core.errors import ParseError
from core.feed.recording import RecordingWriter, load_recording, open_recording
from core.feed.replay import bundled_recordings, default_recording, open_replay


def test_the_default_recording_opened_lazily_gives_the_same_frames_as_read_through():
    path = default_recording().path
    lazy, eager = open_replay(path), load_recording(path)
    assert not lazy.indexed and eager.indexed  # opening it inflated nothing beyond the first line
    same = (len(lazy), lazy.start_ms, lazy.end_ms, lazy.exchange, lazy.symbol, lazy.date, lazy.duration_s)
    assert same == (
        len(eager),
        eager.start_ms,
        eager.end_ms,
        eager.exchange,
        eager.symbol,
        eager.date,
        eager.duration_s,
    )
    streamed = list(lazy.iter_timed())  # each line's own timestamp, read as it streams
    assert not lazy.indexed
    assert streamed == list(eager.iter_timed())  # from the eager index
    assert [ts for ts, _ in streamed] == eager.ts_ms.tolist()
    np.testing.assert_array_equal(lazy.ts_ms, eager.ts_ms)  # built on first use, checked against the summary
    assert lazy.indexed
    assert list(itertools.islice(lazy.iter_timed(), 5)) == streamed[:5]  # from the index now


@pytest.mark.parametrize("rec", bundled_recordings(), ids=lambda r: r.path.name)
def test_every_bundled_recording_opens_lazily_with_the_manifest_summary(rec):
    lazy = open_replay(rec.path)
    assert not lazy.indexed
    assert (lazy.exchange, lazy.symbol, len(lazy)) == (rec.exchange, rec.symbol, rec.messages)
    assert lazy.date == rec.date


def test_another_file_is_read_through(tmp_path, recorded_messages):
    path = tmp_path / "slice.jsonl.gz"
    with RecordingWriter(path) as w:
        for m in recorded_messages[:20]:
            w.write(m)
    rec = open_replay(path)  # not in the manifest: read and checked in full
    assert rec.indexed and len(rec) == 20 and rec.messages == tuple(recorded_messages[:20])


def test_a_summary_that_is_not_the_files_is_refused():
    path = default_recording().path
    eager = load_recording(path)
    with pytest.raises(ParseError, match="recording_mismatch"):
        open_recording(path, messages=len(eager), start_ms=eager.start_ms + 1, end_ms=eager.end_ms)
    wrong_count = open_recording(path, messages=len(eager) + 1, start_ms=eager.start_ms, end_ms=eager.end_ms)
    with pytest.raises(ParseError, match="recording_mismatch"):
        wrong_count.ts_ms  # noqa: B018 (the index is built, and checked, here)
