"""Tests for optlib.schedules.

Parity with the peers comes from ``reference/schedules_torch.npz``, written by
``reference/generate_reference.py`` from the real torch 2.13 schedulers and Keras 3
schedules; the parameters of every stored case are stored beside its values (JSON), so
the table below only says which optlib schedule answers which peer.
"""

import functools
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import optlib as ol
from naive import gd, mlp_loss

S = ol.schedules
REF = Path(__file__).parent / "reference" / "schedules_torch.npz"
DATA = np.load(REF)
CASES = json.loads(str(DATA["cases"]))
RTOL = 1e-12


def by_peer(*peers):
    return [c for c in CASES if c["peer"] in peers]


def ref(case, key="lr"):
    return DATA[f"{case['id']}/{key}"]


def max_rel(a, b):
    """Largest |a - b| / |b| (0 where both are equal, including both 0)."""
    a, b = np.asarray(a), np.asarray(b)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.abs(a - b) / np.abs(b)
    return float(np.where(a == b, 0.0, r).max())


# peer -> the optlib schedule that answers it, built from the stored (lr0, kwargs)
TO_OPTLIB = {
    "torch.StepLR": lambda lr0, kw: S.step_decay(lr0, kw["step_size"], kw["gamma"]),
    "torch.MultiStepLR": lambda lr0, kw: S.multi_step(lr0, kw["milestones"], kw["gamma"]),
    "torch.ExponentialLR": lambda lr0, kw: S.exponential(lr0, gamma=kw["gamma"]),
    "torch.CosineAnnealingLR": lambda lr0, kw: S.cosine(lr0, kw["T_max"], kw["eta_min"],
                                                        after="periodic"),
    "torch.CosineAnnealingWarmRestarts": lambda lr0, kw: S.cosine_restarts(
        lr0, kw["T_0"], kw["T_mult"], kw["eta_min"]),
    "torch.CyclicLR": lambda lr0, kw: S.cyclic(
        kw["base_lr"], kw["max_lr"], kw["step_size_up"], kw.get("step_size_down"),
        kw["mode"], kw.get("gamma", 1.0)),
    "torch.PolynomialLR": lambda lr0, kw: S.polynomial(lr0, kw["total_iters"], kw["power"],
                                                       end_lr=0.0),
    "torch.LinearLR": lambda lr0, kw: S.linear(lr0, kw["start_factor"], kw["end_factor"],
                                               kw["total_iters"]),
    "torch.OneCycleLR": lambda lr0, kw: S.one_cycle(
        kw["max_lr"], kw["total_steps"], kw["pct_start"], kw["anneal_strategy"],
        kw["div_factor"], kw["final_div_factor"], kw["three_phase"]),
    "torch.SequentialLR": lambda lr0, kw: S.warmup(
        S.cosine(lr0, kw["T_max"], kw["eta_min"], after="periodic"), kw["warmup_steps"],
        kw["start_factor"]),
    "keras.InverseTimeDecay": lambda lr0, kw: S.inverse_time(
        lr0, kw["decay_rate"], kw["decay_steps"], kw["staircase"]),
    "keras.ExponentialDecay": lambda lr0, kw: S.exponential(lr0, gamma=kw["decay_rate"]),
    "keras.CosineDecay": lambda lr0, kw: S.cosine(lr0, kw["decay_steps"],
                                                  eta_min=kw["alpha"] * lr0, after="hold"),
}
SCHEDULE_CASES = [c for c in CASES if c["peer"] in TO_OPTLIB]
PLATEAU_CASES = by_peer("torch.ReduceLROnPlateau")


def optlib_for(case):
    return TO_OPTLIB[case["peer"]](case["lr0"], case["kwargs"])


def case_id(case):
    return case["id"]


# --------------------------------------------------------------------------------------
# The stored reference itself


def test_reference_covers_every_peer_with_several_long_cases():
    versions = json.loads(str(DATA["versions"]))
    assert versions["torch"].startswith("2.13")
    assert versions["keras"].startswith("3.")
    for peer in [*TO_OPTLIB, "torch.ReduceLROnPlateau"]:
        cases = by_peer(peer)
        assert len(cases) >= 2, peer
        assert all(c["steps"] >= 1000 and len(ref(c)) >= 1000 for c in cases), peer
    for c in by_peer("torch.CosineAnnealingLR"):
        assert c["kwargs"]["T_max"] < c["steps"]  # the part beyond T_max is covered
    assert any(len(set(c["kwargs"]["milestones"])) < len(c["kwargs"]["milestones"])
               for c in by_peer("torch.MultiStepLR"))  # a repeated milestone
    modes = {(c["kwargs"]["mode"], "step_size_down" in c["kwargs"])
             for c in by_peer("torch.CyclicLR")}
    assert modes >= {(m, d) for m in ("triangular", "triangular2", "exp_range")
                     for d in (False, True)}
    assert {(c["kwargs"]["anneal_strategy"], c["kwargs"]["three_phase"])
            for c in by_peer("torch.OneCycleLR")} == {(a, t) for a in ("cos", "linear")
                                                        for t in (False, True)}


# --------------------------------------------------------------------------------------
# Parity with the stored torch and Keras values


@pytest.mark.parametrize("case", SCHEDULE_CASES, ids=case_id)
def test_schedule_equals_the_stored_peer_values(case):
    """Over the whole stored run, rtol 1e-12.

    Where torch has a recursive (chainable) and a closed form, the closed form is the
    reference: see test_torch_recursive_form_drifts_from_its_closed_form."""
    expected = ref(case, "closed") if f"{case['id']}/closed" in DATA.files else ref(case)
    got = optlib_for(case)(np.arange(len(expected)))
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0)


CLOSED_CASES = [c for c in SCHEDULE_CASES if f"{c['id']}/closed" in DATA.files]


def many_periods(case):
    return case["peer"] == "torch.CosineAnnealingLR" and case["steps"] > 100 * case[
        "kwargs"]["T_max"]


@pytest.mark.parametrize("case", CLOSED_CASES, ids=case_id)
def test_torch_recursive_form_drifts_from_its_closed_form(case):
    """torch's step() multiplies the current lr by a ratio; its closed form does not.

    Measured with torch 2.13: the drift is nonzero in every stored case, at most 1.8e-13
    over 1200 steps, but it grows with the number of cosine periods: 2.1e-12 after
    6000 steps with T_max=7. optlib evaluates the closed form, so it agrees with that one
    at 1e-12 everywhere and with the recursive one only while the drift stays below."""
    rec, closed = ref(case), ref(case, "closed")
    got = optlib_for(case)(np.arange(len(rec)))
    drift = max_rel(rec, closed)
    assert drift > 0.0
    np.testing.assert_allclose(got, closed, rtol=RTOL, atol=0)
    if many_periods(case):
        assert 1e-12 < drift < 1e-10
        assert max_rel(got, rec) > 1e-12
        assert max_rel(rec[:1000], closed[:1000]) < 1e-12  # it is the long run that drifts
    else:
        assert drift < 1e-12
        np.testing.assert_allclose(got, rec, rtol=RTOL, atol=0)


def test_cosine_drift_grows_with_the_number_of_periods():
    drifts = {c["id"]: max_rel(ref(c), ref(c, "closed"))
              for c in by_peer("torch.CosineAnnealingLR")}
    long = [i for i in drifts if many_periods(next(c for c in CASES if c["id"] == i))]
    assert len(long) == 1
    assert drifts[long[0]] > 5 * max(d for i, d in drifts.items() if i != long[0])


@pytest.mark.parametrize("case", by_peer("torch.CosineAnnealingLR"), ids=case_id)
def test_cosine_hold_equals_torch_up_to_T_max_then_holds(case):
    lr0, T, eta_min = case["lr0"], case["kwargs"]["T_max"], case["kwargs"]["eta_min"]
    closed = ref(case, "closed")
    hold = S.cosine(lr0, T, eta_min, after="hold")(np.arange(len(closed)))
    np.testing.assert_allclose(hold[:T + 1], closed[:T + 1], rtol=RTOL, atol=0)
    assert np.all(hold[T:] == eta_min)
    # torch continues the cosine: it rises back towards lr0 after T_max
    assert closed[T + 1] > eta_min and closed[min(2 * T, len(closed) - 1)] > closed[T + 1]


@pytest.mark.parametrize("case", by_peer("torch.SequentialLR"), ids=case_id)
def test_sequential_lr_milestone_in_torch_2_13(case):
    """At the milestone torch 2.13 calls the cosine's _update_lr(0) (its closed form at 0,
    no deprecation warning: the generator runs with warnings as errors); the cosine then
    starts from its own step 0, as optlib's warmup documents. The step before the
    milestone is the last of the linear ramp."""
    lr0, kw = case["lr0"], case["kwargs"]
    W, s0 = kw["warmup_steps"], kw["start_factor"]
    r = ref(case)
    assert r[0] == pytest.approx(s0 * lr0, rel=1e-15)
    assert r[W - 1] == pytest.approx(lr0 * (s0 + (1 - s0) * (W - 1) / W), rel=1e-14)
    assert r[W] == pytest.approx(lr0, rel=1e-15)
    cos = S.cosine(lr0, kw["T_max"], kw["eta_min"], after="periodic")
    np.testing.assert_allclose(r[W:], cos(np.arange(len(r) - W)), rtol=RTOL, atol=0)


@pytest.mark.parametrize("case", PLATEAU_CASES, ids=case_id)
def test_reduce_on_plateau_equals_the_stored_torch_values(case):
    kw = dict(case["kwargs"])
    metrics = DATA[f"metrics/{kw.pop('metric')}"]
    expected = ref(case)
    assert len(np.unique(expected)) >= 5  # the case does exercise several reductions
    p = S.ReduceOnPlateau(case["lr0"], **kw)
    got = [p.step(float(m)) for m in metrics]
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=0)
    assert p.history == [case["lr0"], *got]


def test_keras_default_float32_costs_seven_digits():
    """Keras 3 evaluates a schedule in floatx (float32 by default): the stored float64
    cases set floatx to float64; this one did not."""
    (case,) = by_peer("keras32.InverseTimeDecay")
    kw = case["kwargs"]
    got = S.inverse_time(case["lr0"], kw["decay_rate"], kw["decay_steps"], kw["staircase"])(
        np.arange(len(ref(case))))
    err = max_rel(ref(case), got)
    assert 1e-9 < err < 2 * np.finfo(np.float32).eps


# --------------------------------------------------------------------------------------
# Live comparison with torch


def _torch_lrs(torch, make, lr0, steps, last_step=None):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr0)
    sched = make(opt)
    out = []
    for k in range(steps):
        out.append(opt.param_groups[0]["lr"])
        if k == last_step:
            break
        opt.step()
        sched.step()
    return np.array(out)


@pytest.mark.parametrize("seed", range(3))
def test_live_torch_schedulers_with_random_parameters(seed):
    torch = pytest.importorskip("torch")
    L = torch.optim.lr_scheduler
    r = np.random.default_rng(seed)
    n = 400
    lr0 = float(r.uniform(0.01, 1.0))

    ms = sorted(r.integers(1, n, size=3).tolist())
    g = float(r.uniform(0.1, 0.99))
    got = _torch_lrs(torch, lambda o: L.MultiStepLR(o, ms, g), lr0, n)
    np.testing.assert_allclose(S.multi_step(lr0, ms, g)(np.arange(n)), got, rtol=RTOL)

    T0, Tm, em = int(r.integers(1, 40)), int(r.integers(1, 4)), float(r.uniform(0, lr0 / 2))
    got = _torch_lrs(torch, lambda o: L.CosineAnnealingWarmRestarts(o, T0, Tm, em), lr0, n)
    np.testing.assert_allclose(S.cosine_restarts(lr0, T0, Tm, em)(np.arange(n)), got,
                               rtol=RTOL)

    base = float(r.uniform(1e-4, 0.01))
    up, down = int(r.integers(1, 60)), int(r.integers(1, 60))
    mode = str(r.choice(["triangular", "triangular2", "exp_range"]))
    gam = float(r.uniform(0.99, 1.0))
    got = _torch_lrs(torch, lambda o: L.CyclicLR(o, base, lr0, up, down, mode, gam,
                                                 cycle_momentum=False), lr0, n)
    np.testing.assert_allclose(S.cyclic(base, lr0, up, down, mode, gam)(np.arange(n)), got,
                               rtol=RTOL)

    T = int(r.integers(50, n))
    pct = float(r.uniform(0.1, 0.45))
    anneal, three = str(r.choice(["cos", "linear"])), bool(r.integers(2))
    div, fdiv = float(r.uniform(2, 50)), float(r.uniform(10, 1e4))
    got = _torch_lrs(torch, lambda o: L.OneCycleLR(o, lr0, T, pct_start=pct,
                                                   anneal_strategy=anneal,
                                                   three_phase=three, div_factor=div,
                                                   final_div_factor=fdiv),
                     lr0, T + 1, last_step=T)
    oc = S.one_cycle(lr0, T, pct, anneal, div, fdiv, three)
    np.testing.assert_allclose(oc(np.arange(T + 1)), got, rtol=RTOL)

    Tmax, em = int(r.integers(2, 100)), float(r.uniform(0, lr0 / 2))
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr0)
    sched = L.CosineAnnealingLR(opt, Tmax, em)
    closed = []
    for _ in range(n):
        closed.append(sched._get_closed_form_lr()[0])
        opt.step()
        sched.step()
    np.testing.assert_allclose(S.cosine(lr0, Tmax, em, after="periodic")(np.arange(n)),
                               closed, rtol=RTOL)

    mode = str(r.choice(["min", "max"]))
    tmode = str(r.choice(["rel", "abs"]))
    kw = dict(mode=mode, factor=float(r.uniform(0.1, 0.9)), patience=int(r.integers(0, 5)),
              threshold=float(r.uniform(0, 0.01)), threshold_mode=tmode,
              cooldown=int(r.integers(0, 4)), min_lr=float(r.uniform(0, 1e-3)))
    metrics = np.round(np.cumsum(r.normal(0, 1, n)), 1)  # rounding makes exact ties
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr0)
    tsched = L.ReduceLROnPlateau(opt, **kw)
    ours = S.ReduceOnPlateau(lr0, **kw)
    for m in metrics:
        tsched.step(float(m))
        assert ours.step(float(m)) == pytest.approx(opt.param_groups[0]["lr"], rel=RTOL)


# --------------------------------------------------------------------------------------
# Where the book's formula and the libraries part ways


@pytest.mark.parametrize("T_mult", [1, 2])
def test_sgdr_restarts_before_reaching_eta_min(T_mult):
    """T_cur runs 0 .. T_i - 1 (torch, optlib); the SGDR paper lets it reach T_i, where
    the rate would equal eta_min. So the minimum of every cycle stays above eta_min."""
    lr0, T0, eta_min = 0.1, 10, 0.01
    s = S.cosine_restarts(lr0, T0, T_mult, eta_min)
    start, Ti = 0, T0
    for _ in range(4):
        cycle = s(np.arange(start, start + Ti))
        assert cycle[0] == lr0
        assert np.all(np.diff(cycle) < 0)
        expected_min = eta_min + (lr0 - eta_min) * (1 + math.cos(math.pi * (Ti - 1) / Ti)) / 2
        assert cycle.min() == pytest.approx(expected_min, rel=1e-14)
        assert cycle.min() - eta_min == pytest.approx(
            (lr0 - eta_min) * (1 - math.cos(math.pi / Ti)) / 2, rel=1e-9)
        assert cycle.min() > eta_min
        assert s(start + Ti) == lr0  # the restart comes instead of eta_min
        start, Ti = start + Ti, Ti * T_mult
    for case in by_peer("torch.CosineAnnealingWarmRestarts"):  # torch: the same
        assert ref(case).min() > case["kwargs"]["eta_min"]


@pytest.mark.parametrize("anneal", ["cos", "linear"])
def test_one_cycle_peak_end_and_last_step(anneal):
    max_lr, T, pct, div, fdiv = 0.2, 200, 0.3, 25.0, 1e4
    s = S.one_cycle(max_lr, T, pct, anneal, div, fdiv)
    v = s(np.arange(T + 1))
    peak = int(pct * T) - 1  # 59, not the book's pct*T = 60
    assert int(np.argmax(v)) == peak and v[peak] == pytest.approx(max_lr, rel=1e-15)
    assert v[0] == pytest.approx(max_lr / div, rel=1e-15)
    assert v[T - 1] == pytest.approx(max_lr / div / fdiv, rel=1e-12)  # final value at T-1
    assert int(np.argmin(v[:T])) == T - 1
    # step T is allowed (torch's last step() call) and extrapolates past the end ...
    if anneal == "cos":
        assert v[T] > v[T - 1]
    else:  # ... below zero for the linear anneal, exactly as torch (see the reference)
        assert v[T] < 0
        assert v[T] == pytest.approx(v[T - 1] - (max_lr - v[T - 1]) / (T - 1 - (pct * T - 1)),
                                     rel=1e-12)
    with pytest.raises(ValueError, match=f"step must be <= {T}"):
        s(T + 1)
    with pytest.raises(ValueError, match=f"step must be <= {T}"):
        s(np.array([0, T + 1]))


def test_one_cycle_linear_last_step_is_negative_in_torch_too():
    for case in by_peer("torch.OneCycleLR"):
        r = ref(case)
        assert len(r) == case["kwargs"]["total_steps"] + 1  # torch refused one more step
        if case["kwargs"]["anneal_strategy"] == "linear":
            assert r[-1] < 0 < r[-2]
        else:
            assert r[-1] > r[-2] > 0
    s = S.one_cycle(0.1, 100, anneal="linear")
    with pytest.raises(ValueError, match="at step 100"):  # an optimizer refuses it
        ol.trajectory.run(ol.optim.GD(lr=s), ol.functions.quadratic(), steps=101)


def test_one_cycle_three_phase_returns_to_the_initial_rate():
    max_lr, T, pct, div = 0.2, 200, 0.3, 25.0
    v = S.one_cycle(max_lr, T, pct, three_phase=True, div_factor=div)(np.arange(T))
    assert int(np.argmax(v)) == int(pct * T) - 1
    assert v[int(2 * pct * T) - 2] == pytest.approx(max_lr / div, rel=1e-14)
    assert v[T - 1] == pytest.approx(max_lr / div / 1e4, rel=1e-12)


@pytest.mark.parametrize("k", [1e-3, 0.01, 0.5])
def test_exponential_k_is_gamma_exp_minus_k(k):
    t = np.arange(1000)
    by_k = S.exponential(0.3, k=k)(t)
    np.testing.assert_array_equal(by_k, S.exponential(0.3, gamma=math.exp(-k))(t))
    np.testing.assert_allclose(by_k, 0.3 * np.exp(-k * t), rtol=1e-12)


def keras_piecewise(boundaries, values, step):
    """Keras PiecewiseConstantDecay: values[i] for b[i-1] < step <= b[i] (left-inclusive)."""
    for b, val in zip(boundaries, values):
        if step <= b:
            return val
    return values[-1]


def test_multi_step_switches_at_the_milestone_keras_one_step_later():
    (case,) = by_peer("keras.PiecewiseConstantDecay")
    b, vals = case["kwargs"]["boundaries"], case["kwargs"]["values"]
    keras_values = ref(case)
    k = np.arange(len(keras_values))
    np.testing.assert_array_equal(keras_values, [keras_piecewise(b, vals, int(i)) for i in k])
    s = S.multi_step(vals[0], b, gamma=vals[1] / vals[0])
    ours = s(k)
    assert ours[29] == vals[0] and ours[30] == pytest.approx(vals[1], rel=1e-15)
    assert keras_values[30] == vals[0] and keras_values[31] == vals[1]
    np.testing.assert_allclose(keras_values[1:], ours[:-1], rtol=1e-15)  # one step later
    differ = np.flatnonzero(~np.isclose(keras_values, ours, rtol=1e-12, atol=0))
    np.testing.assert_array_equal(differ, b)


# --------------------------------------------------------------------------------------
# Properties


lrs = st.floats(1e-6, 10.0)
fracs = st.floats(0.0, 1.0)
factors = st.floats(0.0, 1.0, exclude_min=True)


@st.composite
def schedules(draw):
    """(schedule, lowest value, highest value, non-increasing?) for any kind of schedule."""
    kind = draw(st.sampled_from(["constant", "inverse_time", "step_decay", "multi_step",
                                 "exponential", "exponential_k", "cosine", "cosine_restarts",
                                 "cyclic", "polynomial", "linear", "one_cycle", "warmup",
                                 "warmup_cosine", "sequential"]))
    lr0 = draw(lrs)
    if kind == "constant":
        return S.constant(lr0), lr0, lr0, True
    if kind == "inverse_time":
        s = S.inverse_time(lr0, draw(st.floats(0.0, 5.0)), draw(st.integers(1, 50)),
                           draw(st.booleans()))
        return s, 0.0, lr0, True
    if kind == "step_decay":
        return S.step_decay(lr0, draw(st.integers(1, 100)), draw(factors)), 0.0, lr0, True
    if kind == "multi_step":
        ms = draw(st.lists(st.integers(1, 2000), min_size=1, max_size=5))
        return S.multi_step(lr0, ms, draw(factors)), 0.0, lr0, True
    if kind == "exponential":
        return S.exponential(lr0, gamma=draw(factors)), 0.0, lr0, True
    if kind == "exponential_k":
        return S.exponential(lr0, k=draw(st.floats(0.0, 2.0))), 0.0, lr0, True
    if kind == "cosine":
        eta_min, after = draw(fracs) * lr0, draw(st.sampled_from(["hold", "periodic"]))
        return (S.cosine(lr0, draw(st.integers(1, 500)), eta_min, after), eta_min, lr0,
                after == "hold")
    if kind == "cosine_restarts":
        eta_min = draw(fracs) * lr0
        s = S.cosine_restarts(lr0, draw(st.integers(1, 100)), draw(st.integers(1, 3)), eta_min)
        return s, eta_min, lr0, False
    if kind == "cyclic":
        base = draw(fracs) * lr0
        assume(base > 0)
        s = S.cyclic(base, lr0, draw(st.integers(1, 200)),
                     draw(st.none() | st.integers(1, 200)),
                     draw(st.sampled_from(["triangular", "triangular2", "exp_range"])),
                     draw(factors))
        return s, base, lr0, False
    if kind == "polynomial":
        end = draw(fracs) * lr0
        s = S.polynomial(lr0, draw(st.integers(1, 2000)), draw(st.floats(0.1, 5.0)), end)
        return s, end, lr0, True
    if kind == "linear":
        a, b = draw(fracs), draw(fracs)
        return S.linear(lr0, a, b, draw(st.integers(1, 500))), lr0 * min(a, b), lr0 * max(
            a, b), a >= b
    if kind == "one_cycle":
        div, fdiv = draw(st.floats(1.0, 100.0)), draw(st.floats(1.0, 1e5))
        try:
            s = S.one_cycle(lr0, draw(st.integers(2, 3000)), draw(st.floats(0.01, 0.99)),
                            draw(st.sampled_from(["cos", "linear"])), div, fdiv,
                            draw(st.booleans()))
        except ValueError:
            assume(False)
        s.last_step -= 1  # step total_steps extrapolates (below 0 when linear): not here
        return s, lr0 / div / fdiv, lr0, False
    if kind == "warmup":
        eta_min, f = draw(fracs) * lr0, draw(fracs)
        inner = S.cosine(lr0, draw(st.integers(1, 500)), eta_min)
        return S.warmup(inner, draw(st.integers(1, 300)), f), min(f * lr0, eta_min), lr0, False
    if kind == "warmup_cosine":
        total = draw(st.integers(2, 3000))
        w = draw(st.integers(1, total - 1))
        return S.warmup_cosine(lr0, w, total, draw(fracs)), 0.0, lr0, False
    # sequential: constant, then a step decay, then an exponential decay
    m1 = draw(st.integers(1, 1000))
    m2 = m1 + draw(st.integers(1, 1000))
    g = draw(factors)
    assume(lr0 * g > 0)
    s = S.Sequential([S.constant(lr0), S.step_decay(lr0, 10, g), S.exponential(lr0 * g, g)],
                     [m1, m2])
    return s, 0.0, lr0, False


def horizon(s):
    return 3000 if s.last_step is None else min(3000, s.last_step + 1)


@settings(max_examples=150, deadline=None)
@given(schedules())
def test_values_are_finite_and_within_the_parameter_bounds(case):
    s, lo, hi, nonincreasing = case
    v = s(np.arange(horizon(s)))
    assert np.all(np.isfinite(v))
    slack = 4 * np.finfo(float).eps * hi  # a few roundings of the largest value
    assert v.min() >= lo - slack and v.max() <= hi + slack
    if nonincreasing:
        assert np.all(np.diff(v) <= 0)


def test_one_step_and_an_array_of_steps_agree_at_and_around_every_milestone():
    """A single step takes the scalar path (one kernel call, composites pick their part
    by bisection); an array the vector path. Every step of two composites, milestones
    included, and the end of a one-cycle run inside a warmup."""
    seq = S.Sequential([S.constant(0.1), S.linear(0.2, 0.5, 1.0, 7), S.cosine(0.3, 20)],
                       [5, 12])
    np.testing.assert_array_equal(seq(np.arange(40)), [seq(k) for k in range(40)])
    assert seq(4) == 0.1 and seq(5) == 0.1 and seq(12) == 0.3  # each part from its step 0
    w = S.warmup(S.one_cycle(1.0, 50), 10)
    np.testing.assert_array_equal(w(np.arange(61)), [w(k) for k in range(61)])
    for bad in (61, np.int64(61), np.array(61), np.array([0, 61])):
        with pytest.raises(ValueError, match="step must be <= 50"):
            w(bad)
    # a one-cycle run as the first part: the next part takes over, both ways
    after = S.Sequential([S.one_cycle(1.0, 20), S.constant(0.01)], [21])
    np.testing.assert_array_equal(after(np.arange(40)), [after(k) for k in range(40)])
    assert after(np.array([30]))[0] == after(30) == 0.01


@settings(max_examples=100, deadline=None)
@given(schedules(), st.lists(st.integers(0, 2999), min_size=1, max_size=30))
def test_array_call_equals_scalar_calls_and_keeps_the_shape(case, steps):
    s = case[0]
    steps = [k for k in steps if k < horizon(s)] or [0]
    arr = s(np.array(steps))
    scalars = [s(k) for k in steps]
    assert all(type(x) is float for x in scalars)
    assert type(s(np.int64(steps[0]))) is float and type(s(np.array(steps[0]))) is float
    np.testing.assert_array_equal(arr, scalars)
    grid = np.resize(np.array(steps), (3, 4))
    out = s(grid)
    assert out.shape == (3, 4)
    np.testing.assert_array_equal(out, np.reshape([s(int(k)) for k in grid.ravel()], (3, 4)))
    np.testing.assert_array_equal(s(grid.T), out.T)  # a non-C-contiguous array of steps
    np.testing.assert_array_equal(s(grid.astype(np.int32)), out)
    assert s(np.zeros(0, dtype=int)).shape == (0,)


@settings(max_examples=60, deadline=None)
@given(lrs, fracs, st.integers(1, 60), st.integers(0, 500))
def test_cosine_restarts_is_periodic_with_period_T_0_when_T_mult_is_1(lr0, f, T0, k0):
    s = S.cosine_restarts(lr0, T0, 1, f * lr0)
    k = np.arange(k0, k0 + 3 * T0)
    np.testing.assert_array_equal(s(k + T0), s(k))
    np.testing.assert_array_equal(s(k + 7 * T0), s(k))


@settings(max_examples=60, deadline=None)
@given(lrs, st.floats(0.01, 0.99), st.integers(1, 100), st.integers(1, 100),
       st.integers(0, 1000))
def test_cyclic_period_and_triangular2_halving(max_lr, f, up, down, k0):
    base, L = f * max_lr, up + down
    k = np.arange(k0, k0 + 2 * L)
    tri = S.cyclic(base, max_lr, up, down, "triangular")
    np.testing.assert_allclose(tri(k + L), tri(k), rtol=1e-12, atol=1e-15 * max_lr)
    assert tri(up) == pytest.approx(max_lr, rel=1e-14) and tri(L) == pytest.approx(base)
    tri2 = S.cyclic(base, max_lr, up, down, "triangular2")
    np.testing.assert_allclose(tri2(k + L) - base, (tri2(k) - base) / 2, rtol=1e-9,
                               atol=1e-14 * max_lr)


# --------------------------------------------------------------------------------------
# A schedule as an optimizer's lr


@pytest.mark.parametrize("schedule", [
    S.cosine(0.1, 50, 0.001),
    S.one_cycle(0.15, 199),
    S.warmup_cosine(0.1, 20, 150),
    S.cyclic(0.01, 0.15, 15, 35, "triangular2"),
    S.multi_step(0.1, [50, 120], 0.3),
    S.inverse_time(0.1, 0.05),
], ids=repr)
def test_schedule_as_gd_learning_rate(schedule):
    fn = ol.functions.quadratic(cond=10.0, angle=0.4)
    steps = 200
    traj = ol.trajectory.run(ol.optim.GD(lr=schedule), fn, steps=steps)
    expected_lr = schedule(np.arange(steps))
    np.testing.assert_array_equal(traj.lr, expected_lr)
    assert len(np.unique(traj.lr)) > 2
    np.testing.assert_allclose(traj.x, gd(fn.grad, fn.x0, expected_lr), rtol=1e-12,
                               atol=1e-14)


def test_one_cycle_run_longer_than_its_schedule_is_refused():
    s = S.one_cycle(0.1, 50)
    with pytest.raises(ValueError, match="step must be <= 50"):
        ol.trajectory.run(ol.optim.GD(lr=s), ol.functions.quadratic(), steps=52)


# --------------------------------------------------------------------------------------
# ReduceOnPlateau on hand-made metric sequences


def plateau_lrs(metrics, lr=1.0, **kw):
    p = S.ReduceOnPlateau(lr, **kw)
    return [p.step(m) for m in metrics]


@pytest.mark.parametrize("patience", [0, 1, 3])
def test_plateau_reduces_after_patience_plus_one_bad_evaluations(patience):
    """torch's rule (num_bad > patience); optax reduces one evaluation earlier."""
    got = plateau_lrs([1.0] * 8, patience=patience)  # lr stays above eps = 1e-8
    expected = [0.1 ** (i // (patience + 1)) for i in range(8)]
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    assert got[patience] == 1.0  # optax would already have reduced here


def test_plateau_improvement_resets_the_count():
    got = plateau_lrs([5.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0, 3.0], patience=2)
    assert got == [1.0] * 7 + [pytest.approx(0.1)]


@pytest.mark.parametrize("mode, threshold_mode, threshold, metrics, better", [
    ("min", "rel", 0.1, [10.0, 9.5], False),  # needs < 10 * 0.9 = 9
    ("min", "abs", 0.1, [10.0, 9.5], True),  # needs < 10 - 0.1
    ("min", "rel", 0.1, [10.0, 8.9], True),
    ("min", "rel", 0.0, [10.0, 10.0], False),  # equal is not better
    # torch's quirk, copied: with a negative best, rel asks for < best*(1-thr) = -9,
    # so a worse metric counts as an improvement
    ("min", "rel", 0.1, [-10.0, -9.5], True),
    ("max", "rel", 0.1, [-10.0, -10.5], True),  # the mirror: > -11
    ("max", "rel", 0.1, [1.0, 1.05], False),  # needs > 1.1
    ("max", "abs", 0.01, [1.0, 1.05], True),  # needs > 1.01
    ("max", "rel", 0.0, [1.0, 1.0], False),
    ("max", "abs", 0.0, [1.0, 0.5], False),
])
def test_plateau_better_rule(mode, threshold_mode, threshold, metrics, better):
    p = S.ReduceOnPlateau(1.0, mode=mode, threshold=threshold, threshold_mode=threshold_mode)
    for m in metrics:
        p.step(m)
    assert p.best == (metrics[1] if better else metrics[0])
    assert p.num_bad == (0 if better else 1)


def test_plateau_max_mode_reduces_on_a_falling_metric():
    got = plateau_lrs([0.5, 0.6, 0.4, 0.3, 0.6], mode="max", patience=1)
    assert got == [1.0, 1.0, 1.0, pytest.approx(0.1), pytest.approx(0.1)]


def test_plateau_cooldown():
    got = plateau_lrs([1.0] * 8, patience=0, cooldown=2)
    np.testing.assert_allclose(got, [1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001], rtol=1e-14)
    p = S.ReduceOnPlateau(1.0, patience=0, cooldown=2)
    p.step(1.0)
    p.step(1.0)
    assert p.cooldown_left == 2 and p.num_bad == 0


def test_plateau_min_lr():
    got = plateau_lrs([1.0] * 6, patience=0, min_lr=0.05)
    assert got == [1.0, pytest.approx(0.1), 0.05, 0.05, 0.05, 0.05]


def test_plateau_eps_skips_tiny_reductions():
    assert plateau_lrs([1.0] * 5, lr=1e-3, factor=0.5, patience=0, eps=1e-3) == [1e-3] * 5
    got = plateau_lrs([1.0] * 7, lr=1e-3, factor=0.5, patience=0, eps=1e-4)
    # 1e-3 -> 5e-4 -> 2.5e-4 -> 1.25e-4, then 1.25e-4 - 6.25e-5 < eps: no more
    np.testing.assert_allclose(got, [1e-3, 5e-4, 2.5e-4, 1.25e-4, 1.25e-4, 1.25e-4,
                                     1.25e-4], rtol=1e-15)
    # a cut of exactly eps is skipped too: torch reduces only when old - new > eps
    # (1 - 0.5 = 0.5 exactly in binary)
    assert plateau_lrs([1.0] * 4, lr=1.0, factor=0.5, patience=0, eps=0.5) == [1.0] * 4
    assert plateau_lrs([1.0] * 2, lr=1.0, factor=0.5, patience=0, eps=0.4999) == [1.0, 0.5]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_plateau_refuses_a_non_finite_metric_and_keeps_its_state(bad):
    p = S.ReduceOnPlateau(0.1, patience=0)
    p.step(1.0)
    with pytest.raises(ValueError, match="metric"):
        p.step(bad)
    assert p.lr == 0.1 and p.num_bad == 0 and p.history == [0.1, 0.1]


# --------------------------------------------------------------------------------------
# The LR range test


@functools.cache
def digits():
    return ol.datasets.load_digits()


def mlp():
    model = ol.models.MLP(64, 16, 10)
    return model, model.init(seed=0)


def fastai_valley(lrs, losses):
    """fastai.callback.schedule.valley, transcribed."""
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return float(lrs[max_start + int(sections) + int(sections / 2)])


def fastai_steep(lrs, losses):
    slopes = [(losses[i + 1] - losses[i]) / (math.log(lrs[i + 1]) - math.log(lrs[i]))
              for i in range(len(losses) - 1)]
    return float(lrs[slopes.index(min(slopes))])


def fastai_minimum(lrs, losses):
    return float(lrs[list(losses).index(min(losses))] / 10)


NAIVE_RULES = {"valley": fastai_valley, "steepest": fastai_steep, "minimum": fastai_minimum}


def test_range_test_leaves_params_and_records_exponential_lrs():
    model, params = mlp()
    before = params.copy()
    res = S.lr_range_test(model, params, digits(), start_lr=1e-6, end_lr=1.0, num_it=100)
    np.testing.assert_array_equal(params, before)
    assert len(res.lr) == len(res.loss) == len(res.raw_loss) == 100
    assert not res.stopped_early
    i = np.arange(100)
    np.testing.assert_allclose(res.lr, 1e-6 * np.exp(np.log(1e6) * i / 100), rtol=1e-12)
    assert res.lr[0] == 1e-6
    # bias-corrected EMA of the raw losses, beta = 0.98
    avg, smooth = 0.0, []
    for n, loss in enumerate(res.raw_loss, start=1):
        avg = 0.98 * avg + 0.02 * loss
        smooth.append(avg / (1 - 0.98**n))
    np.testing.assert_allclose(res.loss, smooth, rtol=1e-12)
    assert res.loss[0] == pytest.approx(res.raw_loss[0], rel=1e-12)


def test_range_test_trains_with_the_recorded_rates():
    """Full batch: raw loss i is the loss after GD steps with lr[0..i-1]."""
    model, params = mlp()
    data = digits()
    X, y = data.X_train, data.y_train
    res = S.lr_range_test(model, params, data, start_lr=1e-3, end_lr=3.0, num_it=15,
                          batch_size=len(y))
    w = params.copy()
    for i in range(len(res.lr)):
        assert res.raw_loss[i] == pytest.approx(mlp_loss(w, X, y, 16, 10), rel=1e-10)
        _, g = model.loss_and_grad(w, X, y)
        w = w - res.lr[i] * g


def test_range_test_stops_early_when_the_loss_diverges():
    model, params = mlp()
    res = S.lr_range_test(model, params, digits(), end_lr=1e4, num_it=100)
    assert res.stopped_early and len(res.lr) < 100
    assert not math.isfinite(res.loss[-1]) or res.loss[-1] > 4 * res.loss[:-1].min()
    for i in range(1, len(res.loss) - 1):
        assert res.loss[i] <= 4 * res.loss[:i].min()
    full = S.lr_range_test(model, params, digits(), start_lr=1e-7, end_lr=0.3, num_it=100)
    assert not full.stopped_early and len(full.lr) == 100


@pytest.mark.parametrize("end_lr", [0.3, 1e4])
@pytest.mark.parametrize("rule", ["valley", "steepest", "minimum"])
def test_range_test_suggestion_follows_fastai(rule, end_lr):
    model, params = mlp()
    num_it = 100
    res = S.lr_range_test(model, params, digits(), end_lr=end_lr, num_it=num_it,
                          suggest=rule)
    assert res.suggest == rule
    lr, loss = res.lr[num_it // 10:-5], res.loss[num_it // 10:-5]
    assert res.suggestion == pytest.approx(NAIVE_RULES[rule](lr, loss), rel=1e-15)
    scale = 0.1 if rule == "minimum" else 1.0
    assert scale * res.lr[0] <= res.suggestion <= scale * res.lr[-1]


def test_range_test_rules_differ_on_the_same_run():
    model, params = mlp()
    got = {r: S.lr_range_test(model, params, digits(), end_lr=1e4, suggest=r).suggestion
           for r in NAIVE_RULES}
    assert len(set(got.values())) == 3


# --------------------------------------------------------------------------------------
# Bad input


def _two():
    return S.constant(0.1), S.cosine(0.1, 10)


BAD = [
    # non-positive step sizes and periods
    (lambda: S.step_decay(0.1, 0), ValueError, "step_size"),
    (lambda: S.step_decay(0.1, 2.5), TypeError, "step_size"),
    (lambda: S.cosine(0.1, 0), ValueError, "T_max"),
    (lambda: S.cosine_restarts(0.1, 0), ValueError, "T_0"),
    (lambda: S.cosine_restarts(0.1, 10, T_mult=0), ValueError, "T_mult"),
    (lambda: S.cyclic(0.01, 0.1, 0), ValueError, "step_size_up"),
    (lambda: S.cyclic(0.01, 0.1, 10, step_size_down=0), ValueError, "step_size_down"),
    (lambda: S.one_cycle(0.1, 0), ValueError, "total_steps"),
    (lambda: S.polynomial(0.1, 0), ValueError, "total_steps"),
    (lambda: S.linear(0.1, total_iters=0), ValueError, "total_iters"),
    (lambda: S.inverse_time(0.1, 0.5, decay_steps=0), ValueError, "decay_steps"),
    (lambda: S.warmup(S.constant(0.1), 0), ValueError, "warmup_steps"),
    # rates <= 0
    (lambda: S.constant(0.0), ValueError, "lr"),
    (lambda: S.step_decay(0.0, 10), ValueError, "lr0"),
    (lambda: S.multi_step(-0.1, [10]), ValueError, "lr0"),
    (lambda: S.exponential(0.0, gamma=0.9), ValueError, "lr0"),
    (lambda: S.inverse_time(-1.0, 0.5), ValueError, "lr0"),
    (lambda: S.cosine(-0.1, 10), ValueError, "lr0"),
    (lambda: S.cosine_restarts(0.0, 10), ValueError, "lr0"),
    (lambda: S.polynomial(0.0, 10), ValueError, "lr0"),
    (lambda: S.linear(0.0), ValueError, "lr0"),
    (lambda: S.cyclic(0.0, 0.1, 10), ValueError, "base_lr"),
    (lambda: S.one_cycle(0.0, 100), ValueError, "max_lr"),
    (lambda: S.warmup_cosine(0.0, 10, 100), ValueError, "peak_lr"),
    (lambda: S.cosine(float("nan"), 10), ValueError, "lr0"),
    (lambda: S.ReduceOnPlateau(0.0), ValueError, "lr"),
    # bounds that contradict each other
    (lambda: S.cosine(0.1, 10, eta_min=0.2), ValueError, "eta_min"),
    (lambda: S.cosine(0.1, 10, eta_min=-0.01), ValueError, "eta_min"),
    (lambda: S.cosine_restarts(0.1, 10, eta_min=0.2), ValueError, "eta_min"),
    (lambda: S.polynomial(0.1, 10, end_lr=0.2), ValueError, "end_lr"),
    (lambda: S.cyclic(0.2, 0.1, 10), ValueError, "base_lr"),
    # negative (or zero) factors
    (lambda: S.step_decay(0.1, 10, gamma=-0.1), ValueError, "gamma"),
    (lambda: S.step_decay(0.1, 10, gamma=0.0), ValueError, "gamma"),
    (lambda: S.multi_step(0.1, [10], gamma=-0.5), ValueError, "gamma"),
    (lambda: S.exponential(0.1, gamma=-0.9), ValueError, "gamma"),
    (lambda: S.exponential(0.1, k=-1.0), ValueError, "k"),
    (lambda: S.cyclic(0.01, 0.1, 10, mode="exp_range", gamma=-0.5), ValueError, "gamma"),
    (lambda: S.inverse_time(0.1, -1.0), ValueError, "decay_rate"),
    (lambda: S.linear(0.1, start_factor=-0.1), ValueError, "start_factor"),
    (lambda: S.linear(0.1, end_factor=1.5), ValueError, "end_factor"),
    (lambda: S.polynomial(0.1, 10, power=-1.0), ValueError, "power"),
    (lambda: S.one_cycle(0.1, 100, div_factor=0.5), ValueError, "div_factor"),
    (lambda: S.one_cycle(0.1, 100, final_div_factor=0.0), ValueError, "final_div_factor"),
    (lambda: S.warmup(S.constant(0.1), 5, start_factor=-0.5), ValueError, "start_factor"),
    (lambda: S.warmup_cosine(0.1, 10, 100, final_fraction=1.5), ValueError, "final_fraction"),
    (lambda: S.ReduceOnPlateau(0.1, factor=-0.1), ValueError, "factor"),
    (lambda: S.ReduceOnPlateau(0.1, factor=0.0), ValueError, "factor"),
    (lambda: S.ReduceOnPlateau(0.1, factor=1.0), ValueError, "factor"),
    (lambda: S.ReduceOnPlateau(0.1, factor=1.5), ValueError, "factor"),
    (lambda: S.ReduceOnPlateau(0.1, patience=-1), ValueError, "patience"),
    (lambda: S.ReduceOnPlateau(0.1, cooldown=-1), ValueError, "cooldown"),
    (lambda: S.ReduceOnPlateau(0.1, min_lr=-1.0), ValueError, "min_lr"),
    (lambda: S.ReduceOnPlateau(0.1, threshold=-1e-4), ValueError, "threshold"),
    (lambda: S.ReduceOnPlateau(0.1, eps=-1.0), ValueError, "eps"),
    # a warmup as long as the run
    (lambda: S.warmup(S.cosine(0.1, 100), 100, total_steps=100), ValueError, "warmup_steps"),
    (lambda: S.warmup(S.cosine(0.1, 100), 150, total_steps=100), ValueError, "warmup_steps"),
    (lambda: S.warmup_cosine(0.1, 100, 100), ValueError, "warmup_steps"),
    (lambda: S.warmup_cosine(0.1, 150, 100), ValueError, "warmup_steps"),
    # metrics
    (lambda: S.ReduceOnPlateau(0.1).step(float("nan")), ValueError, "metric"),
    (lambda: S.ReduceOnPlateau(0.1).step("1.0"), TypeError, "metric"),
    # exponential: exactly one of gamma and k
    (lambda: S.exponential(0.1), ValueError, "exactly one of gamma"),
    (lambda: S.exponential(0.1, gamma=0.9, k=0.1), ValueError, "exactly one of gamma"),
    # steps
    (lambda: S.cosine(0.1, 10)(-1), ValueError, "step must be >= 0"),
    (lambda: S.cosine(0.1, 10)(np.array([0, 3, -2])), ValueError, "step must be >= 0"),
    (lambda: S.cosine(0.1, 10)(1.5), TypeError, "step must be an integer"),
    (lambda: S.cosine(0.1, 10)(2.0), TypeError, "step must be an integer"),
    (lambda: S.cosine(0.1, 10)(np.array([1.0, 2.0])), TypeError, "step must be an integer"),
    (lambda: S.cosine(0.1, 10)(True), TypeError, "step must be an integer"),
    (lambda: S.warmup_cosine(0.1, 10, 100)(-3), ValueError, "step must be >= 0"),
    (lambda: S.one_cycle(0.1, 100)(101), ValueError, "step must be <= 100"),
    # unknown modes
    (lambda: S.cyclic(0.01, 0.1, 10, mode="triangle"), ValueError, "mode"),
    (lambda: S.cosine(0.1, 10, after="restart"), ValueError, "after"),
    (lambda: S.one_cycle(0.1, 100, anneal="exp"), ValueError, "anneal"),
    (lambda: S.ReduceOnPlateau(0.1, mode="avg"), ValueError, "mode"),
    (lambda: S.ReduceOnPlateau(0.1, threshold_mode="relative"), ValueError, "threshold_mode"),
    # one-cycle phases with no steps
    (lambda: S.one_cycle(0.1, 10, pct_start=0.05), ValueError, "pct_start"),
    (lambda: S.one_cycle(0.1, 10, pct_start=0.6, three_phase=True), ValueError, "pct_start"),
    (lambda: S.one_cycle(0.1, 100, pct_start=0.0), ValueError, "pct_start"),
    (lambda: S.one_cycle(0.1, 100, pct_start=1.0), ValueError, "pct_start"),
    (lambda: S.one_cycle(0.1, 1), ValueError, "total_steps"),
    # milestones
    (lambda: S.multi_step(0.1, []), ValueError, "milestones"),
    (lambda: S.multi_step(0.1, [0, 10]), ValueError, r"milestones\[0\]"),
    (lambda: S.Sequential(_two(), []), ValueError, "milestones"),
    (lambda: S.Sequential(_two(), [5, 6]), ValueError, "milestones"),
    (lambda: S.Sequential([*_two(), S.constant(0.01)], [10, 5]), ValueError,
     "strictly increasing"),
    (lambda: S.Sequential([*_two(), S.constant(0.01)], [10, 10]), ValueError,
     "strictly increasing"),
    (lambda: S.Sequential(_two(), [0]), ValueError, r"milestones\[0\]"),
    (lambda: S.Sequential([S.constant(0.1), lambda k: 0.1], [5]), TypeError,
     r"schedules\[1\]"),
    (lambda: S.warmup(lambda k: 0.1, 5), TypeError, "schedule"),
    # the range test
    (lambda: S.lr_range_test(*mlp(), digits(), start_lr=1.0, end_lr=1.0), ValueError,
     "start_lr"),
    (lambda: S.lr_range_test(*mlp(), digits(), start_lr=2.0, end_lr=1.0), ValueError,
     "start_lr"),
    (lambda: S.lr_range_test(*mlp(), digits(), num_it=5), ValueError, "num_it"),
    (lambda: S.lr_range_test(*mlp(), digits(), suggest="steep"), ValueError, "suggest"),
    (lambda: S.lr_range_test(*mlp(), digits(), batch_size=0), ValueError, "batch_size"),
    (lambda: S.lr_range_test(mlp()[0], np.zeros(5), digits()), ValueError, "params"),
    (lambda: S.lr_range_test("mlp", mlp()[1], digits()), TypeError, "model"),
]


@pytest.mark.parametrize("call, exc, words", BAD)
def test_bad_input_is_refused_with_a_message_naming_it(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


# --------------------------------------------------------------------------------------
# Bugs found while writing these tests (fixed)


def test_warmup_of_a_one_cycle_refuses_steps_past_its_end():
    inner = S.one_cycle(0.1, 100)
    with pytest.raises(ValueError, match="step must be <="):
        inner(190)
    with pytest.raises(ValueError, match="step must be <="):
        S.warmup(inner, 10)(200)


def test_a_step_beyond_int64_is_refused():
    s = S.step_decay(0.1, 10, 0.5)
    with pytest.raises((ValueError, OverflowError, TypeError), match="step"):
        s(2**63 + 5)


def test_cosine_restarts_with_constant_cycles_is_periodic_for_huge_steps():
    s = S.cosine_restarts(0.1, T_0=7, T_mult=1, eta_min=0.01)
    k = np.array([3, 3 + 7 * 10**12, 3 + 7 * 10**14])
    np.testing.assert_allclose(s(k), s(3), rtol=1e-15)
    with pytest.raises(ValueError, match=r"step must be <= 2\*\*53"):
        s(2**53 + 1)
