"""Kernels for the performance measurements: the bandwidth probe, a parallel Adam."""

import math

from numba import njit, prange

from .optim import adam_coefficients, adam_moments, typed


@njit(cache=True, error_model="numpy")
def stream(a, b, s):
    """The STREAM triad a <- a + s b with its output written in place: per entry it
    reads two words and writes one, and moves nothing it does not count (a store to a
    fresh output array would first read that array's memory too)."""
    for i in range(a.size):
        a[i] += s * b[i]


@njit(cache=True, error_model="numpy", parallel=True)
def stream_parallel(a, b, s):
    """:func:`stream` split over all threads."""
    for i in prange(a.size):
        a[i] += s * b[i]


@njit(cache=True, error_model="numpy", parallel=True)
def adam_step_parallel(p, g, m, v, lr, b1, b2, eps, weight_decay, decoupled, maximize,
                       step):
    """``optim.adam_step`` without AMSGrad, its entries split over all threads. Each
    entry runs the same code as in the serial kernel: the result is bitwise equal."""
    t = step + 1
    bc2_sqrt = typed(math.sqrt(1.0 - b2**t), p)
    step_size = typed(lr / (1.0 - b1**t), p)
    c_eps = typed(eps, p)
    coef = adam_coefficients(p, lr, b1, b2, weight_decay)
    for i in prange(p.size):
        _, vi = adam_moments(p, g, m, v, i, coef, decoupled, maximize)
        p[i] -= step_size * m[i] / (math.sqrt(vi) / bc2_sqrt + c_eps)
