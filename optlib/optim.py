"""Optimizers with explicit, inspectable state (the optax shape, the torch update rules).

>>> import numpy as np, optlib as ol
>>> opt = ol.optim.GD(lr=0.1)
>>> w = np.array([1.0, -2.0])
>>> state = opt.init(w)
>>> state = opt.step(w, 2 * w, state)   # gradient of |w|^2; w is updated in place
>>> w, state.step
(array([ 0.8, -1.6]), 1)

Every optimizer has the same three parts:

* ``init(params)`` returns its state, a ``NamedTuple`` whose first field is ``step``
  (steps taken so far) and whose other fields are arrays shaped like ``params``.
* ``step(params, grads, state)`` performs one update with one fused kernel. It
  **overwrites ``params`` and the state's arrays in place** and returns the new state.
* ``lr`` is a float or a schedule: a callable ``s(step) -> float`` of the 0-based step,
  that also accepts an integer array of steps. ``lr_at(step)`` evaluates either.

The rule itself lives in :mod:`optlib._kernels.optim`; the trajectory runner, model
training and the benchmarks all call that same kernel.
"""

import math
from typing import NamedTuple

import numpy as np

from . import _validate as v
from ._kernels import optim as _k


def check_lr(lr):
    """A learning rate: a finite float >= 0, or a callable schedule of the step."""
    if callable(lr):
        return lr
    return v.real("lr", lr, low=0.0)


class Optimizer(v.FixedSettings):
    """Base class. A subclass sets ``rule`` (its kernel id), ``State`` and ``hyper``.

    The kernels read the copy of the settings in ``hyper``: after construction only
    ``lr`` can be set (unlike torch's editable ``param_groups``)."""

    settable = ("lr", "_lr")  # a validated property, stored as _lr

    rule = None
    State = None
    name = "optimizer"
    hyper = np.zeros(0)  #: the hyperparameters the kernel reads, set once by a subclass

    def __init__(self, lr):
        self.lr = lr

    @property
    def lr(self):
        """The learning rate: a float, or a schedule of the 0-based step.

        It may be reassigned between steps (e.g. by ``schedules.ReduceOnPlateau``); the
        new value is validated like the constructor's.
        """
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = check_lr(value)

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr!r})"

    @property
    def slot_names(self):
        """Names of the state's arrays (everything after ``step``)."""
        return self.State._fields[1:]

    def init(self, params):
        """A fresh state for ``params``: step 0 and arrays like ``params`` (zeros unless
        the rule says otherwise)."""
        params = v.float_array("params", params)
        return self.State(0, *(self._init_slot(n, params) for n in self.slot_names))

    def _init_slot(self, name, params):
        return np.zeros_like(params)

    def _check_slot(self, name, arr, params):
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"state.{name} must be a NumPy array like params (the kernel "
                            f"updates it in place), got {type(arr).__name__}")
        if not arr.flags.c_contiguous:
            raise ValueError(f"state.{name} must be C-contiguous (the kernel updates it in "
                             "place through a flat view)")
        if not arr.flags.writeable:
            raise ValueError(f"state.{name} is updated in place but is read-only")
        v.same_layout(f"state.{name}", arr, "params", params)

    def lr_at(self, step):
        """The learning rate used by the step after ``step`` steps (0-based)."""
        if not callable(self.lr):
            return self.lr
        return _schedule_value(self.lr, step)

    def lr_values(self, start, count):
        """Learning rates for steps ``start, ..., start + count - 1`` as a float64 array."""
        if not callable(self.lr):
            return np.full(count, self.lr)
        steps = np.arange(start, start + count)
        try:
            lrs = np.asarray(self.lr(steps), dtype=np.float64)
        except Exception:  # a schedule that only takes scalars
            lrs = np.array([self.lr(int(k)) for k in steps], dtype=np.float64)
        if lrs.shape != (count,):
            lrs = np.broadcast_to(lrs, (count,)).copy()
        bad = np.flatnonzero(~np.isfinite(lrs) | (lrs < 0))
        if bad.size:
            k = bad[0]
            raise ValueError(f"lr schedule must give finite values >= 0; at step {steps[k]} "
                             f"it gave {lrs[k]!r}")
        return lrs

    def _check_step(self, params, grads, state):
        params = v.updatable("params", params, finite=False)
        grads = v.same_layout("grads", v.float_array("grads", grads, finite=False),
                              "params", params)
        if not isinstance(state, self.State):
            raise TypeError(f"state must be the {self.State.__name__} that "
                            f"{type(self).__name__}.init() returned, got {type(state).__name__}")
        v.integer("state.step", state.step, low=0, high=v.MAX_STEP)
        for name in self.slot_names:
            self._check_slot(name, getattr(state, name), params)
        return params, grads

    def slots(self, state, dtype):
        """The state's arrays, flattened, padded to three with empty arrays (kernel layout)."""
        flat = [getattr(state, n).reshape(-1) for n in self.slot_names]
        return flat + [np.empty(0, dtype=dtype)] * (3 - len(flat))

    def grad_point(self, params, state):
        """Where the gradient for the next step must be taken: ``params`` itself for every
        rule except Nesterov's look-ahead form (a new array ``params - momentum * v``)."""
        if self.rule != _k.NESTEROV_LOOKAHEAD:
            return params
        params = v.float_array("params", params, finite=False)
        out = np.empty_like(params)
        _k.grad_point(self.rule, params.reshape(-1), state.velocity.reshape(-1), self.hyper,
                      out.reshape(-1))
        return out

    def step(self, params, grads, state):
        """One update. Overwrites ``params`` and the state's arrays; returns the new state."""
        params, grads = self._check_step(params, grads, state)
        return self._updater(params, grads, state)(state.step)

    def _updater(self, params, grads, state, lrs=None):
        """``update(step)``: one update of ``params`` from ``grads`` and the state's
        arrays; returns the state after it. The arrays, already checked, are flattened
        once, here: callers that take many steps with the same arrays (``models.fit``)
        would otherwise pay for that at every step, as much as a small model's gradient.
        ``lrs[step]`` is the step's rate if given (``lr_values``), else ``lr_at(step)``."""
        rule, apply, hyper = self.rule, _k.apply_rule, self.hyper
        p, g = params.reshape(-1), grads.reshape(-1)
        s0, s1, s2 = self.slots(state, params.dtype)

        def update(step):
            lr = self.lr_at(step) if lrs is None else lrs[step]
            apply(rule, p, g, s0, s1, s2, hyper, lr, step)
            return state._replace(step=step + 1)
        return update


def _schedule_value(schedule, step):
    step = v.integer("step", step, low=0)
    out = schedule(step)
    try:
        value = float(out)
    except (TypeError, ValueError):
        raise TypeError(f"lr schedule must return one number for a step; at step {step} it "
                        f"returned {out!r:.80}") from None
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"lr schedule must give finite values >= 0; at step {step} it gave {value!r}")
    return value


class GDState(NamedTuple):
    """Gradient descent keeps no arrays, only the number of steps taken."""

    step: int


class GD(Optimizer):
    r"""Gradient descent, :math:`w_{k+1} = w_k - \eta_k \nabla L(w_k)`.

    Equal to ``torch.optim.SGD(params, lr)`` with its defaults (no momentum, no weight
    decay) and to ``optax.sgd(lr)``.

    Parameters
    ----------
    lr : float >= 0 or schedule
        The step size :math:`\eta`, or a callable giving it for each 0-based step.
    """

    rule = _k.GD
    State = GDState
    name = "gd"


def check_momentum(name, value):
    return v.real(name, value, low=0.0, high=1.0, high_inclusive=False)


class MomentumState(NamedTuple):
    """Steps taken, and the velocity (momentum buffer), shaped like the parameters."""

    step: int
    velocity: np.ndarray


class Momentum(Optimizer):
    r"""SGD with momentum in the library form of torch, optax and this book's later chapters.

    .. math::
        g &\leftarrow g + \lambda w \quad(\text{weight decay}), \\
        v &\leftarrow \mu v + (1 - \tau) g \quad(v \leftarrow g \text{ on the first step}), \\
        w &\leftarrow w - \eta\,(g + \mu v) \text{ (Nesterov) or } w - \eta v.

    The learning rate multiplies the whole velocity at every step. This equals
    ``torch.optim.SGD(lr, momentum, dampening, weight_decay, nesterov, maximize)``
    (tested to 1e-10) and, with dampening 0, ``optax.sgd(lr, momentum, nesterov)``.
    :class:`HeavyBall` is the textbook form; the two agree while lr is constant.
    """

    State = MomentumState
    rule = _k.MOMENTUM
    name = "momentum"

    def __init__(self, lr, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0,
                 maximize=False):
        super().__init__(lr)
        self.momentum = check_momentum("momentum", momentum)
        self.dampening = v.real("dampening", dampening, low=0.0, high=1.0)
        self.nesterov = v.boolean("nesterov", nesterov)
        if self.nesterov and (self.momentum <= 0.0 or self.dampening != 0.0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening = 0, got "
                             f"momentum={self.momentum}, dampening={self.dampening}")
        self.weight_decay = v.real("weight_decay", weight_decay, low=0.0)
        self.maximize = v.boolean("maximize", maximize)
        if self.nesterov:
            self.name = "nesterov"
        self.hyper = np.array([self.momentum, self.dampening, float(self.nesterov),
                               self.weight_decay, float(self.maximize)])

    def __repr__(self):
        return (f"Momentum(lr={self.lr!r}, momentum={self.momentum}, dampening="
                f"{self.dampening}, nesterov={self.nesterov}, weight_decay="
                f"{self.weight_decay}, maximize={self.maximize})")


class HeavyBall(Optimizer):
    r"""Polyak's heavy ball in the textbook form of the course outline.

    .. math:: v \leftarrow \gamma v + \eta\, g, \qquad w \leftarrow w - v .

    Here each gradient is scaled by the learning rate in force when it arrived; in
    :class:`Momentum` the current rate scales the whole velocity. With a constant rate
    the iterates are identical (then ``v_textbook = lr * v_torch``); after a change of
    rate they part.
    """

    State = MomentumState
    rule = _k.HEAVY_BALL
    name = "momentum"

    def __init__(self, lr, momentum=0.9):
        super().__init__(lr)
        self.momentum = check_momentum("momentum", momentum)
        self.hyper = np.array([self.momentum])

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr!r}, momentum={self.momentum})"


class NesterovLookahead(HeavyBall):
    r"""Nesterov's accelerated gradient in the look-ahead form of the course outline.

    .. math:: v \leftarrow \gamma v + \eta \nabla L(w - \gamma v), \qquad w \leftarrow w - v .

    The gradient must be taken at the look-ahead point: call ``grad_point(params,
    state)`` for it (``trajectory.run`` and ``models.fit`` do). Its look-ahead points
    ``w - gamma v`` are exactly the iterates of ``Momentum(nesterov=True)`` under a
    constant learning rate (chapter 3 shows it).
    """

    rule = _k.NESTEROV_LOOKAHEAD
    name = "nesterov"


def check_beta(name, value):
    return v.real(name, value, low=0.0, high=1.0, high_inclusive=False)


def check_betas(betas):
    """A pair (b1, b2) of moving-average factors in [0, 1)."""
    try:
        b1, b2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"betas must be a pair (b1, b2), got {betas!r}") from None
    return check_beta("betas[0]", b1), check_beta("betas[1]", b2)


class AdagradState(NamedTuple):
    step: int
    sum: np.ndarray  #: running sum of squared gradients


class Adagrad(Optimizer):
    r"""AdaGrad (Duchi et al. 2011), as ``torch.optim.Adagrad``.

    .. math:: s \leftarrow s + g^2, \qquad
              w \leftarrow w - \frac{\eta_t}{\sqrt{s} + \epsilon}\, g, \qquad
              \eta_t = \frac{\eta}{1 + k\,\text{lr\_decay}} .

    The sum starts at ``initial_accumulator_value``. Weight decay is added to the
    gradient (L2).
    """

    State = AdagradState
    rule = _k.ADAGRAD
    name = "adagrad"

    def __init__(self, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10, maximize=False):
        super().__init__(lr)
        self.lr_decay = v.real("lr_decay", lr_decay, low=0.0)
        self.weight_decay = v.real("weight_decay", weight_decay, low=0.0)
        self.initial_accumulator_value = v.real("initial_accumulator_value",
                                                initial_accumulator_value, low=0.0)
        self.eps = v.positive("eps", eps)
        self.maximize = v.boolean("maximize", maximize)
        self.hyper = np.array([self.lr_decay, self.weight_decay, self.eps,
                               float(self.maximize)])

    def _init_slot(self, name, params):
        return np.full_like(params, self.initial_accumulator_value)


class RMSpropState(NamedTuple):
    step: int
    square_avg: np.ndarray  #: moving average of g^2
    grad_avg: np.ndarray  #: moving average of g (used when centered)
    momentum_buffer: np.ndarray  #: used when momentum > 0


class RMSprop(Optimizer):
    r"""RMSprop, as ``torch.optim.RMSprop`` (no bias correction, buffers start at 0).

    .. math:: s \leftarrow \alpha s + (1 - \alpha) g^2, \qquad
              w \leftarrow w - \eta\, \frac{g}{\sqrt{s} + \epsilon} .

    ``centered`` divides by the standard deviation ``sqrt(s - avg^2)`` instead;
    ``momentum`` accumulates the scaled gradient first. ε sits outside the square root
    (TensorFlow puts it inside).
    """

    State = RMSpropState
    rule = _k.RMSPROP
    name = "rmsprop"

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False):
        super().__init__(lr)
        self.alpha = check_beta("alpha", alpha)
        self.eps = v.positive("eps", eps)
        self.weight_decay = v.real("weight_decay", weight_decay, low=0.0)
        self.momentum = check_momentum("momentum", momentum)
        self.centered = v.boolean("centered", centered)
        self.maximize = v.boolean("maximize", maximize)
        self.hyper = np.array([self.alpha, self.eps, self.weight_decay, self.momentum,
                               float(self.centered), float(self.maximize)])


class AdamState(NamedTuple):
    step: int
    exp_avg: np.ndarray  #: first moment m
    exp_avg_sq: np.ndarray  #: second moment v
    max_exp_avg_sq: np.ndarray  #: running max of v (AMSGrad)


class Adam(Optimizer):
    r"""Adam (Kingma & Ba 2015), as ``torch.optim.Adam``.

    .. math::
        m &\leftarrow \beta_1 m + (1 - \beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1 - \beta_2) g^2, \\
        w &\leftarrow w - \frac{\eta}{1 - \beta_1^t}\,
            \frac{m}{\sqrt{v}/\sqrt{1 - \beta_2^t} + \epsilon}, \qquad t = k + 1 .

    ε is added *after* bias-correcting ``sqrt(v)`` (torch, optax; Keras adds its ε̂ before,
    see chapter 5). ``amsgrad`` uses the running maximum of the raw ``v`` (torch; optax
    takes the maximum of the bias-corrected one). ``weight_decay`` is coupled L2 here;
    :class:`AdamW` decouples it.
    """

    State = AdamState
    rule = _k.ADAM
    name = "adam"
    decoupled = False

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, maximize=False):
        super().__init__(lr)
        self.betas = check_betas(betas)
        self.eps = v.positive("eps", eps)
        self.weight_decay = v.real("weight_decay", weight_decay, low=0.0)
        self.amsgrad = v.boolean("amsgrad", amsgrad)
        self.maximize = v.boolean("maximize", maximize)
        self.hyper = np.array([*self.betas, self.eps, self.weight_decay,
                               float(self.amsgrad), float(self.decoupled),
                               float(self.maximize)])

    def __repr__(self):
        return (f"{type(self).__name__}(lr={self.lr!r}, betas={self.betas}, eps={self.eps}, "
                f"weight_decay={self.weight_decay}, amsgrad={self.amsgrad})")


class AdamW(Adam):
    r"""AdamW (Loshchilov & Hutter 2019), as ``torch.optim.AdamW``: Adam whose weight
    decay shrinks the weights directly, :math:`w \leftarrow w(1 - \eta\lambda)`, before
    the moment update, instead of entering the gradient. Default ``weight_decay=1e-2``
    (torch; optax's ``adamw`` uses 1e-4)."""

    name = "adamw"
    decoupled = True

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False):
        super().__init__(lr, betas, eps, weight_decay, amsgrad, maximize)


class NAdamState(NamedTuple):
    step: int
    exp_avg: np.ndarray
    exp_avg_sq: np.ndarray
    mu_product: np.ndarray  #: shape (1,), float64: the product of the momentum schedule


class NAdam(Optimizer):
    r"""NAdam (Dozat 2016), as ``torch.optim.NAdam``: Adam with a Nesterov-style
    look-ahead on the first moment and the momentum schedule
    :math:`\mu_t = \beta_1 (1 - \tfrac12 0.96^{t\psi})`, ``psi = momentum_decay``.
    (optax's ``nadam`` has no such schedule.)"""

    State = NAdamState
    rule = _k.NADAM
    name = "nadam"

    def __init__(self, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False):
        super().__init__(lr)
        self.betas = check_betas(betas)
        self.eps = v.positive("eps", eps)
        self.weight_decay = v.real("weight_decay", weight_decay, low=0.0)
        self.momentum_decay = v.real("momentum_decay", momentum_decay, low=0.0)
        self.decoupled_weight_decay = v.boolean("decoupled_weight_decay", decoupled_weight_decay)
        self.maximize = v.boolean("maximize", maximize)
        self.hyper = np.array([*self.betas, self.eps, self.weight_decay, self.momentum_decay,
                               float(self.decoupled_weight_decay), float(self.maximize)])

    def _init_slot(self, name, params):
        if name == "mu_product":
            return np.ones(1)
        return np.zeros_like(params)

    def _check_slot(self, name, arr, params):
        if name == "mu_product":
            if not (isinstance(arr, np.ndarray) and arr.shape == (1,)
                    and arr.dtype == np.float64):
                raise ValueError("state.mu_product must be a float64 array of shape (1,), "
                                 f"got {arr!r}")
            if not arr.flags.writeable:
                raise ValueError("state.mu_product is updated in place but is read-only")
        else:
            super()._check_slot(name, arr, params)
