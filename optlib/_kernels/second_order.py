"""The numerical cores of Newton's method and L-BFGS.

Each kernel works on flat float64 arrays and writes its result into ``out``. The
drivers in :mod:`optlib.second_order` call them between evaluations of the objective.
As in :mod:`optlib._kernels.optim`, ``error_model="numpy"`` drops the check for a
division by zero (none can happen here: pivots are tested positive first, and
``cubic_minimizer`` tests its denominators), so the loops can vectorise.
"""

import math

from numba import njit


@njit(cache=True, error_model="numpy")
def cholesky(A, L):
    """Write the lower Cholesky factor of the symmetric matrix A into L (A = L L^T).

    Returns False, leaving L partly written, as soon as a pivot is not positive: A is
    then not positive definite.
    """
    n = A.shape[0]
    for j in range(n):
        d = A[j, j]
        for k in range(j):
            d -= L[j, k] * L[j, k]
        if not d > 0.0:  # also catches NaN
            return False
        L[j, j] = math.sqrt(d)
        for i in range(j + 1, n):
            s = A[i, j]
            for k in range(j):
                s -= L[i, k] * L[j, k]
            L[i, j] = s / L[j, j]
        for i in range(j):
            L[i, j] = 0.0
    return True


@njit(cache=True, error_model="numpy")
def cholesky_solve(L, b, out):
    """Solve (L L^T) out = b by a forward then a backward substitution."""
    n = b.size
    for i in range(n):  # L z = b
        s = b[i]
        for k in range(i):
            s -= L[i, k] * out[k]
        out[i] = s / L[i, i]
    for i in range(n - 1, -1, -1):  # L^T out = z
        s = out[i]
        for k in range(i + 1, n):
            s -= L[k, i] * out[k]
        out[i] = s / L[i, i]


@njit(cache=True, error_model="numpy")
def modified_newton_direction(H, g, beta, L, out):
    """Newton's direction with the Hessian made positive definite; returns the shift tau.

    Adds tau I to H, tau = 0 if H is already positive definite, else starting from
    -min(diag H) + beta and doubling until the Cholesky factorisation succeeds
    (Nocedal & Wright, Algorithm 3.3). Then solves (H + tau I) out = -g.
    """
    n = g.size
    A = H.copy()
    dmin = H[0, 0]
    for i in range(n):
        dmin = min(dmin, H[i, i])
    tau = 0.0 if dmin > 0.0 else beta - dmin
    while True:
        for i in range(n):
            A[i, i] = H[i, i] + tau
        if cholesky(A, L):
            break
        tau = max(2.0 * tau, beta)
    cholesky_solve(L, -g, out)
    return tau


@njit(cache=True, error_model="numpy")
def two_loop(g, S, Y, rho, newest, count, gamma, alpha, out):
    """L-BFGS's two-loop recursion: out <- H g, H the inverse-Hessian approximation
    built from the ``count`` newest pairs (s_i, y_i) of the circular buffers S, Y
    (rows; ``newest`` is the row of the latest pair) and the initial scaling gamma I.

    ``rho[i]`` is 1 / (y_i . s_i); ``alpha`` is scratch space of one entry per row.
    """
    m = S.shape[0]
    out[:] = g
    i = newest
    for _ in range(count):  # newest to oldest
        a = 0.0
        for j in range(g.size):
            a += S[i, j] * out[j]
        alpha[i] = rho[i] * a
        for j in range(g.size):
            out[j] -= alpha[i] * Y[i, j]
        i = (i - 1) % m
    for j in range(g.size):
        out[j] *= gamma
    i = (newest - count + 1) % m
    for _ in range(count):  # oldest to newest
        b = 0.0
        for j in range(g.size):
            b += Y[i, j] * out[j]
        b *= rho[i]
        for j in range(g.size):
            out[j] += (alpha[i] - b) * S[i, j]
        i = (i + 1) % m


@njit(cache=True, error_model="numpy")
def cubic_minimizer(a, fa, da, b, fb, db):
    """The minimiser of the cubic with values fa, fb and slopes da, db at a and b
    (Nocedal & Wright, eq. 3.59; a < b or b < a), the vertex for a convex quadratic; NaN
    when a == b or when the cubic's slope has no real root (it has no critical point).

    The formula degenerates where the cubic has no minimiser though its slope vanishes,
    and where its local maximum lies at the midpoint (a + b) / 2. In exact arithmetic
    it gives NaN for a concave quadratic, a line, and a maximum (or a double root of the
    slope) at the midpoint, its denominator being 0; for a slope with a double root r
    elsewhere (an inflection point, no minimiser) it gives r. Rounding can turn these
    results into NaN, a meaningless finite number, or a value near r. Callers must
    check the result: the line searches of optlib.second_order clamp it (extrapolating)
    or bisect instead (inside a bracket).
    """
    if a == b:
        return math.nan
    d1 = da + db - 3.0 * (fa - fb) / (a - b)
    disc = d1 * d1 - da * db
    if disc < 0.0:
        return math.nan
    d2 = math.copysign(math.sqrt(disc), b - a)
    denom = db - da + 2.0 * d2
    if denom == 0.0:
        return math.nan
    return b - (b - a) * (db + d2 - d1) / denom
