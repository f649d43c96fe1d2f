"""One figure style for the whole book: contours with paths, loss curves, flow diagrams.

Colours come from the Okabe-Ito palette (safe for colour-blind readers), and each
optimizer keeps its colour in every chapter: look it up with :func:`color`.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from . import _validate as v

# Okabe & Ito (2008), "Color Universal Design"; yellow is too pale for lines on white,
# so L-BFGS takes an olive instead.
PALETTE = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#999999",
    "olive": "#999933",  # from Paul Tol's "muted" scheme, also colour-blind safe
    "indigo": "#332288",  # Tol's "muted" too
}

#: The colour of each optimizer, the same in every chapter.
COLORS = {
    "gd": PALETTE["blue"],
    "momentum": PALETTE["orange"],
    "nesterov": PALETTE["vermillion"],
    "adagrad": PALETTE["green"],
    "rmsprop": PALETTE["purple"],
    "adam": PALETTE["sky"],
    "adamw": PALETTE["black"],
    "newton": PALETTE["grey"],
    "lbfgs": PALETTE["olive"],
    "nadam": PALETTE["indigo"],
}

#: Colours for series that are not optimizers (learning rates, seeds, ...), in order.
CYCLE = [PALETTE[c] for c in ("blue", "orange", "green", "vermillion", "purple", "sky",
                              "black", "grey", "olive")]  # nine: chapter 2 has 9 schedules


def color(name):
    """The book-wide colour of an optimizer, by its ``name`` (e.g. ``opt.name`` of any
    :mod:`optlib.optim` optimizer; a chain has no name: give it a colour of ``CYCLE``)."""
    v.choice("name", name, tuple(COLORS))
    return COLORS[name]


def use_style():
    """Book defaults: modest size at 100 dpi, light grid, the colour cycle above."""
    plt.rcParams.update({
        "figure.dpi": 100,
        "savefig.dpi": 100,
        "figure.figsize": (7.0, 4.0),
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": plt.cycler(color=CYCLE),
        "legend.frameon": False,
        "font.size": 10,
    })


def contour(fn, ax=None, n=200, levels=25, domain=None, mark_minima=True):
    """Filled contours of ``log10(f - f_min + 1e-3)`` for a 2-D landscape; returns the axes.

    The logarithm shows the shape of the valley floor that a linear scale flattens.
    """
    if fn.dim != 2:
        raise ValueError(f"contour needs a 2-D function, {fn.name} has dim={fn.dim}")
    levels = v.integer("levels", levels, low=2, high=200)
    ax = plt.gca() if ax is None else ax
    xs, ys, Z = fn.grid(n, domain)
    ax.contourf(xs, ys, np.log10(Z - fn.min_value + 1e-3), levels=levels, cmap="Greys",
                alpha=0.4)
    ax.contour(xs, ys, np.log10(Z - fn.min_value + 1e-3), levels=levels, colors="grey",
               linewidths=0.4, alpha=0.6)
    if mark_minima and fn.minima.size:
        ax.plot(fn.minima[:, 0], fn.minima[:, 1], "*", color=PALETTE["black"], ms=12,
                label="minimum", linestyle="none")
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal" if abs((xs[-1] - xs[0]) - (ys[-1] - ys[0])) < 1e-9 else "auto")
    ax.grid(False)
    return ax


def path(ax, xs, label=None, color=None, max_points=2000, **kwargs):
    """Draw an optimization path (rows of ``xs``) with its start (circle) and end (square)."""
    xs = np.asarray(xs)
    xs = xs[np.all(np.isfinite(xs), axis=1)]
    if len(xs) > max_points:  # thin long paths for drawing, keep the end
        idx = np.unique(np.r_[np.linspace(0, len(xs) - 1, max_points).astype(int)])
        xs = xs[idx]
    line, = ax.plot(xs[:, 0], xs[:, 1], "-", lw=1.4, color=color, label=label, **kwargs)
    ax.plot(xs[0, 0], xs[0, 1], "o", color=line.get_color(), ms=5)
    ax.plot(xs[-1, 0], xs[-1, 1], "s", color=line.get_color(), ms=5)
    return line


def loss_curves(curves, ax=None, f_min=0.0, log=True, colors=None, xlabel="step",
                ylabel=None):
    """Plot ``{label: losses}`` as ``loss - f_min`` (log scale by default), or the losses
    themselves for ``f_min=None``; returns the axes."""
    if f_min is not None:
        f_min = v.real("f_min", f_min)
    ax = plt.gca() if ax is None else ax
    starts, peak = [], 0.0
    for i, (label, loss) in enumerate(curves.items()):
        c = (colors or {}).get(label, CYCLE[i % len(CYCLE)])
        y = np.asarray(loss, dtype=float) - (f_min or 0.0)
        if log:
            y = np.where(y > 0, y, np.nan)
        ax.plot(np.arange(len(y)), y, color=c, label=str(label), lw=1.5)
        finite = y[np.isfinite(y)]
        if finite.size:
            starts.append(abs(finite[0]))
            peak = max(peak, np.abs(finite).max())
    if log:
        ax.set_yscale("log")
        # a diverging run would squash every other curve: cut the axis at 1e3 x the start
        if starts and peak > 1e4 * max(starts):
            ax.set_ylim(top=1e3 * max(starts))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel or ("$f(x_k) - f^*$" if f_min is not None else "loss"))
    ax.legend()
    return ax


def map_legend(ax, loc="upper right", fontsize=8):
    """A legend over a contour map, on a white frame: paths drawn behind it would run
    through its entries."""
    return ax.legend(loc=loc, fontsize=fontsize, frameon=True, framealpha=0.8,
                     edgecolor="none")


def path_panels(fn, traj, axes, label=None, color=None):
    """Contour and path on ``axes[0]``, the loss curve on ``axes[1]``.

    The widget (``optlib.widgets``) and the kernel-free explorable
    (``optlib.explorables``) both draw with this function.
    """
    ax0, ax1 = axes
    contour(fn, ax0)
    path(ax0, traj.x, label=label, color=color)
    map_legend(ax0)
    gap = traj.loss - fn.min_value
    ax1.semilogy(np.where(gap > 0, gap, np.nan), color=color or CYCLE[0])
    ax1.set_xlabel("step $k$")
    ax1.set_ylabel("$f(x_k) - f^*$")
    ax1.set_xlim(0, len(traj.loss) - 1)
    if traj.diverged:
        ax1.set_title(f"diverged after {traj.steps_taken} steps", color=PALETTE["vermillion"])
    else:
        ax1.set_title(f"after {traj.steps_taken} steps: $f - f^*$ = {gap[-1]:.2e}")


def schedule_panels(axes, lr, loss, label=None, color=None):
    """The learning rate per step on ``axes[0]``, the training loss per epoch on ``axes[1]``.

    Drawn by the schedule widget and by its kernel-free explorable alike.
    """
    ax0, ax1 = axes
    color = color or CYCLE[0]
    ax0.plot(np.arange(len(lr)), lr, color=color, label=label)
    ax0.set_xlabel("step $k$")
    ax0.set_ylabel("learning rate $\\eta_k$")
    ax0.set_ylim(bottom=0)
    ax1.semilogy(np.arange(len(loss)), loss, "o-", ms=3, color=color, label=label)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss")
    if label:
        ax0.legend(loc="upper right", fontsize=8)


def rate_map(ax, eigenvalues, lr=None, momentum=None, n=160):
    """The heavy ball's contraction per step over (lr * L, momentum), for a quadratic with
    the given eigenvalues; marks Polyak's optimum and, if given, the point (lr, momentum)."""
    from . import theory

    lam = np.asarray(eigenvalues, dtype=float)
    L, mu = lam.max(), lam.min()
    x = np.linspace(0.01, 4.2, n)                  # lr * L
    g = np.linspace(0.0, 0.99, n)
    X, G = np.meshgrid(x, g)
    R = theory.heavy_ball_rate(X / L, G, lam)
    cmap = plt.get_cmap("viridis").with_extremes(bad="#DDDDDD")  # unstable: grey
    im = ax.pcolormesh(x, g, np.ma.masked_where(R >= 1.0, R), cmap=cmap, vmin=0.5,
                       vmax=1.0, shading="auto")
    ax.contour(x, g, R, levels=[1.0], colors=PALETTE["vermillion"], linewidths=1.5)
    opt_lr, opt_m, _ = theory.heavy_ball_optimal(mu, L)
    ax.plot(opt_lr * L, opt_m, "*", color=PALETTE["yellow"], ms=13, mec="black",
            label="optimum")
    if lr is not None:
        ax.plot(lr * L, momentum, "o", color="white", mec="black", ms=8, label="this run",
                clip_on=False)  # momentum 0 sits on the lower edge
    ax.set_xlabel("learning rate $\\times L$")
    ax.set_ylabel("momentum $\\gamma$")
    ax.legend(loc="lower left", fontsize=8)
    return im


def momentum_panels(fn, traj, lr, momentum, axes):
    """Path on the contour map (``axes[0]``) and the rate map (``axes[1]``): drawn by the
    momentum widget and by its kernel-free explorable."""
    contour(fn, axes[0])
    path(axes[0], traj.x, label=f"lr={lr:.3g}, $\\gamma$={momentum:.2f}",
         color=COLORS["momentum"])
    map_legend(axes[0])
    im = rate_map(axes[1], fn.eigenvalues, lr, momentum)
    gap = traj.loss[traj.steps_taken] - fn.min_value
    axes[0].set_title("diverged" if traj.diverged else
                      f"{traj.steps_taken} steps: $f - f^*$ = {gap:.1e}")
    axes[1].set_title("contraction per step (grey: diverges)")
    return im


def race_panels(fn, runs, k, axes):
    """Paths of several optimizers up to step ``k`` on ``axes[0]``, their loss gaps on
    ``axes[1]``. ``runs`` maps a name (a key of :data:`COLORS`, or any label) to a
    trajectory. Drawn by the race widget and by the race animation."""
    contour(fn, axes[0])
    curves = {}
    for i, (name, run) in enumerate(runs.items()):
        c = COLORS.get(name, CYCLE[i % len(CYCLE)])
        path(axes[0], run.x[:k + 1], label=name, color=c)
        curves[name] = run.loss[:k + 1]
    map_legend(axes[0], fontsize=7)
    loss_curves(curves, ax=axes[1], f_min=fn.min_value,
                colors={n: COLORS.get(n, CYCLE[i % len(CYCLE)])
                        for i, n in enumerate(runs)})
    axes[1].set_xlim(0, max(len(r.loss) for r in runs.values()) - 1)
    axes[1].legend(fontsize=7)


#: Why a run of :mod:`optlib.second_order` stopped (its ``status``), in words.
STATUS_WORDS = {
    "converged": "converged",
    "ftol": "converged (f stopped changing)",
    "max_iter": "iteration budget spent",
    "max_evals": "evaluation budget spent",
    "line_search_failed": "line search failed",
    "not_descent": "stopped: Newton's direction goes uphill",
    "singular_hessian": "stopped: the Hessian is singular",
    "non_finite": "stopped: overflow",
}


def second_order_panels(fn, res, axes, label=None, color=None):
    """One run of :mod:`optlib.second_order` (a ``Result``): its path on the contour map
    (``axes[0]``) and ``f - f*`` per iteration with the step lengths (``axes[1]``).
    Drawn by the second-order widget and by its explorable."""
    color = color or COLORS["newton"]
    contour(fn, axes[0])
    outline = [patheffects.withStroke(linewidth=3, foreground=PALETTE["black"])]
    path(axes[0], res.path, label=label, color=color, path_effects=outline)
    map_legend(axes[0])  # the minima are labelled
    if hasattr(fn, "hess") and res.status == "converged":
        if np.linalg.eigvalsh(fn.hess(res.x)).min() < 0:
            axes[0].set_title("stopped where the Hessian has a negative eigenvalue:\n"
                              "a saddle or a maximum, not a minimum",
                              color=PALETTE["vermillion"], fontsize=9)
    gap = res.loss - fn.min_value
    axes[1].semilogy(np.where(gap > 0, gap, np.nan), "o-", ms=3, color=color, label=label)
    axes[1].set_xlabel("iteration $k$")
    axes[1].set_ylabel("$f(x_k) - f^*$")
    axes[1].set_xlim(-0.5, max(1, res.n_iter) + 0.5)  # a run of 0 iterations shows
    short = res.step_size < 1.0
    if short.any():  # steps below 1: for Newton, shortened by its line search
        k = np.flatnonzero(short) + 1
        axes[1].semilogy(k, np.where(gap[k] > 0, gap[k], np.nan), "x", color=PALETTE["black"],
                         label="step < 1")
    if label is not None or short.any():
        axes[1].legend(loc="upper right", fontsize=8)
    words = STATUS_WORDS.get(res.status, res.status)
    axes[1].set_title(f"{words} after {res.n_iter} iterations, "
                      f"{res.n_evals} evaluations", fontsize=9)


def clipping_panels(hist, threshold, axes, label=None, color=None):
    """The gradient norm per step with the clipping threshold (``axes[0]``) and the test
    loss per epoch (``axes[1]``); drawn by the clipping widget and its explorable."""
    color = color or CYCLE[0]
    gn = np.asarray(hist.grad_norm, dtype=float)
    axes[0].semilogy(np.where(np.isfinite(gn) & (gn > 0), gn, np.nan), lw=0.6, color=color)
    if threshold is not None:
        axes[0].axhline(threshold, color=PALETTE["vermillion"], ls="--",
                        label=f"threshold {threshold:g}")
        axes[0].legend(loc="upper right", fontsize=8)
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("gradient norm before clipping")
    loss = np.asarray(hist.test_loss, dtype=float)
    axes[1].semilogy(np.where(np.isfinite(loss), loss, np.nan), "o-", ms=3, color=color,
                     label=label)
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("test loss")
    if hist.diverged:
        axes[1].set_title("diverged", color=PALETTE["vermillion"])


def flow_diagram(labels, ax=None, loop_label=None, colors=None, width=2.2):
    """A left-to-right chain of boxes joined by arrows, with an optional arrow looping back.

    Used for the book's algorithm diagrams: each label is a box, ``loop_label`` names the
    arrow from the last box back to the first. A label is wrapped to its box unless it
    holds a ``$...$`` formula (a wrap could split it): then its own lines are kept.
    """
    if not labels:
        raise ValueError("labels must name at least one box")
    ax = plt.gca() if ax is None else ax
    gap = 0.6
    h = 1.0
    for i, text in enumerate(labels):
        x = i * (width + gap)
        fc = (colors or {}).get(i, "#F2F2F2")
        ax.add_patch(FancyBboxPatch((x, 0), width, h, boxstyle="round,pad=0.05",
                                    fc=fc, ec=PALETTE["black"], lw=1))
        # matplotlib's wrapping would split a $...$ formula: a label with one keeps its lines
        ax.text(x + width / 2, h / 2, text, ha="center", va="center", fontsize=9,
                wrap="$" not in text)
        if i:
            ax.add_patch(FancyArrowPatch((x - gap, h / 2), (x, h / 2), arrowstyle="-|>",
                                         mutation_scale=12, color=PALETTE["black"]))
    right = len(labels) * (width + gap) - gap
    bottom = -0.2
    if loop_label is not None:
        rad = 0.25
        # the arc is a quadratic Bezier curve: it dips rad/2 times its chord below
        depth = 0.5 * rad * (right - width)
        ax.add_patch(FancyArrowPatch((right - width / 2, 0), (width / 2, 0),
                                     connectionstyle=f"arc3,rad={-rad}", arrowstyle="-|>",
                                     mutation_scale=12, color=PALETTE["blue"]))
        ax.text(right / 2, -depth - 0.3, loop_label, ha="center", va="center", fontsize=9,
                color=PALETTE["blue"])
        bottom = -depth - 0.6
    ax.set_xlim(-0.2, right + 0.2)
    ax.set_ylim(bottom, h + 0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax
