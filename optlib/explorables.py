"""Kernel-free explorables: real computations pre-rendered behind a slider.

In the HTML book no Python runs, so a widget's callback would never fire. An
explorable instead computes every setting on a grid when the book is built, draws
each with the same plotting code as the widget, and packs the frames into a
self-contained JavaScript player (matplotlib's ``to_jshtml``): its slider works in any
browser, offline.
"""

import matplotlib.pyplot as plt
from matplotlib import animation

from . import _validate as v
from . import optim, plotting, trajectory
from .functions import TestFunction

#: Size budget of one explorable, in bytes of HTML; tests hold every explorable to it.
BUDGET_BYTES = 1_500_000


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


def _player(fig, draw, n_frames, interval_ms=700):
    anim = animation.FuncAnimation(fig, draw, frames=n_frames, interval=interval_ms,
                                   repeat=False)
    html = anim.to_jshtml(default_mode="once")
    plt.close(fig)
    return Explorable(html, n_frames)


def lr_sweep(fn, lrs, x0=None, steps=100, dpi=60):
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
