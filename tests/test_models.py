import math

import numpy as np
import pytest

import optlib as ol
from naive import fd_grad, linear_loss, logistic_loss, mlp_logits, mlp_loss

D, H, K, N = 4, 5, 3, 9  # small problem: inputs, hidden units, classes, rows



def small_problem(kind, l2, seed=0):
    """(model, params, X, y, naive loss as a function of params) on random data."""
    r = np.random.default_rng(seed)
    X = r.normal(size=(N, D))
    if kind == "linear":
        model = ol.models.LinearRegression(D, l2=l2)
        y = r.normal(size=N)
        return model, r.normal(size=D + 1), X, y, lambda w: linear_loss(w, X, y, l2)
    if kind == "logistic":
        model = ol.models.LogisticRegression(D, l2=l2)
        y = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1])
        return model, r.normal(size=D + 1), X, y, lambda w: logistic_loss(w, X, y, l2)
    model = ol.models.MLP(D, H, K, l2=l2)
    y = np.array([0, 1, 2, 2, 1, 0, 1, 2, 0])
    return model, r.normal(size=model.n_params), X, y, lambda w: mlp_loss(w, X, y, H, K, l2)


KINDS = ["linear", "logistic", "mlp"]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("l2", [0.0, 0.3])
@pytest.mark.parametrize("kind", KINDS)
def test_loss_equals_the_naive_loss(kind, l2, seed):
    model, w, X, y, naive = small_problem(kind, l2, seed)
    loss, grad = model.loss_and_grad(w, X, y)
    assert isinstance(loss, float) and math.isfinite(loss)
    assert loss == pytest.approx(naive(w), rel=1e-12, abs=1e-14)
    assert model.loss(w, X, y) == loss
    assert grad.shape == w.shape and grad.dtype == np.float64


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("l2", [0.0, 0.3])
@pytest.mark.parametrize("kind", KINDS)
def test_gradient_equals_finite_differences_of_the_naive_loss(kind, l2, seed):
    model, w, X, y, naive = small_problem(kind, l2, seed)
    _, grad = model.loss_and_grad(w, X, y)
    fd = fd_grad(naive, w)
    assert np.linalg.norm(fd) > 1e-2  # not a trivial stationary point
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8 * np.abs(fd).max())


@pytest.mark.parametrize("kind", KINDS)
def test_l2_adds_the_penalty_on_weights_but_not_on_biases(kind):
    model0, w, X, y, _ = small_problem(kind, 0.0)
    model1, _, _, _, _ = small_problem(kind, 0.5)
    f0, g0 = model0.loss_and_grad(w, X, y)
    f1, g1 = model1.loss_and_grad(w, X, y)
    is_weight = np.ones(w.size, bool)
    if kind == "mlp":
        is_weight[D * H: D * H + H] = False
        is_weight[-K:] = False
    else:
        is_weight[-1] = False
    assert f1 - f0 == pytest.approx(0.25 * np.sum(w[is_weight] ** 2), rel=1e-12)
    np.testing.assert_allclose(g1 - g0, 0.5 * w * is_weight, rtol=1e-12, atol=1e-14)


def test_logistic_loss_and_gradient_are_finite_for_extreme_logits():
    model = ol.models.LogisticRegression(2)
    X = np.array([[800.0, 1.0], [-800.0, 0.5], [799.0, -1.0], [-801.0, 2.0]])
    y = np.array([0, 1, 1, 0])  # the first two are confidently wrong
    w = np.array([1.0, 0.0, 0.0])
    loss, grad = model.loss_and_grad(w, X, y)
    expected = logistic_loss(w, X, y)
    assert math.isfinite(expected) and expected == pytest.approx((800 + 800) / 4, rel=1e-12)
    assert loss == pytest.approx(expected, rel=1e-12)
    assert np.all(np.isfinite(grad))
    p = np.array([1.0, 0.0, 1.0, 0.0])  # sigmoid of the logits, to double precision
    np.testing.assert_allclose(grad, [np.mean((p - y) * X[:, 0]), np.mean((p - y) * X[:, 1]),
                                      np.mean(p - y)], rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(grad, fd_grad(lambda v: logistic_loss(v, X, y), w),
                               rtol=1e-6, atol=1e-5)


def test_mlp_loss_and_gradient_are_finite_for_extreme_logits():
    model = ol.models.MLP(D, H, K)
    r = np.random.default_rng(5)
    X = r.normal(size=(N, D))
    y = np.array([0, 1, 2, 2, 1, 0, 1, 2, 0])
    w = r.normal(size=model.n_params)
    w[D * H + H: D * H + H + H * K] *= 250.0  # W2: logits of several hundred
    logits = mlp_logits(w, X, H, K)
    assert 500 < np.abs(logits).max() < 2000
    loss, grad = model.loss_and_grad(w, X, y)
    expected = mlp_loss(w, X, y, H, K)
    assert math.isfinite(expected) and expected > 100  # confidently wrong on some rows
    assert loss == pytest.approx(expected, rel=1e-12)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, fd_grad(lambda v: mlp_loss(v, X, y, H, K), w),
                               rtol=1e-5, atol=1e-4)


def float32_cases():
    return [pytest.param(k, l2, id=f"{k}-l2={l2}")
            for k in KINDS for l2 in (0.0, 0.3)]


@pytest.mark.parametrize("kind, l2", float32_cases())
def test_float32_params_give_float32_gradients_close_to_float64(kind, l2):
    model, w, X, y, _ = small_problem(kind, l2)
    f64, g64 = model.loss_and_grad(w, X, y)
    f32, g32 = model.loss_and_grad(w.astype(np.float32), X, y)
    assert g32.dtype == np.float32
    assert f32 == pytest.approx(f64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-5 * np.abs(g64).max())


@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_logistic_fit_in_float32_keeps_float32_params_and_learns(l2):
    data = ol.datasets.load_breast_cancer()
    model = ol.models.LogisticRegression(30, l2=l2)
    w = model.init().astype(np.float32)
    hist = ol.models.fit(model, ol.optim.GD(lr=0.5), w, data, epochs=5, batch_size=64)
    assert w.dtype == np.float32 and not hist.diverged
    assert hist.train_loss[-1] < 0.5 * hist.train_loss[0]
    assert hist.test_accuracy[-1] > 0.9


def test_mlp_init_is_reproducible_by_seed_with_glorot_ranges():
    d, h, k = 64, 32, 10
    model = ol.models.MLP(d, h, k)
    w = model.init(seed=3)
    assert w.shape == (model.n_params,) == ((d + 1) * h + (h + 1) * k,)
    assert w.dtype == np.float64
    np.testing.assert_array_equal(w, model.init(seed=3))
    assert not np.array_equal(w, model.init(seed=4))
    np.testing.assert_array_equal(model.init(), model.init(seed=0))
    W1, b1 = w[: d * h], w[d * h: d * h + h]
    W2, b2 = w[d * h + h: d * h + h + h * k], w[d * h + h + h * k:]
    assert np.all(b1 == 0) and np.all(b2 == 0)
    for W, fan in ((W1, d + h), (W2, h + k)):
        r = math.sqrt(6.0 / fan)
        assert np.abs(W).max() <= r
        assert np.abs(W).max() > 0.95 * r  # fills the Glorot range, not a narrower one
        assert W.min() < 0 < W.max()
        assert np.mean(W**2) == pytest.approx(r**2 / 3, rel=0.15)  # uniform: variance r^2/3


@pytest.mark.parametrize("cls", [ol.models.LinearRegression, ol.models.LogisticRegression])
def test_linear_models_start_at_zero(cls):
    model = cls(7)
    assert model.n_params == 8
    np.testing.assert_array_equal(model.init(seed=5), np.zeros(8))


def test_predict_and_accuracy_match_naive():
    r = np.random.default_rng(11)
    X = r.normal(size=(40, D))
    # MLP: argmax of the naive logits
    mlp = ol.models.MLP(D, H, K)
    w = r.normal(size=mlp.n_params)
    pred = mlp.predict(w, X)
    np.testing.assert_array_equal(pred, np.argmax(mlp_logits(w, X, H, K), axis=1))
    y = r.integers(0, K, size=40)
    acc = np.mean(pred == y)
    assert 0 < acc < 1
    assert mlp.accuracy(w, X, y) == pytest.approx(acc, abs=0)
    # logistic: class 1 where the logit is >= 0, probabilities are the sigmoid
    logit = ol.models.LogisticRegression(D)
    v = r.normal(size=D + 1)
    z = X @ v[:-1] + v[-1]
    np.testing.assert_allclose(logit.predict_proba(v, X), 1 / (1 + np.exp(-z)), rtol=1e-13)
    np.testing.assert_array_equal(logit.predict(v, X), (z >= 0).astype(int))
    yb = r.integers(0, 2, size=40)
    acc = np.mean((z >= 0) == yb)
    assert 0 < acc < 1
    assert logit.accuracy(v, X, yb) == pytest.approx(acc, abs=0)
    # linear regression: the affine map
    lin = ol.models.LinearRegression(D)
    np.testing.assert_allclose(lin.predict(v, X), z, rtol=1e-13)


@pytest.fixture(scope="module")
def digits():
    return ol.datasets.load_digits()


def fit_mlp(data, seed, epochs=2, batch_size=64, init_seed=0):
    model = ol.models.MLP(64, 16, 10)
    w = model.init(seed=init_seed)
    hist = ol.models.fit(model, ol.optim.GD(lr=0.1), w, data, epochs=epochs,
                         batch_size=batch_size, seed=seed)
    return w, hist


def test_fit_is_reproducible_given_a_seed_and_changes_with_it(digits):
    w1, h1 = fit_mlp(digits, seed=7)
    w2, h2 = fit_mlp(digits, seed=7)
    np.testing.assert_array_equal(w1, w2)
    for a, b in zip(h1[:5], h2[:5]):
        np.testing.assert_array_equal(a, b)
    assert h1.state == h2.state
    w3, h3 = fit_mlp(digits, seed=8)
    assert not np.array_equal(h1.step_loss, h3.step_loss)
    assert not np.array_equal(w1, w3)
    # the first epoch-0 evaluation does not depend on the shuffling seed
    assert h1.train_loss[0] == h3.train_loss[0]


def test_fit_decreases_the_training_loss_on_digits(digits):
    n = digits.X_train.shape[0]
    model = ol.models.MLP(64, 16, 10)
    w = model.init(seed=0)
    w0 = w.copy()
    hist = ol.models.fit(model, ol.optim.GD(lr=0.1), w, digits, epochs=3, batch_size=64)
    assert not hist.diverged
    assert np.all(np.diff(hist.train_loss) < 0)
    assert hist.train_loss[-1] < 0.5 * hist.train_loss[0]
    assert hist.test_accuracy[-1] > 0.8 > hist.test_accuracy[0]
    assert not np.array_equal(w, w0)  # params are trained in place
    # the recorded numbers are the model's own on the returned params
    assert hist.train_loss[-1] == pytest.approx(model.loss(w, digits.X_train, digits.y_train), rel=1e-12)
    assert hist.test_loss[-1] == pytest.approx(model.loss(w, digits.X_test, digits.y_test), rel=1e-12)
    assert hist.test_accuracy[-1] == model.accuracy(w, digits.X_test, digits.y_test)
    assert hist.state.step == 3 * math.ceil(n / 64) == hist.step_loss.size


@pytest.mark.parametrize("batch_size", [1000, 100, 64, 1437, 1438, None])
def test_step_count_and_history_shapes(digits, batch_size):
    n = digits.X_train.shape[0]
    assert n == 1438
    epochs = 2
    per_epoch = 1 if batch_size is None else math.ceil(n / batch_size)
    model = ol.models.MLP(64, 8, 10)
    w = model.init()
    hist = ol.models.fit(model, ol.optim.GD(lr=lambda k: 0.1 / (1 + k)), w, digits,
                         epochs=epochs, batch_size=batch_size)
    assert hist.state.step == epochs * per_epoch
    assert hist.step_loss.shape == hist.lr.shape == (epochs * per_epoch,)
    assert np.all(np.isfinite(hist.step_loss))
    np.testing.assert_allclose(hist.lr, 0.1 / (1 + np.arange(epochs * per_epoch)), rtol=1e-15)
    for arr in (hist.train_loss, hist.test_loss, hist.test_accuracy):
        assert arr.shape == (epochs + 1,) and np.all(np.isfinite(arr))
    assert hist.diverged is False


@pytest.mark.parametrize("case", ["logistic-breast-cancer", "mlp-digits", "linear-synthetic"])
def test_full_batch_fit_equals_manual_gradient_descent(case):
    if case == "logistic-breast-cancer":
        data, model, lr = ol.datasets.load_breast_cancer(), ol.models.LogisticRegression(30, l2=0.01), 0.5
    elif case == "mlp-digits":
        data, model, lr = ol.datasets.load_digits(), ol.models.MLP(64, 8, 10, l2=1e-3), 0.3
    else:
        data, model, lr = ol.datasets.synthetic_regression(dim=3), ol.models.LinearRegression(3), 0.5
    epochs = 8
    w = model.init(seed=1)
    manual = w.copy()
    hist = ol.models.fit(model, ol.optim.GD(lr=lr), w, data, epochs=epochs, batch_size=None, seed=2)
    losses = []
    for _ in range(epochs):
        loss, g = model.loss_and_grad(manual, data.X_train, data.y_train)
        losses.append(loss)
        manual = manual - lr * g  # the naive update
    assert hist.state.step == epochs
    # fit shuffles the rows, which changes only the summation order
    np.testing.assert_allclose(hist.step_loss, losses, rtol=1e-11)
    np.testing.assert_allclose(w, manual, rtol=1e-9, atol=1e-12)
    # full batch: the loss before step k + 1 is the training loss after epoch k
    np.testing.assert_allclose(hist.train_loss[:-1], hist.step_loss, rtol=1e-11)
    assert hist.train_loss[-1] < hist.train_loss[0]
    if case == "linear-synthetic":
        assert np.all(np.isnan(hist.test_accuracy))
    else:
        assert np.all((hist.test_accuracy >= 0) & (hist.test_accuracy <= 1))


def test_divergence_with_a_huge_lr_sets_diverged_and_stops():
    data = ol.datasets.synthetic_regression(n=200, dim=3, cond=10.0)
    model = ol.models.LinearRegression(3)
    w = model.init()
    epochs, batch = 50, 10
    total = epochs * math.ceil(160 / batch)
    hist = ol.models.fit(model, ol.optim.GD(lr=1e3), w, data, epochs=epochs, batch_size=batch)
    k = hist.state.step
    assert hist.diverged is True
    assert 0 < k < total
    assert np.all(np.isfinite(hist.step_loss[:k - 1]))
    assert not (np.isfinite(hist.step_loss[k - 1]) and np.all(np.isfinite(w)))
    assert np.all(np.isnan(hist.step_loss[k:]))  # nothing after the stop
    done = k // math.ceil(160 / batch)  # epochs completed before the diverging one
    assert np.all(np.isnan(hist.train_loss[done + 1:]))
    assert hist.lr.shape == (total,)


def test_linear_regression_fit_approaches_the_least_squares_solution():
    data = ol.datasets.synthetic_regression(n=300, dim=4, cond=20.0, noise=0.3, seed=3)
    X, y = data.X_train, data.y_train
    A = np.column_stack([X, np.ones(len(y))])
    w_star = np.linalg.lstsq(A, y, rcond=None)[0]
    eig = np.linalg.eigvalsh(A.T @ A / len(y))
    model = ol.models.LinearRegression(4)
    w = model.init()
    hist = ol.models.fit(model, ol.optim.GD(lr=1.0 / eig.max()), w, data, epochs=1500)
    assert not hist.diverged
    np.testing.assert_allclose(w, w_star, rtol=1e-6, atol=1e-8)
    assert hist.train_loss[-1] == pytest.approx(linear_loss(w_star, X, y), rel=1e-10)
    # and minibatch SGD gets close to it too
    w_sgd = model.init()
    ol.models.fit(model, ol.optim.GD(lr=0.02), w_sgd, data, epochs=200, batch_size=16)
    np.testing.assert_allclose(w_sgd, w_star, atol=0.1)


def _dataset(X, y):
    return ol.datasets.Dataset(X, y, X, y, "toy", 0)


_r = np.random.default_rng(0)
_X = _r.normal(size=(N, D))
_yk = np.array([0, 1, 2, 2, 1, 0, 1, 2, 0])
_mlp = ol.models.MLP(D, H, K)
_w = _mlp.init()


@pytest.mark.parametrize("call, exc, words", [
    (lambda: _mlp.loss_and_grad(np.zeros(5), _X, _yk), ValueError,
     rf"params must have shape \({_mlp.n_params},\)"),
    (lambda: _mlp.loss_and_grad(np.zeros((1, _mlp.n_params)), _X, _yk), ValueError, "params"),
    (lambda: _mlp.loss_and_grad(np.arange(_mlp.n_params), _X, _yk), TypeError, "params must be a float"),
    (lambda: _mlp.loss_and_grad(_w, _X[:, :3].copy(), _yk), ValueError, f"X must have {D} columns"),
    (lambda: _mlp.loss_and_grad(_w, _X[0], _yk), ValueError, "X must be 2-D"),
    (lambda: _mlp.loss_and_grad(_w, _X, _yk[:-1]), ValueError, r"y must have shape \(9,\)"),
    (lambda: _mlp.loss_and_grad(_w, _X, _yk.astype(float)), TypeError, "y must hold integer class labels"),
    (lambda: _mlp.loss_and_grad(_w, _X, _yk + 1), ValueError, r"y must hold labels in \[0, 2\]"),
    (lambda: _mlp.loss_and_grad(_w, _X, _yk - 1), ValueError, r"labels in \[0, 2\]"),
    (lambda: ol.models.LogisticRegression(D).loss(np.zeros(D + 1), _X, _yk), ValueError,
     r"labels in \[0, 1\]"),
    (lambda: ol.models.LinearRegression(D).loss(np.zeros(D + 1), _X, np.full(N, np.nan)),
     ValueError, "y must be finite"),
    (lambda: ol.models.MLP(D, H, K, l2=-0.1), ValueError, r"l2 must be in \[0.0, inf\]"),
    (lambda: ol.models.LogisticRegression(D, l2=np.inf), ValueError, "l2 must be finite"),
    (lambda: ol.models.MLP(D, 0, K), ValueError, "n_hidden must be an integer"),
    (lambda: ol.models.MLP(D, 2.0, K), TypeError, "n_hidden must be an integer"),
    (lambda: ol.models.MLP(D, H, 1), ValueError, "n_out"),
    (lambda: ol.models.LinearRegression(0), ValueError, "n_in"),
    (lambda: _mlp.init(seed=-1), ValueError, "seed"),
    (lambda: ol.models.fit(_mlp, ol.optim.GD(0.1), _w.copy(), _dataset(_X, _yk), batch_size=0),
     ValueError, r"batch_size must be an integer in \[1, 9\]"),
    (lambda: ol.models.fit(_mlp, ol.optim.GD(0.1), _w.copy(), _dataset(_X, _yk), batch_size=10),
     ValueError, r"batch_size must be an integer in \[1, 9\], got 10"),
    (lambda: ol.models.fit(_mlp, ol.optim.GD(0.1), _w.copy(), _dataset(_X, _yk), epochs=0),
     ValueError, "epochs must be an integer"),
    (lambda: ol.models.fit(_mlp, ol.optim.GD(0.1), _w.copy(), _dataset(_X, _yk), seed=-2),
     ValueError, "seed"),
    (lambda: ol.models.fit("mlp", ol.optim.GD(0.1), _w.copy(), _dataset(_X, _yk)), TypeError,
     "model must be an optlib.models model"),
    (lambda: ol.models.fit(_mlp, 0.1, _w.copy(), _dataset(_X, _yk)), TypeError,
     "opt must be an optlib.optim optimizer"),
    (lambda: ol.models.fit(_mlp, ol.optim.GD(0.1), _w[:-1].copy(), _dataset(_X, _yk)), ValueError,
     "params must have shape"),
    (lambda: ol.models.fit(_mlp, ol.optim.GD(0.1), np.full_like(_w, np.nan), _dataset(_X, _yk)),
     ValueError, "params must be finite"),
    (lambda: ol.models.fit(_mlp, ol.optim.GD(0.1), _w.copy(), _dataset(_X, _yk.astype(float))),
     TypeError, "y must hold integer class labels"),
    (lambda: ol.models.fit(ol.models.LogisticRegression(64), ol.optim.GD(0.1), np.zeros(65),
                           ol.datasets.load_digits()), ValueError, r"labels in \[0, 1\]"),
    (lambda: ol.models.fit(_mlp, ol.optim.GD(0.1), _w.copy(), _dataset(_X[:, :2].copy(), _yk)),
     ValueError, f"X must have {D} columns"),
])
def test_bad_input_is_refused_with_a_message_naming_the_argument(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


def test_a_refused_fit_leaves_params_untouched():
    w = _w.copy()
    with pytest.raises(ValueError):
        ol.models.fit(_mlp, ol.optim.GD(0.1), w, _dataset(_X, _yk), batch_size=0)
    np.testing.assert_array_equal(w, _w)


@pytest.mark.parametrize("layout", ["fortran", "column-slice"])
def test_a_non_contiguous_X_is_read_like_its_contiguous_copy(layout):
    r = np.random.default_rng(4)
    if layout == "fortran":
        X = np.asfortranarray(r.normal(size=(N, D)))
    else:
        X = r.normal(size=(N, 2 * D))[:, ::2]
    assert not X.flags.c_contiguous
    w = _mlp.init(seed=1)
    expected = _mlp.loss_and_grad(w, np.ascontiguousarray(X), _yk)
    loss, grad = _mlp.loss_and_grad(w, X, _yk)
    assert loss == expected[0]
    np.testing.assert_array_equal(grad, expected[1])
    np.testing.assert_array_equal(_mlp.predict(w, X), _mlp.predict(w, np.ascontiguousarray(X)))
