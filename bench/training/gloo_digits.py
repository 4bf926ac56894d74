#!/usr/bin/python3
"""The digits example trained through Gloo (torch.distributed, all-reduce of the
gradients every step), one rank per DC, inside that DC's namespace: the benchmark's
peer (time_to_accuracy.py). Same data slices, model, optimiser and compute slowdown
(GEOSTORM_SLOWDOWN) as examples/pytorch/train_digits.py under BSP.

Environment: RANK (the DC's place in the ring), WORLD_SIZE, DC_INDEX, DCS, STORE (a
file for the rendezvous), ROUNDS, GEOSTORM_HIDDEN, OUT; GLOO_SOCKET_IFNAME.
"""
import json
import os
import sys
import time

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "pytorch"))
import digits  # noqa: E402
from geostorm.torch import _ComputeClock  # noqa: E402

env = os.environ
rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
dc_index, dcs, rounds = int(env["DC_INDEX"]), int(env["DCS"]), int(env["ROUNDS"])
x, y, mine, test = digits.load(dc_index, dcs, 0, 1)
dist.init_process_group("gloo", init_method=f"file://{env['STORE']}", rank=rank, world_size=world)
torch.manual_seed(0)  # the same start everywhere: train_digits.py's rank 0's
model = digits.make_model(int(env.get("GEOSTORM_HIDDEN", "32")))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
params = list(model.parameters())
batches = digits.batches(mine, dc_index)  # train_digits.py's for the same DC (one worker each)
clock, curve, start = _ComputeClock(), [], time.monotonic()
for step in range(1, rounds + 1):
    rows = next(batches)
    loss = torch.nn.functional.cross_entropy(model(x[rows]), y[rows])
    opt.zero_grad()
    loss.backward()
    clock.stretch()
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for p in params:
        p.grad.copy_(flat[offset:offset + p.numel()].reshape(p.shape))
        offset += p.numel()
    opt.step()
    clock.restart()
    if rank == 0:
        with torch.no_grad():
            curve.append((round(time.monotonic() - start, 4), step, (model(x[test]).argmax(1) == y[test]).float().mean().item()))
if rank == 0:
    with open(env["OUT"], "w") as f:
        json.dump({"accuracy": curve[-1][2], "steps": rounds, "curve": curve}, f)
dist.destroy_process_group()
