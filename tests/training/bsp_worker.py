#!/usr/bin/python3
"""One worker of the BSP test (bsp_test.py): trains the test's MLP on its share of
each batch through geostorm.torch (DistributedOptimizer, or with --ddp a DDP model
whose buckets go through geostorm's comm hook), and writes a hash of its weights
after every step and its final weights."""
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
p.add_argument("--ddp", metavar="STORE", help="wrap the model in DDP (a gloo group meeting at this file)")
p.add_argument("--first-iteration", type=int, default=0)
args = p.parse_args()

client = geostorm.Client(args.sidecar)
model = make_model(seed=1000 + args.rank)  # different on purpose: the start-up broadcast makes them equal
if args.ddp:
    torch.distributed.init_process_group("gloo", init_method=f"file://{args.ddp}", rank=args.rank,
                                         world_size=args.world)
    model = torch.nn.parallel.DistributedDataParallel(model)  # broadcasts rank 0's weights
    model.register_comm_hook(*geostorm.torch.ddp_comm_hook(client, args.first_iteration))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
else:
    iteration = geostorm.torch.broadcast_parameters(client, model.state_dict(), args.rank, args.first_iteration)
    opt = geostorm.torch.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.05),
                                              model.named_parameters(), client, iteration=iteration)
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
