"""Norms and in-place scaling of flat gradient arrays, for the clipping rules."""

import math

from numba import njit


@njit(cache=True, error_model="numpy")
def norm(g, p):
    """The p-norm of a flat array: p = inf gives max |g_i|; p = 2 sqrt(sum g_i^2)."""
    if math.isinf(p):
        m = 0.0
        for i in range(g.size):
            a = abs(g[i])
            if a > m or math.isnan(a):
                m = a
        return m
    s = 0.0  # one running sum, in index order: chapter 4's RNN runs depend on its bits
    if p == 2.0:
        for i in range(g.size):
            s += g[i] * g[i]
        return math.sqrt(s)
    for i in range(g.size):
        s += abs(g[i]) ** p
    return s ** (1.0 / p)


@njit(cache=True, error_model="numpy")
def scale(g, c):
    """g <- c * g, in place."""
    for i in range(g.size):
        g[i] *= c


@njit(cache=True, error_model="numpy")
def clamp(g, c):
    """g <- min(max(g, -c), c), in place; returns max |g_i| before clamping."""
    m = 0.0
    for i in range(g.size):
        a = abs(g[i])
        if a > m or math.isnan(a):
            m = a
        if g[i] > c:
            g[i] = c
        elif g[i] < -c:
            g[i] = -c
    return m
