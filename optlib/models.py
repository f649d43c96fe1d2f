"""Small models with hand-derived gradients, and a minibatch training loop.

A model is stateless: its parameters are one flat float array that any optimizer in
:mod:`optlib.optim` updates in place.

>>> import optlib as ol
>>> data = ol.datasets.load_digits()
>>> model = ol.models.MLP(n_in=64, n_hidden=32, n_out=10)
>>> w = model.init(seed=0)
>>> hist = ol.models.fit(model, ol.optim.GD(lr=0.1), w, data, epochs=5, batch_size=32)
>>> bool(hist.test_accuracy[-1] > 0.9)
True
"""

import math
from typing import NamedTuple

import numpy as np

from . import _validate as v
from ._kernels import clipping as _clip
from ._kernels import models as _k
from ._kernels import trajectory as _traj
from .chain import Chain
from .optim import Optimizer
from .schedules import Schedule


class Model:
    """Base class: ``n_params``, ``init``, ``loss_and_grad``, ``loss``, ``predict``.

    A subclass computes on arrays already checked by ``_check``: ``_kernel`` (the loss,
    and the gradient into ``grad`` unless it is empty) and ``_predict``."""

    classifier = True
    x_ndim = 2  #: rows of features; the RNN takes (sequences, steps, features)

    def __init__(self, l2=0.0):
        self.l2 = v.real("l2", l2, low=0.0)

    def _check(self, params, X, y=None):
        params = v.float_array("params", params, shape=(self.n_params,), finite=False)
        X = v.float_array("X", X, ndim=self.x_ndim, copy=True)
        if X.shape[-1] != self.n_in:
            raise ValueError(self._x_shape_error(X))
        X = X.astype(params.dtype, copy=False)
        if y is None:
            return params, X
        return params, X, self._check_y(y, X, params.dtype)

    def _x_shape_error(self, X):
        return f"X must have {self.n_in} columns for {self!r}, got {X.shape[1]}"

    def _check_y(self, y, X, dtype):
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}")
        if self.classifier:
            if y.dtype.kind not in "iu":
                raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
            if y.size and (y.min() < 0 or y.max() >= self.n_out):
                raise ValueError(f"y must hold labels in [0, {self.n_out - 1}], "
                                 f"got values from {y.min()} to {y.max()}")
            y = np.ascontiguousarray(y, dtype=np.int64)
        else:
            y = v.float_array("y", y).astype(dtype)
        return y

    def loss_and_grad(self, params, X, y):
        """(mean loss over the rows of X, its gradient as a new array like ``params``)."""
        params, X, y = self._check(params, X, y)
        grad = np.empty_like(params)
        return float(self._kernel(params, X, y, grad)), grad

    def loss(self, params, X, y):
        """The mean loss over the rows of X (the forward pass only)."""
        params, X, y = self._check(params, X, y)
        return float(self._kernel(params, X, y, np.empty(0, params.dtype)))

    def accuracy(self, params, X, y):
        """Fraction of rows whose predicted class equals y (classifiers only)."""
        if not self.classifier:
            raise TypeError(f"accuracy needs a classifier; {type(self).__name__} predicts "
                            "real numbers: use loss")
        params, X, y = self._check(params, X, y)
        return float(np.mean(self._predict(params, X) == y))

    def predict(self, params, X):
        """The prediction for each row of X: a class label, or the regression output."""
        return self._predict(*self._check(params, X))


class _LinearModel(Model):
    """Shared by the two linear models: parameters w (n_in) then the bias b, zeros at init."""

    def __init__(self, n_in, l2=0.0):
        super().__init__(l2)
        self.n_in = v.integer("n_in", n_in, low=1)
        self.n_params = self.n_in + 1

    def __repr__(self):
        return f"{type(self).__name__}(n_in={self.n_in}, l2={self.l2})"

    def init(self, seed=0):
        """All zeros: the loss is convex, so the start does not change the optimum."""
        v.integer("seed", seed, low=0)
        return np.zeros(self.n_params)


class LinearRegression(_LinearModel):
    """Least squares: loss = mean((x.w + b - y)^2) / 2 (+ l2/2 ||w||^2). Params: w (d), b."""

    classifier = False

    def _kernel(self, params, X, y, grad):
        return _k.linear_regression(params, X, y, self.l2, grad)

    def _predict(self, params, X):
        return X @ params[:-1] + params[-1]


class LogisticRegression(_LinearModel):
    """Binary logistic regression: mean cross-entropy of sigmoid(x.w + b). Params: w (d), b."""

    n_out = 2

    def _kernel(self, params, X, y, grad):
        return _k.logistic_regression(params, X, y, self.l2, grad)

    def predict_proba(self, params, X):
        """P(y = 1 | x) for each row."""
        return self._proba(*self._check(params, X))

    def _proba(self, params, X):
        return 1.0 / (1.0 + np.exp(-(X @ params[:-1] + params[-1])))

    def _predict(self, params, X):
        return (self._proba(params, X) >= 0.5).astype(np.int64)


class MLP(Model):
    """One hidden layer: softmax(tanh(x W1 + b1) W2 + b2), mean cross-entropy loss.

    Params, flattened in this order: W1 (n_in, n_hidden), b1, W2 (n_hidden, n_out), b2.
    """

    def __init__(self, n_in, n_hidden, n_out, l2=0.0):
        super().__init__(l2)
        self.n_in = v.integer("n_in", n_in, low=1)
        self.n_hidden = v.integer("n_hidden", n_hidden, low=1)
        self.n_out = v.integer("n_out", n_out, low=2)
        self.n_params = (self.n_in + 1) * self.n_hidden + (self.n_hidden + 1) * self.n_out

    def __repr__(self):
        return f"MLP(n_in={self.n_in}, n_hidden={self.n_hidden}, n_out={self.n_out}, l2={self.l2})"

    def init(self, seed=0):
        """Glorot-uniform weights, zero biases, reproducible by ``seed``."""
        rng = np.random.default_rng(v.integer("seed", seed, low=0))
        d, h, k = self.n_in, self.n_hidden, self.n_out
        r1, r2 = np.sqrt(6.0 / (d + h)), np.sqrt(6.0 / (h + k))
        return np.concatenate([rng.uniform(-r1, r1, d * h), np.zeros(h),
                               rng.uniform(-r2, r2, h * k), np.zeros(k)])

    def _kernel(self, params, X, y, grad):
        return _k.mlp(params, X, y, self.n_hidden, self.n_out, self.l2, grad)

    def _predict(self, params, X):
        return np.argmax(_k.mlp_logits(params, X, self.n_hidden, self.n_out), axis=1)


class RNN(Model):
    """A vanilla tanh recurrent network for sequence regression.

    ``h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h)`` from ``h_0 = 0``; the output
    ``h_T W_hy + b_y`` is read from the last state; the loss is the mean over sequences
    of ``||out - y||^2 / 2``.
    X has shape (n, T, n_in), y shape (n,) or (n, n_out). ``init_scale`` is the spectral
    radius of the initial W_hh (a random orthogonal matrix times it): above 1 the
    backpropagated gradients can grow exponentially with T (Pascanu et al. 2013).
    """

    classifier = False

    def __init__(self, n_in, n_hidden, n_out=1, init_scale=1.0, l2=0.0):
        super().__init__(l2)
        self.n_in = v.integer("n_in", n_in, low=1)
        self.n_hidden = v.integer("n_hidden", n_hidden, low=1)
        self.n_out = v.integer("n_out", n_out, low=1)
        self.init_scale = v.positive("init_scale", init_scale)
        h = self.n_hidden
        self.n_params = self.n_in * h + h * h + h + h * self.n_out + self.n_out

    def __repr__(self):
        return (f"RNN(n_in={self.n_in}, n_hidden={self.n_hidden}, n_out={self.n_out}, "
                f"init_scale={self.init_scale}, l2={self.l2})")

    def init(self, seed=0):
        """W_xh ~ U(+-sqrt(1/n_in)), W_hh = init_scale * random orthogonal, W_hy Glorot."""
        rng = np.random.default_rng(v.integer("seed", seed, low=0))
        d, h, k = self.n_in, self.n_hidden, self.n_out
        Q, R = np.linalg.qr(rng.normal(size=(h, h)))
        Q *= np.sign(np.diag(R))
        r_out = np.sqrt(6.0 / (h + k))
        return np.concatenate([rng.uniform(-1, 1, d * h) / np.sqrt(d),
                               (self.init_scale * Q).ravel(), np.zeros(h),
                               rng.uniform(-r_out, r_out, h * k), np.zeros(k)])

    x_ndim = 3

    def _x_shape_error(self, X):
        return f"X must have shape (n, T, {self.n_in}), got {X.shape}"

    def _check_y(self, y, X, dtype):
        y = v.float_array("y", y, copy=True).astype(dtype)
        shapes = ((X.shape[0], self.n_out),) + (((X.shape[0],),) if self.n_out == 1 else ())
        if y.shape not in shapes:
            raise ValueError(f"y must have shape {' or '.join(map(str, shapes))} to match X "
                             f"and n_out={self.n_out}, got {y.shape}")
        return y

    def _kernel(self, params, X, y, grad):
        y2 = np.ascontiguousarray(y.reshape(len(y), -1), dtype=params.dtype)
        return _k.rnn(params, np.ascontiguousarray(X), y2, self.n_hidden, self.l2, grad)

    def _predict(self, params, X):
        out = _k.rnn_output(params, X, self.n_hidden, self.n_out)
        return out[:, 0] if self.n_out == 1 else out


class History(NamedTuple):
    """What :func:`fit` records. Epoch arrays have epochs + 1 entries (before training too)."""

    step_loss: np.ndarray  #: minibatch loss at every step
    lr: np.ndarray  #: learning rate used at every step
    train_loss: np.ndarray  #: full training loss after each epoch (NaN if not asked for)
    test_loss: np.ndarray
    test_accuracy: np.ndarray  #: NaN for regression
    diverged: bool
    state: tuple  #: optimizer state at the end
    grad_norm: np.ndarray  #: the gradient's norm at every step, before any clipping


_CLIP_RETURNS = ("clip must return the gradient's norm before clipping (a number), as "
                "clipping.clip_grad_norm does")


def _check_data(data):
    """``data`` must hold a train/test split like :class:`optlib.datasets.Dataset`."""
    fields = ("X_train", "y_train", "X_test", "y_test")
    if not all(hasattr(data, f) for f in fields):
        raise TypeError("data must be an optlib.datasets.Dataset (anything with X_train, "
                        f"y_train, X_test and y_test), got {type(data).__name__}")


def fit(model, opt, params, data, epochs=10, batch_size=None, seed=0, clip=None,
        full_train_loss=True):
    """Train ``params`` (updated in place) with minibatches; returns a :class:`History`.

    ``opt`` is an :mod:`optlib.optim` optimizer or an :mod:`optlib.chain` chain (for a
    chain, ``History.lr`` holds the rates of its ``scale_by_learning_rate`` link).

    Each epoch visits the training rows in a fresh random order (reproducible by
    ``seed``) in batches of ``batch_size`` (``None``: the whole set, i.e. full-batch
    gradient descent); the last, smaller batch of an epoch is kept. ``clip``, if given,
    is called on every gradient before the optimizer sees it, clips it in place and
    returns its norm before clipping, e.g.
    ``clip=lambda g: ol.clipping.clip_grad_norm(g, 1.0)``. Training stops, marking
    ``diverged``, when a loss or a parameter becomes inf/NaN. ``full_train_loss=False``
    skips the loss over the whole training set after each epoch (``train_loss`` is then
    NaN; ``step_loss`` still holds every minibatch's): a forward pass over every
    training row per epoch, which the clipping widget does not show (it saved about
    30 % of that widget's time).
    """
    if not isinstance(model, Model):
        raise TypeError(f"model must be an optlib.models model, got {type(model).__name__}")
    if not isinstance(opt, (Optimizer, Chain)):
        raise TypeError("opt must be an optlib.optim optimizer or an optlib.chain chain, "
                        f"got {type(opt).__name__}")
    params = v.updatable("params", params, shape=(model.n_params,))
    _check_data(data)
    _, X, y = model._check(params, data.X_train, data.y_train)
    _, X_test, y_test = model._check(params, data.X_test, data.y_test)
    epochs = v.integer("epochs", epochs, low=1)
    if clip is not None and not callable(clip):
        raise TypeError(f"clip must be None or a function of the gradient, got {clip!r}")
    full_train_loss = v.boolean("full_train_loss", full_train_loss)
    n = X.shape[0]
    batch = n if batch_size is None else v.integer("batch_size", batch_size, low=1, high=n)
    rng = np.random.default_rng(v.integer("seed", seed, low=0))
    per_epoch = -(-n // batch)
    lrs = opt.lr_values(0, epochs * per_epoch)
    no_grad = np.empty(0, params.dtype)

    def evaluate():  # on the arrays checked above, once
        loss_tr = model._kernel(params, X, y, no_grad) if full_train_loss else np.nan
        loss_te = model._kernel(params, X_test, y_test, no_grad)
        acc = np.mean(model._predict(params, X_test) == y_test) if model.classifier else np.nan
        return loss_tr, loss_te, acc

    step_loss = np.full(epochs * per_epoch, np.nan)
    grad_norm = np.full(epochs * per_epoch, np.nan)
    epoch_stats = np.full((epochs + 1, 3), np.nan)
    epoch_stats[0] = evaluate()
    state = opt.init(params)
    grad = np.empty_like(params)
    # The arrays of an optimizer or a chain are checked and flattened once, here, not at
    # every step (the step's checks cost as much as a small model's gradient); a
    # subclass with its own step keeps it. An optimizer's float rate or optlib schedule
    # (a jitted formula: the same numbers one step at a time or all at once) is read
    # from lrs; any other callable is asked at each step, as opt.step would ask it.
    fast = type(opt).step in (Optimizer.step, Chain.step)
    from_lrs = fast and isinstance(opt, Optimizer) and (not callable(opt.lr)
                                                        or isinstance(opt.lr, Schedule))
    update = opt._updater(params, grad, state, lrs if from_lrs else None) if fast else None
    diverged = False
    k = 0  # steps taken
    for epoch in range(epochs):
        order = rng.permutation(n)
        Xe, ye = X[order], y[order]
        for start in range(0, n, batch):
            step_loss[k] = model._kernel(opt.grad_point(params, state),
                                         Xe[start:start + batch], ye[start:start + batch],
                                         grad)
            grad_norm[k] = (v.returned_number(_CLIP_RETURNS, clip(grad)) if clip is not None
                            else _clip.norm(grad, 2.0))
            state = update(k) if fast else opt.step(params, grad, state)
            k += 1
            if not (math.isfinite(step_loss[k - 1]) and _traj.all_finite(params)):
                diverged = True
                break
        if diverged:
            break
        epoch_stats[epoch + 1] = evaluate()
    return History(step_loss, lrs, epoch_stats[:, 0], epoch_stats[:, 1], epoch_stats[:, 2],
                   diverged, state, grad_norm)
