"""optlib.precision: the dynamic loss scale against torch.amp.GradScaler's rules (a
scripted sequence, torch's values stored in reference/gradscaler_torch.npz, and live
torch when importable), the float16 step simulation, and
training that stalls in float16 without loss scaling and recovers with it."""

import json
from pathlib import Path

import numpy as np
import pytest

import optlib as ol

P = ol.precision
REF = np.load(Path(__file__).parent / "reference" / "gradscaler_torch.npz")
SCALER_CASES = json.loads(str(REF["cases"]))


def test_a_scripted_sequence_of_inf_and_clean_steps():
    s = P.DynamicLossScaler(init_scale=1024.0, growth_interval=3)
    flags = [False, False, True, False, False, False, False, True, True, False, False,
             False, False, False, False]
    # by hand from the rules: back off x0.5 and reset on inf; x2 after 3 clean in a row
    expected = [(1024, 1), (1024, 2), (512, 0), (512, 1), (512, 2), (1024, 0), (1024, 1),
                (512, 0), (256, 0), (256, 1), (256, 2), (512, 0), (512, 1), (512, 2),
                (1024, 0)]
    got = []
    for found_inf in flags:
        s.update(found_inf)
        got.append((float(s.scale), s.growth_tracker))
    assert got == expected
    assert isinstance(s.scale, np.float32)


def test_defaults_are_torchs():
    s = P.DynamicLossScaler()
    assert float(s.scale) == 2.0**16 and s.growth_tracker == 0
    assert (s.growth_factor, s.backoff_factor, s.growth_interval) == (2.0, 0.5, 2000)
    for _ in range(1999):
        s.update(False)
    assert float(s.scale) == 2.0**16 and s.growth_tracker == 1999
    s.update(False)
    assert float(s.scale) == 2.0**17 and s.growth_tracker == 0


def test_growth_that_would_overflow_float32_is_skipped_but_resets_the_tracker():
    s = P.DynamicLossScaler(init_scale=2.0**127, growth_interval=2)
    s.update(False)
    s.update(False)
    assert float(s.scale) == 2.0**127 and s.growth_tracker == 0


def test_unscale_multiplies_by_the_float32_reciprocal_and_reports_inf():
    s = P.DynamicLossScaler(init_scale=3.0)
    g = np.array([3.0, 6.0, 1e-3], dtype=np.float32)
    expected = g * np.float32(1.0 / 3.0)
    assert s.unscale(g) is False
    np.testing.assert_array_equal(g, expected)
    assert s.unscale(np.array([1.0, np.inf], dtype=np.float32)) is True
    assert s.unscale(np.array([np.nan, 1.0])) is True


def test_step_skips_the_optimizer_on_inf_and_takes_it_otherwise():
    s = P.DynamicLossScaler(init_scale=8.0, growth_interval=2)
    opt = ol.optim.Adam(0.1)
    w = np.ones(3, dtype=np.float32)
    state = opt.init(w)
    state, skipped = s.step(opt, w, np.array([8.0, np.inf, 0.0], np.float32), state)
    assert skipped and state.step == 0 and np.all(w == 1) and float(s.scale) == 4.0
    assert np.all(state.exp_avg == 0)                # the moments were not touched either
    state, skipped = s.step(opt, w, np.array([4.0, -4.0, 0.0], np.float32), state)
    assert not skipped and state.step == 1
    np.testing.assert_allclose(w, [0.9, 1.1, 1.0], rtol=1e-6)


def test_the_stored_grad_scaler_cases_cover_every_kind_of_step():
    kinds = {kind for c in SCALER_CASES for kind in c["bad"].values()}
    assert kinds == {"inf", "-inf", "nan", "big"}
    assert len({c["growth_interval"] for c in SCALER_CASES}) >= 4
    assert any(REF[c["id"] + "/scale"].max() < 1 for c in SCALER_CASES)
    assert any(REF[c["id"] + "/scale"].max() > 1e38 for c in SCALER_CASES)
    for c in SCALER_CASES:
        skipped = REF[c["id"] + "/skipped"]
        assert skipped.any() and not skipped.all()


@pytest.mark.parametrize("case", SCALER_CASES, ids=[c["id"] for c in SCALER_CASES])
def test_matches_torch_grad_scaler_stored(case):
    """The values torch 2.13's GradScaler recorded (``generate_reference.py
    gradscaler``): scale, growth tracker, skipped steps and unscaled gradients, bit for
    bit; the parameters after each SGD step to float32 rounding."""
    ref = {key: REF[f"{case['id']}/{key}"] for key in ("w0", "scaled", "unscaled",
                                                      "skipped", "scale", "tracker",
                                                      "params")}
    s = P.DynamicLossScaler(case["init_scale"], case["growth_factor"],
                            case["backoff_factor"], case["growth_interval"])
    opt = ol.optim.GD(0.1)
    w = ref["w0"].copy()
    state = opt.init(w)
    for k, scaled in enumerate(ref["scaled"]):
        grads = scaled.copy()
        with np.errstate(invalid="ignore"):
            state, skipped = s.step(opt, w, grads, state)
        assert skipped == ref["skipped"][k], k
        np.testing.assert_array_equal(grads, ref["unscaled"][k])
        assert float(s.scale) == ref["scale"][k]
        assert s.growth_tracker == ref["tracker"][k]
        np.testing.assert_allclose(w, ref["params"][k], rtol=1e-6)
    assert state.step == len(ref["scaled"]) - ref["skipped"].sum()


def test_matches_torch_grad_scaler_live():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=4).astype(np.float32)
    p = torch.nn.Parameter(torch.tensor(w0))
    topt = torch.optim.SGD([p], lr=0.1)
    ts = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=3)
    s = P.DynamicLossScaler(init_scale=2.0**10, growth_interval=3)
    opt = ol.optim.GD(0.1)
    w = w0.copy()
    state = opt.init(w)
    bad = {2, 6, 7, 11}                               # steps whose gradient overflows
    for k in range(16):
        g = rng.normal(size=4).astype(np.float32)
        ts.scale(torch.ones(()))                      # what scaler.scale(loss) does
        scaled = g * np.float32(ts.get_scale())
        if k in bad:
            scaled[k % 4] = np.inf
        topt.zero_grad()
        p.grad = torch.tensor(scaled.copy())
        ts.step(topt)
        ts.update()
        ours = scaled.copy()
        state, skipped = s.step(opt, w, ours, state)
        assert skipped == (k in bad)
        np.testing.assert_array_equal(ours, p.grad.numpy())   # unscaled bit for bit
        assert float(s.scale) == ts.get_scale()
        assert s.growth_tracker == int(ts._growth_tracker)
        # skipped steps leave both untouched; torch's SGD rounds lr * g to float32 first
        np.testing.assert_allclose(w, p.detach().numpy(), rtol=1e-6)
    assert state.step == 16 - len(bad) and float(s.scale) != 2.0**10


# --- the float16 step -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    return ol.datasets.load_digits(seed=0)


def test_fp16_gradient_is_close_to_the_float64_one(digits):
    model = ol.models.MLP(64, 16, 10)
    w = model.init(1).astype(np.float32)
    X, y = digits.X_train[:200], digits.y_train[:200]
    loss, g = P.fp16_loss_and_grad(model, w, X, y)
    loss64, g64 = model.loss_and_grad(w.astype(np.float64), X, y)
    assert g.dtype == np.float32 and g.shape == w.shape
    assert loss == pytest.approx(loss64, rel=5e-3)
    # float16 keeps about 3 decimal digits
    np.testing.assert_allclose(g, g64, rtol=0, atol=1e-2 * np.abs(g64).max())
    assert np.abs(g - g64).max() > 1e-6 * np.abs(g64).max()  # but it is not float64


def test_fp16_gradient_underflows_when_small_and_overflows_when_large(digits):
    model = ol.models.MLP(64, 16, 10)
    w = model.init(1).astype(np.float32)
    X, y = digits.X_train[:200], digits.y_train[:200]
    _, g64 = model.loss_and_grad(w.astype(np.float64), X, y)
    _, tiny = P.fp16_loss_and_grad(model, w, X, y, loss_scale=2.0**-20)
    _, scaled = P.fp16_loss_and_grad(model, w, X, y, loss_scale=2.0**-20 * 2.0**16)
    _, huge = P.fp16_loss_and_grad(model, w, X, y, loss_scale=2.0**30)
    live = g64 != 0                                  # blank pixels have zero gradient
    assert np.mean(tiny[live] == 0) > 0.9            # almost everything underflowed
    assert np.mean(scaled[live] == 0) < 0.05         # the scale brings it back
    np.testing.assert_allclose(scaled / np.float32(2.0**-4), g64, rtol=0,
                               atol=2e-2 * np.abs(g64).max())
    assert not np.isfinite(huge).all()


def test_float16_training_stalls_without_loss_scaling_and_recovers_with_it(digits):
    model = ol.models.MLP(64, 16, 10)
    weight = 2.0**-20
    runs = {}
    for name, scaler in (("none", None), ("scaled", P.DynamicLossScaler(growth_interval=5))):
        w = model.init(0).astype(np.float32)
        runs[name] = P.fit_fp16(model, ol.optim.Adam(1e-2, eps=1e-8 * weight), w, digits,
                                epochs=6, batch_size=128, scaler=scaler, loss_weight=weight)
    w = model.init(0)
    ref = ol.models.fit(model, ol.optim.Adam(1e-2), w, digits, epochs=6, batch_size=128)
    assert runs["none"].train_loss[-1] > 0.5 * runs["none"].train_loss[0]   # stalled
    assert runs["none"].zero_fraction[0] > 0.9
    assert runs["scaled"].train_loss[-1] < 2 * ref.train_loss[-1]            # recovered
    assert runs["scaled"].test_accuracy[-1] > 0.9
    h = runs["scaled"]
    assert h.scale[0] == 2.0**16 and h.scale.max() > 2.0**20     # grew every 5 clean steps
    assert not runs["none"].skipped.any() and np.all(runs["none"].scale == 1.0)


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("make, exc, words", [
    (lambda: P.DynamicLossScaler(init_scale=0.0), ValueError, "init_scale"),
    (lambda: P.DynamicLossScaler(growth_factor=1.0), ValueError, "growth_factor"),
    (lambda: P.DynamicLossScaler(backoff_factor=1.0), ValueError, "backoff_factor"),
    (lambda: P.DynamicLossScaler(growth_interval=0), ValueError, "growth_interval"),
    (lambda: P.DynamicLossScaler().update(1), TypeError, "found_inf must be a bool"),
    (lambda: P.fp16_loss_and_grad(ol.models.LogisticRegression(3), np.zeros(4, np.float32),
                                  np.zeros((2, 3)), np.array([0, 1])), TypeError, "MLP"),
    (lambda: P.fp16_loss_and_grad(ol.models.MLP(3, 2, 2, l2=0.1), np.zeros(13, np.float32),
                                  np.zeros((2, 3)), np.array([0, 1])), ValueError, "l2"),
    (lambda: P.fit_fp16(ol.models.MLP(64, 2, 10), ol.optim.GD(0.1), np.zeros(160),
                        ol.datasets.load_digits()), TypeError, "float32 master weights"),
    (lambda: P.fit_fp16(ol.models.MLP(64, 2, 10), ol.optim.GD(0.1),
                        np.zeros(160, np.float32), ol.datasets.load_digits(), scaler=2.0),
     TypeError, "scaler must be None or a DynamicLossScaler"),
    (lambda: P.fit_fp16(ol.models.MLP(64, 2, 10), ol.optim.GD(0.1),
                        np.zeros(160, np.float32), ol.datasets.load_digits(),
                        loss_weight=0.0), ValueError, "loss_weight"),
])
def test_bad_input(make, exc, words):
    with pytest.raises(exc, match=words):
        make()
