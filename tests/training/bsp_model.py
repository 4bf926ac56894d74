"""The BSP test's model and data: a small MLP and a synthetic regression task with a
known linear optimum, batch by batch, the same on every process."""
import torch

FEATURES, HIDDEN, OUTPUTS, BATCH = 64, 64, 10, 64


def make_model(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(FEATURES, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, OUTPUTS))


def parameter_count():
    return sum(p.numel() for p in make_model(0).parameters())


def batch(step):
    g = torch.Generator().manual_seed(step)
    truth = torch.Generator().manual_seed(12345)
    w = torch.randn(FEATURES, OUTPUTS, generator=truth) / FEATURES ** 0.5
    x = torch.randn(BATCH, FEATURES, generator=g)
    return x, x @ w
