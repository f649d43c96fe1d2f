"""Test landscapes as jitted kernels, selected by an integer id.

Selecting the function inside the kernel (rather than passing a jitted function in)
keeps every caller cacheable on disk. ``prm`` holds the function's parameters:
quadratic: A (n*n, row major) then the minimiser x* (n); Rosenbrock: a, b; others: none.
"""

import math

import numpy as np
from numba import njit

QUADRATIC, ROSENBROCK, BEALE, HIMMELBLAU, BOOTH, SADDLE, CAMEL, RASTRIGIN = range(8)


@njit(cache=True, _nrt=False)
def value(fid, prm, x):
    if fid == QUADRATIC:
        n = x.size
        f = 0.0
        for i in range(n):
            di = x[i] - prm[n * n + i]
            for j in range(n):
                f += 0.5 * di * prm[i * n + j] * (x[j] - prm[n * n + j])
        return f
    if fid == ROSENBROCK:
        a, b = prm[0], prm[1]
        f = 0.0
        for i in range(x.size - 1):
            f += b * (x[i + 1] - x[i] ** 2) ** 2 + (a - x[i]) ** 2
        return f
    if fid == RASTRIGIN:
        f = 10.0 * x.size
        for i in range(x.size):
            f += x[i] ** 2 - 10.0 * math.cos(2.0 * math.pi * x[i])
        return f
    X, Y = x[0], x[1]
    if fid == BEALE:
        return ((1.5 - X + X * Y) ** 2 + (2.25 - X + X * Y**2) ** 2
                + (2.625 - X + X * Y**3) ** 2)
    if fid == HIMMELBLAU:
        return (X**2 + Y - 11.0) ** 2 + (X + Y**2 - 7.0) ** 2
    if fid == BOOTH:
        return (X + 2.0 * Y - 7.0) ** 2 + (2.0 * X + Y - 5.0) ** 2
    if fid == SADDLE:
        return X**2 + 0.25 * Y**4 - 0.5 * Y**2
    # CAMEL: six-hump camel
    return (4.0 - 2.1 * X**2 + X**4 / 3.0) * X**2 + X * Y + (-4.0 + 4.0 * Y**2) * Y**2


@njit(cache=True, _nrt=False)
def grad(fid, prm, x, out):
    """Write the gradient at ``x`` into ``out``."""
    if fid == QUADRATIC:
        n = x.size
        for i in range(n):
            s = 0.0
            for j in range(n):
                s += prm[i * n + j] * (x[j] - prm[n * n + j])
            out[i] = s
        return
    if fid == ROSENBROCK:
        a, b = prm[0], prm[1]
        n = x.size
        for i in range(n):
            gi = 0.0
            if i < n - 1:
                gi += -4.0 * b * x[i] * (x[i + 1] - x[i] ** 2) - 2.0 * (a - x[i])
            if i > 0:
                gi += 2.0 * b * (x[i] - x[i - 1] ** 2)
            out[i] = gi
        return
    if fid == RASTRIGIN:
        for i in range(x.size):
            out[i] = 2.0 * x[i] + 20.0 * math.pi * math.sin(2.0 * math.pi * x[i])
        return
    X, Y = x[0], x[1]
    if fid == BEALE:
        a1 = 1.5 - X + X * Y
        a2 = 2.25 - X + X * Y**2
        a3 = 2.625 - X + X * Y**3
        out[0] = 2.0 * (a1 * (Y - 1.0) + a2 * (Y**2 - 1.0) + a3 * (Y**3 - 1.0))
        out[1] = 2.0 * (a1 * X + a2 * 2.0 * X * Y + a3 * 3.0 * X * Y**2)
    elif fid == HIMMELBLAU:
        u = X**2 + Y - 11.0
        v = X + Y**2 - 7.0
        out[0] = 4.0 * X * u + 2.0 * v
        out[1] = 2.0 * u + 4.0 * Y * v
    elif fid == BOOTH:
        u = X + 2.0 * Y - 7.0
        v = 2.0 * X + Y - 5.0
        out[0] = 2.0 * u + 4.0 * v
        out[1] = 4.0 * u + 2.0 * v
    elif fid == SADDLE:
        out[0] = 2.0 * X
        out[1] = Y**3 - Y
    else:
        out[0] = 8.0 * X - 8.4 * X**3 + 2.0 * X**5 + Y
        out[1] = X - 8.0 * Y + 16.0 * Y**3


@njit(cache=True)
def hess(fid, prm, x, out):
    """Write the Hessian at ``x`` into the n-by-n array ``out``."""
    n = x.size
    out[:, :] = 0.0
    if fid == QUADRATIC:
        for i in range(n):
            for j in range(n):
                out[i, j] = prm[i * n + j]
        return
    if fid == ROSENBROCK:
        b = prm[1]
        for i in range(n):
            if i < n - 1:
                out[i, i] += 12.0 * b * x[i] ** 2 - 4.0 * b * x[i + 1] + 2.0
                out[i, i + 1] = -4.0 * b * x[i]
                out[i + 1, i] = -4.0 * b * x[i]
            if i > 0:
                out[i, i] += 2.0 * b
        return
    if fid == RASTRIGIN:
        for i in range(n):
            out[i, i] = 2.0 + 40.0 * math.pi**2 * math.cos(2.0 * math.pi * x[i])
        return
    X, Y = x[0], x[1]
    if fid == BEALE:
        a1 = 1.5 - X + X * Y
        a2 = 2.25 - X + X * Y**2
        a3 = 2.625 - X + X * Y**3
        d1x, d1y = Y - 1.0, X
        d2x, d2y = Y**2 - 1.0, 2.0 * X * Y
        d3x, d3y = Y**3 - 1.0, 3.0 * X * Y**2
        out[0, 0] = 2.0 * (d1x**2 + d2x**2 + d3x**2)
        out[0, 1] = 2.0 * (d1x * d1y + d2x * d2y + d3x * d3y
                           + a1 + a2 * 2.0 * Y + a3 * 3.0 * Y**2)
        out[1, 1] = 2.0 * (d1y**2 + d2y**2 + d3y**2 + a2 * 2.0 * X + a3 * 6.0 * X * Y)
    elif fid == HIMMELBLAU:
        u = X**2 + Y - 11.0
        v = X + Y**2 - 7.0
        out[0, 0] = 4.0 * u + 8.0 * X**2 + 2.0
        out[0, 1] = 4.0 * X + 4.0 * Y
        out[1, 1] = 2.0 + 4.0 * v + 8.0 * Y**2
    elif fid == BOOTH:
        out[0, 0] = 10.0
        out[0, 1] = 8.0
        out[1, 1] = 10.0
    elif fid == SADDLE:
        out[0, 0] = 2.0
        out[1, 1] = 3.0 * Y**2 - 1.0
    else:
        out[0, 0] = 8.0 - 25.2 * X**2 + 10.0 * X**4
        out[0, 1] = 1.0
        out[1, 1] = -8.0 + 48.0 * Y**2
    out[1, 0] = out[0, 1]


@njit(cache=True)
def value_grid(fid, prm, xs, ys, out):
    """Values on the grid ``out[i, j] = f(xs[j], ys[i])`` (the layout contour plots use)."""
    p = np.empty(2)
    for i in range(ys.size):
        for j in range(xs.size):
            p[0] = xs[j]
            p[1] = ys[i]
            out[i, j] = value(fid, prm, p)
