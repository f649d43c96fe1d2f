"""Gradient transformations for :mod:`optlib.chain`, one small kernel each.

Every kernel rewrites the flat update array ``u`` in place (it enters as the gradient,
or as what the previous link made of it) and updates its own state arrays in place.
The formulas are those of the fused rules in :mod:`optlib._kernels.optim`, split at
the points where optax splits them, so that a chain of links reproduces a fused
optimizer step by step. Compiled with ``error_model="numpy"`` as those are (every
denominator is at least ``eps > 0``, so no result changes; the loops vectorise).
"""

import math

from numba import njit

from .optim import lerp


@njit(cache=True, error_model="numpy")
def add_scaled(u, x, c):
    """u <- u + c x (weight decay: x = params; noise: x = a standard normal draw;
    applying updates: u = params, x = updates, c = 1)."""
    for i in range(u.size):
        u[i] += c * x[i]


@njit(cache=True, error_model="numpy")
def trace(u, buf, decay, dampening, nesterov, first):
    """Momentum in torch's form: buf <- decay buf + (1 - dampening) u (buf <- u on the
    first step); u <- u + decay buf (Nesterov) or u <- buf."""
    for i in range(u.size):
        if first:
            buf[i] = u[i]
        else:
            buf[i] = decay * buf[i] + (1.0 - dampening) * u[i]
        u[i] = u[i] + decay * buf[i] if nesterov else buf[i]


@njit(cache=True, error_model="numpy")
def scale_by_rms(u, sq, alpha, eps):
    """RMSprop's scaling: sq <- alpha sq + (1 - alpha) u^2; u <- u / (sqrt(sq) + eps)."""
    for i in range(u.size):
        sq[i] = alpha * sq[i] + (1.0 - alpha) * u[i] * u[i]
        u[i] = u[i] / (math.sqrt(sq[i]) + eps)


@njit(cache=True, error_model="numpy")
def scale_by_adagrad(u, acc, eps):
    """AdaGrad's scaling: acc <- acc + u^2; u <- u / (sqrt(acc) + eps)."""
    for i in range(u.size):
        acc[i] += u[i] * u[i]
        u[i] = u[i] / (math.sqrt(acc[i]) + eps)


@njit(cache=True, error_model="numpy")
def scale_by_adam(u, m, v, b1, b2, eps, step):
    """Adam's direction with t = step + 1: m, v moving averages (m rounded like torch's
    lerp); u <- (m / (1 - b1^t)) / (sqrt(v) / sqrt(1 - b2^t) + eps)."""
    t = step + 1
    bc1 = 1.0 - b1**t
    bc2_sqrt = math.sqrt(1.0 - b2**t)
    for i in range(u.size):
        m[i] = lerp(m[i], u[i], 1.0 - b1)
        v[i] = b2 * v[i] + (1.0 - b2) * u[i] * u[i]
        u[i] = (m[i] / bc1) / (math.sqrt(v[i]) / bc2_sqrt + eps)
