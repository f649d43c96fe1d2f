"""Kernel-free explorables: real computations pre-rendered behind a slider.

In the HTML book no Python runs, so a widget's callback would never fire. An
explorable instead computes every setting on a grid when the book is built, draws
each with the same plotting code as the widget, and packs the frames into a
self-contained JavaScript player (matplotlib's ``to_jshtml``): its slider works in any
browser, offline.
"""

import base64
import io
import re
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation
from PIL import Image

from . import _validate as v
from . import datasets, models, optim, plotting, schedules, second_order, trajectory
from .functions import TestFunction

#: Size budget of one explorable, in bytes of HTML; tests hold every explorable to it.
BUDGET_BYTES = 1_500_000
#: Resolution of the frames: the book's figures are drawn at 100 dpi too.
DPI = 100


class Explorable:
    """HTML for a notebook or the book; ``nbytes`` is its size."""

    def __init__(self, html, n_frames):
        self.html = html
        self.n_frames = n_frames

    @property
    def nbytes(self):
        return len(self.html.encode())

    def _repr_html_(self):
        return self.html


#: Text labels for the player's buttons, by the Font Awesome 4 icon that matplotlib's
#: player names (and loads from a CDN): with these it needs no network and no icon font.
#: U+FE0E asks for the text, not the emoji, form of a triangle.
BUTTON_LABELS = {
    "fa-minus": "\u2212",
    "fa-fast-backward": "|\u25c0\ufe0e\u25c0\ufe0e",
    "fa-step-backward": "|\u25c0\ufe0e",
    "fa-play fa-flip-horizontal": "\u25c0\ufe0e",
    "fa-pause": "\u2759\u2759",
    "fa-play": "\u25b6\ufe0e",
    "fa-step-forward": "\u25b6\ufe0e|",
    "fa-fast-forward": "\u25b6\ufe0e\u25b6\ufe0e|",
    "fa-plus": "+",
}
_ICON_FONT = re.compile(r'<link rel="stylesheet"\s+href="[^"]*font-awesome[^"]*">\s*')
_ICON = re.compile(r'<i class="fa (fa-[\w -]+?)"></i>')


def offline_player(html):
    """matplotlib's ``to_jshtml`` player with text labels instead of the icon font it
    loads from a CDN, so that it works with no network; anything else is unchanged."""
    html, n_links = _ICON_FONT.subn("", html)

    def label(match):
        return f'<span aria-hidden="true">{BUTTON_LABELS[match.group(1)]}</span>'

    html, n_icons = _ICON.subn(label, html)
    if n_links != 1 or n_icons != len(BUTTON_LABELS) or "font-awesome" in html:
        raise RuntimeError("matplotlib's to_jshtml player has changed: "
                           "update BUTTON_LABELS")
    return html


#: A frame in the player's JavaScript: base64 split into lines ending with a backslash.
_FRAME = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=\\\n]+)")


def _palette_png(match):
    """A frame re-encoded with a palette of 256 colours: plots have few colours, and the
    PNG gets about three times smaller."""
    data = base64.b64decode(match.group(1).replace("\\\n", ""))
    image = Image.open(io.BytesIO(data)).convert("RGB")
    out = io.BytesIO()
    image.quantize(256).save(out, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def _player(fig, draw, n_frames, interval_ms=700):
    anim = animation.FuncAnimation(fig, draw, frames=n_frames, interval=interval_ms,
                                   repeat=False)
    with plt.rc_context({"savefig.dpi": "figure"}):     # frames at the dpi asked for
        html = anim.to_jshtml(default_mode="once")
    plt.close(fig)
    explorable = Explorable(_FRAME.sub(_palette_png, offline_player(html)), n_frames)
    if explorable.nbytes > BUDGET_BYTES:
        raise ValueError(f"the explorable takes {explorable.nbytes:,} bytes, over the "
                         f"budget of {BUDGET_BYTES:,}: lower dpi or the frame count")
    return explorable


def lr_sweep(fn, lrs, x0=None, steps=100, dpi=DPI):
    """Gradient descent on ``fn`` for each learning rate in ``lrs``, one frame each.

    Each frame shows the path on the contour map and the loss curve, exactly what
    ``optlib.widgets.lr_explorer`` draws for that learning rate.
    """
    if not isinstance(fn, TestFunction) or fn.dim != 2:
        raise TypeError("fn must be a 2-D optlib.functions landscape")
    lrs = [v.positive(f"lrs[{i}]", lr)
           for i, lr in enumerate(v.listed("lrs", lrs, "learning rates", "[0.1, 0.5]"))]
    if not 2 <= len(lrs) <= 40:
        raise ValueError(f"lrs must hold 2 to 40 learning rates, got {len(lrs)}")
    dpi = v.integer("dpi", dpi, low=30, high=150)
    runs = [trajectory.run(optim.GD(lr=lr), fn, x0, steps=steps) for lr in lrs]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), dpi=dpi)

    def draw(i):
        for ax in axes:
            ax.clear()
        plotting.path_panels(fn, runs[i], axes, label=f"lr = {lrs[i]:.3g}",
                             color=plotting.color("gd"))
        fig.suptitle(f"Gradient descent on {fn.name}, lr = {lrs[i]:.3g} "
                     f"(frame {i + 1} of {len(lrs)})")
        fig.tight_layout()

    return _player(fig, draw, len(lrs))


#: The schedules the schedule widget and its explorable offer, built from a peak rate,
#: a period (in steps) and the run's length (in steps).
SCHEDULE_CHOICES = {
    "constant": lambda peak, period, total: schedules.constant(peak),
    "step decay": lambda peak, period, total: schedules.step_decay(peak, period, 0.3),
    "exponential": lambda peak, period, total: schedules.exponential(peak, gamma=0.3 ** (1 / period)),
    "inverse time": lambda peak, period, total: schedules.inverse_time(peak, 1.0 / period),
    "cosine": lambda peak, period, total: schedules.cosine(peak, total),
    "cosine restarts": lambda peak, period, total: schedules.cosine_restarts(peak, period),
    "cyclic": lambda peak, period, total: schedules.cyclic(peak / 10, peak, max(1, period // 2)),
    "one-cycle": lambda peak, period, total: schedules.one_cycle(peak, total),
    "warmup + cosine": lambda peak, period, total: schedules.warmup_cosine(peak, period, total),
}


def digits_run(schedule_name, peak, period_epochs, epochs=10, batch_size=32, seed=0):
    """Train the digits MLP (64-16-10) with one schedule; returns (lr per step, History)."""
    v.choice("schedule_name", schedule_name, tuple(SCHEDULE_CHOICES))
    data = datasets.load_digits(seed=0)
    per_epoch = -(-len(data.y_train) // batch_size)
    total = epochs * per_epoch
    schedule = SCHEDULE_CHOICES[schedule_name](v.positive("peak", peak),
                                               v.integer("period_epochs", period_epochs, low=1)
                                               * per_epoch, total)
    model = models.MLP(64, 16, 10)
    hist = models.fit(model, optim.GD(lr=schedule), model.init(seed), data, epochs=epochs,
                      batch_size=batch_size, seed=seed)
    return hist.lr, hist


def schedule_gallery(peak=0.5, period_epochs=2, epochs=10, dpi=DPI):
    """One frame per schedule in ``SCHEDULE_CHOICES``: its rate and the digits MLP's loss."""
    dpi = v.integer("dpi", dpi, low=30, high=150)
    runs = {name: digits_run(name, peak, period_epochs, epochs) for name in SCHEDULE_CHOICES}
    names = list(runs)
    top = max(h.train_loss.max() for _, h in runs.values())
    low = min(h.train_loss.min() for _, h in runs.values())
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=dpi)

    def draw(i):
        for ax in axes:
            ax.clear()
        lr, hist = runs[names[i]]
        plotting.schedule_panels(axes, lr, hist.train_loss, label=names[i])
        axes[0].set_ylim(0, 1.05 * peak)
        axes[1].set_ylim(0.8 * low, 1.2 * top)
        fig.suptitle(f"{names[i]}: test accuracy {hist.test_accuracy[-1]:.3f} "
                     f"(schedule {i + 1} of {len(names)})")
        fig.tight_layout()

    return _player(fig, draw, len(names))


def momentum_grid(cond=50.0, lrs_times_L=(0.3, 1.0, 2.5), momenta=(0.0, 0.6, 0.9),
                  steps=100, dpi=DPI):
    """Heavy-ball runs on a rotated quadratic for every (momentum, lr) pair: one frame each,
    ordered by momentum then learning rate, as the momentum widget draws them."""
    from .functions import quadratic

    fn = quadratic(cond=v.real("cond", cond, low=1.0), angle=0.5)
    lrs_times_L = v.listed("lrs_times_L", lrs_times_L, "numbers", "(0.3, 1.0)")
    pairs = [(v.positive("lr", a) / fn.L, v.real("momentum", m, low=0.0, high=0.99))
             for m in v.listed("momenta", momenta, "numbers", "(0.0, 0.9)")
             for a in lrs_times_L]
    if not 2 <= len(pairs) <= 40:
        raise ValueError(f"the grid must hold 2 to 40 settings, got {len(pairs)}")
    dpi = v.integer("dpi", dpi, low=30, high=150)
    runs = [trajectory.run(optim.HeavyBall(lr, m), fn, steps=steps) for lr, m in pairs]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), dpi=dpi)
    bar = []

    def draw(i):
        for ax in axes:
            ax.clear()
        lr, m = pairs[i]
        im = plotting.momentum_panels(fn, runs[i], lr, m, axes)
        if not bar:
            bar.append(fig.colorbar(im, ax=axes[1]))
        fig.suptitle(f"Heavy ball on a quadratic with kappa = {cond:g}: lr = {lr * fn.L:.2g}/L, "
                     f"momentum = {m} ({i + 1} of {len(pairs)})")
        fig.tight_layout()

    return _player(fig, draw, len(pairs))


#: The optimizers of the race, by name; each builder takes the learning rate.
RACERS = {
    "gd": lambda lr: optim.GD(lr),
    "momentum": lambda lr: optim.Momentum(lr, 0.9),
    "nesterov": lambda lr: optim.Momentum(lr, 0.9, nesterov=True),
    "adagrad": lambda lr: optim.Adagrad(lr),
    "rmsprop": lambda lr: optim.RMSprop(lr),
    "adam": lambda lr: optim.Adam(lr),
}


def race_runs(fn, lrs, steps, x0=None):
    """One trajectory per racer, ``lrs`` mapping a racer's name to its learning rate."""
    for name in lrs:
        v.choice("racer", name, tuple(RACERS))
    return {name: trajectory.run(RACERS[name](lr), fn, x0, steps=steps)
            for name, lr in lrs.items()}


def race(fn, lrs, steps=1000, frames=15, x0=None, dpi=DPI):
    """An animation of the optimizers racing on ``fn``: frame i shows every path and loss
    curve up to step i*steps/frames (the same drawing as the race widget)."""
    if not isinstance(fn, TestFunction) or fn.dim != 2:
        raise TypeError("fn must be a 2-D optlib.functions landscape")
    frames = v.integer("frames", frames, low=2, high=40)
    dpi = v.integer("dpi", dpi, low=30, high=150)
    runs = race_runs(fn, lrs, v.integer("steps", steps, low=frames), x0)
    ks = np.linspace(0, steps, frames).astype(int)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), dpi=dpi)

    def draw(i):
        for ax in axes:
            ax.clear()
        plotting.race_panels(fn, runs, ks[i], axes)
        fig.suptitle(f"{fn.name}: step {ks[i]} of {steps}")
        fig.tight_layout()

    return _player(fig, draw, frames)


def adding_run(threshold, length=20, epochs=25, seed=0, lr=0.1, init_scale=1.2,
               params=None, full_train_loss=True):
    """Train chapter 4's RNN (32 tanh units, momentum 0.9) on the adding problem, clipping
    the global gradient norm at ``threshold`` (``None``: no clipping); returns the History.
    ``params``: the initial weights (a copy is trained), by default ``init(seed)``;
    ``full_train_loss``: as in :func:`optlib.models.fit`."""
    data = datasets.adding_problem(n=2000, length=v.integer("length", length, low=2), seed=0)
    model = models.RNN(2, 32, 1, init_scale=init_scale)
    params = (model.init(seed) if params is None else
              v.float_array("params", params, shape=(model.n_params,), copy=True))
    if threshold is not None:
        threshold = v.positive("threshold", threshold)

    def clip(g):
        from . import clipping
        return clipping.clip_grad_norm(g, threshold)
    return models.fit(model, optim.Momentum(lr, 0.9), params, data, epochs=epochs,
                      batch_size=32, seed=seed, clip=None if threshold is None else clip,
                      full_train_loss=full_train_loss)


def clipping_thresholds(thresholds=(None, 3.0, 1.0, 0.3, 0.1), epochs=25, runs=None,
                        dpi=DPI):
    """One frame per clipping threshold: the gradient-norm trace and the test loss of the
    RNN on the adding problem, as the clipping widget draws them. ``runs``: the matching
    Histories of :func:`adding_run`, if already computed."""
    thresholds = v.listed("thresholds", thresholds, "clipping thresholds (None: none)",
                          "(None, 1.0, 0.1)")
    if not 2 <= len(thresholds) <= 12:
        raise ValueError(f"thresholds must hold 2 to 12 values, got {len(thresholds)}")
    dpi = v.integer("dpi", dpi, low=30, high=150)
    if runs is None:
        runs = [adding_run(t, epochs=epochs) for t in thresholds]
    else:
        if isinstance(runs, models.History):  # a NamedTuple: iterable, yet one run
            raise TypeError("runs must be a list of Histories, one per threshold, got one")
        runs = v.listed("runs", runs, "Histories", "[adding_run(1.0), adding_run(0.1)]")
        if not all(isinstance(h, models.History) for h in runs):
            raise TypeError("runs must hold Histories of adding_run, one per threshold")
        if len(runs) != len(thresholds):
            raise ValueError(f"runs must hold one History per threshold ({len(thresholds)}), "
                             f"got {len(runs)}")
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=dpi)
    top = max(np.nanmax(h.test_loss) for h in runs)

    def draw(i):
        for ax in axes:
            ax.clear()
        plotting.clipping_panels(runs[i], thresholds[i], axes)
        axes[1].set_ylim(1e-3, max(1.0, 1.2 * top))
        name = "no clipping" if thresholds[i] is None else f"clip at {thresholds[i]:g}"
        fig.suptitle(f"RNN on the adding problem, {name}: final test loss "
                     f"{runs[i].test_loss[-1]:.3g} ({i + 1} of {len(runs)})")
        fig.tight_layout()

    return _player(fig, draw, len(runs))


#: The methods of chapter 6's widget and explorable.
SECOND_ORDER_CHOICES = ("Newton (pure)", "Newton (damped)", "Newton (modified)", "L-BFGS")


def second_order_run(fn, method, x0=None, m=5):
    """One run of a chapter 6 method on a landscape (``m``: L-BFGS's memory)."""
    v.choice("method", method, SECOND_ORDER_CHOICES)
    if method == "L-BFGS":
        return second_order.lbfgs(fn, x0, m=m, gtol=1e-8, ftol=0.0, max_iter=300)
    kind = method[len("Newton ("):-1]
    return second_order.newton(fn, x0, method=kind, gtol=1e-8, max_iter=100)


def second_order_cases():
    """Chapter 6's frames: every method from Himmelblau's (0, 0), where the Hessian is
    negative definite, then from Rosenbrock's customary start (L-BFGS with m = 1, 3, 10),
    then Newton's three variants on the saddle from (1, 0.2), near its stable manifold."""
    from .functions import himmelblau, rosenbrock, saddle

    cases = []
    for fn, x0 in ((himmelblau(), [0.0, 0.0]), (rosenbrock(), [-1.2, 1.0])):
        cases += [(fn, x0, method, 5) for method in SECOND_ORDER_CHOICES[:3]]
        cases += [(fn, x0, "L-BFGS", m) for m in (1, 3, 10)]
    cases += [(saddle(), [1.0, 0.2], method, 5) for method in SECOND_ORDER_CHOICES[:3]]
    return cases


def second_order_gallery(cases=None, dpi=90):
    """One frame per ``(fn, x0, method, m)`` in ``cases`` (default: chapter 6's,
    :func:`second_order_cases`): the path and the convergence of that run, drawn as the
    second-order widget draws them."""
    cases = second_order_cases() if cases is None else list(cases)
    if not 2 <= len(cases) <= 40:
        raise ValueError(f"cases must hold 2 to 40 settings, got {len(cases)}")
    dpi = v.integer("dpi", dpi, low=30, high=150)
    runs = [second_order_run(fn, method, x0, m) for fn, x0, method, m in cases]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), dpi=dpi)

    def draw(i):
        for ax in axes:
            ax.clear()
        fn, x0, method, m = cases[i]
        label = f"{method}, m = {m}" if method == "L-BFGS" else method
        color = plotting.color("lbfgs" if method == "L-BFGS" else "newton")
        plotting.second_order_panels(fn, runs[i], axes, label=label, color=color)
        x1, x2 = runs[i].path[0]
        fig.suptitle(f"{label} on {fn.name} from ({x1:g}, {x2:g}) "
                     f"({i + 1} of {len(cases)})")
        fig.tight_layout()

    return _player(fig, draw, len(cases))


def _recipe_chains():
    from . import chain as c

    def lr_link(lr, total, kind):
        sched = {"constant": lambda: lr, "cosine": lambda: schedules.cosine(lr, total),
                 "warmup_cosine": lambda: schedules.warmup_cosine(lr, max(1, total // 20),
                                                                  total)}[kind]()
        return c.scale_by_learning_rate(sched)

    return {
        "sgd": lambda lr, total: c.chain(lr_link(lr, total, "constant")),
        "+ momentum": lambda lr, total: c.chain(c.trace(0.9), lr_link(lr, total, "constant")),
        "+ cosine schedule": lambda lr, total: c.chain(c.trace(0.9),
                                                       lr_link(lr, total, "cosine")),
        "+ clipping": lambda lr, total: c.chain(c.clip_by_global_norm(1.0), c.trace(0.9),
                                                lr_link(lr, total, "cosine")),
        "adamw + warmup + cosine": lambda lr, total: c.chain(
            c.clip_by_global_norm(1.0), c.scale_by_adam(0.9, 0.95), c.add_decayed_weights(0.1),
            lr_link(lr, total, "warmup_cosine")),
    }


#: Chapter 7's ladder of training recipes, each a chain built from (peak lr, total steps):
#: plain SGD, then momentum 0.9, a cosine decay, global-norm clipping at 1, and the
#: GPT-3-style AdamW (b2 = 0.95, weight decay 0.1, 5 % linear warmup, cosine to 10 %).
RECIPES = _recipe_chains()

#: The learning rates each recipe is tuned over in chapter 7 and offered by its widget.
RECIPE_LRS = {name: np.geomspace(1e-3, 1e-1, 5) if name.startswith("adam")
              else np.geomspace(0.1, 10.0, 5) if name == "sgd" else np.geomspace(0.01, 1.0, 5)
              for name in RECIPES}


def recipe_run(name, lr, epochs=5, seed=0, batch_size=32):
    """Train the digits MLP (64-32-10) with recipe ``name`` of :data:`RECIPES` at peak
    rate ``lr``; returns the :class:`optlib.models.History`."""
    v.choice("name", name, tuple(RECIPES))
    data = datasets.load_digits(seed=0)
    epochs = v.integer("epochs", epochs, low=1)
    total = epochs * -(-len(data.y_train) // v.integer("batch_size", batch_size, low=1))
    opt = RECIPES[name](v.positive("lr", lr), total)
    model = models.MLP(64, 32, 10)
    return models.fit(model, opt, model.init(seed), data, epochs=epochs,
                      batch_size=batch_size, seed=seed)


def recipe_gallery(runs, dpi=90):
    """One frame per run: its learning rate per step and the digits MLP's training loss,
    as the recipe widget draws them. ``runs`` maps a recipe's name, or a pair (name, peak
    rate), to its History."""
    if not isinstance(runs, Mapping) or not all(isinstance(h, models.History)
                                                 for h in runs.values()):
        raise TypeError("runs must map recipe names, or (name, lr) pairs, to Histories of "
                        "recipe_run")
    if not 2 <= len(runs) <= 24:
        raise ValueError(f"runs must hold 2 to 24 Histories, got {len(runs)}")
    keys = [key if isinstance(key, tuple) else (key, None) for key in runs]
    for key in keys:
        if len(key) != 2:
            raise ValueError(f"runs' keys must be recipe names or (name, lr) pairs, got "
                             f"{key!r:.80}")
        name, lr = key
        v.choice("name", name, tuple(RECIPES))
        if lr is not None:
            v.positive("lr", lr)
    dpi = v.integer("dpi", dpi, low=30, high=150)
    names = list(runs)
    low = min(np.nanmin(runs[n].train_loss) for n in names)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=dpi)

    def draw(i):
        for ax in axes:
            ax.clear()
        hist = runs[names[i]]
        name, lr = keys[i]
        plotting.schedule_panels(axes, hist.lr, hist.train_loss, label=name)
        axes[0].set_ylim(0, 1.05 * hist.lr.max())  # each schedule's own scale
        axes[1].set_ylim(0.8 * low, 1.2 * max(h.train_loss[0] for h in runs.values()))
        at = "" if lr is None else f" at lr {lr:.3g}"
        fig.suptitle(f"{name}{at}: final training loss {hist.train_loss[-1]:.3g}, test "
                     f"accuracy {hist.test_accuracy[-1]:.3f} ({i + 1} of {len(names)})")
        fig.tight_layout()

    return _player(fig, draw, len(names))
