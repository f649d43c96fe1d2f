import math

import numpy as np
import pytest

import optlib as ol
from naive import gd, quadratic


def landscapes():
    """(landscape, constant lr) pairs that stay finite for 200 steps from fn.x0."""
    return [
        (ol.functions.rosenbrock(), 1e-3),
        (ol.functions.rosenbrock(dim=7), 1e-3),
        (ol.functions.rosenbrock(a=0.5, b=10.0), 1e-2),
        (ol.functions.beale(), 1e-3),
        (ol.functions.himmelblau(), 1e-2),
        (ol.functions.booth(), 0.05),
        (ol.functions.saddle(), 0.1),
        (ol.functions.six_hump_camel(), 1e-2),
        (ol.functions.quadratic(cond=50.0, angle=0.3, center=[0.5, -1.0]), 1.0),
        (ol.functions.quadratic(cond=100.0, dim=5, L=4.0), 0.45),
    ]


def case_id(case):
    fn, lr = case
    return f"{fn.name}{fn.dim}-lr{lr}"


@pytest.mark.parametrize("case", landscapes(), ids=case_id)
@pytest.mark.parametrize("scale", [1.0, 0.3])
def test_jitted_path_equals_the_naive_gd_loop(case, scale):
    fn, lr = case
    lr = lr * scale
    steps = 200
    traj = ol.trajectory.run(ol.optim.GD(lr=lr), fn, steps=steps)
    expected = gd(fn.grad, fn.x0, np.full(steps, lr))
    assert np.all(np.isfinite(expected))  # the cases are chosen not to diverge
    assert traj.x.shape == (steps + 1, fn.dim) and traj.x.dtype == np.float64
    np.testing.assert_allclose(traj.x, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(traj.loss, [fn.value(x) for x in expected], rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(traj.lr, np.full(steps, lr))
    assert (traj.steps_taken, traj.diverged, traj.state) == (steps, False, ol.optim.GDState(steps))
    # a real run moves: the first iterate is x0 and the path does not stand still
    np.testing.assert_array_equal(traj.x[0], fn.x0)
    assert np.linalg.norm(traj.x[-1] - traj.x[0]) > 1e-3


@pytest.mark.parametrize("case", landscapes() + [(ol.functions.rastrigin(dim=3), 1e-3)],
                         ids=case_id)
def test_the_loop_records_exactly_what_value_and_grad_compute(case):
    """The jitted loop takes the bodies of the landscape kernels (inlined): it computes,
    to the last bit, what calling fn.value and fn.grad computes."""
    fn, lr = case
    traj = ol.trajectory.run(ol.optim.GD(lr=lr), fn, steps=100)
    assert traj.steps_taken == 100
    for k, x in enumerate(traj.x[:-1]):
        g = fn.grad(x)
        assert traj.loss[k] == fn.value(x)
        assert traj.grad_norm[k] == math.sqrt(sum(gi * gi for gi in g))
        np.testing.assert_array_equal(traj.x[k + 1], x - lr * g)
    assert traj.loss[-1] == fn.value(traj.x[-1])


@pytest.mark.parametrize("case", landscapes(), ids=case_id)
def test_grad_norm_is_the_norm_of_the_gradient_used_by_each_step(case):
    fn, lr = case
    traj = ol.trajectory.run(ol.optim.GD(lr=lr), fn, steps=50)
    assert traj.grad_norm.shape == (50,)
    expected = [np.linalg.norm(fn.grad(x)) for x in traj.x[:-1]]  # x_k, not x_{k+1}
    np.testing.assert_allclose(traj.grad_norm, expected, rtol=1e-13)


@pytest.mark.parametrize("case", [(ol.functions.booth(), 0.05),
                                  (ol.functions.quadratic(cond=20.0, angle=0.4), 0.5),
                                  (ol.functions.rosenbrock(), 1e-3),
                                  (ol.functions.himmelblau(), 1e-2)], ids=case_id)
def test_float32_runs_give_float32_iterates_close_to_float64(case):
    fn, lr = case
    t64 = ol.trajectory.run(ol.optim.GD(lr=lr), fn, steps=100)
    t32 = ol.trajectory.run(ol.optim.GD(lr=lr), fn, steps=100, dtype=np.float32)
    assert t32.x.dtype == np.float32
    assert not t32.diverged and t32.steps_taken == 100
    np.testing.assert_allclose(t32.x, t64.x, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(t32.loss, t64.loss, rtol=1e-3, atol=1e-5)
    # the float32 run really is float32: it is not bit-identical to float64
    assert not np.array_equal(t32.x.astype(np.float64), t64.x)


def vectorised_schedule(k):
    return 0.01 / (1.0 + 0.05 * np.asarray(k))


def scalar_only_schedule(k):
    # `if` on an array raises, so lr_values must fall back to one call per step
    if k < 30:
        return 0.02
    return 0.005


@pytest.mark.parametrize("schedule", [vectorised_schedule, scalar_only_schedule])
@pytest.mark.parametrize("fn", [ol.functions.himmelblau(), ol.functions.booth()], ids=repr)
def test_a_schedule_gives_the_path_of_the_naive_loop_with_the_same_lrs(schedule, fn):
    steps = 80
    lrs = np.array([float(schedule(k)) for k in range(steps)])  # 0-based steps
    traj = ol.trajectory.run(ol.optim.GD(lr=schedule), fn, steps=steps)
    np.testing.assert_allclose(traj.lr, lrs, rtol=1e-15)
    np.testing.assert_allclose(traj.x, gd(fn.grad, fn.x0, lrs), rtol=1e-12, atol=1e-14)
    # and it differs from a constant-lr run (here at the last lr of the schedule)
    const = ol.trajectory.run(ol.optim.GD(lr=lrs[-1]), fn, steps=steps)
    assert not np.allclose(const.x, traj.x, rtol=1e-6)


@pytest.mark.parametrize("fn, lr, steps", [
    (ol.functions.quadratic(cond=10.0), 10.0, 1000),  # lr > 2/L = 2
    (ol.functions.quadratic(cond=4.0, L=2.0, angle=0.5), 1.5, 3000),  # lr > 2/L = 1
    (ol.functions.rosenbrock(), 0.1, 100),
], ids=["quad-lr10", "quad-L2-lr1.5", "rosenbrock-lr0.1"])
def test_divergence_stops_the_run_and_leaves_a_nan_tail(fn, lr, steps):
    traj = ol.trajectory.run(ol.optim.GD(lr=lr), fn, steps=steps)
    k = traj.steps_taken
    assert traj.diverged and 0 < k < steps
    assert traj.state.step == k
    # step k produced the first non-finite value or iterate, everything before is finite
    assert not (np.isfinite(traj.loss[k]) and np.all(np.isfinite(traj.x[k])))
    assert np.all(np.isfinite(traj.loss[:k])) and np.all(np.isfinite(traj.x[:k]))
    # grad_norm[k - 1] may overflow to inf (|g|^2 > 1.8e308) but each step used a real gradient
    assert np.all(np.isfinite(traj.grad_norm[:k - 1])) and not np.isnan(traj.grad_norm[k - 1])
    # nothing was recorded after the stop
    assert np.all(np.isnan(traj.x[k + 1:])) and np.all(np.isnan(traj.loss[k + 1:]))
    assert np.all(np.isnan(traj.grad_norm[k:]))
    # the recorded part is the naive loop's path
    expected = gd(fn.grad, fn.x0, np.full(k - 1, lr))
    np.testing.assert_allclose(traj.x[:k], expected, rtol=1e-12)


def test_divergence_on_the_very_last_step_is_reported():
    fn, lr = ol.functions.rosenbrock(), 0.1
    k = ol.trajectory.run(ol.optim.GD(lr=lr), fn, steps=100).steps_taken
    traj = ol.trajectory.run(ol.optim.GD(lr=lr), fn, steps=k)
    assert traj.steps_taken == k
    assert traj.diverged
    # one step fewer stays finite and is not marked
    ok = ol.trajectory.run(ol.optim.GD(lr=lr), fn, steps=k - 1)
    assert not ok.diverged and ok.steps_taken == k - 1


def test_a_stable_quadratic_run_is_not_marked_diverged_just_below_2_over_L():
    fn = ol.functions.quadratic(cond=10.0, L=1.0)
    traj = ol.trajectory.run(ol.optim.GD(lr=1.99), fn, steps=2000)
    assert not traj.diverged and traj.steps_taken == 2000
    assert traj.loss[-1] < traj.loss[0]


class Delegate:
    """A user objective (not a TestFunction) that calls a built-in landscape."""

    def __init__(self, fn):
        self.fn = fn
        self.calls = 0

    def value(self, x):
        return self.fn.value(x)

    def grad(self, x):
        self.calls += 1
        return self.fn.grad(x)


class NumpyQuadratic:
    """1/2 (x - c)^T A (x - c) written in plain NumPy, with no dim or x0 attribute."""

    def __init__(self, A, c):
        self.A, self.c = A, c

    def value(self, x):
        return float(quadratic(x, self.A, self.c))

    def grad(self, x):
        return self.A @ (np.asarray(x, dtype=float) - self.c)


@pytest.mark.parametrize("case", landscapes()[:6], ids=case_id)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_user_objective_python_path_gives_the_numbers_of_the_jitted_path(case, dtype):
    fn, lr = case
    user = Delegate(fn)
    assert not isinstance(user, ol.functions.TestFunction)
    jit = ol.trajectory.run(ol.optim.GD(lr=lr), fn, x0=fn.x0, steps=60, dtype=dtype)
    py = ol.trajectory.run(ol.optim.GD(lr=lr), user, x0=fn.x0, steps=60, dtype=dtype)
    assert user.calls == 60  # really went through the Python loop
    assert py.x.dtype == jit.x.dtype == dtype
    np.testing.assert_array_equal(py.x, jit.x)
    np.testing.assert_array_equal(py.loss, jit.loss)
    np.testing.assert_array_equal(py.grad_norm, jit.grad_norm)  # np.linalg.norm: 1e-5 off
    np.testing.assert_array_equal(py.lr, jit.lr)
    assert (py.steps_taken, py.diverged, py.state) == (jit.steps_taken, jit.diverged, jit.state)


def test_a_numpy_landscape_follows_the_same_path_as_the_builtin_quadratic():
    fn = ol.functions.quadratic(cond=30.0, angle=0.7, center=[1.0, -2.0])
    user = NumpyQuadratic(fn.A, np.array([1.0, -2.0]))
    x0 = [3.0, 0.5]
    jit = ol.trajectory.run(ol.optim.GD(lr=0.8), fn, x0=x0, steps=150)
    py = ol.trajectory.run(ol.optim.GD(lr=0.8), user, x0=x0, steps=150)
    np.testing.assert_allclose(py.x, jit.x, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(py.loss, jit.loss, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(py.grad_norm, jit.grad_norm, rtol=1e-12, atol=1e-15)
    assert py.state.step == jit.state.step == 150


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_user_objective_divergence_matches_the_jitted_path():
    fn = ol.functions.rosenbrock()
    jit = ol.trajectory.run(ol.optim.GD(lr=0.1), fn, steps=100)
    py = ol.trajectory.run(ol.optim.GD(lr=0.1), Delegate(fn), x0=fn.x0, steps=100)
    assert py.diverged and jit.diverged
    assert py.steps_taken == jit.steps_taken < 100
    assert py.state.step == jit.state.step == jit.steps_taken
    np.testing.assert_array_equal(py.x, jit.x)  # NaN tails compare equal
    np.testing.assert_array_equal(py.loss, jit.loss)


@pytest.mark.parametrize("make", [lambda fn: fn, Delegate], ids=["jitted", "python"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_x0_is_not_modified(make, dtype):
    fn = ol.functions.rosenbrock()
    x0 = np.array([-1.2, 1.0], dtype=dtype)
    before = x0.copy()
    traj = ol.trajectory.run(ol.optim.GD(lr=1e-3), make(fn), x0=x0, steps=20, dtype=dtype)
    np.testing.assert_array_equal(x0, before)
    assert not np.array_equal(traj.x[-1], before)  # the run itself did move
    np.testing.assert_array_equal(fn.x0, [-1.2, 1.0])  # nor the landscape's default start


def test_x0_defaults_to_the_landscape_start_and_a_given_x0_is_used():
    fn = ol.functions.himmelblau()
    t = ol.trajectory.run(ol.optim.GD(lr=1e-2), fn, steps=5)
    np.testing.assert_array_equal(t.x[0], fn.x0)
    t = ol.trajectory.run(ol.optim.GD(lr=1e-2), fn, x0=[1.0, -1.0], steps=5)
    np.testing.assert_array_equal(t.x[0], [1.0, -1.0])
    np.testing.assert_allclose(t.x, gd(fn.grad, [1.0, -1.0], np.full(5, 1e-2)), rtol=1e-13)


@pytest.mark.parametrize("steps", [1, 2, 37])
def test_final_state_and_array_shapes(steps):
    fn = ol.functions.rosenbrock(dim=3)
    t = ol.trajectory.run(ol.optim.GD(lr=1e-3), fn, steps=steps)
    assert t.state == ol.optim.GDState(step=steps)
    assert t.x.shape == (steps + 1, 3) and t.loss.shape == (steps + 1,)
    assert t.lr.shape == (steps,) and t.grad_norm.shape == (steps,)
    assert t.steps_taken == steps and type(t.steps_taken) is int
    assert t.diverged is False
    # the state can continue a run with the same optimizer: one more step = one longer run
    opt = ol.optim.GD(lr=1e-3)
    w = t.x[-1].copy()
    state = opt.step(w, fn.grad(w), t.state)
    longer = ol.trajectory.run(ol.optim.GD(lr=1e-3), fn, steps=steps + 1)
    np.testing.assert_allclose(w, longer.x[-1], rtol=1e-14)
    assert state.step == longer.state.step


def naive_steps_to(loss, tol, f_min=0.0):
    for k, f in enumerate(loss):
        if f - f_min <= tol:
            return k
    return None


@pytest.mark.parametrize("tol", [10.0, 1e-2, 1e-6, 1e-10])
def test_steps_to_is_the_first_step_within_tol(tol):
    fn = ol.functions.booth()
    t = ol.trajectory.run(ol.optim.GD(lr=0.05), fn, steps=400)
    k = t.steps_to(tol)
    assert k == naive_steps_to(t.loss, tol)
    assert k is not None and t.loss[k] <= tol and np.all(t.loss[:k] > tol)


def test_steps_to_uses_f_min_and_returns_none_when_never_reached():
    fn = ol.functions.six_hump_camel()  # f* = -1.03: with the default f_min = 0 it is reached early
    t = ol.trajectory.run(ol.optim.GD(lr=1e-2), fn, x0=[1.0, -1.0], steps=500)
    assert t.loss[0] > 1.0
    k0 = t.steps_to(1e-3)
    k1 = t.steps_to(1e-6, f_min=fn.min_value)
    assert k0 == naive_steps_to(t.loss, 1e-3) and k1 == naive_steps_to(t.loss, 1e-6, fn.min_value)
    assert k0 is not None and k1 is not None and 0 < k0 < k1
    assert t.loss[k1] - fn.min_value <= 1e-6 < t.loss[k1 - 1] - fn.min_value
    assert t.steps_to(1e-300, f_min=fn.min_value - 1.0) is None
    with pytest.raises(TypeError, match="f_min must be a real number"):
        t.steps_to(1e-3, f_min="0")


def test_steps_to_ignores_the_nan_tail_of_a_diverged_run():
    t = ol.trajectory.run(ol.optim.GD(lr=0.1), ol.functions.rosenbrock(), steps=100)
    assert t.diverged
    assert t.steps_to(1e-3) is None
    assert t.steps_to(1e3) == 0  # loss[0] = 24.2


class NoGrad:
    def value(self, x):
        return 0.0


@pytest.mark.parametrize("call, exc, words", [
    (lambda: ol.trajectory.run("GD", ol.functions.booth()), TypeError, "opt must be an optlib"),
    (lambda: ol.trajectory.run(ol.optim.GD, ol.functions.booth()), TypeError, "opt must be"),
    (lambda: ol.trajectory.run(ol.optim.GD(0.1), NoGrad(), x0=[1.0]), TypeError,
     r"fn must be .*value\(x\) and grad\(x\)"),
    (lambda: ol.trajectory.run(ol.optim.GD(0.1), lambda x: x @ x, x0=[1.0]), TypeError, "fn must"),
    (lambda: ol.trajectory.run(ol.optim.GD(0.1), ol.functions.booth(), steps=0), ValueError,
     r"steps must be an integer in \[1, "),
    (lambda: ol.trajectory.run(ol.optim.GD(0.1), ol.functions.booth(), steps=1.5), TypeError,
     "steps must be an integer"),
    (lambda: ol.trajectory.run(ol.optim.GD(0.1), ol.functions.booth(), steps=True), TypeError,
     "steps"),
    (lambda: ol.trajectory.run(ol.optim.GD(0.1), ol.functions.booth(), x0=[1.0, 2.0, 3.0]),
     ValueError, "x0 must have 2 entries"),
    (lambda: ol.trajectory.run(ol.optim.GD(0.1), ol.functions.booth(), x0=[[1.0, 2.0]]),
     ValueError, "x0 must be 1-D"),
    (lambda: ol.trajectory.run(ol.optim.GD(0.1), ol.functions.booth(), x0=[np.nan, 1.0]),
     ValueError, "x0 must be finite"),
    (lambda: ol.trajectory.run(ol.optim.GD(0.1), ol.functions.booth(), x0=[1.0, np.inf]),
     ValueError, "x0 must be finite"),
    (lambda: ol.trajectory.run(ol.optim.GD(0.1), ol.functions.booth(), x0=[1, 2]),
     TypeError, "x0 must hold floats"),
    (lambda: ol.trajectory.run(ol.optim.GD(0.1), ol.functions.booth(), x0=np.array([1, 2])),
     TypeError, "x0 must be a float32 or float64"),
    (lambda: ol.trajectory.run(ol.optim.GD(0.1), ol.functions.booth(), dtype=np.int32),
     TypeError, "dtype must be np.float64 or np.float32"),
    (lambda: ol.trajectory.run(ol.optim.GD(0.1), ol.functions.booth(), dtype=np.float16),
     TypeError, "dtype"),
    (lambda: ol.trajectory.run(ol.optim.GD(0.1), NumpyQuadratic(np.eye(2), np.zeros(2))),
     ValueError, "x0 is required"),
    (lambda: ol.trajectory.run(ol.optim.GD(lambda k: -0.1), ol.functions.booth()),
     ValueError, "at step 0"),
    (lambda: ol.trajectory.run(ol.optim.GD(0.1), ol.functions.booth(), steps=3).steps_to(0.0),
     ValueError, r"tol must be in \(0.0, inf\)"),
    (lambda: ol.trajectory.run(ol.optim.GD(0.1), ol.functions.booth(), steps=3).steps_to(-1e-3),
     ValueError, "tol"),
    (lambda: ol.trajectory.run(ol.optim.GD(0.1), ol.functions.booth(), steps=3).steps_to(np.nan),
     ValueError, "tol must be finite"),
])
def test_bad_input_is_refused_with_a_message_naming_the_argument(call, exc, words):
    with pytest.raises(exc, match=words):
        call()
