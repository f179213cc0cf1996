# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled fast path for a GoQuant full snapshot: bytes -> the validated ``BookSnapshot`` with cumulative depth.

Why: CPython's ``float()`` over 800 level strings plus the numpy calls that validate them cost about four
times the JSON parse itself; one C pass over the bytes does parse, unit conversion, validation and the
cumulative sums together, and the snapshot is built here too (on a 50-level book its ``__init__`` and the
Python around it cost as much as the parse).

Contract: ``GoQuantBooks.snapshot`` returns the snapshot the Python path builds, the same floats
(``PyOS_string_to_double`` is what ``float()`` calls), or ``None``. ``None`` means "not the plain, valid
case": any JSON it does not fully recognise (escapes, non-ASCII, nested values, unquoted levels), any number
it does not accept, and any book the Python validator would reject or alter (zero sizes, unsorted, crossed,
empty), a symbol of another instrument or a timestamp ``parse_timestamp_ms`` refuses. The caller then takes
the Python path, which gives the exact result or the countable ``ParseError``; so this module never
decides an error and never needs its own error messages.
"""

from libc.stdlib cimport realloc, free
from libc.math cimport isfinite

cimport numpy as cnp

from core.feed._parsing cimport (_array, _item, _key_is, _level_pair, _member, _plain_scalar, _snapshot,
                                 _snapshot_slots, _with_depth, _ws)

from core.market.book import BookSnapshot

cnp.import_array()

cdef tuple _SLOTS = _snapshot_slots(BookSnapshot)


cdef struct Side:
    double *px
    double *sz
    Py_ssize_t n
    Py_ssize_t cap
    bint seen


cdef int _grow(Side *s) except -1:
    cdef Py_ssize_t cap = 64 if s.cap == 0 else 2 * s.cap
    cdef double *px = <double *> realloc(s.px, cap * sizeof(double))
    if px == NULL:
        raise MemoryError()
    s.px = px
    cdef double *sz = <double *> realloc(s.sz, cap * sizeof(double))
    if sz == NULL:
        raise MemoryError()
    s.sz = sz
    s.cap = cap
    return 0


cdef int _levels(const unsigned char *p, Py_ssize_t *pi, Py_ssize_t end, Side *s) except -2:
    """``[["px","sz"], ...]`` at ``*pi`` into ``s``; 0 on success, -1 if not the fast case."""
    cdef Py_ssize_t i = pi[0]
    cdef Py_ssize_t span[4]
    cdef double px, sz
    cdef bint first = True
    if s.seen:
        return -1
    s.seen = True
    while _item(p, &i, end, &first):
        if _level_pair(p, &i, end, &px, &sz, span) < 0 or i >= end or p[i] != 93:
            return -1
        if s.n == s.cap:
            _grow(s)
        s.px[s.n] = px
        s.sz[s.n] = sz
        s.n += 1
        i += 1
    pi[0] = i
    return 0 if i >= 0 else -1


cdef bint _ladder_ok(Side *s, bint descending, int unit, double ct_val) noexcept nogil:
    """Convert venue sizes to base and accept only a ladder the Python validator would keep unchanged."""
    cdef Py_ssize_t k
    cdef double px, sz
    if s.n == 0:
        return False
    for k in range(s.n):
        px = s.px[k]
        sz = s.sz[k]
        if unit == 1:
            sz = sz * ct_val
        elif unit == 2:
            sz = sz * ct_val / px
        s.sz[k] = sz
        if not (isfinite(px) and isfinite(sz) and px > 0 and sz > 0):
            return False
        if k > 0:
            if descending:
                if not (px < s.px[k - 1]):
                    return False
            elif not (px > s.px[k - 1]):
                return False
    return True


cdef tuple _cumulative(Side *s):
    """``(px, sz, cum_base, cum_quote)`` of a side, read-only."""
    return _with_depth(_array(s.px, s.n), _array(s.sz, s.n))


cdef long long _days_from_civil(long long y, unsigned m, unsigned d) noexcept nogil:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    cdef long long era = (y if y >= 0 else y - 399) // 400
    cdef unsigned yoe = <unsigned> (y - era * 400)
    cdef unsigned doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    cdef unsigned doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


cdef inline int _digits(const unsigned char *p, Py_ssize_t a, Py_ssize_t n) noexcept nogil:
    cdef int v = 0
    cdef Py_ssize_t i
    for i in range(a, a + n):
        if not (48 <= p[i] <= 57):
            return -1
        v = v * 10 + (p[i] - 48)
    return v


cdef object _iso_ms(const unsigned char *p, Py_ssize_t a, Py_ssize_t b):
    """``YYYY-MM-DDTHH:MM:SS[.f{1,3}]Z`` -> epoch ms, or None for any other form (the Python path parses it)."""
    cdef Py_ssize_t n = b - a, i
    cdef int y, mo, d, h, mi, sec, frac = 0, k
    cdef int[13] mdays = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    if n < 20 or n > 24 or p[b - 1] != 90 or p[a + 4] != 45 or p[a + 7] != 45 or p[a + 10] != 84 \
            or p[a + 13] != 58 or p[a + 16] != 58:
        return None
    y, mo, d = _digits(p, a, 4), _digits(p, a + 5, 2), _digits(p, a + 8, 2)
    h, mi, sec = _digits(p, a + 11, 2), _digits(p, a + 14, 2), _digits(p, a + 17, 2)
    if y < 1 or mo < 1 or mo > 12 or d < 1 or d > mdays[mo] or h < 0 or h > 23 or mi < 0 or mi > 59 or sec < 0 or sec > 59:
        return None
    if mo == 2 and d == 29 and not (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)):
        return None
    if n > 20:
        if p[a + 19] != 46 or n == 21:
            return None
        k = _digits(p, a + 20, n - 21)
        if k < 0:
            return None
        frac = k
        for i in range(n - 21, 3):
            frac *= 10
    return ((_days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + sec * 1000 + frac


cdef int _read(const unsigned char *p, Py_ssize_t end, int unit, double ct_val, Side *bids, Side *asks,
               Py_ssize_t *span) except -2:
    """One message into ``bids``/``asks``, validated as ``_ladder_ok`` and not crossed: 0, or -1 outside the fast
    case. ``span[0:2]`` is the timestamp's text and ``span[2:4]`` the symbol's (-1: absent)."""
    cdef Py_ssize_t i = _ws(p, 0, end), ka, kb, sa, sb, j
    cdef int k
    cdef bint first = True
    span[0] = span[1] = span[2] = span[3] = -1
    while _member(p, &i, end, &first, &ka, &kb):
        if _key_is(p, ka, kb, b"asks"):
            if _levels(p, &i, end, asks) < 0:
                return -1
        elif _key_is(p, ka, kb, b"bids"):
            if _levels(p, &i, end, bids) < 0:
                return -1
        else:
            j = _plain_scalar(p, i, end, &sa, &sb)  # a number overflowing to inf: malformed_json there
            if j < 0:
                return -1
            if _key_is(p, ka, kb, b"timestamp") or _key_is(p, ka, kb, b"symbol"):
                if sa < 0:  # a non-string timestamp or symbol: let the Python path judge it
                    return -1
                k = 0 if p[ka] == 116 else 2
                span[k], span[k + 1] = sa, sb
            i = j
    if i < 0 or _ws(p, i, end) != end or not (bids.seen and asks.seen):
        return -1
    if not (_ladder_ok(bids, True, unit, ct_val) and _ladder_ok(asks, False, unit, ct_val)):
        return -1
    if not (bids.px[0] < asks.px[0]):
        return -1
    return 0


cdef inline void _clear(Side *s) noexcept nogil:
    s.px = s.sz = NULL
    s.n = s.cap = 0
    s.seen = False


cdef inline void _free(Side *s) noexcept nogil:
    free(s.px)
    free(s.sz)


cdef class GoQuantBooks:
    """One instrument's compiled path from message bytes to ``BookSnapshot`` (``core.feed.goquant.native_snapshot``).

    The instrument's constants are read once, so each message is one call: parse, validate, the symbol check
    (ASCII text, so ``str.upper`` is ASCII upper-casing), the timestamp (``parse_ts`` for other ISO forms) and
    the snapshot. None outside the fast case (see the module's contract).
    """

    cdef int unit
    cdef double ct_val
    cdef bytes want_symbol
    cdef object exchange, symbol, source, parse_ts, parse_error
    cdef type cls
    cdef tuple slots

    def __init__(self, int unit, double ct_val, str exchange, str symbol, str source, parse_ts, parse_error):
        self.unit, self.ct_val = unit, ct_val
        self.exchange, self.symbol, self.source = exchange, symbol, source
        self.want_symbol = symbol.encode()
        self.parse_ts, self.parse_error = parse_ts, parse_error
        self.cls, self.slots = BookSnapshot, _SLOTS

    cdef bint _symbol_ok(self, const unsigned char *p, Py_ssize_t a, Py_ssize_t b):
        cdef const unsigned char *w = self.want_symbol
        cdef Py_ssize_t k
        cdef unsigned char c
        if b - a != len(self.want_symbol):
            return False
        for k in range(b - a):
            c = p[a + k]
            if 97 <= c <= 122:
                c -= 32
            if c != w[k]:
                return False
        return True

    def snapshot(self, bytes raw, recv_ns, seq):
        """The snapshot of ``raw`` (received at ``recv_ns``, numbered ``seq``), or None: the Python path decides."""
        cdef const unsigned char *p = raw
        cdef Side bids, asks
        cdef Py_ssize_t span[4]
        cdef object ts = 0
        _clear(&bids)
        _clear(&asks)
        try:
            if _read(p, len(raw), self.unit, self.ct_val, &bids, &asks, span) < 0:
                return None
            if span[2] >= 0 and not self._symbol_ok(p, span[2], span[3]):
                return None  # the Python path raises wrong_instrument
            if span[0] >= 0:
                ts = _iso_ms(p, span[0], span[1])
                if ts is None:
                    try:
                        ts = self.parse_ts(raw[span[0]:span[1]].decode("ascii"))
                    except self.parse_error:
                        return None
            return _snapshot(self.cls, self.slots, self.exchange, self.symbol, self.source, _cumulative(&bids),
                             _cumulative(&asks), ts, recv_ns, seq)
        finally:
            _free(&bids)
            _free(&asks)
