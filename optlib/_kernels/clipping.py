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
    if p == 2.0:
        return math.sqrt(sum_squares(g))
    s = 0.0
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


@njit(cache=True, error_model="numpy")
def sum_squares(g):
    """sum g_i^2 as eight interleaved partial sums (s_j takes i = j mod 8), added in pairs.

    A single running sum makes every addition wait for the one before it, so the loop
    runs at the adder's latency instead of the memory's speed; the compiler may not
    reorder floating-point additions for us (no fastmath). Eight independent sums, as in
    NumPy's pairwise sum, are as accurate as one or more so.
    """
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    n8 = g.size - g.size % 8
    for i in range(0, n8, 8):
        s0 += g[i] * g[i]
        s1 += g[i + 1] * g[i + 1]
        s2 += g[i + 2] * g[i + 2]
        s3 += g[i + 3] * g[i + 3]
        s4 += g[i + 4] * g[i + 4]
        s5 += g[i + 5] * g[i + 5]
        s6 += g[i + 6] * g[i + 6]
        s7 += g[i + 7] * g[i + 7]
    for i in range(n8, g.size):
        s0 += g[i] * g[i]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
