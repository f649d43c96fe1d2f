"""Interactive ipywidgets for a running notebook (ipywidgets is imported lazily).

A widget needs a live kernel. Each builder here has a kernel-free counterpart in
:mod:`optlib.explorables`, drawn by the same plotting code, for the HTML book.

The widgets that train a network on every change (schedule, clipping, recipe) take
tens to hundreds of milliseconds per change (``benchmarks/run.py`` measures it), so
their sliders report only where they are released (``continuous_update=False``): a drag
trains once, not once per position it passes.
"""

import matplotlib.pyplot as plt
import numpy as np

from . import _validate as v
from . import explorables, functions, optim, plotting, trajectory

LANDSCAPES = ("quadratic", "rosenbrock", "beale", "himmelblau", "booth", "saddle",
              "six_hump_camel")


def _ipywidgets():
    try:
        import ipywidgets
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("optlib.widgets needs ipywidgets: pip install ipywidgets") from None
    return ipywidgets


def lr_explorer(landscape="quadratic", lr=0.1, steps=100):
    """Sliders for the learning rate, the start point and the landscape; redraws the run.

    Returns the widget (display it as the last expression of a cell). Each change runs
    ``steps`` steps of gradient descent through the jitted trajectory kernel.
    """
    v.choice("landscape", landscape, LANDSCAPES)
    lr = v.real("lr", lr, low=1e-5, high=10**0.5)
    steps = v.integer("steps", steps, low=10, high=5000)
    w = _ipywidgets()
    fn0 = functions.get(landscape)
    controls = {
        "landscape": w.Dropdown(options=LANDSCAPES, value=landscape, description="landscape"),
        "log_lr": w.FloatSlider(value=float(np.log10(lr)), min=-5.0, max=0.5, step=0.05,
                                description="log10 lr"),
        "x1": w.FloatSlider(value=float(fn0.x0[0]), min=-4.5, max=4.5, step=0.1,
                            description="start x1"),
        "x2": w.FloatSlider(value=float(fn0.x0[1]), min=-4.5, max=4.5, step=0.1,
                            description="start x2"),
        "steps": w.IntSlider(value=steps, min=10, max=5000, step=10, description="steps"),
    }

    def draw(landscape, log_lr, x1, x2, steps):
        fn = functions.get(landscape)
        traj = trajectory.run(optim.GD(lr=10.0**log_lr), fn, [x1, x2], steps=steps)
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
        plotting.path_panels(fn, traj, axes, label=f"lr = {10.0**log_lr:.3g}",
                             color=plotting.color("gd"))
        fig.suptitle(f"Gradient descent on {landscape}")
        fig.tight_layout()
        plt.show()

    out = w.interactive_output(draw, controls)
    return w.VBox([w.HBox([controls["landscape"], controls["steps"]]),
                   w.HBox([controls["log_lr"], controls["x1"], controls["x2"]]), out])


def schedule_explorer(schedule="cosine", peak=0.5, period_epochs=2, epochs=10):
    """Pick a schedule, its peak rate and period; see the rate and the digits MLP's loss.

    Each change trains the 64-16-10 network on the digits for ``epochs`` epochs (tens of
    milliseconds).
    """
    v.choice("schedule", schedule, tuple(explorables.SCHEDULE_CHOICES))
    peak = v.real("peak", peak, low=1e-3, high=10.0)
    period_epochs = v.integer("period_epochs", period_epochs, low=1, high=epochs)
    epochs = v.integer("epochs", epochs, low=2, high=50)
    w = _ipywidgets()
    controls = {
        "name": w.Dropdown(options=tuple(explorables.SCHEDULE_CHOICES), value=schedule,
                           description="schedule"),
        "log_peak": w.FloatSlider(value=float(np.log10(peak)), min=-3.0, max=1.0, step=0.1,
                                  description="log10 peak", continuous_update=False),
        "period": w.IntSlider(value=period_epochs, min=1, max=epochs,
                              description="period (ep.)", continuous_update=False),
    }

    def draw(name, log_peak, period):
        lr, hist = explorables.digits_run(name, 10.0**log_peak, period, epochs)
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
        plotting.schedule_panels(axes, lr, hist.train_loss, label=name)
        fig.suptitle(f"{name}: test accuracy {hist.test_accuracy[-1]:.3f}")
        fig.tight_layout()
        plt.show()

    out = w.interactive_output(draw, controls)
    return w.VBox([w.HBox(list(controls.values())), out])


def momentum_explorer(cond=50.0, lr_times_L=1.0, momentum=0.8, steps=100):
    """Sliders for the learning rate (in units of 1/L) and the momentum; redraws the
    heavy ball's path on a rotated quadratic and its place on the rate map."""
    cond = v.real("cond", cond, low=1.0, high=1e4)
    lr_times_L = v.real("lr_times_L", lr_times_L, low=0.01, high=4.2)
    momentum = v.real("momentum", momentum, low=0.0, high=0.99)
    steps = v.integer("steps", steps, low=10, high=5000)
    w = _ipywidgets()
    fn = functions.quadratic(cond=cond, angle=0.5)
    controls = {
        "a": w.FloatSlider(value=lr_times_L, min=0.01, max=4.2, step=0.01,
                           description="lr x L"),
        "m": w.FloatSlider(value=momentum, min=0.0, max=0.99, step=0.01,
                           description="momentum"),
    }

    def draw(a, m):
        traj = trajectory.run(optim.HeavyBall(a / fn.L, m), fn, steps=steps)
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
        im = plotting.momentum_panels(fn, traj, a / fn.L, m, axes)
        fig.colorbar(im, ax=axes[1])
        fig.tight_layout()
        plt.show()

    out = w.interactive_output(draw, controls)
    return w.VBox([w.HBox(list(controls.values())), out])


def race_explorer(lrs, landscape="rosenbrock", steps=1000):
    """The optimizer race with a log-scale learning-rate slider per optimizer.

    ``lrs`` maps racer names (see ``optlib.explorables.RACERS``) to starting rates.
    """
    v.choice("landscape", landscape, LANDSCAPES)
    steps = v.integer("steps", steps, low=10, high=20000)
    for name, lr in lrs.items():
        v.choice("racer", name, tuple(explorables.RACERS))
        v.positive(f"lrs[{name!r}]", lr)
    w = _ipywidgets()
    controls = {"landscape": w.Dropdown(options=LANDSCAPES, value=landscape,
                                        description="landscape")}
    for name, lr in lrs.items():
        controls[name] = w.FloatSlider(value=float(np.log10(lr)), min=-6.0, max=1.0,
                                       step=0.1, description=f"log10 lr {name}")

    def draw(landscape, **log_lrs):
        fn = functions.get(landscape)
        runs = explorables.race_runs(fn, {n: 10.0**x for n, x in log_lrs.items()}, steps)
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
        plotting.race_panels(fn, runs, steps, axes)
        fig.tight_layout()
        plt.show()

    out = w.interactive_output(draw, controls)
    sliders = list(controls.values())
    return w.VBox([w.HBox(sliders[:3]), w.HBox(sliders[3:]), out])


def clipping_explorer(log_threshold=-0.5, epochs=10):
    """A threshold slider (log10 of the threshold) and a "no clipping" box for the RNN on
    the adding problem; redraws the gradient-norm trace and the test loss of an
    ``epochs``-epoch run (:func:`optlib.explorables.adding_run`)."""
    log_threshold = v.real("log_threshold", log_threshold, low=-2.0, high=1.5)
    epochs = v.integer("epochs", epochs, low=1, high=50)
    w = _ipywidgets()
    slider = w.FloatSlider(value=log_threshold, min=-2.0, max=1.5, step=0.1,
                           description="log10 clip", continuous_update=False)
    off = w.Checkbox(value=False, description="no clipping")

    def draw(log_t, no_clip):
        threshold = None if no_clip else 10.0**log_t
        hist = explorables.adding_run(threshold, epochs=epochs, full_train_loss=False)
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
        plotting.clipping_panels(hist, threshold, axes)
        fig.tight_layout()
        plt.show()

    out = w.interactive_output(draw, {"log_t": slider, "no_clip": off})
    return w.VBox([w.HBox([slider, off]), out])


def second_order_explorer(landscape="himmelblau", method="Newton (modified)", m=5,
                          x0=(0.0, 0.0)):
    """Pick a landscape, a start, Newton's variant (pure, damped, modified) or L-BFGS and
    its memory m; redraws the path and the convergence of the run."""
    v.choice("landscape", landscape, LANDSCAPES)
    v.choice("method", method, explorables.SECOND_ORDER_CHOICES)
    m = v.integer("m", m, low=1, high=20)
    x0 = v.float_array("x0", x0, shape=(2,), copy=True)
    w = _ipywidgets()
    controls = {
        "landscape": w.Dropdown(options=LANDSCAPES, value=landscape, description="landscape"),
        "method": w.Dropdown(options=explorables.SECOND_ORDER_CHOICES, value=method,
                             description="method"),
        "m": w.IntSlider(value=m, min=1, max=20, description="memory m"),
        "x1": w.FloatSlider(value=float(x0[0]), min=-4.5, max=4.5, step=0.1,
                            description="start x1"),
        "x2": w.FloatSlider(value=float(x0[1]), min=-4.5, max=4.5, step=0.1,
                            description="start x2"),
    }

    def draw(landscape, method, m, x1, x2):
        fn = functions.get(landscape)
        res = explorables.second_order_run(fn, method, [x1, x2], m)
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
        lbfgs = method == "L-BFGS"
        plotting.second_order_panels(fn, res, axes, label=method,
                                     color=plotting.color("lbfgs" if lbfgs else "newton"))
        fig.tight_layout()
        plt.show()

    out = w.interactive_output(draw, controls)
    sliders = list(controls.values())
    return w.VBox([w.HBox(sliders[:3]), w.HBox(sliders[3:]), out])


def recipe_explorer(recipe="adamw + warmup + cosine", lr=3e-3, epochs=5):
    """A recipe menu (chapter 7's ladder) and a log-scale peak-rate slider; trains the
    digits MLP and redraws its learning rate and training loss."""
    v.choice("recipe", recipe, tuple(explorables.RECIPES))
    lr = v.real("lr", lr, low=1e-4, high=10.0)
    epochs = v.integer("epochs", epochs, low=1, high=30)
    w = _ipywidgets()
    menu = w.Dropdown(options=list(explorables.RECIPES), value=recipe, description="recipe")
    slider = w.FloatSlider(value=float(np.log10(lr)), min=-4.0, max=1.0, step=0.1,
                           description="log10 lr", continuous_update=False)

    def draw(name, log_lr):
        hist = explorables.recipe_run(name, 10.0**log_lr, epochs=epochs)
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
        plotting.schedule_panels(axes, hist.lr, hist.train_loss, label=name)
        fig.suptitle(f"{name}: test accuracy {hist.test_accuracy[-1]:.3f}")
        fig.tight_layout()
        plt.show()

    out = w.interactive_output(draw, {"name": menu, "log_lr": slider})
    return w.VBox([w.HBox([menu, slider]), out])
