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

from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy
from libc.math cimport isfinite

cimport numpy as cnp

cnp.import_array()

cdef extern from "Python.h":
    ctypedef struct PyObject
    # overflow_exception NULL: an overflow returns +-inf (rejected later as non-finite), as float() does
    double PyOS_string_to_double(const char *s, char **endptr, PyObject *overflow_exception) except? -1.0

cdef enum:
    MAX_NUM = 63


cdef struct Side:
    double *px
    double *sz
    Py_ssize_t n
    Py_ssize_t cap
    bint seen


cdef inline Py_ssize_t _ws(const unsigned char *p, Py_ssize_t i, Py_ssize_t end) noexcept nogil:
    while i < end and (p[i] == 32 or p[i] == 10 or p[i] == 13 or p[i] == 9):
        i += 1
    return i


cdef inline Py_ssize_t _string_end(const unsigned char *p, Py_ssize_t i, Py_ssize_t end) noexcept nogil:
    """``i`` is just past an opening quote; index of the closing quote, or -1 (escape, control, non-ASCII)."""
    cdef unsigned char c
    while i < end:
        c = p[i]
        if c == 34:
            return i
        if c == 92 or c < 32 or c >= 128:
            return -1
        i += 1
    return -1


cdef inline bint _is_number(const unsigned char *p, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """``-?digits(.digits)?([eE][+-]?digits)?``: the subset whose ``float()`` is unambiguous."""
    cdef Py_ssize_t i = a, d
    if i < b and p[i] == 45:
        i += 1
    d = i
    while i < b and 48 <= p[i] <= 57:
        i += 1
    if i == d:
        return False
    if i < b and p[i] == 46:
        i += 1
        d = i
        while i < b and 48 <= p[i] <= 57:
            i += 1
        if i == d:
            return False
    if i < b and (p[i] == 101 or p[i] == 69):
        i += 1
        if i < b and (p[i] == 43 or p[i] == 45):
            i += 1
        d = i
        while i < b and 48 <= p[i] <= 57:
            i += 1
        if i == d:
            return False
    return i == b


cdef double[23] _POW10
cdef int _k
_POW10[0] = 1.0
for _k in range(1, 23):
    _POW10[_k] = _POW10[_k - 1] * 10.0  # exact: every power of ten up to 1e22 is a double


cdef inline int _fast_decimal(const unsigned char *p, Py_ssize_t a, Py_ssize_t b, double *out) noexcept nogil:
    """Clinger's fast path: an integer mantissa below 2**53 times or over an exact power of ten is
    correctly rounded by one IEEE operation, i.e. exactly what ``float()`` returns. -1 when it does not apply."""
    cdef Py_ssize_t i = a
    cdef unsigned long long m = 0
    cdef int digits = 0, frac = 0, e = 0, esign = 1
    cdef bint neg = False, in_frac = False
    if p[i] == 45:
        neg = True
        i += 1
    while i < b:
        if 48 <= p[i] <= 57:
            if m != 0 or p[i] != 48:
                digits += 1
                if digits > 19:
                    return -1
            m = m * 10 + (p[i] - 48)
            if in_frac:
                frac += 1
        elif p[i] == 46:
            in_frac = True
        else:
            break
        i += 1
    if i < b:  # exponent (the grammar was checked by _is_number)
        i += 1
        if p[i] == 45:
            esign = -1
            i += 1
        elif p[i] == 43:
            i += 1
        while i < b:
            e = e * 10 + (p[i] - 48)
            if e > 400:
                return -1
            i += 1
    e = esign * e - frac
    if m > 9007199254740992ULL or e < -22 or e > 22:
        return -1
    if e < 0:
        out[0] = <double> m / _POW10[-e]
    else:
        out[0] = <double> m * _POW10[e]
    if neg:
        out[0] = -out[0]
    return 0


cdef int _quoted_number(const unsigned char *p, Py_ssize_t *pi, Py_ssize_t end, double *out) except -2:
    """Parse ``"number"`` at ``*pi``; 0 on success (``*pi`` past the closing quote), -1 if not the fast case."""
    cdef Py_ssize_t i = pi[0], close, n
    cdef char buf[MAX_NUM + 1]
    cdef char *endp
    if i >= end or p[i] != 34:
        return -1
    close = _string_end(p, i + 1, end)
    n = close - i - 1
    if close < 0 or n <= 0 or n > MAX_NUM or not _is_number(p, i + 1, close):
        return -1
    pi[0] = close + 1
    if _fast_decimal(p, i + 1, close, out) == 0:
        return 0
    memcpy(buf, p + i + 1, n)
    buf[n] = 0
    out[0] = PyOS_string_to_double(buf, &endp, NULL)
    if endp != buf + n:
        return -1
    return 0


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


cdef Py_ssize_t _scalar(const unsigned char *p, Py_ssize_t i, Py_ssize_t end, Py_ssize_t *sa, Py_ssize_t *sb) noexcept nogil:
    """Skip a string, number, true, false or null at ``i``; end index or -1. Strings report their span."""
    cdef Py_ssize_t j
    sa[0] = -1
    sb[0] = -1
    if i >= end:
        return -1
    if p[i] == 34:
        j = _string_end(p, i + 1, end)
        if j < 0:
            return -1
        sa[0], sb[0] = i + 1, j
        return j + 1
    if end - i >= 4 and p[i] == 110 and p[i + 1] == 117 and p[i + 2] == 108 and p[i + 3] == 108:
        return i + 4
    if end - i >= 4 and p[i] == 116 and p[i + 1] == 114 and p[i + 2] == 117 and p[i + 3] == 101:
        return i + 4
    if end - i >= 5 and p[i] == 102 and p[i + 1] == 97 and p[i + 2] == 108 and p[i + 3] == 115 and p[i + 4] == 101:
        return i + 5
    j = i
    while j < end and (48 <= p[j] <= 57 or p[j] == 45 or p[j] == 43 or p[j] == 46 or p[j] == 101 or p[j] == 69):
        j += 1
    if j == i or p[i] == 43 or not _is_number(p, i, j) or (p[i] == 48 and j > i + 1 and 48 <= p[i + 1] <= 57):
        return -1
    if p[i] == 45 and j > i + 2 and p[i + 1] == 48 and 48 <= p[i + 2] <= 57:
        return -1
    return j


cdef bint _finite_json_number(const unsigned char *p, Py_ssize_t a, Py_ssize_t b) except -1:
    """True when the JSON number ``p[a:b]`` is a finite double (long ones are left to the Python path)."""
    cdef char buf[MAX_NUM + 1]
    cdef char *endp
    cdef double v
    if b - a > MAX_NUM:
        return False
    memcpy(buf, p + a, b - a)
    buf[b - a] = 0
    v = PyOS_string_to_double(buf, &endp, NULL)
    return endp == buf + (b - a) and isfinite(v)


cdef bint _key_is(const unsigned char *p, Py_ssize_t a, Py_ssize_t b, bytes name):
    cdef Py_ssize_t n = len(name)
    cdef const unsigned char *q = name
    cdef Py_ssize_t k
    if b - a != n:
        return False
    for k in range(n):
        if p[a + k] != q[k]:
            return False
    return True


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


cdef cnp.ndarray _array(double *src, Py_ssize_t n):
    cdef cnp.npy_intp dims[1]
    dims[0] = n
    cdef cnp.ndarray a = cnp.PyArray_EMPTY(1, dims, cnp.NPY_FLOAT64, 0)
    memcpy(cnp.PyArray_DATA(a), src, n * sizeof(double))
    cnp.PyArray_CLEARFLAGS(a, cnp.NPY_ARRAY_WRITEABLE)  # snapshots are read-only
    return a


cdef tuple _cumulative(Side *s):
    cdef Py_ssize_t k, n = s.n
    cdef cnp.npy_intp dims[1]
    dims[0] = n
    cdef cnp.ndarray cb = cnp.PyArray_EMPTY(1, dims, cnp.NPY_FLOAT64, 0)
    cdef cnp.ndarray cq = cnp.PyArray_EMPTY(1, dims, cnp.NPY_FLOAT64, 0)
    cdef double *b = <double *> cnp.PyArray_DATA(cb)
    cdef double *q = <double *> cnp.PyArray_DATA(cq)
    cdef double accb = 0.0, accq = 0.0
    for k in range(n):
        accb = accb + s.sz[k]
        accq = accq + s.px[k] * s.sz[k]
        b[k] = accb
        q[k] = accq
    cnp.PyArray_CLEARFLAGS(cb, cnp.NPY_ARRAY_WRITEABLE)
    cnp.PyArray_CLEARFLAGS(cq, cnp.NPY_ARRAY_WRITEABLE)
    return _array(s.px, n), _array(s.sz, n), cb, cq


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
    cdef bint ok = False
    bids.px = bids.sz = asks.px = asks.sz = NULL
    bids.n = bids.cap = asks.n = asks.cap = 0
    bids.seen = asks.seen = False
    try:
        i = _ws(p, 0, end)
        if i >= end or p[i] != 123:
            return None
        i = _ws(p, i + 1, end)
        if i < end and p[i] == 125:
            return None
        while True:
            if i >= end or p[i] != 34:
                return None
            ka = i + 1
            kb = _string_end(p, ka, end)
            if kb < 0:
                return None
            i = _ws(p, kb + 1, end)
            if i >= end or p[i] != 58:
                return None
            i = _ws(p, i + 1, end)
            if _key_is(p, ka, kb, b"asks"):
                if _levels(p, &i, end, &asks) < 0:
                    return None
            elif _key_is(p, ka, kb, b"bids"):
                if _levels(p, &i, end, &bids) < 0:
                    return None
            else:
                j = _scalar(p, i, end, &sa, &sb)
                if j < 0:
                    return None
                if sa < 0 and (p[i] == 45 or 48 <= p[i] <= 57) and not _finite_json_number(p, i, j):
                    return None  # orjson rejects a number that overflows to infinity: malformed_json
                if _key_is(p, ka, kb, b"timestamp"):
                    ts = False if sa < 0 else _iso_ms(p, sa, sb)
                    if ts is None:  # another ISO form: the Python parser's call
                        ts = raw[sa:sb].decode("ascii")
                elif _key_is(p, ka, kb, b"symbol"):
                    sym = raw[sa:sb].decode("ascii") if sa >= 0 else False
                i = j
            i = _ws(p, i, end)
            if i < end and p[i] == 44:
                i = _ws(p, i + 1, end)
                continue
            if i < end and p[i] == 125:
                break
            return None
        if _ws(p, i + 1, end) != end or not (bids.seen and asks.seen):
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
