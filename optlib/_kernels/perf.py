"""Kernels for the performance measurements: the bandwidth probe, a parallel Adam, the
C library's tanh."""

import math

from numba import njit, prange

from .optim import (adam_coefficients, adam_moments, adam_step_scalars,
                    bias_correction, lerp, lerp_weights)


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


@njit(cache=True, error_model="numpy")
def tanh_libm(a):
    """a[...] = tanh(a) the way Numba compiles ``np.tanh`` or ``math.tanh``: one call of
    the C library's tanh per entry (with no vector math library to call instead, even
    LLVM's vectorised loop makes one call per entry)."""
    flat = a.reshape(a.size)
    for i in range(flat.size):
        flat[i] = math.tanh(flat[i])


@njit(cache=True, error_model="numpy", parallel=True)
def adam_step_parallel(p, g, m, v, lr, b1, b2, eps, weight_decay, decoupled, maximize,
                       step):
    """``optim.adam_step`` without AMSGrad, its entries split over all threads. Each
    entry runs the same code as in the serial kernel: the result is bitwise equal."""
    step_size, bc2_sqrt, c_eps = adam_step_scalars(p, lr, b1, b2, eps, step)
    coef = adam_coefficients(p, lr, b1, b2, weight_decay)
    for i in prange(p.size):
        pi, _, mi, vi = adam_moments(p, g, m, v, i, coef, decoupled, maximize)
        p[i] = pi - step_size * mi / (math.sqrt(vi) / bc2_sqrt + c_eps)


@njit(cache=True, error_model="numpy", _nrt=False)
def adam_rosenbrock(x, lr, b1, b2, eps, a, b, xs, fs, gnorms):
    """Adam (torch's defaults otherwise) on the 2-D Rosenbrock function, written out by
    hand for this one case: no dispatch on the rule or the landscape, scalars instead of
    arrays. The arithmetic of ``trajectory.run`` in the same order, recording the same
    things, so it takes the same path bit for bit: the ceiling for the generic loop."""
    x0, x1 = x[0], x[1]
    m0 = m1 = v0 = v1 = 0.0
    (w1, w1_rest), w2 = lerp_weights(1.0 - b1, x), 1.0 - b2
    xs[0, 0], xs[0, 1] = x0, x1
    fs[0] = b * (x1 - x0**2) ** 2 + (a - x0) ** 2
    for k in range(gnorms.size):
        t = k + 1
        g0 = -4.0 * b * x0 * (x1 - x0**2) - 2.0 * (a - x0)
        g1 = 2.0 * b * (x1 - x0**2)
        gnorms[k] = math.sqrt(g0 * g0 + g1 * g1)
        bc2_sqrt = math.sqrt(bias_correction(b2, t))
        step_size = lr / bias_correction(b1, t)
        m0, m1 = lerp(m0, g0, w1, w1_rest), lerp(m1, g1, w1, w1_rest)
        v0, v1 = b2 * v0 + w2 * g0 * g0, b2 * v1 + w2 * g1 * g1
        x0 -= step_size * m0 / (math.sqrt(v0) / bc2_sqrt + eps)
        x1 -= step_size * m1 / (math.sqrt(v1) / bc2_sqrt + eps)
        xs[t, 0], xs[t, 1] = x0, x1
        fs[t] = b * (x1 - x0**2) ** 2 + (a - x0) ** 2


@njit(cache=True, error_model="numpy", _nrt=False)
def adam_rosenbrock_chain(x, step_size, bc2_sqrt, b1, b2, eps, a, b, steps):
    """What is left of :func:`adam_rosenbrock` when only the chain of dependent arithmetic
    remains: each step's gradient, moments and update, in the same order, with Adam's
    scalars lr / (1 - b1^t) and sqrt(1 - b2^t) held at the given values (lr and 1 give
    Adam's iterates once both corrections round to 1) and nothing recorded; x (2,) is
    updated in place. Each step needs the point the step before computed, so the sum of
    these latencies bounds from below any loop that computes Adam's iterates with this
    arithmetic (its divisions included: both scalars are run-time values here)."""
    x0, x1 = x[0], x[1]
    m0 = m1 = v0 = v1 = 0.0
    (w1, w1_rest), w2 = lerp_weights(1.0 - b1, x), 1.0 - b2
    for _ in range(steps):
        g0 = -4.0 * b * x0 * (x1 - x0**2) - 2.0 * (a - x0)
        g1 = 2.0 * b * (x1 - x0**2)
        m0, m1 = lerp(m0, g0, w1, w1_rest), lerp(m1, g1, w1, w1_rest)
        v0, v1 = b2 * v0 + w2 * g0 * g0, b2 * v1 + w2 * g1 * g1
        x0 -= step_size * m0 / (math.sqrt(v0) / bc2_sqrt + eps)
        x1 -= step_size * m1 / (math.sqrt(v1) / bc2_sqrt + eps)
    x[0], x[1] = x0, x1


@njit(cache=True)
def matmul_repeat(a, b, calls):
    """``a @ b``, ``calls`` times, inside compiled code, as the models' kernels multiply
    (no interpreter between the products); returns the sum of the products' first
    entries, so that none can be left out."""
    s = 0.0
    for _ in range(calls):
        s += (a @ b)[0, 0]
    return s
