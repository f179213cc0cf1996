# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled fast path for a GoQuant full snapshot: bytes -> validated book arrays with cumulative depth.

Why: CPython's ``float()`` over 800 level strings plus the numpy calls that validate them cost about four
times the JSON parse itself; one C pass over the bytes does parse, unit conversion, validation and the
cumulative sums together.

Contract: ``parse_goquant`` returns the same floats as the Python path (``PyOS_string_to_double`` is what
``float()`` calls) or ``None``. ``None`` means "not the plain, valid case": any JSON it does not fully
recognise (escapes, non-ASCII, nested values, unquoted levels), any number it does not accept, and any
book the Python validator would reject or alter (zero sizes, unsorted, crossed, empty). The caller then
takes the Python path, which gives the exact result or the countable ``ParseError``; so this module never
decides an error and never needs its own error messages.
"""

from libc.stdlib cimport realloc, free
from libc.math cimport isfinite

cimport numpy as cnp

from core.feed._parsing cimport _array, _key, _key_is, _next_member, _open_object, _plain_scalar, _quoted_number, _with_depth, _ws

cnp.import_array()


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
    cdef double px, sz
    if s.seen or i >= end or p[i] != 91:
        return -1
    s.seen = True
    i = _ws(p, i + 1, end)
    if i < end and p[i] == 93:
        pi[0] = i + 1
        return 0
    while True:
        if i >= end or p[i] != 91:
            return -1
        i = _ws(p, i + 1, end)
        if _quoted_number(p, &i, end, &px) < 0:
            return -1
        i = _ws(p, i, end)
        if i >= end or p[i] != 44:
            return -1
        i = _ws(p, i + 1, end)
        if _quoted_number(p, &i, end, &sz) < 0:
            return -1
        i = _ws(p, i, end)
        if i >= end or p[i] != 93:
            return -1
        if s.n == s.cap:
            _grow(s)
        s.px[s.n] = px
        s.sz[s.n] = sz
        s.n += 1
        i = _ws(p, i + 1, end)
        if i < end and p[i] == 44:
            i = _ws(p, i + 1, end)
            continue
        if i < end and p[i] == 93:
            pi[0] = i + 1
            return 0
        return -1


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


def parse_goquant(bytes raw, int unit=0, double ct_val=1.0):
    """``raw`` -> ``(bids, asks, timestamp, symbol)`` with each side ``(px, sz, cum_base, cum_quote)``.

    ``unit``: 0 sizes already in base, 1 linear contracts (x ``ct_val``), 2 inverse (x ``ct_val`` / price).
    ``timestamp`` is epoch ms (int) for the plain ``...T..:..:..(.mmm)Z`` form, else the raw string (or
    ``None`` when absent); ``symbol`` the raw string or ``None``. Returns ``None`` outside the fast case.
    """
    cdef const unsigned char *p = raw
    cdef Py_ssize_t end = len(raw), i, ka, kb, sa, sb, j
    cdef Side bids, asks
    cdef object ts = None, sym = None
    cdef bint ok = False, more
    bids.px = bids.sz = asks.px = asks.sz = NULL
    bids.n = bids.cap = asks.n = asks.cap = 0
    bids.seen = asks.seen = False
    try:
        i = _open_object(p, _ws(p, 0, end), end, &more)
        if i < 0:
            return None
        while more:
            i = _key(p, i, end, &ka, &kb)
            if i < 0:
                return None
            if _key_is(p, ka, kb, b"asks"):
                if _levels(p, &i, end, &asks) < 0:
                    return None
            elif _key_is(p, ka, kb, b"bids"):
                if _levels(p, &i, end, &bids) < 0:
                    return None
            else:
                j = _plain_scalar(p, i, end, &sa, &sb)  # a number overflowing to inf: malformed_json there
                if j < 0:
                    return None
                if _key_is(p, ka, kb, b"timestamp"):
                    ts = False if sa < 0 else _iso_ms(p, sa, sb)
                    if ts is None:  # another ISO form: the Python parser's call
                        ts = raw[sa:sb].decode("ascii")
                elif _key_is(p, ka, kb, b"symbol"):
                    sym = raw[sa:sb].decode("ascii") if sa >= 0 else False
                i = j
            i = _next_member(p, i, end, &more)
            if i < 0:
                return None
        if _ws(p, i, end) != end or not (bids.seen and asks.seen):
            return None
        if ts is False or sym is False:  # a non-string timestamp or symbol: let the Python path judge it
            return None
        if not (_ladder_ok(&bids, True, unit, ct_val) and _ladder_ok(&asks, False, unit, ct_val)):
            return None
        if not (bids.px[0] < asks.px[0]):
            return None
        return _cumulative(&bids), _cumulative(&asks), ts, sym
    finally:
        free(bids.px)
        free(bids.sz)
        free(asks.px)
        free(asks.sz)


# --------------------------------------------------------------------------------------------------
