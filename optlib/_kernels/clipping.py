"""Norms and in-place scaling of flat gradient arrays, for the clipping rules."""

import math

import numpy as np
from numba import njit

from .optim import typed

SMALL = 8192  #: below this many entries the 2-norm is one running sum (sum_of_squares)
LANES = 32  #: above it, the 2-norm's partial sums


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
        return math.sqrt(sum_of_squares(g))
    s = 0.0
    for i in range(g.size):
        s += abs(g[i]) ** p
    return s ** (1.0 / p)


@njit(cache=True, error_model="numpy")
def sum_of_squares(g):
    """The sum of g_i^2 in float64 (float32 entries are squared in float32).

    Below SMALL entries: one running sum in index order, so the book's models (chapter
    4's RNN has 1,153 parameters) get the sum written the plain way. But each addition
    of a running sum waits for the one before (about 4 cycles), which made the norm of
    a large float32 array 12x slower than reading it. So from SMALL entries on, lane j
    (of LANES) adds g_{i+j}^2 + g_{i+LANES+j}^2 (the pair added in float64) for each
    block of 2 LANES entries that starts at i, in index order; then the lanes are added
    in order, then the last entries that fill no block. The lanes do not depend on each
    other, so LLVM vectorises the loop over them, and adding a pair of squares per
    update halves the updates (10^7 float32 entries here: 1.4 ms; one square per update
    into 64 lanes, 1.6 ms, as the 4096 lanes this replaced). The order of every addition is written
    in this code, not chosen by the machine's vector width: the result is the same
    everywhere.
    """
    if g.size >= SMALL:
        return _sum_of_squares_in_lanes(g)
    s = 0.0
    for i in range(g.size):
        s += g[i] * g[i]
    return s


@njit(cache=True, error_model="numpy")
def _sum_of_squares_in_lanes(g):
    # a function of its own: with the running sum's loop beside it, LLVM leaves this
    # loop scalar (7x slower)
    full = g.size - g.size % (2 * LANES)
    lanes = np.zeros(LANES)
    for i in range(0, full, 2 * LANES):
        for j in range(LANES):
            a, b = g[i + j], g[i + LANES + j]
            lanes[j] += np.float64(a * a) + np.float64(b * b)
    s = 0.0
    for j in range(LANES):
        s += lanes[j]
    for i in range(full, g.size):
        s += g[i] * g[i]
    return s


@njit(cache=True, error_model="numpy")
def scale(g, c):
    """g <- c * g, in place, with c rounded to g's dtype first (as torch multiplies a
    float32 gradient by a float32 coefficient)."""
    c_g = typed(c, g)
    for i in range(g.size):
        g[i] *= c_g


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
