"""Second-order methods: Newton's method and L-BFGS, with their line searches.

>>> import optlib as ol
>>> res = ol.second_order.lbfgs(ol.functions.rosenbrock(dim=2))
>>> res.status, bool(res.fun < 1e-10)  # stopped once f barely decreased, at the minimum
('ftol', True)

An *objective* is any object with ``value(x)`` and ``grad(x)`` methods, plus ``hess(x)``
for Newton's method: every :mod:`optlib.functions` landscape, or a model with its data
through :class:`ModelObjective`. The drivers count every evaluation, so they can be
compared with ``scipy.optimize`` on equal terms (:func:`scipy_minimize` runs scipy on
the same objective with the same counters).

Every run returns a :class:`Result`. Its ``status`` says why it stopped:

* ``'converged'``: the largest gradient entry fell to ``gtol`` or below;
* ``'ftol'``: a step lowered f by less than ``ftol * max(|f|, |f_new|, 1)`` (scipy's
  L-BFGS-B test);
* ``'max_iter'``, ``'max_evals'``: the budget ran out;
* ``'line_search_failed'``: no step length met the line-search conditions;
* ``'not_descent'``: (damped Newton) the Hessian is not positive definite and Newton's
  direction points uphill, so no step along it can decrease f;
* ``'singular_hessian'``: (pure Newton) the Hessian cannot be inverted;
* ``'non_finite'``: a value, gradient or Hessian became inf or NaN during the run.

Bad input (a non-finite start, gradient or Hessian *at the start*, ``m < 1``, a
direction that does not descend given to a line search) raises ``ValueError`` instead.
The numerical cores (Cholesky with a diagonal shift, the two-loop recursion, cubic
interpolation) are the jitted kernels of :mod:`optlib._kernels.second_order`.
"""

import math
from typing import NamedTuple

import numpy as np

from . import _validate as v
from ._kernels import second_order as _k

METHODS = ("pure", "damped", "modified")
LINE_SEARCHES = ("wolfe", "armijo")
FTOL = 2.220446049250313e-09  #: scipy's L-BFGS-B default: factr 1e7 times machine epsilon


class Result(NamedTuple):
    """The outcome of one run, with its full history."""

    x: np.ndarray  #: the last iterate
    fun: float  #: f(x)
    grad: np.ndarray  #: the gradient at x
    status: str  #: why the run stopped (see the module docstring)
    n_iter: int  #: iterations (accepted steps)
    n_fev: int  #: function evaluations
    n_gev: int  #: gradient evaluations
    n_hev: int  #: Hessian evaluations
    path: np.ndarray  #: the iterates x_0 ... x_{n_iter}, shape (n_iter + 1, n)
    loss: np.ndarray  #: f at each iterate, shape (n_iter + 1,)
    grad_norm: np.ndarray  #: ||grad f||_2 at each iterate, shape (n_iter + 1,)
    step_size: np.ndarray  #: the accepted step length of each iteration, shape (n_iter,)
    shift: np.ndarray  #: the Hessian shift tau of each iteration (0 if none), shape (n_iter,)
    skipped: int  #: L-BFGS curvature pairs skipped because s.y was not positive
    #: requests to the objective: for f, its gradient, or both at once, one each (what
    #: ``max_evals`` bounds; an objective without ``value_and_grad`` answers a request
    #: for both with two calls, its ``value`` and its ``grad``)
    n_evals: int


class LineSearch(NamedTuple):
    """The outcome of one line search along d from x."""

    alpha: float  #: the step length found (the last one tried if ``ok`` is False)
    fun: float  #: f(x + alpha d)
    slope: float  #: grad f(x + alpha d) . d (NaN for Armijo, which does not need it)
    n_evals: int  #: evaluations spent
    ok: bool  #: whether alpha meets the conditions


class ModelObjective:
    """A model's mean training loss on fixed data, as an objective of its parameters.

    >>> import optlib as ol
    >>> data = ol.datasets.load_breast_cancer()
    >>> obj = ol.second_order.ModelObjective(ol.models.LogisticRegression(30, l2=1e-3),
    ...                                      data.X_train, data.y_train)
    >>> ol.second_order.lbfgs(obj).status
    'converged'
    """

    def __init__(self, model, X, y):
        from .models import Model

        if not isinstance(model, Model):
            raise TypeError(f"model must be an optlib.models model, got {type(model).__name__}")
        self.model = model
        params = np.zeros(model.n_params)
        _, self.X, self.y = model._check(params, X, y)
        self.dim = model.n_params
        self.x0 = model.init(seed=0)
        self.name = type(model).__name__

    def value_and_grad(self, x):
        x = v.float_array("x", x, shape=(self.dim,), copy=True)
        g = np.empty_like(x)
        return float(self.model._kernel(x, self.X, self.y, g)), g

    def value(self, x):
        return self.value_and_grad(x)[0]

    def grad(self, x):
        return self.value_and_grad(x)[1]


class _NonFinite(Exception):
    """Raised inside a line search when the gradient at a trial point is not finite."""


class _Counted:
    """Wraps an objective: validates its outputs' shapes and counts every evaluation
    (``n_calls``: the requests for value, grad or value_and_grad, one each)."""

    def __init__(self, fn, need_hess=False):
        if not (hasattr(fn, "value") and hasattr(fn, "grad")):
            raise TypeError("fn must have value(x) and grad(x) methods (an optlib.functions "
                            f"landscape or a ModelObjective), got {type(fn).__name__}")
        if need_hess and not hasattr(fn, "hess"):
            raise TypeError(f"Newton's method needs fn.hess(x); {type(fn).__name__} has none")
        self.fn = fn
        self.n_fev = self.n_gev = self.n_hev = self.n_calls = 0

    def value(self, x):
        self.n_fev += 1
        self.n_calls += 1
        return float(self.fn.value(x))

    def value_and_grad(self, x):
        self.n_fev += 1
        self.n_gev += 1
        self.n_calls += 1
        if hasattr(self.fn, "value_and_grad"):
            f, g = self.fn.value_and_grad(x)
        else:
            f, g = self.fn.value(x), self.fn.grad(x)
        return float(f), self._sized("fn.grad(x)", g, x.shape)

    def grad(self, x):
        self.n_gev += 1
        self.n_calls += 1
        return self._sized("fn.grad(x)", self.fn.grad(x), x.shape)

    def hess(self, x):
        self.n_hev += 1
        return self._sized("fn.hess(x)", self.fn.hess(x), (x.size, x.size))

    @staticmethod
    def _sized(what, out, shape):
        out = np.asarray(out, dtype=np.float64)
        if out.size != math.prod(shape):
            raise ValueError(f"{what} must return {math.prod(shape)} numbers (shape "
                             f"{shape}) for x of {shape[0]} entries, got shape {out.shape}")
        return np.ascontiguousarray(out.reshape(shape))


def _start(fn, x0):
    """The validated starting point, with f and its gradient there."""
    if x0 is None:
        x0 = getattr(fn.fn, "x0", None)
        if x0 is None:
            raise ValueError("x0 is required for an objective without a default start x0")
    x = v.float_array("x0", x0, ndim=1, copy=True).astype(np.float64)
    dim = getattr(fn.fn, "dim", x.size)
    if x.size != dim:
        raise ValueError(f"x0 must have {dim} entries, got {x.size}")
    f, g = fn.value_and_grad(x)
    if not (math.isfinite(f) and np.all(np.isfinite(g))):
        raise ValueError(f"f or its gradient is not finite at x0 (f = {f}); "
                         "start from a point where both are finite")
    return x, f, g


def _check_constants(c1, **given):
    """c1, then c2 and/or shrink if given (by keyword; None is refused like any other
    non-number): 0 < c1 < c2 < 1 and 0 < shrink < 1."""
    c1 = v.real("c1", c1, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    low = {"c2": c1, "shrink": 0.0}
    return (c1, *(v.real(name, value, low=low[name], high=1.0, low_inclusive=False,
                         high_inclusive=False) for name, value in given.items()))


# ---------------------------------------------------------------------------------------
# Line searches. Each works on phi(alpha) = f(x + alpha d); slope means phi'(alpha).


def _armijo(phi, f0, slope0, alpha, c1, shrink, max_evals):
    """Backtracking: try alpha, shrink*alpha, shrink^2*alpha, ... until the Armijo
    (sufficient decrease) condition f(x + alpha d) <= f(x) + c1 alpha slope0 holds."""
    f = math.nan
    for n in range(1, max_evals + 1):
        f = phi(alpha)
        if f <= f0 + c1 * alpha * slope0:  # False for NaN: a NaN trial shrinks too
            return LineSearch(alpha, f, math.nan, n, True)
        if n < max_evals:
            alpha *= shrink
    return LineSearch(alpha, f, math.nan, max_evals, False)


def _wolfe(phi, f0, slope0, alpha, c1, c2, max_evals):
    """A step length meeting the strong Wolfe conditions (Nocedal & Wright, Alg. 3.5-3.6):

        f(x + alpha d) <= f(x) + c1 alpha slope0      (sufficient decrease)
        |grad f(x + alpha d) . d| <= c2 |slope0|      (curvature)

    First grow alpha until an interval must contain such a point, then shrink that
    interval by safeguarded cubic interpolation. ``phi(alpha)`` returns (f, slope).
    """
    prev = (0.0, f0, slope0)
    n = 0
    while n < max_evals:
        f, s = phi(alpha)
        n += 1
        if not (f <= f0 + c1 * alpha * slope0) or (n > 1 and f >= prev[1]):
            return _zoom(phi, f0, slope0, prev, (alpha, f, s), c1, c2, n, max_evals)
        if abs(s) <= -c2 * slope0:
            return LineSearch(alpha, f, s, n, True)
        if s >= 0.0:
            return _zoom(phi, f0, slope0, (alpha, f, s), prev, c1, c2, n, max_evals,
                         last=(alpha, f, s))
        # Still going down: extrapolate with the cubic, at least 2x and at most 10x.
        trial = _k.cubic_minimizer(prev[0], prev[1], prev[2], alpha, f, s)
        prev = (alpha, f, s)
        alpha = min(max(trial, 2.0 * alpha), 10.0 * alpha) if math.isfinite(trial) \
            else 2.0 * alpha
    return LineSearch(*prev, n, False)  # out of evaluations: the last point tried


def _zoom(phi, f0, slope0, lo, hi, c1, c2, n, max_evals, last=None):
    """Shrink [lo, hi] (lo: the best point so far with sufficient decrease; the interval
    holds a strong Wolfe point) until one is found. ``last``: the point tried last
    before the call (by default ``hi``), returned if no evaluation is left."""
    last = hi if last is None else last
    while n < max_evals:
        a_lo, a_hi = lo[0], hi[0]
        a = _k.cubic_minimizer(*lo, *hi) if math.isfinite(hi[1] + hi[2]) else math.nan
        margin = 0.1 * abs(a_hi - a_lo)
        if not min(a_lo, a_hi) + margin <= a <= max(a_lo, a_hi) - margin:
            a = 0.5 * (a_lo + a_hi)  # the cubic is unreliable: bisect
        f, s = phi(a)
        n += 1
        last = (a, f, s)
        if not (f <= f0 + c1 * a * slope0) or f >= lo[1]:
            hi = (a, f, s)
            continue
        if abs(s) <= -c2 * slope0:
            return LineSearch(a, f, s, n, True)
        if s * (a_hi - a_lo) >= 0.0:
            hi = lo
        lo = (a, f, s)
    return LineSearch(*last, n, False)  # out of evaluations: the last point tried


def _check_direction(fn, x, d):
    x = v.float_array("x", x, ndim=1, copy=True).astype(np.float64)
    d = v.float_array("d", d, shape=x.shape, copy=True).astype(np.float64)
    fn = _Counted(fn)
    f0, g0 = fn.value_and_grad(x)
    slope0 = float(g0 @ d)
    if not slope0 < 0.0:
        raise ValueError(f"d must be a descent direction (grad f(x) . d < 0), got "
                         f"grad f(x) . d = {slope0:.6g}")
    return fn, x, d, f0, slope0


def armijo(fn, x, d, alpha0=1.0, c1=1e-4, shrink=0.5, max_evals=50):
    """Backtracking line search: the first alpha = alpha0 * shrink^j (j = 0, 1, ...) with
    f(x + alpha d) <= f(x) + c1 alpha grad f(x).d. Returns a :class:`LineSearch`.

    ``d`` must be a descent direction; ``n_evals`` counts the trial values of f.
    """
    alpha0 = v.positive("alpha0", alpha0)
    c1, shrink = _check_constants(c1, shrink=shrink)
    max_evals = v.integer("max_evals", max_evals, low=1, high=10_000)
    fn, x, d, f0, slope0 = _check_direction(fn, x, d)
    return _armijo(lambda a: fn.value(x + a * d), f0, slope0, alpha0, c1, shrink, max_evals)


def wolfe(fn, x, d, alpha0=1.0, c1=1e-4, c2=0.9, max_evals=20):
    """Strong Wolfe line search (bracketing, then zoom by cubic interpolation); returns a
    :class:`LineSearch`. Needs 0 < c1 < c2 < 1 and a descent direction ``d``."""
    alpha0 = v.positive("alpha0", alpha0)
    c1, c2 = _check_constants(c1, c2=c2)
    max_evals = v.integer("max_evals", max_evals, low=1, high=10_000)
    fn, x, d, f0, slope0 = _check_direction(fn, x, d)

    def phi(a):
        f, g = fn.value_and_grad(x + a * d)
        return f, float(g @ d)

    return _wolfe(phi, f0, slope0, alpha0, c1, c2, max_evals)


# ---------------------------------------------------------------------------------------
# The drivers share one recorder.


class _Record:
    def __init__(self, x, f, g, keep_path):
        self.keep_path = keep_path
        self.path, self.loss, self.gnorm = [x.copy()], [f], [float(np.linalg.norm(g))]
        self.alpha, self.shift = [], []

    def step(self, x, f, g, alpha, shift=0.0):
        if self.keep_path:
            self.path.append(x.copy())
        self.loss.append(f)
        self.gnorm.append(float(np.linalg.norm(g)))
        self.alpha.append(alpha)
        self.shift.append(shift)

    def result(self, fn, x, f, g, status, skipped=0):
        path = np.array(self.path) if self.keep_path else np.array(self.path[:1])
        return Result(x, f, g, status, len(self.alpha), fn.n_fev, fn.n_gev, fn.n_hev, path,
                      np.array(self.loss), np.array(self.gnorm), np.array(self.alpha),
                      np.array(self.shift), skipped, fn.n_calls)


def newton(fn, x0=None, method="modified", gtol=1e-8, max_iter=100, c1=1e-4, shrink=0.5,
           beta=1e-3, keep_path=True):
    """Newton's method: step to the minimiser of the local quadratic model,
    d = -H^{-1} g.

    ``method``:

    * ``'pure'``: x <- x + d, no line search. Fast near a minimiser; it also heads for
      saddles and maxima, and can overshoot far from the minimum.
    * ``'damped'``: Armijo backtracking along d (``c1``, ``shrink``). Stops with status
      ``'not_descent'`` where H is not positive definite and d points uphill.
    * ``'modified'``: solves with H + tau I, tau = 0 if H is positive definite, else the
      first of tau0, 2 tau0, 4 tau0, ... (tau0 = beta - min diag H, or beta if the
      diagonal is positive) for which the Cholesky factorisation succeeds (Nocedal &
      Wright, Alg. 3.3): at most twice the smallest shift that works (or about beta), so
      d always descends; then backtracking. ``Result.shift`` records tau.

    Stops when ``max |g_i| <= gtol``. ``fn`` needs ``value``, ``grad`` and ``hess``.
    """
    v.choice("method", method, METHODS)
    gtol = v.real("gtol", gtol, low=0.0)
    max_iter = v.integer("max_iter", max_iter, low=1, high=1_000_000)
    c1, shrink = _check_constants(c1, shrink=shrink)
    beta = v.positive("beta", beta)
    keep_path = v.boolean("keep_path", keep_path)
    fn = _Counted(fn, need_hess=True)
    x, f, g = _start(fn, x0)
    H = fn.hess(x)
    if not np.all(np.isfinite(H)):
        raise ValueError("the Hessian is not finite at x0; start from another point")
    rec = _Record(x, f, g, keep_path)
    L, d = np.zeros_like(H), np.empty_like(x)
    for k in range(max_iter):
        if np.max(np.abs(g)) <= gtol:
            return rec.result(fn, x, f, g, "converged")
        if k:
            H = fn.hess(x)
            if not np.all(np.isfinite(H)):
                return rec.result(fn, x, f, g, "non_finite")
        tau = 0.0
        if method == "modified":
            tau = _k.modified_newton_direction(H, g, beta, L, d)
        else:
            try:
                d = np.linalg.solve(H, -g)
            except np.linalg.LinAlgError:
                return rec.result(fn, x, f, g, "singular_hessian")
        if method == "pure":
            alpha = 1.0
        else:
            slope = float(g @ d)
            if not slope < 0.0:
                return rec.result(fn, x, f, g, "not_descent")
            ls = _armijo(lambda a: fn.value(x + a * d), f, slope, 1.0, c1, shrink, 50)
            if not ls.ok:
                return rec.result(fn, x, f, g, "line_search_failed")
            alpha = ls.alpha
        x_new = x + alpha * d
        if not np.all(np.isfinite(x_new)):
            return rec.result(fn, x, f, g, "non_finite")
        f, g = fn.value_and_grad(x_new)
        x = x_new
        rec.step(x, f, g, alpha, tau)
        if not (math.isfinite(f) and np.all(np.isfinite(g))):
            return rec.result(fn, x, f, g, "non_finite")
    status = "converged" if np.max(np.abs(g)) <= gtol else "max_iter"
    return rec.result(fn, x, f, g, status)


def lbfgs(fn, x0=None, m=10, line_search="wolfe", gtol=1e-5, ftol=FTOL, max_iter=15000,
          max_evals=15000, c1=1e-4, c2=0.9, keep_path=True):
    """Limited-memory BFGS: the direction d = -H g comes from the two-loop recursion over
    the last ``m`` pairs s = x_new - x, y = g_new - g, with H_0 = gamma I and
    gamma = s.y / y.y from the newest pair (Nocedal & Wright, Alg. 7.4 and 7.5).

    * ``line_search``: ``'wolfe'`` (strong Wolfe, c1 = 1e-4, c2 = 0.9) guarantees s.y > 0;
      ``'armijo'`` (backtracking) does not, and then a pair with s.y <= eps * y.y is
      skipped, not stored (``Result.skipped`` counts them).
    * The first step tries alpha = min(1, 1/||g||), as optax does (scipy's L-BFGS-B
      tries 1/||g||); later steps try alpha = 1.
    * Stops when ``max |g_i| <= gtol`` or when a step lowers f by less than
      ``ftol * max(|f|, |f_new|, 1)``: scipy's L-BFGS-B tests and defaults.
    """
    m = v.integer("m", m, low=1, high=10_000)
    return _quasi_newton(fn, x0, m, line_search, gtol, ftol, max_iter, max_evals, c1, c2,
                         keep_path)


def steepest_descent(fn, x0=None, line_search="armijo", gtol=1e-5, ftol=FTOL,
                     max_iter=15000, max_evals=15000, c1=1e-4, c2=0.9, keep_path=True):
    """Gradient descent with a line search: L-BFGS's loop with no memory (d = -g).

    The first step tries alpha = min(1, 1/||g||), each later one twice the last
    accepted step length.
    """
    return _quasi_newton(fn, x0, 0, line_search, gtol, ftol, max_iter, max_evals, c1, c2,
                         keep_path)


def _quasi_newton(fn, x0, m, line_search, gtol, ftol, max_iter, max_evals, c1, c2,
                  keep_path):
    v.choice("line_search", line_search, LINE_SEARCHES)
    gtol = v.real("gtol", gtol, low=0.0)
    ftol = v.real("ftol", ftol, low=0.0)
    max_iter = v.integer("max_iter", max_iter, low=1, high=100_000_000)
    max_evals = v.integer("max_evals", max_evals, low=2, high=100_000_000)
    c1, c2 = _check_constants(c1, c2=c2)
    keep_path = v.boolean("keep_path", keep_path)
    fn = _Counted(fn)
    x, f, g = _start(fn, x0)
    rec = _Record(x, f, g, keep_path)
    n = x.size
    S, Y = np.zeros((max(m, 1), n)), np.zeros((max(m, 1), n))
    rho, scratch, r = np.zeros(max(m, 1)), np.zeros(max(m, 1)), np.empty(n)
    newest, count, gamma, skipped = -1, 0, 1.0, 0
    alpha = 0.0
    for k in range(max_iter):
        if np.max(np.abs(g)) <= gtol:
            return rec.result(fn, x, f, g, "converged", skipped)
        if count:
            _k.two_loop(g, S, Y, rho, newest, count, gamma, scratch, r)
            d = -r
            alpha0 = 1.0
        else:
            d = -g
            alpha0 = min(1.0, 1.0 / np.linalg.norm(g)) if k == 0 or m else 2.0 * alpha
        slope = float(g @ d)
        if not slope < 0.0:  # rounding can spoil H's definiteness: restart from -g
            newest, count, d = -1, 0, -g
            alpha0, slope = min(1.0, 1.0 / np.linalg.norm(g)), float(-(g @ g))
        # Armijo's trials compute f alone: keep one call for the gradient at the new point
        left = max_evals - fn.n_calls - (line_search == "armijo")
        budget = min(20, left)
        if budget < 1:
            return rec.result(fn, x, f, g, "max_evals", skipped)
        trial = {}

        def phi(a):
            trial["x"] = x + a * d
            trial["f"], trial["g"] = fn.value_and_grad(trial["x"])
            if math.isfinite(trial["f"]) and not np.all(np.isfinite(trial["g"])):
                raise _NonFinite
            return trial["f"], float(trial["g"] @ d)

        def value(a):
            trial["x"] = x + a * d
            return fn.value(trial["x"])

        try:
            if line_search == "wolfe":
                ls = _wolfe(phi, f, slope, alpha0, c1, c2, budget)
            else:
                ls = _armijo(value, f, slope, alpha0, c1, 0.5, budget)
        except _NonFinite:
            return rec.result(fn, x, f, g, "non_finite", skipped)
        if not ls.ok:
            status = "max_evals" if ls.n_evals >= left else "line_search_failed"
            return rec.result(fn, x, f, g, status, skipped)
        alpha = ls.alpha
        x_new = trial["x"]
        f_new, g_new = (trial["f"], trial["g"]) if line_search == "wolfe" else \
            (ls.fun, fn.grad(x_new))
        if not np.all(np.isfinite(g_new)):
            return rec.result(fn, x, f, g, "non_finite", skipped)
        if m:
            s, y = x_new - x, g_new - g
            sy, yy = float(s @ y), float(y @ y)
            if sy > np.finfo(float).eps * yy:
                newest = (newest + 1) % m
                S[newest], Y[newest], rho[newest] = s, y, 1.0 / sy
                count, gamma = min(count + 1, m), sy / yy
            else:
                skipped += 1
        small_decrease = f - f_new <= ftol * max(abs(f), abs(f_new), 1.0)
        x, f, g = x_new, f_new, g_new
        rec.step(x, f, g, alpha)
        if small_decrease:
            return rec.result(fn, x, f, g, "ftol", skipped)
    status = "converged" if np.max(np.abs(g)) <= gtol else "max_iter"
    return rec.result(fn, x, f, g, status, skipped)


# ---------------------------------------------------------------------------------------
# Measuring and comparing.


def convergence_order(errors):
    """The order q of convergence that fits a sequence of errors e_k > 0 (for example
    ||x_k - x*||) best: the least-squares slope of log e_{k+1} against log e_k, since
    e_{k+1} ~ C e_k^q. q near 1 is linear convergence, near 2 quadratic. Pass only the
    errors of the regime you want to measure (e.g. between 1e-12 and 1e-2)."""
    e = v.float_array("errors", errors, ndim=1, copy=True)
    if e.size < 3:
        raise ValueError(f"errors needs at least 3 entries, got {e.size}")
    if np.any(e <= 0.0):
        raise ValueError("errors must all be > 0; cut the sequence before it reaches 0")
    a, b = np.log(e[:-1]), np.log(e[1:])
    a0 = a - a.mean()
    if not np.any(a0):
        raise ValueError("errors must not all be equal: no order can be fitted")
    return float(a0 @ (b - b.mean()) / (a0 @ a0))


SCIPY_METHODS = ("L-BFGS-B", "Newton-CG", "BFGS")


def scipy_minimize(fn, x0=None, method="L-BFGS-B", gtol=1e-5, ftol=FTOL, m=10):
    """Run ``scipy.optimize.minimize`` on ``fn`` with optlib's evaluation counters and
    return a :class:`Result` (``status`` is 'converged' when scipy reports success,
    else scipy's message). ``m``, ``ftol`` are L-BFGS-B's ``maxcor`` and ``ftol``;
    ``gtol`` its and BFGS's gradient tolerance. Newton-CG has no gradient test: it keeps
    its defaults.
    """
    from scipy.optimize import minimize

    v.choice("method", method, SCIPY_METHODS)
    gtol = v.positive("gtol", gtol)
    ftol = v.real("ftol", ftol, low=0.0)
    m = v.integer("m", m, low=1, high=10_000)
    fn = _Counted(fn, need_hess=method == "Newton-CG")
    x, f, g = _start(fn, x0)
    fn.n_fev = fn.n_gev = fn.n_calls = 0  # scipy evaluates the start itself, and counts it
    rec = _Record(x, f, g, True)
    options = {"L-BFGS-B": {"maxcor": m, "gtol": gtol, "ftol": ftol}, "BFGS": {"gtol": gtol},
               "Newton-CG": {}}[method]
    res = minimize(fn.value_and_grad, x, jac=True, method=method, options=options,
                   hess=fn.hess if method == "Newton-CG" else None,
                   callback=lambda xk: rec.path.append(np.array(xk)))
    x = np.asarray(res.x, dtype=np.float64)
    status = "converged" if res.success else str(res.message)
    path = np.array(rec.path)
    loss = np.array([fn.fn.value(p) for p in path])  # for plots; not counted
    gnorm = np.array([np.linalg.norm(fn.fn.grad(p)) for p in path])
    steps = np.full(len(path) - 1, np.nan)  # scipy does not report its step lengths
    return Result(x, float(res.fun), fn.fn.grad(x), status, int(res.nit), fn.n_fev, fn.n_gev,
                  fn.n_hev, path, loss, gnorm, steps, np.zeros(len(path) - 1), 0, fn.n_calls)
