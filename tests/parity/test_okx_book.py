"""The compiled OKX path (core/feed/_okx.pyx) agrees with the Python path message by message.

Two adapters read the same messages, one on each path; after every message they must have returned the same
snapshot (every array bit for bit) or raised the same error with the same text, and hold the same maintained
book (every level's float and raw strings), sequence, timestamp, verified-checksum count and buffer. Inputs:
every recorded 2022 frame of the three instruments (the whole capture, other channels and acks included),
every truncation and many single-byte corruptions of real frames, and Hypothesis-generated sequences of
snapshots and updates (inserts, replacements with other text for the same price, deletes, crossing levels,
corrupt and non-text values, correct, zero and wrong checksums, gaps, heartbeats, resets, str and bytes).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.errors import CorruptUpdate, FeedError, ResyncNeeded
from core.feed import okx
from core.feed.okx import CHECKSUM_LEVELS, OkxAdapter, OkxBook, checksum_string, crc32_signed
from core.market.book import BookSnapshot
from core.market.instruments import Instrument, get_instrument
from tests.conftest import okx_frames
from tests.parity.test_kernel import ARRAYS
from tests.unit.test_okx import INSTRUMENTS

ROOT = Path(__file__).resolve().parents[2]
SWAP = get_instrument("okx", "BTC-USDT-SWAP")  # linear contracts (x ctVal)
INVERSE = INSTRUMENTS["UNI-USD-SWAP"]  # inverse contracts (x ctVal / price)
SPOT = INSTRUMENTS["BTC-USDT"]


@contextlib.contextmanager
def native(on: bool) -> Iterator[None]:
    """Adapters made within take the compiled path (``on``) or the Python path."""
    was = okx.NATIVE
    okx.NATIVE = on and was
    try:
        yield
    finally:
        okx.NATIVE = was


def pair(inst: Instrument, depth: int = 400) -> tuple[OkxAdapter, OkxAdapter]:
    """(Python path, compiled path when built) adapters for ``inst``."""
    with native(False):
        py = OkxAdapter(inst, "ws://t", depth=depth)
    with native(True):
        fast = OkxAdapter(inst, "ws://t", depth=depth)
    assert py._scanner is None and (fast._scanner is not None) is okx.NATIVE
    return py, fast


def book_levels(book: object) -> object:
    """Every level best first as (px, px_s, sz_s, sz), whichever book it is."""
    if book is None:
        return None
    if isinstance(book, OkxBook):
        bk, ak = book.top_prices()
        return [(k, *book.bids[k]) for k in bk], [(k, *book.asks[k]) for k in ak]
    return book.levels()  # type: ignore[attr-defined]


def snap_key(s: BookSnapshot) -> tuple:
    for name in ARRAYS:
        assert not getattr(s, name).flags.writeable, name
    arrays = tuple(getattr(s, name).dtype.str + getattr(s, name).tobytes().hex() for name in ARRAYS)
    return (s.exchange, s.symbol, s.source, s.exchange_ts_ms, s.recv_ns, s.seq, *arrays)


def outcome(a: OkxAdapter, raw: bytes | str, full: bool = True) -> tuple:
    """What one message did: the snapshot or the error, then the adapter's whole state (``full``: with the
    book as a recording writes it). A resync is acted on as the feed client does (``adapter.resync()``)."""
    try:
        snap = a.on_message(raw, 7)
        got: object = None if snap is None else snap_key(snap)
    except FeedError as exc:
        got = (type(exc).__name__, str(exc))
        if isinstance(exc, ResyncNeeded):
            a.resync()
    state = (a.last_seq, a.last_ts_ms, a.checksums_verified, len(a.buffer), book_levels(a.book))
    return got, (*state, a.native_message()) if full else state


def agree(py: OkxAdapter, fast: OkxAdapter, raw: bytes | str, full: bool = True) -> tuple:
    want = outcome(py, raw, full)
    assert outcome(fast, raw, full) == want
    return want


def took_compiled_path(fast: OkxAdapter, raw: bytes | str, checksum: int) -> bool:
    """The message (already applied) is one the scanner reads, and its book one the compiled checks pass.

    Agreement alone cannot show this: where the compiled path declines, the Python path gives the same answer.
    """
    if fast._scanner is None:
        return True  # not built: test_the_okx_kernel_is_built_and_on says so
    out = fast.book.snapshot(fast.depth, checksum, CHECKSUM_LEVELS, fast._unit, fast._ct_val)
    return bool(fast._scanner.scan(raw)) and out is not None


# ---- real frames -------------------------------------------------------------------------------------------


def test_the_okx_kernel_is_built_and_on():
    assert okx.NATIVE, "core.feed._okx is not built: run `make venv` (python setup.py build_ext --inplace)"


@pytest.mark.parametrize("inst_id", list(INSTRUMENTS))
@pytest.mark.parametrize("as_str", [False, True], ids=["bytes", "str"])  # the live client hands over str
def test_every_recorded_frame_agrees(inst_id, as_str):
    py, fast = pair(INSTRUMENTS[inst_id])
    books = errors = 0
    for _, raw in okx_frames():  # the whole capture: other channels, other instruments, acks
        data = raw if as_str else raw.encode()
        got, _ = agree(py, fast, data)
        books += isinstance(got, tuple) and len(got) > 2
        errors += isinstance(got, tuple) and len(got) == 2
        if f'"instId":"{inst_id}"' in raw and '"action"' in raw:
            checksum = orjson.loads(raw)["data"][0]["checksum"]
            assert took_compiled_path(fast, data, checksum), "a plain recorded books frame must take the compiled path"
    assert books > 90 and errors == 0
    assert fast.checksums_verified == books  # every 2022 checksum verified on the compiled path too


def _sequenced(inst_id: str = "BTC-USDT", n: int = 40) -> list[dict]:
    """Real frames with today's seqId/prevSeqId fields (the 2022 capture predates them)."""
    out = []
    for _, raw in okx_frames():
        m = orjson.loads(raw)
        if m.get("action") and m["arg"] == {"channel": "books", "instId": inst_id}:
            i = len(out)
            m["data"][0].update(seqId=1000 + 7 * i, prevSeqId=-1 if i == 0 else 1000 + 7 * (i - 1))
            out.append(m)
    return out[:n]


def test_rest_bootstrap_with_buffered_updates_agrees():
    fr = _sequenced()
    py, fast = pair(SPOT)
    for m in fr[3:20]:  # updates before any snapshot: buffered (as dicts) on both paths
        agree(py, fast, orjson.dumps(m))
    ws_book = OkxBook()
    for m in fr[:6]:
        ws_book.apply(m["data"][0]["bids"], m["data"][0]["asks"])
    bids, asks = ws_book.sorted_levels()
    d = fr[5]["data"][0]
    body = orjson.dumps({"data": [{"bids": bids, "asks": asks, "ts": d["ts"], "seqId": d["seqId"]}]})
    snaps = [a.on_bootstrap(body, 7) for a in (py, fast)]
    assert snap_key(snaps[0]) == snap_key(snaps[1]) and book_levels(py.book) == book_levels(fast.book)
    for m in fr[20:]:
        got, _ = agree(py, fast, orjson.dumps(m))
        assert got is not None and len(got) > 2
    assert py.checksums_verified == fast.checksums_verified == len(fr) - 20  # each update after the REST book


def test_every_truncation_and_single_byte_corruption_of_a_real_update_agrees():
    fr = _sequenced(n=2)
    py, fast = pair(SPOT)
    snapshot, update = orjson.dumps(fr[0]), orjson.dumps(fr[1])  # the capture's first two frames: checksum verifies

    def fresh() -> None:
        for a in (py, fast):
            a.reset()
        agree(py, fast, snapshot, full=False)

    fresh()
    applied = 0
    subs = (b'"', b",", b"]", b"[", b"}", b"{", b"0", b"9", b"-", b".", b"e", b" ", b"x", b"\\", b"\xff")
    corrupted = [update[:i] + subs[(i + k) % len(subs)] + update[i + 1 :] for i in range(len(update)) for k in (0, 7)]
    for raw in [update[:c] for c in range(len(update))] + corrupted + [update]:
        got, _ = agree(py, fast, raw, full=False)
        applied += got is not None and len(got) > 2
        if py.book is None or (got is not None and len(got) > 2):  # changed or resynced: start again
            fresh()
    assert applied > 1  # the frame itself, and corruptions that are still valid (a digit for a digit)


# ---- generated sequences -----------------------------------------------------------------------------------

BID_TICKS, ASK_TICKS = range(1, 31), range(31, 61)  # price = 100 + 0.5 * tick


def price_text(tick: int, style: int) -> str:
    """One price, several texts (float() gives the same key; the checksum sees the text)."""
    px = 100 + 0.5 * tick
    return [
        repr(px),
        f"{px:.2f}",
        f"0{px}",
        f"{px / 100!r}e2",
        f"{px:.40f}",
        str(int(px)) if px.is_integer() else repr(px),
    ][style]


SIZE_TEXT = st.one_of(
    st.decimals(min_value="0.00000001", max_value="5000", places=8, allow_nan=False).map(lambda d: format(d, "f")),
    st.sampled_from(
        ["1", "0.5", "2.50", "1e-3", "3E+2", "0.1234567890123456789012345", "7" * 25, "1." + "0" * 40 + "1"]
    ),
)
DELETE_TEXT = st.sampled_from(["0", "-0", "0.0", "0e5"])
CORRUPT_TEXT = st.sampled_from(
    ["nan", "NaN", "inf", "-inf", "Infinity", "-1", "abc", "", " 1.5", "1_0", "1e999", "0x10", "1,5", "١٢"]
)
CORRUPT_LEVEL = st.sampled_from(
    [["1"], [], "12", {"a": 1}, [1.5, "1"], ["101", 2], [None, "1"], ["101", "1", {"x": 1}]]
)


@st.composite
def level(draw: st.DrawFn, side: str, corrupt: bool) -> object:
    kind = draw(
        st.sampled_from(
            ["set"] * 6 + ["delete"] * 3 + ["cross"] + (["bad_px", "bad_sz", "bad_level"] if corrupt else [])
        )
    )
    ticks = BID_TICKS if side == "bids" else ASK_TICKS
    tick = draw(st.sampled_from(ticks))
    if kind == "cross":  # a bid among the asks or an ask among the bids
        tick = draw(st.sampled_from(ASK_TICKS if side == "bids" else BID_TICKS))
    px = price_text(tick, draw(st.integers(0, 5)))
    extra = draw(st.sampled_from([[], ["0", "3"], ["0", "1"]]))  # OKX's deprecated "0" and order count
    if kind == "delete":
        return [px, draw(DELETE_TEXT), *extra]
    if kind == "bad_px":
        return [draw(st.one_of(CORRUPT_TEXT, st.sampled_from(["0", "-101"]))), draw(SIZE_TEXT), *extra]
    if kind == "bad_sz":
        return [px, draw(st.one_of(CORRUPT_TEXT, st.sampled_from(["-1", "-0.5"]))), *extra]
    if kind == "bad_level":
        return draw(CORRUPT_LEVEL)
    return [px, draw(SIZE_TEXT), *extra]


def side_levels(draw: st.DrawFn, side: str, n: tuple[int, int], corrupt: bool) -> list:
    return draw(st.lists(level(side, corrupt), min_size=n[0], max_size=n[1]))


def true_checksum(a: OkxAdapter, bids: object, asks: object, snapshot: bool, then: dict | None = None) -> int:
    """The checksum OKX would send: the Python book after this message (and ``then``), 0 when it cannot apply."""
    book = OkxBook() if snapshot or a.book is None else OkxBook.from_levels(*book_levels(a.book))  # type: ignore[misc]
    try:
        book.apply(bids, asks)  # type: ignore[arg-type]
        if then is not None:
            book.apply(then["data"][0]["bids"], then["data"][0]["asks"])
    except CorruptUpdate:
        return 0
    bk, ak = book.top_prices(a.depth)
    return crc32_signed(checksum_string(*book.raw_top(bk, ak, CHECKSUM_LEVELS)))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # huge contract sizes x ctVal
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    data=st.data(),
    # the last two: sizes that overflow to inf or underflow to 0 in base units (the Python checks decide)
    inst=st.sampled_from(
        [SPOT, SWAP, INVERSE, dataclasses.replace(SWAP, ct_val=1e300), dataclasses.replace(SWAP, ct_val=1e-320)]
    ),
    depth=st.sampled_from([400, 400, 20, 3]),
    sequenced=st.booleans(),
)
def test_generated_update_sequences_agree(data, inst, depth, sequenced):
    py, fast = pair(inst, depth)
    seq = 0
    kinds: list[str] = []
    for _ in range(data.draw(st.integers(2, 30), label="messages")):
        snapshot = data.draw(st.integers(0, 9)) < (8 if py.book is None else 1)
        corrupt = data.draw(st.integers(0, 5)) == 0
        n = (5, 30) if snapshot else (0, 8)
        bids = side_levels(data.draw, "bids", n, corrupt)
        asks = side_levels(data.draw, "asks", n, corrupt)
        mode = data.draw(st.sampled_from(["true"] * 4 + ["zero"] * 2 + ["wrong", "absent"]))
        d: dict = {"asks": asks, "bids": bids, "ts": str(1652459225464 + seq)}
        if mode != "absent":
            d["checksum"] = {"true": true_checksum(py, bids, asks, snapshot), "zero": 0}.get(mode, 12345)
        if sequenced:
            step = data.draw(st.sampled_from(["next"] * 8 + ["gap", "heartbeat", "reset"]))
            prev = -1 if snapshot else seq + (3 if step == "gap" else 0)
            seq = {"heartbeat": seq, "reset": max(1, seq // 2)}.get(step, seq + data.draw(st.integers(1, 9)))
            d.update(seqId=seq, prevSeqId=prev)
        msg = {"arg": {"channel": "books", "instId": inst.symbol}, "action": "snapshot" if snapshot else "update"}
        msg["data"] = [d]
        raw: bytes | str = orjson.dumps(msg)
        form = data.draw(st.sampled_from(["bytes", "bytes", "str", "spaced"]))
        if form == "str":
            raw = raw.decode()
        elif form == "spaced":
            raw = json.dumps(msg, indent=1).encode()
        got, _ = agree(py, fast, raw)
        if not corrupt and got is not None and len(got) > 2 and inst in (SPOT, SWAP, INVERSE):
            # a clean message and a book the Python checks pass: the compiled path must have taken it
            assert took_compiled_path(fast, raw, d.get("checksum", 0))
        kinds.append("book" if got is not None and len(got) > 2 else "none" if got is None else got[0])
    for k in sorted(set(kinds)):
        event(k)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[]}',
        b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"partial","data":[{"asks":[],"bids":[]}]}',
        b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"bids":null}]}',
        b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"bids":{"101":"1"}}]}',
        b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"bids":[],"seqId":"9"}]}',
        b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"bids":[],"seqId":9.0}]}',
        b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"bids":[],"checksum":null}]}',
        b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"bids":[],"ts":1}],"x":1e999}',
        b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"bids":[]},{"bids":[]}]}',
        b'{"arg":{"channel":"books","instId":"BTC-USDT"},"arg":{"channel":"books"},"action":"update","data":[{}]}',
        b'{"arg":["books"],"action":"update","data":[{}]}',
        b'{"arg":{"channel":"books","instId":"BTC-\\u0055SDT"},"action":"update","data":[{"bids":[]}]}',
        b'{"arg":{"channel":"books5","instId":"BTC-USDT"},"action":"update","data":[{"bids":[]}]}',
        b'{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"}}',
        b'{"event":"error","code":"60018","msg":"no such instId"}',
        b"[1, 2]",
        b"pong",
        "pong",
    ],
)
def test_odd_messages_after_a_real_snapshot_agree(raw):
    fr = _sequenced(n=1)
    py, fast = pair(SPOT)
    agree(py, fast, orjson.dumps(fr[0]))
    agree(py, fast, raw)


def test_compiled_off_by_environment_gives_the_same_books():
    """TCS_NATIVE=0 (a fresh process): the Python path runs and reaches the compiled path's books."""
    code = (
        "import hashlib, orjson\n"
        "from core.feed import okx\n"
        "from tests.conftest import okx_frames\n"
        "from tests.parity.test_okx_book import SPOT, outcome\n"
        "a = okx.OkxAdapter(SPOT, 'ws://t')\n"
        "h = hashlib.sha256(repr([outcome(a, raw.encode()) for _, raw in okx_frames()]).encode())\n"
        "print(okx.NATIVE, a._scanner is None, h.hexdigest())\n"
    )
    env = dict(os.environ, TCS_NATIVE="0", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    native_flag, python_book, digest = out.stdout.split()
    assert (native_flag, python_book) == ("False", "True")
    a = OkxAdapter(SPOT, "ws://t")
    assert (a._scanner is not None) is okx.NATIVE
    assert digest == hashlib.sha256(repr([outcome(a, raw.encode()) for _, raw in okx_frames()]).encode()).hexdigest()


# ---- OKX-shaped streams on deep books (the compiled path merges a sorted side in one pass) --------------------


def tick_text(tick: int) -> str:
    """Bids use ticks below 3000, asks above: distinct ticks give distinct texts and prices."""
    return f"{100 + 0.01 * tick:.2f}"


def side_of(book: object, name: str) -> dict[int, str]:
    """``{tick: size text}`` of one side of an adapter's book (the Python book is the truth)."""
    if book is None:
        return {}
    levels = book_levels(book)[0 if name == "bids" else 1]  # type: ignore[index]
    return {round((px - 100) / 0.01): sz_s for px, _, sz_s, _ in levels}


def books_message(inst: Instrument, bids: list, asks: list, action: str, checksum: int, seq: int) -> bytes:
    d = {"asks": asks, "bids": bids, "ts": str(1652459225464 + seq), "checksum": checksum}
    d.update(seqId=seq, prevSeqId=-1 if action == "snapshot" else seq - 1)
    return orjson.dumps({"arg": {"channel": "books", "instId": inst.symbol}, "action": action, "data": [d]})


def send(py: OkxAdapter, fast: OkxAdapter, bids: list, asks: list, action: str, seq: int, checksum: str) -> tuple:
    """One message on both paths (``checksum``: true, zero or wrong); the outcome, and whether it was clean."""
    ck = true_checksum(py, bids, asks, action == "snapshot")
    raw = books_message(py.instrument, bids, asks, action, {"true": ck, "zero": 0}.get(checksum, ck ^ 0x5A5A), seq)
    got, _ = agree(py, fast, raw)
    if got is not None and len(got) > 2 and checksum != "wrong":
        assert took_compiled_path(fast, raw, ck if checksum == "true" else 0)
    return got


def best_first(levels: dict[int, str], name: str) -> list[list[str]]:
    return [[tick_text(t), levels[t], "0", "1"] for t in sorted(levels, reverse=name == "bids")]


def test_inserts_deletes_and_resizes_at_every_position_agree():
    py, fast = pair(SPOT)
    bids = {t: "1.5" for t in range(1000, 1100, 2)}  # 50 levels a side, even ticks
    asks = {t: "2.5" for t in range(4000, 4100, 2)}
    seq = 1
    got = send(py, fast, best_first(bids, "bids"), best_first(asks, "asks"), "snapshot", seq, "true")
    assert got is not None and len(got) > 2
    for k, gap in enumerate(range(-1, 101, 2)):  # every odd tick: each gap, below the worst and above the best
        seq += 1
        new_b = {1000 + gap: f"0.{k + 1}", 1098: f"{k}.25"}  # an insert and a resize of the best: two levels
        new_a = {4100 - gap: f"0.{k + 1}", 4000: f"{k}.75"}
        got = send(py, fast, best_first(new_b, "bids"), best_first(new_a, "asks"), "update", seq, "true")
        assert got is not None and len(got) > 2
    for k, t in enumerate(range(1000, 1098, 2)):  # delete each original level but the best, with a resize
        seq += 1
        new_b = {t: "0", 1098: f"{k}.5"}
        new_a = {5098 - t: "0", 4000: f"{k}.5"}  # the mirror position on the ask side
        got = send(py, fast, best_first(new_b, "bids"), best_first(new_a, "asks"), "update", seq, "true")
        assert got is not None and len(got) > 2
    assert len(side_of(py.book, "bids")) == len(side_of(py.book, "asks")) == 52  # 51 inserts + the best


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), inst=st.sampled_from([SPOT, SWAP, INVERSE]), depth=st.sampled_from([400, 400, 25, 4]))
def test_generated_okx_shaped_streams_on_deep_books_agree(data, inst, depth):
    """Snapshots of up to 400 levels a side, then updates as OKX sends them (each side best first, distinct
    prices): deletes, inserts anywhere (beyond the worst, inside, above the best), size changes, deletes of
    unknown prices; sometimes worst first, shuffled or with a repeated price (one level at a time), and faults:
    a crossing level, an invalid size (the whole message refused), a wrong checksum (resync), a zero one."""
    rnd = data.draw(st.randoms(use_true_random=False), label="rnd")
    py, fast = pair(inst, depth)
    seq, kinds = 0, []
    for _ in range(data.draw(st.integers(3, 25), label="messages")):
        seq += 1
        book = {name: side_of(py.book, name) for name in ("bids", "asks")}
        if py.book is None:
            n = rnd.choice([1, 2, 30, 399, 400])
            bids = best_first(
                {t: f"{rnd.randint(1, 99)}.{rnd.randint(0, 9)}" for t in rnd.sample(range(0, 2990), n)}, "bids"
            )
            asks = best_first(
                {t: f"{rnd.randint(1, 99)}.{rnd.randint(0, 9)}" for t in rnd.sample(range(3010, 6000), n)}, "asks"
            )
            got = send(py, fast, bids, asks, "snapshot", seq, rnd.choice(["true", "true", "zero", "wrong"]))
            kinds.append("snapshot" if got is not None and len(got) > 2 else str(got and got[0]))
            continue
        sides = {}
        for name, lo, hi in (("bids", 0, 2990), ("asks", 3010, 6000)):
            have = book[name]
            change: dict[int, str] = {}
            for _ in range(rnd.randint(0, 40)):
                op = rnd.choice(["delete", "insert", "insert", "resize", "unknown"])
                if op in ("delete", "resize") and have:
                    change[rnd.choice(list(have))] = (
                        "0" if op == "delete" else f"{rnd.randint(1, 500)}.{rnd.randint(0, 99)}"
                    )
                elif op == "insert":
                    change[rnd.randint(lo, hi)] = f"0.{rnd.randint(1, 99999):05d}"
                else:
                    change[rnd.randint(lo, hi)] = "0"
            levels = best_first(change, name)
            order = rnd.choice(["best"] * 6 + ["worst", "shuffled", "repeat"])
            if order == "worst":
                levels.reverse()
            elif order == "shuffled":
                rnd.shuffle(levels)
            elif order == "repeat" and levels:
                levels.insert(rnd.randrange(len(levels) + 1), [levels[0][0], "7.5", "0", "1"])
            sides[name] = levels
        fault = rnd.choice(["none"] * 7 + ["cross", "invalid", "wrong", "zero"])
        if fault == "cross":  # a bid at or above the best ask (or an ask at or below the best bid)
            name, other = rnd.choice([("bids", "asks"), ("asks", "bids")])
            edge = min(book["asks"]) if other == "asks" else max(book["bids"])
            sides[name].insert(0, [tick_text(edge + rnd.randint(0, 3) * (1 if name == "bids" else -1)), "1.5"])
        elif fault == "invalid":
            name = rnd.choice(["bids", "asks"])
            bad = [
                tick_text(rnd.randint(0, 2990) if name == "bids" else rnd.randint(3010, 6000)),
                rnd.choice(["nan", "-1", "inf"]),
            ]
            sides[name].insert(rnd.randrange(len(sides[name]) + 1), bad)
        checksum = fault if fault in ("wrong", "zero") else "true"
        got = send(py, fast, sides["bids"], sides["asks"], "update", seq, checksum)
        kinds.append("book" if got is not None and len(got) > 2 else "none" if got is None else got[0])
    for k in sorted(set(kinds)):
        event(k)
