"""optlib.search: sampling distributions, random search, successive halving."""

import math

import numpy as np
import pytest

import optlib as ol

S = ol.search


def test_log_uniform_gives_each_decade_the_same_share():
    cfgs = S.sample({"lr": S.LogUniform(1e-5, 1.0)}, 20000, seed=0)
    lrs = np.array([c["lr"] for c in cfgs])
    assert lrs.min() >= 1e-5 and lrs.max() < 1.0
    counts = np.histogram(np.log10(lrs), bins=5, range=(-5, 0))[0]
    # 4,000 expected per decade (sd 57); a uniform sample would put 90 % in the last one
    assert np.all(np.abs(counts - 4000) < 300)


def test_uniform_and_choice_cover_their_range():
    cfgs = S.sample({"m": S.Uniform(0.5, 0.9), "opt": S.Choice(["sgd", "adam", "rmsprop"])},
                    6000, seed=1)
    m = np.array([c["m"] for c in cfgs])
    assert 0.5 <= m.min() and m.max() <= 0.9 and abs(m.mean() - 0.7) < 0.01
    names, counts = np.unique([c["opt"] for c in cfgs], return_counts=True)
    assert list(names) == ["adam", "rmsprop", "sgd"] and np.all(np.abs(counts - 2000) < 150)


def test_from_unit_maps_the_ends_of_the_range():
    assert S.LogUniform(1e-4, 1e-2).from_unit(0.5) == pytest.approx(1e-3)
    assert S.Uniform(-1.0, 3.0).from_unit(0.25) == pytest.approx(0.0)
    assert S.Choice(["a", "b", "c"]).from_unit(0.999999) == "c"


def test_sampling_is_reproducible_by_seed():
    space = {"lr": S.LogUniform(1e-3, 1.0), "m": S.Uniform(0.0, 1.0)}
    assert S.sample(space, 5, seed=3) == S.sample(space, 5, seed=3)
    assert S.sample(space, 5, seed=3) != S.sample(space, 5, seed=4)


def test_random_search_finds_the_best_of_its_samples_and_ranks_nan_last():
    space = {"lr": S.LogUniform(1e-4, 1.0)}

    def objective(c):
        return math.nan if c["lr"] > 0.5 else (math.log10(c["lr"]) + 2) ** 2

    res = S.random_search(objective, space, 40, seed=0)
    scores = [t.score for t in res.trials]
    assert len(res.trials) == 40 and any(math.isnan(s) for s in scores)
    assert res.best_score == np.nanmin(scores)
    assert abs(math.log10(res.best["lr"]) + 2) < 0.3
    assert [t.config for t in res.trials] == S.sample(space, 40, seed=0)


def test_successive_halving_keeps_the_best_third_and_triples_the_budget():
    calls = []

    def objective(c, budget):
        calls.append((c["x"], budget))
        return abs(c["x"] - 0.3) + 1.0 / budget      # more budget, better score

    res = S.successive_halving(objective, {"x": S.Uniform(0.0, 1.0)}, 27, min_budget=2,
                               eta=3, seed=5)
    assert [len(r) for r in res.rungs] == [27, 9, 3, 1]
    assert [r[0].budget for r in res.rungs] == [2, 6, 18, 54]
    for lower, upper in zip(res.rungs, res.rungs[1:]):
        kept = sorted(lower, key=lambda t: t.score)[:len(upper)]
        assert [t.config for t in kept] == [t.config for t in upper]
    xs = [c["x"] for c in S.sample({"x": S.Uniform(0.0, 1.0)}, 27, seed=5)]
    assert res.best["x"] == min(xs, key=lambda x: abs(x - 0.3))
    assert len(calls) == 40
    # 27 + 9 + 3 + 1 = 40 runs; budget spent 27*2 + 9*6 + 3*18 + 54 = 216 instead of 27*54
    assert sum(b for _, b in calls) == 216


def test_successive_halving_stops_at_max_budget():
    res = S.successive_halving(lambda c, b: c["x"], {"x": S.Uniform(0.0, 1.0)}, 27, 1,
                               eta=3, max_budget=9, seed=0)
    assert [r[0].budget for r in res.rungs] == [1, 3, 9] and len(res.rungs[-1]) == 3
    assert res.best_score == min(t.score for t in res.rungs[-1])


@pytest.mark.parametrize("make, exc, words", [
    (lambda: S.LogUniform(0.0, 1.0), ValueError, "low must be in"),
    (lambda: S.LogUniform(1.0, 0.1), ValueError, "low must be < high"),
    (lambda: S.Uniform(1.0, 1.0), ValueError, "low must be < high"),
    (lambda: S.Choice([]), ValueError, "options"),
    (lambda: S.sample({"lr": (1e-3, 1.0)}, 3), TypeError, r"space\['lr'\] must be"),
    (lambda: S.sample({}, 3), TypeError, "space must be a non-empty dict"),
    (lambda: S.sample({"x": S.Uniform(0, 1)}, 0), ValueError, "n must be"),
    (lambda: S.random_search("f", {"x": S.Uniform(0, 1)}, 3), TypeError, "objective"),
    (lambda: S.random_search(lambda c: "good", {"x": S.Uniform(0, 1)}, 3), TypeError,
     "objective must return a number"),
    (lambda: S.random_search(lambda c: 0.0, {"x": S.Uniform(0, 1)}, 0), ValueError,
     "n_trials must be"),
    (lambda: S.random_search(lambda c: 0.0, {"x": S.Uniform(0, 1)}, 2.5), TypeError,
     "n_trials must be"),
    (lambda: S.successive_halving(lambda c, b: 0.0, {"x": S.Uniform(0, 1)}, 0, 1),
     ValueError, "n_configs must be"),
    (lambda: S.successive_halving(lambda c, b: 0.0, {"x": S.Uniform(0, 1)}, "9", 1),
     TypeError, "n_configs must be"),
    (lambda: S.successive_halving(lambda c, b: 0.0, {"x": S.Uniform(0, 1)}, 9, 0),
     ValueError, "min_budget"),
    (lambda: S.successive_halving(lambda c, b: 0.0, {"x": S.Uniform(0, 1)}, 9, 1, eta=1),
     ValueError, "eta"),
    (lambda: S.successive_halving(lambda c, b: 0.0, {"x": S.Uniform(0, 1)}, 9, 4,
                                  max_budget=2), ValueError, "max_budget"),
])
def test_bad_input(make, exc, words):
    with pytest.raises(exc, match=words):
        make()
