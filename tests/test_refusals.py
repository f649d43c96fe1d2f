"""Input that used to be accepted silently, or refused with a raw traceback or after
changing something, found by a review of the public API. Each is now refused by name,
before anything changes."""

import numpy as np
import pytest

import optlib as ol

C, O, S = ol.chain, ol.optim, ol.schedules


def read_only(arr):
    arr = np.array(arr, dtype=float)
    arr.flags.writeable = False
    return arr


def gd_state():
    return O.GD(0.1).init(np.zeros(2))


# --- arrays updated in place must be writeable NumPy arrays ----------------------------

def decay_chain():
    return C.chain(C.add_decayed_weights(0.1), C.scale_by_learning_rate(0.1))


@pytest.mark.parametrize("call, words", [
    (lambda: O.GD(0.1).step([1.0, 2.0], np.ones(2), gd_state()), "params is updated in place"),
    (lambda: O.GD(0.1).step(read_only([1.0, 2.0]), np.ones(2), gd_state()), "read-only"),
    (lambda: decay_chain().step([1.0, 2.0], np.ones(2), decay_chain().init(np.ones(2))),
     "params is updated in place"),
    (lambda: C.apply_updates([1.0, 2.0], np.ones(2)), "params is updated in place"),
    (lambda: C.apply_updates(read_only([1.0, 2.0]), np.ones(2)), "read-only"),
    (lambda: ol.precision.DynamicLossScaler().unscale([1.0, 2.0]), "grads is updated in place"),
], ids=["step-list", "step-read-only", "chain-list", "apply-list", "apply-read-only",
        "unscale-list"])
def test_an_array_updated_in_place_must_be_a_writeable_ndarray(call, words):
    with pytest.raises((TypeError, ValueError), match=words):
        call()


def test_fit_refuses_a_list_of_params_it_could_not_update():
    data = ol.datasets.synthetic_regression(n=40, dim=2, seed=0)
    model = ol.models.LinearRegression(2)
    with pytest.raises(TypeError, match="params is updated in place"):
        ol.models.fit(model, O.GD(0.1), [0.0] * model.n_params, data, epochs=1)


def test_a_read_only_state_array_is_refused_by_name():
    opt, w = O.Momentum(0.1, 0.9), np.ones(2)
    state = opt.init(w)
    state.velocity.flags.writeable = False
    with pytest.raises(ValueError, match="state.velocity is updated in place but is "
                                         "read-only"):
        opt.step(w, np.ones(2), state)
    np.testing.assert_array_equal(w, 1.0)


# --- a refused chain step changes nothing ------------------------------------------------

def test_a_chain_without_the_params_it_needs_refuses_before_any_link_runs():
    opt = C.chain(C.scale_by_adam(), C.add_decayed_weights(0.01),
                  C.scale_by_learning_rate(1e-3))
    state = opt.init(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="add_decayed_weights needs params"):
        opt.update(np.ones(2), state)
    np.testing.assert_array_equal(state.links[0].exp_avg, 0.0)  # the moments did not move
    np.testing.assert_array_equal(state.links[0].exp_avg_sq, 0.0)


@pytest.mark.parametrize("last, words", [
    (lambda: C.scale_by_learning_rate(lambda k: -0.1), "finite values >= 0"),
    (lambda: C.scale_by_schedule(lambda k: np.array([1.0, 2.0])), "one number for a step"),
    (lambda: C.scale_by_schedule(lambda k: float("nan")), "finite values"),
], ids=["negative-lr", "array-factor", "nan-factor"])
def test_a_schedule_refused_at_this_step_leaves_the_earlier_links_untouched(last, words):
    opt = C.chain(C.trace(0.9), last())
    w = np.array([1.0, 2.0])
    state = opt.init(w)
    with pytest.raises((TypeError, ValueError), match=words):
        opt.step(w, np.ones(2), state)
    np.testing.assert_array_equal(state.links[0].trace, 0.0)
    np.testing.assert_array_equal(w, [1.0, 2.0])


def test_a_chain_asks_a_python_rate_once_per_step():
    calls = []

    def rate(k):
        calls.append(k)
        return 0.1

    opt = C.chain(C.trace(0.9), C.scale_by_learning_rate(rate))
    w = np.ones(2)
    state = opt.init(w)
    for _ in range(3):
        state = opt.step(w, np.ones(2), state)
    ol.precision.DynamicLossScaler(init_scale=2.0).step(opt, w, np.ones(2), state)
    assert calls == [0, 1, 2, 3]


def test_the_loss_scaler_leaves_grads_scaled_when_the_step_is_refused():
    scaler, opt = ol.precision.DynamicLossScaler(init_scale=4.0), O.GD(lambda k: -0.1)
    w, grads = np.zeros(2, dtype=np.float32), np.array([8.0, 16.0], dtype=np.float32)
    with pytest.raises(ValueError, match="lr schedule must give finite values >= 0"):
        scaler.step(opt, w, grads, opt.init(w))
    np.testing.assert_array_equal(grads, [8.0, 16.0])
    np.testing.assert_array_equal(w, 0.0)
    ok = O.GD(0.5)
    state, skipped = scaler.step(ok, w, grads, ok.init(w))  # and a good step unscales
    assert not skipped and state.step == 1
    np.testing.assert_array_equal(grads, [2.0, 4.0])
    np.testing.assert_array_equal(w, [-1.0, -2.0])


def test_the_loss_scaler_checks_the_step_before_unscaling():
    scaler, opt = ol.precision.DynamicLossScaler(), O.GD(0.1)
    grads = np.array([65536.0, 131072.0], dtype=np.float32)
    w = np.zeros(3, dtype=np.float32)
    with pytest.raises(ValueError, match="grads must have the shape of params"):
        scaler.step(opt, w, grads, opt.init(w))
    np.testing.assert_array_equal(grads, [65536.0, 131072.0])  # still scaled


# --- values that were read by their truth value or not validated -----------------------

@pytest.mark.parametrize("call, exc, words", [
    (lambda: O.Momentum(0.1, 0.9, nesterov="no"), TypeError, "nesterov must be True or False"),
    (lambda: O.Adam(amsgrad="False"), TypeError, "amsgrad must be True or False"),
    (lambda: O.RMSprop(centered=1), TypeError, "centered must be True or False"),
    (lambda: S.inverse_time(0.1, 0.5, staircase="yes"), TypeError, "staircase must be True"),
    (lambda: C.clip_by_global_norm(1.0, exact=0), TypeError, "exact must be True or False"),
    (lambda: ol.clipping.clip_grad_norm(np.ones(2), 1.0, exact="False"), TypeError,
     "exact must be True or False"),
    (lambda: ol.clipping.clip_grad_norm(np.ones(2), 1.0, error_if_nonfinite=1), TypeError,
     "error_if_nonfinite must be True or False"),
    (lambda: ol.datasets.load_digits(standardize="no"), TypeError,
     "standardize must be True or False"),
    (lambda: ol.theory.gd_rate(float("nan"), [1.0]), ValueError, "lr must be finite"),
    (lambda: ol.theory.gd_rate("a", [1.0]), TypeError, "lr must be real numbers"),
    (lambda: ol.theory.gd_rate(0.1, ["a"]), TypeError, "eigenvalues must be real numbers"),
    (lambda: ol.functions.quadratic(cond=10.0, dim=1), ValueError, "cond must be 1.0 when dim=1"),
    (lambda: ol.datasets.synthetic_regression(dim=1, cond=100.0), ValueError,
     "cond must be 1.0 when dim=1"),
    (lambda: ol.datasets.sparse_regression(frequent=0, rare=0), ValueError,
     r"frequent \+ rare must be at least 1"),
    (lambda: ol.datasets.sparse_regression(p=0.0), ValueError, r"p must be in \(0.0, 1.0\]"),
    (lambda: S.multi_step(0.1, 30), TypeError, "milestones must be a list of steps"),
    # a period past 2**53 wrapped in the kernel's int(): the rate doubled, or a hang
    (lambda: S.step_decay(0.1, 10**20), ValueError, r"step_size must be an integer in \[1, "),
    (lambda: S.cosine_restarts(0.1, 2**63), ValueError, r"T_0 must be an integer in \[1, "),
    (lambda: S.exponential(0.1, k=1000.0), ValueError, r"k must be in \[0.0, 700.0\]"),
    (lambda: S.Sequential([], []), ValueError, "schedules must hold at least one"),
    (lambda: ol.precision.DynamicLossScaler(init_scale=1e39), ValueError, "init_scale must be"),
    (lambda: O.GD(lambda k: np.ones(2)).lr_at(0), TypeError, "one number for a step"),
    (lambda: ol.explorables.lr_sweep(ol.functions.get("quadratic"), 0.1), TypeError,
     "lrs must be a list of learning rates"),
    (lambda: ol.explorables.momentum_grid(lrs_times_L=0.3), TypeError,
     "lrs_times_L must be a list of numbers"),
    (lambda: ol.explorables.momentum_grid(momenta=None), TypeError,
     "momenta must be a list of numbers"),
    (lambda: ol.explorables.clipping_thresholds(0.3), TypeError,
     "thresholds must be a list of clipping thresholds"),
    (lambda: ol.search.Choice("abc"), TypeError, "options must be a list of values"),
    (lambda: S.multi_step(0.1, "30"), TypeError, "milestones must be a list of steps"),
    (lambda: S.multi_step(0.1, {30: 0.01}), TypeError, "milestones must be a list of steps"),
    (lambda: ol.search.Choice(bytearray(b"ab")), TypeError, "options must be a list"),
    (lambda: ol.search.Choice(5), TypeError, "options must be a list of values"),
    (lambda: ol.models.LinearRegression(3).accuracy(np.zeros(4), np.zeros((2, 3)),
                                                    np.zeros(2)),
     TypeError, "accuracy needs a classifier"),
    (lambda: ol.theory.gd_rate(0.5, [[1.0], [2.0]]), ValueError, "eigenvalues must be 1-D"),
    (lambda: ol.theory.heavy_ball_rate([0.1, 0.2], [0.5, 0.6, 0.7], [1.0]), ValueError,
     "lr and momentum must broadcast together"),
    (lambda: S.warmup(S.warmup_cosine(0.1, 5, 20), 3), ValueError,
     "schedule must start above 0 to warm up"),
], ids=["nesterov", "amsgrad", "centered", "staircase", "exact", "clip-exact",
        "clip-error-flag", "standardize", "gd-rate-nan",
        "gd-rate-str", "eig-str", "quadratic-1d", "regression-1d", "sparse-no-features",
        "sparse-p-0", "milestones-int", "period-huge", "T0-huge", "k-huge", "sequential-empty",
        "init-scale", "schedule-array", "sweep-lrs", "grid-lrs", "grid-momenta",
        "clip-thresholds", "choice-str", "milestones-str", "milestones-dict",
        "choice-bytearray", "choice-int", "accuracy-regression",
        "eigs-2d", "hb-broadcast", "warmup-from-0"])
def test_a_bad_value_is_refused_by_name(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


def test_a_reassigned_chain_rate_is_validated_like_an_optimizers():
    link = C.scale_by_learning_rate(0.1)
    for bad in (float("nan"), -0.1):
        with pytest.raises(ValueError, match="lr must be"):
            link.lr = bad
    assert link.lr == 0.1 and repr(link) == "scale_by_learning_rate(lr=0.1)"


def test_fit_and_the_range_test_name_a_missing_dataset():
    model = ol.models.LogisticRegression(2)
    with pytest.raises(TypeError, match="data must be an optlib.datasets.Dataset"):
        ol.models.fit(model, O.GD(0.1), np.zeros(model.n_params), None)
    with pytest.raises(TypeError, match="data must be an optlib.datasets.Dataset"):
        S.lr_range_test(model, np.zeros(model.n_params), None)


def test_the_range_test_checks_the_data_against_the_model_like_fit():
    """It handed data.X_train to the kernel unchecked: 200 columns for a 3-input model
    read past the weights' end (a segfault), and digits 0-9 went to a binary model."""
    wide = ol.datasets.synthetic_regression(n=400, dim=200)
    with pytest.raises(ValueError, match="X must have 3 columns"):
        S.lr_range_test(ol.models.LinearRegression(3), np.zeros(4), wide, num_it=30)
    digits = ol.datasets.load_digits(seed=0)
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 1\]"):
        S.lr_range_test(ol.models.LogisticRegression(64), np.zeros(65), digits, num_it=30)


def test_the_range_test_needs_seven_iterations_for_a_suggestion():
    data = ol.datasets.load_digits(seed=0)
    model = ol.models.MLP(64, 8, 10)
    with pytest.raises(ValueError, match=r"num_it must be an integer in \[7, inf\)"):
        S.lr_range_test(model, model.init(0), data, num_it=6)
    test = S.lr_range_test(model, model.init(0), data, num_it=7, start_lr=1e-4, end_lr=1e-2)
    assert test.lr.size == 7 and np.isfinite(test.suggestion)


# --- a failed Wolfe search reports one consistent point -------------------------------

@pytest.mark.parametrize("max_evals", range(1, 7))
def test_a_failed_wolfe_search_returns_the_last_point_it_tried(max_evals):
    cases = [(ol.functions.quadratic(cond=100.0), np.ones(2), 1e-3),
             (ol.functions.rosenbrock(), np.array([-1.2, 1.0]), 1.0)]
    failed = 0
    for fn, x, scale in cases:
        d = -fn.grad(x) * scale
        r = ol.second_order.wolfe(fn, x, d, max_evals=max_evals)
        if not r.ok:
            failed += 1
            assert r.fun == fn.value(x + r.alpha * d)
            assert r.slope == pytest.approx(fn.grad(x + r.alpha * d) @ d, rel=1e-12)
            assert r.n_evals == max_evals
    assert failed or max_evals > 3


# --- found by the API review of session 11 ------------------------------------------------

def test_fit_fp16_refuses_params_it_could_not_update_and_names_missing_data():
    model = ol.models.MLP(64, 8, 10)
    data = ol.datasets.load_digits()
    w = model.init().astype(np.float32)
    with pytest.raises(TypeError, match="params is updated in place"):
        ol.precision.fit_fp16(model, O.Adam(1e-2), list(w), data, epochs=1)
    with pytest.raises(TypeError, match="data must be an optlib.datasets.Dataset"):
        ol.precision.fit_fp16(model, O.Adam(1e-2), w, None, epochs=1)


def _nan_from(step):
    return lambda k: 0.1 if k < step else float("nan")


def _regression():
    return np.zeros(3), ol.datasets.synthetic_regression(n=40, dim=2)


def _digits_fp32():
    return ol.models.MLP(64, 8, 10).init().astype(np.float32), ol.datasets.load_digits()


@pytest.mark.parametrize("start, train", [
    (_regression, lambda w, d: ol.models.fit(ol.models.LinearRegression(2), C.chain(
        C.scale_by_schedule(_nan_from(3)), C.scale_by_learning_rate(0.1)), w, d, epochs=1,
        batch_size=4)),
    (_regression, lambda w, d: ol.models.fit(ol.models.LinearRegression(2),
                                             O.GD(_nan_from(3)), w, d, epochs=1,
                                             batch_size=4)),
    (_digits_fp32, lambda w, d: ol.precision.fit_fp16(ol.models.MLP(64, 8, 10),
                                                      O.GD(_nan_from(3)), w, d, epochs=1)),
], ids=["fit-chain-factor", "fit-rate", "fit-fp16-rate"])
def test_a_bad_rate_or_factor_later_in_a_run_is_refused_before_the_first_step(start, train):
    """A chain's scale_by_schedule used to be asked step by step (fit trained three steps
    into params, then raised); fit_fp16 asked an optimizer's rates step by step too."""
    w, data = start()
    before = w.copy()
    with pytest.raises(ValueError, match="at step 3"):
        train(w, data)
    np.testing.assert_array_equal(w, before)


@pytest.mark.parametrize("opt", [O.Adam(0.1), C.chain(C.trace(0.9), C.scale_by_adam(),
                                                      C.scale_by_learning_rate(0.1))],
                         ids=["adam", "chain"])
@pytest.mark.parametrize("step", [2**53 + 1, 2**63 - 1, 2**64])
def test_a_step_count_past_2_53_is_refused_before_any_kernel(opt, step):
    """t = step + 1 overflowed int64 (NaN parameters) or failed inside Numba after the
    chain's first link had run."""
    w = np.ones(2)
    state = opt.init(w)
    with pytest.raises(ValueError, match=r"state.step must be an integer in \[0, "):
        opt.step(w, np.ones(2), state._replace(step=step))
    np.testing.assert_array_equal(w, 1.0)
    for arr in (a for s in getattr(state, "links", [state]) for a in s
                if isinstance(a, np.ndarray)):
        np.testing.assert_array_equal(arr, 0.0)


@pytest.mark.parametrize("call, name", [
    (lambda: ol.second_order.newton(ol.functions.booth(), shrink=None), "shrink"),
    (lambda: ol.second_order.armijo(ol.functions.booth(), [0.0, 0.0], [1.0, 3.0],
                                    shrink=None), "shrink"),
    (lambda: ol.second_order.lbfgs(ol.functions.rosenbrock(), c2=None), "c2"),
    (lambda: ol.second_order.wolfe(ol.functions.booth(), [0.0, 0.0], [1.0, 3.0], c2=None),
     "c2"),
], ids=["newton", "armijo", "lbfgs", "wolfe"])
def test_a_line_search_constant_set_to_none_is_refused(call, name):
    with pytest.raises(TypeError, match=f"{name} must be a real number, got None"):
        call()


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
@pytest.mark.parametrize("make, kind", [
    (lambda: np.ma.array([1.0, 2.0]), "MaskedArray"),
    (lambda: np.matrix([1.0, 2.0]), "matrix"),
], ids=["masked", "matrix"])
def test_an_array_subclass_is_refused_by_name(make, kind):
    opt = O.Adam(0.1)
    with pytest.raises(TypeError, match=f"params must be a plain NumPy array, got a {kind}"):
        opt.init(make())
    w = make()
    with pytest.raises(TypeError, match=f"params must be a plain NumPy array, got a {kind}"):
        opt.step(w, np.ones(w.shape), opt.init(np.ones(w.shape)))
    with pytest.raises(TypeError, match=f"grads must be a plain NumPy array, got a {kind}"):
        ol.clipping.clip_grad_norm(make(), 1.0)


def test_a_strided_params_array_gets_advice_that_keeps_the_update():
    big = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"params must be C-contiguous.*updated in place.*"
                                         r"keep c"):
        O.GD(0.1).step(big[:, 0], np.ones(4), O.GD(0.1).init(np.zeros(4)))


def test_fit_checks_what_clip_returns():
    data = ol.datasets.synthetic_regression(n=40, dim=2, seed=0)
    model, w = ol.models.LinearRegression(2), np.zeros(3)
    for bad in (None, "x", [1.0, 2.0]):
        with pytest.raises(TypeError, match="clip must return the gradient's norm"):
            ol.models.fit(model, O.GD(0.1), w, data, epochs=1, clip=lambda g: bad)
    np.testing.assert_array_equal(w, 0.0)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: ol.theory.gd_rate(-1.0, [1.0]), ValueError, r"lr must be >= 0.0"),
    (lambda: ol.theory.heavy_ball_rate(-0.1, 0.5, [1.0]), ValueError, r"lr must be >= 0.0"),
    (lambda: ol.theory.gd_rate(True, [1.0]), TypeError, "lr must be real numbers"),
    (lambda: ol.theory.gd_rate(0.1, [True, True]), TypeError,
     "eigenvalues must be real numbers"),
    (lambda: ol.theory.gd_rate(None, [1.0]), TypeError, "lr must be real numbers"),
    (lambda: ol.trajectory.run(O.GD(0.1), ol.functions.booth(), dtype="abc"), TypeError,
     "dtype must be np.float64 or np.float32"),
    (lambda: ol.trajectory.run(O.GD(0.1), ol.functions.booth(), dtype=None), TypeError,
     "dtype must be np.float64 or np.float32"),
    (lambda: S.Sequential(5, [1]), TypeError, "schedules must be a list of optlib schedules"),
    (lambda: S.cosine(0.1, 10, after=np.array(["hold"])), ValueError,
     "after must be one of 'hold', 'periodic'"),
    (lambda: ol.second_order.newton(ol.functions.booth(), method=np.array(["pure"])),
     ValueError, "method must be one of"),
    (lambda: ol.perf.python_adam_rosenbrock(None, 3), TypeError, "x0 must be"),
    (lambda: ol.perf.python_adam_rosenbrock([-1.0, 1.0], -3), ValueError, "steps must be"),
    (lambda: ol.perf.parallel_adam(n=0), ValueError, "n must be an integer"),
    (lambda: ol.perf.parallel_adam(dtype=np.int64), TypeError, "dtype must be np.float64"),
    (lambda: ol.perf.step_table(names="SGD"), TypeError, "names must be a list of kernel"),
    (lambda: ol.perf.step_table(dtypes=[np.int64]), TypeError, "dtypes must be np.float64"),
    (lambda: ol.perf.measure(None), TypeError, "fn must be a function to time"),
    (lambda: ol.perf.rounds([print]), TypeError, "fns must be a non-empty dict"),
    (lambda: ol.perf.compile_times("abc"), TypeError, "chapters must be a list"),
], ids=["gd-rate-negative", "hb-rate-negative", "gd-rate-bool", "eigs-bool", "gd-rate-none",
        "traj-dtype-str", "traj-dtype-none", "sequential-int", "choice-array",
        "choice-array-silent", "py-adam-x0", "py-adam-steps", "parallel-n", "parallel-dtype",
        "table-names-str", "table-dtypes", "measure-none", "rounds-list",
        "compile-chapters-str"])
def test_more_bad_values_are_refused_by_name(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


@pytest.mark.parametrize("value", [lambda x: 2.0 * x, lambda x: "f"], ids=["vector", "str"])
def test_a_custom_objective_must_return_one_number(value):
    class Objective:
        x0 = np.array([1.0, 2.0])

        def grad(self, x):
            return 2.0 * x

    Objective.value = lambda self, x: value(x)
    with pytest.raises(TypeError, match=r"fn.value\(x\) must return one number"):
        ol.trajectory.run(O.GD(0.1), Objective(), steps=3)


def test_a_subclass_that_is_only_copied_is_accepted_but_a_mask_never_is(tmp_path):
    """X is copied before any kernel sees it: a memory-mapped file is fine there. A masked
    array is refused wherever it comes, since a copy (or np.asarray) drops its mask."""
    model, data = ol.models.LinearRegression(2), ol.datasets.synthetic_regression(n=40, dim=2)
    X = np.memmap(tmp_path / "X.dat", dtype=float, mode="w+", shape=data.X_train.shape)
    X[:] = data.X_train
    w = np.array([0.5, -0.5, 0.1])
    assert model.loss(w, X, data.y_train) == model.loss(w, data.X_train, data.y_train)
    with pytest.raises(TypeError, match="X must be a plain NumPy array, got a MaskedArray"):
        model.loss(w, np.ma.array(data.X_train), data.y_train)
    with pytest.raises(TypeError, match="eigenvalues must be real numbers"):
        ol.theory.gd_rate(0.01, np.ma.array([1.0, 1000.0], mask=[0, 1]))


def test_a_function_that_only_reads_the_gradients_does_not_say_it_updates_them():
    with pytest.raises(ValueError, match=r"grads\[0\] must be C-contiguous; pass np"):
        ol.clipping.global_norm([np.arange(4.0)[::2]])
