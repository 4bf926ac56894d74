#!/usr/bin/python3
"""One worker of the BSP test (bsp_test.py): trains the test's MLP on its share of
each batch through geostorm.torch, and writes a hash of its weights after every step
and its final weights."""
import argparse
import hashlib
import json

import numpy
import torch

import geostorm
import geostorm.torch
from bsp_model import batch, make_model

p = argparse.ArgumentParser()
p.add_argument("--sidecar", required=True)
p.add_argument("--rank", type=int, required=True)
p.add_argument("--world", type=int, required=True)
p.add_argument("--steps", type=int, required=True)
p.add_argument("--out", required=True)
args = p.parse_args()

client = geostorm.Client(args.sidecar)
model = make_model(seed=1000 + args.rank)  # different on purpose: broadcast_parameters makes them equal
iteration = geostorm.torch.broadcast_parameters(client, model.state_dict(), args.rank)
opt = geostorm.torch.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.05), model.named_parameters(),
                                          client, iteration=iteration)
hashes = []
for step in range(args.steps):
    x, y = batch(step)
    share = len(x) // args.world
    rows = slice(args.rank * share, (args.rank + 1) * share)
    loss = torch.nn.functional.mse_loss(model(x[rows]), y[rows])
    opt.zero_grad()
    loss.backward()
    opt.step()
    weights = numpy.concatenate([q.detach().numpy().reshape(-1) for q in model.parameters()])
    hashes.append(hashlib.sha256(weights.tobytes()).hexdigest())
numpy.save(args.out + ".npy", weights)
json.dump(hashes, open(args.out + ".json", "w"))
