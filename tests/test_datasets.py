import gzip
import warnings
from importlib import resources

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optlib as ol

LOADERS = {"digits": ol.datasets.load_digits, "breast_cancer": ol.datasets.load_breast_cancer}
SIZES = {"digits": (1797, 64, 10), "breast_cancer": (569, 30, 2)}


def raw(name):
    """The shipped file read directly (not through optlib): features and labels."""
    path = resources.files("optlib").joinpath("data", f"{name}.csv.gz")
    with gzip.open(path, "rt") as fh:
        lines = fh.read().splitlines()
    if name == "breast_cancer":
        assert lines[0] == "569,30,malignant,benign"
        lines = lines[1:]
    data = np.array([[float(t) for t in line.split(",")] for line in lines])
    return data[:, :-1], data[:, -1]


@pytest.fixture(scope="module", params=list(LOADERS))
def name(request):
    return request.param


def rows(X, y):
    """Rows of [X | y] sorted lexicographically: a multiset of examples."""
    A = np.column_stack([X, y])
    return A[np.lexsort(A.T[::-1])]


def test_digits_shapes_labels_and_classes():
    d = ol.datasets.load_digits()
    assert (d.name, d.n_classes) == ("digits", 10)
    assert d.X_train.shape[1] == d.X_test.shape[1] == 64
    assert d.X_train.shape[0] + d.X_test.shape[0] == 1797
    assert d.X_train.shape[0] == d.y_train.shape[0] and d.X_test.shape[0] == d.y_test.shape[0]
    assert d.X_train.dtype == d.X_test.dtype == np.float64
    assert d.y_train.dtype == d.y_test.dtype == np.int64
    y = np.concatenate([d.y_train, d.y_test])
    assert set(np.unique(y)) == set(range(10))
    np.testing.assert_array_equal(np.unique(d.y_train), np.arange(10))  # every class in train
    np.testing.assert_array_equal(np.unique(d.y_test), np.arange(10))  # and in test
    assert np.all(np.bincount(y) > 170)  # about 180 of each digit


def test_breast_cancer_shapes_and_class_counts():
    d = ol.datasets.load_breast_cancer()
    assert (d.name, d.n_classes) == ("breast_cancer", 2)
    assert d.X_train.shape[1] == d.X_test.shape[1] == 30
    assert d.X_train.shape[0] + d.X_test.shape[0] == 569
    assert d.y_train.dtype == np.int64
    y = np.concatenate([d.y_train, d.y_test])
    np.testing.assert_array_equal(np.bincount(y), [212, 357])  # 0 = malignant, 1 = benign
    assert set(np.unique(d.y_train)) == set(np.unique(d.y_test)) == {0, 1}


def test_malignant_tumours_are_larger_on_average():
    # label 0 = malignant: mean radius (column 0) is larger on average (UCI description)
    d = ol.datasets.load_breast_cancer(standardize=False)
    X = np.concatenate([d.X_train, d.X_test])
    y = np.concatenate([d.y_train, d.y_test])
    assert X[y == 0, 0].mean() > X[y == 1, 0].mean() + 3.0


@pytest.mark.parametrize("test_fraction", [0.1, 0.2, 0.25, 0.5, 0.9, 1e-4])
def test_split_sizes_follow_test_fraction(name, test_fraction):
    n, d, _ = SIZES[name]
    ds = LOADERS[name](test_fraction=test_fraction)
    n_test = max(1, int(round(test_fraction * n)))
    assert ds.X_test.shape == (n_test, d) and ds.y_test.shape == (n_test,)
    assert ds.X_train.shape == (n - n_test, d) and ds.y_train.shape == (n - n_test,)


def test_split_is_reproducible_by_seed_and_differs_across_seeds(name):
    a = LOADERS[name](seed=3)
    b = LOADERS[name](seed=3)
    for u, v in zip(a[:4], b[:4]):
        np.testing.assert_array_equal(u, v)
    c = LOADERS[name](seed=4)
    assert not np.array_equal(a.y_train, c.y_train)
    assert not np.array_equal(rows(a.X_test, a.y_test), rows(c.X_test, c.y_test))  # other rows
    assert not np.array_equal(a.X_train, c.X_train)


def test_each_call_returns_new_writeable_arrays_that_a_change_to_one_leaves_alone(name):
    """The split is made once per process and arguments; every call gets copies."""
    a = LOADERS[name](seed=2)
    keep = [arr.copy() for arr in a[:4]]
    for arr in a[:4]:
        assert arr.flags.writeable
        arr[...] = 0  # a learner may change the arrays of their copy
    b = LOADERS[name](seed=2)
    for arr, kept in zip(b[:4], keep):
        np.testing.assert_array_equal(arr, kept)
    assert all(not np.shares_memory(u, v) for u, v in zip(a[:4], b[:4]))


@pytest.mark.parametrize("seed", [0, 1, 17])
def test_train_and_test_partition_the_raw_data(name, seed):
    X, y = raw(name)
    ds = LOADERS[name](seed=seed, standardize=False)
    joined = rows(np.concatenate([ds.X_train, ds.X_test]), np.concatenate([ds.y_train, ds.y_test]))
    np.testing.assert_array_equal(joined, rows(X, y))  # nothing lost, nothing duplicated


def test_unstandardised_digits_are_integer_counts_0_to_16():
    d = ol.datasets.load_digits(standardize=False)
    X = np.concatenate([d.X_train, d.X_test])
    np.testing.assert_array_equal(X, np.round(X))
    assert X.min() == 0 and X.max() == 16
    assert set(np.unique(X)) == set(range(17))


@pytest.mark.parametrize("seed", [0, 5])
def test_standardize_gives_train_mean_0_and_std_1_with_train_statistics(name, seed):
    std_ds = LOADERS[name](seed=seed)
    raw_ds = LOADERS[name](seed=seed, standardize=False)
    mean, std = raw_ds.X_train.mean(axis=0), raw_ds.X_train.std(axis=0)
    constant = std == 0
    np.testing.assert_allclose(std_ds.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(std_ds.X_train.std(axis=0)[~constant], 1.0, rtol=1e-12)
    np.testing.assert_array_equal(std_ds.X_train[:, constant], 0.0)  # constant pixels stay 0
    # the test part is scaled with the training statistics (not its own)
    scale = np.where(constant, 1.0, std)
    np.testing.assert_allclose(std_ds.X_test, (raw_ds.X_test - mean) / scale, rtol=1e-12, atol=1e-12)
    assert not np.allclose(std_ds.X_test.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_array_equal(std_ds.y_train, raw_ds.y_train)
    np.testing.assert_array_equal(std_ds.y_test, raw_ds.y_test)


def test_digits_have_constant_pixels_and_breast_cancer_has_none():
    # makes the std == 0 branch above a real case, not a hypothetical one
    d = ol.datasets.load_digits(standardize=False)
    assert np.sum(d.X_train.std(axis=0) == 0) >= 1
    b = ol.datasets.load_breast_cancer(standardize=False)
    assert np.all(b.X_train.std(axis=0) > 0)


def full(ds):
    return np.concatenate([ds.X_train, ds.X_test]), np.concatenate([ds.y_train, ds.y_test])


@pytest.mark.parametrize("dim, cond", [(1, 1.0), (2, 10.0), (3, 1.0), (5, 100.0), (10, 1e4)])
def test_synthetic_regression_has_the_requested_condition_number(dim, cond):
    ds = ol.datasets.synthetic_regression(n=300, dim=dim, cond=cond, seed=2)
    X, y = full(ds)
    assert X.shape == (300, dim) and y.dtype == np.float64
    assert (ds.name, ds.n_classes) == ("synthetic_regression", 0)
    assert ds.X_test.shape[0] == 60
    eig = np.linalg.eigvalsh(X.T @ X / len(y))
    assert eig.max() / eig.min() == pytest.approx(cond, rel=1e-8)
    np.testing.assert_allclose(eig.max(), 1.0, rtol=1e-10)  # the largest feature scale is 1


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 8), st.floats(1.0, 1e5), st.integers(0, 2**32), st.integers(20, 200))
def test_synthetic_condition_number_property(dim, cond, seed, n):
    X, _ = full(ol.datasets.synthetic_regression(n=n, dim=dim, cond=cond, seed=seed))
    eig = np.linalg.eigvalsh(X.T @ X / n)
    assert eig.max() / eig.min() == pytest.approx(cond, rel=1e-8)


@pytest.mark.parametrize("dim, cond", [(2, 10.0), (4, 100.0), (8, 1e3)])
def test_least_squares_recovers_the_true_weights(dim, cond):
    ds = ol.datasets.synthetic_regression(n=400, dim=dim, cond=cond, noise=1e-3, seed=1)
    X, y = full(ds)
    w = np.linalg.lstsq(X, y, rcond=None)[0]
    np.testing.assert_allclose(w, np.ones(dim), atol=0.02)
    # without noise the recovery is exact, and the noise level is what was asked for
    X0, y0 = full(ol.datasets.synthetic_regression(n=400, dim=dim, cond=cond, noise=0.0, seed=1))
    np.testing.assert_allclose(X0, X, rtol=1e-15)  # the same design for the same seed
    np.testing.assert_allclose(np.linalg.lstsq(X0, y0, rcond=None)[0], np.ones(dim), rtol=1e-10)
    np.testing.assert_allclose(y0, X0 @ np.ones(dim), rtol=1e-12, atol=1e-12)
    assert np.std(y - y0) == pytest.approx(1e-3, rel=0.15)


def test_synthetic_regression_is_reproducible_by_seed():
    a = ol.datasets.synthetic_regression(seed=4)
    b = ol.datasets.synthetic_regression(seed=4)
    c = ol.datasets.synthetic_regression(seed=5)
    np.testing.assert_array_equal(full(a)[0], full(b)[0])
    np.testing.assert_array_equal(full(a)[1], full(b)[1])
    assert not np.array_equal(full(a)[1], full(c)[1])


@pytest.mark.parametrize("frequent, rare, p", [(10, 10, 0.02), (3, 5, 0.2), (0, 4, 1.0),
                                               (6, 0, 0.5)])
def test_sparse_regression_has_dense_and_rare_features(frequent, rare, p):
    ds = ol.datasets.sparse_regression(n=5000, frequent=frequent, rare=rare, p=p, seed=3)
    X, y = full(ds)
    assert X.shape == (5000, frequent + rare) and y.dtype == np.float64
    assert (ds.name, ds.n_classes, ds.X_test.shape[0]) == ("sparse_regression", 0, 1000)
    present = X != 0.0
    assert present[:, :frequent].all()  # standard normal draws are never exactly 0
    if rare:  # each rare feature is present in about a fraction p of the rows
        np.testing.assert_allclose(present[:, frequent:].mean(axis=0), p,
                                   atol=4 * np.sqrt(p * (1 - p) / 5000) + 1e-12)
        # and its curvature, the mean of its square, is about p (4 standard errors)
        np.testing.assert_allclose((X[:, frequent:] ** 2).mean(axis=0), p,
                                   atol=4 * np.sqrt((3 * p - p * p) / 5000))
    X0, y0 = full(ol.datasets.sparse_regression(n=5000, frequent=frequent, rare=rare,
                                                p=p, noise=0.0, seed=3))
    np.testing.assert_array_equal(X0, X)  # the same design for the same seed
    np.testing.assert_allclose(y0, X0 @ np.ones(frequent + rare), rtol=1e-12, atol=1e-12)
    assert np.std(y - y0) == pytest.approx(0.1, rel=0.05)
    other = ol.datasets.sparse_regression(n=5000, frequent=frequent, rare=rare, p=p,
                                          seed=4)
    assert not np.array_equal(full(other)[0], X)


@pytest.mark.parametrize("standardize", [True, False])
def test_a_test_fraction_just_below_1_keeps_a_training_row_or_is_refused(standardize):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            ds = ol.datasets.load_breast_cancer(test_fraction=0.9995, standardize=standardize)
        except ValueError as exc:
            assert "test_fraction" in str(exc)
            return
    assert ds.X_train.shape[0] >= 1
    assert np.all(np.isfinite(ds.X_test))


@pytest.mark.parametrize("n, dim", [(4, 4), (5, 10)])
def test_synthetic_regression_with_too_few_rows_is_refused_naming_n(n, dim):
    with pytest.raises(ValueError, match=r"\bn must") as info:
        ol.datasets.synthetic_regression(n=n, dim=dim)
    assert not isinstance(info.value, np.linalg.LinAlgError)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: ol.datasets.load_digits(test_fraction=0.0), ValueError,
     r"test_fraction must be in \(0.0, 1.0\), got 0.0"),
    (lambda: ol.datasets.load_digits(test_fraction=1.0), ValueError,
     r"test_fraction must be in \(0.0, 1.0\), got 1.0"),
    (lambda: ol.datasets.load_breast_cancer(test_fraction=-0.2), ValueError, "test_fraction"),
    (lambda: ol.datasets.load_breast_cancer(test_fraction="0.2"), TypeError, "test_fraction"),
    (lambda: ol.datasets.load_digits(test_fraction=np.nan), ValueError, "test_fraction must be finite"),
    (lambda: ol.datasets.load_digits(seed=-1), ValueError, r"seed must be an integer in \[0, inf\)"),
    (lambda: ol.datasets.load_breast_cancer(seed=1.5), TypeError, "seed must be an integer"),
    (lambda: ol.datasets.synthetic_regression(seed=-1), ValueError, "seed"),
    (lambda: ol.datasets.synthetic_regression(cond=0.5), ValueError, r"cond must be in \[1.0, inf\)"),
    (lambda: ol.datasets.synthetic_regression(cond=np.inf), ValueError, "cond must be finite"),
    (lambda: ol.datasets.synthetic_regression(n=2), ValueError, r"n must be an integer in \[4, "),
    (lambda: ol.datasets.synthetic_regression(n=200.0), TypeError, "n must be an integer"),
    (lambda: ol.datasets.synthetic_regression(dim=0), ValueError, "dim"),
    (lambda: ol.datasets.synthetic_regression(noise=-0.1), ValueError, "noise"),
    (lambda: ol.datasets.synthetic_regression(test_fraction=1.0), ValueError, "test_fraction"),
])
def test_bad_input_is_refused_with_a_message_naming_the_argument(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


# --- the adding problem ------------------------------------------------------------------------


def adding_full(**kw):
    return full(ol.datasets.adding_problem(**kw))


@pytest.mark.parametrize("n, length, test_fraction", [(100, 10, 0.2), (4, 2, 0.2),
                                                      (57, 7, 0.5), (30, 3, 0.1)])
def test_adding_problem_shapes_and_dtypes(n, length, test_fraction):
    ds = ol.datasets.adding_problem(n=n, length=length, seed=1, test_fraction=test_fraction)
    n_test = min(n - 1, max(1, int(round(test_fraction * n))))
    assert ds.X_train.shape == (n - n_test, length, 2) and ds.y_train.shape == (n - n_test,)
    assert ds.X_test.shape == (n_test, length, 2) and ds.y_test.shape == (n_test,)
    assert ds.X_train.dtype == ds.y_train.dtype == np.float64
    assert (ds.name, ds.n_classes) == ("adding_problem", 0)
    assert ds.X_train.flags.c_contiguous and ds.X_test.flags.c_contiguous


@pytest.mark.parametrize("length", [2, 3, 7, 10, 50])
def test_adding_problem_has_one_marker_in_each_half_and_numbers_in_0_1(length):
    X, _ = adding_full(n=400, length=length, seed=2)
    markers, numbers = X[:, :, 1], X[:, :, 0]
    assert set(np.unique(markers)) <= {0.0, 1.0}  # length 2: both steps are marked
    np.testing.assert_array_equal(markers.sum(axis=1), 2.0)
    half = length // 2
    np.testing.assert_array_equal(markers[:, :half].sum(axis=1), 1.0)
    np.testing.assert_array_equal(markers[:, half:].sum(axis=1), 1.0)
    assert np.all((numbers >= 0) & (numbers <= 1))
    assert 0.45 < numbers.mean() < 0.55 and numbers.std() == pytest.approx(12 ** -0.5, rel=0.1)
    # every position of each half gets marked somewhere (positions drawn uniformly)
    if length <= 10:
        assert np.all(markers.sum(axis=0) > 0)


@pytest.mark.parametrize("seed", [0, 3])
def test_adding_problem_target_is_the_sum_of_the_two_marked_numbers(seed):
    ds = ol.datasets.adding_problem(n=300, length=20, seed=seed)
    for X, y in ((ds.X_train, ds.y_train), (ds.X_test, ds.y_test)):
        expected = np.array([sum(X[i, t, 0] for t in range(X.shape[1]) if X[i, t, 1] == 1.0)
                             for i in range(len(y))])
        np.testing.assert_array_equal(y, expected)
        assert np.all((y >= 0) & (y <= 2))
        # the target is not just any two numbers: unmarked ones do not add up to it
        assert not np.allclose(y, X[:, 0, 0] + X[:, -1, 0])


def test_adding_problem_is_reproducible_by_seed():
    a = ol.datasets.adding_problem(n=50, length=8, seed=4)
    b = ol.datasets.adding_problem(n=50, length=8, seed=4)
    for u, w in zip(a[:4], b[:4]):
        np.testing.assert_array_equal(u, w)
    c = ol.datasets.adding_problem(n=50, length=8, seed=5)
    assert not np.array_equal(full(a)[0], full(c)[0])
    assert not np.array_equal(a.y_train, c.y_train)


def test_adding_problem_mean_predictor_has_half_mse_near_one_twelfth():
    """The target is a sum of two U(0, 1): mean 1, variance 1/6, so predicting 1.0 has a
    mean squared error of 1/6 and the half-MSE the models report (loss = mse/2) of 1/12."""
    _, y = adding_full(n=6000, length=10, seed=7)
    assert y.mean() == pytest.approx(1.0, abs=0.02)
    half_mse = 0.5 * np.mean((y - 1.0) ** 2)
    assert half_mse == pytest.approx(1 / 12, rel=0.05)
    # the models' own loss for the constant predictor 1.0 agrees
    X_, y_ = adding_full(n=200, length=5, seed=8)
    rnn = ol.models.RNN(2, 1, 1)
    w = np.zeros(rnn.n_params)
    w[-1] = 1.0  # b_y = 1 and every weight 0: predicts 1.0 for every sequence
    assert rnn.loss(w, X_, y_) == pytest.approx(0.5 * np.mean((y_ - 1.0) ** 2), rel=1e-12)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: ol.datasets.adding_problem(length=1), ValueError,
     r"length must be an integer in \[2, inf\), got 1"),
    (lambda: ol.datasets.adding_problem(length=0), ValueError, "length"),
    (lambda: ol.datasets.adding_problem(length=5.0), TypeError, "length must be an integer"),
    (lambda: ol.datasets.adding_problem(n=3), ValueError,
     r"n must be an integer in \[4, inf\), got 3"),
    (lambda: ol.datasets.adding_problem(n=0), ValueError, r"\bn must"),
    (lambda: ol.datasets.adding_problem(n=10.0), TypeError, "n must be an integer"),
    (lambda: ol.datasets.adding_problem(seed=-1), ValueError, "seed"),
    (lambda: ol.datasets.adding_problem(test_fraction=1.0), ValueError, "test_fraction"),
    (lambda: ol.datasets.adding_problem(test_fraction=0.0), ValueError, "test_fraction"),
])
def test_adding_problem_bad_input_is_refused_naming_the_argument(call, exc, words):
    with pytest.raises(exc, match=words):
        call()
