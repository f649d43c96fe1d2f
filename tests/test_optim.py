from pathlib import Path

import numpy as np
import pytest

import optlib as ol
from naive import gd

REF = Path(__file__).parent / "reference" / "sgd_torch.npz"


def quad_grad(x):
    return np.array([1.0, 10.0]) * x


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-15), (np.float32, 1e-6)])
@pytest.mark.parametrize("shape", [(1,), (5,), (3, 4)])
def test_gd_step_matches_the_formula(dtype, rtol, shape):
    r = np.random.default_rng(0)
    w = r.normal(size=shape).astype(dtype)
    g = r.normal(size=shape).astype(dtype)
    expected = w.astype(np.float64) - 0.3 * g.astype(np.float64)
    opt = ol.optim.GD(lr=0.3)
    state = opt.init(w)
    before = id(w)
    state = opt.step(w, g, state)
    assert id(w) == before and w.dtype == dtype  # updated in place
    np.testing.assert_allclose(w, expected, rtol=rtol)
    assert state == ol.optim.GDState(step=1)


def test_many_steps_equal_the_naive_loop():
    lrs = np.full(50, 0.05)
    expected = gd(quad_grad, [1.0, 1.0], lrs)
    w = np.array([1.0, 1.0])
    opt = ol.optim.GD(lr=0.05)
    state = opt.init(w)
    for k in range(50):
        state = opt.step(w, quad_grad(w), state)
        np.testing.assert_allclose(w, expected[k + 1], rtol=1e-15)
    assert state.step == 50


def test_a_schedule_is_called_with_the_zero_based_step():
    seen = []

    def schedule(step):
        seen.append(step)
        return 0.1 / (1 + step)

    opt = ol.optim.GD(lr=schedule)
    w = np.array([1.0])
    state = opt.init(w)
    for _ in range(3):
        state = opt.step(w, np.array([1.0]), state)
    assert seen == [0, 1, 2]
    assert w[0] == pytest.approx(1.0 - 0.1 - 0.05 - 0.1 / 3, rel=1e-15)
    np.testing.assert_allclose(opt.lr_values(0, 3), [0.1, 0.05, 0.1 / 3])


def test_schedule_values_are_checked():
    opt = ol.optim.GD(lr=lambda k: 0.1 if k < 2 else float("nan"))
    with pytest.raises(ValueError, match="at step 2"):
        opt.lr_values(0, 5)
    w = np.array([1.0])
    state = opt.init(w)
    state = opt.step(w, w, state)
    state = opt.step(w, w, state)
    with pytest.raises(ValueError, match="at step 2"):
        opt.step(w, w, state)


def _torch_reference_runs():
    data = np.load(REF)
    runs = sorted({k.split("/")[0] for k in data.files})
    return [(data[f"{r}/lr"], data[f"{r}/params0"], data[f"{r}/grads"], data[f"{r}/params"])
            for r in runs]


@pytest.mark.parametrize("run", range(3))
def test_gd_matches_stored_torch_sgd_values(run):
    """torch.optim.SGD(lr) from tests/reference/generate_reference.py."""
    lr, p0, grads, params = _torch_reference_runs()[run]
    w = p0.copy()
    opt = ol.optim.GD(lr=float(lr))
    state = opt.init(w)
    for k in range(len(grads)):
        state = opt.step(w, grads[k], state)
        np.testing.assert_allclose(w, params[k], rtol=1e-12, atol=1e-12)


def test_gd_matches_live_torch_sgd():
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(7)
    p = torch.tensor(r.normal(size=20), dtype=torch.float64, requires_grad=True)
    topt = torch.optim.SGD([p], lr=0.07)
    w = p.detach().numpy().copy()
    opt = ol.optim.GD(lr=0.07)
    state = opt.init(w)
    for _ in range(200):
        g = r.normal(size=20)
        p.grad = torch.tensor(g)
        topt.step()
        state = opt.step(w, g, state)
    np.testing.assert_allclose(w, p.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("call, exc, words", [
    (lambda: ol.optim.GD(lr=-0.1), ValueError, r"lr must be in \[0.0, inf\), got -0.1"),
    (lambda: ol.optim.GD(lr=float("nan")), ValueError, "lr must be finite"),
    (lambda: ol.optim.GD(lr="0.1"), TypeError, "lr must be a real number"),
    (lambda: ol.optim.GD(lr=True), TypeError, "lr"),
    (lambda: ol.optim.GD(0.1).init([1, 2]), TypeError, "params must hold floats"),
    (lambda: ol.optim.GD(0.1).init(np.arange(3)), TypeError, "params must be a float32"),
    (lambda: ol.optim.GD(0.1).init(np.array([np.inf])), ValueError, "params must be finite"),
    (lambda: ol.optim.GD(0.1).init(np.zeros(0)), ValueError, "params must not be empty"),
    (lambda: ol.optim.GD(0.1).step(np.zeros(2), np.zeros(3), ol.optim.GDState(0)),
     ValueError, "grads must have the shape of params"),
    (lambda: ol.optim.GD(0.1).step(np.zeros(2), np.zeros(2, np.float32), ol.optim.GDState(0)),
     TypeError, "grads must have the dtype of params"),
    (lambda: ol.optim.GD(0.1).step(np.zeros(2), np.zeros(2), (0,)), TypeError, "GDState"),
    (lambda: ol.optim.GD(0.1).step(np.zeros(2), np.zeros(2), ol.optim.GDState(-1)),
     ValueError, "state.step"),
    (lambda: ol.optim.GD(0.1).step(np.zeros((4, 4))[:, 0], np.zeros(4), ol.optim.GDState(0)),
     ValueError, "C-contiguous"),
    (lambda: ol.optim.GD(lambda k: -1.0).lr_at(0), ValueError, "at step 0"),
])
def test_bad_input_is_refused_before_any_kernel_runs(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


def test_a_refused_step_leaves_params_untouched():
    w = np.array([1.0, 2.0])
    with pytest.raises(ValueError):
        ol.optim.GD(0.1).step(w, np.array([1.0, 2.0, 3.0]), ol.optim.GDState(0))
    np.testing.assert_array_equal(w, [1.0, 2.0])


def test_float32_steps_compute_in_float32_with_scalars_rounded_once():
    """A float32 step is float32 arithmetic throughout, as torch's kernels compute it:
    each scalar (lr, 1 - b1, the bias corrections) is worked out in float64 and rounded
    to float32 once, then every operation on the entries rounds to float32. Written
    here in NumPy float32, in the kernels' order, the results agree bit for bit; the
    same formulas in float64 rounded at the end do not (the test can tell them apart)."""
    f = np.float32
    r = np.random.default_rng(3)
    w0, g = r.normal(size=1000).astype(f), r.normal(size=1000).astype(f)
    lr, mu, b1, b2, eps = 0.03, 0.9, 0.9, 0.999, 1e-8

    w = w0.copy()
    opt = ol.optim.Momentum(lr, mu, nesterov=True)
    state = opt.step(w, g, opt.step(w, g, opt.init(w)))
    v = g + f(mu) * g  # the second step: v <- mu v + g with v = g after the first
    p = (w0 - f(lr) * (g + f(mu) * g)) - f(lr) * (g + f(mu) * v)
    np.testing.assert_array_equal(state.velocity, v)
    np.testing.assert_array_equal(w, p)

    w = w0.copy()
    opt = ol.optim.Adam(lr, (b1, b2), eps)
    state = opt.step(w, g, opt.init(w))
    m = f(0.0) + f(1.0 - b1) * (g - f(0.0))  # torch's lerp from the nearer end
    s = f(b2) * f(0.0) + f(1.0 - b2) * g * g
    want = w0 - f(lr / (1.0 - b1)) * m / (np.sqrt(s) / f(np.sqrt(1.0 - b2)) + f(eps))
    np.testing.assert_array_equal(state.exp_avg, m)
    np.testing.assert_array_equal(state.exp_avg_sq, s)
    np.testing.assert_array_equal(w, want)
    d = [x.astype(np.float64) for x in (w0, g)]
    in_float64 = (d[0] - lr / (1 - b1) * ((1 - b1) * d[1])
                  / (np.sqrt((1 - b2) * d[1] ** 2) / np.sqrt(1 - b2) + eps)).astype(f)
    assert not np.array_equal(w, in_float64)


def test_float32_lerp_above_one_half_uses_one_minus_the_rounded_weight():
    """With b1 = 0.1 Adam's lerp weight w = 0.9 takes torch's far branch,
    m <- g - (g - m)(1 - w): 1 - w is taken from w rounded to float32 (exact,
    0.100000024), not 0.1 rounded to float32 (0.1000000015)."""
    f = np.float32
    g = np.random.default_rng(8).normal(size=500).astype(f)
    w = np.zeros(500, f)
    opt = ol.optim.Adam(1e-3, betas=(0.1, 0.999))
    state = opt.step(w, g, opt.init(w))
    rest = f(1.0) - f(0.9)
    assert rest != f(0.1)
    np.testing.assert_array_equal(state.exp_avg, g - (g - f(0.0)) * rest)
    assert not np.array_equal(state.exp_avg, g - (g - f(0.0)) * f(0.1))


def test_every_float32_rule_is_float32_arithmetic_bit_for_bit():
    """The other rules' first steps, written in NumPy float32 in the kernels' order (the
    scalars worked out in float64 and rounded once): the same bits. A float64 scalar
    left in a kernel's loop would make it compute in float64 and break this."""
    f = np.float32
    r = np.random.default_rng(9)
    w0 = r.normal(size=1000).astype(f)
    gs = [r.normal(size=1000).astype(f) for _ in range(3)]
    lr, wd, eps = 0.03, 0.01, 1e-8

    def run(opt, steps=3):
        w = w0.copy()
        state = opt.init(w)
        for g in gs[:steps]:
            state = opt.step(w, g, state)
        return w, state

    w, _ = run(ol.optim.HeavyBall(lr, 0.8))
    p, v = w0.copy(), np.zeros_like(w0)
    for g in gs:
        v = f(0.8) * v + f(lr) * g
        p = p - v
    np.testing.assert_array_equal(w, p)

    w, _ = run(ol.optim.Adagrad(lr, lr_decay=0.1, weight_decay=wd, eps=eps))
    p, acc = w0.copy(), np.zeros_like(w0)
    for k, g in enumerate(gs):
        gi = g + f(wd) * p
        acc = acc + gi * gi
        p = p - f(lr / (1.0 + k * 0.1)) * gi / (np.sqrt(acc) + f(eps))
    np.testing.assert_array_equal(w, p)

    # alpha < 1/2: the centred average's lerp takes its far branch, with 1 - w
    alpha, mom = 0.4, 0.7
    w, _ = run(ol.optim.RMSprop(lr, alpha, eps, weight_decay=wd, momentum=mom,
                                centered=True))
    p, sq, avg, buf = (w0.copy(),) + tuple(np.zeros_like(w0) for _ in range(3))
    wt = f(1.0 - alpha)
    for g in gs:
        gi = g + f(wd) * p
        sq = f(alpha) * sq + f(1.0 - alpha) * gi * gi
        avg = gi - (gi - avg) * (f(1.0) - wt)
        buf = f(mom) * buf + gi / (np.sqrt(sq - avg * avg) + f(eps))
        p = p - f(lr) * buf
    np.testing.assert_array_equal(w, p)

    b1, b2, psi = 0.9, 0.999, 4e-3
    w, _ = run(ol.optim.NAdam(lr, (b1, b2), eps, weight_decay=wd), steps=2)
    p, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    prod = 1.0
    for t, g in ((1, gs[0]), (2, gs[1])):
        mu = b1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        prod *= mu
        gi = g + f(wd) * p
        m = m + f(1.0 - b1) * (gi - m)
        v = f(b2) * v + f(1.0 - b2) * gi * gi
        denom = np.sqrt(v / f(1.0 - b2**t)) + f(eps)
        p = p - f(lr * (1.0 - mu) / (1.0 - prod)) * gi / denom
        p = p - f(lr * mu_next / (1.0 - prod * mu_next)) * m / denom
    np.testing.assert_array_equal(w, p)

    # RMSprop's other three loops: plain, momentum only, centred only (alpha >= 1/2:
    # the centred average's lerp takes its near branch, with w)
    alpha = 0.9
    for mom, centered in ((0.0, False), (0.7, False), (0.0, True)):
        w, _ = run(ol.optim.RMSprop(lr, alpha, eps, momentum=mom, centered=centered))
        p, sq, avg, buf = (w0.copy(),) + tuple(np.zeros_like(w0) for _ in range(3))
        for g in gs:
            sq = f(alpha) * sq + f(1.0 - alpha) * g * g
            avg = avg + f(1.0 - alpha) * (g - avg)
            den = np.sqrt(sq - avg * avg if centered else sq) + f(eps)
            buf = f(mom) * buf + g / den
            p = p - f(lr) * buf if mom else p - f(lr) * g / den
        np.testing.assert_array_equal(w, p)

    b1, b2 = 0.9, 0.999  # AMSGrad: the running maximum of v in the denominator
    w, _ = run(ol.optim.Adam(lr, (b1, b2), eps, amsgrad=True))
    p, m, v, vmax = (w0.copy(),) + tuple(np.zeros_like(w0) for _ in range(3))
    for t, g in enumerate(gs, 1):
        m = m + f(1.0 - b1) * (g - m)
        v = f(b2) * v + f(1.0 - b2) * g * g
        vmax = np.maximum(vmax, v)
        p = p - f(lr / (1.0 - b1**t)) * m / (np.sqrt(vmax) / f(np.sqrt(1.0 - b2**t))
                                             + f(eps))
    np.testing.assert_array_equal(w, p)

    w, _ = run(ol.optim.Momentum(lr, 0.0, weight_decay=wd))  # no buffer: its own loop
    p = w0.copy()
    for g in gs:
        p = p - f(lr) * (g + f(wd) * p)
    np.testing.assert_array_equal(w, p)

    la = ol.optim.NesterovLookahead(0.1, 0.7)  # where the look-ahead gradient is taken
    state = la.init(w0)
    state.velocity[...] = gs[0]
    np.testing.assert_array_equal(la.grad_point(w0, state), w0 - f(0.7) * gs[0])


def test_torchs_lerp_takes_its_far_branch_at_weight_one_half():
    """torch's lerp: a + w (b - a) for w < 1/2, else b - (b - a)(1 - w); at w = 1/2
    exactly (Adam with b1 = 1/2, RMSprop's centred average with alpha = 1/2) the far
    one, which rounds differently from the near one."""
    r = np.random.default_rng(2)
    opt = ol.optim.Adam(1e-3, betas=(0.5, 0.999))
    w = np.zeros(1000)
    state, m, near = opt.init(w), np.zeros(1000), np.zeros(1000)
    for g in r.normal(size=(3, 1000)):
        state = opt.step(w, g, state)
        m, near = g - (g - m) * 0.5, near + 0.5 * (g - near)
    np.testing.assert_array_equal(state.exp_avg, m)
    assert not np.array_equal(m, near)  # the branches do differ on these numbers


@pytest.mark.parametrize("opt,name,value", [
    (ol.optim.Adam(1e-3), "eps", 1e-3), (ol.optim.AdamW(1e-3), "weight_decay", 0.5),
    (ol.optim.Adam(1e-3), "betas", (0.0, 0.0)), (ol.optim.Momentum(0.1), "momentum", 0.5),
    (ol.optim.HeavyBall(0.1, 0.9), "momentum", 0.0), (ol.optim.RMSprop(0.01), "eps", -5.0),
    (ol.optim.Adagrad(0.1), "lr_decay", 1.0), (ol.optim.NAdam(), "momentum_decay", 0.0)])
def test_hyperparameters_are_fixed_once_made(opt, name, value):
    """The kernels read a copy of the hyperparameters (``hyper``), made by the
    constructor: setting one later used to change the attribute and the repr but not
    the steps (and skipped validation). Now it is refused, by name; lr stays settable."""
    before = getattr(opt, name)
    with pytest.raises(AttributeError, match=f"{type(opt).__name__}.{name} is fixed"):
        setattr(opt, name, value)
    assert getattr(opt, name) == before
    opt.lr = 0.5
    assert opt.lr == 0.5


def test_a_subclass_may_add_its_own_settings():
    class Tagged(ol.optim.Adam):
        def __init__(self, lr, tag):
            super().__init__(lr)
            self.tag = tag  # after hyper: a new attribute, not a reassigned one

    opt = Tagged(1e-3, "mine")
    assert opt.tag == "mine" and opt.eps == 1e-8 and "_constructing" not in vars(opt)
    with pytest.raises(AttributeError, match="Tagged.tag is fixed"):
        opt.tag = "other"

    class Renamed(ol.optim.Momentum):  # sets what its parent's constructor set
        def __init__(self, lr):
            super().__init__(lr, nesterov=True)
            self.name = "mine"

    assert Renamed(0.1).name == "mine"
    with pytest.raises(AttributeError, match="Adam has no setting 'b1'"):
        ol.optim.Adam(1e-3).b1 = 0.5  # optax's name: a new attribute, also refused
