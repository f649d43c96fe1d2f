"""optlib.chain: the classic optimizers rebuilt from links equal the fused ones step by
step; the links' states; gradient noise and SGLD (statistics with a fixed seed); chains
in fit and trajectory.run; bad input."""

import math

import numpy as np
import pytest

import optlib as ol

C = ol.chain
O = ol.optim
DIM = 40
CURV = np.linspace(0.3, 30.0, DIM)


def grad_at(w, k):
    """A quadratic's gradient plus a step-dependent wobble (so every coordinate moves)."""
    return CURV * w + 0.5 * np.sin(0.7 * k + np.arange(DIM))


def run(opt, dtype, steps, clip=None):
    w = np.random.default_rng(1).normal(size=DIM).astype(dtype)
    state = opt.init(w)
    out = []
    for k in range(steps):
        g = grad_at(w, k).astype(dtype)
        if clip is not None:
            clip(g)
        state = opt.step(w, g, state)
        out.append(w.copy())
    return np.array(out), state


WARM = ol.schedules.warmup_cosine(0.02, 30, 400)


def clip_1(g):
    return ol.clipping.clip_grad_norm(g, 1.0)


# name: (fused optimizer, the same as a chain, clip applied before the fused step)
PAIRS = {
    "sgd": (lambda: O.GD(0.01), lambda: C.chain(C.scale_by_learning_rate(0.01)), None),
    "sgd-schedule": (lambda: O.GD(WARM), lambda: C.chain(C.scale_by_learning_rate(WARM)),
                     None),
    "momentum": (lambda: O.Momentum(0.01, 0.9, weight_decay=1e-2),
                 lambda: C.chain(C.add_decayed_weights(1e-2), C.trace(0.9),
                                 C.scale_by_learning_rate(0.01)), None),
    "momentum-dampening": (lambda: O.Momentum(0.01, 0.8, dampening=0.3),
                           lambda: C.chain(C.trace(0.8, dampening=0.3),
                                           C.scale_by_learning_rate(0.01)), None),
    "nesterov": (lambda: O.Momentum(WARM, 0.9, nesterov=True),
                 lambda: C.chain(C.trace(0.9, nesterov=True),
                                 C.scale_by_learning_rate(WARM)), None),
    "adagrad": (lambda: O.Adagrad(0.1, initial_accumulator_value=0.1),
                lambda: C.chain(C.scale_by_adagrad(initial_accumulator_value=0.1),
                                C.scale_by_learning_rate(0.1)), None),
    "rmsprop": (lambda: O.RMSprop(0.01, alpha=0.99),
                lambda: C.chain(C.scale_by_rms(alpha=0.99), C.scale_by_learning_rate(0.01)),
                None),
    "adam": (lambda: O.Adam(0.01, betas=(0.8, 0.99)),
             lambda: C.chain(C.scale_by_adam(0.8, 0.99), C.scale_by_learning_rate(0.01)),
             None),
    "adamw-schedule-clip": (lambda: O.AdamW(WARM, weight_decay=0.1),
                            lambda: C.chain(C.clip_by_global_norm(1.0), C.scale_by_adam(),
                                            C.add_decayed_weights(0.1),
                                            C.scale_by_learning_rate(WARM)), clip_1),
    "momentum-clip-value": (lambda: O.Momentum(0.01, 0.9),
                            lambda: C.chain(C.clip_by_value(0.5), C.trace(0.9),
                                            C.scale_by_learning_rate(0.01)),
                            lambda g: ol.clipping.clip_grad_value(g, 0.5)),
}


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("name", list(PAIRS))
def test_chain_equals_the_fused_optimizer_step_by_step(name, dtype, rtol):
    fused, chained, clip = PAIRS[name]
    steps = 400
    a, _ = run(fused(), dtype, steps, clip)
    b, state = run(chained(), dtype, steps)
    assert b.dtype == dtype and state.step == steps
    assert np.abs(a[-1] - a[0]).max() > 0.05  # the run really moved
    scale = np.abs(a).max()
    np.testing.assert_allclose(b, a, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["sgd", "sgd-schedule", "momentum", "momentum-dampening",
                                  "nesterov", "momentum-clip-value"])
def test_the_momentum_family_as_a_chain_is_the_fused_step_bit_for_bit(name, dtype):
    """Where optax's split leaves the arithmetic in the fused order, the links compute
    exactly what the fused kernel computes, float32 included (both round their
    scalars to float32 once and then compute in float32)."""
    fused, chained, clip = PAIRS[name]
    a, _ = run(fused(), dtype, 400, clip)
    b, _ = run(chained(), dtype, 400)
    np.testing.assert_array_equal(a, b)


def test_float32_adaptive_links_are_float32_arithmetic_bit_for_bit():
    """scale_by_adagrad, scale_by_rms and scale_by_adam in float32, three steps, written
    in NumPy float32 in the kernels' order (scalars rounded to float32 once)."""
    f = np.float32
    r = np.random.default_rng(6)
    gs = [r.normal(size=500).astype(f) for _ in range(3)]
    b1, b2, eps = 0.1, 0.99, 1e-8  # b1 < 1/2: the lerp's far branch, with 1 - w

    def updates(link):
        state, out = link.init(gs[0]), []
        for k, g in enumerate(gs):
            u = g.copy()
            state = link.apply(u, state, None, k, link.prepare(k, None))
            out.append(u)
        return out

    acc, sq, m, v = (np.zeros(500, f) for _ in range(4))
    w1 = f(1.0 - b1)
    for k, (g, ada, rms, adam) in enumerate(zip(gs, updates(C.scale_by_adagrad(eps=eps)),
                                                updates(C.scale_by_rms(0.9, eps)),
                                                updates(C.scale_by_adam(b1, b2, eps)))):
        acc = acc + g * g
        np.testing.assert_array_equal(ada, g / (np.sqrt(acc) + f(eps)))
        sq = f(0.9) * sq + f(1.0 - 0.9) * g * g
        np.testing.assert_array_equal(rms, g / (np.sqrt(sq) + f(eps)))
        t = k + 1
        m = g - (g - m) * (f(1.0) - w1)
        v = f(b2) * v + f(1.0 - b2) * g * g
        want = (m / f(1.0 - b1**t)) / (np.sqrt(v) / f(np.sqrt(1.0 - b2**t)) + f(eps))
        np.testing.assert_array_equal(adam, want)


def test_chain_differs_from_a_fused_optimizer_with_other_settings():
    """The comparison above can fail: a wrong momentum or a missing bias correction is seen."""
    a, _ = run(O.Adam(0.01), np.float64, 50)
    b, _ = run(C.chain(C.scale_by_adam(b1=0.8), C.scale_by_learning_rate(0.01)),
               np.float64, 50)
    assert np.abs(a - b).max() > 1e-4
    a, _ = run(O.Momentum(0.01, 0.9), np.float64, 50)
    b, _ = run(C.chain(C.trace(0.8), C.scale_by_learning_rate(0.01)), np.float64, 50)
    assert np.abs(a - b).max() > 1e-4


def test_link_states_are_inspectable_and_hold_the_fused_buffers():
    chained = C.chain(C.clip_by_global_norm(1e9), C.scale_by_adam(), C.add_decayed_weights(0.0),
                      C.scale_by_learning_rate(0.01))
    _, state = run(chained, np.float64, 30)
    _, fused = run(O.Adam(0.01), np.float64, 30)
    clip_state, adam_state, decay_state, lr_state = state.links
    assert isinstance(state, C.ChainState) and state.step == 30
    np.testing.assert_allclose(adam_state.exp_avg, fused.exp_avg, rtol=1e-12)
    np.testing.assert_allclose(adam_state.exp_avg_sq, fused.exp_avg_sq, rtol=1e-12)
    assert clip_state.norm > 0 and decay_state == () and lr_state == ()
    trace_state = run(C.chain(C.trace(0.9), C.scale_by_learning_rate(0.01)), np.float64,
                      30)[1].links[0]
    np.testing.assert_allclose(trace_state.trace, run(O.Momentum(0.01, 0.9), np.float64,
                                                      30)[1].velocity, rtol=1e-12)


def test_update_leaves_the_gradient_and_params_alone_and_apply_adds():
    opt = C.chain(C.add_decayed_weights(0.5), C.trace(0.9), C.scale_by_learning_rate(0.1))
    w = np.array([1.0, -2.0])
    g = np.array([0.4, 0.2])
    state = opt.init(w)
    u, state2 = opt.update(g, state, w)
    np.testing.assert_array_equal(g, [0.4, 0.2])
    np.testing.assert_array_equal(w, [1.0, -2.0])
    np.testing.assert_allclose(u, -0.1 * (g + 0.5 * w), rtol=1e-15)
    assert state.step == 0 and state2.step == 1
    C.apply_updates(w, u)
    np.testing.assert_allclose(w, [1.0 - 0.1 * 0.9, -2.0 + 0.1 * 0.8], rtol=1e-15)


def test_scale_and_scale_by_schedule_multiply_by_their_factor():
    sched = ol.schedules.step_decay(1.0, 2, 0.5)
    opt = C.chain(C.scale(-3.0), C.scale_by_schedule(sched))
    w = np.zeros(3)
    state = opt.init(w)
    got = []
    for k in range(5):
        u, state = opt.update(np.ones(3), state)
        got.append(u[0])
    np.testing.assert_allclose(got, -3.0 * sched(np.arange(5)), rtol=1e-15)


def test_lr_values_come_from_the_learning_rate_link():
    opt = C.chain(C.trace(0.9), C.scale_by_learning_rate(WARM))
    np.testing.assert_allclose(opt.lr_values(0, 50), WARM(np.arange(50)))
    assert np.isnan(C.chain(C.scale(-0.1)).lr_values(0, 3)).all()
    with pytest.raises(ValueError, match="lr schedule must give finite values >= 0"):
        C.chain(C.scale_by_learning_rate(lambda k: 0.1 - 0.01 * k)).lr_values(0, 20)


# --- gradient noise and SGLD --------------------------------------------------------------

def noise_draws(link, steps, dim=20000):
    opt = C.chain(link)
    w = np.zeros(dim)
    state = opt.init(w)
    out = []
    for _ in range(steps):
        u, state = opt.update(np.zeros(dim), state)
        out.append(u)
    return np.array(out), state


def test_annealed_noise_has_variance_eta_over_one_plus_k_to_the_gamma():
    eta, gamma = 0.3, 0.55
    draws, state = noise_draws(C.add_noise(eta, gamma, seed=4), 101)
    for k in (0, 1, 10, 100):
        expected = eta / (1 + k) ** gamma
        # 20,000 draws: the sample variance is within 3 % with overwhelming probability
        # (its relative sd is sqrt(2/20000) = 1 %); t counted from 1 at k = 0 would give
        # 0.68 eta, gamma missing eta, the sd used as the variance sqrt(eta)...
        assert np.var(draws[k]) == pytest.approx(expected, rel=0.03)
        assert abs(np.mean(draws[k])) < 4 * math.sqrt(expected / draws.shape[1])
    assert state.links[0].std == pytest.approx(math.sqrt(eta / 101**gamma))
    # independent across steps and coordinates
    assert abs(np.corrcoef(draws[1], draws[2])[0, 1]) < 0.03


def test_noise_is_reproducible_by_seed_and_replayable_from_any_step():
    a, _ = noise_draws(C.add_noise(1.0, seed=7), 5, dim=10)
    b, _ = noise_draws(C.add_noise(1.0, seed=7), 5, dim=10)
    c, _ = noise_draws(C.add_noise(1.0, seed=8), 5, dim=10)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    link = C.add_noise(1.0, gamma=0.55, seed=7)
    u = np.zeros(10)
    link.apply(u, link.init(u), None, 3, None)  # step 3 alone gives step 3's draw
    np.testing.assert_allclose(u, a[3], rtol=1e-15)


def test_noise_is_added_to_the_gradient_not_replacing_it():
    opt = C.chain(C.add_noise(0.01, gamma=0.0, seed=1))
    g = np.full(50000, 2.0)
    u, _ = opt.update(g, opt.init(g))
    assert np.mean(u) == pytest.approx(2.0, abs=4 * 0.1 / math.sqrt(50000))
    assert np.var(u) == pytest.approx(0.01, rel=0.03)


def test_sgld_step_is_half_lr_gradient_plus_noise_of_variance_lr():
    lr = 0.04
    opt = C.sgld(lr, seed=3)
    w = np.zeros(50000)
    g = np.full_like(w, 1.5)
    state = opt.init(w)
    state = opt.step(w, g, state)
    inc = w                                           # from zero: the increment itself
    # mean -lr/2 * g = -0.03; variance lr = 0.04 (lr^2, lr/2 or sqrt(lr) would fail)
    assert np.mean(inc) == pytest.approx(-0.5 * lr * 1.5, abs=4 * 0.2 / math.sqrt(w.size))
    assert np.var(inc) == pytest.approx(lr, rel=0.03)
    w2 = np.zeros(50000)
    C.sgld(lr, seed=3).step(w2, g, C.sgld(lr, seed=3).init(w2))
    np.testing.assert_array_equal(w, w2)              # reproducible by seed


def test_sgld_samples_a_gaussian_posterior():
    """On f(w) = a w^2 / 2 (a posterior N(0, 1/a)), SGLD's iterates have variance close
    to 1/a: for the discretised chain exactly 1/(a (1 - lr a / 4))."""
    a, lr = 4.0, 0.01
    opt = C.sgld(lr, seed=0)
    w = np.zeros(2000)                                # 2,000 independent chains
    state = opt.init(w)
    for _ in range(600):                              # mixing time ~ 2/(lr a) = 50 steps
        state = opt.step(w, a * w, state)
    assert np.var(w) == pytest.approx(1 / (a * (1 - lr * a / 4)), rel=0.08)
    assert abs(np.mean(w)) < 4 * math.sqrt(1 / a / w.size)


# --- chains in the training loops ------------------------------------------------------------

def test_fit_with_a_chain_equals_fit_with_the_fused_optimizer():
    data = ol.datasets.load_digits(seed=0)
    model = ol.models.MLP(64, 16, 10)
    sched = ol.schedules.warmup_cosine(0.05, 20, 4 * 43)
    w1, w2 = model.init(0), model.init(0)
    h1 = ol.models.fit(model, O.Momentum(sched, 0.9, nesterov=True), w1, data, epochs=4,
                       batch_size=32)
    h2 = ol.models.fit(model, C.chain(C.trace(0.9, nesterov=True),
                                      C.scale_by_learning_rate(sched)),
                       w2, data, epochs=4, batch_size=32)
    np.testing.assert_allclose(w2, w1, rtol=0, atol=1e-12)
    np.testing.assert_allclose(h2.step_loss, h1.step_loss, rtol=1e-10)
    np.testing.assert_allclose(h2.lr, h1.lr)
    assert h2.state.step == h1.state.step and h1.train_loss[-1] < 0.5 * h1.train_loss[0]


def test_fit_with_a_clipping_chain_equals_fit_with_clip():
    data = ol.datasets.adding_problem(n=200, length=8, seed=0)
    model = ol.models.RNN(2, 8, 1, init_scale=1.5)
    w1, w2 = model.init(0), model.init(0)
    ol.models.fit(model, O.Adam(0.01), w1, data, epochs=2, batch_size=20,
                  clip=lambda g: ol.clipping.clip_grad_norm(g, 0.1))
    h = ol.models.fit(model, C.chain(C.clip_by_global_norm(0.1), C.scale_by_adam(),
                                     C.scale_by_learning_rate(0.01)),
                      w2, data, epochs=2, batch_size=20)
    np.testing.assert_allclose(w2, w1, rtol=0, atol=1e-12)
    assert h.state.links[0].norm > 0.1                # clipping really happened


def test_trajectory_run_takes_a_chain_on_the_python_path():
    fn = ol.functions.rosenbrock()
    a = ol.trajectory.run(O.Adam(0.01), fn, steps=300)
    b = ol.trajectory.run(C.chain(C.scale_by_adam(), C.scale_by_learning_rate(0.01)), fn,
                          steps=300)
    np.testing.assert_allclose(b.x, a.x, rtol=0, atol=1e-12)
    assert b.state.step == 300 and not b.diverged


# --- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("make, exc, words", [
    (lambda: C.chain(), ValueError, "at least one link"),
    (lambda: C.chain(C.trace(0.9), O.GD(0.1)), TypeError, r"links\[1\] must be"),
    (lambda: C.trace(1.0), ValueError, "decay must be in"),
    (lambda: C.trace(0.0, nesterov=True), ValueError, "nesterov=True needs"),
    (lambda: C.scale_by_adam(b1=1.2), ValueError, "b1 must be in"),
    (lambda: C.scale_by_adam(eps=0.0), ValueError, "eps must be in"),
    (lambda: C.scale_by_rms(alpha=-0.1), ValueError, "alpha must be in"),
    (lambda: C.clip_by_global_norm(0.0), ValueError, "max_norm must be in"),
    (lambda: C.clip_by_value("1"), TypeError, "clip_value must be a real"),
    (lambda: C.add_decayed_weights(-1e-4), ValueError, "weight_decay must be in"),
    (lambda: C.add_noise(-1.0), ValueError, "eta must be in"),
    (lambda: C.add_noise(1.0, seed=-1), ValueError, "seed must be an integer"),
    (lambda: C.scale(math.inf), ValueError, "factor must be finite"),
    (lambda: C.scale_by_schedule(0.1), TypeError, "schedule must be a callable"),
    (lambda: C.scale_by_learning_rate(-0.1), ValueError, "lr must be in"),
    (lambda: C.sgld(0.0), ValueError, "lr must be in"),
])
def test_bad_arguments_are_refused_when_built(make, exc, words):
    with pytest.raises(exc, match=words):
        make()


def test_bad_steps_are_refused_before_anything_changes():
    opt = C.chain(C.trace(0.9), C.scale_by_learning_rate(0.1))
    w = np.ones(3)
    state = opt.init(w)
    with pytest.raises(ValueError, match="grads must have the shape of params"):
        opt.step(w, np.ones(4), state)
    with pytest.raises(TypeError, match="state must be the ChainState"):
        opt.step(w, np.ones(3), C.chain(C.scale(1.0)).init(w))
    with pytest.raises(TypeError, match="grads must have the dtype of params"):
        opt.step(w, np.ones(3, dtype=np.float32), state)
    with pytest.raises(ValueError, match="TraceState.trace must have the shape"):
        opt.step(w, np.ones(3), state._replace(links=(C.TraceState(np.zeros(2)), ())))
    with pytest.raises(ValueError, match="needs params"):
        C.chain(C.add_decayed_weights(0.1)).update(np.ones(3), state=C.chain(
            C.add_decayed_weights(0.1)).init(w))
    np.testing.assert_array_equal(w, np.ones(3))
    np.testing.assert_array_equal(state.links[0].trace, np.zeros(3))
    with pytest.raises(TypeError, match="opt must be an optlib.optim optimizer or"):
        ol.models.fit(ol.models.MLP(2, 2, 2), "adam", np.zeros(12),
                      ol.datasets.load_digits())


@pytest.mark.parametrize("grads, exc, words", [
    (np.ones(5), ValueError, r"TraceState.trace must have the shape of grads \(5,\)"),
    (np.ones(100000), ValueError, "TraceState.trace must have the shape of grads"),
    (np.ones((3, 1)), ValueError, "TraceState.trace must have the shape of grads"),
    (np.ones(3, dtype=np.float32), TypeError, "TraceState.trace must have the dtype"),
])
def test_update_without_params_checks_grads_against_the_link_states(grads, exc, words):
    opt = C.chain(C.trace(0.9), C.scale_by_adam(), C.scale_by_learning_rate(0.1))
    state = opt.init(np.ones(3))
    with pytest.raises(exc, match=words):
        opt.update(grads, state)
    for s in state.links[:2]:
        for arr in s:
            np.testing.assert_array_equal(arr, np.zeros(3))
    updates, state = opt.update(np.ones(3), state)  # the right layout still works
    assert updates.shape == (3,) and state.step == 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("n", [1, 7, 8191, 8192, 20_000])
@pytest.mark.parametrize("special", [None, np.nan, np.inf, -np.inf])
def test_the_clip_link_is_clip_grad_norm_bit_for_bit(dtype, exact, n, special):
    """The link clips its own flat update through the kernels: the same update, and the
    same recorded norm, as clip_grad_norm on the gradient, non-finite entries too."""
    r = np.random.default_rng(n)
    g = (r.normal(size=n) * 10.0 ** r.uniform(-3, 3, size=n)).astype(dtype)
    if special is not None:
        g[n // 2] = special
    for max_norm in (1e-3, 1.0, 1e6):
        link = ol.chain.clip_by_global_norm(max_norm, exact=exact)
        u = g.copy()
        state = link.apply(u, link.init(g), None, 0, link.prepare(0, None))
        want = g.copy()
        total = ol.clipping.clip_grad_norm(want, max_norm, exact=exact)
        np.testing.assert_array_equal(u, want)
        assert state.norm == total or (math.isnan(state.norm) and math.isnan(total))


@pytest.mark.parametrize("link,name,value", [
    (ol.chain.clip_by_global_norm(1.0), "max_norm", -1.0),
    (ol.chain.clip_by_global_norm(1.0), "exact", "no"),
    (ol.chain.trace(0.9), "decay", 1.5), (ol.chain.scale_by_adam(), "b1", 1.0),
    (ol.chain.scale_by_rms(), "eps", -1.0), (ol.chain.scale(2.0), "factor", None),
    (ol.chain.add_decayed_weights(0.1), "weight_decay", -1.0),
    (ol.chain.add_noise(0.1), "eta", -1.0), (ol.chain.clip_by_value(1.0), "clip_value", 0.0)])
def test_a_links_settings_are_fixed_once_made(link, name, value):
    """They reach the kernels as they are: trace.decay = 1.5 or scale_by_adam.b1 = 1.0,
    set after construction, ran unchecked (NaN updates). Refused by name, as an
    optimizer's; a rate stays settable (validated)."""
    before = getattr(link, name)
    with pytest.raises(AttributeError, match=f"{type(link).__name__}.{name} is fixed"):
        setattr(link, name, value)
    assert getattr(link, name) == before
    rate = ol.chain.scale_by_learning_rate(0.1)
    rate.lr = 0.2
    assert rate.lr == 0.2
