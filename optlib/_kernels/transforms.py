"""Gradient transformations for :mod:`optlib.chain`, one small kernel each.

Every kernel rewrites the flat update array ``u`` in place (it enters as the gradient,
or as what the previous link made of it) and updates its own state arrays in place.
The formulas are those of the fused rules in :mod:`optlib._kernels.optim`, split at
the points where optax splits them, so that a chain of links reproduces a fused
optimizer step by step. Compiled with ``error_model="numpy"`` as those are (every
denominator is at least ``eps > 0``, so no result changes; the loops vectorise), and
like those they round their scalars to the array's dtype first (:func:`typed`).
"""

import math

from numba import njit

from .optim import bias_correction, lerp, lerp_weights, typed


@njit(cache=True, error_model="numpy")
def add_scaled(u, x, c):
    """u <- u + c x (weight decay: x = params; noise: x = a standard normal draw;
    applying updates: u = params, x = updates, c = 1)."""
    c_x = typed(c, u)
    for i in range(u.size):
        u[i] += c_x * x[i]


@njit(cache=True, error_model="numpy")
def trace(u, buf, decay, dampening, nesterov, first):
    """Momentum in torch's form: buf <- decay buf + (1 - dampening) u (buf <- u on the
    first step); u <- u + decay buf (Nesterov) or u <- buf."""
    c_decay, c_u = typed(decay, u), typed(1.0 - dampening, u)
    for i in range(u.size):
        if first:
            buf[i] = u[i]
        else:
            buf[i] = c_decay * buf[i] + c_u * u[i]
        u[i] = u[i] + c_decay * buf[i] if nesterov else buf[i]


@njit(cache=True, error_model="numpy")
def scale_by_rms(u, sq, alpha, eps):
    """RMSprop's scaling: sq <- alpha sq + (1 - alpha) u^2; u <- u / (sqrt(sq) + eps)."""
    c_alpha, c_u, c_eps = typed(alpha, u), typed(1.0 - alpha, u), typed(eps, u)
    for i in range(u.size):
        sq[i] = c_alpha * sq[i] + c_u * u[i] * u[i]
        u[i] = u[i] / (math.sqrt(sq[i]) + c_eps)


@njit(cache=True, error_model="numpy")
def scale_by_adagrad(u, acc, eps):
    """AdaGrad's scaling: acc <- acc + u^2; u <- u / (sqrt(acc) + eps)."""
    c_eps = typed(eps, u)
    for i in range(u.size):
        acc[i] += u[i] * u[i]
        u[i] = u[i] / (math.sqrt(acc[i]) + c_eps)


@njit(cache=True, error_model="numpy")
def scale_by_adam(u, m, v, b1, b2, eps, step):
    """Adam's direction with t = step + 1: m, v moving averages (m rounded like torch's
    lerp); u <- (m / (1 - b1^t)) / (sqrt(v) / sqrt(1 - b2^t) + eps)."""
    t = step + 1
    bc1 = typed(bias_correction(b1, t), u)
    bc2_sqrt = typed(math.sqrt(bias_correction(b2, t)), u)
    w1, w1_rest = lerp_weights(1.0 - b1, u)
    c_b2, w2, c_eps = typed(b2, u), typed(1.0 - b2, u), typed(eps, u)
    for i in range(u.size):
        m[i] = lerp(m[i], u[i], w1, w1_rest)
        v[i] = c_b2 * v[i] + w2 * u[i] * u[i]
        u[i] = (m[i] / bc1) / (math.sqrt(v[i]) / bc2_sqrt + c_eps)
