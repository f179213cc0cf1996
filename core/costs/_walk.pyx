# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled twin of the heavy loops in ``core.costs.walk`` and ``core.costs.impact``: the book walk for an
order the visible book fills, the Almgren–Chriss depth line's rho, and banded depth. Each function names
the Python function it mirrors; tests hold them equal to 1e-12 relative. Loaded through ``core.compiled``.
"""

from libc.math cimport fabs, isfinite, log10

cimport numpy as cnp

cnp.import_array()

cdef enum:
    MAX_BANDS = 16
    BOOK_FEATURE_COUNT = 9  # the first entries of ``tick_row``: what depends on the book (the rest: ``order_features``)


cdef inline double *_data(cnp.ndarray a) except NULL:
    if cnp.PyArray_TYPE(a) != cnp.NPY_FLOAT64 or not cnp.PyArray_IS_C_CONTIGUOUS(a) or cnp.PyArray_NDIM(a) != 1:
        raise TypeError("expected a contiguous 1-D float64 array")
    return <double *> cnp.PyArray_DATA(a)


cdef struct Walk:
    Py_ssize_t levels
    double base
    double quote
    double half
    double depth
    double rho


cdef bint _walk(cnp.ndarray px, cnp.ndarray sz, cnp.ndarray cum_b, cnp.ndarray cum_q, double q, bint by_quote,
                bint buy, double mid, double rtol, int min_fit_levels, Walk *out) except -1:
    """``walk_fill``'s arithmetic into ``out``; False where ``walk_fill`` returns None."""
    cdef Py_ssize_t n = cnp.PyArray_DIM(px, 0), lo = 0, hi, mid_i, k, i, m
    cdef double *p = _data(px)
    cdef double *s = _data(sz)
    cdef double *cb = _data(cum_b)
    cdef double *cq = _data(cum_q)
    cdef double *cum = cq if by_quote else cb
    cdef double target = q * (1.0 - rtol), prev_b, prev_q, part_b, best, depth = 0.0, sign, fit_base, fit_cost, rho
    if n == 0 or min_fit_levels < 1 or cnp.PyArray_DIM(sz, 0) != n or cnp.PyArray_DIM(cum_b, 0) != n \
            or cnp.PyArray_DIM(cum_q, 0) != n:
        return False
    hi = n
    while lo < hi:  # numpy.searchsorted(cum, target, side="left")
        mid_i = (lo + hi) >> 1
        if cum[mid_i] < target:
            lo = mid_i + 1
        else:
            hi = mid_i
    k = lo
    if k >= n:
        return False
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
        return False  # calibrate() raises the plain message
    out.levels, out.base, out.quote, out.half, out.depth, out.rho = k + 1, filled_base, filled_quote, half, depth, rho
    return True


def walk_fill(cnp.ndarray px, cnp.ndarray sz, cnp.ndarray cum_b, cnp.ndarray cum_q, double q, bint by_quote,
              bint buy, double mid, double rtol, int min_fit_levels):
    """``core.costs.walk.walk_book`` for an order the visible book fills, plus ``core.costs.impact.calibrate``'s rho.

    Returns ``(levels_used, filled_base, filled_quote, half_spread_cost, depth_cost, rho)`` or None when the
    order goes beyond the visible book (the caller then takes the full Python path, which extrapolates).
    """
    cdef Walk w
    if not _walk(px, sz, cum_b, cum_q, q, by_quote, buy, mid, rtol, min_fit_levels, &w):
        return None
    return w.levels, w.base, w.quote, w.half, w.depth, w.rho


cdef void _band_depths(double *p, double *cq, Py_ssize_t n, double mid, double *bands, Py_ssize_t nbands,
                       bint descending, double *out) noexcept nogil:
    """USD of the levels from the touch to each band's limit inclusive (``core.training.dataset._depths``), each
    scan going on from where the last stopped while the limits move outwards (a 400-level side is read once,
    not once per band): the same first level beyond the limit as a scan from the touch."""
    cdef Py_ssize_t k = 0, j
    cdef double limit, last = 0.0
    for j in range(nbands):
        limit = mid * (1.0 - bands[j]) if descending else mid * (1.0 + bands[j])
        if j == 0 or (limit > last if descending else limit < last) or limit != limit:
            k = 0  # a limit nearer the touch (or NaN): scan from the top again
        if descending:
            while k < n and p[k] >= limit:
                k += 1
        else:
            while k < n and p[k] <= limit:
                k += 1
        out[j] = cq[k - 1] if k > 0 else 0.0
        last = limit


def band_depths(cnp.ndarray bid_px, cnp.ndarray bid_cq, cnp.ndarray ask_px, cnp.ndarray ask_cq, double mid, tuple bands):
    """``(bid_depths, ask_depths)`` within each band (a fraction of mid): ``core.training.dataset._depths`` per side."""
    cdef double *bp = _data(bid_px)
    cdef double *bq = _data(bid_cq)
    cdef double *ap = _data(ask_px)
    cdef double *aq = _data(ask_cq)
    cdef Py_ssize_t nb = cnp.PyArray_DIM(bid_px, 0), na = cnp.PyArray_DIM(ask_px, 0), n = len(bands), j
    cdef double b[MAX_BANDS]
    cdef double bid_d[MAX_BANDS]
    cdef double ask_d[MAX_BANDS]
    if cnp.PyArray_DIM(bid_cq, 0) != nb or cnp.PyArray_DIM(ask_cq, 0) != na:
        raise ValueError("price and cumulative arrays differ in length")
    if n > MAX_BANDS:
        raise ValueError("at most 16 bands")
    for j in range(n):
        b[j] = bands[j]
    _band_depths(bp, bq, nb, mid, b, n, True, bid_d)
    _band_depths(ap, aq, na, mid, b, n, False, ask_d)
    return tuple([bid_d[j] for j in range(n)]), tuple([ask_d[j] for j in range(n)])


cdef inline double _bps(double usd, double notional) noexcept nogil:
    """``core.costs.composition.bps``."""
    return usd / notional * 1e4 if notional > 0 else 0.0


cdef inline double _py_min(double a, double b) noexcept nogil:
    """Python's ``min(a, b)`` (``a`` unless ``b < a``, so a NaN ``a`` stays)."""
    return b if b < a else a


cdef inline double _py_max(double a, double b) noexcept nogil:
    """Python's ``max(a, b)`` (``a`` unless ``b > a``)."""
    return b if b > a else a


cdef class TickKernel:
    """``core.pricing.pricer.TickPricer``'s per-tick numbers for one market order, in one call.

    What ``core.costs.estimate.estimate`` computes for it, as the twins of its Python parts: the walk and rho
    (``walk_fill``), banded depth (``band_depths``), the book's features as
    ``core.learned.models.SlippageModelImpl.tick_row`` builds them, the nets (``core.learned._nets.DenseNet``),
    ``core.costs.composition.predicted_cost`` and ``compose``, in the same operations and order, so the numbers are
    the same floats (tests hold them equal to the explained estimate's). ``figures`` returns None wherever
    ``estimate`` must decide (its plain errors, an order beyond the visible book).
    """

    cdef double quantity, rtol, permanent_share, maker_rate, taker_rate, max_notional, max_ratio
    cdef bint by_quote, buy, models
    cdef int min_fit_levels, side
    cdef Py_ssize_t nbands, imbalance_band
    cdef double bands[MAX_BANDS]
    cdef double row[BOOK_FEATURE_COUNT]
    cdef object expected, quantiles, order_features, figures_cls, perf_ns
    cdef object tail, tail_vol  # order_features(snap, vol) and the vol it was computed for

    def __init__(self, *, double quantity, bint by_quote, bint buy, double rtol, int min_fit_levels, tuple bands,
                 double permanent_share, double maker_rate, double taker_rate, double max_notional, bint models,
                 expected, quantiles, order_features, Py_ssize_t imbalance_band, double max_ratio, figures_cls,
                 perf_ns):
        if len(bands) > MAX_BANDS or not 0 <= imbalance_band < len(bands) or len(bands) < 2:
            raise ValueError("bands: 2 to 16, with the imbalance band among them")
        self.quantity, self.by_quote, self.buy, self.rtol, self.min_fit_levels = quantity, by_quote, buy, rtol, min_fit_levels
        self.nbands = len(bands)
        for k in range(self.nbands):
            self.bands[k] = bands[k]
        self.permanent_share, self.maker_rate, self.taker_rate = permanent_share, maker_rate, taker_rate
        self.max_notional, self.models, self.expected, self.quantiles = max_notional, models, expected, quantiles
        self.imbalance_band, self.max_ratio, self.side = imbalance_band, max_ratio, 1 if buy else -1
        self.figures_cls, self.perf_ns, self.order_features = figures_cls, perf_ns, order_features
        self.tail = self.tail_vol = None

    def last_row(self):
        """The book's features of the last ``figures`` call with models (``tick_row``'s first entries)."""
        return [self.row[k] for k in range(BOOK_FEATURE_COUNT)]

    cdef void _features(self, double notional, double walk_bps, double bid0, double ask0, double b0, double a0,
                        double *bid_d, double *ask_d) noexcept nogil:
        """``SlippageModelImpl.tick_row``'s book-dependent entries."""
        cdef double *depth = ask_d if self.side > 0 else bid_d
        cdef Py_ssize_t i = self.imbalance_band
        cdef double tot = bid_d[i] + ask_d[i]
        cdef double imb25 = (bid_d[i] - ask_d[i]) / tot if tot > 0 else 0.0
        cdef double imb_top = (b0 - a0) / (b0 + a0) if b0 + a0 > 0 else 0.0
        cdef double size = _py_max(notional, 1e-9)
        cdef double mid = 0.5 * (bid0 + ask0)
        self.row[0] = log10(size)
        self.row[1] = (ask0 - bid0) / mid * 1e4  # BookSnapshot.spread_bps
        self.row[2] = walk_bps
        self.row[3] = log10(1.0 + depth[0])
        self.row[4] = log10(1.0 + depth[1])
        self.row[5] = _py_min(size / depth[0], self.max_ratio) if depth[0] > 0 else self.max_ratio
        self.row[6] = _py_min(size / depth[1], self.max_ratio) if depth[1] > 0 else self.max_ratio
        self.row[7] = self.side * imb25
        self.row[8] = self.side * imb_top

    def figures(self, snap, vol, long long t0):
        """The ``CostFigures`` of ``snap`` at volatility ``vol`` (``t0``: ``time.perf_counter_ns()`` when pricing
        began), or None: the Python path prices it. With models, ``order_features(snap, vol)`` gives
        ``tick_row``'s entries after the book's, asked again whenever ``vol`` is another object (or None)."""
        cdef cnp.ndarray bid_px = snap.bid_px, ask_px = snap.ask_px
        cdef cnp.ndarray px, sz, cb, cq
        cdef double *bp = _data(bid_px)
        cdef double *ap = _data(ask_px)
        cdef cnp.ndarray bid_sz = snap.bid_sz, ask_sz = snap.ask_sz, bq, aq
        cdef double bid0, ask0, mid, walk_cost, total, exp, q1, p90 = 0.0, walk_bps, notional, base
        cdef double bid_d[MAX_BANDS]
        cdef double ask_d[MAX_BANDS]
        cdef Walk w
        cdef Py_ssize_t k, nb, na
        cdef object p90_total = None, out
        cdef list row
        if cnp.PyArray_DIM(bid_px, 0) == 0 or cnp.PyArray_DIM(ask_px, 0) == 0 or cnp.PyArray_DIM(bid_sz, 0) == 0 \
                or cnp.PyArray_DIM(ask_sz, 0) == 0:
            return None
        bid0, ask0 = bp[0], ap[0]
        mid = 0.5 * (bid0 + ask0)
        if not self.by_quote and self.quantity * mid > self.max_notional:
            return None  # estimate() raises the plain message
        if self.buy:
            px, sz, cb, cq = ask_px, ask_sz, snap.ask_cum_base, snap.ask_cum_quote
        else:
            px, sz, cb, cq = bid_px, bid_sz, snap.bid_cum_base, snap.bid_cum_quote
        if not _walk(px, sz, cb, cq, self.quantity, self.by_quote, self.buy, mid, self.rtol, self.min_fit_levels, &w):
            return None  # beyond the visible book: estimate() extrapolates and says so
        base, notional = w.base, w.quote
        if not (isfinite(notional) and notional >= 0 and isfinite(self.maker_rate) and isfinite(self.taker_rate)) \
                or base == 0:
            return None  # expected_fee raises the plain message (or the Python path divides by nothing)
        walk_cost = w.half + w.depth
        total = walk_cost
        if self.models:
            nb, na = cnp.PyArray_DIM(bid_px, 0), cnp.PyArray_DIM(ask_px, 0)
            bq, aq = snap.bid_cum_quote, snap.ask_cum_quote
            if cnp.PyArray_DIM(bq, 0) != nb or cnp.PyArray_DIM(aq, 0) != na:
                raise ValueError("price and cumulative arrays differ in length")
            _band_depths(bp, _data(bq), nb, mid, self.bands, self.nbands, True, bid_d)
            _band_depths(ap, _data(aq), na, mid, self.bands, self.nbands, False, ask_d)
            walk_bps = _bps(walk_cost, notional)
            self._features(notional, walk_bps, bid0, ask0, _data(bid_sz)[0], _data(ask_sz)[0], bid_d, ask_d)
            if vol is None or vol is not self.tail_vol:
                self.tail, self.tail_vol = self.order_features(snap, vol), vol
            row = [self.row[k] for k in range(BOOK_FEATURE_COUNT)]
            row.extend(self.tail)
            exp = self.expected(row)[0] if self.expected is not None else walk_bps
            if self.quantiles is not None:
                q1 = self.quantiles(row)[1]
                p90 = _py_max(q1, exp)
            if isfinite(exp):  # core.costs.composition.predicted_cost; else the walk stays
                if self.quantiles is not None and isfinite(p90):
                    p90_total = p90 * notional / 1e4
                total = exp * notional / 1e4
        # core.costs.composition.compose for a market order (walked = total, maker_usd 0, no limit-order terms)
        cdef double rho = w.rho, eps = 0.5 * (ask0 - bid0)
        cdef double impact_ac = 0.5 * (self.permanent_share / rho) * base * base
        cdef double beyond = _py_max(total - (w.half if base > 0 else 0.0), 0.0)
        cdef double impact = _py_min(impact_ac, beyond)
        cdef double share = 0.0 / notional if notional > 0 else 1.0
        cdef double fee = notional * (share * self.maker_rate + (1.0 - share) * self.taker_rate) if notional > 0 else 0.0
        cdef double net = total + fee + 0.0 + 0.0
        cdef double ac_immediate = eps * base + base * base / (2.0 * rho)
        out = (snap.seq, snap.exchange_ts_ms, snap.recv_ns, mid, notional / base, base, notional, w.levels, walk_cost,
               total, _bps(total, notional), p90_total, fee, _bps(fee, notional), impact, _bps(impact, notional), net,
               _bps(net, notional), 0.0, ac_immediate, (self.perf_ns() - t0) / 1e3, True)
        return tuple.__new__(self.figures_cls, out)


#: how many leading entries of ``tick_row`` ``TickKernel`` computes from the book (the rest is its ``tail``)
BOOK_FEATURES = BOOK_FEATURE_COUNT
