"""Test landscapes: value, gradient and Hessian, known minimisers, a plotting domain.

Each constructor returns a :class:`TestFunction`. Its methods validate the point and
call one jitted kernel (:mod:`optlib._kernels.functions`), which the trajectory runner
also uses, so a landscape is defined in exactly one place.

>>> import optlib as ol
>>> f = ol.functions.rosenbrock()
>>> f.value([1.0, 1.0]), f.grad([1.0, 1.0])
(0.0, array([0., 0.]))
"""

import numpy as np

from . import _validate as v
from ._kernels import functions as _k


class TestFunction:
    """A landscape f: R^n -> R with its derivatives and what is known about it.

    Attributes
    ----------
    name : str
    dim : int
        Dimension n of the input.
    minima : ndarray, shape (k, n)
        Known global (and, for Himmelblau, all) minimisers.
    min_value : float
        The value at the global minimum.
    domain : ((xmin, xmax), (ymin, ymax))
        A window for contour plots (2-D functions).
    x0 : ndarray
        A customary starting point.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, name, fid, prm, dim, minima, min_value, domain, x0, note=""):
        self.name = name
        self.fid = fid
        self.prm = np.ascontiguousarray(prm, dtype=np.float64)
        self.dim = dim
        self.minima = np.atleast_2d(np.asarray(minima, dtype=np.float64))
        self.min_value = float(min_value)
        self.domain = domain
        self.x0 = np.asarray(x0, dtype=np.float64)
        self.note = note

    def __repr__(self):
        return f"TestFunction({self.name!r}, dim={self.dim})"

    def _point(self, x):
        return v.float_array("x", x, shape=(self.dim,), copy=True)

    def value(self, x):
        """f(x) for a point of shape (dim,)."""
        return float(_k.value(self.fid, self.prm, self._point(x)))

    __call__ = value

    def grad(self, x):
        """The gradient, a new array of shape (dim,)."""
        x = self._point(x)
        out = np.empty_like(x)
        _k.grad(self.fid, self.prm, x, out)
        return out

    def hess(self, x):
        """The Hessian, a new array of shape (dim, dim)."""
        x = self._point(x)
        out = np.empty((self.dim, self.dim), dtype=x.dtype)
        _k.hess(self.fid, self.prm, x, out)
        return out

    def grid(self, n=200, domain=None):
        """Values on an n-by-n grid over ``domain``: returns (xs, ys, Z), Z[i, j] = f(xs[j], ys[i])."""
        if self.dim != 2:
            raise ValueError(f"grid() needs a 2-D function; {self.name} has dim={self.dim}")
        n = v.integer("n", n, low=2, high=2000)
        (x0, x1), (y0, y1) = self.domain if domain is None else _check_domain(domain)
        xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
        Z = np.empty((n, n))
        _k.value_grid(self.fid, self.prm, xs, ys, Z)
        return xs, ys, Z


def _check_domain(domain):
    try:
        (x0, x1), (y0, y1) = domain
    except (TypeError, ValueError):
        raise ValueError(f"domain must be ((xmin, xmax), (ymin, ymax)), got {domain!r}") from None
    for name, lo, hi in (("x", x0, x1), ("y", y0, y1)):
        v.real(f"domain {name}min", lo)
        v.real(f"domain {name}max", hi)
        if not lo < hi:
            raise ValueError(f"domain needs {name}min < {name}max, got {lo} and {hi}")
    return (float(x0), float(x1)), (float(y0), float(y1))


def quadratic(cond=10.0, dim=2, L=1.0, angle=0.0, center=None):
    """f(x) = 1/2 (x - c)^T A (x - c) with eigenvalues L/cond ... L.

    The eigenvalues are spaced geometrically between mu = L/cond and L. In 2-D, ``angle``
    (radians) rotates the eigenvectors away from the axes. The gradient is L-Lipschitz,
    so gradient descent is stable exactly for 0 < lr < 2/L.
    """
    cond = v.real("cond", cond, low=1.0)
    dim = v.integer("dim", dim, low=1, high=10_000)
    L = v.positive("L", L)
    angle = v.real("angle", angle)
    if angle != 0.0 and dim != 2:
        raise ValueError(f"angle rotates a 2-D quadratic only; got angle={angle} with dim={dim}")
    if dim == 1 and cond != 1.0:
        raise ValueError(f"cond must be 1.0 when dim=1 (a 1-D quadratic has one eigenvalue, "
                         f"L), got cond={cond}")
    c = np.zeros(dim) if center is None else v.float_array("center", center, shape=(dim,), copy=True)
    eig = L * np.geomspace(1.0 / cond, 1.0, dim)
    A = np.diag(eig)
    if dim == 2:
        R = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        A = R @ A @ R.T
    prm = np.concatenate([A.ravel(), c])
    x0 = c + (np.array([-1.5, 1.0]) if dim == 2 else np.ones(dim))
    f = TestFunction("quadratic", _k.QUADRATIC, prm, dim, c, 0.0,
                     ((c[0] - 2.0, c[0] + 2.0), (c[-1] - 2.0, c[-1] + 2.0)), x0)
    f.A, f.L, f.mu, f.cond, f.eigenvalues = A, L, L / cond, cond, eig
    return f


def rosenbrock(dim=2, a=1.0, b=100.0):
    """sum_i b (x_{i+1} - x_i^2)^2 + (a - x_i)^2; minimum 0 at (a, a^2, ...), (1, ..., 1) by default."""
    dim = v.integer("dim", dim, low=2, high=1_000_000)
    a = v.real("a", a)
    b = v.positive("b", b)
    if a not in (0.0, 1.0) and dim > 2:
        raise ValueError(f"a must be 0.0 or 1.0 when dim > 2 (then the minimiser is known), got a={a}")
    xmin = np.empty(dim)
    xmin[0] = a
    for i in range(1, dim):
        xmin[i] = xmin[i - 1] ** 2
    x0 = np.tile([-1.2, 1.0], dim // 2 + 1)[:dim]
    return TestFunction("rosenbrock", _k.ROSENBROCK, [a, b], dim, xmin, 0.0,
                        ((-2.0, 2.0), (-1.0, 3.0)), x0)


def beale():
    """(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2; minimum 0 at (3, 0.5)."""
    return TestFunction("beale", _k.BEALE, [], 2, [3.0, 0.5], 0.0,
                        ((-4.5, 4.5), (-4.5, 4.5)), [1.0, 1.5])


# Himmelblau's four minimisers, refined by Newton's method from the published
# six-digit values; tests/test_functions.py checks both.
_HIMMELBLAU_MINIMA = [
    [3.0, 2.0],
    [-2.805118086952745, 3.131312518250573],
    [-3.779310253377747, -3.2831859912861696],
    [3.5844283403304917, -1.8481265269644034],
]


def himmelblau():
    """(x^2 + y - 11)^2 + (x + y^2 - 7)^2; four minima, all with value 0."""
    return TestFunction("himmelblau", _k.HIMMELBLAU, [], 2, _HIMMELBLAU_MINIMA, 0.0,
                        ((-5.0, 5.0), (-5.0, 5.0)), [0.0, 0.0])


def booth():
    """(x + 2y - 7)^2 + (2x + y - 5)^2; a convex quadratic, minimum 0 at (1, 3)."""
    return TestFunction("booth", _k.BOOTH, [], 2, [1.0, 3.0], 0.0,
                        ((-10.0, 10.0), (-10.0, 10.0)), [-8.0, 8.0])


def saddle():
    """x^2 + y^4/4 - y^2/2: a saddle point at the origin between minima (0, +-1), value -1/4.

    The Hessian at the origin is diag(2, -1). Started on the x-axis, gradient descent
    converges to the saddle and stays there; a tiny offset in y lets it escape.
    """
    f = TestFunction("saddle", _k.SADDLE, [], 2, [[0.0, -1.0], [0.0, 1.0]], -0.25,
                     ((-2.0, 2.0), (-2.0, 2.0)), [1.5, 1e-3])
    f.saddle_point = np.zeros(2)
    return f


def six_hump_camel():
    """(4 - 2.1x^2 + x^4/3)x^2 + xy + (-4 + 4y^2)y^2; two global minima, value -1.0316."""
    xm = np.array([0.08984201368301331, -0.7126564032704135])
    return TestFunction("six_hump_camel", _k.CAMEL, [], 2, [xm, -xm], -1.031628453489877,
                        ((-2.0, 2.0), (-1.1, 1.1)), [-1.5, 0.5])


def rastrigin(dim=2):
    """10 n + sum_i (x_i^2 - 10 cos(2 pi x_i)): a bowl covered in ripples, minimum 0 at 0.

    It has a local minimum near every integer point; all of them share nearly the same
    curvature, 2 + 40 pi^2, so gradient descent with lr > 2/(2 + 40 pi^2) is unstable in
    every one of them.
    """
    dim = v.integer("dim", dim, low=1, high=1_000_000)
    return TestFunction("rastrigin", _k.RASTRIGIN, [], dim, np.zeros(dim), 0.0,
                        ((-5.12, 5.12), (-5.12, 5.12)), np.full(dim, 3.2))


CATALOGUE = {
    "quadratic": quadratic,
    "rosenbrock": rosenbrock,
    "beale": beale,
    "himmelblau": himmelblau,
    "booth": booth,
    "saddle": saddle,
    "six_hump_camel": six_hump_camel,
    "rastrigin": rastrigin,
}


def get(name, **kwargs):
    """Build a landscape by name, e.g. ``get("quadratic", cond=50)``."""
    v.choice("name", name, tuple(CATALOGUE))
    return CATALOGUE[name](**kwargs)
