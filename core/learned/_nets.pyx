# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled twin of ``core.learned.nets.NumpyNet``'s forward pass for one row (per-tick model output);
tests hold it equal to the numpy pass to 1e-12. Loaded through ``core.compiled``.
"""

from libc.math cimport log1p, exp, tanh, pow, log10, fmax
from libc.stdlib cimport malloc, free


cdef enum Act:
    LINEAR = 0
    RELU = 1
    SOFTPLUS = 2
    SIGMOID = 3

cdef double MIN_FLOW_USD_PER_S = 1.0  # core.learned.nets.MIN_FLOW_USD_PER_S

ACT_CODES = {"linear": LINEAR, "relu": RELU, "softplus": SOFTPLUS, "sigmoid": SIGMOID}


cdef inline double _act(int code, double z) noexcept nogil:
    cdef double t
    if code == RELU:
        return z if z > 0 else 0.0
    if code == SOFTPLUS:  # numpy.logaddexp(0, z)
        if z == 0:
            return 0.6931471805599453
        if z > 0:
            return z + log1p(exp(-z))
        return log1p(exp(z))
    if code == SIGMOID:
        return 0.5 * (1.0 + tanh(0.5 * z))
    return z


cdef class DenseNet:
    """``core.learned.nets.NumpyNet.forward`` for one row, without numpy's per-call overhead.

    Built from the net's arrays: normalisation, then layers (the heads concatenated as the last layer,
    one activation code per output column), then the optional scale and offset vectors, the optional band
    shift on the second output (``core.learned.nets.BandShift``, its row fixed to one instrument's or the
    pooled row of the market kind, the increment kept at or above 0) and the
    quantiles' cumulative sum; or, with a recalibration (``core.learned.nets.Recalibration``), the single
    head's pre-activation recalibrated by size (on the scale the recalibration names). With ``clip`` (low, high per
    input) each input is clipped to its training range before the normalisation; everything else reads it raw.
    """

    cdef double[:] mean, scale
    cdef list ws, bs, acts
    # the layers flattened once (row-major weights, biases and activation codes end to end, with each layer's offsets
    # and width), so a call reads them without acquiring a buffer per layer (about a sixth of a small book's tick)
    cdef double[:] w_flat, b_flat
    cdef int[:] act_flat
    cdef Py_ssize_t[:] w_at, b_at, n_cols
    cdef Py_ssize_t n_layers
    cdef double[:] scale_w, offset_w
    cdef bint has_scale, has_offset, cumulative, has_shift, has_recal
    cdef Py_ssize_t n_in, width
    cdef double[:] shift_edges
    cdef double[:, :] shift_table
    cdef Py_ssize_t shift_size_col, shift_group_col, shift_scale_col, shift_row, recal_u_col
    cdef double shift_floor
    cdef double[:] recal_knots
    cdef double[:, :, :] recal_coef
    cdef Py_ssize_t recal_group_col
    cdef double recal_sign
    cdef bint recal_flow
    cdef Py_ssize_t recal_q_col, recal_h_col, recal_f_col
    cdef bint has_clip
    cdef double[:] clip_lo, clip_hi

    def __init__(self, mean, scale, layers, scale_w=None, offset_w=None, bint cumulative=False, shift=None, recal=None, clip=None):
        import numpy as np
        self.mean = np.array(mean, dtype=np.float64, order="C")
        self.scale = np.array(scale, dtype=np.float64, order="C")
        self.n_in = self.mean.shape[0]
        self.ws, self.bs, self.acts = [], [], []
        if self.scale.shape[0] != self.n_in:
            raise ValueError("mean and scale differ in length")
        width = self.n_in
        for w, b, act in layers:
            w = np.array(w, dtype=np.float64, order="C")
            b = np.array(b, dtype=np.float64, order="C").ravel()
            act = np.array(act, dtype=np.intc, order="C")
            if w.ndim != 2 or w.shape[0] != width or b.shape[0] != w.shape[1] or act.shape[0] != w.shape[1]:
                raise ValueError(f"layer shapes do not chain: {w.shape} after width {width}")
            if ((act < LINEAR) | (act > SIGMOID)).any():
                raise ValueError("unknown activation code")
            self.ws.append(w)
            self.bs.append(b)
            self.acts.append(act)
            width = w.shape[1]
        if not self.ws:
            raise ValueError("a net needs at least one layer")
        for vec in (scale_w, offset_w):
            if vec is not None and np.asarray(vec).shape != (self.n_in,):
                raise ValueError("scale_w and offset_w must have one weight per input")
        self.width = max([self.n_in] + [w.shape[1] for w in self.ws])
        self.n_layers = len(self.ws)
        self.w_flat = np.concatenate([w.ravel() for w in self.ws])
        self.b_flat = np.concatenate(self.bs)
        self.act_flat = np.concatenate(self.acts).astype(np.intc)
        self.w_at = np.cumsum([0] + [w.size for w in self.ws[: self.n_layers - 1]]).astype(np.intp)
        self.b_at = np.cumsum([0] + [b.shape[0] for b in self.bs[: self.n_layers - 1]]).astype(np.intp)
        self.n_cols = np.array([w.shape[1] for w in self.ws], dtype=np.intp)
        self.has_scale = scale_w is not None
        self.has_offset = offset_w is not None
        self.scale_w = np.array(scale_w if self.has_scale else np.zeros(1), dtype=np.float64, order="C")
        self.offset_w = np.array(offset_w if self.has_offset else np.zeros(1), dtype=np.float64, order="C")
        self.cumulative = cumulative
        self.has_shift = shift is not None
        if self.has_shift:
            edges, table, size_col, group_col, scale_col, floor, row = shift
            self.shift_edges = np.array(edges, dtype=np.float64, order="C").ravel()
            self.shift_table = np.array(table, dtype=np.float64, order="C")
            if self.shift_table.shape[0] < 2 or self.shift_table.shape[1] != self.shift_edges.shape[0] + 1:
                raise ValueError("the shift table needs 2 pooled rows (and 1 per instrument), 1 column per size bucket")
            if not -1 <= row < self.shift_table.shape[0] or 0 <= row < 2:
                raise ValueError("the shift row is an instrument's (2 or more) or -1 (the market kind's pooled row)")
            self.shift_row = row
            if width < 2:
                raise ValueError("a band shift needs at least two outputs")
            self.shift_size_col, self.shift_group_col, self.shift_scale_col = size_col, group_col, scale_col
            self.shift_floor = floor
            for col in (size_col, group_col, scale_col):
                if not 0 <= col < self.n_in:
                    raise ValueError("shift columns must index the inputs")
        self.has_clip = clip is not None
        if self.has_clip:
            self.clip_lo = np.array(clip[0], dtype=np.float64, order="C").ravel()
            self.clip_hi = np.array(clip[1], dtype=np.float64, order="C").ravel()
            if self.clip_lo.shape[0] != self.n_in or self.clip_hi.shape[0] != self.n_in:
                raise ValueError("an input range needs a low and a high bound per input")
        self.has_recal = recal is not None
        if self.has_recal:
            knots, coef, u_col, group_col, sign, flow_cols = recal
            self.recal_knots = np.array(knots, dtype=np.float64, order="C").ravel()
            self.recal_coef = np.array(coef, dtype=np.float64, order="C")
            self.recal_u_col, self.recal_group_col, self.recal_sign = u_col, group_col, sign
            if width != 1 or self.acts[len(self.acts) - 1][0] != SIGMOID or self.has_scale or self.has_offset:
                raise ValueError("a recalibration needs one sigmoid output and no scale or offset")
            k = self.recal_knots.shape[0]
            c = self.recal_coef
            if k < 2 or c.shape[0] != 2 or c.shape[1] != k or c.shape[2] != 2:
                raise ValueError("a recalibration needs at least two knots and (2, knots, 2) coefficients")
            self.recal_flow = len(flow_cols) > 0
            if self.recal_flow:
                if len(flow_cols) != 3:
                    raise ValueError("the flow scale needs the queue, horizon and flow-over-order columns")
                self.recal_q_col, self.recal_h_col, self.recal_f_col = flow_cols
            for col in (u_col, group_col, *flow_cols):
                if not 0 <= col < self.n_in:
                    raise ValueError("the recalibration's columns must index the inputs")

    cdef double _recalibrated(self, double z, double *raw) noexcept:
        """``core.learned.nets.Recalibration``: (a, b) interpolated on the knots in u = sign x raw[u_col], per group."""
        cdef Py_ssize_t k = self.recal_knots.shape[0], j = 0
        cdef int g = 1 if raw[self.recal_group_col] > 0.5 else 0
        cdef double u = self.recal_sign * raw[self.recal_u_col], t, a, bb, order, flow
        if self.recal_flow:  # core.learned.nets.flow_usd_per_s
            order = pow(10.0, raw[self.recal_u_col]) + pow(10.0, raw[self.recal_q_col]) - 1.0
            flow = (pow(10.0, raw[self.recal_f_col]) * order - 1.0) / pow(10.0, raw[self.recal_h_col])
            u = raw[self.recal_u_col] - log10(fmax(flow, MIN_FLOW_USD_PER_S))
        if u < self.recal_knots[0]:
            u = self.recal_knots[0]
        if u > self.recal_knots[k - 1]:
            u = self.recal_knots[k - 1]
        while j < k - 2 and self.recal_knots[j + 1] <= u:
            j += 1
        t = (u - self.recal_knots[j]) / (self.recal_knots[j + 1] - self.recal_knots[j])
        a = (1.0 - t) * self.recal_coef[g, j, 0] + t * self.recal_coef[g, j + 1, 0]
        bb = (1.0 - t) * self.recal_coef[g, j, 1] + t * self.recal_coef[g, j + 1, 1]
        return _act(SIGMOID, a + bb * z)

    def __call__(self, row):
        """``row``: a sequence of ``n_in`` floats -> tuple of outputs (one per head)."""
        cdef Py_ssize_t n = self.n_in, i, j, li, n_out = 0
        if len(row) != n:
            raise ValueError(f"expected {n} features, got {len(row)}")
        cdef double *raw = <double *> malloc(n * sizeof(double))
        cdef double *h = <double *> malloc(self.width * sizeof(double))
        cdef double *z = <double *> malloc(self.width * sizeof(double))
        cdef double *tmp
        cdef double acc, sc = 0.0, off = 0.0, u, v, x
        cdef Py_ssize_t k, wi, bi, nc
        if raw == NULL or h == NULL or z == NULL:
            free(raw); free(h); free(z)
            raise MemoryError()
        try:
            for i in range(n):
                raw[i] = row[i]
                x = raw[i]
                if self.has_clip:  # numpy.minimum(numpy.maximum(x, lo), hi), as NumpyNet.normalised
                    if x < self.clip_lo[i]:
                        x = self.clip_lo[i]
                    if x > self.clip_hi[i]:
                        x = self.clip_hi[i]
                h[i] = (x - self.mean[i]) / self.scale[i]
            n_out = n
            for li in range(self.n_layers):
                wi, bi, nc = self.w_at[li], self.b_at[li], self.n_cols[li]
                for j in range(nc):
                    acc = 0.0
                    for i in range(n_out):
                        acc += h[i] * self.w_flat[wi + i * nc + j]
                    if self.has_recal and li == self.n_layers - 1:
                        z[j] = self._recalibrated(acc + self.b_flat[bi + j], raw)
                    else:
                        z[j] = _act(self.act_flat[bi + j], acc + self.b_flat[bi + j])
                n_out = nc
                tmp = h
                h = z
                z = tmp
            if self.has_scale:
                for i in range(n):
                    sc += raw[i] * self.scale_w[i]
                for j in range(n_out):
                    h[j] = h[j] * sc
            if self.has_offset:
                for i in range(n):
                    off += raw[i] * self.offset_w[i]
                h[0] += off
            if self.has_shift:
                u = raw[self.shift_size_col]
                k = 0
                while k < self.shift_edges.shape[0] and self.shift_edges[k] <= u:
                    k += 1
                v = raw[self.shift_scale_col]
                if self.shift_row >= 0:  # the instrument's own row (BandShift.row_of)
                    i = self.shift_row
                else:
                    i = 1 if raw[self.shift_group_col] > 0.5 else 0
                h[1] += self.shift_table[i, k] * (
                    v if v > self.shift_floor else self.shift_floor
                )
                if h[1] < 0.0:  # a two-sided shift never takes the p90 below the p50
                    h[1] = 0.0
            if self.cumulative:
                for j in range(1, n_out):
                    h[j] += h[j - 1]
            return tuple([h[j] for j in range(n_out)])
        finally:
            free(raw)
            free(h)
            free(z)
