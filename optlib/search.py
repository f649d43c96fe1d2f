"""Hyperparameter search without external services: random search over a space of
ranges, and successive halving. Both are reproducible by ``seed``.

>>> import optlib as ol
>>> space = {"lr": ol.search.LogUniform(1e-4, 1.0), "momentum": ol.search.Uniform(0.0, 0.99)}
>>> res = ol.search.random_search(lambda c: (c["lr"] - 0.01) ** 2, space, 20, seed=0)
>>> len(res.trials), res.best_score == min(t.score for t in res.trials)
(20, True)

An objective returns a score to *minimise* (a validation loss, an error rate). A NaN or
infinite score (a diverged run) ranks last. At scale, use a dedicated tool such as
Optuna (TPE sampling, pruning) or Ray Tune (distributed trials, ASHA, population-based
training); the two methods here are the building blocks those tools start from.
"""

import math
from typing import NamedTuple

import numpy as np

from . import _validate as v


class Distribution:
    """A range to sample from: ``from_unit(u)`` maps a uniform ``u`` in [0, 1) into it."""

    def _bounds(self, low, high, check):
        self.low, self.high = check("low", low), check("high", high)
        if not self.low < self.high:
            raise ValueError(f"low must be < high, got low={low!r}, high={high!r}")

    def __repr__(self):
        return f"{type(self).__name__}({self.low!r}, {self.high!r})"


class LogUniform(Distribution):
    """A number whose logarithm is uniform on ``[log low, log high]``: every factor of
    ten gets the same share of samples (learning rates, weight decays)."""

    def __init__(self, low, high):
        self._bounds(low, high, v.positive)

    def from_unit(self, u):
        """Map ``u`` in [0, 1) to the range: ``low * (high / low) ** u``."""
        return float(self.low * (self.high / self.low) ** u)


class Uniform(Distribution):
    """A number uniform on ``[low, high]``."""

    def __init__(self, low, high):
        self._bounds(low, high, v.real)

    def from_unit(self, u):
        return float(self.low + (self.high - self.low) * u)


class Choice(Distribution):
    """One of a list of values, each equally likely."""

    def __init__(self, options):
        self.options = v.listed("options", options, "values", "[32, 64]")
        if not self.options:
            raise ValueError("options must hold at least one value")

    def __repr__(self):
        return f"Choice({self.options!r})"

    def from_unit(self, u):
        return self.options[min(int(u * len(self.options)), len(self.options) - 1)]


def _check_space(space):
    if not isinstance(space, dict) or not space:
        raise TypeError(f"space must be a non-empty dict of name -> LogUniform, Uniform or "
                        f"Choice, got {space!r}")
    for name, dist in space.items():
        if not isinstance(dist, Distribution):
            raise TypeError(f"space[{name!r}] must be a LogUniform, Uniform or Choice, "
                            f"got {dist!r}")
    return space


def sample(space, n, seed=0):
    """``n`` configurations (dicts) drawn independently from ``space``."""
    space = _check_space(space)
    n = v.integer("n", n, low=1)
    u = np.random.default_rng(v.integer("seed", seed, low=0)).random((n, len(space)))
    return [{name: dist.from_unit(u[i, j]) for j, (name, dist) in enumerate(space.items())}
            for i in range(n)]


class Trial(NamedTuple):
    config: dict
    score: float  #: the objective's value (lower is better; NaN/inf rank last)
    budget: int  #: the budget it was evaluated with (None for random search)


def _rank_key(score):
    return score if math.isfinite(score) else math.inf


def _score(objective, *args):
    score = objective(*args)
    try:
        return float(score)
    except (TypeError, ValueError):
        raise TypeError(f"objective must return a number, got {score!r}") from None


class SearchResult(NamedTuple):
    trials: list  #: every evaluation, in order (for successive halving, rung by rung)
    best: dict  #: the configuration with the lowest score (at the largest budget)
    best_score: float
    rungs: list  #: successive halving: the trials of each rung; random search: [trials]


def random_search(objective, space, n_trials, seed=0):
    """Evaluate ``objective(config)`` on ``n_trials`` random configurations."""
    if not callable(objective):
        raise TypeError(f"objective must be a function of a configuration, got {objective!r}")
    configs = sample(space, v.integer("n_trials", n_trials, low=1), seed)
    trials = [Trial(c, _score(objective, c), None) for c in configs]
    best = min(trials, key=lambda t: _rank_key(t.score))
    return SearchResult(trials, best.config, best.score, [trials])


def successive_halving(objective, space, n_configs, min_budget, eta=3, max_budget=None,
                       seed=0):
    """Successive halving (Jamieson & Talwalkar 2016): evaluate ``n_configs`` random
    configurations with ``min_budget``, keep the best ``1/eta`` of them, multiply the
    budget by ``eta``, repeat until one configuration is left (or the next budget would
    exceed ``max_budget``).

    ``objective(config, budget)`` trains with an integer budget (epochs, steps) and
    returns a score. Each rung starts again from scratch at its budget (no checkpoints).
    """
    if not callable(objective):
        raise TypeError("objective must be a function of (config, budget), got "
                        f"{objective!r}")
    configs = sample(space, v.integer("n_configs", n_configs, low=1), seed)
    budget = v.integer("min_budget", min_budget, low=1)
    eta = v.integer("eta", eta, low=2)
    if max_budget is not None:
        max_budget = v.integer("max_budget", max_budget, low=budget)
    rungs = []
    while True:
        rung = [Trial(c, _score(objective, c, budget), budget) for c in configs]
        rungs.append(rung)
        ranked = sorted(rung, key=lambda t: _rank_key(t.score))
        keep = max(1, len(ranked) // eta)
        if len(ranked) == 1 or (max_budget is not None and budget * eta > max_budget):
            break
        configs = [t.config for t in ranked[:keep]]
        budget *= eta
    best = ranked[0]
    return SearchResult([t for r in rungs for t in r], best.config, best.score, rungs)
