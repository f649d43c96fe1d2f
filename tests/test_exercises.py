"""Each checker accepts the right answer, rejects realistic wrong ones with the
specific hint, reports a stub as not attempted, and never raises."""

import numpy as np
import pytest

import optlib as ol
from naive import fd_grad

E = ol.exercises


def check(checker, fn, capsys):
    ok = checker(fn)
    return ok, capsys.readouterr().out


def stub(*args, **kwargs):
    raise NotImplementedError


# --- gd_step ---------------------------------------------------------------------

def gd_right(w, grad, lr):
    return w - lr * grad


def gd_in_place(w, grad, lr):
    w -= lr * grad
    return w


GD_WRONG = [
    (lambda w, g, lr: w + lr * g, "against the gradient"),
    (lambda w, g, lr: w - g, "scaled by the learning rate"),
    (lambda w, g, lr: -lr * g, "not the step"),
    (lambda w, g, lr: w - g / lr if lr else w, "do not divide"),
    (lambda w, g, lr: None, "forget the `return`"),
    (lambda w, g, lr: (w - lr * g)[:1], "shape"),
    (lambda w, g, lr: w - lr * g[0], "different value"),
    (lambda w, g, lr: w.tolist()[5], "raised IndexError"),
]


def test_gd_step_accepts_the_right_answer(capsys):
    ok, out = check(E.check_gd_step, gd_right, capsys)
    assert ok and "all 6 cases pass" in out


def test_gd_step_rejects_an_update_in_place_with_the_hint(capsys):
    """The exercise asks for a new array: the right numbers, but w changed."""
    ok, out = check(E.check_gd_step, gd_in_place, capsys)
    assert ok is False
    assert "right value but had a side effect" in out and "changed w in place" in out


def test_a_near_miss_is_shown_with_every_digit_and_the_tolerance(capsys):
    """Six digits would print the expected and the returned numbers alike."""
    ok, out = check(E.check_gd_step, lambda w, g, lr: w - lr * g * (1 + 1e-7), capsys)
    assert ok is False
    assert "off by 5e-09 where 0.95 was expected" in out and "1e-09 x |expected|" in out
    expected, got = (line.split(":", 1)[1] for line in out.splitlines()
                     if line.strip().startswith(("expected:", "got:")))
    assert expected != got and "0.949999995" in got


@pytest.mark.parametrize("answer, hint", GD_WRONG)
def test_gd_step_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_gd_step, answer, capsys)
    assert ok is False
    assert hint in out
    assert "expected" in out or "raised" in out


# --- max_stable_lr -----------------------------------------------------------------

STABLE_WRONG = [
    (lambda A: 2 / np.linalg.eigvalsh(A).min(), "smallest eigenvalue"),
    (lambda A: 1 / np.linalg.eigvalsh(A).max(), "factor of 2"),
    (lambda A: 2 / np.diag(A).max(), "only when A is diagonal"),
    (lambda A: 2 / np.trace(A), "sum of all eigenvalues"),
    (lambda A: 2 / (np.linalg.eigvalsh(A).min() + np.linalg.eigvalsh(A).max()), "fastest"),
    (lambda A: 2 / np.linalg.eigvals(A)[0].real, "different value"),
    (lambda A: 2 / np.linalg.norm(A), "Frobenius norm"),
]


def test_max_stable_lr_accepts_the_right_answer(capsys):
    ok, out = check(E.check_max_stable_lr, lambda A: 2 / np.linalg.eigvalsh(A).max(), capsys)
    assert ok and "pass" in out


@pytest.mark.parametrize("answer, hint", STABLE_WRONG)
def test_max_stable_lr_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_max_stable_lr, answer, capsys)
    assert ok is False and hint in out


# --- numerical_gradient ------------------------------------------------------------

def central(f, x, h=1e-5):
    return fd_grad(f, x, h)


def forward(f, x, h=1e-5):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x)) / h
    return g


def over_h(f, x, h=1e-5):
    return 2 * central(f, x, h)


def all_at_once(f, x, h=1e-5):
    return np.full_like(x, (f(x + h) - f(x - h)) / (2 * h))


def mutates_x(f, x, h=1e-5):
    g = np.zeros_like(x)
    for i in range(x.size):
        x[i] += h
        fp = f(x)
        x[i] -= 2 * h
        g[i] = (fp - f(x)) / (2 * h)
    return g


def right_but_mutates(f, x, h=1e-5):
    g = central(f, x.copy(), h)
    x[:] = 0.0
    return g


@pytest.mark.parametrize("answer, hint", [
    (forward, "forward difference"),
    (over_h, "twice the gradient"),
    (all_at_once, "one coordinate at a time"),
    (mutates_x, "changed x in place"),
    (right_but_mutates, "changed x in place"),
    (lambda f, x, h=1e-5: central(f, x), "ignores its argument h"),  # its own h
    (lambda f, x, h=1e-5: forward(f, x, 1e-7), "with the h it passes"),  # forward, own h
])
def test_numerical_gradient_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_numerical_gradient, answer, capsys)
    assert ok is False and hint in out


def test_numerical_gradient_accepts_the_central_difference(capsys):
    ok, out = check(E.check_numerical_gradient, central, capsys)
    assert ok and "all 10 cases pass" in out


# --- the framework -------------------------------------------------------------------

@pytest.mark.parametrize("checker", [E.check_gd_step, E.check_max_stable_lr, E.check_sgdr,
                                     E.check_numerical_gradient])
def test_a_stub_is_not_attempted_yet_and_nothing_raises(checker, capsys):
    ok, out = check(checker, stub, capsys)
    assert ok is False and "not attempted yet" in out
    ok, out = check(checker, 42, capsys)
    assert ok is False and "pass your function itself" in out


def test_a_wrong_answer_that_matches_no_known_mistake_gets_no_misleading_hint(capsys):
    ok, out = check(E.check_gd_step, lambda w, g, lr: w * 0 + 7.0, capsys)
    assert ok is False and "Hint" not in out and "expected" in out


# --- chapter 2: schedules ------------------------------------------------------------

def step_decay_right(lr0, s, gamma, k):
    return lr0 * gamma ** (k // s)


@pytest.mark.parametrize("answer, hint", [
    (lambda lr0, s, g, k: lr0 * g ** ((k + 1) // s), "off by one"),
    (lambda lr0, s, g, k: lr0 * g ** (k / s), "stays flat between drops"),
    (lambda lr0, s, g, k: lr0 * g ** int(np.ceil(k / s)), "rounding up"),
    (lambda lr0, s, g, k: lr0 * g ** (k % s), "restarts every period"),
    (lambda lr0, s, g, k: lr0 * g ** round(k / s), "half a period early"),
    (lambda lr0, s, g, k: lr0 * (1 - g) ** (k // s), "not the fraction removed"),
    (lambda k, lr0, s, g: lr0 * g ** (k // s), "takes the step k first"),
])
def test_step_decay_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_step_decay, answer, capsys)
    assert ok is False and hint in out


def sgdr_right(k, lr0, T_0, T_mult, eta_min):
    t, T = k, T_0
    while t >= T:
        t -= T
        T *= T_mult
    return eta_min + (lr0 - eta_min) * (1 + np.cos(np.pi * t / T)) / 2


def sgdr_no_growth(k, lr0, T_0, T_mult, eta_min):
    return sgdr_right(k, lr0, T_0, 1, eta_min)


def sgdr_late(k, lr0, T_0, T_mult, eta_min):
    t, T = k, T_0
    while t > T:
        t -= T + 1
        T *= T_mult
    return eta_min + (lr0 - eta_min) * (1 + np.cos(np.pi * t / T)) / 2


def sgdr_gt_for_ge(k, lr0, T_0, T_mult, eta_min):
    t, T = k, T_0
    while t > T:  # the likeliest slip: > where >= belongs
        t -= T
        T *= T_mult
    return eta_min + (lr0 - eta_min) * (1 + np.cos(np.pi * t / T)) / 2


def sgdr_no_half(k, lr0, T_0, T_mult, eta_min):
    return 2 * sgdr_right(k, lr0, T_0, T_mult, eta_min) - eta_min


def sgdr_no_eta_min(k, lr0, T_0, T_mult, eta_min):
    return sgdr_right(k, lr0, T_0, T_mult, 0.0)


def sgdr_minus_one(k, lr0, T_0, T_mult, eta_min):
    t, T = k, T_0
    while t >= T:
        t -= T
        T *= T_mult
    return eta_min + (lr0 - eta_min) * (1 + np.cos(np.pi * t / (T - 1))) / 2


def sgdr_grow_then_subtract(k, lr0, T_0, T_mult, eta_min):
    t, T = k, T_0
    while t >= T:
        T *= T_mult
        t -= T
    return eta_min + (lr0 - eta_min) * (1 + np.cos(np.pi * t / T)) / 2


@pytest.mark.parametrize("answer, hint", [
    (sgdr_minus_one, "not T_i - 1"),
    (sgdr_grow_then_subtract, "T_cur -= T_i first"),
    (sgdr_no_growth, "the cycles must grow"),
    (sgdr_late, "restart as soon as T_cur reaches T_i"),
    (sgdr_gt_for_ge, "restart as soon as T_cur reaches T_i"),
    (sgdr_no_half, "halve it"),
    (sgdr_no_eta_min, "anneal towards eta_min"),
])
def test_sgdr_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_sgdr, answer, capsys)
    assert ok is False and hint in out


def warmup_cosine_right(k, peak, W, T, frac):
    if k < W:
        return peak * k / W
    c = min(k - W, T - W) / (T - W)
    return frac * peak + (1 - frac) * peak * (1 + np.cos(np.pi * c)) / 2


@pytest.mark.parametrize("answer, hint", [
    (lambda k, p, W, T, f: p * k / W if k < W else
     f * p + (1 - f) * p * (1 + np.cos(np.pi * min(k, T) / T)) / 2, "total - warmup steps"),
    (lambda k, p, W, T, f: warmup_cosine_right(k, p, W, T, 0.0), "not to zero"),
    (lambda k, p, W, T, f: p * (k + 1) / W if k < W else warmup_cosine_right(k, p, W, T, f),
     "ramp starts at 0"),
])
def test_warmup_cosine_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_warmup_cosine, answer, capsys)
    assert ok is False and hint in out


@pytest.mark.parametrize("checker, answer", [
    (E.check_step_decay, step_decay_right), (E.check_sgdr, sgdr_right),
    (E.check_warmup_cosine, warmup_cosine_right)])
def test_chapter2_checkers_accept_right_answers_and_report_stubs(checker, answer, capsys):
    ok, out = check(checker, answer, capsys)
    assert ok and "pass" in out
    ok, out = check(checker, stub, capsys)
    assert ok is False and "not attempted yet" in out


def triangular_right(k, base_lr, max_lr, step_size):
    pos = k % (2 * step_size)                      # steps into the current cycle
    up = pos if pos <= step_size else 2 * step_size - pos
    return base_lr + (max_lr - base_lr) * up / step_size


def triangular_torch(k, base_lr, max_lr, step_size):
    """The formula of torch's CyclicLR documentation, mode "triangular"."""
    cycle = np.floor(1 + k / (2 * step_size))
    x = abs(k / step_size - 2 * cycle + 1)
    return base_lr + (max_lr - base_lr) * max(0.0, 1 - x)


def triangular_period(k, b, m, s, period):
    """A triangle with the given period, rising for the first half of it."""
    pos = k % period
    up = pos if pos <= period / 2 else period - pos
    return b + (m - b) * up / (period / 2)


def triangular_k_last(base_lr, max_lr, step_size, k):
    return triangular_right(k, base_lr, max_lr, step_size)


@pytest.mark.parametrize("answer", [triangular_right, triangular_torch])
def test_triangular_lr_accepts_right_answers(answer, capsys):
    ok, out = check(E.check_triangular_lr, answer, capsys)
    assert ok and "all 42 cases pass" in out


@pytest.mark.parametrize("answer, hint", [
    (lambda k, b, m, s: triangular_right(k - 1, b, m, s), "peaks at step_size + 1"),
    (lambda k, b, m, s: triangular_right(k + 1, b, m, s), "peaks one step early"),
    (lambda k, b, m, s: triangular_right(k, b, m, s + 1), "not step_size + 1"),
    (lambda k, b, m, s: b + (m - b) * (k % s) / s, "fall linearly over the next"),
    (lambda k, b, m, s: b + (m - b) * (k % (2 * s)) / (2 * s),
     "Climb for step_size steps, then fall"),
    (lambda k, b, m, s: triangular_period(k, b, m, s, s), "lasts 2 * step_size steps"),
    (lambda k, b, m, s: triangular_period(k, b, m, s, 4 * s), "not 2 * step_size"),
    (lambda k, b, m, s: m - (triangular_right(k, b, m, s) - b), "starts at max_lr"),
    (lambda k, max_lr, base_lr, s: triangular_right(k, base_lr, max_lr, s),
     "are base_lr and max_lr swapped?"),
    (lambda k, b, m, s: m * (triangular_right(k, b, m, s) - b) / (m - b),
     "not max_lr times the fraction"),
    (lambda k, b, m, s: b + m * (triangular_right(k, b, m, s) - b) / (m - b),
     "not base_lr + max_lr"),
    (lambda k, b, m, s: b + (triangular_right(k, b, m, s) - b) / 2 ** (k // (2 * s)),
     "triangular2"),
    (triangular_k_last, "reads its arguments in another order"),
])
def test_triangular_lr_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_triangular_lr, answer, capsys)
    assert ok is False and hint in out, out
    assert out.count("Hint:") == 1


def test_triangular_lr_hints_only_a_mistake_made_on_every_case(capsys):
    """max_lr at k = 0 alone, right elsewhere: the first failing case looks like a wave
    that starts at the peak, but the other cases do not."""
    ok, out = check(E.check_triangular_lr, lambda k, b, m, s: m if k == 0 else
                    triangular_right(k, b, m, s), capsys)
    assert ok is False and "case 1 of 42" in out and "Hint" not in out


def test_triangular_lr_reports_a_stub_and_odd_answers_without_a_traceback(capsys):
    ok, out = check(E.check_triangular_lr, stub, capsys)
    assert ok is False and "not attempted yet" in out
    ok, out = check(E.check_triangular_lr, lambda k, b, m, s: [b, m], capsys)
    assert ok is False and "returned shape (2,)" in out
    ok, out = check(E.check_triangular_lr, lambda k, b, m, s: b / (k - k), capsys)
    assert ok is False and "raised ZeroDivisionError" in out
    ok, out = check(E.check_triangular_lr, triangular_right(0, 0.1, 1.0, 5), capsys)
    assert ok is False and "pass your function itself" in out
    assert "Traceback" not in out


# --- chapter 3: momentum ---------------------------------------------------------------

def momentum_right(w, v, g, lr, mu):
    v = mu * v + g
    return w - lr * v, v


def heavy_ball_right(w, v, g, lr, gamma):
    v = gamma * v + lr * g
    return w - v, v


@pytest.mark.parametrize("answer, hint", [
    (lambda w, v, g, lr, mu: heavy_ball_right(w, v, g, lr, mu), "textbook form"),
    (lambda w, v, g, lr, mu: (momentum_right(w, v, g, lr, mu)[0], v), "updated velocity"),
    (lambda w, v, g, lr, mu: (2 * w - momentum_right(w, v, g, lr, mu)[0], mu * v + g),
     "against the velocity"),
    (lambda w, v, g, lr, mu: momentum_right(w, v, (1 - mu) * g, lr, mu), "moving average"),
    (lambda w, v, g, lr, mu: (w - lr * g - mu * v, mu * v + g), "*new* velocity"),
])
def test_momentum_step_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_momentum_step, answer, capsys)
    assert ok is False and hint in out


@pytest.mark.parametrize("answer, hint", [
    (lambda w, v, g, lr, gm: momentum_right(w, v, g, lr, gm), "library (torch) form"),
    (lambda w, v, g, lr, gm: (heavy_ball_right(w, v, g, lr, gm)[0], v), "updated velocity"),
    (lambda w, v, g, lr, gm: (2 * w - heavy_ball_right(w, v, g, lr, gm)[0],
                              gm * v + lr * g), "against the velocity"),
    (lambda w, v, g, lr, gm: heavy_ball_right(w, v, gm * g, lr, gm), "old velocity only"),
    (lambda w, v, g, lr, gm: (w - v, gm * v + lr * g), "stepped with the old velocity"),
])
def test_heavy_ball_step_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_heavy_ball_step, answer, capsys)
    assert ok is False and hint in out


@pytest.mark.parametrize("answer, hint", [
    (lambda k: (np.sqrt(k) - 1) / (np.sqrt(k) + 1), "convergence *rate*"),
    (lambda k: (k - 1) / (k + 1), "gradient descent's rate"),
    (lambda k: 1 - 1 / np.sqrt(k), "a rate and not a momentum"),
    (lambda k: ((k - 1) / (k + 1)) ** 2, "square root of kappa"),
])
def test_optimal_momentum_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_optimal_momentum, answer, capsys)
    assert ok is False and hint in out


@pytest.mark.parametrize("checker, answer", [
    (E.check_momentum_step, momentum_right), (E.check_heavy_ball_step, heavy_ball_right),
    (E.check_optimal_momentum, lambda k: ((np.sqrt(k) - 1) / (np.sqrt(k) + 1)) ** 2)])
def test_chapter3_checkers_accept_right_answers_and_report_stubs(checker, answer, capsys):
    ok, out = check(checker, answer, capsys)
    assert ok and "pass" in out
    ok, out = check(checker, stub, capsys)
    assert ok is False and "not attempted yet" in out


# --- chapter 3: Nesterov in torch's form ------------------------------------------------

def nesterov_right(w, v, g, lr, mu):
    v = mu * v + g
    return w - lr * (g + mu * v), v


@pytest.mark.parametrize("answer, hint", [
    (momentum_right, "that is plain momentum"),
    (lambda w, v, g, lr, mu: (w - lr * (g + mu * v), mu * v + g),  # the same, seen as
     "Nesterov's look-ahead term uses the new one"),               # the old velocity
    (lambda w, v, g, lr, mu: (nesterov_right(w, v, g, lr, mu)[0], v), "updated velocity"),
    (lambda w, v, g, lr, mu: (w + lr * (g + mu * (mu * v + g)), mu * v + g),
     "goes against the gradient"),
    (lambda w, v, g, lr, mu: (w - lr * (g - mu * (mu * v + g)), mu * v + g),
     "not grad - momentum * v_new"),
    (lambda w, v, g, lr, mu: (w - lr * g, mu * v + g), "ignores the velocity"),
    (lambda w, v, g, lr, mu: (w - lr * (1 + mu) * (mu * v + g), mu * v + g),
     "not (1 + momentum) * v_new"),
    (lambda w, v, g, lr, mu: (w - (lr * g + mu * (mu * v + lr * g)), mu * v + lr * g),
     "lr inside the velocity"),
    (lambda w, v, g, lr, mu: nesterov_right(w, v, (1 - mu) * g, lr, mu), "dampening 0"),
    (lambda w, v, g, lr, mu: (w + lr * (-g + mu * (mu * v - g)), mu * v - g),
     "velocity has the other sign"),
    (lambda w, v, g, lr, mu: (w - (mu * v + lr * g), mu * v + lr * g),
     "heavy-ball momentum with lr inside"),
    (lambda w, v, g, lr, mu: nesterov_right(w, v, g, lr, mu)[::-1], "wrong order"),
    (lambda w, v, g, lr, mu: nesterov_right(w, v, g, lr, mu)[0],
     "return the 2 items (w_new, v_new)"),
])
def test_nesterov_step_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_nesterov_step, answer, capsys)
    assert ok is False and hint in out, out


def test_an_item_of_the_wrong_shape_is_named(capsys):
    ok, out = check(E.check_nesterov_step, lambda *a: (
        nesterov_right(*a)[0][None, :], nesterov_right(*a)[1]), capsys)
    assert ok is False and "w_new has shape (1, 2), where shape (2,) was expected" in out


def test_nesterov_step_accepts_the_right_answer_and_reports_a_stub(capsys):
    ok, out = check(E.check_nesterov_step, nesterov_right, capsys)
    assert ok and "all 4 cases pass" in out
    ok, out = check(E.check_nesterov_step, stub, capsys)
    assert ok is False and "not attempted yet" in out and "Traceback" not in out
    ok, out = check(E.check_nesterov_step, "nesterov", capsys)
    assert ok is False and "pass your function itself" in out


def test_nesterov_step_rejects_an_update_in_place(capsys):
    """The right numbers, but the caller's w and v changed."""
    def in_place(w, v, g, lr, mu):
        v *= mu
        v += g
        w -= lr * (g + mu * v)
        return w, v

    ok, out = check(E.check_nesterov_step, in_place, capsys)
    assert ok is False
    assert "right value but had a side effect" in out and "changed w in place" in out


def test_the_nesterov_checker_accepts_optlib_nesterov_itself(capsys):
    """The checker's reference is the formula; optlib's kernel (torch's rule) must
    satisfy it too (from its second step on, where the given buffer is used)."""
    def via_optlib(w, v, g, lr, mu):
        opt = ol.optim.Momentum(lr, mu, nesterov=True)
        w = w.copy()
        state = opt.step(w, g, ol.optim.MomentumState(1, v.copy()))
        return w, state.velocity

    ok, out = check(E.check_nesterov_step, via_optlib, capsys)
    assert ok, out


# --- chapter 5: adaptive methods -------------------------------------------------------

def adam_right(w, m, v, g, t, lr, b1, b2, eps):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    return w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps), m, v


def adam_variant(correct_m=True, correct_v=True, eps_inside=False, power=0.5, shift=0,
                 swap=False):
    def step(w, m, v, g, t, lr, b1, b2, eps):
        if swap:
            b1, b2 = b2, b1
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mh = m / (1 - b1 ** (t + shift)) if correct_m else m
        vh = v / (1 - b2 ** (t + shift)) if correct_v else v
        d = np.sqrt(vh + eps) if eps_inside else vh**power + eps
        return w - lr * mh / d, m, v
    return step


def adam_stale(w, m, v, g, t, lr, b1, b2, eps):
    """The step written before the moments are updated."""
    w_new = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return w_new, b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g


@pytest.mark.parametrize("answer, hint", [
    (adam_variant(correct_m=False, correct_v=False), "no bias correction"),
    (adam_variant(correct_m=False), "ten times too small"),
    (adam_variant(correct_v=False), "v is not bias-corrected"),
    (adam_variant(power=1.0), "square root of v-hat"),
    (adam_variant(eps_inside=True), "outside the square root"),
    (adam_variant(shift=1), "t counts from 1"),
    (adam_variant(swap=True), "b1 belongs to the first moment"),
    (lambda w, m, v, g, t, lr, b1, b2, eps: adam_variant()(w, m, v, g, t, lr, 0.9, 0.999, eps),
     "not the defaults 0.9 and 0.999"),
    (lambda *a: adam_variant()(*a)[::2] + adam_variant()(*a)[1:2], "m_new and v_new hold "
     "each other's values (swapped?)"),
    (lambda *a: adam_variant()(*a)[:2] + adam_variant()(*a)[1:2], "v_new is the first item "
     "that differs"),  # m_new twice: a duplicate, not a swap
    (lambda w, m, v, g, t, lr, b1, b2, eps: (2 * w - adam_variant()(
        w, m, v, g, t, lr, b1, b2, eps)[0],) + adam_variant()(w, m, v, g, t, lr, b1, b2,
                                                               eps)[1:], "goes uphill"),
    (adam_stale, "lags one gradient behind"),
])
def test_adam_step_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_adam_step, answer, capsys)
    assert ok is False and hint in out


def adagrad_right(w, s, g, lr, eps):
    s = s + g * g
    return w - lr * g / (np.sqrt(s) + eps), s


@pytest.mark.parametrize("answer, hint", [
    (lambda w, s, g, lr, eps: (w - lr * g / (np.abs(g) + eps), s + g * g), "*accumulated*"),
    (lambda w, s, g, lr, eps: (w - lr * g / (np.sqrt(s) + eps), s + g * g), "before dividing"),
    (lambda w, s, g, lr, eps: (w - lr * g / (s + g * g + eps), s + g * g), "square root of the sum"),
    (lambda w, s, g, lr, eps: (w - lr * g / (np.sqrt(s + np.abs(g)) + eps), s + np.abs(g)),
     "squared gradients"),
    (lambda w, s, g, lr, eps: (adagrad_right(w, s, g, lr, eps)[0], s), "updated sum"),
    (lambda w, s, g, lr, eps: adagrad_right(w, s, g, lr, 1e-10), "the eps your function is "
     "given"),
    (lambda w, s, g, lr, eps: adagrad_right(w, s, g, lr, 0.0), "eps is missing"),
])
def test_adagrad_step_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_adagrad_step, answer, capsys)
    assert ok is False and hint in out


@pytest.mark.parametrize("answer, hint", [
    (lambda e, t, b2: e * np.sqrt(1 - b2**t), "other way round"),
    (lambda e, t, b2: e / (1 - b2**t), "through a square root"),
    (lambda e, t, b2: e, "not the same number"),
    (lambda e, t, b2: e / np.sqrt(1 - b2) ** t, "the power belongs to b2 alone"),
    (lambda e, t, b2: e / np.sqrt(1 - b2 ** (t + 1)), "use the t you are given"),
])
def test_keras_eps_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_keras_eps, answer, capsys)
    assert ok is False and hint in out


@pytest.mark.parametrize("checker, answer", [
    (E.check_adam_step, adam_right), (E.check_adagrad_step, adagrad_right),
    (E.check_keras_eps, lambda e, t, b2: e / np.sqrt(1 - b2**t))])
def test_chapter5_checkers_accept_right_answers_and_report_stubs(checker, answer, capsys):
    ok, out = check(checker, answer, capsys)
    assert ok and "pass" in out
    ok, out = check(checker, stub, capsys)
    assert ok is False and "not attempted yet" in out


def test_the_adam_checker_accepts_optlib_adam_itself(capsys):
    """The checker's reference is the formula; optlib's kernel must satisfy it too."""
    def via_optlib(w, m, v, g, t, lr, b1, b2, eps):
        opt = ol.optim.Adam(lr, betas=(b1, b2), eps=eps)
        w = w.copy()
        state = ol.optim.AdamState(t - 1, m.copy(), v.copy(), np.zeros_like(w))
        state = opt.step(w, g, state)
        return w, state.exp_avg, state.exp_avg_sq

    ok, out = check(E.check_adam_step, via_optlib, capsys)
    assert ok, out


# --- chapter 4: clipping ---------------------------------------------------------------

def clip_right(grads, c):
    n = np.sqrt(sum(np.sum(g**2) for g in grads))
    return [g * c / max(n, c) for g in grads], n


@pytest.mark.parametrize("answer, hint", [
    (lambda gs, c: ([g * c / max(np.linalg.norm(g), c) for g in gs], clip_right(gs, c)[1]),
     "clips each array on its own"),
    (lambda gs, c: ([np.clip(g, -c, c) for g in gs], clip_right(gs, c)[1]),
     "clipping by value"),
    (lambda gs, c: ([g * c / clip_right(gs, c)[1] if clip_right(gs, c)[1] else g for g in gs],
                    clip_right(gs, c)[1]), "must stay unchanged"),
    (lambda gs, c: (clip_right(gs, c)[0], min(clip_right(gs, c)[1], c)), "*before* clipping"),
    (lambda gs, c: ([g * c / max(sum(np.abs(h).sum() for h in gs), c) for g in gs],
                    sum(np.abs(h).sum() for h in gs)), "Euclidean (L2) norm"),
    (lambda gs, c: clip_right(gs, c)[0], "return a tuple, (list of clipped arrays"),
    (lambda gs, c: ([g * min(1.0, c / (clip_right(gs, c)[1] + 1e-6)) for g in gs],
                    clip_right(gs, c)[1]), "PyTorch's rule"),
    (lambda gs, c: (gs if clip_right(gs, c)[1] <= c else clip_right(gs, c)[0],
                    clip_right(gs, c)[1]), "an input array itself"),
    (lambda gs, c: (clip_right(gs, c)[0], clip_right(gs, c)[1] ** 2),  # no square root
     "then the norm before clipping (the last number)"),
    (lambda gs, c: (gs, clip_right(gs, c)[1]), "different value"),  # never clips: not "copy"
])
def test_clip_global_norm_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_clip_global_norm, answer, capsys)
    assert ok is False and hint in out
    assert "raised" not in out  # a wrong form is the answer's fault, not an exception


@pytest.mark.parametrize("answer, hint", [
    (lambda g, c: np.minimum(g, c), "negative side too"),
    (lambda g, c: np.clip(g, 0, c), "lower bound is -c"),
    (lambda g, c: g * c / max(np.abs(g).max(), c), "rescales the whole vector"),
    (lambda g, c: np.clip(g, -c, c, out=g), "changed g in place"),
    (lambda g, c: g if np.abs(g).max() <= c else np.clip(g, -c, c), "an input array itself"),
])
def test_clip_value_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_clip_value, answer, capsys)
    assert ok is False and hint in out


@pytest.mark.parametrize("checker, answer", [
    (E.check_clip_global_norm, clip_right),
    (E.check_clip_global_norm, lambda gs, c: list(clip_right(gs, c))),  # [clipped, norm]
    (E.check_clip_value, lambda g, c: np.clip(g, -c, c))])
def test_chapter4_checkers_accept_right_answers_and_report_stubs(checker, answer, capsys):
    ok, out = check(checker, answer, capsys)
    assert ok and "pass" in out
    ok, out = check(checker, stub, capsys)
    assert ok is False and "not attempted yet" in out
    ok, out = check(checker, "clip", capsys)
    assert ok is False and "pass your function itself" in out


def test_the_global_norm_checker_accepts_optlib_exact_clipping(capsys):
    def via_optlib(grads, c):
        out = [np.array(g, dtype=float) for g in grads]
        return out, ol.clipping.clip_grad_norm(out, c, exact=True)

    ok, out = check(E.check_clip_global_norm, via_optlib, capsys)
    assert ok, out


def per_array_right(grads, c):
    norms = [np.sqrt(np.sum(g**2)) for g in grads]
    return [g * c / max(n, c) for g, n in zip(grads, norms)], norms


def norms_of(gs):
    return [np.linalg.norm(g) for g in gs]


@pytest.mark.parametrize("answer, hint", [
    (lambda gs, c: (clip_right(gs, c)[0], norms_of(gs)), "global-norm clipping"),
    (lambda gs, c: (clip_right(gs, c)[0], [clip_right(gs, c)[1]] * len(gs)),
     "global-norm clipping"),
    (lambda gs, c: (per_array_right(gs, c)[0], norms_of(per_array_right(gs, c)[0])),
     "each array's norm *before* clipping"),
    (lambda gs, c: ([np.clip(g, -c, c) for g in gs], norms_of(gs)), "clipping by value"),
    (lambda gs, c: ([g * c / n if n else g for g, n in zip(gs, norms_of(gs))],
                    norms_of(gs)), "already below max_norm must stay unchanged"),
    (lambda gs, c: ([g * c / n for g, n in zip(gs, norms_of(gs))], norms_of(gs)),
     "already below max_norm must stay unchanged"),  # NaN at a zero norm, no warning
    (lambda gs, c: ([g * c / max(np.abs(g).sum(), c) for g in gs],
                    [np.abs(g).sum() for g in gs]), "Euclidean (L2) norm"),
    (lambda gs, c: ([g * min(1.0, c / (n + 1e-6)) for g, n in zip(gs, norms_of(gs))],
                    norms_of(gs)), "PyTorch's rule"),
    (lambda gs, c: (per_array_right(gs, c)[0], clip_right(gs, c)[1]),
     "one number, like a global norm"),
    (lambda gs, c: per_array_right(gs, c)[0],
     "return a tuple, (list of clipped arrays, list of the norms before clipping)"),
    (lambda gs, c: (per_array_right(gs, c)[0], norms_of(gs)[:1]),
     "one number per array in grads (2 here)"),
])
def test_clip_per_array_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_clip_per_array, answer, capsys)
    assert ok is False and hint in out, out
    assert "raised" not in out


def test_numpy_warnings_inside_the_learners_function_are_not_shown(capsys, recwarn):
    def right(gs, c):  # c / 0.0 is inf for the zero gradient, and min(1, inf) = 1
        n = np.sqrt(sum(np.sum(g * g) for g in gs))
        return [g * min(1.0, c / n) for g in gs], n
    ok, out = check(E.check_clip_global_norm, right, capsys)
    assert ok, out
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize("checker, answer", [
    (E.check_triangular_lr,
     lambda k, b, m, s: np.float32(b + (m - b) * (1 - abs((k / s) % 2 - 1)))),
    (E.check_nesterov_step,
     lambda *a: tuple(x.astype(np.float32) for x in nesterov_right(*a))),
    (E.check_gd_step, lambda w, g, lr: (w - lr * g).astype(np.float16)),
])
def test_a_right_formula_computed_in_float32_is_told_so(checker, answer, capsys):
    ok, out = check(checker, answer, capsys)
    assert ok is False and "the check is made in float64" in out, out


def test_a_wrong_formula_in_float32_is_not_told_to_use_float64(capsys):
    ok, out = check(E.check_gd_step, lambda w, g, lr: (w - 2 * lr * g).astype(np.float32),
                    capsys)
    assert ok is False and "float64" not in out, out
    # per-array clipping in float32: right on the first failing case (under the
    # threshold), wrong on others; the float32 rounding alone is not the problem
    ok, out = check(E.check_clip_linf, lambda gs, c: (
        [(g * (c / max(np.abs(g).max(), c))).astype(np.float32) for g in gs],
        float(linf_of(gs))), capsys)
    assert ok is False and "float64" not in out, out


def test_the_precision_check_reruns_the_learner_quietly_and_safely(capsys, monkeypatch):
    """The float32 hint re-runs the learner's function on every case: a case that
    raises or never returns (under the time limit) ends the check with no hint and no
    traceback, and what the function prints is not repeated."""
    monkeypatch.setattr(E, "TIME_LIMIT", 0.2)

    def answer(bad):
        def gd_step(w, g, lr):
            print("debug")
            if lr == 0.0:  # the third case
                if bad == "raise":
                    raise ValueError("no")
                while True:
                    pass
            return (w - lr * g).astype(np.float32)
        return gd_step

    for bad in ("raise", "loop"):
        ok, out = check(E.check_gd_step, answer(bad), capsys)
        assert ok is False and "float64" not in out and out.count("debug") == 1, out


def test_float32_clipped_arrays_with_a_float64_norm_are_told_so(capsys):
    ok, out = check(E.check_clip_linf, lambda gs, c: (
        [a.astype(np.float32) for a in linf_right(gs, c)[0]], float(linf_of(gs))), capsys)
    assert ok is False and "the check is made in float64" in out, out


def test_clip_per_array_rejects_clipping_in_place(capsys):
    def in_place(grads, c):
        norms = norms_of(grads)
        for g, n in zip(grads, norms):
            g *= c / max(n, c)
        return grads, norms

    ok, out = check(E.check_clip_per_array, in_place, capsys)
    assert ok is False and "changed grads in place" in out


@pytest.mark.parametrize("norms", [list, tuple, np.array])
def test_clip_per_array_accepts_the_norms_as_any_sequence(norms, capsys):
    ok, out = check(E.check_clip_per_array, lambda gs, c: (
        per_array_right(gs, c)[0], norms(per_array_right(gs, c)[1])), capsys)
    assert ok and "all 7 cases pass" in out


def test_clip_per_array_accepts_optlib_and_reports_a_stub(capsys):
    def via_optlib(grads, c):
        out = [np.array(g, dtype=float) for g in grads]
        return out, ol.clipping.clip_by_norm(out, c)

    ok, out = check(E.check_clip_per_array, via_optlib, capsys)
    assert ok, out
    ok, out = check(E.check_clip_per_array, stub, capsys)
    assert ok is False and "not attempted yet" in out and "Traceback" not in out
    ok, out = check(E.check_clip_per_array, "clip", capsys)
    assert ok is False and "pass your function itself" in out


def linf_right(grads, c):
    top = max(np.abs(g).max() for g in grads)
    return [g * (c / max(top, c)) for g in grads], top


def linf_of(gs):
    return max(np.abs(g).max() for g in gs)


def row_top(gs):  # np.linalg.norm(g, np.inf): a matrix's largest row sum of |entries|
    return max(np.linalg.norm(g, np.inf) for g in gs)


def l1_of(gs):
    return sum(np.abs(g).sum() for g in gs)


@pytest.mark.parametrize("answer, hint", [
    (lambda gs, c: ([np.clip(g, -c, c) for g in gs], linf_of(gs)), "clipping by value"),
    (lambda gs, c: ([g * (c / max(max(g.max() for g in gs), c)) for g in gs],
                    max(g.max() for g in gs)), "largest *absolute* entry"),
    (lambda gs, c: ([g * (c / max(np.abs(g).max(), c)) for g in gs], linf_of(gs)),
     "per-array clipping"),
    (lambda gs, c: clip_right(gs, c), "Euclidean (L2) norm"),
    (lambda gs, c: (linf_right(gs, c)[0], clip_right(gs, c)[1]),
     "not the L2 norm"),
    (lambda gs, c: (linf_right(gs, c)[0], min(linf_of(gs), c)), "*before* clipping"),
    (lambda gs, c: ([g * c / linf_of(gs) for g in gs], linf_of(gs)),
     "already below max_norm must stay unchanged"),
    (lambda gs, c: ([g * min(1.0, c / (linf_of(gs) + 1e-6)) for g in gs], linf_of(gs)),
     "PyTorch's rule"),
    (lambda gs, c: ([g * (c / max(row_top(gs), c)) for g in gs], row_top(gs)),
     "largest row sum"),
    (lambda gs, c: ([g * (c / max(l1_of(gs), c)) for g in gs], l1_of(gs)), "L1 norm"),
])
def test_clip_linf_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_clip_linf, answer, capsys)
    assert ok is False and hint in out, out
    assert "raised" not in out


def test_clip_linf_accepts_optlib_and_reports_a_stub_and_in_place(capsys):
    def via_optlib(grads, c):
        out = [np.array(g, dtype=float) for g in grads]
        return out, ol.clipping.clip_grad_norm(out, c, norm_type=np.inf, exact=True)

    def in_place(grads, c):
        top = linf_of(grads)
        for g in grads:
            g *= c / max(top, c)
        return grads, top

    assert check(E.check_clip_linf, via_optlib, capsys)[0]
    assert check(E.check_clip_linf, linf_right, capsys)[0]
    ok, out = check(E.check_clip_linf, stub, capsys)
    assert ok is False and "not attempted yet" in out and "Traceback" not in out
    ok, out = check(E.check_clip_linf, in_place, capsys)
    assert ok is False and "changed grads in place" in out, out


# --- chapter 6: newton_step, backtracking, two_loop ------------------------------

def newton_right(x, grad, hess):
    return x - np.linalg.inv(hess) @ grad


def backtracking_right(f, x, d, g, alpha0=1.0, c1=1e-4, shrink=0.5):
    alpha = alpha0
    while f(x + alpha * d) > f(x) + c1 * alpha * (g @ d):
        alpha *= shrink
    return alpha


def two_loop_right(g, s_list, y_list):
    """The recursion itself, written independently of the checker (whose reference is
    the dense BFGS matrix)."""
    q, alphas = g.copy(), []
    for s, y in reversed(list(zip(s_list, y_list))):
        alphas.append((s @ q) / (y @ s))
        q = q - alphas[-1] * y
    r = (s_list[-1] @ y_list[-1]) / (y_list[-1] @ y_list[-1]) * q
    for s, y, a in zip(s_list, y_list, reversed(alphas)):
        r = r + (a - (y @ r) / (y @ s)) * s
    return r


def fit_order_right(errors):
    x, y = np.log(errors[:-1]), np.log(errors[1:])
    return np.polyfit(x, y, 1)[0]


@pytest.mark.parametrize("checker, answer", [
    (E.check_newton_step, newton_right),
    (E.check_backtracking, backtracking_right),
    (E.check_two_loop, two_loop_right),
    (E.check_convergence_order, fit_order_right),
    (E.check_convergence_order, lambda e: np.cov(np.log(e[:-1]), np.log(e[1:]))[0, 1]
     / np.var(np.log(e[:-1]), ddof=1)),
])
def test_chapter6_checkers_accept_right_answers_and_report_stubs(checker, answer, capsys):
    ok, out = check(checker, answer, capsys)
    assert ok and "cases pass" in out
    ok, out = check(checker, stub, capsys)
    assert ok is False and "not attempted yet" in out


@pytest.mark.parametrize("answer, hint", [
    (lambda x, g, H: x + np.linalg.solve(H, g), "against the gradient"),
    (lambda x, g, H: x - H @ g, "*inverse* Hessian"),
    (lambda x, g, H: x - g / np.diag(H), "not only its diagonal"),
    (lambda x, g, H: -np.linalg.solve(H, g), "not the step alone"),
    (lambda x, g, H: np.linalg.solve(H, x), "different value"),
])
def test_newton_step_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_newton_step, answer, capsys)
    assert ok is False and hint in out


@pytest.mark.parametrize("answer, hint", [
    (lambda e: np.polyfit(np.arange(len(e) - 1), np.log(e[1:]), 1)[0], "a rate"),
    (lambda e: np.polyfit(np.log(e[1:]), np.log(e[:-1]), 1)[0], "wrong way round"),
    (lambda e: np.polyfit(e[:-1], e[1:], 1)[0], "fit the logarithms"),
    (lambda e: np.log(e[1:]) @ np.log(e[:-1]) / (np.log(e[:-1]) @ np.log(e[:-1])),
     "needs an intercept"),
    (lambda e: np.mean(np.log(e[2:] / e[1:-1]) / np.log(e[1:-1] / e[:-2])),
     "three-point estimates"),
    (lambda e: np.polyfit(np.log(e[:-1]), np.log(e[1:]), 1), "[slope, intercept]"),
])
def test_fit_order_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_convergence_order, answer, capsys)
    assert ok is False and hint in out, out


def test_fit_order_rejects_an_answer_that_changes_errors(capsys):
    def in_place(e):
        np.log(e, out=e)
        return np.polyfit(e[:-1], e[1:], 1)[0]
    ok, out = check(E.check_convergence_order, in_place, capsys)
    assert ok is False and "changed errors in place" in out, out


def bt(f, x, d, g, alpha0, c1, shrink, *, cond="armijo", first=None, after=False):
    """A family of plausible wrong backtracking searches."""
    alpha = alpha0 if first is None else first(alpha0, shrink)

    def ok(a):
        if cond == "armijo":
            return f(x + a * d) <= f(x) + c1 * a * (g @ d)
        if cond == "simple":
            return f(x + a * d) < f(x)
        if cond == "minus":
            return f(x + a * d) <= f(x) - c1 * a * (g @ d)
        return f(x - a * g) <= f(x) + c1 * a * (g @ d)  # cond == "gradient"

    for _ in range(60):
        if ok(alpha):
            return alpha * shrink if after else alpha
        alpha *= shrink
    return alpha


@pytest.mark.parametrize("answer, hint", [
    (lambda *a: bt(*a, cond="simple"), "*sufficient* decrease"),
    (lambda *a: bt(*a, cond="minus"), "do not subtract it"),
    (lambda *a: bt(*a, cond="gradient"), "not along -g"),
    (lambda *a: bt(*a, first=lambda a0, s: a0 * s), "try alpha0 itself first"),
    (lambda *a: bt(*a, after=True), "not the next smaller one"),
    (lambda f, x, d, g, a0, c1, s: bt(f, x, d, g, a0, c1, 0.5), "not a fixed 0.5"),
    (lambda f, x, d, g, a0, c1, s: 1.0, "different value"),
])
def test_backtracking_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_backtracking, answer, capsys)
    assert ok is False and hint in out


def two_loop_variant(g, S, Y, *, reverse_first=False, gamma="sy/yy", negate=False,
                     newest_only=False, beta_dot="y"):
    if newest_only:
        S, Y = S[-1:], Y[-1:]
    pairs = list(zip(S, Y))
    first = pairs if reverse_first else pairs[::-1]
    q, alphas = g.copy(), []
    for s, y in first:
        alphas.append(s @ q / (y @ s))
        q -= alphas[-1] * y
    s, y = pairs[-1]
    r = {"sy/yy": s @ y / (y @ y), "1": 1.0, "yy/sy": y @ y / (s @ y)}[gamma] * q
    for (s, y), a in reversed(list(zip(first, alphas))):
        r += (a - {"y": y, "s": s}[beta_dot] @ r / (y @ s)) * s
    return -r if negate else r


@pytest.mark.parametrize("answer, hint", [
    (lambda g, S, Y: two_loop_variant(g, S, Y, reverse_first=True), "*newest* pair back"),
    (lambda g, S, Y: two_loop_variant(g, S, Y, gamma="1"), "scale q by gamma"),
    (lambda g, S, Y: two_loop_variant(g, S, Y, gamma="yy/sy"), "not y.y / s.y"),
    (lambda g, S, Y: two_loop_variant(g, S, Y, negate=True), "return M g itself"),
    (lambda g, S, Y: two_loop_variant(g, S, Y, newest_only=True), "every pair"),
    (lambda g, S, Y: two_loop_variant(g, S, Y, beta_dot="s"), "beta = rho * y.r"),
])
def test_two_loop_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    assert two_loop_variant(*E._two_loop_cases()[2]) == pytest.approx(
        two_loop_right(*E._two_loop_cases()[2]))
    ok, out = check(E.check_two_loop, answer, capsys)
    assert ok is False and hint in out


# --- Chapter 7: make_adamw, update_scale, noise_std --------------------------------------

C = ol.chain


def adamw_right(lr, wd):
    return C.chain(C.scale_by_adam(), C.add_decayed_weights(wd), C.scale_by_learning_rate(lr))


@pytest.mark.parametrize("answer, hint", [
    (lambda lr, wd: C.chain(C.add_decayed_weights(wd), C.scale_by_adam(),
                            C.scale_by_learning_rate(lr)), "Adam with L2 (coupled)"),
    (lambda lr, wd: C.chain(C.scale_by_adam(), C.scale_by_learning_rate(lr),
                            C.add_decayed_weights(wd)), "not multiplied by lr"),
    (lambda lr, wd: C.chain(C.scale_by_adam(), C.scale_by_learning_rate(lr)),
     "weight decay is missing"),
    (lambda lr, wd: C.chain(C.scale_by_adam(), C.add_decayed_weights(wd), C.scale(lr)),
     "go against the direction"),
    (lambda lr, wd: C.chain(C.scale_by_adam(b2=0.99), C.add_decayed_weights(wd),
                            C.scale_by_learning_rate(lr)), "after 60 steps of your chain"),
    (lambda lr, wd: ol.optim.AdamW(lr, weight_decay=wd), "returned an object of type AdamW"),
])
def test_adamw_chain_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_adamw_chain, answer, capsys)
    assert ok is False and hint in out


def scale_right(s, t, inf, gf, bf, gi):
    if inf:
        return s * bf, 0
    t += 1
    return (s * gf, 0) if t == gi else (s, t)


@pytest.mark.parametrize("answer, hint", [
    (lambda s, t, inf, gf, bf, gi: (s * bf, 0) if inf else
     ((s * gf, 0) if t == gi else (s, t + 1)), "off by one"),
    (lambda s, t, inf, gf, bf, gi: (s * bf, t) if inf else scale_right(s, t, inf, gf, bf, gi),
     "restarts at 0"),
    (lambda s, t, inf, gf, bf, gi: (s * bf, 0) if inf else
     ((s * gf, t + 1) if t + 1 == gi else (s, t + 1)), "the count restarts at 0"),
    (lambda s, t, inf, gf, bf, gi: scale_right(s, t, inf, bf, gf, gi), "growth_factor (> 1)"),
    (lambda s, t, inf, gf, bf, gi: s, "returned one float; return the 2 items (scale, "),
    (lambda s, t, inf, gf, bf, gi: (s, t, inf), "returned 3 items; return the 2 items"),
    (lambda s, t, inf, gf, bf, gi: None, "returned None (did you forget the `return`"),
    (lambda s, t, inf, gf, bf, gi: [s, t], "returned a different value"),
    (lambda s, t, inf, gf, bf, gi: scale_right(s, t, inf, gf, 1 / gf, gi),
     "multiply by backoff_factor"),
    (lambda s, t, inf, gf, bf, gi: scale_right(s, t, inf, 2.0, 0.5, gi),
     "not torch's defaults 2 and 0.5"),
])
def test_loss_scale_update_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_loss_scale_update, answer, capsys)
    assert ok is False and hint in out


def test_loss_scale_update_checker_agrees_with_the_library():
    """The checker's reference is the rule DynamicLossScaler runs."""
    for s, t, inf, gf, bf, gi in [(1024.0, 2, False, 2.0, 0.5, 3), (8.0, 4, True, 4.0, 0.25, 5),
                                  (64.0, 0, False, 2.0, 0.5, 7)]:
        scaler = ol.precision.DynamicLossScaler(s, gf, bf, gi)
        scaler.growth_tracker = t
        scaler.update(inf)
        assert (float(scaler.scale), scaler.growth_tracker) == scale_right(s, t, inf, gf, bf, gi)


@pytest.mark.parametrize("wrap", [list, tuple, np.array])
def test_loss_scale_update_accepts_any_pair(wrap, capsys):
    answer = lambda *a: wrap(scale_right(*a))  # noqa: E731
    ok, out = check(E.check_loss_scale_update, answer, capsys)
    assert ok and "pass" in out and "raised" not in out


@pytest.mark.parametrize("answer, hint", [
    (lambda e, g, k: e / (1 + k) ** g, "that is the variance"),
    (lambda e, g, k: np.sqrt(e / (2 + k) ** g), "steps count from 0"),
    (lambda e, g, k: np.sqrt(e) / (1 + k) ** g, "applies to the whole variance"),
    (lambda e, g, k: np.sqrt(e * (1 + k) ** g), "must shrink"),
    (lambda e, g, k: np.sqrt(e / (1 + k) ** 0.55), "not the paper's 0.55"),
])
def test_noise_std_rejects_wrong_answers_with_the_hint(answer, hint, capsys):
    ok, out = check(E.check_noise_std, answer, capsys)
    assert ok is False and hint in out


@pytest.mark.parametrize("checker, answer", [
    (E.check_adamw_chain, adamw_right), (E.check_loss_scale_update, scale_right),
    (E.check_noise_std, lambda e, g, k: ol.chain.add_noise(e, g).std(k))])
def test_chapter7_checkers_accept_right_answers_and_report_stubs(checker, answer, capsys):
    ok, out = check(checker, answer, capsys)
    assert ok and "pass" in out
    ok, out = check(checker, stub, capsys)
    assert ok is False and "not attempted yet" in out
    ok, out = check(checker, 3.0, capsys)
    assert ok is False and "pass your function itself" in out


def backtracking_forever(f, x, d, g, alpha0=1.0, c1=1e-4, shrink=0.5):
    alpha = alpha0
    while f(x + alpha * d) > f(x) + c1 * (g @ d):   # alpha missing from the test
        alpha * shrink                               # and never shrunk
    return alpha


def backtracking_fixed_c1(f, x, d, g, alpha0=1.0, c1=1e-4, shrink=0.5):
    return backtracking_right(f, x, d, g, alpha0, 1e-4, shrink)


def test_backtracking_checker_stops_a_loop_that_never_ends(capsys):
    ok, out = check(E.check_backtracking, backtracking_forever, capsys)
    assert ok is False and "your loop never stops" in out


def test_backtracking_checker_names_an_ignored_c1(capsys):
    ok, out = check(E.check_backtracking, backtracking_fixed_c1, capsys)
    assert ok is False and "use the c1 you are given" in out


def test_two_loop_checker_rejects_changing_the_gradient_in_place(capsys):
    def in_place(g, s_list, y_list):
        r = two_loop_right(g, s_list, y_list)
        g *= 0.0
        return r

    ok, out = check(E.check_two_loop, in_place, capsys)
    assert ok is False and "changed g in place" in out


# --- an adversarial learner (a review's findings): no traceback, no wrong hint ----------

class Unconvertible:
    """Like a torch tensor that requires grad: NumPy's conversion raises."""

    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("Can't call numpy() on Tensor that requires grad")


@pytest.mark.parametrize("checker, answer, words", [
    (E.check_gd_step, lambda w, g, lr: Unconvertible(), "not a real number"),
    (E.check_noise_std, lambda e, g, k: 10**400, "returned int 1000"),
    (E.check_noise_std, lambda e, g, k: repr(float(np.sqrt(e / (1 + k)**g))), "returned str"),
    (E.check_noise_std, lambda e, g, k: np.sqrt(e / (1 + k)**g) + 5j, "returned complex"),
    (E.check_two_loop, lambda g, S, Y: (S.append(1.0), np.array(g, float))[1],
     "changed s_list in place; walk the lists backwards without changing them"),
    (E.check_two_loop, lambda g, S, Y: (g.__imul__(2.0), np.array(g, float))[1],
     "changed g in place; start from a copy, q = g.copy()"),
])
def test_odd_answers_get_a_message_not_a_traceback(checker, answer, words, capsys):
    ok, out = check(checker, answer, capsys)
    assert ok is False and words in out and "Traceback" not in out


def test_global_norm_clipping_checks_the_form_and_the_inputs(capsys):
    def in_place(grads, c):
        total = np.sqrt(sum((g**2).sum() for g in grads))
        for g in grads:
            g *= c / max(total, c)
        return grads, total

    ok, out = check(E.check_clip_global_norm, in_place, capsys)
    assert ok is False and "changed grads in place" in out
    ok, out = check(E.check_clip_global_norm, lambda grads, c: (
        [np.ravel(g) for g in clip_right(grads, c)[0]], clip_right(grads, c)[1]), capsys)
    assert ok is False and "with their shapes (2,), (1, 2); yours was" in out
    ok, out = check(E.check_clip_global_norm,
                    lambda grads, c: tuple(reversed(clip_right(grads, c))), capsys)
    assert ok is False and "the first item must be a list" in out and "raised" not in out
    ok, out = check(E.check_clip_global_norm, lambda grads, c: (
        np.concatenate([np.ravel(g) for g in clip_right(grads, c)[0]]),
        clip_right(grads, c)[1]), capsys)
    assert ok is False and "the first item must be a list" in out


def test_tuple_answers_are_checked_for_their_size_and_order(capsys):
    ok, out = check(E.check_momentum_step, lambda *a: momentum_right(*a)[0], capsys)
    assert ok is False and "returned one ndarray; return the 2 items (w_new, v_new)" in out
    ok, out = check(E.check_adam_step, lambda *a: (*adam_right(*a), a[4] + 1), capsys)
    assert ok is False and "returned 4 items; return the 3 items (w_new, m_new, v_new)" in out
    ok, out = check(E.check_momentum_step, lambda *a: momentum_right(*a)[::-1], capsys)
    assert ok is False and "wrong order: return (w_new, v_new)" in out
    for checker, right in ((E.check_momentum_step, momentum_right),
                           (E.check_heavy_ball_step, heavy_ball_right)):
        ok, out = check(checker, lambda *a: (right(*a)[0], None), capsys)  # no v_new
        assert ok is False and "v_new is None: compute it and return it" in out
    ok, out = check(E.check_adamw_chain, lambda lr, wd: None, capsys)
    assert ok is False and "returned None (did you forget" in out and "raised" not in out


@pytest.mark.parametrize("checker, answer, wrong_hint", [
    (E.check_step_decay, lambda lr0, s, g, k: lr0 * g**k, "rounding up"),
    (E.check_sgdr, lambda k, lr0, T0, Tm, e: lr0, "halve it"),
    (E.check_backtracking,
     lambda f, x, d, g, a=1.0, c1=1e-4, s=0.5: backtracking_right(f, x, d, g, a, c1, s)
     if c1 > 0.5 else a, "alpha0 itself first"),
])
def test_a_hint_is_given_only_for_a_mistake_that_fits_every_case(checker, answer,
                                                                   wrong_hint, capsys):
    """Each answer coincides with a mistake model on the first case it fails, and only
    there: the model's hint would name a mistake the answer did not make."""
    ok, out = check(checker, answer, capsys)
    assert ok is False and wrong_hint not in out


def test_a_function_that_never_returns_is_stopped(capsys, monkeypatch):
    monkeypatch.setattr(E, "TIME_LIMIT", 0.2)

    def endless(f, x, d, g, alpha0=1.0, c1=1e-4, shrink=0.5):
        a = alpha0
        ok = f(x + a * d) <= f(x) + c1 * a * (g @ d)
        while not ok:
            a *= shrink
        return a

    ok, out = check(E.check_backtracking, endless, capsys)
    assert ok is False and "did not return within 0.2 s" in out


@pytest.mark.parametrize("checker, buggy, fix_words", [
    (E.check_adam_bug_fix,
     lambda w, m, v, g, t, lr, b1, b2, eps: (
         w - lr * (b1 * m + (1 - b1) * g)
         / (np.sqrt((b2 * v + (1 - b2) * g**2) / (1 - b2**t)) + eps),
         b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g**2), "1 - b1**t"),
    (E.check_clip_bug_fix, lambda grads, c: (
        [np.clip(g, -c, c) for g in grads], np.sqrt(sum(np.sum(g**2) for g in grads))),
     "max_norm / norm"),
])
def test_the_bug_hunts_do_not_give_the_fix_away(checker, buggy, fix_words, capsys):
    ok, out = check(checker, buggy, capsys)
    assert ok is False and "still behaves like the colleague's" in out
    assert fix_words not in out


@pytest.mark.parametrize("checker, answer, hint", [
    (E.check_max_stable_lr, lambda A: np.linalg.eigvalsh(A).max(), "that is L"),
    (E.check_step_decay, lambda lr0, s, g, k: lr0 * g ** ((k - 1) // s), "one step late"),
    (E.check_warmup_cosine,
     lambda k, p, W, T, f: p * k / W if k < W else
     f * p + (1 - f) * p * (1 + np.cos(np.pi * (k - W) / (T - W))) / 2, "stays at"),
    (E.check_momentum_step, lambda w, v, g, lr, mu: (w - lr * v, mu * v + g), "old velocity"),
    (E.check_momentum_step,
     lambda w, v, g, lr, mu: (w - lr * (g + mu * (mu * v + g)), mu * v + g), "Nesterov"),
    (E.check_heavy_ball_step,
     lambda w, v, g, lr, gm: (w + (gm * v - lr * g), gm * v - lr * g), "sign convention"),
    (E.check_adam_step,
     lambda w, m, v, g, t, lr, b1, b2, eps: adam_right(w, m, v, g, t, lr, b1, b2, 0.0),
     "eps is missing"),
    (E.check_adam_step, lambda w, m, v, g, t, lr, b1, b2, eps: (
        adam_right(w, m, v, g, t, lr, b1, b2, eps)[0],
        adam_right(w, m, v, g, t, lr, b1, b2, eps)[1] / (1 - b1**t),
        adam_right(w, m, v, g, t, lr, b1, b2, eps)[2] / (1 - b2**t)), "raw moments"),
    (E.check_adagrad_step, lambda w, s, g, lr, eps: (
        w - lr * g / np.sqrt(s + g * g + eps), s + g * g), "outside the square root"),
    (E.check_two_loop, lambda g, S, Y: two_loop_variant(g, S[::-1], Y[::-1])
     if len(S) == 1 else two_loop_oldest_gamma(g, S, Y), "newest"),
    (E.check_adamw_chain, lambda lr, wd: ol.chain.chain(
        ol.chain.scale_by_adam(), ol.chain.add_decayed_weights(lr * wd),
        ol.chain.scale_by_learning_rate(lr)), "counts lr twice"),
    (E.check_loss_scale_update,
     lambda s, t, inf, gf, bf, gi: (s * bf, 0) if inf else ((s * gf, 0) if t == gi else (s, t)),
     "count the clean steps"),
    (E.check_backtracking,
     lambda f, x, d, g, a=1.0, c1=1e-4, s=0.5: backtracking_slope(f, x, d, g, a, c1, s),
     "slope in the test is g @ d"),
])
def test_more_common_mistakes_get_their_hint(checker, answer, hint, capsys):
    ok, out = check(checker, answer, capsys)
    assert ok is False and hint in out, out


def two_loop_oldest_gamma(g, S, Y):
    q, alphas = np.array(g, float), []
    for s, y in zip(S[::-1], Y[::-1]):
        alphas.append((s @ q) / (y @ s))
        q = q - alphas[-1] * y
    r = (S[0] @ Y[0]) / (Y[0] @ Y[0]) * q
    for (s, y), a in zip(zip(S, Y), alphas[::-1]):
        r = r + (a - (y @ r) / (y @ s)) * s
    return r


def backtracking_slope(f, x, d, g, alpha0, c1, shrink):
    a, f0 = alpha0, f(x)
    while f(x + a * d) > f0 - c1 * a * (g @ g):
        a *= shrink
    return a
