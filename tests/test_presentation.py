"""Plotting, the widget and the kernel-free explorables."""

import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

import optlib as ol


@pytest.fixture
def shown(monkeypatch):
    """The figures the widgets show, in order. Headless there is no kernel, so the
    ipywidgets Output widget captures nothing (its outputs stay empty): plt.show records
    the current figure instead."""
    figures = []
    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: figures.append(plt.gcf()))
    return figures


def line(ax, label=None):
    """The (x, y) data of the line of ``ax`` with this label (of its first line if None)."""
    lines = [ln for ln in ax.get_lines() if label is None or ln.get_label() == label]
    assert lines, f"no line labelled {label!r}"
    return lines[0].get_xydata()


def positive(gap):
    """A gap f - f* as the log-scale panels draw it: NaN where it is not positive."""
    return np.where(gap > 0, gap, np.nan)


def test_every_optimizer_has_its_own_colour():
    colours = list(ol.plotting.COLORS.values())
    assert len(set(colours)) == len(colours)
    assert ol.plotting.color("gd") == ol.plotting.PALETTE["blue"]
    optimizers = [cls for cls in vars(ol.optim).values() if isinstance(cls, type)
                  and issubclass(cls, ol.optim.Optimizer) and cls is not ol.optim.Optimizer]
    names = {cls.name for cls in optimizers} | {"nesterov"}  # Momentum(nesterov=True)
    assert len(optimizers) >= 8 and names <= set(ol.plotting.COLORS)  # nadam had none
    with pytest.raises(ValueError, match="name must be one of"):
        ol.plotting.color("sgd-typo")


def test_contour_path_and_loss_curves_draw():
    fn = ol.functions.himmelblau()
    run = ol.trajectory.run(ol.optim.GD(lr=0.01), fn, steps=100)
    fig, axes = plt.subplots(1, 2)
    ol.plotting.path_panels(fn, run, axes, label="gd")
    assert axes[0].get_xlim() == fn.domain[0]
    line = axes[1].get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), run.loss - fn.min_value)
    with pytest.raises(ValueError, match="2-D"):
        ol.plotting.contour(ol.functions.rosenbrock(dim=3))


def test_loss_curves_cut_the_axis_for_a_diverging_run():
    fig, ax = plt.subplots()
    ol.plotting.loss_curves({"ok": [1.0, 0.5, 0.1], "bad": [1.0, 1e10, 1e200]}, ax=ax)
    assert ax.get_ylim()[1] == pytest.approx(1e3)


def test_loss_curves_without_f_min_plot_the_losses_themselves():
    fig, ax = plt.subplots()
    ol.plotting.loss_curves({"a": [3.0, 2.0, 1.0]}, ax=ax, f_min=None)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [3.0, 2.0, 1.0])
    assert ax.get_ylabel() == "loss"
    with pytest.raises(TypeError, match="f_min must be a real number"):
        ol.plotting.loss_curves({"a": [1.0]}, ax=ax, f_min="0")
    plt.close(fig)


def test_flow_diagram_keeps_a_formulas_lines_and_map_legends_are_framed():
    """matplotlib's wrapping split chapter 6's '$s_k^T y_k > eps y_k^T y_k$' across two
    lines, each with one '$': the reader saw raw TeX. A label with a formula keeps the
    lines it was given."""
    fig, ax = plt.subplots()
    ol.plotting.flow_diagram(["plain words that may wrap", "keep if\n$s^T y > 0$"], ax=ax)
    wraps = {t.get_text(): t.get_wrap() for t in ax.texts}
    assert wraps == {"plain words that may wrap": True, "keep if\n$s^T y > 0$": False}
    ax.plot([0, 1], label="a path")
    with plt.rc_context({"legend.frameon": False}):  # the book's style: no frames
        legend = ol.plotting.map_legend(ax)
    assert legend.get_frame_on() and legend.get_frame().get_alpha() == 0.8
    plt.close(fig)


def test_flow_diagram_has_a_box_per_label_and_rejects_none():
    fig, ax = plt.subplots()
    ol.plotting.flow_diagram(["a", "b", "c"], ax=ax, loop_label="again")
    assert [t.get_text() for t in ax.texts] == ["a", "b", "c", "again"]
    with pytest.raises(ValueError, match="labels"):
        ol.plotting.flow_diagram([])


@pytest.mark.parametrize("n_boxes", [2, 4, 6])
def test_flow_diagram_shows_the_whole_loop_arrow(n_boxes):
    fig, ax = plt.subplots(figsize=(10, 3))
    ol.plotting.flow_diagram(list("abcdef")[:n_boxes], ax=ax, loop_label="again")
    fig.canvas.draw()
    lowest = ax.patches[-1].get_path().get_extents().y0      # data coordinates
    assert ax.get_ylim()[0] <= lowest                        # not cut off below
    plt.close(fig)


def test_explorable_has_one_frame_per_rate_and_stays_within_budget():
    lrs = [0.1, 0.5, 1.0, 2.1]
    e = ol.explorables.lr_sweep(ol.functions.quadratic(cond=10.0), lrs, steps=30)
    assert e.n_frames == 4
    assert e.nbytes < ol.explorables.BUDGET_BYTES
    assert 'type="range"' in e.html                         # the slider
    assert len(re.findall(r"data:image/png;base64", e.html)) == 4  # one picture each
    assert e._repr_html_() is e.html


def test_explorable_player_needs_no_network_and_keeps_its_buttons():
    e = ol.explorables.lr_sweep(ol.functions.quadratic(cond=10.0), [0.1, 1.0],
                                steps=10)
    assert "font-awesome" not in e.html and "fa-" not in e.html
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", e.html)   # nothing fetched
    button = (r'<button title="([^"]+)"[^>]*onclick="anim\w+\.(\w+)\(\)">\s*'
              r'<span aria-hidden="true">([^<]+)</span></button>')
    buttons = re.findall(button, e.html)
    assert len(buttons) == 9
    assert ("Play", "play_animation", "\u25b6\ufe0e") in buttons
    assert len({label for _, _, label in buttons}) == 9     # every button told apart
    with pytest.raises(RuntimeError, match="BUTTON_LABELS"):
        ol.explorables.offline_player(e.html.replace("<span", "<i", 1))


def test_explorable_frames_are_palette_pngs_at_the_dpi_asked_for(monkeypatch):
    import base64
    import io

    from PIL import Image

    e = ol.explorables.lr_sweep(ol.functions.quadratic(cond=10.0), [0.1, 1.0],
                                steps=10, dpi=40)
    frames = re.findall(r'data:image/png;base64,([^"]+)"', e.html)
    images = [Image.open(io.BytesIO(base64.b64decode(f))) for f in frames]
    assert len(images) == 2
    assert all(im.mode == "P" and im.size == (9 * 40, int(3.8 * 40)) for im in images)
    monkeypatch.setattr(ol.explorables, "BUDGET_BYTES", 10_000)
    with pytest.raises(ValueError, match="over the budget"):
        ol.explorables.lr_sweep(ol.functions.quadratic(cond=10.0), [0.1, 1.0], steps=10)


@pytest.mark.parametrize("kwargs, exc, words", [
    (dict(fn=ol.functions.rosenbrock(dim=3), lrs=[0.1, 0.2]), TypeError, "2-D"),
    (dict(fn=ol.functions.beale(), lrs=[0.1]), ValueError, "2 to 40"),
    (dict(fn=ol.functions.beale(), lrs=[0.1, -1.0]), ValueError, r"lrs\[1\]"),
    (dict(fn=ol.functions.beale(), lrs=[0.1, 0.2], dpi=5), ValueError, "dpi"),
])
def test_explorable_bad_input(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        ol.explorables.lr_sweep(**kwargs)


def test_widget_builds_and_redraws(shown):
    pytest.importorskip("ipywidgets")
    box = ol.widgets.lr_explorer(landscape="rosenbrock", lr=1e-3, steps=50)
    slider = box.children[1].children[0]
    assert slider.description == "log10 lr" and slider.value == pytest.approx(-3.0)
    slider.value = -3.5
    assert len(shown) == 2  # one figure when built, one for the change
    fn = ol.functions.rosenbrock()
    run = ol.trajectory.run(ol.optim.GD(lr=10.0**-3.5), fn, fn.x0, steps=50)
    assert not run.diverged
    path_ax, loss_ax = shown[-1].axes
    np.testing.assert_array_equal(line(path_ax, "lr = 0.000316"), run.x)
    np.testing.assert_array_equal(line(loss_ax)[:, 1], positive(run.loss - fn.min_value))
    with pytest.raises(ValueError, match="landscape must be one of"):
        ol.widgets.lr_explorer(landscape="sphere")
    with pytest.raises(ValueError, match=r"lr must be in \[1e-05"):
        ol.widgets.lr_explorer(lr=0.0)
    with pytest.raises(ValueError, match="steps must be an integer in"):
        ol.widgets.lr_explorer(steps=1)


def test_schedule_gallery_shows_every_schedule_within_budget():
    e = ol.explorables.schedule_gallery(epochs=3)
    assert e.n_frames == len(ol.explorables.SCHEDULE_CHOICES)
    assert e.nbytes < ol.explorables.BUDGET_BYTES


def test_digits_run_uses_the_schedule_it_names():
    lr, hist = ol.explorables.digits_run("step decay", peak=0.5, period_epochs=1, epochs=3)
    per_epoch = len(lr) // 3
    np.testing.assert_allclose(lr, ol.schedules.step_decay(0.5, per_epoch, 0.3)(np.arange(len(lr))))
    assert hist.train_loss[-1] < hist.train_loss[0]
    with pytest.raises(ValueError, match="schedule_name must be one of"):
        ol.explorables.digits_run("linear", 0.5, 1)


def test_schedule_widget_builds_and_redraws(shown):
    pytest.importorskip("ipywidgets")
    box = ol.widgets.schedule_explorer(schedule="one-cycle", epochs=3)
    dropdown, log_peak = box.children[0].children[:2]
    dropdown.value = "cosine restarts"
    assert len(shown) == 2
    lr, hist = ol.explorables.digits_run("cosine restarts", 10.0**log_peak.value, 2, 3)
    lr_ax, loss_ax = shown[-1].axes
    np.testing.assert_array_equal(line(lr_ax, "cosine restarts")[:, 1], lr)
    np.testing.assert_array_equal(line(loss_ax, "cosine restarts")[:, 1], hist.train_loss)
    assert shown[-1].get_suptitle().startswith("cosine restarts: test accuracy")
    with pytest.raises(ValueError, match="peak must be in"):
        ol.widgets.schedule_explorer(peak=0.0)


def test_momentum_grid_has_a_frame_per_setting_within_budget():
    e = ol.explorables.momentum_grid()           # the defaults, as chapter 3 calls it
    assert e.n_frames == 9
    assert e.nbytes < ol.explorables.BUDGET_BYTES
    with pytest.raises(ValueError, match="momentum must be in"):
        ol.explorables.momentum_grid(momenta=(1.0,))


def test_rate_map_marks_the_optimum_where_theory_puts_it():
    fig, ax = plt.subplots()
    ol.plotting.rate_map(ax, [0.02, 1.0], lr=0.5, momentum=0.3)
    star = [ln for ln in ax.get_lines() if ln.get_label() == "optimum"][0]
    lr, m, _ = ol.theory.heavy_ball_optimal(0.02, 1.0)
    assert star.get_xdata()[0] == pytest.approx(lr * 1.0)
    assert star.get_ydata()[0] == pytest.approx(m)


def test_momentum_widget_builds_and_redraws(shown):
    pytest.importorskip("ipywidgets")
    box = ol.widgets.momentum_explorer(steps=20)
    box.children[0].children[1].value = 0.5
    assert len(shown) == 2
    fn = ol.functions.quadratic(cond=50.0, angle=0.5)
    run = ol.trajectory.run(ol.optim.HeavyBall(1.0 / fn.L, 0.5), fn, steps=20)
    path_ax, map_ax = shown[-1].axes[:2]
    label = f"lr={1.0 / fn.L:.3g}, $\\gamma$=0.50"
    np.testing.assert_array_equal(line(path_ax, label), run.x)
    np.testing.assert_allclose(line(map_ax, "this run"), [[1.0, 0.5]])  # lr x L, momentum
    with pytest.raises(ValueError, match="momentum must be in"):
        ol.widgets.momentum_explorer(momentum=1.5)


def test_race_animation_and_runs():
    fn = ol.functions.beale()
    lrs = {"gd": 1e-2, "adam": 0.1}
    runs = ol.explorables.race_runs(fn, lrs, steps=50)
    assert set(runs) == set(lrs) and all(len(r.loss) == 51 for r in runs.values())
    e = ol.explorables.race(ol.functions.rosenbrock(),   # six racers, as in chapter 5
                            {n: 1e-3 for n in ol.explorables.RACERS}, steps=2000)
    assert e.n_frames == 15 and e.nbytes < ol.explorables.BUDGET_BYTES
    with pytest.raises(ValueError, match="racer must be one of"):
        ol.explorables.race_runs(fn, {"sgd": 0.1}, 10)


def test_race_widget_builds_and_redraws(shown):
    pytest.importorskip("ipywidgets")
    box = ol.widgets.race_explorer({"gd": 1e-3, "adam": 1e-2}, steps=50)
    box.children[0].children[1].value = -2.5  # gd's rate
    assert len(shown) == 2
    fn = ol.functions.rosenbrock()
    runs = ol.explorables.race_runs(fn, {"gd": 10.0**-2.5, "adam": 10.0**-2}, 50)
    path_ax, loss_ax = shown[-1].axes
    for name, run in runs.items():
        np.testing.assert_array_equal(line(path_ax, name), run.x)
        np.testing.assert_array_equal(line(loss_ax, name)[:, 1],
                                      positive(run.loss - fn.min_value))
    with pytest.raises(ValueError, match="racer must be one of"):
        ol.widgets.race_explorer({"lion": 1e-3})


def test_clipping_thresholds_reuses_given_runs_within_budget():
    runs = [ol.explorables.adding_run(t, epochs=2) for t in (None, 1.0)]
    e = ol.explorables.clipping_thresholds((None, 1.0), runs=runs)
    assert e.n_frames == 2 and e.nbytes < ol.explorables.BUDGET_BYTES
    assert np.all(runs[1].grad_norm[np.isfinite(runs[1].grad_norm)] >= 0)
    with pytest.raises(ValueError, match="one History per threshold"):
        ol.explorables.clipping_thresholds((None, 1.0, 0.1), runs=runs)
    e = ol.explorables.clipping_thresholds((None, 1.0), runs=iter(runs))  # used up once
    assert e.n_frames == 2
    for bad, words in ((runs[0], "got one"), ([1, 2], "runs must hold Histories"),
                       ({None: runs[0], 1.0: runs[1]}, "runs must be a list of")):
        with pytest.raises(TypeError, match=words):
            ol.explorables.clipping_thresholds((None, 1.0), runs=bad)


def test_widgets_that_train_a_network_redraw_only_where_a_slider_is_released():
    pytest.importorskip("ipywidgets")
    import ipywidgets

    boxes = [ol.widgets.schedule_explorer(epochs=2), ol.widgets.clipping_explorer(epochs=1),
             ol.widgets.recipe_explorer(epochs=1)]
    sliders = [c for box in boxes for row in box.children[:1] for c in row.children
               if isinstance(c, (ipywidgets.FloatSlider, ipywidgets.IntSlider))]
    assert len(sliders) == 4 and not any(s.continuous_update for s in sliders)
    # the landscape widgets redraw while dragging: their runs take well under a millisecond
    assert ol.widgets.lr_explorer(steps=20).children[1].children[0].continuous_update


def test_clipping_widget_builds_and_redraws(shown):
    pytest.importorskip("ipywidgets")
    box = ol.widgets.clipping_explorer(epochs=1)
    assert line(shown[0].axes[0], "threshold 0.316228")[0, 1] == 10.0**-0.5
    box.children[0].children[1].value = True       # no clipping
    assert len(shown) == 2
    hist = ol.explorables.adding_run(None, epochs=1)
    norm_ax, loss_ax = shown[-1].axes
    assert len(norm_ax.get_lines()) == 1            # the trace, no threshold line
    np.testing.assert_array_equal(line(norm_ax)[:, 1], hist.grad_norm)
    np.testing.assert_array_equal(line(loss_ax)[:, 1], hist.test_loss)
    with pytest.raises(ValueError, match="log_threshold must be in"):
        ol.widgets.clipping_explorer(log_threshold=5.0)


def test_second_order_gallery_frames_within_budget():
    e = ol.explorables.second_order_gallery()      # the defaults, as chapter 6 calls it
    assert e.n_frames == len(ol.explorables.second_order_cases()) == 15
    assert e.nbytes < ol.explorables.BUDGET_BYTES
    with pytest.raises(ValueError, match="2 to 40"):
        ol.explorables.second_order_gallery(ol.explorables.second_order_cases()[:1])
    with pytest.raises(ValueError, match="method must be one of"):
        ol.explorables.second_order_run(ol.functions.beale(), "BFGS")


def test_second_order_run_matches_the_library_call():
    fn = ol.functions.himmelblau()
    res = ol.explorables.second_order_run(fn, "Newton (damped)", [0.0, 0.0])
    assert res.status == "not_descent" and res.n_iter == 0
    res = ol.explorables.second_order_run(fn, "L-BFGS", [0.0, 0.0], m=3)
    ref = ol.second_order.lbfgs(fn, [0.0, 0.0], m=3, gtol=1e-8, ftol=0.0, max_iter=300)
    np.testing.assert_array_equal(res.path, ref.path)


def test_second_order_panels_mark_short_steps():
    fn = ol.functions.rosenbrock()
    res = ol.second_order.newton(fn, method="damped")
    fig, axes = plt.subplots(1, 2)
    ol.plotting.second_order_panels(fn, res, axes, label="damped")
    marks = [ln for ln in axes[1].get_lines() if ln.get_label() == "step < 1"][0]
    assert len(marks.get_xdata()) == np.sum(res.step_size < 1) > 0
    assert "converged" in axes[1].get_title()
    plt.close(fig)


def test_second_order_widget_builds_and_redraws(shown):
    pytest.importorskip("ipywidgets")
    box = ol.widgets.second_order_explorer()
    box.children[0].children[1].value = "L-BFGS"
    box.children[0].children[2].value = 2
    assert len(shown) == 3
    fn = ol.functions.himmelblau()
    res = ol.explorables.second_order_run(fn, "L-BFGS", [0.0, 0.0], m=2)
    assert not np.array_equal(res.path, ol.explorables.second_order_run(
        fn, "L-BFGS", [0.0, 0.0], m=5).path)       # the memory slider changed the run
    path_ax, gap_ax = shown[-1].axes
    np.testing.assert_array_equal(line(path_ax, "L-BFGS"), res.path)
    np.testing.assert_array_equal(line(gap_ax, "L-BFGS")[:, 1],
                                  positive(res.loss - fn.min_value))
    with pytest.raises(ValueError, match="m must be an integer in"):
        ol.widgets.second_order_explorer(m=0)


def test_second_order_panels_flag_a_stationary_point_that_is_no_minimum():
    fn = ol.functions.himmelblau()
    res = ol.second_order.newton(fn, method="pure")   # climbs to the maximum
    fig, axes = plt.subplots(1, 2)
    ol.plotting.second_order_panels(fn, res, axes)
    assert "not a minimum" in axes[0].get_title()
    plt.close(fig)
    fig, axes = plt.subplots(1, 2)
    ol.plotting.second_order_panels(fn, ol.second_order.newton(fn), axes)
    assert axes[0].get_title() == ""
    plt.close(fig)


def test_recipe_gallery_has_a_frame_per_recipe_within_budget():
    runs = {name: ol.explorables.recipe_run(name, lrs[2], epochs=2)
            for name, lrs in ol.explorables.RECIPE_LRS.items()}   # the five, as chapter 7
    e = ol.explorables.recipe_gallery(runs)
    assert e.n_frames == 5 and e.nbytes < ol.explorables.BUDGET_BYTES
    with pytest.raises(ValueError, match="name must be one of"):
        ol.explorables.recipe_gallery({"sgd": runs["sgd"], "lion": runs["sgd"]})
    with pytest.raises(ValueError, match="2 to 24"):
        ol.explorables.recipe_gallery({"sgd": runs["sgd"]})
    by_rate = {(name, lr): ol.explorables.recipe_run(name, lr, epochs=2)
               for name in ("sgd", "adamw + warmup + cosine")
               for lr in ol.explorables.RECIPE_LRS[name][::2]}  # 3 rates each
    e = ol.explorables.recipe_gallery(by_rate)
    assert e.n_frames == 6 and e.nbytes < ol.explorables.BUDGET_BYTES
    with pytest.raises(ValueError, match="lr must be"):
        ol.explorables.recipe_gallery({("sgd", 0.0): runs["sgd"], "adam": runs["sgd"]})
    with pytest.raises(ValueError, match=r"\(name, lr\) pairs, got \('sgd',\)"):
        ol.explorables.recipe_gallery({("sgd",): runs["sgd"], "sgd": runs["sgd"]})
    with pytest.raises(TypeError, match="runs must map recipe names"):
        ol.explorables.recipe_gallery(list(runs.values()))


def test_recipe_run_trains_with_the_named_chain():
    hist = ol.explorables.recipe_run("adamw + warmup + cosine", 3e-3, epochs=2)
    total = len(hist.lr)
    np.testing.assert_allclose(hist.lr, ol.schedules.warmup_cosine(3e-3, total // 20, total)(
        np.arange(total)))
    assert hist.train_loss[-1] < 0.5 * hist.train_loss[0]
    assert len(hist.state.links) == 4 and hist.state.links[0].norm > 0
    with pytest.raises(ValueError, match="name must be one of"):
        ol.explorables.recipe_run("adam", 1e-3)


def test_recipe_widget_builds_and_redraws(shown):
    pytest.importorskip("ipywidgets")
    box = ol.widgets.recipe_explorer(epochs=1)
    menu, log_lr = box.children[0].children
    menu.value = "sgd"
    assert len(shown) == 2
    hist = ol.explorables.recipe_run("sgd", 10.0**log_lr.value, epochs=1)
    lr_ax, loss_ax = shown[-1].axes
    np.testing.assert_array_equal(line(lr_ax, "sgd")[:, 1], hist.lr)
    np.testing.assert_array_equal(line(loss_ax, "sgd")[:, 1], hist.train_loss)
    assert shown[-1].get_suptitle().startswith("sgd: test accuracy")
    with pytest.raises(ValueError, match="recipe must be one of"):
        ol.widgets.recipe_explorer(recipe="lion")


def test_adding_run_from_given_params_trains_a_copy_and_matches_the_default_start():
    w0 = ol.models.RNN(2, 32, 1, init_scale=1.2).init(seed=1)
    keep = w0.copy()
    given = ol.explorables.adding_run(0.3, epochs=1, seed=1, params=w0)
    default = ol.explorables.adding_run(0.3, epochs=1, seed=1)
    np.testing.assert_array_equal(w0, keep)  # the caller's array is not trained
    np.testing.assert_array_equal(given.step_loss, default.step_loss)
    w1 = w0.copy()
    w1[0] = np.nextafter(w1[0], np.inf)
    moved = ol.explorables.adding_run(0.3, epochs=1, seed=1, params=w1)
    assert not np.array_equal(moved.step_loss, default.step_loss)
    with pytest.raises(ValueError, match="params must have shape"):
        ol.explorables.adding_run(0.3, epochs=1, params=np.zeros(5))
