"""The digits task of train_digits.py, shared with the benchmark's Gloo worker
(bench/training/): scikit-learn's bundled digits (no download), standardised, a
fixed test split, and the rest dealt to the DCs by class, skewed as geo-distributed
data is: a sample of class c goes to DC c mod dcs with probability 0.8, else to any."""
import numpy
import torch
from sklearn.datasets import load_digits


def load(dc_index, dcs, worker_index, workers_per_dc):
    """(x, y, this worker's training rows, the test rows)."""
    digits = load_digits()
    x = torch.tensor((digits.data - digits.data.mean(0)) / (digits.data.std(0) + 1e-6), dtype=torch.float32)
    y = torch.tensor(digits.target)
    order = numpy.random.default_rng(0).permutation(len(y))
    test, train = order[:360], order[360:]
    rng = numpy.random.default_rng(1)
    home = numpy.where(rng.random(len(train)) < 0.8, y[train].numpy() % dcs, rng.integers(0, dcs, len(train)))
    mine = train[home == dc_index % dcs]
    return x, y, mine[worker_index::max(1, workers_per_dc)], test  # the DC's workers split its slice


def batches(mine, rank, size=32):
    """This worker's batches (rows of x), forever; the same on every backend for a rank."""
    rng = numpy.random.default_rng(100 + rank)
    while True:
        yield torch.as_tensor(rng.choice(mine, size=min(size, len(mine)), replace=False))


def make_model(hidden=32):
    """An MLP; with hidden=32 it has 2410 parameters (9640 bytes)."""
    return torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))

