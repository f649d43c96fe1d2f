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
    (lambda: ol.models.MLP(D, H, K, l2=-0.1), ValueError, r"l2 must be in \[0.0, inf\)"),
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


# --- RNN -------------------------------------------------------------------------------------
# h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h), h_0 = 0; out = h_T W_hy + b_y; loss = the mean
# over sequences of ||out - y||^2 / 2 (+ l2/2 over W_xh, W_hh, W_hy). The naive forward pass
# below loops over sequences and steps one vector at a time.


def rnn_parts(w, d, h, k):
    """W_xh (d, h), W_hh (h, h), b_h (h), W_hy (h, k), b_y (k), each row major in w."""
    o1, o2 = d * h, d * h + h * h
    o3, o4 = o2 + h, o2 + h + h * k
    assert w.size == o4 + k
    return (w[:o1].reshape(d, h), w[o1:o2].reshape(h, h), w[o2:o3],
            w[o3:o4].reshape(h, k), w[o4:])


def naive_rnn_output(w, X, h, k):
    n, T, d = X.shape
    W_xh, W_hh, b_h, W_hy, b_y = rnn_parts(np.asarray(w, dtype=np.float64), d, h, k)
    out = np.empty((n, k))
    for i in range(n):
        state = np.zeros(h)
        for t in range(T):
            state = np.tanh(X[i, t] @ W_xh + state @ W_hh + b_h)
        out[i] = state @ W_hy + b_y
    return out


def naive_rnn_loss(w, X, y, h, k, l2=0.0):
    n, _, d = X.shape
    r = naive_rnn_output(w, X, h, k) - np.reshape(y, (n, k))
    W_xh, W_hh, _, W_hy, _ = rnn_parts(np.asarray(w, dtype=np.float64), d, h, k)
    penalty = np.sum(W_xh**2) + np.sum(W_hh**2) + np.sum(W_hy**2)
    return float(np.mean(0.5 * np.sum(r**2, axis=1)) + 0.5 * l2 * penalty)


def rnn_problem(T, h, k, l2, seed=0, n=4, d=3, y1d=False):
    """(model, params, X, y, naive loss of params) on small random data."""
    r = np.random.default_rng(seed)
    model = ol.models.RNN(d, h, k, l2=l2)
    w = r.normal(size=model.n_params) * 0.6  # biases non-zero too
    X = r.normal(size=(n, T, d))
    y = r.normal(size=n) if y1d else r.normal(size=(n, k))
    return model, w, X, y, lambda v: naive_rnn_loss(v, X, y, h, k, l2)


RNN_CASES = [  # T, hidden, n_out, l2, y given 1-D
    (1, 1, 1, 0.0, True), (1, 3, 2, 0.3, False), (2, 2, 1, 0.3, False),
    (3, 4, 1, 0.0, True), (4, 3, 2, 0.0, False), (7, 5, 2, 0.3, False),
    (12, 2, 1, 0.1, True), (5, 6, 1, 0.3, False),
]


def rnn_id(c):
    return f"T={c[0]}-h={c[1]}-k={c[2]}-l2={c[3]}{'-y1d' if c[4] else ''}"


@pytest.mark.parametrize("T, h, k, l2, y1d", RNN_CASES, ids=[rnn_id(c) for c in RNN_CASES])
def test_rnn_loss_equals_the_naive_forward_pass(T, h, k, l2, y1d):
    for seed in range(3):
        model, w, X, y, naive = rnn_problem(T, h, k, l2, seed, y1d=y1d)
        loss, grad = model.loss_and_grad(w, X, y)
        assert isinstance(loss, float) and math.isfinite(loss)
        assert loss == pytest.approx(naive(w), rel=1e-12, abs=1e-14)
        assert model.loss(w, X, y) == loss
        assert grad.shape == w.shape and grad.dtype == np.float64
        if k == 1 and not y1d:  # y of shape (n, 1) and (n,) are the same problem
            assert model.loss(w, X, y[:, 0]) == loss


@pytest.mark.parametrize("T, h, k, l2, y1d", RNN_CASES, ids=[rnn_id(c) for c in RNN_CASES])
def test_rnn_gradient_equals_finite_differences_of_the_naive_loss(T, h, k, l2, y1d):
    model, w, X, y, naive = rnn_problem(T, h, k, l2, seed=T + h, y1d=y1d)
    _, grad = model.loss_and_grad(w, X, y)
    fd = fd_grad(naive, w)
    assert np.linalg.norm(fd) > 1e-2
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8 * np.abs(fd).max())
    # every block of the parameters gets a gradient (W_hh only matters when T > 1)
    d = X.shape[2]
    blocks = rnn_parts(grad, d, h, k)
    for name, block in zip(["W_xh", "W_hh", "b_h", "W_hy", "b_y"], blocks):
        if name == "W_hh" and T == 1 and l2 == 0:
            np.testing.assert_array_equal(block, 0.0)
        else:
            assert np.abs(block).max() > 1e-6, name


def test_rnn_l2_adds_the_penalty_on_the_three_weight_matrices_only():
    T, h, k, d = 4, 3, 2, 3
    m0, w, X, y, _ = rnn_problem(T, h, k, 0.0, seed=5)
    m1 = ol.models.RNN(d, h, k, l2=0.5)
    f0, g0 = m0.loss_and_grad(w, X, y)
    f1, g1 = m1.loss_and_grad(w, X, y)
    is_weight = np.ones(w.size, bool)
    is_weight[d * h + h * h: d * h + h * h + h] = False  # b_h
    is_weight[-k:] = False  # b_y
    assert f1 - f0 == pytest.approx(0.25 * np.sum(w[is_weight] ** 2), rel=1e-12)
    np.testing.assert_allclose(g1 - g0, 0.5 * w * is_weight, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("k", [1, 2])
def test_rnn_predict_equals_the_naive_forward_pass(k):
    r = np.random.default_rng(21)
    model = ol.models.RNN(2, 4, k)
    w = r.normal(size=model.n_params) * 0.7
    X = r.normal(size=(6, 5, 2))
    pred = model.predict(w, X)
    expected = naive_rnn_output(w, X, 4, k)
    assert pred.shape == ((6,) if k == 1 else (6, 2))
    np.testing.assert_allclose(pred.reshape(6, k), expected, rtol=1e-12, atol=1e-14)
    # the loss is the one of these predictions
    y = r.normal(size=(6, k))
    assert model.loss(w, X, y) == pytest.approx(0.5 * np.mean(np.sum((expected - y) ** 2, 1)),
                                                rel=1e-12)
    # a non-contiguous X reads like its copy
    Xs = np.asfortranarray(X)
    np.testing.assert_array_equal(model.predict(w, Xs), pred)


@pytest.mark.parametrize("h, scale", [(1, 1.0), (4, 0.5), (8, 1.2), (32, 1.0), (5, 3.0)])
def test_rnn_init_is_reproducible_with_w_hh_a_scaled_orthogonal_matrix(h, scale):
    d, k = 3, 2
    model = ol.models.RNN(d, h, k, init_scale=scale)
    w = model.init(seed=4)
    assert w.shape == (model.n_params,) == (d * h + h * h + h + h * k + k,)
    assert w.dtype == np.float64
    np.testing.assert_array_equal(w, model.init(seed=4))
    np.testing.assert_array_equal(model.init(), model.init(seed=0))
    assert not np.array_equal(w, model.init(seed=5))
    W_xh, W_hh, b_h, W_hy, b_y = rnn_parts(w, d, h, k)
    np.testing.assert_allclose(np.linalg.svd(W_hh, compute_uv=False), scale, rtol=1e-12)
    np.testing.assert_allclose(W_hh.T @ W_hh, scale**2 * np.eye(h), atol=1e-12 * scale**2)
    assert np.all(b_h == 0) and np.all(b_y == 0)
    assert np.abs(W_xh).max() <= 1 / math.sqrt(d)
    assert np.abs(W_hy).max() <= math.sqrt(6.0 / (h + k))
    # the same orthogonal matrix for every scale (the scale only multiplies it)
    other = ol.models.RNN(d, h, k, init_scale=1.0).init(seed=4)
    np.testing.assert_allclose(W_hh, scale * rnn_parts(other, d, h, k)[1], rtol=1e-15)
    np.testing.assert_array_equal(rnn_parts(other, d, h, k)[0], W_xh)


def test_rnn_init_ranges_fill_their_intervals():
    d, h, k = 2, 64, 1
    w = ol.models.RNN(d, h, k).init(seed=1)
    W_xh, _, _, W_hy, _ = rnn_parts(w, d, h, k)
    assert np.abs(W_xh).max() > 0.9 / math.sqrt(d) and W_xh.min() < 0 < W_xh.max()
    r = math.sqrt(6.0 / (h + k))
    assert np.abs(W_hy).max() > 0.9 * r and W_hy.min() < 0 < W_hy.max()


def test_rnn_predict_with_float32_params_is_float32_and_close_to_float64():
    model, w, X, _, _ = rnn_problem(5, 4, 2, 0.0, seed=3)
    p64 = model.predict(w, X)
    p32 = model.predict(w.astype(np.float32), X)
    assert p32.dtype == np.float32
    np.testing.assert_allclose(p32, p64, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_rnn_float32_params_give_float32_gradients_close_to_float64(l2):
    model, w, X, y, _ = rnn_problem(5, 4, 2, l2, seed=3)
    f64, g64 = model.loss_and_grad(w, X, y)
    f32, g32 = model.loss_and_grad(w.astype(np.float32), X, y)
    assert g32.dtype == np.float32
    assert f32 == pytest.approx(f64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-5 * np.abs(g64).max())
    data = ol.datasets.adding_problem(n=20, length=4, seed=0)
    rnn = ol.models.RNN(2, 3, 1)
    p = rnn.init().astype(np.float32)
    hist = ol.models.fit(rnn, ol.optim.GD(0.1), p, data, epochs=1, batch_size=8)
    assert p.dtype == np.float32 and not hist.diverged


_rnn = ol.models.RNN(3, 4, 2)
_rw = _rnn.init()
_rX = np.random.default_rng(1).normal(size=(5, 6, 3))
_ry = np.random.default_rng(2).normal(size=(5, 2))


@pytest.mark.parametrize("call, exc, words", [
    (lambda: _rnn.loss_and_grad(_rw, _rX[:, 0, :].copy(), _ry), ValueError, "X must be 3-D"),
    (lambda: _rnn.loss_and_grad(_rw, _rX[None], _ry), ValueError, "X must be 3-D"),
    (lambda: _rnn.predict(_rw, _rX[0]), ValueError, "X must be 3-D"),
    (lambda: _rnn.loss_and_grad(_rw, _rX[:, :, :2].copy(), _ry), ValueError,
     r"X must have shape \(n, T, 3\), got \(5, 6, 2\)"),
    (lambda: _rnn.predict(_rw, np.zeros((5, 6, 4))), ValueError, r"X must have shape \(n, T, 3\)"),
    (lambda: _rnn.loss_and_grad(_rw, _rX, _ry[:-1]), ValueError,
     r"y must have shape \(5, 2\) to match X and n_out=2, got \(4, 2\)"),
    (lambda: _rnn.loss_and_grad(_rw, _rX, np.zeros((5, 3))), ValueError, "y must have shape"),
    (lambda: _rnn.loss_and_grad(_rw, _rX, np.zeros((5, 2, 1))), ValueError, "y must have shape"),
    (lambda: _rnn.loss_and_grad(_rw, _rX, np.zeros((2, 5))), ValueError, "y must have shape"),
    (lambda: _rnn.loss_and_grad(_rw, _rX, np.full((5, 2), np.nan)), ValueError, "y must be finite"),
    (lambda: _rnn.loss_and_grad(_rw, np.full((5, 6, 3), np.inf), _ry), ValueError,
     "X must be finite"),
    (lambda: _rnn.loss_and_grad(_rw[:-1].copy(), _rX, _ry), ValueError,
     rf"params must have shape \({_rnn.n_params},\)"),
    (lambda: _rnn.loss_and_grad(np.arange(_rnn.n_params), _rX, _ry), TypeError, "params"),
    (lambda: ol.models.RNN(3, 4, 2, init_scale=0.0), ValueError,
     r"init_scale must be in \(0.0, inf\)"),
    (lambda: ol.models.RNN(3, 4, 2, init_scale=-1.0), ValueError, "init_scale"),
    (lambda: ol.models.RNN(3, 4, 2, init_scale=np.nan), ValueError, "init_scale must be finite"),
    (lambda: ol.models.RNN(3, 4, 2, init_scale="1"), TypeError, "init_scale"),
    (lambda: ol.models.RNN(0, 4), ValueError, "n_in"),
    (lambda: ol.models.RNN(3, 0), ValueError, "n_hidden"),
    (lambda: ol.models.RNN(3, 4, 0), ValueError, "n_out"),
    (lambda: ol.models.RNN(3, 4, l2=-1.0), ValueError, "l2"),
    (lambda: _rnn.init(seed=-1), ValueError, "seed"),
])
def test_rnn_bad_input_is_refused_with_a_message_naming_the_argument(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


def test_rnn_one_dimensional_y_with_two_outputs_is_refused_or_broadcast():
    try:
        loss = _rnn.loss(_rw, _rX, _ry[:, 0])
    except ValueError as exc:
        assert str(exc).startswith("y must"), str(exc)
        return
    expected = naive_rnn_loss(_rw, _rX, np.repeat(_ry[:, :1], 2, axis=1), 4, 2)
    assert loss == pytest.approx(expected, rel=1e-12)


# --- fit with clip, History.grad_norm ---------------------------------------------------------


class RecordingClip:
    """A fake clip: records a copy of every gradient it gets, optionally scales it in place,
    and returns a number that says which call it was."""

    def __init__(self, factor=1.0):
        self.factor = factor
        self.grads = []

    def __call__(self, g):
        assert isinstance(g, np.ndarray) and g.dtype == np.float64 and g.ndim == 1
        self.grads.append(g.copy())
        if self.factor != 1.0:
            g *= self.factor
        return 1000.0 + len(self.grads)


@pytest.fixture(scope="module")
def adding_small():
    return ol.datasets.adding_problem(n=40, length=6, seed=1)


def test_fit_calls_clip_once_per_step_and_records_what_it_returns(adding_small):
    model = ol.models.RNN(2, 4, 1, init_scale=1.1)
    w = model.init(seed=2)
    clip = RecordingClip()
    hist = ol.models.fit(model, ol.optim.Momentum(0.05, 0.9), w, adding_small, epochs=3,
                         batch_size=10, clip=clip)
    steps = 3 * math.ceil(32 / 10)
    assert hist.state.step == steps == len(clip.grads) == hist.grad_norm.size
    np.testing.assert_array_equal(hist.grad_norm, 1000.0 + np.arange(1, steps + 1))
    assert all(g.shape == (model.n_params,) for g in clip.grads)
    assert not hist.diverged
    # the same run without clip records the L2 norm of the very gradients clip saw
    w2 = model.init(seed=2)
    plain = ol.models.fit(model, ol.optim.Momentum(0.05, 0.9), w2, adding_small, epochs=3,
                          batch_size=10)
    np.testing.assert_array_equal(w2, w)  # an identity clip changes nothing
    np.testing.assert_allclose(plain.grad_norm, [np.linalg.norm(g) for g in clip.grads],
                               rtol=1e-13)
    assert np.all(plain.grad_norm > 0) and len(set(plain.grad_norm)) == steps


def test_fit_hands_clip_the_gradient_and_steps_with_what_clip_leaves(adding_small):
    """Full batch GD: the gradients clip sees are the model's at each iterate, and halving
    them in place is GD with half the rate."""
    model = ol.models.RNN(2, 3, 1, l2=0.01)
    lr, epochs = 0.2, 5
    X, y = adding_small.X_train, adding_small.y_train
    w = model.init(seed=0)
    clip = RecordingClip(factor=0.5)
    ol.models.fit(model, ol.optim.GD(lr), w, adding_small, epochs=epochs, clip=clip)
    manual = model.init(seed=0)
    for k in range(epochs):
        _, g = model.loss_and_grad(manual, X, y)
        np.testing.assert_allclose(clip.grads[k], g, rtol=1e-9, atol=1e-13)
        manual = manual - lr * 0.5 * g
    np.testing.assert_allclose(w, manual, rtol=1e-9, atol=1e-13)
    # a clip that zeroes the gradient leaves the parameters where they started
    w0 = model.init(seed=0)
    zero = RecordingClip(factor=0.0)
    ol.models.fit(model, ol.optim.GD(lr), w0, adding_small, epochs=2, clip=zero)
    np.testing.assert_array_equal(w0, model.init(seed=0))
    assert len(zero.grads) == 2


def test_fit_with_clip_grad_norm_records_the_norm_before_clipping(adding_small):
    model = ol.models.RNN(2, 4, 1, init_scale=1.5)
    seen = []

    def clip(g):
        seen.append(np.linalg.norm(g))
        out = ol.clipping.clip_grad_norm(g, 0.05)
        assert np.linalg.norm(g) <= 0.05
        return out

    w = model.init(seed=1)
    hist = ol.models.fit(model, ol.optim.GD(0.1), w, adding_small, epochs=2, batch_size=8,
                         clip=clip)
    np.testing.assert_allclose(hist.grad_norm, seen, rtol=1e-13)
    assert np.max(hist.grad_norm) > 0.05  # clipping really happened


def test_fit_without_clip_records_the_l2_norm_of_each_full_batch_gradient(adding_small):
    model = ol.models.RNN(2, 3, 1)
    w = model.init(seed=3)
    manual = w.copy()
    hist = ol.models.fit(model, ol.optim.GD(0.3), w, adding_small, epochs=4)
    for k in range(4):
        _, g = model.loss_and_grad(manual, adding_small.X_train, adding_small.y_train)
        assert hist.grad_norm[k] == pytest.approx(np.linalg.norm(g), rel=1e-9)
        manual = manual - 0.3 * g


def test_fit_without_the_full_train_loss_trains_the_same_run_and_leaves_it_nan(digits):
    model = ol.models.MLP(64, 8, 10)
    runs = [ol.models.fit(model, ol.optim.Momentum(0.1, 0.9), model.init(3), digits,
                          epochs=2, batch_size=64, seed=1, full_train_loss=full)
            for full in (True, False)]
    assert np.isfinite(runs[0].train_loss).all() and np.isnan(runs[1].train_loss).all()
    for field in ("step_loss", "grad_norm", "test_loss", "test_accuracy"):
        np.testing.assert_array_equal(getattr(runs[0], field), getattr(runs[1], field))
    with pytest.raises(TypeError, match="full_train_loss"):
        ol.models.fit(model, ol.optim.GD(0.1), model.init(), digits, full_train_loss="no")


@pytest.mark.parametrize("bad", [1.0, "clip", [lambda g: 0.0], 0])
def test_fit_refuses_a_clip_that_is_not_callable_and_leaves_params(bad, adding_small):
    model = ol.models.RNN(2, 3, 1)
    w = model.init()
    with pytest.raises(TypeError, match="clip must be None or a function"):
        ol.models.fit(model, ol.optim.GD(0.1), w, adding_small, clip=bad)
    np.testing.assert_array_equal(w, model.init())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("l2", [0.0, 0.03])
def test_loss_alone_is_bitwise_the_loss_of_loss_and_grad(l2, dtype):
    """``loss`` skips the backward pass (the kernels get an empty gradient) and returns
    the same number."""
    r = np.random.default_rng(4)
    cases = [(ol.models.LinearRegression(3, l2=l2), r.normal(size=(20, 3)),
              r.normal(size=20)),
             (ol.models.LogisticRegression(3, l2=l2), r.normal(size=(20, 3)),
              r.integers(0, 2, 20)),
             (ol.models.MLP(4, 5, 3, l2=l2), r.normal(size=(20, 4)), r.integers(0, 3, 20)),
             (ol.models.RNN(2, 4, 1, l2=l2), r.normal(size=(20, 6, 2)), r.normal(size=20))]
    for model, X, y in cases:
        w = (model.init(1) + 0.1 * r.normal(size=model.n_params)).astype(dtype)
        loss, grad = model.loss_and_grad(w, X.astype(dtype), y)
        assert model.loss(w, X.astype(dtype), y) == loss, model
        assert np.any(grad != 0)


@pytest.mark.parametrize("make", [
    lambda: ol.optim.Adam(0.01),
    lambda: ol.optim.Momentum(ol.schedules.warmup_cosine(0.1, 10, 60), nesterov=True),
    lambda: ol.optim.GD(lambda k: 0.2 / (1.0 + 0.05 * k)),        # a user's callable
    lambda: ol.optim.NesterovLookahead(0.05, 0.8),
    lambda: ol.chain.chain(ol.chain.clip_by_global_norm(1.0), ol.chain.scale_by_adam(),
                           ol.chain.add_decayed_weights(0.1),
                           ol.chain.scale_by_learning_rate(
                               ol.schedules.warmup_cosine(0.01, 5, 60))),
], ids=["adam-float", "momentum-schedule", "gd-callable", "lookahead", "chain"])
def test_fit_takes_exactly_the_steps_of_opt_step(make, digits):
    """fit checks the arrays once and then applies the update alone at every step; the
    result is bit for bit a loop over opt.step (for a chain: over its update and
    apply_updates) on the same batches."""
    model, batch, epochs = ol.models.MLP(64, 8, 10), 128, 4
    w = model.init(3)
    opt = make()
    hist = ol.models.fit(model, opt, w, digits, epochs=epochs, batch_size=batch, seed=5)
    manual, state = model.init(3), opt.init(model.init(3))
    rng, n = np.random.default_rng(5), digits.X_train.shape[0]
    for _ in range(epochs):
        order = rng.permutation(n)
        Xe, ye = digits.X_train[order], digits.y_train[order]
        for start in range(0, n, batch):
            _, g = model.loss_and_grad(opt.grad_point(manual, state), Xe[start:start + batch],
                                       ye[start:start + batch])
            if isinstance(opt, ol.chain.Chain):
                u, state = opt.update(g, state, manual)
                ol.chain.apply_updates(manual, u)
            else:
                state = opt.step(manual, g, state)
    np.testing.assert_array_equal(w, manual)
    assert hist.state.step == state.step == epochs * -(-n // batch)
    if isinstance(opt, ol.chain.Chain):
        assert hist.state.links[0] == state.links[0]  # the last norm before clipping
    # the epoch statistics are what the public methods give for the final weights
    assert hist.train_loss[-1] == model.loss(w, digits.X_train, digits.y_train)
    assert hist.test_loss[-1] == model.loss(w, digits.X_test, digits.y_test)
    assert hist.test_accuracy[-1] == model.accuracy(w, digits.X_test, digits.y_test)


# --- the hidden units' tanh (optlib._kernels.models.tanh) -----------------------------

def exact_tanh(x):
    """tanh of the float x to 60 digits with Python's decimal module: (e^2x - 1)/(e^2x + 1),
    or its Taylor series below 1e-5, where e^2x - 1 would cancel."""
    import decimal
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        d = decimal.Decimal(float(x))
        if abs(d) < decimal.Decimal("1e-5"):
            return d - d**3 / 3 + 2 * d**5 / 15 - 17 * d**7 / 315
        e = (2 * d).exp()
        return (e - 1) / (e + 1)


def ulp_of(exact):
    """The spacing of doubles in the binade of the exact value (not of the computed one,
    which may have rounded up to the next power of two)."""
    m, e = math.frexp(float(exact))
    if m == 0.5 and abs(type(exact)(float(exact))) > abs(exact):  # rounded up to 2^k
        e -= 1
    return math.ldexp(1.0, max(e, -1021) - 53)


def tanh_ulp_errors(x):
    from optlib._kernels import models as k
    y = x.copy()
    k.tanh_inplace(y)
    errors = []
    for xi, yi in zip(x, y):
        t = exact_tanh(xi)
        errors.append(float(abs(type(t)(float(yi)) - t)) / ulp_of(t))
    return np.array(errors)


def test_tanh_is_within_one_and_a_half_ulp_of_the_exact_value():
    r = np.random.default_rng(0)
    x = np.concatenate([r.normal(scale=s, size=500) for s in (1e-9, 1e-3, 0.3, 1.0, 4.0, 12.0)]
                       + [np.linspace(0.62, 0.63, 300), np.linspace(19.0, 21.0, 50),
                          [5e-324, 2.2e-308, 1e-300, 18.4]])
    x = np.concatenate([x, -x])
    err = tanh_ulp_errors(x)
    assert err.max() <= 1.5, (x[err.argmax()], err.max())
    assert np.median(err) < 0.5


@pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63,
                    reason="the reference needs an 80-bit long double (x86)")
def test_tanh_dense_sweep_of_the_exp_branch_against_long_double():
    """2e5 random points on [0.625, 3], where the error is largest, and 2000 doubles
    around each point where the exponent n of e^u = 2^n e^r changes (u = 2|x| crossing
    (k + 1/2) ln 2). The reference, long double tanh, is good to ~1/1000 ulp here."""
    from optlib._kernels import models as k
    r = np.random.default_rng(3)
    edges = [(j + 0.5) * math.log(2.0) / 2 for j in range(1, 12)]
    x = np.concatenate([r.uniform(0.625, 3.0, 200_000)]
                       + [e + np.arange(-1000, 1000) * np.spacing(e) for e in edges])
    y = x.copy()
    k.tanh_inplace(y)
    exact = np.tanh(x.astype(np.longdouble))
    _, expo = np.frexp(exact)
    err = np.abs(y.astype(np.longdouble) - exact) / np.ldexp(1.0, expo - 53)
    assert err.max() <= 1.5, (x[err.argmax()], float(err.max()))


def test_tanh_special_values_and_symmetry():
    from optlib._kernels import models as k
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e300, -1e300, 710.0, 20.0, 5e-324])
    y = x.copy()
    k.tanh_inplace(y)
    np.testing.assert_array_equal(y[:4], [0.0, -0.0, 1.0, -1.0])
    assert np.signbit(y[1]) and not np.signbit(y[0])
    assert np.isnan(y[4])
    np.testing.assert_array_equal(y[5:], [1.0, -1.0, 1.0, 1.0, 5e-324])
    r = np.random.default_rng(1).normal(scale=3.0, size=1000)
    pos, neg = r.copy(), -r
    k.tanh_inplace(pos)
    k.tanh_inplace(neg)
    np.testing.assert_array_equal(neg, -pos)


def test_tanh_is_monotone_across_its_two_branches():
    from optlib._kernels import models as k
    x = np.nextafter(0.625, 0.0) + np.arange(-2000, 2000) * np.spacing(0.625)
    y = x.copy()
    k.tanh_inplace(y)
    assert np.all(np.diff(y) >= 0)
    x = np.linspace(-25.0, 25.0, 100001)
    y = x.copy()
    k.tanh_inplace(y)
    assert np.all(np.diff(y) >= 0) and np.all(np.abs(y) <= 1.0)


def test_tanh_of_float32_entries_is_the_float64_tanh_rounded_once():
    from optlib._kernels import models as k
    x = np.random.default_rng(2).normal(scale=2.0, size=(50, 40)).astype(np.float32)
    y32, y64 = x.copy(), x.astype(np.float64)
    k.tanh_inplace(y32)
    k.tanh_inplace(y64)
    assert y32.dtype == np.float32
    np.testing.assert_array_equal(y32, y64.astype(np.float32))
    # so within half a float32 ulp of tanh (plus the float64 result's 1.5 float64 ulp)
    err = np.abs(y32 - np.tanh(x.astype(np.float64))) / np.spacing(np.abs(y32))
    assert err.max() <= 0.5 + 1e-6


# --- the softmax's exp (optlib._kernels.models.exp) -----------------------------------

@pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63,
                    reason="the reference needs an 80-bit long double (x86)")
def test_exp_is_within_two_ulp_of_the_exact_value():
    """Random points over the whole finite range, including the subnormal results below
    e^-708, and 2000 doubles around each point where n = round(x / ln 2) changes. The
    reference, long double exp, is good to ~1/1000 ulp. The worst case measured is
    1.67 ulp; most results are the correctly rounded ones."""
    from optlib._kernels import models as k
    r = np.random.default_rng(4)
    edges = [(j + 0.5) * math.log(2.0) for j in (-1070, -1030, -3, -1, 0, 2, 1020)]
    x = np.concatenate([r.uniform(-745.0, 709.7, 200_000), r.normal(scale=3.0, size=200_000),
                        r.uniform(-745.0, -700.0, 20_000)]
                       + [e + np.arange(-1000, 1000) * np.spacing(e) for e in edges])
    y = x.copy()
    k.exp_inplace(y)
    exact = np.exp(x.astype(np.longdouble))
    _, expo = np.frexp(exact)
    err = np.abs(y.astype(np.longdouble) - exact) / np.ldexp(np.longdouble(1.0),
                                                            np.maximum(expo, -1021) - 53)
    assert err.max() <= 2.0, (x[err.argmax()], float(err.max()))
    assert np.median(err) < 0.5
    assert np.mean(y == exact.astype(np.float64)) > 0.8  # mostly the correctly rounded one


def test_exp_special_values_and_range_ends():
    from optlib._kernels import models as k
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 709.78, 709.79, 710.0, 1e300,
                  -708.4, -720.5, -745.1, -745.2, -746.0, -1e300, 1e-300, -1e-300])
    y = x.copy()
    k.exp_inplace(y)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(y, np.exp(x))  # NaN at NaN; inf, 0, subnormals
    assert np.isinf(y[6]) and y[5] < np.inf and y[11] == 5e-324 and y[12] == 0.0


def test_exp_of_float32_entries_is_the_float64_exp_rounded_once():
    from optlib._kernels import models as k
    x = np.random.default_rng(2).normal(scale=5.0, size=(50, 40)).astype(np.float32)
    y32, y64 = x.copy(), x.astype(np.float64)
    k.exp_inplace(y32)
    k.exp_inplace(y64)
    assert y32.dtype == np.float32
    np.testing.assert_array_equal(y32, y64.astype(np.float32))


def test_tanh_is_exp_based_above_its_first_branch():
    """tanh's second branch is 1 - 2 / (exp(2|x|) + 1) with the same exp: the same bits."""
    from optlib._kernels import models as k
    x = np.random.default_rng(6).uniform(0.625, 20.0, 10_000)
    e, t = 2.0 * x, x.copy()
    k.exp_inplace(e)
    k.tanh_inplace(t)
    np.testing.assert_array_equal(t, 1.0 - 2.0 / (e + 1.0))


@pytest.mark.parametrize("kernel", ["tanh_inplace", "exp_inplace"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tanh_and_exp_loops_are_vectorised(dtype, kernel):
    """Structure, not speed: the compiled loop works on vectors of floats and calls no
    math function (without a vector math library, LLVM turns a call of tanh or exp,
    even a vector intrinsic, into one library call per entry). Python's error model
    would leave no vector at all. A fresh, uncached compile of the same source with the
    same options: cached code cannot be inspected."""
    import re

    import numba
    from optlib._kernels import models as k
    fresh = numba.njit(error_model="numpy")(getattr(k, kernel).py_func)
    fresh(np.zeros((2, 3), dtype=dtype))
    ir = fresh.inspect_llvm(fresh.signatures[0])
    assert " x double>" in ir
    math_calls = re.findall(r"@(?:llvm\.)?(?:tanh|exp|expm1|exp2|log|log1p|pow)\b", ir)
    assert not math_calls, sorted(set(math_calls))
