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

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import animation
from PIL import Image

from . import _validate as v
from . import datasets, models, optim, plotting, schedules, trajectory
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
    lrs = [v.positive(f"lrs[{i}]", lr) for i, lr in enumerate(lrs)]
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
    pairs = [(v.positive("lr", a) / fn.L, v.real("momentum", m, low=0.0, high=0.99))
             for m in momenta for a in lrs_times_L]
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


def adding_run(threshold, length=20, epochs=25, seed=0, lr=0.1, init_scale=1.2):
    """Train chapter 4's RNN (32 tanh units, momentum 0.9) on the adding problem, clipping
    the global gradient norm at ``threshold`` (``None``: no clipping); returns the History."""
    data = datasets.adding_problem(n=2000, length=v.integer("length", length, low=2), seed=0)
    model = models.RNN(2, 32, 1, init_scale=init_scale)
    clip = None
    if threshold is not None:
        threshold = v.positive("threshold", threshold)

        def clip(g):
            from . import clipping
            return clipping.clip_grad_norm(g, threshold)
    return models.fit(model, optim.Momentum(lr, 0.9), model.init(seed), data, epochs=epochs,
                      batch_size=32, seed=seed, clip=clip)


def clipping_thresholds(thresholds=(None, 3.0, 1.0, 0.3, 0.1), epochs=25, runs=None,
                        dpi=DPI):
    """One frame per clipping threshold: the gradient-norm trace and the test loss of the
    RNN on the adding problem, as the clipping widget draws them. ``runs``: the matching
    Histories of :func:`adding_run`, if already computed."""
    if not 2 <= len(thresholds) <= 12:
        raise ValueError(f"thresholds must hold 2 to 12 values, got {len(thresholds)}")
    dpi = v.integer("dpi", dpi, low=30, high=150)
    if runs is None:
        runs = [adding_run(t, epochs=epochs) for t in thresholds]
    elif len(runs) != len(thresholds):
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
