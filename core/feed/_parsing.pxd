# cython: language_level=3
"""What the compiled feed parsers share (``_goquant.pyx``, ``_okx.pyx``): JSON text scanning, the exact
decimal conversion ``float()`` does, the read-only depth arrays a snapshot holds, and the snapshot itself.

Every helper answers "the plain case" or "not the fast case" (-1); none decides an error, so each parser
can leave anything unusual to its Python twin.
"""

from libc.string cimport memcpy
from libc.math cimport isfinite

cimport numpy as cnp

cdef extern from "Python.h":
    ctypedef struct PyObject
    # overflow_exception NULL: an overflow returns +-inf (rejected later as non-finite), as float() does
    double PyOS_string_to_double(const char *s, char **endptr, PyObject *overflow_exception) except? -1.0

cdef extern from *:
    """
    /* every power of ten up to 1e22 is exactly a double */
    static const double TCS_POW10[23] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                         1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    """
    const double TCS_POW10[23]

cdef extern from *:
    """
    /* a slot's own setter (its member descriptor), which a frozen dataclass's __setattr__ does not block */
    static int tcs_set_slot(PyObject *descr, PyObject *obj, PyObject *val) {
        descrsetfunc set = Py_TYPE(descr)->tp_descr_set;
        if (set == NULL) {
            PyErr_SetString(PyExc_TypeError, "a BookSnapshot field is not a slot");
            return -1;
        }
        return set(descr, obj, val);
    }
    """
    int _set_slot "tcs_set_slot"(object descr, object obj, object val) except -1

cdef enum:
    MAX_NUM = 63


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


cdef inline Py_ssize_t _digit_run(const unsigned char *p, Py_ssize_t i, Py_ssize_t end) noexcept nogil:
    """The index after the run of ASCII digits at ``i`` (``i`` itself when there is none)."""
    while i < end and <unsigned char> (p[i] - 48) < 10:
        i += 1
    return i


cdef inline Py_ssize_t _digit_value(const unsigned char *p, Py_ssize_t i, Py_ssize_t end,
                                    unsigned long long *m) noexcept nogil:
    """``_digit_run``, appending each digit to ``m`` (exact for up to 19 digits in all; beyond, ``m`` wraps)."""
    cdef unsigned char d
    while i < end:
        d = <unsigned char> (p[i] - 48)
        if d >= 10:
            break
        m[0] = m[0] * 10 + d
        i += 1
    return i


cdef inline Py_ssize_t _some_digits(const unsigned char *p, Py_ssize_t i, Py_ssize_t end) noexcept nogil:
    """The index after one or more ASCII digits at ``i``, or -1 where there is none."""
    cdef Py_ssize_t j = _digit_run(p, i, end)
    return j if j > i else -1


cdef inline bint _is_number(const unsigned char *p, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """``-?digits(.digits)?([eE][+-]?digits)?``: the subset whose ``float()`` is unambiguous."""
    cdef Py_ssize_t i = a
    if i < b and p[i] == 45:
        i += 1
    i = _some_digits(p, i, b)
    if 0 <= i < b and p[i] == 46:
        i = _some_digits(p, i + 1, b)
    if 0 <= i < b and (p[i] == 101 or p[i] == 69):
        i += 1
        if i < b and (p[i] == 43 or p[i] == 45):
            i += 1
        i = _some_digits(p, i, b)
    return i == b


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
        out[0] = <double> m / TCS_POW10[-e]
    else:
        out[0] = <double> m * TCS_POW10[e]
    if neg:
        out[0] = -out[0]
    return 0


cdef inline Py_ssize_t _mantissa_digits(const unsigned char *p, Py_ssize_t i, Py_ssize_t end, unsigned long long *m,
                                        int *digits) noexcept nogil:
    """The digits at ``i`` appended to ``m`` (``digits`` counts the significant ones, as ``_fast_decimal``):
    the index after them, or -1 beyond 19 significant digits."""
    while i < end and 48 <= p[i] <= 57:
        if m[0] != 0 or p[i] != 48:
            digits[0] += 1
            if digits[0] > 19:
                return -1
        m[0] = m[0] * 10 + (p[i] - 48)
        i += 1
    return i


cdef inline int _plain_decimal(const unsigned char *p, Py_ssize_t *pi, Py_ssize_t end, double *out) noexcept nogil:
    """The common case of ``_quoted_number`` in one pass: ``"-?digits(.digits)?"`` whose value ``_fast_decimal``
    gives exactly (at most 19 significant digits, a mantissa up to 2**53, up to 22 decimals, at most ``MAX_NUM``
    characters). The same value ``_fast_decimal`` computes, by the same operations; -1 for anything else."""
    cdef Py_ssize_t i = pi[0] + 1, a, j
    cdef unsigned long long m = 0
    cdef int digits = 0, frac = 0
    cdef bint neg = False
    if i < end and p[i] == 45:
        neg = True
        i += 1
    a = i
    j = _digit_value(p, i, end, &m)
    if j == i:
        return -1
    i = j
    if i < end and p[i] == 46:
        j = _digit_value(p, i + 1, end, &m)
        if j == i + 1:
            return -1
        frac = <int> (j - i - 1)
        i = j
    if i >= end or p[i] != 34 or i - pi[0] - 1 > MAX_NUM or frac > 22:
        return -1
    if i - a - (frac > 0) > 19:  # more than 19 digits: only the significant ones count, as in _fast_decimal
        m = 0
        j = _mantissa_digits(p, a, end, &m, &digits)
        if j < 0 or (frac > 0 and _mantissa_digits(p, j + 1, end, &m, &digits) < 0):
            return -1
    if m > 9007199254740992ULL:
        return -1
    if frac > 0:
        out[0] = <double> m / TCS_POW10[frac]
    else:
        out[0] = <double> m * TCS_POW10[0]
    if neg:
        out[0] = -out[0]
    pi[0] = i + 1
    return 0


cdef inline int _quoted_number(const unsigned char *p, Py_ssize_t *pi, Py_ssize_t end, double *out) except -2:
    """Parse ``"number"`` at ``*pi``; 0 on success (``*pi`` past the closing quote), -1 if not the fast case."""
    cdef Py_ssize_t i = pi[0], close, n
    cdef char buf[MAX_NUM + 1]
    cdef char *endp
    if i >= end or p[i] != 34:
        return -1
    if _plain_decimal(p, pi, end, out) == 0:
        return 0
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


cdef inline Py_ssize_t _scalar(const unsigned char *p, Py_ssize_t i, Py_ssize_t end, Py_ssize_t *sa, Py_ssize_t *sb) noexcept nogil:
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


cdef inline bint _finite_json_number(const unsigned char *p, Py_ssize_t a, Py_ssize_t b) except -1:
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


cdef inline Py_ssize_t _plain_scalar(const unsigned char *p, Py_ssize_t i, Py_ssize_t end, Py_ssize_t *sa, Py_ssize_t *sb) except -2:
    """``_scalar`` that also refuses a number orjson would reject as overflowing (malformed_json there)."""
    cdef Py_ssize_t j = _scalar(p, i, end, sa, sb)
    if j >= 0 and sa[0] < 0 and (p[i] == 45 or 48 <= p[i] <= 57) and not _finite_json_number(p, i, j):
        return -1
    return j


cdef inline Py_ssize_t _open_object(const unsigned char *p, Py_ssize_t i, Py_ssize_t end, bint *more) noexcept nogil:
    """``{`` at ``i``: the first key's index (``more``), or the index past an empty ``{}``, or -1."""
    if i >= end or p[i] != 123:
        return -1
    i = _ws(p, i + 1, end)
    more[0] = not (i < end and p[i] == 125)
    return i if more[0] else i + 1


cdef inline Py_ssize_t _key(const unsigned char *p, Py_ssize_t i, Py_ssize_t end, Py_ssize_t *ka, Py_ssize_t *kb) noexcept nogil:
    """``"key" :`` at ``i``: the key's span in ``ka``/``kb`` and the index of its value, or -1."""
    if i >= end or p[i] != 34:
        return -1
    ka[0] = i + 1
    kb[0] = _string_end(p, i + 1, end)
    if kb[0] < 0:
        return -1
    i = _ws(p, kb[0] + 1, end)
    if i >= end or p[i] != 58:
        return -1
    return _ws(p, i + 1, end)


cdef inline Py_ssize_t _next_member(const unsigned char *p, Py_ssize_t i, Py_ssize_t end, bint *more) noexcept nogil:
    """After an object member's value: ``,`` (``more``; the next key's index) or ``}`` (the index past it), or -1."""
    i = _ws(p, i, end)
    if i < end and p[i] == 44:
        more[0] = True
        return _ws(p, i + 1, end)
    if i < end and p[i] == 125:
        more[0] = False
        return i + 1
    return -1


cdef inline bint _member(const unsigned char *p, Py_ssize_t *pi, Py_ssize_t end, bint *first, Py_ssize_t *ka,
                        Py_ssize_t *kb) noexcept nogil:
    """Walks an object: ``*pi`` at its ``{`` (``first``) or just after a member's value. True with ``*pi`` at the
    next member's value (its key's span in ``ka``/``kb``); False at the end: ``*pi`` past the ``}``, or -1 where
    the text is not the plain case."""
    cdef Py_ssize_t i = pi[0]
    cdef bint more = False
    if i >= 0 and first[0]:
        first[0] = False
        i = _open_object(p, i, end, &more)
    elif i >= 0:
        i = _next_member(p, i, end, &more)
    if i >= 0 and more:
        i = _key(p, i, end, ka, kb)
    pi[0] = i
    return i >= 0 and more


cdef inline bint _item(const unsigned char *p, Py_ssize_t *pi, Py_ssize_t end, bint *first) noexcept nogil:
    """Walks an array: ``*pi`` at its ``[`` (``first``) or just after an item. True with ``*pi`` at the next item;
    False at the end: ``*pi`` past the ``]``, or -1 where the text is not JSON."""
    cdef Py_ssize_t i = pi[0]
    if i < 0:
        return False
    if first[0]:
        first[0] = False
        if i >= end or p[i] != 91:
            pi[0] = -1
            return False
        i = _ws(p, i + 1, end)
        if i < end and p[i] == 93:
            pi[0] = i + 1
            return False
        pi[0] = i
        return True
    i = _ws(p, i, end)
    if i < end and p[i] == 44:
        pi[0] = _ws(p, i + 1, end)
        return True
    pi[0] = i + 1 if i < end and p[i] == 93 else -1
    return False


cdef inline int _spanned_number(const unsigned char *p, Py_ssize_t *pi, Py_ssize_t end, double *out,
                                Py_ssize_t *span) except -2:
    """``_quoted_number`` at ``*pi``, with its text's start and end (the closing quote) in ``span[0:2]``."""
    span[0] = pi[0] + 1
    if _quoted_number(p, pi, end, out) < 0:
        return -1
    span[1] = pi[0] - 1
    return 0


cdef inline int _level_pair(const unsigned char *p, Py_ssize_t *pi, Py_ssize_t end, double *px, double *sz,
                            Py_ssize_t *span) except -2:
    """``["px", "sz"`` at ``*pi`` (a level's ``[``): both ``_quoted_number``s, their texts' spans in ``span``
    (price start and end, size start and end), ``*pi`` at what follows the size; 0, or -1 if not the fast case."""
    cdef Py_ssize_t i = pi[0]
    if i >= end or p[i] != 91:
        return -1
    i = _ws(p, i + 1, end)
    if _spanned_number(p, &i, end, px, span) < 0:
        return -1
    i = _ws(p, i, end)
    if i >= end or p[i] != 44:
        return -1
    i = _ws(p, i + 1, end)
    if _spanned_number(p, &i, end, sz, span + 2) < 0:
        return -1
    pi[0] = _ws(p, i, end)
    return 0


cdef inline bint _key_is(const unsigned char *p, Py_ssize_t a, Py_ssize_t b, bytes name):
    cdef Py_ssize_t n = len(name)
    cdef const unsigned char *q = name
    cdef Py_ssize_t k
    if b - a != n:
        return False
    for k in range(n):
        if p[a + k] != q[k]:
            return False
    return True


cdef inline cnp.ndarray _array(double *src, Py_ssize_t n):
    """A new float64 array holding ``src[:n]`` (still writeable: ``_with_depth`` freezes it)."""
    cdef cnp.npy_intp dims[1]
    dims[0] = n
    cdef cnp.ndarray a = cnp.PyArray_EMPTY(1, dims, cnp.NPY_FLOAT64, 0)
    if src != NULL:
        memcpy(cnp.PyArray_DATA(a), src, n * sizeof(double))
    return a


cdef inline tuple _with_depth(cnp.ndarray px, cnp.ndarray sz):
    """``(px, sz, cum_base, cum_quote)``, all read-only, the sums in numpy's ``cumsum`` order (bit for bit)."""
    cdef Py_ssize_t k, n = cnp.PyArray_DIMS(px)[0]
    cdef cnp.ndarray cb = _array(NULL, n)
    cdef cnp.ndarray cq = _array(NULL, n)
    cdef double *p = <double *> cnp.PyArray_DATA(px)
    cdef double *s = <double *> cnp.PyArray_DATA(sz)
    cdef double *b = <double *> cnp.PyArray_DATA(cb)
    cdef double *q = <double *> cnp.PyArray_DATA(cq)
    cdef double accb = 0.0, accq = 0.0
    for k in range(n):
        accb = accb + s[k]
        accq = accq + p[k] * s[k]
        b[k] = accb
        q[k] = accq
    return _frozen(px, sz, cb, cq)


cdef inline tuple _frozen(cnp.ndarray px, cnp.ndarray sz, cnp.ndarray cb, cnp.ndarray cq):
    """``(px, sz, cum_base, cum_quote)``, each made read-only (snapshots are)."""
    cnp.PyArray_CLEARFLAGS(px, cnp.NPY_ARRAY_WRITEABLE)
    cnp.PyArray_CLEARFLAGS(sz, cnp.NPY_ARRAY_WRITEABLE)
    cnp.PyArray_CLEARFLAGS(cb, cnp.NPY_ARRAY_WRITEABLE)
    cnp.PyArray_CLEARFLAGS(cq, cnp.NPY_ARRAY_WRITEABLE)
    return px, sz, cb, cq


cdef inline tuple _snapshot_slots(type cls):
    """``cls``'s slot descriptors in the order ``_snapshot`` fills them; ImportError (so the Python path runs)
    when the snapshot's fields are no longer these or it gained a ``__post_init__``."""
    import dataclasses
    names = ("exchange", "symbol", "source", "bid_px", "bid_sz", "ask_px", "ask_sz", "exchange_ts_ms", "recv_ns",
             "seq", "bid_cum_base", "bid_cum_quote", "ask_cum_base", "ask_cum_quote")
    if tuple([f.name for f in dataclasses.fields(cls)]) != names or hasattr(cls, "__post_init__"):
        raise ImportError(f"{cls.__name__} no longer has the fields the compiled parsers fill")
    return tuple([cls.__dict__[name] for name in names])


cdef inline object _snapshot(type cls, tuple slots, object exchange, object symbol, object source, tuple bids,
                             tuple asks, object ts_ms, object recv_ns, object seq):
    """A ``BookSnapshot`` of ``(px, sz, cum_base, cum_quote)`` per side that the parser validated and summed as
    ``BookSnapshot.build`` would, without the generated ``__init__``'s per-field calls: a new instance, each slot
    set once by its descriptor (tests hold it equal to ``build``'s, bit for bit)."""
    cdef object snap = cls.__new__(cls)
    _set_slot(slots[0], snap, exchange)
    _set_slot(slots[1], snap, symbol)
    _set_slot(slots[2], snap, source)
    _set_slot(slots[3], snap, bids[0])
    _set_slot(slots[4], snap, bids[1])
    _set_slot(slots[5], snap, asks[0])
    _set_slot(slots[6], snap, asks[1])
    _set_slot(slots[7], snap, int(ts_ms))
    _set_slot(slots[8], snap, int(recv_ns))
    _set_slot(slots[9], snap, int(seq))
    _set_slot(slots[10], snap, bids[2])
    _set_slot(slots[11], snap, bids[3])
    _set_slot(slots[12], snap, asks[2])
    _set_slot(slots[13], snap, asks[3])
    return snap
