#!/usr/bin/python3
"""BSP through geostorm is data-parallel SGD, exactly: 4 DCs x 2 workers (real
sidecars on Unix sockets, netstorm's policy for a 4-DC mesh) train an MLP for 50
steps, each on its eighth of every batch, through geostorm.torch's
DistributedOptimizer. Every worker must hold bit-identical weights after every
step, and the weights must match, within float tolerance, one process that trains
on the whole batches with the same start and the same order.

Also the refusals: a worker whose model has another size, and a gradient that is
not float32, are told so.

Usage: bsp_test.py BUILD_DIR TOPOLOGY_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bsp_model import batch, make_model, parameter_count  # noqa: E402

DCS, WORKERS, STEPS = ["a", "b", "c", "d"], 2, 50


def reference(init):
    model = make_model(0)
    with torch.no_grad():
        offset = 0
        for p in model.parameters():
            p.copy_(torch.from_numpy(init[offset:offset + p.numel()]).reshape(p.shape))
            offset += p.numel()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for step in range(STEPS):
        x, y = batch(step)
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return numpy.concatenate([p.detach().numpy().reshape(-1) for p in model.parameters()])


def main():
    build, topologies = sys.argv[1], sys.argv[2]
    bin_dir = os.path.join(build, "bin")
    env = dict(os.environ, PYTHONPATH=os.path.join(build, "python") + os.pathsep + HERE)
    work = tempfile.mkdtemp(prefix="geostorm-bsp-")
    procs, failures = [], []
    try:
        floats = parameter_count()
        policy = os.path.join(work, "policy.yaml")
        with open(policy, "w") as f:  # model bytes = the parameters (+0.5 against rounding down), 4 KiB chunks
            subprocess.run([os.path.join(bin_dir, "geostorm"), "plan", "--topology",
                            os.path.join(topologies, "mesh-4dc-uniform.yaml"), "--model-mb",
                            str((floats * 4 + 0.5) / 1e6), "--chunk-kb", "4", "--yaml"], stdout=f, check=True)
        gateway = {dc: f"unix:{work}/gw-{dc}.sock" for dc in DCS}
        worker_socket = lambda dc, w: f"unix:{work}/w-{dc}-{w}.sock"  # noqa: E731
        for dc in DCS:
            peers = [a for other in DCS if other != dc for a in ("--peer", f"{other}={gateway[other]}")]
            procs.append(subprocess.Popen(
                [os.path.join(bin_dir, "geostorm-sidecar"), "--dc", dc, "--policy", policy, "--listen", gateway[dc],
                 *peers, "--worker-listen", worker_socket(dc, 0), "--workers", str(WORKERS), "--insecure"],
                stdout=open(f"{work}/gw-{dc}.log", "w"), stderr=subprocess.STDOUT))
            for w in range(1, WORKERS):
                procs.append(subprocess.Popen(
                    [os.path.join(bin_dir, "geostorm-sidecar"), "--dc", dc, "--policy", policy, "--gateway",
                     gateway[dc], "--member-id", f"{dc}-{w}", "--worker-listen", worker_socket(dc, w), "--workers",
                     str(WORKERS), "--insecure"], stdout=open(f"{work}/m-{dc}-{w}.log", "w"), stderr=subprocess.STDOUT))
        world = len(DCS) * WORKERS
        workers = []
        for i, dc in enumerate(DCS):
            for w in range(WORKERS):
                rank = i * WORKERS + w
                workers.append(subprocess.Popen(
                    ["/usr/bin/python3", os.path.join(HERE, "bsp_worker.py"), "--sidecar", worker_socket(dc, w),
                     "--rank", str(rank), "--world", str(world), "--steps", str(STEPS), "--out",
                     f"{work}/rank{rank}"], env=env, stdout=open(f"{work}/worker{rank}.log", "w"),
                    stderr=subprocess.STDOUT))
        for rank, p in enumerate(workers):
            if p.wait(timeout=240) != 0:
                failures.append(f"worker {rank} exited {p.returncode}: {open(f'{work}/worker{rank}.log').read()[-1500:]}")
        if not failures:
            hashes = [json.load(open(f"{work}/rank{r}.json")) for r in range(world)]
            for step in range(STEPS):
                if len({h[step] for h in hashes}) != 1:
                    failures.append(f"step {step}: the workers' weights differ")
                    break
            weights = numpy.load(f"{work}/rank0.npy")
            # The start they trained from: rank 0's model, which broadcast_parameters spread.
            init = numpy.concatenate([p.detach().numpy().reshape(-1) for p in make_model(1000).parameters()])
            want = reference(init)
            err = float(numpy.max(numpy.abs(weights - want)))
            scale = float(numpy.max(numpy.abs(want)))
            print(f"bsp: {world} workers in {len(DCS)} DCs, {STEPS} steps, {floats} parameters; weights identical on "
                  f"every worker after every step; max |geostorm - single process| = {err:.2e} (weights up to "
                  f"{scale:.2f})")
            if not err <= 1e-5 * max(1.0, scale):
                failures.append(f"the weights differ from the single process's by up to {err}")
            moved = float(numpy.max(numpy.abs(want - init)))
            if moved < 1e-3:
                failures.append(f"the model hardly trained (moved {moved}): the comparison proves nothing")
        # A worker whose model has another size is told so, by name.
        bad = subprocess.run(
            ["/usr/bin/python3", "-c", "import geostorm, geostorm.torch, torch, sys\n"
             "c = geostorm.Client(sys.argv[1])\n"
             "m = torch.nn.Linear(3, 2)\n"
             "try:\n"
             "    geostorm.torch.DistributedOptimizer(torch.optim.SGD(m.parameters(), lr=1), m.named_parameters(), c)\n"
             "except ValueError as e:\n"
             "    print(e)\n"
             "import numpy\n"
             "try:\n"
             "    c.allreduce(0, numpy.zeros(c.model_floats, numpy.float64))\n"
             "except TypeError as e:\n"
             "    print(e)\n", worker_socket("a", 0)], env=env, capture_output=True, text=True, timeout=60)
        if f"the job's model has {floats}" not in bad.stdout:
            failures.append(f"a model of another size: {bad.stdout} {bad.stderr}")
        if "want a writable, contiguous float32 array, got dtype float64" not in bad.stdout:
            failures.append(f"a float64 gradient: {bad.stdout} {bad.stderr}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
    if failures:
        print("FAIL:\n" + "\n".join(failures))
        subprocess.run(["tail", "-n", "5", *[os.path.join(work, f) for f in os.listdir(work) if f.endswith(".log")]])
        return 1
    subprocess.run(["rm", "-rf", work])
    print("bsp test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
