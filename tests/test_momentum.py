"""Tests for the momentum optimizers of optlib.optim and the rates of optlib.theory.

* ``Momentum`` is torch's form (``v = mu v + (1 - tau) g; w -= lr v``, buffer = g at the
  first step). Parity with the real torch.optim.SGD comes from
  ``reference/momentum_torch.npz``, written by ``reference/generate_reference.py``
  (``momentum_runs``); every case's SGD arguments are stored beside its values (JSON).
* ``HeavyBall`` is the textbook form (``v = gamma v + lr g; w -= v``) and
  ``NesterovLookahead`` the same update with the gradient taken at ``w - gamma v``.
* The naive references below are plain NumPy loops, slow and obvious on purpose,
  written from the pseudo-code in torch.optim.SGD's documentation and its note on the
  momentum form (``v = mu v + g; p -= lr v``, "in contrast to Sutskever et al. and
  other frameworks", which use ``v = mu v + lr g; p -= v``).
"""

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import optlib as ol
from naive import Wrapped, run_steps, torch_steps

O = ol.optim
REF = Path(__file__).parent / "reference" / "momentum_torch.npz"
DATA = np.load(REF)
CASES = json.loads(str(DATA["cases"]))
SGD_KEYS = ("momentum", "dampening", "nesterov", "weight_decay", "maximize")

# --- naive references ------------------------------------------------------------------

def naive_torch_sgd(p0, grad, lrs, momentum=0.0, dampening=0.0, nesterov=False,
                    weight_decay=0.0, maximize=False):
    """torch.optim.SGD step by step. ``grad(w, k)`` gives the gradient of step k.

    Returns (params after each step, momentum buffer after each step)."""
    p = np.array(p0, dtype=np.float64)
    buf = None
    ps, bufs = [], []
    for k, lr in enumerate(lrs):
        g = np.array(grad(p, k), dtype=np.float64)
        if maximize:
            g = -g
        g = g + weight_decay * p
        if momentum != 0.0:
            if buf is None:
                buf = g.copy()  # the buffer starts at g: no dampening on the first step
            else:
                buf = momentum * buf + (1.0 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
        ps.append(p.copy())
        bufs.append(np.zeros_like(p) if buf is None else buf.copy())
    return np.array(ps), np.array(bufs)


def naive_heavy_ball(p0, grad, lrs, gamma, lookahead=False):
    """Textbook heavy ball v = gamma v + lr g(w), w -= v; Nesterov's look-ahead form takes
    g at w - gamma v. Returns (params after each step, velocity after each step)."""
    w = np.array(p0, dtype=np.float64)
    v = np.zeros_like(w)
    ws, vs = [], []
    for k, lr in enumerate(lrs):
        g = np.array(grad(w - gamma * v if lookahead else w, k), dtype=np.float64)
        v = gamma * v + lr * g
        w = w - v
        ws.append(w.copy())
        vs.append(v.copy())
    return np.array(ws), np.array(vs)


def unrolled(p0, grad, lrs, gamma, form):
    """Both forms' updates unrolled into sums over past gradients (O(T^2), no velocity):

    torch form     w_{t+1} = w_t - lr_t * sum_{k<=t} gamma^(t-k) g_k
    textbook form  w_{t+1} = w_t - sum_{k<=t} gamma^(t-k) lr_k g_k
    """
    w = np.array(p0, dtype=np.float64)
    gs, ws = [], []
    for t, lr in enumerate(lrs):
        gs.append(np.array(grad(w, t), dtype=np.float64))
        powers = gamma ** np.arange(t, -1, -1.0)
        if form == "torch":
            w = w - lr * np.einsum("k,kd->d", powers, np.array(gs))
        else:
            w = w - np.einsum("k,kd->d", powers * np.asarray(lrs[:t + 1]), np.array(gs))
        ws.append(w.copy())
    return np.array(ws)


def random_spd(r, dim, lo=0.1, hi=2.0):
    """A random symmetric positive definite matrix with eigenvalues in [lo, hi]."""
    Q, _ = np.linalg.qr(r.normal(size=(dim, dim)))
    eig = r.uniform(lo, hi, dim)
    return (Q * eig) @ Q.T, eig


class PlainQuadratic:
    """A user objective (not an ol.functions landscape): trajectory.run takes its Python
    loop for it."""

    def __init__(self, A, c):
        self.A, self.c = A, c

    def value(self, x):
        d = x - self.c
        return 0.5 * d @ self.A @ d

    def grad(self, x):
        return self.A @ (x - self.c)


def lr_of(case):
    if case["milestones"] is None:
        return case["lr"]
    return ol.schedules.multi_step(case["lr"], case["milestones"], case["gamma"])


def momentum_of(case):
    return O.Momentum(lr_of(case), **{k: case[k] for k in SGD_KEYS})


def stored(case, key):
    return DATA[f"{case['id']}/{key}"]


# --- parity with torch.optim.SGD --------------------------------------------------------

def test_the_stored_cases_cover_every_option():
    """The npz holds what the generator promises (>= 300 steps each, every option)."""
    assert len(CASES) >= 10
    assert all(c["steps"] >= 300 and stored(c, "params").shape == (c["steps"], c["n"])
               for c in CASES)
    for key, on in [("momentum", lambda x: x > 0), ("dampening", lambda x: x > 0),
                    ("nesterov", bool), ("weight_decay", lambda x: x > 0),
                    ("maximize", bool), ("milestones", lambda x: x is not None)]:
        assert any(on(c[key]) for c in CASES), key
    assert any(c["nesterov"] and c["weight_decay"] > 0 and c["maximize"] for c in CASES)
    assert REF.stat().st_size < 300_000


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_the_naive_loop_reproduces_stored_torch(case):
    """The reference used below is right: it equals the real torch values."""
    grads = stored(case, "grads")
    expected, _ = naive_torch_sgd(stored(case, "params0"), lambda w, k: grads[k],
                                  stored(case, "lr"), **{k: case[k] for k in SGD_KEYS})
    np.testing.assert_allclose(expected, stored(case, "params"), rtol=1e-10)


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in CASES])
def test_momentum_matches_stored_torch_sgd(case):
    opt = momentum_of(case)
    got, state = run_steps(opt, stored(case, "params0"), stored(case, "grads"))
    np.testing.assert_allclose(got, stored(case, "params"), rtol=1e-10, atol=0)
    assert state.step == case["steps"]


@pytest.mark.parametrize("case", [c for c in CASES if c["milestones"] is not None],
                         ids=lambda c: c["id"])
def test_multi_step_reproduces_torch_multisteplr_inside_momentum(case):
    """The lr torch used at every step (read from param_groups) is optlib's schedule."""
    lrs = stored(case, "lr")
    assert len(np.unique(lrs)) >= 2  # the rate really changes mid-run
    np.testing.assert_array_equal(momentum_of(case).lr_values(0, case["steps"]), lrs)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_float32_run_agrees_with_float64(case):
    opt = momentum_of(case)
    p64, _ = run_steps(opt, stored(case, "params0"), stored(case, "grads"))
    p32, state = run_steps(opt, stored(case, "params0"), stored(case, "grads"), np.float32)
    assert p32.dtype == np.float32 and state.velocity.dtype == np.float32
    scale = np.abs(p64).max()
    np.testing.assert_allclose(p32, p64, rtol=1e-5, atol=1e-5 * scale)


@st.composite
def sgd_settings(draw):
    nesterov = draw(st.booleans())
    momentum = draw(st.floats(0.05, 0.99) if nesterov else
                    st.sampled_from([0.0, 0.5]) | st.floats(0.0, 0.99))
    dampening = 0.0 if nesterov else draw(st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0))
    # momentum 0 with dampening > 0 is the bug pinned by test_dampening_without_momentum
    assume(not (momentum == 0.0 and dampening > 0.0))
    steps = draw(st.integers(5, 60))
    milestones = draw(st.none() | st.lists(st.integers(1, steps), min_size=1, max_size=3))
    return dict(lr=draw(st.floats(1e-3, 0.5)), momentum=momentum, dampening=dampening,
                nesterov=nesterov, weight_decay=draw(st.sampled_from([0.0]) | st.floats(0, 0.1)),
                maximize=draw(st.booleans()), steps=steps, milestones=milestones,
                gamma=draw(st.floats(0.05, 0.9)), n=draw(st.integers(1, 6)),
                seed=draw(st.integers(0, 2**31)))


@settings(max_examples=40, deadline=None)
@given(sgd_settings())
def test_momentum_matches_live_torch_sgd(s):
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(s["seed"])
    p0, grads = r.normal(size=s["n"]), r.normal(size=(s["steps"], s["n"]))
    kw = {k: s[k] for k in SGD_KEYS}
    p = torch.tensor(p0, dtype=torch.float64, requires_grad=True)
    topt = torch.optim.SGD([p], lr=s["lr"], **kw)
    sched = (None if s["milestones"] is None else
             torch.optim.lr_scheduler.MultiStepLR(topt, s["milestones"], s["gamma"]))
    expected = torch_steps(p, topt, grads, sched)
    got, _ = run_steps(O.Momentum(lr_of(s), **kw), p0, grads)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-300)


def test_dampening_without_momentum_is_plain_sgd_as_in_torch():
    r = np.random.default_rng(5)
    p0, grads = r.normal(size=3), r.normal(size=(5, 3))
    expected = p0 - 0.1 * np.cumsum(grads, axis=0)  # torch ignores dampening here
    got, _ = run_steps(O.Momentum(0.1, momentum=0.0, dampening=0.5), p0, grads)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


# --- the first step ----------------------------------------------------------------------

@pytest.mark.parametrize("kw", [dict(dampening=0.5), dict(dampening=0.5, weight_decay=0.1,
                                                             maximize=True),
                                dict(dampening=1.0)])
def test_the_buffer_starts_at_the_gradient_not_at_zero(kw):
    r = np.random.default_rng(11)
    p0, grads = r.normal(size=4), r.normal(size=(30, 4))
    opt = O.Momentum(0.1, momentum=0.9, **kw)
    w = p0.copy()
    state = opt.step(w, grads[0].copy(), opt.init(w))
    g0 = (-grads[0] if kw.get("maximize") else grads[0]) + kw.get("weight_decay", 0.0) * p0
    np.testing.assert_allclose(state.velocity, g0, rtol=1e-15)  # the full gradient
    np.testing.assert_allclose(w, p0 - 0.1 * g0, rtol=1e-15)
    # a buffer that started at zero would have stepped by lr * (1 - dampening) * g
    assert not np.allclose(w, p0 - 0.1 * (1.0 - kw["dampening"]) * g0, rtol=1e-6)
    # and the later steps follow the naive loop
    expected, bufs = naive_torch_sgd(p0, lambda w, k: grads[k], np.full(30, 0.1),
                                     momentum=0.9, **kw)
    got, state = run_steps(opt, p0, grads)
    np.testing.assert_allclose(got, expected, rtol=1e-13)
    np.testing.assert_allclose(state.velocity, bufs[-1], rtol=1e-13)


def test_stored_torch_takes_the_full_gradient_on_step_one_despite_dampening():
    case = next(c for c in CASES if c["dampening"] == 0.5 and c["momentum"] > 0)
    p0, g0 = stored(case, "params0"), stored(case, "grads")[0]
    np.testing.assert_allclose(stored(case, "params")[0], p0 - case["lr"] * g0, rtol=1e-15)


# --- textbook (HeavyBall) vs torch (Momentum) conventions ---------------------------------

def _random_problem(seed):
    r = np.random.default_rng(seed)
    lr, gamma = r.uniform(0.05, 0.6), r.uniform(0.0, 0.95)
    return r, lr, gamma


@pytest.mark.parametrize("seed", range(4))
def test_both_forms_agree_under_a_constant_lr_via_trajectory_run(seed):
    r, lr, gamma = _random_problem(seed)
    c2, c6 = r.uniform(1, 2, 2), r.uniform(1, 2, 6)
    cases = [(ol.functions.quadratic(cond=r.uniform(1, 30), dim=2, L=r.uniform(0.5, 2.0),
                                     angle=r.uniform(-1, 1), center=c2), c2),  # jitted loop
             (PlainQuadratic(random_spd(r, 6)[0], c6), c6)]  # Python loop
    for fn, center in cases:
        x0 = center + r.normal(size=center.size)
        for steps in (200, 40):
            tb = ol.trajectory.run(O.HeavyBall(lr, gamma), fn, x0, steps=steps)
            tt = ol.trajectory.run(O.Momentum(lr, gamma), fn, x0, steps=steps)
            assert tb.steps_taken == tt.steps_taken == steps
            np.testing.assert_allclose(tb.x, tt.x, rtol=1e-12)
        # after 40 steps (not 200) the velocity is still far above the iterates' rounding
        v = tb.state.velocity
        assert np.abs(v).max() > 1e-8
        np.testing.assert_allclose(v, lr * tt.state.velocity, rtol=1e-9,
                                   atol=1e-9 * np.abs(v).max())
        assert np.abs(tb.x[1] - tb.x[0]).max() > 1e-3  # they really moved


@pytest.mark.parametrize("seed", range(4))
def test_both_forms_agree_under_a_constant_lr_via_step(seed):
    r, lr, gamma = _random_problem(seed)
    A, _ = random_spd(r, 5)
    c = r.uniform(1, 2, 5)
    wb = r.normal(size=5) + c
    wt = wb.copy()
    tb, tt = O.HeavyBall(lr, gamma), O.Momentum(lr, gamma)
    sb, st_ = tb.init(wb), tt.init(wt)
    for _ in range(150):
        sb = tb.step(wb, A @ (wb - c), sb)
        st_ = tt.step(wt, A @ (wt - c), st_)
        np.testing.assert_allclose(wb, wt, rtol=1e-12)
        np.testing.assert_allclose(sb.velocity, lr * st_.velocity, rtol=1e-9,
                                   atol=1e-13 * np.abs(sb.velocity).max())


def test_the_forms_part_after_an_lr_drop_as_the_unrolled_formulas_say():
    r = np.random.default_rng(3)
    A, _ = random_spd(r, 4, 0.2, 1.0)
    c = r.uniform(1, 2, 4)
    fn = PlainQuadratic(A, c)
    p0 = c + r.normal(size=4)
    gamma, drop, steps = 0.9, 30, 80
    sched = ol.schedules.multi_step(0.1, [drop], 0.1)
    lrs = sched(np.arange(steps))
    grad = lambda w, k: A @ (w - c)  # noqa: E731
    expected = {"textbook": unrolled(p0, grad, lrs, gamma, "textbook"),
                "torch": unrolled(p0, grad, lrs, gamma, "torch")}
    # the unrolled sums are the recursive loops
    np.testing.assert_allclose(expected["textbook"], naive_heavy_ball(p0, grad, lrs, gamma)[0],
                               rtol=1e-12)
    np.testing.assert_allclose(expected["torch"],
                               naive_torch_sgd(p0, grad, lrs, momentum=gamma)[0], rtol=1e-12)
    for form, opt in [("textbook", O.HeavyBall(sched, gamma)),
                      ("torch", O.Momentum(sched, gamma))]:
        path = ol.trajectory.run(opt, fn, p0, steps=steps)
        np.testing.assert_allclose(path.x[1:], expected[form], rtol=1e-12)
        w = p0.copy()
        state = opt.init(w)
        for k in range(steps):
            state = opt.step(w, A @ (w - c), state)
            np.testing.assert_allclose(w, expected[form][k], rtol=1e-12)
    # identical up to the drop, apart after it: the textbook form keeps ~10x more momentum
    tb, tt = expected["textbook"], expected["torch"]
    np.testing.assert_allclose(tb[:drop], tt[:drop], rtol=1e-12)
    gap = np.abs(tb[drop:] - tt[drop:]).max(axis=1)
    assert gap[0] > 1e-3 * np.abs(tb[drop]).max()
    # first step after the drop: torch moves by 0.01 (0.9 b + g), textbook by 0.9 v + 0.01 g
    b = naive_torch_sgd(p0, grad, lrs, momentum=gamma)[1][drop - 1]
    g = A @ (tt[drop - 1] - c)
    np.testing.assert_allclose(tt[drop - 1] - tt[drop], 0.01 * (gamma * b + g), rtol=1e-10)
    np.testing.assert_allclose(tb[drop - 1] - tb[drop], gamma * 0.1 * b + 0.01 * g, rtol=1e-10)


def test_rescaling_the_torch_buffer_at_the_drop_maps_it_onto_the_textbook_form():
    """While lr is constant the textbook velocity is lr times torch's buffer (by
    induction from the first step, where the buffer is g and the velocity lr g), so
    multiplying the buffer by lr_old / lr_new at the change keeps that true for the
    new rate."""
    r = np.random.default_rng(8)
    A, _ = random_spd(r, 3)
    c = r.uniform(1, 2, 3)
    sched = ol.schedules.multi_step(0.2, [25], 0.1)
    hb, mo = O.HeavyBall(sched, 0.8), O.Momentum(sched, 0.8)
    wb = c + r.normal(size=3)
    wt = wb.copy()
    sb, st_ = hb.init(wb), mo.init(wt)
    for k in range(60):
        if k == 25:
            st_.velocity[...] *= 0.2 / 0.02
        sb = hb.step(wb, A @ (wb - c), sb)
        st_ = mo.step(wt, A @ (wt - c), st_)
        np.testing.assert_allclose(wt, wb, rtol=1e-12)


# --- Nesterov ----------------------------------------------------------------------------

LANDSCAPES = [
    ("quadratic", lambda: ol.functions.quadratic(cond=20.0, angle=0.4, center=[0.5, 1.0]),
     0.2, 0.9, 300),
    ("rosenbrock", lambda: ol.functions.rosenbrock(), 1e-3, 0.9, 400),
    ("beale", lambda: ol.functions.beale(), 5e-3, 0.8, 400),
]


@pytest.mark.parametrize("name, make, lr, gamma, steps", LANDSCAPES,
                         ids=[x[0] for x in LANDSCAPES])
def test_lookahead_points_are_the_torch_nesterov_iterates(name, make, lr, gamma, steps):
    fn = make()
    la = ol.trajectory.run(O.NesterovLookahead(lr, gamma), fn, steps=steps)
    tn = ol.trajectory.run(O.Momentum(lr, gamma, nesterov=True), fn, steps=steps)
    assert la.steps_taken == tn.steps_taken == steps and not la.diverged
    v = la.x[:-1] - la.x[1:]  # w_{k+1} = w_k - v_{k+1}
    look = np.vstack([la.x[:1], la.x[1:] - gamma * v])
    np.testing.assert_allclose(look, tn.x, rtol=1e-10)
    # near a minimum the gradient is a difference of nearly equal numbers: atol for that
    np.testing.assert_allclose(la.grad_norm, tn.grad_norm, rtol=1e-10,
                               atol=1e-10 * tn.grad_norm[0])
    np.testing.assert_allclose(la.x[-1] - gamma * la.state.velocity, tn.x[-1], rtol=1e-10)
    assert np.abs(la.x - tn.x).max() > 1e-4  # the two forms' own iterates are not equal
    assert tn.loss[-1] < 0.5 * tn.loss[0]  # and the run goes somewhere


def test_lookahead_via_step_equals_the_naive_loop_and_torch_nesterov():
    fn = ol.functions.quadratic(cond=10.0, angle=0.3, center=[1.0, -1.0])
    lrs = np.full(100, 0.3)
    p0 = np.array([2.0, 1.5])
    ws, vs = naive_heavy_ball(p0, lambda w, k: fn.grad(w), lrs, 0.85, lookahead=True)
    tn, _ = naive_torch_sgd(p0, lambda w, k: fn.grad(w), lrs, momentum=0.85, nesterov=True)
    np.testing.assert_allclose(ws - 0.85 * vs, tn, rtol=1e-10)
    opt = O.NesterovLookahead(0.3, 0.85)
    w = p0.copy()
    state = opt.init(w)
    for k in range(100):
        state = opt.step(w, fn.grad(w - 0.85 * state.velocity), state)
        np.testing.assert_allclose(w, ws[k], rtol=1e-12)
        np.testing.assert_allclose(state.velocity, vs[k], rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("opt", [O.GD(0.1), O.Momentum(0.1), O.Momentum(0.1, nesterov=True),
                                 O.HeavyBall(0.1, 0.5)], ids=repr)
def test_grad_point_is_params_itself_without_look_ahead(opt):
    w = np.array([1.0, -2.0, 3.0])
    state = opt.init(w)
    if opt.slot_names:
        state.velocity[:] = [0.5, 0.5, 0.5]
    assert opt.grad_point(w, state) is w


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_grad_point_of_nesterov_lookahead_is_params_minus_gamma_velocity(dtype):
    r = np.random.default_rng(4)
    w = r.normal(size=(3, 4)).astype(dtype)
    before = w.copy()
    opt = O.NesterovLookahead(0.1, 0.7)
    state = opt.init(w)
    state.velocity[...] = r.normal(size=(3, 4))
    at = opt.grad_point(w, state)
    assert at is not w and at.shape == w.shape and at.dtype == dtype
    np.testing.assert_allclose(at, w.astype(float) - 0.7 * state.velocity.astype(float),
                               rtol=1e-6 if dtype == np.float32 else 1e-15)
    np.testing.assert_array_equal(w, before)
    assert np.abs(at - w).max() > 0.01


@pytest.mark.parametrize("opt", [O.NesterovLookahead(2e-3, 0.9), O.HeavyBall(2e-3, 0.9),
                                 O.Momentum(2e-3, 0.9, nesterov=True)], ids=repr)
def test_python_path_uses_the_same_gradient_point_as_the_jitted_path(opt):
    fn = ol.functions.rosenbrock()
    jit = ol.trajectory.run(opt, fn, steps=150)
    py = ol.trajectory.run(opt, Wrapped(fn), fn.x0, steps=150)
    np.testing.assert_allclose(py.x, jit.x, rtol=1e-13)
    np.testing.assert_allclose(py.grad_norm, jit.grad_norm, rtol=1e-13)
    np.testing.assert_allclose(py.state.velocity, jit.state.velocity, rtol=1e-12)
    assert py.state.step == jit.state.step == 150


def test_fit_with_nesterov_lookahead_takes_gradients_at_the_look_ahead_point():
    data = ol.datasets.synthetic_regression(n=120, dim=3, cond=5.0, seed=2)
    model = ol.models.LinearRegression(n_in=3)
    lr, gamma, batch, epochs = 0.05, 0.8, 16, 3
    w = model.init()
    hist = ol.models.fit(model, O.NesterovLookahead(lr, gamma), w, data, epochs=epochs,
                         batch_size=batch, seed=9)

    def manual(lookahead):
        p = model.init()
        vel = np.zeros_like(p)
        rng = np.random.default_rng(9)
        n = data.X_train.shape[0]
        losses = []
        for _ in range(epochs):
            order = rng.permutation(n)
            X, y = data.X_train[order], data.y_train[order]
            for s in range(0, n, batch):
                at = p - gamma * vel if lookahead else p
                loss, g = model.loss_and_grad(at, X[s:s + batch], y[s:s + batch])
                losses.append(loss)
                vel = gamma * vel + lr * g
                p = p - vel
        return p, vel, np.array(losses)

    p, vel, losses = manual(lookahead=True)
    np.testing.assert_allclose(w, p, rtol=1e-12)
    np.testing.assert_allclose(hist.state.velocity, vel, rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(hist.step_loss, losses, rtol=1e-12)
    assert hist.state.step == len(losses) == epochs * -(-data.X_train.shape[0] // batch)
    p_plain, _, _ = manual(lookahead=False)
    assert np.abs(p_plain - p).max() > 1e-6  # the look-ahead point matters here


# --- theory ------------------------------------------------------------------------------

def spectral_radius(lr, gamma, lam):
    M = np.array([[1.0 + gamma - lr * lam, -gamma], [1.0, 0.0]])
    return np.abs(np.linalg.eigvals(M)).max()


def test_heavy_ball_rate_is_the_spectral_radius_of_the_2x2_matrix():
    r = np.random.default_rng(0)
    for _ in range(300):
        lr, gamma = r.uniform(0, 3), r.choice([0.0, r.uniform(0, 0.999)])
        lam = r.uniform(0.01, 10, r.integers(1, 5))
        expected = max(spectral_radius(lr, gamma, x) for x in lam)
        # eigvals loses ~sqrt(eps) near a double root, hence 1e-7
        assert ol.theory.heavy_ball_rate(lr, gamma, lam) == pytest.approx(expected, rel=1e-7)
    lrs = np.array([0.1, 0.5, 1.5])
    got = ol.theory.heavy_ball_rate(lrs, 0.6, [0.3, 2.0])
    assert got.shape == (3,)
    np.testing.assert_allclose(got, [max(spectral_radius(a, 0.6, x) for x in (0.3, 2.0))
                                     for a in lrs], rtol=1e-7)


def test_gd_rate_is_the_largest_factor_and_heavy_ball_without_momentum():
    r = np.random.default_rng(1)
    for _ in range(100):
        lr, lam = r.uniform(0, 3), r.uniform(0.01, 10, r.integers(1, 6))
        expected = max(abs(1.0 - lr * x) for x in lam)
        assert ol.theory.gd_rate(lr, lam) == pytest.approx(expected, rel=1e-14)
        assert ol.theory.heavy_ball_rate(lr, 0.0, lam) == pytest.approx(expected, rel=1e-14)


def test_heavy_ball_optimal_sits_on_the_critical_boundary():
    r = np.random.default_rng(2)
    for _ in range(100):
        mu = 10 ** r.uniform(-3, 1)
        L = mu * 10 ** r.uniform(0, 4)
        lr, gamma, rate = ol.theory.heavy_ball_optimal(mu, L)
        k = L / mu
        assert rate == pytest.approx((np.sqrt(k) - 1) / (np.sqrt(k) + 1), rel=1e-12, abs=1e-15)
        assert rate == pytest.approx(np.sqrt(gamma), rel=1e-12, abs=1e-15)
        for lam in (mu, L):  # discriminant of z^2 - b z + gamma is zero at both ends
            b = 1.0 + gamma - lr * lam
            assert b * b - 4 * gamma == pytest.approx(0.0, abs=1e-12)
        inside = np.geomspace(mu, L, 7)
        assert ol.theory.heavy_ball_rate(lr, gamma, inside) == pytest.approx(rate, rel=1e-6,
                                                                             abs=1e-9)
        if L > 1.01 * mu:  # optimal: nudging either knob makes it slower
            for dlr, dg in [(1.01, 1.0), (0.99, 1.0), (1.0, 1.01), (1.0, 0.99)]:
                assert ol.theory.heavy_ball_rate(lr * dlr, gamma * dg, [mu, L]) > rate


def _envelope(e, width):
    """max_j ||e_j||_inf over j in [k, k + width) for each k (the oscillation's envelope).

    The max-norm, not np.linalg.norm, whose squares underflow below ~1e-154."""
    n = np.abs(e).max(axis=1)
    return np.lib.stride_tricks.sliding_window_view(n, width).max(axis=1)


def test_measured_contraction_of_heavy_ball_matches_heavy_ball_rate():
    r = np.random.default_rng(6)
    checked = 0
    while checked < 12:
        L, cond, gamma = r.uniform(0.5, 4), 10 ** r.uniform(0, 2), r.uniform(0, 0.95)
        lr = r.uniform(0.05, 2.0 * (1 + gamma)) / L
        fn = ol.functions.quadratic(cond=cond, dim=5, L=L)
        rate = ol.theory.heavy_ball_rate(lr, gamma, fn.eigenvalues)
        if not 0.3 < rate < 0.97:
            continue
        # window: from 1e-2 down to 1e-250 of the start (transients gone, no underflow)
        k1 = int(np.log(1e-2) / np.log(rate)) + 20
        k2 = int(np.log(1e-250) / np.log(rate))
        width = 40
        path = ol.trajectory.run(O.HeavyBall(lr, gamma), fn, steps=k2 + width)
        env = _envelope(path.x - fn.minima, width)
        measured = (env[k2] / env[k1]) ** (1.0 / (k2 - k1))
        assert measured == pytest.approx(rate, rel=0.02)
        # the convergence exponent -log(rate) too, a much stricter check near rate 1
        assert np.log(measured) == pytest.approx(np.log(rate), rel=0.005)
        checked += 1


@pytest.mark.parametrize("call, words", [
    (lambda: ol.theory.heavy_ball_rate(0.1, 1.0, [1.0]), "momentum"),
    (lambda: ol.theory.heavy_ball_rate(0.1, -0.1, [1.0]), "momentum"),
    (lambda: ol.theory.heavy_ball_rate(0.1, 0.5, [1.0, 0.0]), "eigenvalues"),
    (lambda: ol.theory.heavy_ball_rate(0.1, 0.5, [-1.0]), "eigenvalues"),
    (lambda: ol.theory.gd_rate(0.1, [0.0]), "eigenvalues"),
    (lambda: ol.theory.gd_rate(0.1, [np.nan]), "eigenvalues"),
    (lambda: ol.theory.heavy_ball_optimal(2.0, 1.0), "mu must be <= L"),
    (lambda: ol.theory.heavy_ball_optimal(0.0, 1.0), "mu"),
    (lambda: ol.theory.heavy_ball_optimal(1.0, -1.0), "L"),
    (lambda: ol.theory.heavy_ball_rate(0.1, np.nan, [1.0]), "momentum"),
])
def test_theory_refuses_bad_input(call, words):
    with pytest.raises(ValueError, match=words):
        call()


# --- bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize("call, exc, words", [
    (lambda: O.Momentum(0.1, momentum=1.0), ValueError, r"momentum must be in \[0.0, 1.0\)"),
    (lambda: O.Momentum(0.1, momentum=-0.1), ValueError, "momentum must be in .* got -0.1"),
    (lambda: O.Momentum(0.1, momentum=np.nan), ValueError, "momentum must be finite"),
    (lambda: O.HeavyBall(0.1, momentum=1.0), ValueError, "momentum must be in"),
    (lambda: O.HeavyBall(0.1, momentum=-0.1), ValueError, "momentum must be in"),
    (lambda: O.NesterovLookahead(0.1, momentum=np.nan), ValueError, "momentum must be finite"),
    (lambda: O.NesterovLookahead(0.1, momentum=1.0), ValueError, "momentum must be in"),
    (lambda: O.Momentum(0.1, momentum=0.0, nesterov=True), ValueError,
     "nesterov=True needs momentum > 0.*momentum=0.0"),
    (lambda: O.Momentum(0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     "nesterov=True needs .*dampening = 0.*dampening=0.1"),
    (lambda: O.Momentum(0.1, dampening=1.5), ValueError, r"dampening must be in \[0.0, 1.0\]"),
    (lambda: O.Momentum(0.1, dampening=-0.1), ValueError, "dampening must be in"),
    (lambda: O.Momentum(0.1, weight_decay=-1e-3), ValueError, "weight_decay must be in"),
    (lambda: O.Momentum(-0.1), ValueError, "lr must be in"),
    (lambda: O.HeavyBall(-0.1), ValueError, "lr must be in"),
    (lambda: O.NesterovLookahead(np.inf), ValueError, "lr must be finite"),
    (lambda: O.Momentum(0.1, momentum="0.9"), TypeError, "momentum must be a real number"),
])
def test_bad_hyperparameters_are_refused(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


def _vel(shape=(3,), dtype=np.float64):
    return O.MomentumState(0, np.zeros(shape, dtype))


@pytest.mark.parametrize("opt", [O.Momentum(0.1), O.HeavyBall(0.1), O.NesterovLookahead(0.1)],
                         ids=lambda o: type(o).__name__)
@pytest.mark.parametrize("grads, state, exc, words", [
    (np.ones(3), O.GDState(0), TypeError, "state must be the MomentumState"),
    (np.ones(3), (0, np.zeros(3)), TypeError, "state must be the MomentumState"),
    (np.ones(3), _vel((4,)), ValueError, r"state.velocity must have the shape of params"),
    (np.ones(3), _vel((3, 1)), ValueError, r"state.velocity must have the shape of params"),
    (np.ones(3), _vel(dtype=np.float32), TypeError, "state.velocity must have the dtype"),
    (np.ones(2), _vel(), ValueError, "grads must have the shape of params"),
    (np.ones(3, np.float32), _vel(), TypeError, "grads must have the dtype of params"),
    (np.ones(3), O.MomentumState(-1, np.zeros(3)), ValueError, "state.step"),
    (np.ones(3), O.MomentumState(0, [0.0, 0.0, 0.0]), TypeError, "state.velocity"),
])
def test_a_refused_step_names_the_argument_and_touches_nothing(opt, grads, state, exc, words):
    w = np.array([1.0, 2.0, 3.0])
    before = [np.array(x, copy=True) for x in state[1:]]
    with pytest.raises(exc, match=words):
        opt.step(w, grads, state)
    np.testing.assert_array_equal(w, [1.0, 2.0, 3.0])
    for old, new in zip(before, state[1:]):
        np.testing.assert_array_equal(np.asarray(new), old)


def test_a_non_contiguous_velocity_is_refused_or_updated_in_place():
    opt = O.Momentum(0.1, 0.9)
    w = np.ones((2, 3))
    state = O.MomentumState(0, np.asfortranarray(np.zeros((2, 3))))
    try:
        for _ in range(2):
            state = opt.step(w, np.ones((2, 3)), state)
    except (ValueError, TypeError) as e:
        assert "velocity" in str(e)
        return
    np.testing.assert_allclose(state.velocity, 1.9, rtol=1e-15)
    np.testing.assert_allclose(w, 1 - 0.1 - 0.19, rtol=1e-15)


# --- state ---------------------------------------------------------------------------------

def _naive_for(opt):
    """The naive loop of ``opt`` fed a fixed gradient sequence (flattened)."""
    if isinstance(opt, O.Momentum):
        kw = {k: getattr(opt, k) for k in SGD_KEYS}
        return lambda p0, gs: naive_torch_sgd(p0, lambda w, k: gs[k], [opt.lr] * len(gs), **kw)
    return lambda p0, gs: naive_heavy_ball(p0, lambda w, k: gs[k], [opt.lr] * len(gs),
                                           opt.momentum)


@pytest.mark.parametrize("make", [lambda: O.Momentum(0.1, 0.9), lambda: O.HeavyBall(0.1, 0.9),
                                  lambda: O.NesterovLookahead(0.1, 0.9),
                                  lambda: O.Momentum(0.1, 0.9, dampening=0.3,
                                                     weight_decay=0.1, maximize=True)],
                         ids=["momentum", "heavy_ball", "lookahead", "momentum_all"])
@pytest.mark.parametrize("shape", [(5,), (3, 4)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_state_is_zero_velocity_updated_in_place(make, shape, dtype):
    opt = make()
    r = np.random.default_rng(0)
    w = r.normal(size=shape).astype(dtype)
    p0 = w.astype(np.float64).reshape(-1)
    state = opt.init(w)
    assert isinstance(state, O.MomentumState) and state.step == 0
    assert state.velocity.shape == shape and state.velocity.dtype == dtype
    assert not np.any(state.velocity) and state.velocity is not w
    vel, gs = state.velocity, []
    for k in range(1, 4):
        before = w.copy()
        g = r.normal(size=shape).astype(dtype)
        gs.append(g.astype(np.float64).reshape(-1))
        w_obj = w
        state = opt.step(w, g, state)
        assert state.step == k
        assert w is w_obj and state.velocity is vel  # the same objects, updated in place
        assert w.dtype == dtype and w.shape == shape and state.velocity.dtype == dtype
        assert not np.array_equal(w, before)
    ps, vs = _naive_for(opt)(p0, gs)
    # float32 computes in float32: an entry that cancels keeps an error of a few ulps of
    # the largest terms, hence the absolute part
    tol = 1e-6 if dtype == np.float32 else 1e-14
    for got, want in ((w, ps[-1]), (state.velocity, vs[-1])):
        np.testing.assert_allclose(got.reshape(-1), want, rtol=tol,
                                   atol=tol * np.abs(want).max())
