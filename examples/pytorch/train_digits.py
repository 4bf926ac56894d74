#!/usr/bin/python3
"""Train an MLP on the handwritten digits bundled with scikit-learn (no download),
across data centers, through geostorm. Like geo-distributed data, each DC holds a
skewed slice: most of its samples come from a few classes, so no DC alone learns
every digit, and the all-reduce has to combine them.

On this machine, every worker a process, each DC behind its own sidecar:

    build/bin/geostorm local --topology examples/topologies/mesh-4dc-uniform.yaml --workers 2 \\
        --model-mb 0.00964 --iterations 200 --worker-command "/usr/bin/python3 examples/pytorch/train_digits.py"

(add --wan for an emulated WAN; --mode esync or nbsync for local-step training, with
--slowdown dc1=3 to make one DC's hardware slower). In a GeoTrainingJob's pod the same script runs as
is: the operator sets GEOSTORM_SIDECAR, GEOSTORM_REPLICA_INDEX and GEOSTORM_WORLD_SIZE
(set GEOSTORM_DCS and GEOSTORM_DC_INDEX in the pod template for the skewed split).
The job's model size is this MLP's: 2410 parameters, 9640 bytes (--model-mb 0.00964).
Each worker writes result-rank<R>.json (test accuracy, rounds, local steps, and on
rank 0 the accuracy after every round against wall time) to GEOSTORM_OUT if set.
"""
import copy
import json
import os
import time

import numpy
import torch

import digits
import geostorm
import geostorm.torch

env = os.environ
rank = int(env.get("GEOSTORM_RANK", env.get("GEOSTORM_REPLICA_INDEX", "0")))
world = int(env.get("GEOSTORM_WORLD_SIZE", "1"))
dc_index = int(env.get("GEOSTORM_DC_INDEX", "0"))
worker_index = int(env.get("GEOSTORM_WORKER_INDEX", "0"))
dcs = int(env.get("GEOSTORM_DCS", "1"))
rounds = int(env.get("GEOSTORM_ITERATIONS", "200")) - 1  # iteration 0 broadcasts the weights

hidden = int(env.get("GEOSTORM_HIDDEN", "32"))  # the MLP's width (the benchmark's is wider)
x, y, mine, test = digits.load(dc_index, dcs, worker_index, world // dcs)

torch.manual_seed(rank)  # different starts on purpose: broadcast_parameters makes them rank 0's
model = digits.make_model(hidden)
client = geostorm.Client(env.get("GEOSTORM_SIDECAR", "unix:/run/geostorm/worker.sock"))
iteration = geostorm.torch.broadcast_parameters(client, model.state_dict(), rank)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
# The job's sync mode (bsp, esync or nbsync) decides what step() does; a round is a
# synchronisation: one step under BSP, several local ones under ESync and NBSync.
sync = geostorm.torch.synchronizer(opt, model, client, rounds=rounds, iteration=iteration)


def accuracy():
    with torch.no_grad():
        return (model(x[test]).argmax(1) == y[test]).float().mean().item()


batches = digits.batches(mine, rank)
# Rank 0 keeps the agreed model after each round, with the time, and evaluates them
# after training, so that evaluating takes no time from training.
snapshots, start = [], time.monotonic()
while not sync.done:
    rows = next(batches)
    loss = torch.nn.functional.cross_entropy(model(x[rows]), y[rows])
    opt.zero_grad()
    loss.backward()
    before = sync.rounds
    sync.step()
    if rank == 0 and sync.rounds != before:
        with sync.agreed():  # the global model, as every worker has it after the round
            snapshots.append((round(time.monotonic() - start, 4), sync.rounds, copy.deepcopy(model.state_dict())))

final_state = copy.deepcopy(model.state_dict())
curve = []  # (seconds, rounds, test accuracy) after each round, on rank 0
for seconds, done, state in snapshots:
    model.load_state_dict(state)
    curve.append((seconds, done, accuracy()))
model.load_state_dict(final_state)
final = accuracy()
steps = getattr(sync, "steps", sync.rounds)
alone = numpy.bincount(y[mine].numpy(), minlength=10) / max(1, len(mine))
print(f"rank {rank} (DC {dc_index}, {client.sync_mode or 'bsp'}): {len(mine)} training samples, {alone.max():.0%} "
      f"of them one class; after {rounds} rounds ({steps} local steps), test accuracy {final:.3f}")
if "GEOSTORM_OUT" in env:
    with open(os.path.join(env["GEOSTORM_OUT"], f"result-rank{rank}.json"), "w") as f:
        json.dump({"rank": rank, "dc": dc_index, "mode": client.sync_mode or "bsp", "accuracy": final,
                   "rounds": rounds, "steps": steps, "samples": len(mine), "curve": curve}, f)
