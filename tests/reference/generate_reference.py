"""Regenerate the stored peer values the tests compare with (needs torch).

    pip install torch==2.13.0
    python tests/reference/generate_reference.py

Writes ``sgd_torch.npz``: for each run r, ``r/lr``, ``r/params0``, ``r/grads`` (the
gradient fed at each step) and ``r/params`` (torch's parameters after each step).
"""

from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).parent


def sgd_runs():
    out = {}
    r = np.random.default_rng(2026)
    for run, (lr, n, steps) in enumerate([(0.1, 7, 300), (1e-3, 20, 100), (0.9, 3, 1000)]):
        p0 = r.normal(size=n)
        grads = r.normal(size=(steps, n))
        p = torch.tensor(p0, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.SGD([p], lr=lr)
        params = []
        for g in grads:
            p.grad = torch.tensor(g)
            opt.step()
            params.append(p.detach().numpy().copy())
        out.update({f"run{run}/lr": np.array(lr), f"run{run}/params0": p0,
                    f"run{run}/grads": grads, f"run{run}/params": np.array(params)})
    np.savez_compressed(HERE / "sgd_torch.npz", **out)


if __name__ == "__main__":
    print("torch", torch.__version__)
    sgd_runs()
