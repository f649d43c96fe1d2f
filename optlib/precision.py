"""Mixed precision, simulated in NumPy: float16 compute, float32 master weights, and
dynamic loss scaling with the rules of ``torch.amp.GradScaler``.

What a float16 training step does here, as under ``torch.autocast`` on a GPU:

1. the float32 master weights are cast to float16; the forward pass runs in float16
   (matrix products with float32 accumulation, as tensor cores do, rounded to float16);
2. softmax and the cross-entropy run in float32 (autocast keeps them there);
3. the loss is multiplied by the loss scale ``S``; backpropagation runs in float16, so
   the gradient of the logits is rounded to float16 (entries of magnitude up to 2^-25,
   about 3e-8, become 0, from 65520 up inf) and so is everything computed from it;
4. the weight gradients land in float32, are *unscaled* (multiplied by ``1/S``) and,
   if all finite, the optimizer updates the float32 master weights. Otherwise the step
   is skipped and the scale is reduced.

:class:`DynamicLossScaler` follows ``torch.amp.GradScaler`` (defaults: ``init_scale
2**16``, ``growth_factor 2``, ``backoff_factor 0.5``, ``growth_interval 2000``). The
scale is a float32 number; unscaling multiplies by ``1/S`` computed in float64 and
rounded to float32; after a step with an inf/NaN gradient the scale is multiplied by
``backoff_factor`` and the count of clean steps restarts at 0; after
``growth_interval`` consecutive clean steps it is multiplied by ``growth_factor``
(unless that would be infinite) and the count restarts.
"""

import math
from typing import NamedTuple

import numpy as np

from . import _validate as v
from .chain import Chain
from .models import MLP, _check_data
from .optim import Optimizer

F16, F32 = np.float16, np.float32


class DynamicLossScaler:
    """``torch.amp.GradScaler``'s dynamic loss scale, on NumPy arrays.

    Use: multiply the loss (in practice its gradient) by ``scale``; then
    ``state, skipped = scaler.step(opt, params, grads, state)`` unscales ``grads`` in
    place, steps ``opt`` unless a gradient is inf/NaN, and updates the scale. The parts
    are also available alone: :meth:`unscale` and :meth:`update`.
    """

    def __init__(self, init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000):
        self.scale = F32(v.real("init_scale", init_scale, low=0.0, low_inclusive=False,
                                high=float(np.finfo(F32).max)))  # a float32, as torch's
        self.growth_factor = v.real("growth_factor", growth_factor, low=1.0,
                                    low_inclusive=False)
        self.backoff_factor = v.real("backoff_factor", backoff_factor, low=0.0, high=1.0,
                                     low_inclusive=False, high_inclusive=False)
        self.growth_interval = v.integer("growth_interval", growth_interval, low=1)
        self.growth_tracker = 0  #: consecutive steps without inf/NaN since the last change

    def __repr__(self):
        return (f"DynamicLossScaler(scale={float(self.scale)!r}, growth_tracker="
                f"{self.growth_tracker}, growth_factor={self.growth_factor}, backoff_factor="
                f"{self.backoff_factor}, growth_interval={self.growth_interval})")

    def unscale(self, grads):
        """Multiply ``grads`` in place by ``1/scale`` (fp64 reciprocal rounded to fp32);
        returns True if any entry of the *scaled* ``grads`` is inf or NaN (torch
        checks before the multiply: a finite entry that overflows only when unscaled
        by a scale below 1 is not caught)."""
        grads = v.updatable("grads", grads, finite=False)
        found_inf = not bool(np.all(np.isfinite(grads)))
        with np.errstate(over="ignore"):
            grads *= F32(1.0 / float(self.scale)).astype(grads.dtype)
        return found_inf

    def update(self, found_inf):
        """Back off after an inf/NaN step, grow after ``growth_interval`` clean ones."""
        if not isinstance(found_inf, (bool, np.bool_)):
            raise TypeError(f"found_inf must be a bool, got {found_inf!r}")
        if found_inf:
            self.scale = F32(float(self.scale) * self.backoff_factor)  # rounded once, as torch
            self.growth_tracker = 0
            return
        self.growth_tracker += 1
        if self.growth_tracker == self.growth_interval:
            with np.errstate(over="ignore"):
                grown = F32(float(self.scale) * self.growth_factor)
            if math.isfinite(grown):
                self.scale = grown
            self.growth_tracker = 0

    def step(self, opt, params, grads, state):
        """Unscale ``grads``; step ``opt`` unless they hold inf/NaN; update the scale.
        Returns ``(state, skipped)``. The step runs on an unscaled copy; ``grads`` takes
        the unscaled values only once the step has gone through or been skipped, so a
        step that ``opt`` refuses (a bad array, a rate refused at this step) changes
        nothing."""
        if not isinstance(opt, (Optimizer, Chain)):
            raise TypeError("opt must be an optlib.optim optimizer or an optlib.chain chain, "
                            f"got {type(opt).__name__}")
        opt._check_step(params, v.updatable("grads", grads, finite=False), state)
        unscaled = grads.copy()
        found_inf = self.unscale(unscaled)
        if not found_inf:
            state = opt.step(params, unscaled, state)
        grads[...] = unscaled
        self.update(found_inf)
        return state, found_inf


def _mm(a, b):
    """float16 matrix product: exact products, float32 sums, rounded to float16."""
    return (a.astype(F32) @ b.astype(F32)).astype(F16)


def fp16_loss_and_grad(model, params, X, y, loss_scale=1.0):
    """The loss and the gradient of ``loss_scale * loss`` of an :class:`optlib.models.MLP`,
    computed as a float16 step computes them (see the module docstring).

    Returns ``(loss, grads)``: the unscaled float32 loss as a float, and the scaled
    gradient as a new float32 array like ``params`` (it may hold zeros where float16
    underflowed and inf where it overflowed).
    """
    if not isinstance(model, MLP):
        raise TypeError(f"model must be an optlib.models.MLP, got {type(model).__name__}")
    if model.l2 != 0.0:
        raise ValueError(f"model.l2 must be 0 for the float16 simulation, got {model.l2}")
    params, X, y = model._check(params, X, y)
    loss_scale = v.positive("loss_scale", loss_scale)
    d, h, k = model.n_in, model.n_hidden, model.n_out
    o1, o2, o3 = d * h, d * h + h, d * h + h + h * k
    w = params.astype(F16)
    W1, b1, W2, b2 = w[:o1].reshape(d, h), w[o1:o2], w[o2:o3].reshape(h, k), w[o3:]
    X16 = X.astype(F16)
    n = len(y)
    rows = np.arange(n)
    A = np.tanh(_mm(X16, W1) + b1)                   # float16 activations
    Z = (_mm(A, W2) + b2).astype(F32)                # softmax and loss in float32
    Z -= Z.max(axis=1, keepdims=True)
    P = np.exp(Z)
    P /= P.sum(axis=1, keepdims=True)
    loss = float(-np.mean(np.log(P[rows, y])))
    P[rows, y] -= 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        dZ = (P * F32(loss_scale / n)).astype(F16)   # float16 from here: under/overflow
        D = _mm(dZ, W2.T) * (F16(1.0) - A * A)
        grads = [_mm(X16.T, D), D.astype(F32).sum(axis=0).astype(F16),
                 _mm(A.T, dZ), dZ.astype(F32).sum(axis=0).astype(F16)]
    return loss, np.concatenate([g.ravel() for g in grads]).astype(F32)


class MixedHistory(NamedTuple):
    """What :func:`fit_fp16` records; step arrays have one entry per step."""

    step_loss: np.ndarray  #: minibatch loss (float32 forward of float16 logits)
    scale: np.ndarray  #: the loss scale used at each step (1 without a scaler)
    skipped: np.ndarray  #: True where the step was skipped (inf/NaN gradient)
    zero_fraction: np.ndarray  #: fraction of gradient entries that were exactly 0
    train_loss: np.ndarray  #: float64 training loss of the master weights, per epoch
    test_accuracy: np.ndarray  #: per epoch (epochs + 1 entries)
    state: tuple  #: the optimizer's state at the end


def fit_fp16(model, opt, params, data, epochs=10, batch_size=128, seed=0, scaler=None,
             loss_weight=1.0):
    """Train an MLP's float32 master weights ``params`` (in place) with float16 steps.

    Minibatches as in :func:`optlib.models.fit`. ``scaler``: a
    :class:`DynamicLossScaler`, or ``None`` for no loss scaling (then every step is
    taken, even with inf/NaN gradients, as an unscaled float16 run would).
    ``loss_weight`` multiplies the loss (e.g. a mean over many more tokens, or a small
    auxiliary loss): a float32 Adam run does not notice it, a float16 run may.
    """
    if not isinstance(opt, (Optimizer, Chain)):
        raise TypeError("opt must be an optlib.optim optimizer or an optlib.chain chain, "
                        f"got {type(opt).__name__}")
    if scaler is not None and not isinstance(scaler, DynamicLossScaler):
        raise TypeError(f"scaler must be None or a DynamicLossScaler, got {scaler!r}")
    params = v.updatable("params", params, dtype="np.float32",
                         shape=(getattr(model, "n_params", -1),))
    if params.dtype != F32:
        raise TypeError(f"params must be float32 master weights, got {params.dtype}")
    _check_data(data)
    X, y = data.X_train, data.y_train
    fp16_loss_and_grad(model, params, X[:1], y[:1])  # checks model, X and y
    epochs = v.integer("epochs", epochs, low=1)
    n = len(y)
    batch = v.integer("batch_size", batch_size, low=1, high=n)
    rng = np.random.default_rng(v.integer("seed", seed, low=0))
    weight = v.positive("loss_weight", loss_weight)
    steps = epochs * -(-n // batch)
    rec = {name: np.full(steps, np.nan) for name in ("loss", "scale", "zero")}
    skipped = np.zeros(steps, dtype=bool)
    per_epoch = np.full((epochs + 1, 2), np.nan)

    def evaluate():
        w64 = params.astype(np.float64)
        return (model.loss(w64, X, y),
                model.accuracy(w64, data.X_test, data.y_test))

    opt.lr_values(0, steps)  # refuses a bad rate (or chain factor) before any step
    per_epoch[0] = evaluate()
    state = opt.init(params)
    k = 0
    for epoch in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            rows = order[start:start + batch]
            s = 1.0 if scaler is None else float(scaler.scale)
            rec["loss"][k], g = fp16_loss_and_grad(model, params, X[rows], y[rows],
                                                   weight * s)
            rec["scale"][k], rec["zero"][k] = s, np.mean(g == 0)
            if scaler is None:
                state = opt.step(params, g, state)
            else:
                state, skipped[k] = scaler.step(opt, params, g, state)
            k += 1
        per_epoch[epoch + 1] = evaluate()
    return MixedHistory(rec["loss"], rec["scale"], skipped, rec["zero"], per_epoch[:, 0],
                        per_epoch[:, 1], state)
