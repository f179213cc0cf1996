# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled twin of the OKX ``books`` path (``core/feed/okx.py``): message -> maintained book -> snapshot arrays.

Why: the Python path parses each update with orjson, applies it to two dicts, re-sorts about 400 prices a side
and joins 100 strings for the CRC32 on every message, about 36x the JSON parse alone. Here one pass over the
bytes parses and validates the changed levels (the same ``float()`` values as ``_goquant.pyx``), each side is a
sorted C array (a side that arrives sorted, as OKX sends it, is merged in one pass that copies the untouched runs
whole; anything else is set level by level: binary search, insert, replace, or delete on size 0), and the
checksum text, the base-unit sizes and the cumulative depth (one pass a side) are read off the top.

Contract (as ``_goquant.pyx``): this module never decides an error. ``UpdateScanner.scan`` returns None for
anything but the plain, valid message, and ``Ladders.snapshot`` returns None wherever a check of the Python path
would fail (checksum, an empty or crossed side, a size that is not a positive finite base amount). The adapter
then takes the Python path on the same message or the same levels, which raises the countable error or
builds the same book.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy, memmove
from libc.math cimport isfinite

cimport numpy as cnp

from core.feed._parsing cimport (_array, _digit_value, _frozen, _item, _key_is, _level_pair, _member, _plain_scalar,
                                 _snapshot, _snapshot_slots, _ws)

import zlib

from core.market.book import BookSnapshot

cnp.import_array()

cdef tuple _SLOTS = _snapshot_slots(BookSnapshot)

cdef int _reserve(void **buf, Py_ssize_t *cap, Py_ssize_t n, size_t item) except -1:
    """Room for item ``n`` in ``*buf`` (capacity ``*cap`` items, doubled from 64 until it fits)."""
    cdef Py_ssize_t c
    cdef void *b
    if n < cap[0]:
        return 0
    c = 64 if cap[0] == 0 else 2 * cap[0]
    while c <= n:
        c *= 2
    b = realloc(buf[0], c * item)
    if b == NULL:
        raise MemoryError()
    buf[0] = b
    cap[0] = c
    return 0


cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object s, Py_ssize_t *size) except NULL
    object PyUnicode_DecodeUTF8(const char *s, Py_ssize_t size, const char *errors)

cdef object _crc32 = zlib.crc32  # the function the Python path calls, over the same bytes

cdef enum:
    TXT_INLINE = 40  # price + size text bytes kept inside the level's slot; longer ones go to the heap
    MAX_INT_DIGITS = 18  # seqId, ts, checksum: longer integers are the Python path's (int() is unbounded)


# ---- one message's bytes -> its fields and validated levels -------------------------------------------------

cdef struct Pend:
    double px
    double sz
    Py_ssize_t pa  # price text offset in the message and its length
    Py_ssize_t pl
    Py_ssize_t sa  # size text offset and length
    Py_ssize_t sl


cdef struct PendSide:
    Pend *v
    Py_ssize_t n
    Py_ssize_t cap
    bint seen


cdef Py_ssize_t _int_literal(const unsigned char *p, Py_ssize_t i, Py_ssize_t end, long long *out) noexcept nogil:
    """A JSON integer (no fraction or exponent, at most 18 digits) at ``i``: end index, or -1."""
    cdef Py_ssize_t j = i, d
    cdef unsigned long long v = 0
    cdef bint neg = False
    if j < end and p[j] == 45:
        neg = True
        j += 1
    d = j
    j = _digit_value(p, d, end, &v)
    if j == d or j - d > MAX_INT_DIGITS or (p[d] == 48 and j > d + 1):
        return -1  # no digits, too many, or a leading zero (not JSON)
    if j < end and (p[j] == 46 or p[j] == 101 or p[j] == 69):
        return -1  # int() of a float truncates: the Python path's call
    out[0] = -<long long> v if neg else <long long> v
    return j


cdef Py_ssize_t _digit_string(const unsigned char *p, Py_ssize_t i, Py_ssize_t end, long long *out) noexcept nogil:
    """``"digits"`` (1 to 18 ASCII digits, as OKX sends ``ts``) at ``i``: end index, or -1."""
    cdef Py_ssize_t j
    cdef unsigned long long v = 0
    if i >= end or p[i] != 34:
        return -1
    j = _digit_value(p, i + 1, end, &v)
    if j == i + 1 or j - i - 1 > MAX_INT_DIGITS or j >= end or p[j] != 34:
        return -1
    out[0] = <long long> v
    return j + 1


cdef int _push(PendSide *s, double px, double sz, Py_ssize_t pa, Py_ssize_t pl, Py_ssize_t sa, Py_ssize_t sl) except -1:
    cdef Pend *v
    _reserve(<void **> &s.v, &s.cap, s.n, sizeof(Pend))
    v = &s.v[s.n]
    v.px, v.sz, v.pa, v.pl, v.sa, v.sl = px, sz, pa, pl, sa, sl
    s.n += 1
    return 0


cdef Py_ssize_t _levels(const unsigned char *p, Py_ssize_t i, Py_ssize_t end, PendSide *s) except -2:
    """``[["px","sz",…], …]`` at ``i``, every level valid by ``OkxBook._parse``'s rules: end index, or -1."""
    cdef double px, sz
    cdef Py_ssize_t ja, jb
    cdef Py_ssize_t span[4]
    cdef bint first = True
    if s.seen:
        return -1
    s.seen = True
    while _item(p, &i, end, &first):
        if _level_pair(p, &i, end, &px, &sz, span) < 0:
            return -1
        if not (isfinite(px) and isfinite(sz)) or px <= 0 or sz < 0:
            return -1  # the Python path raises CorruptUpdate naming this level
        _push(s, px, sz, span[0], span[1] - span[0], span[2], span[3] - span[2])
        while i < end and p[i] == 44:  # OKX's deprecated "0" and the order count: read, not used
            i = _plain_scalar(p, _ws(p, i + 1, end), end, &ja, &jb)
            if i < 0:
                return -1
            i = _ws(p, i, end)
        if i >= end or p[i] != 93:
            return -1
        i += 1
    return i


cdef class UpdateScanner:
    """Reads one ``books`` message for one ``channel`` and ``inst_id``; the levels wait here for ``apply_scanned``."""

    cdef PendSide bids
    cdef PendSide asks
    cdef object raw  # the message the pending texts point into
    cdef const unsigned char *p
    cdef bytes channel
    cdef bytes inst_id
    # data[0]'s fields: has seqId, seqId, prevSeqId (-1 when absent), ts, checksum (0 when absent)
    cdef bint has_seq
    cdef long long seq, prev, ts, checksum

    def __init__(self, str channel, str inst_id):
        self.channel = channel.encode()
        self.inst_id = inst_id.encode()

    def __dealloc__(self):
        free(self.bids.v)
        free(self.asks.v)

    def scan(self, raw):
        """``(is_snapshot, has_seq, seq, prev, ts_ms, checksum)`` of a plain valid message for this instrument,
        ``()`` for a valid message of another channel or instrument, None for anything else (Python decides)."""
        cdef Py_ssize_t end
        cdef const unsigned char *p
        if type(raw) is bytes:
            p = <const unsigned char *> PyBytes_AS_STRING(raw)
            end = len(<bytes> raw)
        elif type(raw) is str:
            try:
                p = <const unsigned char *> PyUnicode_AsUTF8AndSize(raw, &end)  # ASCII: the str's own buffer
            except UnicodeError:
                return None
        else:
            return None
        self.raw = raw
        self.p = p
        self.bids.n = self.asks.n = 0
        self.bids.seen = self.asks.seen = False
        self.has_seq = False
        self.seq, self.prev, self.ts, self.checksum = 0, -1, 0, 0
        return self._message(p, end)

    cdef object _message(self, const unsigned char *p, Py_ssize_t end):
        cdef Py_ssize_t i = _ws(p, 0, end), ka, kb, sa, sb
        cdef int action = -1  # 0 update, 1 snapshot
        cdef bint seen_arg = False, seen_action = False, seen_data = False, match = False, first = True
        while _member(p, &i, end, &first, &ka, &kb):
            if _key_is(p, ka, kb, b"arg"):
                if seen_arg:
                    return None
                seen_arg = True
                i = self._arg(p, i, end, &match)
            elif _key_is(p, ka, kb, b"action"):
                if seen_action:
                    return None
                seen_action = True
                i = _plain_scalar(p, i, end, &sa, &sb)
                if i >= 0 and sa >= 0 and _key_is(p, sa, sb, b"update"):
                    action = 0
                elif i >= 0 and sa >= 0 and _key_is(p, sa, sb, b"snapshot"):
                    action = 1
                else:
                    return None
            elif _key_is(p, ka, kb, b"data"):
                if seen_data:
                    return None
                seen_data = True
                i = self._data(p, i, end)
            elif _key_is(p, ka, kb, b"event"):
                return None  # subscribe acks, notices, errors: the Python path
            else:
                i = _plain_scalar(p, i, end, &sa, &sb)
        if i < 0 or _ws(p, i, end) != end:
            return None
        if not match:
            return ()  # another channel or instrument (or no arg): the Python path ignores it too
        if not seen_data or action < 0:
            return None
        return (action == 1, self.has_seq, self.seq, self.prev, self.ts, self.checksum)

    cdef Py_ssize_t _arg(self, const unsigned char *p, Py_ssize_t i, Py_ssize_t end, bint *match) except -2:
        """``{"channel": …, "instId": …}``: sets ``match`` when both are this scanner's; end index or -1."""
        cdef Py_ssize_t ka, kb, sa, sb
        cdef bint channel = False, inst = False, seen_channel = False, seen_inst = False, first = True
        while _member(p, &i, end, &first, &ka, &kb):
            i = _plain_scalar(p, i, end, &sa, &sb)
            if i < 0:
                return -1
            if _key_is(p, ka, kb, b"channel"):
                if seen_channel:
                    return -1
                seen_channel = True
                channel = sa >= 0 and _key_is(p, sa, sb, self.channel)
            elif _key_is(p, ka, kb, b"instId"):
                if seen_inst:
                    return -1
                seen_inst = True
                inst = sa >= 0 and _key_is(p, sa, sb, self.inst_id)
        match[0] = channel and inst
        return i

    cdef Py_ssize_t _data(self, const unsigned char *p, Py_ssize_t i, Py_ssize_t end) except -2:
        """``[{…}]`` with exactly one object (the Python path reads ``data[0]``): end index or -1."""
        if i >= end or p[i] != 91:
            return -1
        i = _ws(p, i + 1, end)
        i = self._fields(p, i, end)
        if i < 0:
            return -1
        i = _ws(p, i, end)
        if i >= end or p[i] != 93:
            return -1
        return i + 1

    cdef Py_ssize_t _fields(self, const unsigned char *p, Py_ssize_t i, Py_ssize_t end) except -2:
        cdef Py_ssize_t ka, kb, sa, sb
        cdef bint seen_ts = False, seen_ck = False, seen_prev = False, first = True
        while _member(p, &i, end, &first, &ka, &kb):
            if _key_is(p, ka, kb, b"asks"):
                i = _levels(p, i, end, &self.asks)
            elif _key_is(p, ka, kb, b"bids"):
                i = _levels(p, i, end, &self.bids)
            elif _key_is(p, ka, kb, b"ts"):
                if seen_ts:
                    return -1
                seen_ts = True
                if i < end and p[i] == 34:
                    i = _digit_string(p, i, end, &self.ts)
                else:
                    i = _int_literal(p, i, end, &self.ts)
            elif _key_is(p, ka, kb, b"checksum"):
                if seen_ck:
                    return -1
                seen_ck = True
                i = _int_literal(p, i, end, &self.checksum)
            elif _key_is(p, ka, kb, b"seqId"):
                if self.has_seq:
                    return -1
                self.has_seq = True
                i = _int_literal(p, i, end, &self.seq)
            elif _key_is(p, ka, kb, b"prevSeqId"):
                if seen_prev:
                    return -1
                seen_prev = True
                i = _int_literal(p, i, end, &self.prev)
            else:
                i = _plain_scalar(p, i, end, &sa, &sb)
        return i


# ---- the maintained book --------------------------------------------------------------------------------

cdef struct Txt:
    char *heap  # NULL: the text is in buf
    Py_ssize_t plen  # price text bytes, then the size text
    Py_ssize_t slen
    char buf[TXT_INLINE]


cdef struct Lvl:
    double px
    double sz
    Py_ssize_t txt  # index into the side's text pool


cdef struct Side:
    Lvl *lv  # sorted by sign * px ascending: the best level is the last (most updates touch the top)
    Py_ssize_t n
    Py_ssize_t cap
    Lvl *spare  # the buffer ``_merge`` writes the next ladder into (then swapped with ``lv``)
    Py_ssize_t spare_cap
    Txt *pool
    Py_ssize_t pool_n
    Py_ssize_t pool_cap
    Py_ssize_t *free_slots
    Py_ssize_t free_cap
    Py_ssize_t nfree
    double sign  # +1 bids, -1 asks


cdef inline char *_text(Txt *t) noexcept nogil:
    return t.heap if t.heap != NULL else t.buf


cdef int _text_set(Txt *t, const char *ps, Py_ssize_t pl, const char *ss, Py_ssize_t sl) except -1:
    cdef char *dst
    if pl + sl <= TXT_INLINE:
        if t.heap != NULL:
            free(t.heap)
            t.heap = NULL
        dst = t.buf
    else:
        dst = <char *> realloc(t.heap, pl + sl)
        if dst == NULL:
            raise MemoryError()
        t.heap = dst
    memcpy(dst, ps, pl)
    memcpy(dst + pl, ss, sl)
    t.plen = pl
    t.slen = sl
    return 0


cdef Py_ssize_t _slot(Side *s) except -1:
    """A free text slot (its heap pointer NULL)."""
    if s.nfree:
        s.nfree -= 1
        return s.free_slots[s.nfree]
    _reserve(<void **> &s.pool, &s.pool_cap, s.pool_n, sizeof(Txt))
    _reserve(<void **> &s.free_slots, &s.free_cap, s.pool_n, sizeof(Py_ssize_t))  # every slot may be freed
    s.pool[s.pool_n].heap = NULL
    s.pool_n += 1
    return s.pool_n - 1


cdef void _release(Side *s, Py_ssize_t k) noexcept nogil:
    if s.pool[k].heap != NULL:
        free(s.pool[k].heap)
        s.pool[k].heap = NULL
    s.free_slots[s.nfree] = k
    s.nfree += 1


cdef inline Py_ssize_t _find(Side *s, double key) noexcept nogil:
    """The first index whose ``sign * px`` is >= ``key``."""
    cdef Py_ssize_t lo = 0, hi = s.n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if s.sign * s.lv[mid].px < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef int _set(Side *s, double px, double sz, const char *ps, Py_ssize_t pl, const char *ss, Py_ssize_t sl) except -1:
    """``OkxBook.apply`` for one validated level: size 0 deletes (an unknown price is harmless), else set."""
    cdef Py_ssize_t i = _find(s, s.sign * px), slot
    cdef bint found = i < s.n and s.lv[i].px == px
    if sz == 0.0:
        if found:
            _release(s, s.lv[i].txt)
            memmove(&s.lv[i], &s.lv[i + 1], (s.n - i - 1) * sizeof(Lvl))
            s.n -= 1
        return 0
    if not found:
        _reserve(<void **> &s.lv, &s.cap, s.n, sizeof(Lvl))
        slot = _slot(s)
        memmove(&s.lv[i + 1], &s.lv[i], (s.n - i) * sizeof(Lvl))
        s.lv[i].px = px
        s.lv[i].txt = slot
        s.n += 1
    s.lv[i].sz = sz
    return _text_set(&s.pool[s.lv[i].txt], ps, pl, ss, sl)


cdef int _merge(Side *s, Pend *v, Py_ssize_t m, bint reverse, const char *p) except -1:
    """``_set`` of the ``m`` levels in ``v``, whose keys (``sign * px``) strictly increase when read forward, or
    backward with ``reverse`` (OKX sends each side best first): one pass over the ladder into the spare buffer,
    copying the untouched runs whole, where ``_set`` would search and shift once per level. Distinct prices in
    key order: applying them in any order gives this ladder."""
    cdef Py_ssize_t j = 0, j0, o = 0, k, n = s.n
    cdef Lvl *old
    cdef Lvl *out
    cdef Pend *u
    cdef double key, sign = s.sign
    cdef bint found
    _reserve(<void **> &s.spare, &s.spare_cap, n + m, sizeof(Lvl))
    old, out = s.lv, s.spare
    for k in range(m):
        u = &v[m - 1 - k] if reverse else &v[k]
        key = sign * u.px
        j0 = j
        while j < n and sign * old[j].px < key:
            j += 1
        if j > j0:
            memcpy(&out[o], &old[j0], (j - j0) * sizeof(Lvl))
            o += j - j0
        found = j < n and old[j].px == u.px
        if u.sz == 0.0:
            if found:
                _release(s, old[j].txt)
                j += 1
            continue
        if found:
            out[o] = old[j]
            j += 1
        else:
            out[o].px = u.px
            out[o].txt = _slot(s)
        out[o].sz = u.sz
        _text_set(&s.pool[out[o].txt], p + u.pa, u.pl, p + u.sa, u.sl)
        o += 1
    if j < n:
        memcpy(&out[o], &old[j], (n - j) * sizeof(Lvl))
        o += n - j
    s.lv, s.spare = out, old
    k = s.cap
    s.cap, s.spare_cap = s.spare_cap, k
    s.n = o
    return 0


cdef int _apply_pending(Side *s, PendSide *ps, const char *p) except -1:
    """The levels one scan validated for this side, in message order: merged in one pass when their prices
    are distinct and sorted (as OKX sends them), else one ``_set`` each, as ``OkxBook.apply`` does."""
    cdef Pend *v = ps.v
    cdef Py_ssize_t m = ps.n, k
    cdef bint up = True, down = True
    cdef double sign = s.sign
    for k in range(1, m):
        if not (sign * v[k - 1].px < sign * v[k].px):
            up = False
        if not (sign * v[k - 1].px > sign * v[k].px):
            down = False
    if m > 1 and (up or down):
        return _merge(s, v, m, down, p)
    for k in range(m):
        _set(s, v[k].px, v[k].sz, p + v[k].pa, v[k].pl, p + v[k].sa, v[k].sl)
    return 0


cdef void _free_side(Side *s) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(s.pool_n):
        if s.pool[k].heap != NULL:
            free(s.pool[k].heap)
    free(s.pool)
    free(s.free_slots)
    free(s.lv)
    free(s.spare)


cdef Py_ssize_t _checksum_part(Side *s, Py_ssize_t k, char *out) noexcept nogil:
    """Writes ``px:sz`` of the k-th best level to ``out`` (when not NULL); its length."""
    cdef Txt *t = &s.pool[s.lv[s.n - 1 - k].txt]
    if out != NULL:
        memcpy(out, _text(t), t.plen)
        out[t.plen] = 58
        memcpy(out + t.plen + 1, _text(t) + t.plen, t.slen)
    return t.plen + 1 + t.slen


cdef bytes _checksum_text(Side *b, Py_ssize_t nb, Side *a, Py_ssize_t na, Py_ssize_t levels):
    """``bid1px:bid1sz:ask1px:ask1sz:…`` over the top ``levels`` (``core.feed.okx.checksum_string``)."""
    cdef Py_ssize_t kb = min(nb, levels), ka = min(na, levels), k, total = 0, parts = kb + ka
    cdef char *out
    for k in range(kb):
        total += _checksum_part(b, k, NULL)
    for k in range(ka):
        total += _checksum_part(a, k, NULL)
    if parts > 1:
        total += parts - 1
    cdef bytes text = PyBytes_FromStringAndSize(NULL, total)
    out = PyBytes_AS_STRING(text)
    for k in range(max(kb, ka)):
        if k < kb:
            out += _checksum_part(b, k, out)
            parts -= 1
            if parts:
                out[0] = 58
                out += 1
        if k < ka:
            out += _checksum_part(a, k, out)
            parts -= 1
            if parts:
                out[0] = 58
                out += 1
    return text


cdef object _side_arrays(Side *s, Py_ssize_t m, int unit, double ct_val):
    """The top ``m`` levels best first with sizes in base units and their running sums (``_with_depth``'s
    arrays and order of additions, in the same pass), or None where a size is not positive finite."""
    cdef cnp.ndarray px = _array(NULL, m), sz = _array(NULL, m), cb = _array(NULL, m), cq = _array(NULL, m)
    cdef double *pp = <double *> cnp.PyArray_DATA(px)
    cdef double *sp = <double *> cnp.PyArray_DATA(sz)
    cdef double *bp = <double *> cnp.PyArray_DATA(cb)
    cdef double *qp = <double *> cnp.PyArray_DATA(cq)
    cdef Py_ssize_t k
    cdef Lvl *lv = &s.lv[s.n - 1]
    cdef double x, accb = 0.0, accq = 0.0
    if unit == 0:  # base units: every kept size is already positive and finite (size 0 deletes)
        for k in range(m):
            pp[k] = lv.px
            sp[k] = lv.sz
            accb = accb + lv.sz
            accq = accq + lv.px * lv.sz
            bp[k] = accb
            qp[k] = accq
            lv -= 1
        return _frozen(px, sz, cb, cq)
    for k in range(m):
        x = lv.sz * ct_val
        if unit == 2:
            x = x / lv.px
        if not (isfinite(x) and x > 0):
            return None  # the Python validator drops or rejects it: its call
        pp[k] = lv.px
        sp[k] = x
        accb = accb + x
        accq = accq + lv.px * x
        bp[k] = accb
        qp[k] = accq
        lv -= 1
    return _frozen(px, sz, cb, cq)


cdef list _raw_levels(Side *s, Py_ssize_t m, bint full):
    """Best first: ``(px_s, sz_s)``, or with ``full`` ``(px, px_s, sz_s, sz)`` as ``OkxBook._parse`` gives."""
    cdef list out = []
    cdef Py_ssize_t k
    cdef Lvl *lv
    cdef Txt *t
    for k in range(m):
        lv = &s.lv[s.n - 1 - k]
        t = &s.pool[lv.txt]
        px_s = PyUnicode_DecodeUTF8(_text(t), t.plen, NULL)
        sz_s = PyUnicode_DecodeUTF8(_text(t) + t.plen, t.slen, NULL)
        out.append((lv.px, px_s, sz_s, lv.sz) if full else (px_s, sz_s))
    return out


cdef class Ladders:
    """The maintained book of one instrument, the compiled twin of ``core.feed.okx.OkxBook``.

    ``parse`` is ``OkxBook._parse``: levels that arrive as Python lists (REST bootstrap, buffered updates,
    any message the scanner declines) are validated by the Python path itself before any is applied.
    """

    cdef Side bids
    cdef Side asks
    cdef object parse
    # the snapshot ``book`` builds: depth, checksum levels, size unit, and the instrument's names
    cdef Py_ssize_t depth, checksum_levels
    cdef int unit
    cdef double ct_val
    cdef object exchange, symbol, source

    def __cinit__(self):
        self.bids.sign = 1.0
        self.asks.sign = -1.0

    def __init__(self, parse, Py_ssize_t depth=400, Py_ssize_t checksum_levels=25, int unit=0, double ct_val=1.0,
                 str exchange="", str symbol="", str source=""):
        self.parse = parse
        self.depth, self.checksum_levels, self.unit, self.ct_val = depth, checksum_levels, unit, ct_val
        self.exchange, self.symbol, self.source = exchange, symbol, source

    def __dealloc__(self):
        _free_side(&self.bids)
        _free_side(&self.asks)

    cdef int _apply_parsed(self, Side *s, list levels) except -1:
        cdef const char *ps
        cdef const char *ss
        cdef Py_ssize_t pl, sl
        for px, px_s, sz_s, sz in levels:
            ps = PyUnicode_AsUTF8AndSize(px_s, &pl)  # the bytes str.encode() gives the checksum
            ss = PyUnicode_AsUTF8AndSize(sz_s, &sl)
            _set(s, px, sz, ps, pl, ss, sl)
        return 0

    def apply(self, bids, asks):
        """As ``OkxBook.apply``: both sides validated first, so a bad message never half-changes the book."""
        parsed_bids, parsed_asks = self.parse(bids), self.parse(asks)
        self._apply_parsed(&self.bids, parsed_bids)
        self._apply_parsed(&self.asks, parsed_asks)

    def apply_scanned(self, UpdateScanner scanned):
        """The levels ``scanned`` validated in its last ``scan`` (bids, then asks, each in message order)."""
        cdef const char *p = <const char *> scanned.p
        _apply_pending(&self.bids, &scanned.bids, p)
        _apply_pending(&self.asks, &scanned.asks, p)

    def update(self, UpdateScanner scanned, checksum, ts_ms, recv_ns, seq):
        """``apply_scanned`` then ``book``: one call a message on the compiled path (None: a check failed)."""
        _apply_pending(&self.bids, &scanned.bids, <const char *> scanned.p)
        _apply_pending(&self.asks, &scanned.asks, <const char *> scanned.p)
        return self._book(checksum, ts_ms, recv_ns, seq)

    def book(self, checksum, ts_ms, recv_ns, seq):
        """The ``BookSnapshot`` of the top ``depth`` levels (received at ``recv_ns``, numbered ``seq``), or None
        where a check of ``snapshot`` fails (the Python path then names it)."""
        return self._book(checksum, ts_ms, recv_ns, seq)

    cdef object _book(self, checksum, ts_ms, recv_ns, seq):
        out = self._arrays(self.depth, checksum, self.checksum_levels, self.unit, self.ct_val)
        if out is None:
            return None
        return _snapshot(BookSnapshot, _SLOTS, self.exchange, self.symbol, self.source, out[0], out[1], ts_ms,
                         recv_ns, seq)

    def snapshot(self, Py_ssize_t depth, checksum, Py_ssize_t checksum_levels, int unit, double ct_val):
        """``((px, sz, cum_base, cum_quote) bids, (…) asks)`` over the top ``depth``, or None where a check fails.

        ``checksum`` (when non-zero) is compared with the CRC32 of the top ``checksum_levels``; ``unit``: 0 sizes
        in base, 1 linear contracts (x ``ct_val``), 2 inverse (x ``ct_val`` / price).
        """
        return self._arrays(depth, checksum, checksum_levels, unit, ct_val)

    cdef object _arrays(self, Py_ssize_t depth, object checksum, Py_ssize_t checksum_levels, int unit,
                        double ct_val):
        cdef Py_ssize_t nb = min(depth, self.bids.n), na = min(depth, self.asks.n)
        cdef long long crc
        if checksum != 0:
            crc = _crc32(_checksum_text(&self.bids, nb, &self.asks, na, checksum_levels))
            if (crc - 4294967296LL if crc >= 2147483648LL else crc) != checksum:
                return None
        if nb <= 0 or na <= 0 or self.bids.lv[self.bids.n - 1].px >= self.asks.lv[self.asks.n - 1].px:
            return None
        b = _side_arrays(&self.bids, nb, unit, ct_val)
        if b is None:
            return None
        a = _side_arrays(&self.asks, na, unit, ct_val)
        if a is None:
            return None
        return b, a

    def sorted_levels(self, depth=None):
        """Raw ``(price, size)`` strings, best first (checksum and recordings), as ``OkxBook.sorted_levels``."""
        nb, na = self.bids.n, self.asks.n
        if depth is not None:
            nb, na = min(nb, depth), min(na, depth)
        return _raw_levels(&self.bids, nb, False), _raw_levels(&self.asks, na, False)

    def levels(self):
        """Every level, best first, as ``(px, px_s, sz_s, sz)``: what the Python path rebuilds an OkxBook from."""
        return _raw_levels(&self.bids, self.bids.n, True), _raw_levels(&self.asks, self.asks.n, True)
