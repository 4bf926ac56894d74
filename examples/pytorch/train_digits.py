#!/usr/bin/python3
"""Train an MLP on the handwritten digits bundled with scikit-learn (no download),
across data centers, through geostorm. Like geo-distributed data, each DC holds a
skewed slice: most of its samples come from a few classes, so no DC alone learns
every digit, and the all-reduce has to combine them.

On this machine, every worker a process, each DC behind its own sidecar:

    build/bin/geostorm local --topology examples/topologies/mesh-4dc-uniform.yaml --workers 2 \\
        --model-mb 0.00964 --iterations 200 --worker-command "/usr/bin/python3 examples/pytorch/train_digits.py"

(add --wan for an emulated WAN). In a GeoTrainingJob's pod the same script runs as
is: the operator sets GEOSTORM_SIDECAR, GEOSTORM_REPLICA_INDEX and GEOSTORM_WORLD_SIZE
(set GEOSTORM_DCS and GEOSTORM_DC_INDEX in the pod template for the skewed split).
The job's model size is this MLP's: 2410 parameters, 9640 bytes (--model-mb 0.00964).
Each worker writes result-rank<R>.json (test accuracy, steps) to GEOSTORM_OUT if set.
"""
import json
import os

import numpy
import torch
from sklearn.datasets import load_digits

import geostorm
import geostorm.torch

env = os.environ
rank = int(env.get("GEOSTORM_RANK", env.get("GEOSTORM_REPLICA_INDEX", "0")))
world = int(env.get("GEOSTORM_WORLD_SIZE", "1"))
dc_index = int(env.get("GEOSTORM_DC_INDEX", "0"))
worker_index = int(env.get("GEOSTORM_WORKER_INDEX", "0"))
dcs = int(env.get("GEOSTORM_DCS", "1"))
steps = int(env.get("GEOSTORM_ITERATIONS", "200")) - 1  # iteration 0 broadcasts the weights

# The data: standardised, a fixed test split, and the rest dealt to the DCs by class.
digits = load_digits()
x = torch.tensor((digits.data - digits.data.mean(0)) / (digits.data.std(0) + 1e-6), dtype=torch.float32)
y = torch.tensor(digits.target)
order = numpy.random.default_rng(0).permutation(len(y))
test, train = order[:360], order[360:]
# Skew: a sample of class c goes to DC c mod dcs with probability 0.8, else anywhere.
rng = numpy.random.default_rng(1)
home = numpy.where(rng.random(len(train)) < 0.8, y[train].numpy() % dcs, rng.integers(0, dcs, len(train)))
mine = train[home == dc_index % dcs]
mine = mine[worker_index::max(1, world // dcs)]  # the DC's workers split its slice

torch.manual_seed(rank)  # different starts on purpose: broadcast_parameters makes them rank 0's
model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
client = geostorm.Client(env.get("GEOSTORM_SIDECAR", "unix:/run/geostorm/worker.sock"))
iteration = geostorm.torch.broadcast_parameters(client, model.state_dict(), rank)
opt = geostorm.torch.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                                          model.named_parameters(), client, iteration=iteration)
batches = numpy.random.default_rng(100 + rank)
for step in range(steps):
    rows = torch.as_tensor(batches.choice(mine, size=min(32, len(mine)), replace=False))
    loss = torch.nn.functional.cross_entropy(model(x[rows]), y[rows])
    opt.zero_grad()
    loss.backward()
    opt.step()

with torch.no_grad():
    accuracy = (model(x[test]).argmax(1) == y[test]).float().mean().item()
    alone = numpy.bincount(y[mine].numpy(), minlength=10) / max(1, len(mine))
print(f"rank {rank} (DC {dc_index}): {len(mine)} training samples, {alone.max():.0%} of them one class; "
      f"after {steps} steps, test accuracy {accuracy:.3f}")
if "GEOSTORM_OUT" in env:
    with open(os.path.join(env["GEOSTORM_OUT"], f"result-rank{rank}.json"), "w") as f:
        json.dump({"rank": rank, "dc": dc_index, "accuracy": accuracy, "steps": steps, "samples": len(mine)}, f)
