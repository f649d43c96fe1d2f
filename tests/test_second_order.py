"""Tests for optlib.second_order: the kernels against NumPy and naive references, the
line searches against their defining conditions, the drivers against scipy.optimize.

* The two-loop recursion is checked against the explicit BFGS inverse-Hessian update
  (the matrix formula, written out below), the Cholesky kernels against NumPy.
* Every step the drivers accept is re-checked here from the recorded path: the strong
  Wolfe conditions for L-BFGS, the Armijo condition for Newton's backtracking.
* scipy.optimize runs on the same objectives (L-BFGS-B with memory 10, Newton-CG); the
  minimisers must agree and L-BFGS may use at most 1.5x scipy's evaluations.
"""

import math

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import optlib as ol

from naive import fd_grad, fd_jacobian

SO = ol.second_order
K = ol.second_order._k
C1, C2 = 1e-4, 0.9


# --- naive references ------------------------------------------------------------------


def naive_bfgs_inverse(pairs, gamma, n):
    """H_k from H_0 = gamma I by the BFGS inverse update, oldest pair first:
    H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T."""
    H = gamma * np.eye(n)
    for s, y in pairs:
        rho = 1.0 / (y @ s)
        V = np.eye(n) - rho * np.outer(y, s)
        H = V.T @ H @ V + rho * np.outer(s, s)
    return H


def random_spd(rng, n, cond=100.0):
    Q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    return Q @ np.diag(np.geomspace(1.0, cond, n)) @ Q.T


class Objective:
    """A plain objective built from functions, with optional failures, for edge cases."""

    def __init__(self, value, grad, hess=None, x0=None):
        self.value, self.grad = value, grad
        if hess is not None:
            self.hess = hess
        if x0 is not None:
            self.x0 = np.asarray(x0, dtype=float)


def quad_objective(A, b):
    """f(x) = 1/2 x^T A x - b^T x."""
    return Objective(lambda x: 0.5 * x @ A @ x - b @ x, lambda x: A @ x - b, lambda x: A)


def check_strong_wolfe(fn, res, c1=C1, c2=C2):
    """Each accepted step of a run, re-evaluated: sufficient decrease and curvature."""
    assert res.n_iter == len(res.step_size) == len(res.path) - 1
    for k in range(res.n_iter):
        x, x_new, a = res.path[k], res.path[k + 1], res.step_size[k]
        d = (x_new - x) / a
        slope0 = fn.grad(x) @ d
        assert slope0 < 0
        f0, f1 = fn.value(x), fn.value(x_new)
        assert f1 <= f0 + c1 * a * slope0 + 1e-12 * abs(f0), k
        assert abs(fn.grad(x_new) @ d) <= c2 * abs(slope0) * (1 + 1e-9), k


def check_armijo(fn, res, c1=C1):
    for k in range(res.n_iter):
        x, x_new, a = res.path[k], res.path[k + 1], res.step_size[k]
        d = (x_new - x) / a
        slope0 = fn.grad(x) @ d
        assert fn.value(x_new) <= fn.value(x) + c1 * a * slope0 + 1e-12 * abs(fn.value(x)), k


# --- kernels ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 5, 30])
def test_cholesky_matches_numpy(n):
    rng = np.random.default_rng(n)
    A = random_spd(rng, n)
    L = np.zeros_like(A)
    assert K.cholesky(A, L)
    np.testing.assert_allclose(L, np.linalg.cholesky(A), rtol=1e-10, atol=1e-12)
    b, out = rng.normal(size=n), np.empty(n)
    K.cholesky_solve(L, b, out)
    np.testing.assert_allclose(out, np.linalg.solve(A, b), rtol=1e-8)


def test_cholesky_refuses_indefinite_and_nan():
    L = np.zeros((2, 2))
    assert not K.cholesky(np.array([[1.0, 2.0], [2.0, 1.0]]), L)
    assert not K.cholesky(np.array([[np.nan, 0.0], [0.0, 1.0]]), L)
    assert not K.cholesky(np.zeros((2, 2)), L)


@pytest.mark.parametrize("seed", range(5))
def test_modified_newton_direction(seed):
    rng = np.random.default_rng(seed)
    n = 6
    A = rng.normal(size=(n, n))
    H = A + A.T  # indefinite
    g = rng.normal(size=n)
    L, d = np.zeros((n, n)), np.empty(n)
    tau = K.modified_newton_direction(H, g, 1e-3, L, d)
    shifted = H + tau * np.eye(n)
    assert np.linalg.eigvalsh(shifted).min() > 0
    # tau doubles from beta - min(diag H) until H + tau I is positive definite, so it is
    # the start, or at most twice the smallest shift that works, -lambda_min(H).
    t_star = -np.linalg.eigvalsh(H).min()
    assert tau <= max(1e-3 - H.diagonal().min(), 2 * t_star, 1e-3) * (1 + 1e-12)
    np.testing.assert_allclose(shifted @ d, -g, atol=1e-10)
    assert g @ d < 0


def test_modified_newton_direction_no_shift_when_positive_definite():
    rng = np.random.default_rng(0)
    H = random_spd(rng, 4)
    g = rng.normal(size=4)
    d = np.empty(4)
    assert K.modified_newton_direction(H, g, 1e-3, np.zeros((4, 4)), d) == 0.0
    np.testing.assert_allclose(d, -np.linalg.solve(H, g), rtol=1e-9)


@pytest.mark.parametrize("m,n_pairs", [(1, 1), (3, 2), (3, 3), (3, 7), (5, 12)])
def test_two_loop_equals_bfgs_matrix(m, n_pairs):
    rng = np.random.default_rng(10 * m + n_pairs)
    n = 6
    A = random_spd(rng, n, cond=30.0)
    pairs = []
    for _ in range(n_pairs):
        s = rng.normal(size=n)
        pairs.append((s, A @ s))  # y = A s: s.y > 0
    S, Y, rho = np.zeros((m, n)), np.zeros((m, n)), np.zeros(m)
    newest = -1
    for s, y in pairs:  # fill the circular buffer as the driver does
        newest = (newest + 1) % m
        S[newest], Y[newest], rho[newest] = s, y, 1.0 / (s @ y)
    kept = pairs[-m:]
    gamma = (kept[-1][0] @ kept[-1][1]) / (kept[-1][1] @ kept[-1][1])
    g, out = rng.normal(size=n), np.empty(n)
    K.two_loop(g, S, Y, rho, newest, len(kept), gamma, np.zeros(m), out)
    np.testing.assert_allclose(out, naive_bfgs_inverse(kept, gamma, n) @ g, rtol=1e-9)


def test_two_loop_satisfies_secant_equation():
    """H y = s for the newest pair: the quasi-Newton condition."""
    rng = np.random.default_rng(3)
    n, m = 5, 4
    A = random_spd(rng, n)
    S, Y, rho = np.zeros((m, n)), np.zeros((m, n)), np.zeros(m)
    for i in range(m):
        S[i] = rng.normal(size=n)
        Y[i] = A @ S[i]
        rho[i] = 1 / (S[i] @ Y[i])
    out = np.empty(n)
    K.two_loop(Y[m - 1].copy(), S, Y, rho, m - 1, m, 0.7, np.zeros(m), out)
    np.testing.assert_allclose(out, S[m - 1], rtol=1e-9)


def hermite(f, width):
    """What a line search knows of the polynomial f on [0, width]: (a, f(a), f'(a), b,
    f(b), f'(b))."""
    df = f.deriv()
    return 0.0, f(0.0), df(0.0), width, f(width), df(width)


def both_orders(data):
    """cubic_minimizer from (a, ..., b, ...) and from the same data as (b, ..., a, ...)."""
    return K.cubic_minimizer(*data), K.cubic_minimizer(*data[3:], *data[:3])


SIGNED_SIZE = st.tuples(st.sampled_from([-1.0, 1.0]), st.floats(0.01, 3)).map(
    lambda t: t[0] * t[1])


@given(SIGNED_SIZE, st.floats(-3, 3), st.floats(0.1, 3), st.floats(-3, 3),
       st.floats(0.05, 2))
@settings(max_examples=60, deadline=None)
def test_cubic_minimizer_finds_the_local_minimum(A, r, gap, c0, width):
    """f' = A (x - r)(x - r - gap): f's local minimum is the root where f'' > 0, r + gap
    if A > 0, r if A < 0; the other root is its local maximum."""
    top, bottom = (r, r + gap) if A > 0 else (r + gap, r)
    # eq. 3.59 is 0/0 with the maximum at the midpoint (see below), ill-conditioned near it
    assume(abs(top - width / 2) > 1e-6)
    f = (A * np.polynomial.Polynomial.fromroots([r, r + gap])).integ(k=c0)
    for got in both_orders(hermite(f, width)):
        assert got == pytest.approx(bottom, rel=1e-6, abs=1e-6)


@given(SIGNED_SIZE, st.floats(-3, 3), st.floats(0.1, 3), st.floats(-3, 3),
       st.floats(0.05, 2))
@settings(max_examples=40, deadline=None)
def test_cubic_minimizer_is_nan_without_a_critical_point(A, m, q, c0, width):
    """f' = A ((x - m)^2 + q^2) never vanishes: f is monotonic, it has no minimiser."""
    f = (A * np.polynomial.Polynomial([m * m + q * q, -2 * m, 1.0])).integ(k=c0)
    assert all(math.isnan(got) for got in both_orders(hermite(f, width)))


@given(st.floats(-1e-3, 1e-3), st.floats(0.1, 3), st.floats(-3, 3), st.floats(-3, 3),
       st.floats(0.05, 2))
@example(0.0, 1.0, -1.0, 0.0, 0.5)
@settings(max_examples=60, deadline=None)
def test_cubic_minimizer_of_a_near_convex_quadratic_is_near_its_vertex(c3, c2, c1, c0,
                                                                       width):
    """A convex quadratic plus a cubic term of at most 1e-3, down to subnormal ones (for
    which NumPy's roots overflow): the minimum is the root of f' = 3 c3 x^2 + 2 c2 x + c1
    where f'' = sqrt(4 c2^2 - 12 c3 c1) > 0, written without cancellation below; for
    c3 = 0 it is the vertex -c1 / (2 c2)."""
    want = -2 * c1 / (2 * c2 + math.sqrt(4 * c2**2 - 12 * c3 * c1))
    f = np.polynomial.Polynomial([c0, c1, c2, c3])
    for got in both_orders(hermite(f, width)):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("coef,width,want", [
    ([0.0, 1.0, -1.0], 2.0, math.nan),        # a concave quadratic
    ([1.0, 2.0], 0.5, math.nan),              # a line
    ([0.0, 3.0, -3.0, 1.0], 0.5, 1.0),        # f' = 3 (x - 1)^2: the inflection point
    ([0.0, 3.0, -3.0, 1.0], 2.0, math.nan),   # the same at the midpoint
    ([0.0, 3.0, -3.75, 1.0], 1.0, math.nan)])  # f' = 3 (x - 1/2)(x - 2): max. at midpoint
def test_cubic_minimizer_where_its_formula_degenerates(coef, width, want):
    """The cases of the second paragraph of cubic_minimizer's docstring, on data for
    which every operation of the kernel is exact: the results of exact arithmetic."""
    got = both_orders(hermite(np.polynomial.Polynomial(coef), width))
    np.testing.assert_array_equal(got, [want, want])


def test_cubic_minimizer_equal_points_is_nan():
    assert math.isnan(K.cubic_minimizer(1.0, 0.0, -1.0, 1.0, 0.0, 1.0))


# --- line searches ---------------------------------------------------------------------

STARTS = [("rosenbrock", [-1.2, 1.0]), ("rosenbrock", [0.5, -0.3]), ("beale", [1.0, 1.5]),
          ("himmelblau", [0.5, 0.5]), ("six_hump_camel", [-1.5, 0.5]), ("booth", [-8.0, 8.0])]


@pytest.mark.parametrize("name,x0", STARTS)
@pytest.mark.parametrize("alpha0", [1e-4, 1.0, 30.0])
def test_wolfe_meets_strong_wolfe(name, x0, alpha0):
    fn = ol.functions.get(name)
    x0 = np.array(x0)
    d = -fn.grad(x0)
    ls = SO.wolfe(fn, x0, d, alpha0=alpha0)
    assert ls.ok
    slope0 = fn.grad(x0) @ d
    x1 = x0 + ls.alpha * d
    assert ls.fun == pytest.approx(fn.value(x1), rel=1e-12)
    assert ls.slope == pytest.approx(fn.grad(x1) @ d, rel=1e-12)
    assert fn.value(x1) <= fn.value(x0) + C1 * ls.alpha * slope0
    assert abs(fn.grad(x1) @ d) <= C2 * abs(slope0)
    assert 1 <= ls.n_evals <= 20


@given(st.floats(-2, 2), st.floats(-1, 3), st.floats(0.1, 0.99))
@settings(max_examples=80, deadline=None)
def test_wolfe_property_on_rosenbrock(x, y, c2):
    fn = ol.functions.rosenbrock()
    x0 = np.array([x, y])
    g = fn.grad(x0)
    if np.linalg.norm(g) < 1e-6:
        return
    ls = SO.wolfe(fn, x0, -g, c2=c2, max_evals=40)
    assert ls.ok
    x1 = x0 - ls.alpha * g
    assert fn.value(x1) <= fn.value(x0) - C1 * ls.alpha * (g @ g)
    assert abs(fn.grad(x1) @ g) <= c2 * (g @ g)


@pytest.mark.parametrize("name,x0", STARTS)
def test_armijo_takes_the_first_acceptable_step(name, x0):
    fn = ol.functions.get(name)
    x0 = np.array(x0)
    g = fn.grad(x0)
    ls = SO.armijo(fn, x0, -g, alpha0=1.0, shrink=0.5)
    assert ls.ok
    assert ls.alpha == 0.5 ** (ls.n_evals - 1)

    def sufficient(a):
        return fn.value(x0 - a * g) <= fn.value(x0) - C1 * a * (g @ g)

    assert sufficient(ls.alpha)
    assert all(not sufficient(0.5 ** j) for j in range(ls.n_evals - 1))


def test_armijo_reports_failure_when_budget_runs_out():
    fn = ol.functions.rosenbrock()
    x0 = np.array([-1.2, 1.0])
    ls = SO.armijo(fn, x0, -fn.grad(x0), alpha0=1.0, max_evals=2)
    assert not ls.ok and ls.n_evals == 2 and ls.alpha == 0.5


def test_line_searches_refuse_a_non_descent_direction():
    fn = ol.functions.rosenbrock()
    x0 = np.array([-1.2, 1.0])
    for search in (SO.armijo, SO.wolfe):
        with pytest.raises(ValueError, match="descent direction"):
            search(fn, x0, fn.grad(x0))
        with pytest.raises(ValueError, match="descent direction"):
            search(fn, np.ones(2), np.array([1.0, 0.0]))  # zero gradient at the minimum


@pytest.mark.parametrize("kwargs,match", [
    ({"c1": 0.0}, "c1"), ({"c1": 1.0}, "c1"), ({"c2": 1e-5}, "c2"), ({"c2": 1.0}, "c2"),
    ({"alpha0": 0.0}, "alpha0"), ({"max_evals": 0}, "max_evals")])
def test_wolfe_validates_constants(kwargs, match):
    fn = ol.functions.rosenbrock()
    x0 = np.array([-1.2, 1.0])
    with pytest.raises(ValueError, match=match):
        SO.wolfe(fn, x0, -fn.grad(x0), **kwargs)


def test_armijo_validates_shrink():
    fn = ol.functions.rosenbrock()
    x0 = np.array([-1.2, 1.0])
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="shrink"):
            SO.armijo(fn, x0, -fn.grad(x0), shrink=bad)


def test_wolfe_backs_off_from_non_finite_values():
    """A trial step where f overflows to inf is treated as too long, not accepted."""
    def value(x):
        return math.inf if x[0] > 3 else float((x[0] - 2) ** 2)

    fn = Objective(value, lambda x: np.array([2 * (x[0] - 2)]))
    ls = SO.wolfe(fn, np.array([0.0]), np.array([1.0]), alpha0=100.0)
    assert ls.ok and 0 < ls.alpha <= 3
    assert abs(2 * (ls.alpha - 2)) <= C2 * 4


# --- L-BFGS ----------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [2, 10, 100, 1000])
def test_lbfgs_rosenbrock_standard_start_vs_scipy(dim):
    fn = ol.functions.rosenbrock(dim=dim)
    res, ref = SO.lbfgs(fn), SO.scipy_minimize(fn, method="L-BFGS-B", m=10)
    assert res.status in ("converged", "ftol") and ref.status == "converged"
    np.testing.assert_allclose(res.x, ref.x, atol=2e-4)
    assert res.n_evals <= 1.5 * ref.n_evals, (res.n_evals, ref.n_evals)
    assert res.fun < 1e-7
    check_strong_wolfe(fn, res)


@pytest.mark.parametrize("seed", range(4))
def test_lbfgs_rosenbrock_random_starts_vs_scipy(seed):
    fn = ol.functions.rosenbrock(dim=100)
    x0 = np.random.default_rng(seed).uniform(-2, 2, 100)
    res, ref = SO.lbfgs(fn, x0), SO.scipy_minimize(fn, x0, method="L-BFGS-B")
    assert ref.status == "converged"
    assert res.fun == pytest.approx(ref.fun, abs=1e-6)  # the same (local) minimum
    np.testing.assert_allclose(res.x, ref.x, atol=1e-3)
    assert res.n_evals <= 1.5 * ref.n_evals, (res.n_evals, ref.n_evals)


def test_lbfgs_logistic_regression_vs_scipy():
    data = ol.datasets.load_breast_cancer()
    model = ol.models.LogisticRegression(data.X_train.shape[1], l2=1e-3)
    fn = SO.ModelObjective(model, data.X_train, data.y_train)
    res = SO.lbfgs(fn, gtol=1e-8, ftol=0.0)
    ref = SO.scipy_minimize(fn, method="L-BFGS-B", gtol=1e-8, ftol=0.0)
    assert res.status == "converged"
    np.testing.assert_allclose(res.x, ref.x, atol=1e-5)
    assert abs(res.fun - ref.fun) < 1e-10
    assert np.max(np.abs(fn.grad(res.x))) <= 1e-8
    check_strong_wolfe(fn, res)
    assert model.accuracy(res.x, data.X_test, data.y_test) > 0.9


def test_model_objective_gradient_is_the_models():
    data = ol.datasets.load_breast_cancer()
    model = ol.models.LogisticRegression(data.X_train.shape[1], l2=1e-2)
    fn = SO.ModelObjective(model, data.X_train, data.y_train)
    w = np.random.default_rng(0).normal(size=fn.dim) * 0.1
    f, g = fn.value_and_grad(w)
    assert f == pytest.approx(model.loss(w, data.X_train, data.y_train), rel=1e-14)
    np.testing.assert_allclose(g, fd_grad(fn.value, w), rtol=1e-5, atol=1e-8)
    with pytest.raises(TypeError, match="model"):
        SO.ModelObjective("not a model", data.X_train, data.y_train)
    with pytest.raises(ValueError, match="columns"):
        SO.ModelObjective(model, data.X_train[:, :5], data.y_train)


@pytest.mark.parametrize("m", [1, 2, 5, 20])
def test_lbfgs_memory_sizes_converge(m):
    fn = ol.functions.rosenbrock(dim=20)
    res = SO.lbfgs(fn, m=m, gtol=1e-6, ftol=0.0)
    assert res.status == "converged"
    np.testing.assert_allclose(res.x, np.ones(20), atol=1e-5)
    check_strong_wolfe(fn, res)


def test_lbfgs_beats_steepest_descent_on_an_ill_conditioned_quadratic():
    """kappa = 1000: gradient descent needs thousands of steps, L-BFGS tens. (With exact
    line searches BFGS would end in n = 8 steps; the Wolfe search is inexact.)"""
    rng = np.random.default_rng(1)
    A = random_spd(rng, 8, cond=1e3)
    b = rng.normal(size=8)
    fn = quad_objective(A, b)
    res = SO.lbfgs(fn, np.zeros(8), m=8, gtol=1e-7, ftol=0.0)
    gd = SO.steepest_descent(fn, np.zeros(8), gtol=1e-7, ftol=0.0, max_iter=200_000,
                             max_evals=10**6)
    assert res.status == "converged"
    # gtol 1e-7 on a gradient A x - b with eigenvalues >= 1 bounds the error by 1e-7
    np.testing.assert_allclose(res.x, np.linalg.solve(A, b), atol=1e-7 * np.sqrt(8))
    assert res.n_iter <= 100 and 20 * res.n_iter < gd.n_iter


def test_lbfgs_armijo_skips_pairs_without_positive_curvature():
    """Backtracking alone does not guarantee s.y > 0: on this nonconvex function such
    pairs appear, are skipped and counted, and the run still converges."""
    fn = ol.functions.six_hump_camel()
    total = 0
    for x0 in ([-1.5, 0.5], [1.9, -1.0], [0.3, 1.0], [-1.0, -1.0], [1.2, 0.2]):
        res = SO.lbfgs(fn, x0, line_search="armijo", gtol=1e-6, ftol=0.0, m=3)
        assert res.status == "converged", (x0, res.status)
        check_armijo(fn, res)
        total += res.skipped
    assert total > 0
    wolfe = [SO.lbfgs(fn, x0).skipped for x0 in ([-1.5, 0.5], [1.9, -1.0], [0.3, 1.0])]
    assert wolfe == [0, 0, 0]


def test_lbfgs_statuses_and_budget():
    fn = ol.functions.rosenbrock(dim=10)
    assert SO.lbfgs(fn, max_iter=5).status == "max_iter"
    res = SO.lbfgs(fn, max_evals=30)
    assert res.status == "max_evals" and res.n_evals <= 30
    res = SO.lbfgs(fn, ftol=1e-2)
    assert res.status == "ftol"
    f0, f1 = res.loss[-2:]
    assert f0 - f1 <= 1e-2 * max(abs(f0), abs(f1), 1)
    assert all(f0 - f1 > 1e-2 * max(abs(f0), abs(f1), 1)
               for f0, f1 in zip(res.loss[:-2], res.loss[1:-1]))
    res = SO.lbfgs(fn, fn.minima[0])
    assert res.status == "converged" and res.n_iter == 0


class _Calls:
    """An objective that counts the requests made of it, whatever the optimizer counts
    (value_and_grad is one, as scipy counts its fun with jac=True)."""

    def __init__(self, fn):
        self.fn, self.x0, self.calls = fn, fn.x0, 0

    def value(self, x):
        self.calls += 1
        return self.fn.value(x)

    def grad(self, x):
        self.calls += 1
        return self.fn.grad(x)

    def value_and_grad(self, x):
        self.calls += 1
        return self.fn.value(x), self.fn.grad(x)


@pytest.mark.parametrize("run", [
    lambda fn, n: SO.steepest_descent(fn, max_evals=n, ftol=0.0),
    lambda fn, n: SO.lbfgs(fn, line_search="armijo", max_evals=n, ftol=0.0),
    lambda fn, n: SO.lbfgs(fn, max_evals=n, ftol=0.0)])
@pytest.mark.parametrize("budget", [2, 3, 50, 201])
def test_n_evals_counts_every_request_and_keeps_the_budget(run, budget):
    """Armijo's trials ask for f alone and the gradient comes after, a call of its own:
    n_evals counted max(n_fev, n_gev), so a run with budget 200 made 300 calls."""
    fn = _Calls(ol.functions.rosenbrock(dim=10))
    res = run(fn, budget)
    assert res.n_evals == fn.calls <= budget
    assert res.status == "max_evals" or (res.status == "converged" and budget > 100)


def test_result_records_are_consistent():
    fn = ol.functions.beale()
    res = SO.lbfgs(fn)
    assert res.path.shape == (res.n_iter + 1, 2) and res.loss.shape == (res.n_iter + 1,)
    np.testing.assert_allclose(res.loss, [fn.value(p) for p in res.path], rtol=1e-14)
    np.testing.assert_allclose(res.grad_norm, [np.linalg.norm(fn.grad(p)) for p in res.path],
                               rtol=1e-14)
    np.testing.assert_array_equal(res.path[-1], res.x)
    assert res.n_fev == res.n_gev  # the Wolfe search evaluates both at every trial
    counted = SO.lbfgs(fn, keep_path=False)
    assert counted.path.shape == (1, 2) and counted.n_evals == res.n_evals


@pytest.mark.parametrize("kwargs,err,match", [
    ({"m": 0}, ValueError, "m must"), ({"m": 2.5}, TypeError, "m must"),
    ({"line_search": "exact"}, ValueError, "'wolfe', 'armijo'"),
    ({"gtol": -1.0}, ValueError, "gtol"), ({"ftol": math.nan}, ValueError, "ftol"),
    ({"c1": 0.95}, ValueError, "c2"), ({"max_evals": 1}, ValueError, "max_evals"),
    ({"x0": [0.0, 0.0, 0.0]}, ValueError, "2 entries"),
    ({"x0": [math.nan, 0.0]}, ValueError, "finite"),
    ({"x0": [1, 2]}, TypeError, "floats"),
    ({"keep_path": "no"}, TypeError, "keep_path must be True or False")])
def test_lbfgs_bad_input(kwargs, err, match):
    with pytest.raises(err, match=match):
        SO.lbfgs(ol.functions.rosenbrock(), **kwargs)


def test_non_finite_objective_at_start_and_during_run():
    nan_grad = Objective(lambda x: float(x @ x), lambda x: np.full_like(x, np.nan), x0=[1.0])
    with pytest.raises(ValueError, match="not finite at x0"):
        SO.lbfgs(nan_grad)

    def grad(x):  # finite until x[0] drops below 0.5
        return 2 * x if x[0] > 0.5 else np.full_like(x, np.nan)

    res = SO.lbfgs(Objective(lambda x: float(x @ x), grad, x0=[1.0, 1.0]))
    assert res.status == "non_finite"
    assert np.all(np.isfinite(res.x)) and res.x[0] > 0.5
    with pytest.raises(TypeError, match="value"):
        SO.lbfgs(object())


# --- Newton ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["damped", "modified"])
@pytest.mark.parametrize("name", ["rosenbrock", "beale", "booth"])
def test_newton_converges_and_backtracking_holds(method, name):
    fn = ol.functions.get(name)
    res = SO.newton(fn, method=method, gtol=1e-9)
    assert res.status == "converged"
    if (name, method) == ("beale", "damped"):
        # Newton's method is attracted to any stationary point: from (1, 1.5) damped Newton
        # ends at Beale's saddle (0, 1), where the Hessian is [[0, 27.75], [27.75, 0]].
        np.testing.assert_allclose(res.x, [0.0, 1.0], atol=1e-7)
        assert np.linalg.norm(fn.grad(res.x)) < 1e-9
        lo, hi = np.linalg.eigvalsh(fn.hess(res.x))
        assert lo < 0 < hi
    else:
        assert np.min(np.linalg.norm(fn.minima - res.x, axis=1)) < 1e-7
    check_armijo(fn, res)
    assert res.n_hev == res.n_iter + 1 or res.n_hev == res.n_iter


def test_newton_one_step_solves_a_quadratic():
    rng = np.random.default_rng(2)
    A, b = random_spd(rng, 6, cond=1e4), rng.normal(size=6)
    for method in SO.METHODS:
        res = SO.newton(quad_objective(A, b), np.ones(6), method=method, gtol=1e-9)
        assert res.n_iter == 1 and res.status == "converged"
        np.testing.assert_allclose(res.x, np.linalg.solve(A, b), rtol=1e-9)


def test_newton_quadratic_convergence_near_the_minimum():
    fn = ol.functions.rosenbrock()
    res = SO.newton(fn, method="pure", x0=[1.1, 1.15], gtol=1e-13)
    e = np.linalg.norm(res.path - 1.0, axis=1)
    e = e[e > 1e-14]
    assert SO.convergence_order(e[-4:]) > 1.7
    tail = e[e < 1e-2]
    # e_{k+1} <= C e_k^2: C stays bounded (Rosenbrock's is large: its Hessian is ill
    # conditioned), while the plain ratio e_{k+1} / e_k falls towards 0.
    assert tail.size >= 3 and np.all(tail[1:] <= 100 * tail[:-1] ** 2)
    assert (tail[-1] / tail[-2]) < 1e-4


def test_convergence_order_on_known_sequences():
    k = np.arange(1, 12)
    assert SO.convergence_order(0.5**k) == pytest.approx(1.0)
    assert SO.convergence_order(10.0 ** -(2.0**np.arange(5))) == pytest.approx(2.0)
    assert SO.convergence_order(10.0 ** -(1.5**np.arange(8))) == pytest.approx(1.5)
    for bad in ([1.0, 0.5], [1.0, 0.0, 0.1], [0.1, 0.1, 0.1]):
        with pytest.raises(ValueError, match="errors"):
            SO.convergence_order(bad)


def test_newton_failure_modes():
    him = ol.functions.himmelblau()
    # At (0, 0) the Hessian is negative definite: pure Newton climbs to the maximum ...
    pure = SO.newton(him, method="pure")
    assert pure.status == "converged"
    assert np.all(np.linalg.eigvalsh(him.hess(pure.x)) < 0) and pure.fun > 180
    # ... damped Newton sees its direction goes uphill and stops ...
    assert SO.newton(him, method="damped").status == "not_descent"
    # ... the modified Hessian reaches a minimum, with a positive shift on the way.
    mod = SO.newton(him, method="modified")
    assert mod.status == "converged" and mod.fun < 1e-20 and mod.shift[0] > 0
    # Near the saddle of `saddle`, pure Newton jumps onto it; the modified method escapes.
    sad = ol.functions.saddle()
    x0 = [1.0, 0.3]
    pure = SO.newton(sad, x0, method="pure")
    assert np.linalg.norm(pure.x - sad.saddle_point) < 1e-8
    mod = SO.newton(sad, x0, method="modified")
    assert mod.fun == pytest.approx(-0.25) and mod.status == "converged"


def test_newton_singular_and_non_finite_hessian():
    flat = Objective(lambda x: float(np.sum(x**4)), lambda x: 4 * x**3,
                     lambda x: np.zeros((x.size, x.size)), x0=[1.0, 1.0])
    assert SO.newton(flat, method="pure").status == "singular_hessian"
    nan_h = Objective(lambda x: float(x @ x), lambda x: 2 * x,
                      lambda x: np.full((x.size, x.size), np.nan), x0=[1.0])
    with pytest.raises(ValueError, match="Hessian is not finite at x0"):
        SO.newton(nan_h)
    calls = []

    def hess(x):
        calls.append(1)
        return 2 * np.eye(x.size) if len(calls) == 1 else np.full((x.size, x.size), np.inf)

    late = Objective(lambda x: float(np.sum(x**4) + x @ x), lambda x: 4 * x**3 + 2 * x, hess,
                     x0=[1.0, 2.0])
    assert SO.newton(late).status == "non_finite"
    with pytest.raises(TypeError, match="hess"):
        SO.newton(Objective(lambda x: 0.0, lambda x: x, x0=[1.0]))


@pytest.mark.parametrize("kwargs,err,match", [
    ({"method": "exact"}, ValueError, "'pure', 'damped', 'modified'"),
    ({"beta": 0.0}, ValueError, "beta"), ({"max_iter": 0}, ValueError, "max_iter"),
    ({"shrink": 1.0}, ValueError, "shrink"),
    ({"keep_path": 0}, TypeError, "keep_path must be True or False")])
def test_newton_bad_input(kwargs, err, match):
    with pytest.raises(err, match=match):
        SO.newton(ol.functions.rosenbrock(), **kwargs)


def test_newton_against_newton_cg():
    """Both reach the same minimiser on 2-D and 3-D Rosenbrock; Newton (with an exact
    Hessian solve) ends with a far smaller gradient than Newton-CG's step test."""
    for dim in (2, 3):
        fn = ol.functions.rosenbrock(dim=dim)
        res, ref = SO.newton(fn, gtol=1e-8), SO.scipy_minimize(fn, method="Newton-CG")
        assert res.status == "converged" and ref.status == "converged"
        np.testing.assert_allclose(res.x, ref.x, atol=1e-3)
        np.testing.assert_allclose(res.x, np.ones(dim), atol=1e-9)
        assert np.max(np.abs(res.grad)) <= 1e-8 < np.max(np.abs(ref.grad))


def test_hessians_used_by_newton_match_finite_differences():
    for name in ("rosenbrock", "beale", "himmelblau", "saddle"):
        fn = ol.functions.get(name)
        x = np.array([0.7, -0.4])
        np.testing.assert_allclose(fn.hess(x), fd_jacobian(fn.grad, x), rtol=1e-5, atol=1e-6)


def test_steepest_descent_is_linear():
    fn = ol.functions.himmelblau()
    res = SO.steepest_descent(fn, gtol=1e-10, ftol=0.0)
    e = np.linalg.norm(res.path - np.array([3.0, 2.0]), axis=1)
    e = e[(e > 1e-9) & (e < 1e-2)]
    assert SO.convergence_order(e) == pytest.approx(1.0, abs=0.02)
    check_armijo(fn, res)


def test_scipy_minimize_counts_like_scipy():
    from scipy.optimize import minimize, rosen, rosen_der

    fn = ol.functions.rosenbrock(dim=5)
    ours = SO.scipy_minimize(fn, method="L-BFGS-B")
    direct = minimize(rosen, fn.x0, jac=rosen_der, method="L-BFGS-B")
    assert ours.n_fev == ours.n_gev == direct.nfev
    assert ours.n_iter == direct.nit and ours.path.shape == (direct.nit + 1, 5)
    with pytest.raises(ValueError, match="method"):
        SO.scipy_minimize(fn, method="CG")


def test_an_objective_returning_the_wrong_size_is_named():
    short = Objective(lambda x: float(x @ x), lambda x: 2 * x[:1], x0=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"fn.grad\(x\) must return 2 numbers"):
        SO.lbfgs(short)
    bad_h = Objective(lambda x: float(x @ x), lambda x: 2 * x, lambda x: np.eye(3),
                      x0=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"fn.hess\(x\) must return 4 numbers"):
        SO.newton(bad_h)
