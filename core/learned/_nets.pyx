# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled twin of ``core.learned.nets.NumpyNet``'s forward pass for one row (per-tick model output);
tests hold it equal to the numpy pass to 1e-12. Loaded through ``core.compiled``.
"""

from libc.math cimport log1p, exp, tanh
from libc.stdlib cimport malloc, free


cdef enum Act:
    LINEAR = 0
    RELU = 1
    SOFTPLUS = 2
    SIGMOID = 3

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
    one activation code per output column), then the optional scale and offset vectors and the
    quantiles' cumulative sum.
    """

    cdef double[:] mean, scale
    cdef list ws, bs, acts
    cdef double[:] scale_w, offset_w
    cdef bint has_scale, has_offset, cumulative
    cdef Py_ssize_t n_in, width

    def __init__(self, mean, scale, layers, scale_w=None, offset_w=None, bint cumulative=False):
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
        self.has_scale = scale_w is not None
        self.has_offset = offset_w is not None
        self.scale_w = np.array(scale_w if self.has_scale else np.zeros(1), dtype=np.float64, order="C")
        self.offset_w = np.array(offset_w if self.has_offset else np.zeros(1), dtype=np.float64, order="C")
        self.cumulative = cumulative

    def __call__(self, row):
        """``row``: a sequence of ``n_in`` floats -> tuple of outputs (one per head)."""
        cdef Py_ssize_t n = self.n_in, i, j, li, n_out = 0
        if len(row) != n:
            raise ValueError(f"expected {n} features, got {len(row)}")
        cdef double *raw = <double *> malloc(n * sizeof(double))
        cdef double *h = <double *> malloc(self.width * sizeof(double))
        cdef double *z = <double *> malloc(self.width * sizeof(double))
        cdef double *tmp
        cdef double acc, sc = 0.0, off = 0.0
        cdef double[:, :] w
        cdef double[:] b
        cdef int[:] act
        if raw == NULL or h == NULL or z == NULL:
            free(raw); free(h); free(z)
            raise MemoryError()
        try:
            for i in range(n):
                raw[i] = row[i]
                h[i] = (raw[i] - self.mean[i]) / self.scale[i]
            n_out = n
            for li in range(len(self.ws)):
                w = self.ws[li]
                b = self.bs[li]
                act = self.acts[li]
                for j in range(w.shape[1]):
                    acc = 0.0
                    for i in range(n_out):
                        acc += h[i] * w[i, j]
                    z[j] = _act(act[j], acc + b[j])
                n_out = w.shape[1]
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
            if self.cumulative:
                for j in range(1, n_out):
                    h[j] += h[j - 1]
            return tuple([h[j] for j in range(n_out)])
        finally:
            free(raw)
            free(h)
            free(z)
