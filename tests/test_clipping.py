"""Tests for optlib.clipping: global-norm, per-array and elementwise clipping, in place.

* ``clip_grad_norm`` (default) is torch's ``clip_grad_norm_``. Parity comes from
  ``reference/clipping_torch.npz``, written by ``reference/generate_reference.py``
  (``clipping_runs``); every case's arguments are stored beside its values (JSON), and
  a live comparison runs when torch is importable.
* ``clip_grad_norm(exact=True)`` and ``clip_by_norm`` are compared with optax's and
  TensorFlow's rules, written below in NumPy: tf.clip_by_global_norm's documented
  ``t * clip_norm / max(global_norm, clip_norm)``, every entry NaN if the global norm is
  infinite; tf.clip_by_norm's ``t * clip_norm / max(l2norm(t), clip_norm)`` (TensorFlow's
  ``clip_ops.py``); optax.clip_by_global_norm's ``select(g_norm < max_norm, t, t /
  g_norm * max_norm)`` (``optax/transforms/_clipping.py``), with no epsilon.
* The naive references are plain NumPy, slow and obvious on purpose.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optlib as ol

C = ol.clipping
REF = Path(__file__).parent / "reference" / "clipping_torch.npz"
DATA = np.load(REF)
NORM_CASES = json.loads(str(DATA["norm_cases"]))
VALUE_CASES = json.loads(str(DATA["value_cases"]))
EPS64 = np.finfo(np.float64).eps
EPS32 = float(np.finfo(np.float32).eps)

# --- naive references ------------------------------------------------------------------


def naive_norm(x, p):
    """The p-norm of all entries of x (NaN propagates; p = inf is the largest |x_i|)."""
    a = np.abs(np.asarray(x, dtype=np.float64).ravel())
    with np.errstate(over="ignore", invalid="ignore"):
        if p == "inf" or p == math.inf:
            return float(np.max(a))
        if p == 2:
            return float(np.sqrt(np.sum(a * a)))
        return float(np.sum(a**p) ** (1.0 / p))


def naive_total(arrays, p):
    """torch's total norm: the p-norm of the per-array p-norms."""
    return naive_norm([naive_norm(a, p) for a in arrays], p)


def naive_torch_clip(arrays, max_norm, p):
    """torch.nn.utils.clip_grad_norm_: always multiply by min(max / (total + 1e-6), 1).

    torch.clamp propagates NaN, so a NaN total gives a NaN coefficient."""
    total = naive_total(arrays, p)
    coef = max_norm / (total + 1e-6)
    coef = coef if math.isnan(coef) else min(coef, 1.0)
    with np.errstate(invalid="ignore"):
        return [a * coef for a in arrays], total


def naive_tf_global(arrays, clip):
    """tf.clip_by_global_norm: scale = clip * min(1/gn, 1/clip), plus (gn - gn), which is
    NaN when gn is inf or NaN: every output is then NaN."""
    with np.errstate(over="ignore", invalid="ignore"):
        gn = math.sqrt(sum(float(np.sum(a.astype(np.float64) ** 2)) for a in arrays))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = clip * np.minimum(1.0 / np.float64(gn), 1.0 / clip)
        scale = scale + (np.float64(gn) - np.float64(gn))
        return [a * scale for a in arrays], gn


def naive_optax_global(arrays, max_norm):
    """optax.clip_by_global_norm: select(g_norm < max_norm, t, t / g_norm * max_norm)."""
    with np.errstate(over="ignore", invalid="ignore"):
        gn = math.sqrt(sum(float(np.sum(a.astype(np.float64) ** 2)) for a in arrays))
    with np.errstate(divide="ignore", invalid="ignore"):
        return [a if gn < max_norm else a / gn * max_norm for a in arrays], gn


def naive_tf_clip_by_norm(t, clip):
    """tf.clip_by_norm on one tensor: t * clip / maximum(l2norm, clip), l2norm 'safe' at 0."""
    l2sum = np.sum(t * t)
    l2norm = np.sqrt(l2sum) if l2sum > 0 else l2sum
    with np.errstate(invalid="ignore"):
        return t * clip / np.maximum(l2norm, clip)


def split(flat, shapes):
    """Undo the generator's flatten-and-concatenate: fresh C-contiguous arrays."""
    out, i = [], 0
    for s in shapes:
        n = int(np.prod(s))
        out.append(flat[i:i + n].reshape(s).copy())
        i += n
    return out


def flat(arrays):
    return np.concatenate([np.ravel(a) for a in arrays])


def stored_inputs(case):
    return split(DATA[f"{case['id']}/in"], case["shapes"])


def assert_close_nan(got, expected, rtol, atol=0.0):
    """Equal NaN positions; the rest (including infinities) close."""
    got, expected = flat(got) if isinstance(got, list) else got, expected
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)


def rtol_of(case):
    # float32: torch computes total and coefficient in float32, optlib in float64, and
    # both round the product to float32: a few float32 ulps apart
    return 1e-12 if case["dtype"] == "float64" else 4 * EPS32


def norm_id(c):
    return f"{c['id']}-{c['regime']}-p{c['norm_type']}-{c['dtype']}"


# --- the stored torch values -----------------------------------------------------------


def test_the_stored_cases_cover_what_the_generator_promises():
    regimes = {c["regime"] for c in NORM_CASES}
    assert {"far_below", "below", "at", "above", "zero", "inf", "-inf", "nan", "nan+inf",
            "inf-raise", "nan-raise", "overflow"} <= regimes
    assert {str(c["norm_type"]) for c in NORM_CASES} == {"1.0", "2.0", "3.0", "inf"}
    assert len({c["max_norm"] for c in NORM_CASES}) >= 20
    assert any(c["single"] for c in NORM_CASES) and any(c["dtype"] == "float32"
                                                        for c in NORM_CASES)
    assert all(c["raises"] == "RuntimeError" for c in NORM_CASES if c["error_if_nonfinite"])
    assert sum(c["error_if_nonfinite"] for c in NORM_CASES) >= 8
    for c in NORM_CASES + VALUE_CASES:
        n = sum(int(np.prod(s)) for s in c["shapes"])
        assert DATA[f"{c['id']}/in"].shape == DATA[f"{c['id']}/out"].shape == (n,)
        assert DATA[f"{c['id']}/out"].dtype == np.dtype(c["dtype"])
    # the 'below' regime is within 1e-6 under max_norm, yet torch shrank it
    for c in NORM_CASES:
        if c["regime"] == "below" and c["dtype"] == "float64":
            assert 0 < c["max_norm"] - float(DATA[f"{c['id']}/total"]) < 1e-6
            assert np.all(np.abs(DATA[f"{c['id']}/out"]) <= np.abs(DATA[f"{c['id']}/in"]))
            assert not np.array_equal(DATA[f"{c['id']}/out"], DATA[f"{c['id']}/in"])
    assert REF.stat().st_size < 200_000


@pytest.mark.parametrize("case", [c for c in NORM_CASES if c["dtype"] == "float64"],
                         ids=norm_id)
def test_the_naive_torch_rule_reproduces_stored_torch(case):
    """The reference used below is right: it equals the real torch values."""
    arrays = stored_inputs(case)
    total = naive_total(arrays, case["norm_type"])
    if case["raises"]:
        assert not math.isfinite(total)
        return
    out, total = naive_torch_clip(arrays, case["max_norm"], case["norm_type"])
    assert_close_nan(flat(out), DATA[f"{case['id']}/out"], rtol=1e-12)
    np.testing.assert_allclose(total, float(DATA[f"{case['id']}/total"]), rtol=1e-12)


@pytest.mark.parametrize("case", NORM_CASES, ids=norm_id)
def test_clip_grad_norm_matches_stored_torch(case):
    arrays = stored_inputs(case)
    before = [a.copy() for a in arrays]
    grads = arrays[0] if case["single"] else arrays
    kw = dict(norm_type=case["norm_type"], error_if_nonfinite=case["error_if_nonfinite"])
    if case["raises"]:  # torch raised RuntimeError; optlib raises ValueError, touches nothing
        with pytest.raises(ValueError, match=r"total norm .* is (nan|inf)"):
            C.clip_grad_norm(grads, case["max_norm"], **kw)
        for a, b in zip(arrays, before):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(flat(arrays), DATA[f"{case['id']}/out"])
        return
    total = C.clip_grad_norm(grads, case["max_norm"], **kw)
    assert isinstance(total, float)
    assert all(a.dtype == np.dtype(case["dtype"]) for a in arrays)
    assert_close_nan(flat(arrays), DATA[f"{case['id']}/out"], rtol=rtol_of(case))
    expected_total = float(DATA[f"{case['id']}/total"])
    rtol = 1e-12 if case["dtype"] == "float64" else 1e-6  # torch's total is float32 there
    if math.isnan(expected_total):
        assert math.isnan(total)
    else:
        assert total == pytest.approx(expected_total, rel=rtol)


def value_id(c):
    return f"{c['id']}-c={c['clip_value']}-{c['dtype']}"


@pytest.mark.parametrize("case", VALUE_CASES, ids=value_id)
def test_clip_grad_value_matches_stored_torch_exactly(case):
    arrays = split(DATA[f"{case['id']}/in"], case["shapes"])
    before = flat(arrays)
    ret = C.clip_grad_value(arrays, case["clip_value"])
    out = DATA[f"{case['id']}/out"]
    np.testing.assert_array_equal(flat(arrays), out)  # a clamp is exact; NaN stays NaN
    assert np.array_equal(np.isnan(before), np.isnan(out))
    # optlib returns the largest |entry| before clipping (torch returns None)
    if not np.any(np.isnan(before)):
        assert ret == np.max(np.abs(before))


# --- live torch -------------------------------------------------------------------------


def torch_clip(torch, arrays, max_norm, p, single=False, error_if_nonfinite=False):
    dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
    params = []
    for a in arrays:
        t = torch.zeros(a.shape, dtype=dtype[a.dtype], requires_grad=True)
        t.grad = torch.tensor(a)
        params.append(t)
    tp = math.inf if p == "inf" else p
    total = torch.nn.utils.clip_grad_norm_(params[0] if single else params, max_norm, tp,
                                           error_if_nonfinite=error_if_nonfinite)
    return [t.grad.numpy() for t in params], float(total)


def test_stored_values_are_what_the_installed_torch_computes():
    torch = pytest.importorskip("torch")
    for case in NORM_CASES:
        arrays = stored_inputs(case)
        if case["raises"]:
            with pytest.raises(RuntimeError, match="non-finite"):
                torch_clip(torch, arrays, case["max_norm"], case["norm_type"],
                           case["single"], True)
            continue
        out, total = torch_clip(torch, arrays, case["max_norm"], case["norm_type"],
                                case["single"])
        np.testing.assert_array_equal(flat(out), DATA[f"{case['id']}/out"], err_msg=case["id"])
        np.testing.assert_array_equal(total, float(DATA[f"{case['id']}/total"]))
    for case in VALUE_CASES:
        arrays = split(DATA[f"{case['id']}/in"], case["shapes"])
        params = []
        for a in arrays:
            t = torch.zeros(a.shape, dtype=getattr(torch, case["dtype"]), requires_grad=True)
            t.grad = torch.tensor(a)
            params.append(t)
        torch.nn.utils.clip_grad_value_(params, case["clip_value"])
        np.testing.assert_array_equal(flat([t.grad.numpy() for t in params]),
                                      DATA[f"{case['id']}/out"])


@pytest.mark.parametrize("seed", range(4))
def test_clip_grad_norm_matches_live_torch_on_random_gradients(seed):
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(100 + seed)
    for k in range(40):
        n_arrays = int(r.integers(1, 5))
        arrays = [np.array(r.normal(size=tuple(r.integers(1, 5, size=r.integers(0, 4)))) *
                           10 ** r.uniform(-4, 4)) for _ in range(n_arrays)]  # 0-d too
        p = [1.0, 2.0, 3.0, "inf", 1.5][k % 5]
        total = naive_total(arrays, p)
        max_norm = float(total * r.choice([0.01, 0.5, 1 - 1e-12, 1.0, 1 + 1e-8, 3.0]))
        if r.random() < 0.2:
            max_norm = float(10 ** r.uniform(-3, 3))
        single = n_arrays == 1 and r.random() < 0.5
        expected, t_total = torch_clip(torch, [a.copy() for a in arrays], max_norm, p, single)
        got = [a.copy() for a in arrays]
        ret = C.clip_grad_norm(got[0] if single else got, max_norm, p)
        np.testing.assert_allclose(flat(got), flat(expected), rtol=1e-12, atol=0)
        assert ret == pytest.approx(t_total, rel=1e-12)


def test_clip_grad_value_matches_live_torch_on_random_gradients():
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(7)
    for dtype, tdtype in ((np.float64, torch.float64), (np.float32, torch.float32)):
        for _ in range(20):
            arrays = [(r.normal(size=tuple(r.integers(1, 6, size=2))) * 3).astype(dtype)
                      for _ in range(int(r.integers(1, 4)))]
            c = float(r.choice([0.1, 1.0, 2.5]))
            params = []
            for a in arrays:
                t = torch.zeros(a.shape, dtype=tdtype, requires_grad=True)
                t.grad = torch.tensor(a)
                params.append(t)
            torch.nn.utils.clip_grad_value_(params, c)
            C.clip_grad_value(arrays, c)
            np.testing.assert_array_equal(flat(arrays), flat([t.grad.numpy() for t in params]))


# --- torch's epsilon, at and around the threshold ---------------------------------------


@pytest.mark.parametrize("max_norm", [5.0, 5.0 + 1e-7, 5.0 - 1e-7, 5.0 + 2e-6])
def test_the_torch_rule_shrinks_a_hair_near_the_threshold_and_exact_does_not(max_norm):
    g = np.array([3.0, 4.0])  # norm exactly 5
    t = C.clip_grad_norm(g, max_norm)
    assert t == 5.0
    coef = min(1.0, max_norm / (5.0 + 1e-6))
    np.testing.assert_allclose(g, np.array([3.0, 4.0]) * coef, rtol=1e-15)
    if max_norm < 5.0 + 1e-6:
        assert coef < 1 and np.all(np.abs(g) < [3.0, 4.0])
    else:
        np.testing.assert_array_equal(g, [3.0, 4.0])  # coef clamps to exactly 1
    e = np.array([3.0, 4.0])
    assert C.clip_grad_norm(e, max_norm, exact=True) == 5.0
    if max_norm >= 5.0:
        np.testing.assert_array_equal(e, [3.0, 4.0])
    else:
        np.testing.assert_allclose(e, np.array([3.0, 4.0]) * max_norm / 5.0, rtol=1e-15)
        assert np.linalg.norm(e) == pytest.approx(max_norm, rel=1e-15)


# --- the exact rule (optax, TensorFlow) and clip_by_norm, in NumPy -----------------------


def exact_inputs():
    """Stored L2 inputs (finite and not) plus hand-made ones, with several thresholds."""
    out = []
    for c in NORM_CASES:
        if c["norm_type"] == 2.0 and c["dtype"] == "float64":
            out.append(pytest.param(stored_inputs(c), c["max_norm"], id=f"{c['id']}-{c['regime']}"))
    out += [pytest.param([np.array([3.0, 4.0])], 5.0, id="at-5"),
            pytest.param([np.array([3.0, 4.0])], 2.5, id="half"),
            pytest.param([np.zeros(3), np.zeros((2, 2))], 1.0, id="zero"),
            pytest.param([np.array([1e200, 1.0])], 1.0, id="overflow")]
    return out


@pytest.mark.parametrize("arrays, max_norm", exact_inputs())
def test_exact_rule_matches_optax_and_tensorflow_in_numpy(arrays, max_norm):
    tf_out, gn = naive_tf_global(arrays, max_norm)
    ox_out, _ = naive_optax_global(arrays, max_norm)
    got = [a.copy() for a in arrays]
    ret = C.clip_grad_norm(got, max_norm, exact=True)
    if math.isnan(gn):
        assert math.isnan(ret)
    else:
        assert ret == pytest.approx(gn, rel=1e-12)
    assert_close_nan(flat(got), flat(tf_out), rtol=1e-12)
    if math.isinf(gn):  # TensorFlow: NaN everywhere; optax would give 0 (NaN at the infs)
        assert np.all(np.isnan(flat(got)))
        assert not np.all(np.isnan(flat(ox_out)))
    else:
        assert_close_nan(flat(got), flat(ox_out), rtol=1e-12)
    if math.isfinite(gn) and gn > max_norm:
        assert naive_norm(flat(got), 2) == pytest.approx(max_norm, rel=1e-14)


@pytest.mark.parametrize("p", [1.0, 3.0, "inf", 1.5])
def test_exact_rule_for_other_norms_scales_by_max_over_max_of_total_and_max(p):
    r = np.random.default_rng(3)
    for _ in range(30):
        arrays = [r.normal(size=r.integers(1, 6)) for _ in range(3)]
        total = naive_total(arrays, p)
        max_norm = total * float(r.choice([0.1, 0.9, 1.0, 1.1]))
        got = [a.copy() for a in arrays]
        assert C.clip_grad_norm(got, max_norm, norm_type=p, exact=True) == pytest.approx(
            total, rel=1e-12)
        expected = [a * max_norm / max(total, max_norm) for a in arrays]
        np.testing.assert_allclose(flat(got), flat(expected), rtol=1e-12)


def clip_by_norm_inputs():
    r = np.random.default_rng(9)
    return [
        [r.normal(size=4) * 3, r.normal(size=(2, 3)) * 0.1, np.zeros(3), np.array([3.0, 4.0])],
        [r.normal(size=(3, 3)) * s for s in (0.01, 0.3, 1.0, 30.0)],
        [np.array([1e-300, -1e-300]), np.array([2.0]), np.array([-2.0, 0.0]),
         np.array([[30.0], [-40.0]])],
    ]


@pytest.mark.parametrize("max_norm", [0.5, 1.0, 5.0])
@pytest.mark.parametrize("which", range(3))
def test_clip_by_norm_matches_tensorflow_per_array(which, max_norm):
    arrays = clip_by_norm_inputs()[which]
    expected = [naive_tf_clip_by_norm(a, max_norm) for a in arrays]
    got = [a.copy() for a in arrays]
    norms = C.clip_by_norm(got, max_norm)
    np.testing.assert_allclose(norms, [naive_norm(a, 2) for a in arrays], rtol=1e-12)
    for g, e, a, n in zip(got, expected, arrays, norms):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=0)
        if n <= max_norm:
            np.testing.assert_array_equal(g, a)  # untouched, bit for bit
        else:
            assert naive_norm(g, 2) == pytest.approx(max_norm, rel=1e-14)
    assert any(n > max_norm for n in norms) and any(n <= max_norm for n in norms)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, "inf"])
def test_clip_by_norm_and_the_exact_rule_at_and_around_the_threshold(p):
    """Norms at or under max_norm are left bit for bit (no scaling up, no hair-cut like
    torch's 1e-6); a hair above is scaled down to max_norm."""
    r = np.random.default_rng(12)
    a = r.normal(size=6)
    n = naive_norm(a, p)
    n = C.global_norm(a, p)  # optlib's own value, so that "at" is exactly at
    assert n == pytest.approx(naive_norm(a, p), rel=1e-14)
    exact = lambda g, m: C.clip_grad_norm([g], m, norm_type=p, exact=True)  # noqa: E731
    by_norm = lambda g, m: C.clip_by_norm([g], m, norm_type=p)[0]  # noqa: E731
    for fn in (by_norm, exact):
        for factor in (1.0, 1 + 1e-9, 1 + 1e-4, 10.0):  # max_norm = n * factor: at or above
            g = a.copy()
            assert fn(g, n * factor) == n
            assert g.tobytes() == a.tobytes(), factor
        for factor in (1 - 1e-9, 1 - 1e-4, 0.5):
            g = a.copy()
            fn(g, n * factor)
            np.testing.assert_allclose(g, a * factor, rtol=1e-14)
            assert np.all(np.abs(g) < np.abs(a))


@pytest.mark.parametrize("p", [1.0, 3.0, "inf"])
def test_clip_by_norm_for_other_norms(p):
    r = np.random.default_rng(11)
    arrays = [r.normal(size=5) * s for s in (0.1, 1.0, 10.0)]
    got = [a.copy() for a in arrays]
    norms = C.clip_by_norm(got, 1.0, norm_type=p)
    for g, a, n in zip(got, arrays, norms):
        assert n == pytest.approx(naive_norm(a, p), rel=1e-12)
        np.testing.assert_allclose(g, a * 1.0 / max(n, 1.0), rtol=1e-12)
    assert norms[0] < 1.0 < norms[2]


def test_clip_by_norm_with_an_infinite_entry_follows_tensorflow():
    a = np.array([1.0, np.inf, -2.0])
    expected = naive_tf_clip_by_norm(a, 1.0)
    assert np.isnan(expected[1]) and expected[0] == 0 and expected[2] == 0
    C.clip_by_norm([a], 1.0)
    assert_close_nan(a, expected, rtol=0)


def test_clip_by_norm_with_a_nan_entry_makes_that_array_nan_only():
    a, b = np.array([1.0, np.nan]), np.array([3.0, 4.0])
    norms = C.clip_by_norm([a, b], 1.0)
    assert math.isnan(norms[0]) and norms[1] == 5.0
    assert np.all(np.isnan(a))  # "a NaN norm makes everything NaN" (module docstring)
    np.testing.assert_allclose(b, [0.6, 0.8], rtol=1e-15)


# --- properties ---------------------------------------------------------------------------

NORMS = [1.0, 1.5, 2.0, 3.0, "inf"]


@st.composite
def gradients(draw, dtype=np.float64, min_arrays=1):
    """A list of 1-4 small float arrays of random shapes, entries spanning 1e-3..1e3."""
    n = draw(st.integers(min_arrays, 4))
    out = []
    for _ in range(n):
        shape = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=3)))
        size = int(np.prod(shape))
        vals = draw(st.lists(st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False),
                             min_size=size, max_size=size))
        out.append(np.array(vals, dtype=dtype).reshape(shape))
    return out


def cosine(a, b):
    """Cosine of the angle between two gradients, scaled first so tiny ones do not underflow."""
    a, b = flat(a).astype(np.float64), flat(b).astype(np.float64)
    a, b = a / np.max(np.abs(a)), b / np.max(np.abs(b))
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# floating point: after scaling by max/total the recomputed norm can land a few ulps
# above max_norm. Measured for exact=True on 5,000 random cases per norm: above in 17 %
# (p = 2) to 62 % (p = 3) of them, by at most 2 ulps (p = 2) and 8 ulps (p = 3)
ULPS = 16 * EPS64


@settings(max_examples=80, deadline=None)
@given(gradients(), st.floats(1e-3, 1e3), st.sampled_from(NORMS))
def test_torch_rule_bounds_the_norm_keeps_the_direction_and_returns_the_norm_before(
        grads, max_norm, p):
    before = [g.copy() for g in grads]
    total = naive_total(before, p)
    ret = C.clip_grad_norm(grads, max_norm, norm_type=p)
    assert ret == pytest.approx(total, rel=1e-12, abs=1e-300)  # the norm *before* clipping
    assert ret == C.global_norm(before, p)
    after = naive_total(grads, p)
    assert after <= max_norm * total / (total + 1e-6) * (1 + ULPS) + 1e-300
    assert after <= max_norm
    if total > 0:
        assert cosine(grads, before) == pytest.approx(1.0, abs=1e-12)
    coef = min(1.0, max_norm / (ret + 1e-6))  # the same product, so the same bits
    np.testing.assert_array_equal(flat(grads), flat(before) * coef)


@settings(max_examples=80, deadline=None)
@given(gradients(), st.floats(1e-3, 1e3), st.sampled_from(NORMS))
def test_exact_rule_bounds_the_norm_and_leaves_small_gradients_bit_identical(
        grads, max_norm, p):
    before = [g.copy() for g in grads]
    total = naive_total(before, p)
    ret = C.clip_grad_norm(grads, max_norm, norm_type=p, exact=True)
    assert ret == C.global_norm(before, p)
    assert ret == pytest.approx(total, rel=1e-12, abs=1e-300)
    after = naive_total(grads, p)
    assert after <= max_norm * (1 + ULPS)
    if ret <= max_norm:
        for g, b in zip(grads, before):
            np.testing.assert_array_equal(g, b)
            assert g.tobytes() == b.tobytes()  # bit-identical (signs of zeros included)
    else:
        assert after == pytest.approx(max_norm, rel=ULPS)
        assert cosine(grads, before) == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(gradients(), st.floats(1e-3, 1e3, allow_subnormal=False))
def test_clip_grad_value_is_np_clip_and_returns_the_largest_entry_before(grads, c):
    before = [g.copy() for g in grads]
    ret = C.clip_grad_value(grads, c)
    assert ret == max(float(np.max(np.abs(b))) for b in before)
    for g, b in zip(grads, before):
        assert np.all((-c <= g) & (g <= c))
        np.testing.assert_array_equal(g, np.clip(b, -c, c))


@settings(max_examples=40, deadline=None)
@given(gradients(min_arrays=2), st.floats(1e-2, 1e2), st.sampled_from([1.0, 2.0, "inf"]))
def test_clip_by_norm_clips_each_array_on_its_own(grads, max_norm, p):
    before = [g.copy() for g in grads]
    norms = C.clip_by_norm(grads, max_norm, norm_type=p)
    assert len(norms) == len(grads)
    for g, b, n in zip(grads, before, norms):
        assert n == pytest.approx(naive_norm(b, p), rel=1e-12, abs=1e-300)
        assert naive_norm(g, p) <= max_norm * (1 + ULPS)
        if n <= max_norm:
            np.testing.assert_array_equal(g, b)
        else:
            assert cosine([g], [b]) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("fn, arg", [(C.clip_grad_norm, 0.5), (C.clip_by_norm, 0.5),
                                     (C.clip_grad_value, 0.5),
                                     (lambda g, m: C.clip_grad_norm(g, m, exact=True), 0.5)])
def test_clipping_is_in_place_for_one_array_and_for_lists(fn, arg):
    r = np.random.default_rng(0)
    one = r.normal(size=(3, 4)) * 5
    view_before = one.copy()
    ident = id(one)
    fn(one, arg)
    assert id(one) == ident and not np.array_equal(one, view_before)
    arrays = [r.normal(size=5) * 5, r.normal(size=(2, 2)) * 5]
    lst = list(arrays)
    ids = [id(a) for a in arrays]
    before = [a.copy() for a in arrays]
    fn(lst, arg)
    assert [id(a) for a in lst] == ids  # the same objects, still listed
    for a, b in zip(arrays, before):
        assert not np.array_equal(a, b)
    tup = tuple(r.normal(size=4) * 5 for _ in range(2))
    tb = [t.copy() for t in tup]
    fn(tup, arg)  # a tuple of arrays works too: its arrays change
    assert all(not np.array_equal(t, b) for t, b in zip(tup, tb))


@settings(max_examples=40, deadline=None)
@given(gradients(dtype=np.float32), st.floats(1e-2, 1e2), st.sampled_from(NORMS),
       st.booleans())
def test_float32_arrays_stay_float32_and_are_clipped(grads, max_norm, p, exact):
    before = [g.astype(np.float64) for g in grads]
    total = naive_total(before, p)
    ret = C.clip_grad_norm(grads, max_norm, norm_type=p, exact=exact)
    assert all(g.dtype == np.float32 for g in grads)
    # the L2 kernel squares float32 entries in float32 (float32-accurate; p = 1, 3 are
    # accumulated in float64): the norm of the float32 values to float32 precision, and
    # entries under ~1e-19 square to 0 (float64 has the same underflow under ~1e-154)
    assert ret == pytest.approx(total, rel=4 * EPS32, abs=1e-18)
    assert naive_total(grads, p) <= max_norm * (1 + 4 * EPS32)
    coef = max_norm / max(ret, max_norm) if exact else min(1.0, max_norm / (ret + 1e-6))
    # scaled in float32 by the coefficient rounded to float32, as torch scales
    np.testing.assert_array_equal(flat(grads), flat(before).astype(np.float32)
                                  * np.float32(coef))
    c = max_norm / 10
    C.clip_grad_value(grads, c)
    assert all(g.dtype == np.float32 and np.all(np.abs(g) <= np.float32(c)) for g in grads)


def test_global_norm_is_the_norm_of_the_per_array_norms():
    arrays = [np.array([3.0, 4.0]), np.array([[12.0]]), np.zeros(2)]
    assert C.global_norm(arrays) == 13.0
    assert C.global_norm(arrays, 1) == 19.0
    assert C.global_norm(arrays, "inf") == C.global_norm(arrays, np.inf) == 12.0
    assert C.global_norm(arrays, 3) == pytest.approx((27 + 64 + 1728) ** (1 / 3), rel=1e-14)
    assert C.global_norm(np.array([1e200, 1e200])) == math.inf  # overflow, as torch


# --- non-finite gradients -------------------------------------------------------------------


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, "inf"])
def test_inf_entries_become_nan_and_finite_ones_zero_under_the_torch_rule(p):
    g = [np.array([1.0, np.inf, -2.0]), np.array([0.5])]
    assert C.clip_grad_norm(g, 1.0, norm_type=p) == math.inf
    np.testing.assert_array_equal(flat(g), [0.0, np.nan, -0.0, 0.0])
    e = [np.array([1.0, np.inf, -2.0]), np.array([0.5])]
    assert C.clip_grad_norm(e, 1.0, norm_type=p, exact=True) == math.inf
    assert np.all(np.isnan(flat(e)))  # TensorFlow's rule


@pytest.mark.parametrize("exact", [False, True])
def test_an_infinite_max_norm_clips_nothing_and_returns_the_norm(exact):
    """torch's idiom clip_grad_norm_(params, inf) logs the norm and leaves the gradients
    (torch 2.13 checked by hand: [3, 4] stays, norm 5; an inf entry gives NaN)."""
    g = _grads()
    before = [a.copy() for a in g]
    assert C.clip_grad_norm(g, math.inf, exact=exact) == C.global_norm(before)
    for a, b in zip(g, before):
        np.testing.assert_array_equal(a, b)
    bad = [np.array([np.inf, 1.0])]
    assert C.clip_grad_norm(bad, math.inf, exact=exact) == math.inf
    assert np.all(np.isnan(bad[0]))  # as torch (inf / inf) and TensorFlow
    link = ol.chain.clip_by_global_norm(math.inf, exact=exact)
    u = np.array([3.0, 4.0])
    assert link.apply(u, link.init(u), None, 0, link.prepare(0, None)).norm == 5.0
    np.testing.assert_array_equal(u, [3.0, 4.0])


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, "inf"])
def test_a_nan_entry_anywhere_makes_everything_nan(p, exact):
    for where in range(2):
        g = [np.array([1.0, 2.0]), np.array([0.5, 3.0])]
        g[where][1] = np.nan
        assert math.isnan(C.clip_grad_norm(g, 1.0, norm_type=p, exact=exact))
        assert np.all(np.isnan(flat(g)))
    assert math.isnan(C.global_norm([np.array([np.inf]), np.array([np.nan])], p))


@pytest.mark.parametrize("where", [
    0, 1])
def test_clip_grad_value_returns_nan_when_any_entry_is_nan(where):
    g = [np.array([1.0, 2.0]), np.array([3.0, 0.5])]
    g[where][0] = np.nan
    assert math.isnan(C.global_norm(g, "inf"))
    ret = C.clip_grad_value(g, 1.0)
    assert math.isnan(ret)
    np.testing.assert_array_equal(flat(g), [1.0, 1.0, np.nan, 0.5] if where else
                                  [np.nan, 1.0, 1.0, 0.5])


# --- bad input ------------------------------------------------------------------------------


def _grads():
    return [np.array([3.0, 4.0]), np.array([[1.0, -2.0]])]


BAD = [
    (lambda g: C.clip_grad_norm(g, 0.0), ValueError, r"max_norm must be in \(0.0, inf\]"),
    (lambda g: C.clip_grad_norm(g, -1.0), ValueError, "max_norm"),
    (lambda g: C.clip_grad_norm(g, np.nan), ValueError, "max_norm must be finite or inf"),
    (lambda g: C.clip_grad_norm(g, -np.inf), ValueError, "max_norm must be finite or inf"),
    (lambda g: C.clip_grad_norm(g, "1"), TypeError, "max_norm must be a real number"),
    (lambda g: C.clip_grad_norm(g, True), TypeError, "max_norm"),
    (lambda g: C.clip_grad_norm(g, 1.0, norm_type=0.5), ValueError,
     r"norm_type must be a real number p >= 1, or inf \(also 'inf'\), got 0.5"),
    (lambda g: C.clip_grad_norm(g, 1.0, norm_type=0), ValueError, "norm_type"),
    (lambda g: C.clip_grad_norm(g, 1.0, norm_type=-np.inf), ValueError, "norm_type"),
    (lambda g: C.clip_grad_norm(g, 1.0, norm_type=np.nan), ValueError, "norm_type"),
    (lambda g: C.clip_grad_norm(g, 1.0, norm_type="two"), TypeError, "norm_type"),
    (lambda g: C.clip_grad_norm(g, 1.0, exact=True, norm_type=0.9), ValueError, "norm_type"),
    (lambda g: C.clip_by_norm(g, 0.0), ValueError, "max_norm"),
    (lambda g: C.clip_by_norm(g, 1.0, norm_type=0.5), ValueError, "norm_type"),
    (lambda g: C.clip_grad_value(g, 0.0), ValueError, r"clip_value must be in \(0.0, inf\)"),
    (lambda g: C.clip_grad_value(g, -0.5), ValueError, "clip_value"),
    (lambda g: C.clip_grad_value(g, np.nan), ValueError, "clip_value must be finite"),
    (lambda g: C.global_norm(g, 0.5), ValueError, "norm_type"),
]
BAD_IDS = ["max0", "max-1", "maxnan", "maxinf", "maxstr", "maxbool", "p0.5", "p0", "p-inf",
           "pnan", "pstr", "exact-p0.9", "bynorm-max0", "bynorm-p0.5", "value0", "value-0.5",
           "valuenan", "global-p0.5"]


@pytest.mark.parametrize("call, exc, words", BAD, ids=BAD_IDS)
def test_bad_arguments_are_refused_naming_them_and_nothing_is_clipped(call, exc, words):
    g = _grads()
    g[0] *= 10  # big enough that any clipping would show
    before = [a.copy() for a in g]
    with pytest.raises(exc, match=words):
        call(g)
    for a, b in zip(g, before):
        np.testing.assert_array_equal(a, b)


FUNCS = [lambda g: C.clip_grad_norm(g, 1.0), lambda g: C.clip_grad_norm(g, 1.0, exact=True),
         lambda g: C.clip_by_norm(g, 1.0), lambda g: C.clip_grad_value(g, 1.0),
         lambda g: C.global_norm(g)]
FUNC_IDS = ["norm", "exact", "by_norm", "value", "global_norm"]


def bad_grads():
    """(grads, exception, words, the real arrays inside that must stay untouched)."""
    good = np.array([30.0, 40.0])
    strided = np.arange(8.0)[::2]
    return [
        ([], ValueError, "grads must hold at least one array", []),
        ([good, [1.0, 2.0]], TypeError, r"grads\[1\] (is updated in place, so it )?must "
         "be a NumPy float array", [good]),  # the words of clipping, of global_norm
        ([1.0, 2.0], TypeError, r"grads\[0\] (is updated in place, so it )?must be a "
         "NumPy", []),
        ([good, strided.reshape(2, 2).T], ValueError, r"grads\[1\] must be C-contiguous",
         [good]),
        ([good, np.ma.array([1.0, 2.0])], TypeError, r"grads\[1\] must be a plain NumPy "
         "array, got a MaskedArray.*ignores the mask", [good]),
        ([good, np.array([1, 2])], TypeError, r"grads\[1\] must be a float32 or float64", [good]),
        (np.array([3, 4]), TypeError, "grads must be a float32 or float64 array", []),
        ([good, np.array([1.0 + 2j])], TypeError, r"grads\[1\]", [good]),
        ([good, np.zeros(0)], ValueError, r"grads\[1\] must not be empty", [good]),
        ([good, strided], ValueError, r"grads\[1\] must be C-contiguous", [good, strided]),
        ("abc", TypeError, r"grads must be a NumPy float array or a list of them", []),
        (np.float64(3.0), TypeError, r"grads must be a NumPy float array or a list", []),
    ]


BAD_GRAD_IDS = ["empty-list", "python-list-element", "list-of-floats", "transposed",
                "masked", "int-element",
                "int-array", "complex", "empty-array", "non-contiguous", "string",
                "numpy-scalar"]


@pytest.mark.parametrize("k", range(len(bad_grads())), ids=BAD_GRAD_IDS)
@pytest.mark.parametrize("fn", FUNCS, ids=FUNC_IDS)
def test_bad_gradients_are_refused_and_arrays_left_untouched(fn, k):
    grads, exc, words, real = bad_grads()[k]
    before = [a.copy() for a in real]
    with pytest.raises(exc, match=words):
        fn(grads)
    for a, b in zip(real, before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad, word", [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "inf")])
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, "inf"])
@pytest.mark.parametrize("exact", [False, True])
def test_error_if_nonfinite_raises_naming_the_norm_and_changes_nothing(bad, word, p, exact):
    g = [np.array([30.0, 40.0]), np.array([1.0, bad])]
    before = [a.copy() for a in g]
    with pytest.raises(ValueError, match=rf"total norm of the gradients is {word}"):
        C.clip_grad_norm(g, 1.0, norm_type=p, exact=exact, error_if_nonfinite=True)
    for a, b in zip(g, before):
        np.testing.assert_array_equal(a, b)
    # an overflowing norm of finite entries counts too
    big = [np.array([1e200, 1e200])]
    with pytest.raises(ValueError, match="inf"):
        C.clip_grad_norm(big, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(big[0], [1e200, 1e200])
    # and finite gradients pass
    ok = [np.array([3.0, 4.0])]
    assert C.clip_grad_norm(ok, 1.0, error_if_nonfinite=True) == 5.0


@pytest.mark.parametrize("fn", FUNCS[:4], ids=FUNC_IDS[:4])
def test_a_read_only_array_is_refused_with_a_message_naming_grads(fn):
    g = np.array([30.0, 40.0])
    g.flags.writeable = False
    with pytest.raises((ValueError, TypeError), match="grads"):
        fn(g)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_2_norm_is_a_running_sum_below_SMALL_and_sums_pairs_in_fixed_lanes_above(dtype):
    """The order of the additions is the kernel's definition, the same on every machine.
    Below SMALL entries: one running sum in index order. From SMALL on: for each block
    of 2L entries (L = LANES) starting at i, lane j adds g_{i+j}^2 + g_{i+L+j}^2 (each
    square in g's dtype, the pair added in float64), then the lanes are added in order, then the tail in index
    order. Written out here with NumPy scalars of g's dtype and Python floats."""
    from optlib._kernels.clipping import LANES, SMALL, norm, sum_of_squares

    def running(sq):
        s = 0.0
        for x in sq:
            s += float(x)
        return s

    def by_definition(g):
        sq = g * g  # float32 entries squared in float32
        if len(sq) < SMALL:
            return running(sq)
        full = len(sq) - len(sq) % (2 * LANES)
        lanes = [0.0] * LANES
        for start in range(0, full, 2 * LANES):
            for j in range(LANES):
                lanes[j] += float(sq[start + j]) + float(sq[start + LANES + j])
        return running(lanes + [float(x) for x in sq[full:]])

    r = np.random.default_rng(5)
    for n in (1, 7, 1153, SMALL - 1, SMALL, SMALL + 2 * LANES - 1, 3 * SMALL + 17):
        g = (r.normal(size=n) * 10.0 ** r.uniform(-3, 3, size=n)).astype(dtype)
        assert sum_of_squares(g) == by_definition(g), n  # before the square root hides
        assert norm(g, 2.0) == math.sqrt(by_definition(g)), n  # a last-bit difference
        if n < SMALL:
            assert norm(g, 2.0) == math.sqrt(running(g * g)), n
    for _ in range(3):  # entries of one size: where the order of the additions shows most
        g = r.normal(size=SMALL + 3 * LANES + 5).astype(dtype)
        assert sum_of_squares(g) == by_definition(g)
    # one lane alone (zeros elsewhere: adding them is exact), over many blocks: the total
    # is that lane's running sum of pairs in index order, which a reordering within the
    # lane changes in the last bit (the total's own rounding would hide it in a full sum)
    n = SMALL + 3 * LANES + 5
    full = n - n % (2 * LANES)
    for j in (0, 1, LANES // 2 + 3, LANES - 1):
        g = np.zeros(n, dtype)
        first, second = np.arange(j, full, 2 * LANES), np.arange(LANES + j, full, 2 * LANES)
        for idx in (first, second):
            g[idx] = r.normal(size=idx.size) * 10.0 ** r.uniform(-6, 6, size=idx.size)
        lane = 0.0
        for a, b in zip(first, second):
            lane += float(g[a] * g[a]) + float(g[b] * g[b])
        assert sum_of_squares(g) == lane, j
    # ... and for large arrays the lanes do differ from one running sum somewhere
    diffs = [norm(g, 2.0) != math.sqrt(running(g * g)) for g in
             (r.normal(size=SMALL + 17).astype(dtype) for _ in range(20))]
    assert any(diffs)
    # two float32 squares whose sum exceeds float32's range: the pair is added in float64
    for n in (SMALL - 1, SMALL):
        g = np.full(n, 0.01, dtype)
        g[0] = g[LANES] = 1.5e19
        assert norm(g, 2.0) == pytest.approx(1.5e19 * math.sqrt(2), rel=1e-6), n


def test_clipping_in_place_advises_a_copy_that_is_kept():
    with pytest.raises(ValueError, match=r"grads must be C-contiguous.*it is updated in "
                                         r"place, so update a contiguous copy"):
        C.clip_grad_norm(np.arange(8.0).reshape(2, 4).T, 1.0)
