import numpy as np
import pytest
import scipy.optimize as so
from hypothesis import given, settings
from hypothesis import strategies as st

import optlib as ol
from naive import FORMULAS, fd_grad, fd_jacobian, quadratic

NAMES = list(ol.functions.CATALOGUE)
rng = np.random.default_rng(0)


def points(fn, k=5, seed=0):
    r = np.random.default_rng(seed)
    (x0, x1), (y0, y1) = fn.domain
    lo = np.array([x0] + [y0] * (fn.dim - 1))
    hi = np.array([x1] + [y1] * (fn.dim - 1))
    return [r.uniform(0.8 * lo, 0.8 * hi) for _ in range(k)]


def all_functions():
    fs = [ol.functions.get(n) for n in NAMES]
    fs += [ol.functions.rosenbrock(dim=7), ol.functions.quadratic(cond=100, dim=5),
           ol.functions.quadratic(cond=30, angle=0.7, center=[1.0, -2.0]),
           ol.functions.rosenbrock(a=0.5, b=10.0), ol.functions.rastrigin(dim=4)]
    return fs


@pytest.mark.parametrize("fn", all_functions(), ids=repr)
def test_gradient_matches_finite_differences(fn):
    for x in points(fn):
        np.testing.assert_allclose(fn.grad(x), fd_grad(fn.value, x), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("fn", all_functions(), ids=repr)
def test_hessian_matches_finite_differences_of_gradient(fn):
    for x in points(fn):
        H = fn.hess(x)
        np.testing.assert_allclose(H, H.T)
        np.testing.assert_allclose(H, fd_jacobian(fn.grad, x), rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("name", [n for n in NAMES if n in FORMULAS])
def test_value_matches_the_textbook_formula(name):
    fn = ol.functions.get(name)
    for x in points(fn, seed=1):
        assert fn.value(x) == pytest.approx(FORMULAS[name](x), rel=1e-13, abs=1e-13)


def test_quadratic_matches_formula_and_spectrum():
    fn = ol.functions.quadratic(cond=50.0, L=4.0, angle=0.3, center=[0.5, -1.0])
    for x in points(fn):
        assert fn.value(x) == pytest.approx(quadratic(x, fn.A, np.array([0.5, -1.0])))
    eig = np.linalg.eigvalsh(fn.A)
    np.testing.assert_allclose(eig, [4.0 / 50.0, 4.0])
    assert (fn.L, fn.mu, fn.cond) == (4.0, 0.08, 50.0)


@pytest.mark.parametrize("dim", [2, 3, 10, 100])
def test_rosenbrock_agrees_with_scipy(dim):
    fn = ol.functions.rosenbrock(dim=dim)
    for x in [np.linspace(-1.5, 1.5, dim), rng.uniform(-2, 2, dim)]:
        assert fn.value(x) == pytest.approx(so.rosen(x), rel=1e-14)
        np.testing.assert_allclose(fn.grad(x), so.rosen_der(x), rtol=1e-13, atol=1e-12)
        np.testing.assert_allclose(fn.hess(x), so.rosen_hess(x), rtol=1e-13, atol=1e-12)


# Published minima: scipy's global-optimization benchmarks (benchmarks/benchmarks/
# go_benchmark_functions in scipy's repository) give Rosenbrock's, Beale's, Rastrigin's,
# the six-hump camel's and Himmelblau's (3, 2); Himmelblau's other three are the
# six-digit values of Wikipedia's "Himmelblau's function"; Booth's (1, 3) solves
# x + 2y = 7, 2x + y = 5; the saddle is optlib's own x^2 + y^4/4 - y^2/2. The tests
# below check that each is stationary with a positive definite Hessian.
PUBLISHED = {
    "rosenbrock": ([[1.0, 1.0]], 0.0),
    "beale": ([[3.0, 0.5]], 0.0),
    "himmelblau": ([[3.0, 2.0], [-2.805118, 3.131312], [-3.779310, -3.283186],
                    [3.584428, -1.848126]], 0.0),
    "booth": ([[1.0, 3.0]], 0.0),
    "saddle": ([[0.0, -1.0], [0.0, 1.0]], -0.25),
    "six_hump_camel": ([[0.08984201368301331, -0.7126564032704135],
                        [-0.08984201368301331, 0.7126564032704135]], -1.031628453489877),
    "rastrigin": ([[0.0, 0.0]], 0.0),
}


@pytest.mark.parametrize("name", PUBLISHED)
def test_minima_are_the_published_ones_and_stationary(name):
    fn = ol.functions.get(name)
    published, fmin = PUBLISHED[name]
    np.testing.assert_allclose(fn.minima, published, atol=1e-6)
    assert fn.min_value == pytest.approx(fmin, abs=1e-12)
    for xm in fn.minima:
        assert fn.value(xm) == pytest.approx(fmin, abs=1e-12)
        assert np.linalg.norm(fn.grad(xm)) < 1e-8  # published digits limit this
        assert np.all(np.linalg.eigvalsh(fn.hess(xm)) > 0)  # a strict local minimum


@pytest.mark.parametrize("name", PUBLISHED)
def test_no_point_on_a_grid_beats_the_global_minimum(name):
    fn = ol.functions.get(name)
    _, _, Z = fn.grid(300)
    assert Z.min() >= fn.min_value - 1e-12


def test_n_dimensional_rosenbrock_minimum():
    fn = ol.functions.rosenbrock(dim=50)
    np.testing.assert_array_equal(fn.minima, np.ones((1, 50)))
    assert fn.value(np.ones(50)) == 0.0


def test_saddle_point_is_a_saddle():
    fn = ol.functions.saddle()
    assert np.all(fn.grad(fn.saddle_point) == 0)
    eig = np.linalg.eigvalsh(fn.hess(fn.saddle_point))
    assert eig.min() < 0 < eig.max()


def test_float32_points_are_accepted():
    fn = ol.functions.beale()
    g32 = fn.grad(np.array([1.0, 1.5], dtype=np.float32))
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, fn.grad([1.0, 1.5]), rtol=1e-5)


@settings(max_examples=50, deadline=None)
@given(st.floats(1.0, 1e4), st.floats(-3.0, 3.0))
def test_quadratic_curvature_bounds(cond, angle):
    fn = ol.functions.quadratic(cond=cond, angle=angle)
    eig = np.linalg.eigvalsh(fn.hess([0.3, 0.1]))
    assert eig.max() == pytest.approx(fn.L, rel=1e-9)
    assert eig.max() / eig.min() == pytest.approx(cond, rel=1e-7)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: ol.functions.quadratic(cond=0.5), ValueError, "cond"),
    (lambda: ol.functions.quadratic(cond=float("nan")), ValueError, "cond"),
    (lambda: ol.functions.quadratic(dim=0), ValueError, "dim"),
    (lambda: ol.functions.quadratic(dim=2.5), TypeError, "dim"),
    (lambda: ol.functions.quadratic(dim=3, angle=0.1), ValueError, "angle"),
    (lambda: ol.functions.quadratic(L=-1.0), ValueError, "L"),
    (lambda: ol.functions.quadratic(center=[1.0]), ValueError, "center"),
    (lambda: ol.functions.rosenbrock(dim=1), ValueError, "dim"),
    (lambda: ol.functions.rosenbrock(dim=3, a=2.0), ValueError, "a must"),
    (lambda: ol.functions.rosenbrock(b=0.0), ValueError, "b"),
    (lambda: ol.functions.rosenbrock().value([1.0, 2.0, 3.0]), ValueError, "shape"),
    (lambda: ol.functions.rosenbrock().value([1, 2]), TypeError, "integers"),
    (lambda: ol.functions.beale().grad([np.nan, 1.0]), ValueError, "finite"),
    (lambda: ol.functions.beale().hess("ab"), TypeError, "x"),
    (lambda: ol.functions.rosenbrock(dim=3).grid(), ValueError, "2-D"),
    (lambda: ol.functions.beale().grid(domain=((1, 0), (0, 1))), ValueError, "xmin < xmax"),
    (lambda: ol.functions.get("sphere"), ValueError, "'rosenbrock'"),
])
def test_bad_input_is_refused_with_a_message_naming_the_argument(call, exc, words):
    with pytest.raises(exc, match=words):
        call()
