"""Small real data sets that ship with optlib (no download), and synthetic ones.

* ``load_digits``: 1,797 handwritten digits, 8x8 pixels with values 0-16, 10 classes.
  The test part of the UCI "Optical Recognition of Handwritten Digits" data set
  (E. Alpaydin, C. Kaynak, 1998), CC BY 4.0.
* ``load_breast_cancer``: 569 tumours, 30 real features, 2 classes. UCI "Breast Cancer
  Wisconsin (Diagnostic)" (W. Wolberg, O. Mangasarian, N. Street, W. Street, 1995),
  CC BY 4.0. Label 1 = benign, 0 = malignant.

Both files are the copies scikit-learn distributes; see ``optlib/data/README.md``.
The synthetic ones (``synthetic_regression``, ``sparse_regression``, ``adding_problem``)
are drawn from a seeded generator.
"""

import functools
import gzip
from importlib import resources
from typing import NamedTuple

import numpy as np

from . import _validate as v


class Dataset(NamedTuple):
    """A train/test split. X arrays are float64 (n, d); y arrays are int64 (classes) or float64."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    name: str
    n_classes: int  #: 0 for regression


def _read_csv_gz(filename):
    with resources.files("optlib").joinpath("data", filename).open("rb") as raw:
        with gzip.open(raw, "rt") as fh:
            lines = fh.read().splitlines()
    return lines


@functools.lru_cache(maxsize=None)
def _table(filename, header_lines):
    """(X, y) of a shipped CSV whose last column is the integer label, parsed once per
    process (a widget retrains on every slider move) and read-only: every split copies."""
    data = np.loadtxt(_read_csv_gz(filename)[header_lines:], delimiter=",")
    X, y = data[:, :-1], data[:, -1].astype(np.int64)
    X.flags.writeable = y.flags.writeable = False
    return X, y


def _split(X, y, test_fraction, seed, standardize, name, n_classes):
    test_fraction = v.real("test_fraction", test_fraction, low=0.0, high=1.0,
                           low_inclusive=False, high_inclusive=False)
    seed = v.integer("seed", seed, low=0)
    standardize = v.boolean("standardize", standardize)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    n_test = min(len(y) - 1, max(1, int(round(test_fraction * len(y)))))  # both parts non-empty
    test, train = order[:n_test], order[n_test:]
    X_train, X_test = X[train], X[test]
    if standardize:
        mean = X_train.mean(axis=0)
        std = X_train.std(axis=0)
        std[std == 0] = 1.0  # constant pixels stay 0
        X_train = (X_train - mean) / std
        X_test = (X_test - mean) / std
    return Dataset(np.ascontiguousarray(X_train), y[train].copy(),
                   np.ascontiguousarray(X_test), y[test].copy(), name, n_classes)


@functools.lru_cache(maxsize=32)
def _shipped_split(filename, header_lines, test_fraction, seed, standardize, name,
                   n_classes):
    """A split of a shipped table, made once per process and arguments, read-only (a
    widget retrains on every slider move: the split need not be made again)."""
    X, y = _table(filename, header_lines)
    data = _split(X, y, test_fraction, seed, standardize, name, n_classes)
    for arr in data[:4]:
        arr.flags.writeable = False
    return data


def _shipped(filename, header_lines, test_fraction, seed, standardize, name, n_classes):
    """The split asked for, in new arrays the caller may change; the arguments are
    checked before the cache sees them."""
    key = (v.real("test_fraction", test_fraction, low=0.0, high=1.0, low_inclusive=False,
                  high_inclusive=False), v.integer("seed", seed, low=0),
           v.boolean("standardize", standardize))
    data = _shipped_split(filename, header_lines, *key, name, n_classes)
    return data._replace(**{f: getattr(data, f).copy() for f in data._fields[:4]})


def load_digits(test_fraction=0.2, seed=0, standardize=True):
    """The 8x8 digits, split at random (reproducible by ``seed``) into train and test.

    ``standardize=True`` gives every pixel zero mean and unit variance on the
    training part (statistics of the training part applied to both); ``False`` keeps
    the raw counts 0-16.
    """
    return _shipped("digits.csv.gz", 0, test_fraction, seed, standardize, "digits", 10)


def load_breast_cancer(test_fraction=0.2, seed=0, standardize=True):
    """The Wisconsin diagnostic breast-cancer data (binary), split like :func:`load_digits`.

    Unstandardised, its features range from about 1e-3 to 4e3: a badly conditioned
    problem for gradient descent, which is why ``standardize`` exists.
    """
    return _shipped("breast_cancer.csv.gz", 1,  # first line: counts and class names
                    test_fraction, seed, standardize, "breast_cancer", 2)


def synthetic_regression(n=200, dim=2, cond=10.0, noise=0.1, seed=0, test_fraction=0.2):
    """y = X w* + noise, the features scaled so that X^T X / n has condition number ``cond``.

    The condition number is exact for all n rows together; the random train/test split
    changes it slightly for each part.

    Returns a :class:`Dataset` with float y; the true weights are ``w* = (1, ..., 1)``
    (and no intercept).
    """
    n = v.integer("n", n, low=4)
    dim = v.integer("dim", dim, low=1, high=10_000)
    cond = v.real("cond", cond, low=1.0)
    noise = v.real("noise", noise, low=0.0)
    seed = v.integer("seed", seed, low=0)
    if n < dim + 2:
        raise ValueError(f"n must be at least dim + 2 = {dim + 2} for a full-rank design, got n={n}")
    if dim == 1 and cond != 1.0:
        raise ValueError(f"cond must be 1.0 when dim=1 (one feature), got cond={cond}")
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, dim))
    Z = (Z - Z.mean(axis=0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(Z.T, bias=True)
                                                                 .reshape(dim, dim))).T
    scales = np.sqrt(np.geomspace(1.0, 1.0 / cond, dim))
    X = Z * scales
    y = X @ np.ones(dim) + noise * rng.standard_normal(n)
    return _split(X, y, test_fraction, seed, False, "synthetic_regression", 0)


def sparse_regression(n=2000, frequent=10, rare=10, p=0.02, noise=0.1, seed=0,
                      test_fraction=0.2):
    """y = X w* + noise with w* = (1, ..., 1), where some features are rare.

    The first ``frequent`` features are standard normal in every row; each entry of the
    last ``rare`` ones is standard normal with probability ``p`` (independently) and
    exactly 0 otherwise, as a word of a text is absent from most documents. With n p
    small, a rare feature may be absent from every training row, and its weight then
    cannot be learnt. A feature's curvature
    (the mean of its square) is about 1 if frequent and about p if rare. The features are
    not standardised: that would make the rare ones dense and as large as the others.

    Returns a :class:`Dataset` with float y (and no intercept).
    """
    n = v.integer("n", n, low=4)
    frequent = v.integer("frequent", frequent, low=0, high=10_000)
    rare = v.integer("rare", rare, low=0, high=10_000)
    if frequent + rare == 0:
        raise ValueError("frequent + rare must be at least 1 (the number of features), "
                         "got 0")
    p = v.real("p", p, low=0.0, high=1.0, low_inclusive=False)
    noise = v.real("noise", noise, low=0.0)
    rng = np.random.default_rng(v.integer("seed", seed, low=0))
    X = rng.standard_normal((n, frequent + rare))
    X[:, frequent:] *= rng.random((n, rare)) < p
    y = X @ np.ones(frequent + rare) + noise * rng.standard_normal(n)
    return _split(X, y, test_fraction, seed, False, "sparse_regression", 0)


def adding_problem(n=2000, length=50, seed=0, test_fraction=0.2):
    """The adding problem (Hochreiter & Schmidhuber 1997; Pascanu et al. 2013).

    Each sequence has ``length`` steps of two inputs: a random number in [0, 1] and a
    marker that is 1 at exactly two steps (one in each half of the sequence) and 0
    elsewhere. The target is the sum of the two marked numbers. Predicting the mean (1.0)
    gives a mean squared error of 1/6; doing better requires carrying information across
    the whole sequence. X has shape (n, length, 2), y shape (n,).
    """
    n = v.integer("n", n, low=4)
    length = v.integer("length", length, low=2)
    rng = np.random.default_rng(v.integer("seed", seed, low=0))
    X = np.zeros((n, length, 2))
    X[:, :, 0] = rng.uniform(0.0, 1.0, size=(n, length))
    half = length // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, length, size=n)
    rows = np.arange(n)
    X[rows, first, 1] = 1.0
    X[rows, second, 1] = 1.0
    y = X[rows, first, 0] + X[rows, second, 0]
    return _split(X, y, test_fraction, seed, False, "adding_problem", 0)
