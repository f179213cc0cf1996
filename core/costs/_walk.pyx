# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled twin of the heavy loops in ``core.costs.walk`` and ``core.costs.impact``: the book walk for an
order the visible book fills, the Almgren–Chriss depth line's rho, and banded depth. Each function names
the Python function it mirrors; tests hold them equal to 1e-12 relative. Loaded through ``core.compiled``.
"""

from libc.math cimport fabs, isfinite

cimport numpy as cnp

cnp.import_array()


cdef inline double *_data(cnp.ndarray a) except NULL:
    if cnp.PyArray_TYPE(a) != cnp.NPY_FLOAT64 or not cnp.PyArray_IS_C_CONTIGUOUS(a) or cnp.PyArray_NDIM(a) != 1:
        raise TypeError("expected a contiguous 1-D float64 array")
    return <double *> cnp.PyArray_DATA(a)


def walk_fill(cnp.ndarray px, cnp.ndarray sz, cnp.ndarray cum_b, cnp.ndarray cum_q, double q, bint by_quote,
              bint buy, double mid, double rtol, int min_fit_levels):
    """``core.costs.walk.walk_book`` for an order the visible book fills, plus ``core.costs.impact.calibrate``'s rho.

    Returns ``(levels_used, filled_base, filled_quote, half_spread_cost, depth_cost, rho)`` or None when the
    order goes beyond the visible book (the caller then takes the full Python path, which extrapolates).
    """
    cdef Py_ssize_t n = cnp.PyArray_DIM(px, 0), lo = 0, hi, mid_i, k, i, m
    cdef double *p = _data(px)
    cdef double *s = _data(sz)
    cdef double *cb = _data(cum_b)
    cdef double *cq = _data(cum_q)
    cdef double *cum = cq if by_quote else cb
    cdef double target = q * (1.0 - rtol), prev_b, prev_q, part_b, best, depth = 0.0, sign, fit_base, fit_cost, rho
    if n == 0 or min_fit_levels < 1 or cnp.PyArray_DIM(sz, 0) != n or cnp.PyArray_DIM(cum_b, 0) != n \
            or cnp.PyArray_DIM(cum_q, 0) != n:
        return None
    hi = n
    while lo < hi:  # numpy.searchsorted(cum, target, side="left")
        mid_i = (lo + hi) >> 1
        if cum[mid_i] < target:
            lo = mid_i + 1
        else:
            hi = mid_i
    k = lo
    if k >= n:
        return None
    prev_b = cb[k - 1] if k else 0.0
    prev_q = cq[k - 1] if k else 0.0
    if by_quote:
        part_b = min((q - prev_q) / p[k], s[k])
    else:
        part_b = min(q - prev_b, s[k])
    best = p[0]
    sign = 1.0 if buy else -1.0
    for i in range(k):
        depth += s[i] * (sign * (p[i] - best))
    depth += part_b * (sign * (p[k] - best))
    cdef double filled_base = prev_b + part_b
    cdef double filled_quote = prev_q + part_b * p[k]
    cdef double half = filled_base * ((best - mid) if buy else (mid - best))
    # calibrate(): the depth line through the touch over the order's walk or the first min_fit_levels
    m = min(min_fit_levels, n)
    if filled_base > cb[m - 1]:
        fit_base, fit_cost = filled_base, depth
    else:
        fit_base, fit_cost = cb[m - 1], 0.0
        for i in range(m):
            fit_cost += s[i] * fabs(p[i] - best)
    if fit_cost > 0:
        rho = fit_base * fit_base / (2.0 * fit_cost)
    else:
        rho = cb[n - 1] / fabs(p[n - 1] - mid)
    if not (isfinite(rho) and rho > 0):
        return None  # calibrate() raises the plain message
    return k + 1, filled_base, filled_quote, half, depth, rho


cdef inline double _depth_within(double *p, double *cq, Py_ssize_t n, double limit, bint descending) noexcept nogil:
    """USD of the levels from the touch to ``limit`` inclusive (``core.training.dataset._depths`` for one band)."""
    cdef Py_ssize_t k = 0
    if descending:
        while k < n and p[k] >= limit:
            k += 1
    else:
        while k < n and p[k] <= limit:
            k += 1
    return cq[k - 1] if k > 0 else 0.0


def band_depths(cnp.ndarray bid_px, cnp.ndarray bid_cq, cnp.ndarray ask_px, cnp.ndarray ask_cq, double mid, tuple bands):
    """``(bid_depths, ask_depths)`` within each band (a fraction of mid): ``core.training.dataset._depths`` per side."""
    cdef double *bp = _data(bid_px)
    cdef double *bq = _data(bid_cq)
    cdef double *ap = _data(ask_px)
    cdef double *aq = _data(ask_cq)
    cdef Py_ssize_t nb = cnp.PyArray_DIM(bid_px, 0), na = cnp.PyArray_DIM(ask_px, 0)
    cdef double b
    if cnp.PyArray_DIM(bid_cq, 0) != nb or cnp.PyArray_DIM(ask_cq, 0) != na:
        raise ValueError("price and cumulative arrays differ in length")
    return (tuple([_depth_within(bp, bq, nb, mid * (1.0 - b), True) for b in bands]),
            tuple([_depth_within(ap, aq, na, mid * (1.0 + b), False) for b in bands]))
