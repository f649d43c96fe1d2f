"""Norms and in-place scaling of flat gradient arrays, for the clipping rules."""

import math

import numpy as np
from numba import njit

from .optim import typed

LANES = 4096  #: the 2-norm's partial sums (see sum_of_squares)
BLOCKS = 8  #: blocks of LANES entries added per pass over the lanes
SPAN = LANES // 4  #: lanes per sub-pass: 8 KB of float64, which L1 keeps


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

    One running sum in index order waits for each addition to finish before starting
    the next (about 4 cycles each), which made the norm of a large float32 array 12x
    slower than reading it. Here lane j sums the entries j, j + LANES, j + 2 LANES, ...
    and the lanes are added in order at the end. The lanes do not depend on each other,
    so LLVM vectorises the loop over them; the order of every addition is fixed by this
    code, not by the machine's vector width, so the result is the same everywhere.
    Under 2 LANES entries it *is* the running sum in index order (lane j holds one
    square): the book's models (chapter 4's RNN has 1,153 parameters) keep their bits.

    The lanes (32 KB of float64) fill a typical L1 cache, so each pass adds BLOCKS
    blocks of entries to a lane held in a register before storing it back, SPAN lanes
    at a time: the same additions in the same order, with an eighth of the lane
    traffic (2.5x faster on 10^7 float32 entries here).
    """
    full = g.size - g.size % LANES
    lanes = np.zeros(LANES if full else 0)
    many = full - full % (BLOCKS * LANES)
    for start in range(0, many, BLOCKS * LANES):
        for first in range(0, LANES, SPAN):
            for j in range(first, first + SPAN):
                s = lanes[j]
                for k in range(BLOCKS):
                    s += g[start + k * LANES + j] * g[start + k * LANES + j]
                lanes[j] = s
    for start in range(many, full, LANES):
        for j in range(LANES):
            lanes[j] += g[start + j] * g[start + j]
    s = 0.0
    for j in range(lanes.size):
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
