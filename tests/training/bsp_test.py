#!/usr/bin/python3
"""BSP through geostorm is data-parallel SGD, exactly: 4 DCs x 2 workers (real
sidecars on Unix sockets, netstorm's policy for a 4-DC mesh) train an MLP for 50
steps, each on its eighth of every batch, through geostorm.torch's
DistributedOptimizer, then again as a DDP model whose buckets go through
geostorm's comm hook. Every worker must hold bit-identical weights after every
step, and the weights must match, within float tolerance, one process that trains
on the whole batches with the same start and the same order.

Also the refusals: a worker whose model has another size, a gradient that is not
float32, and a worker in another sync mode are told so; a NaN gradient and a worker
that dies mid-step fail that iteration on every worker (none gets a sum), and the
next iteration sums exactly.

Usage: bsp_test.py BUILD_DIR TOPOLOGY_DIR
"""
import concurrent.futures
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


def train(env, work, sockets, floats, kind, flags):
    """Every worker trains through `kind`; their weights must be identical after every
    step and match the single process's."""
    world, failures = len(sockets), []
    workers = [subprocess.Popen(
        ["/usr/bin/python3", os.path.join(HERE, "bsp_worker.py"), "--sidecar", socket, "--rank", str(rank), "--world",
         str(world), "--steps", str(STEPS), "--out", f"{work}/rank{rank}", *flags], env=env,
        stdout=open(f"{work}/worker{rank}.log", "w"), stderr=subprocess.STDOUT) for rank, socket in enumerate(sockets)]
    for rank, p in enumerate(workers):
        if p.wait(timeout=240) != 0:
            failures.append(f"{kind}: worker {rank} exited {p.returncode}: "
                            f"{open(f'{work}/worker{rank}.log').read()[-1500:]}")
    if failures:
        return failures
    hashes = [json.load(open(f"{work}/rank{r}.json")) for r in range(world)]
    for step in range(STEPS):
        if len({h[step] for h in hashes}) != 1:
            return [f"{kind}: step {step}: the workers' weights differ"]
    weights = numpy.load(f"{work}/rank0.npy")
    # The start they trained from: rank 0's model, which the start-up broadcast spread.
    init = numpy.concatenate([p.detach().numpy().reshape(-1) for p in make_model(1000).parameters()])
    want = reference(init)
    err = float(numpy.max(numpy.abs(weights - want)))
    scale = float(numpy.max(numpy.abs(want)))
    print(f"bsp through {kind}: {world} workers in {len(DCS)} DCs, {STEPS} steps, {floats} parameters; weights "
          f"identical on every worker after every step; max |geostorm - single process| = {err:.2e} (weights up to "
          f"{scale:.2f})")
    if not err <= 1e-5 * max(1.0, scale):
        failures.append(f"{kind}: the weights differ from the single process's by up to {err}")
    moved = float(numpy.max(numpy.abs(want - init)))
    if moved < 1e-3:
        failures.append(f"{kind}: the model hardly trained (moved {moved}): the comparison proves nothing")
    return failures


def faults(env, sockets, floats):
    """Bad input on a trained job: each case must fail its iteration on every worker,
    with a reason for the worker at fault, and leave the next iteration exact.
    Iterations go on from 5000, after the training runs' (sidecars drop older ones)."""
    sys.path.insert(0, env["PYTHONPATH"].split(os.pathsep)[0])
    import geostorm
    import geostorm.torch
    failures = []
    clients = [geostorm.Client(s) for s in sockets]
    pool = concurrent.futures.ThreadPoolExecutor(len(clients))

    def call(rank, t, grad):
        try:
            clients[rank].allreduce(t, grad)
            return grad
        except geostorm.Error as e:
            return str(e)

    def allreduce(t, gradients):
        return list(pool.map(call, range(len(clients)), [t] * len(clients), gradients))

    def exact(t):
        got = allreduce(t, [numpy.full(floats, r + 1, numpy.float32) for r in range(len(clients))])
        want = len(clients) * (len(clients) + 1) / 2
        if not all(isinstance(g, numpy.ndarray) and numpy.all(g == want) for g in got):
            failures.append(f"iteration {t} after a fault: {got}")

    # A NaN in one worker's gradient: never summed into anyone's.
    grads = [numpy.ones(floats, numpy.float32) for _ in clients]
    grads[0][7] = numpy.nan
    got = allreduce(5000, grads)
    if not (isinstance(got[0], str) and "holds nan at float 7 of the model" in got[0]):
        failures.append(f"a NaN gradient: the worker was told {got[0]!r}")
    if any(isinstance(g, numpy.ndarray) for g in got):
        failures.append("a NaN gradient: some worker got a sum")
    exact(5001)

    # A worker that dies with half its gradient sent.
    dying = subprocess.Popen(["/usr/bin/python3", "-c", "import geostorm, numpy, os, sys, time\n"
                              "c = geostorm.Client(sys.argv[1])\n"
                              "g = numpy.ones(c.model_floats, numpy.float32)\n"
                              "s = c.begin(5002, g)\n"
                              "s.ready(0, c.chunk_floats)\n"
                              "time.sleep(1)\n"
                              "os._exit(3)\n", sockets[-1]], env=env)
    others = [pool.submit(call, r, 5002, numpy.ones(floats, numpy.float32)) for r in range(len(clients) - 1)]
    dying.wait(timeout=30)
    got = [f.result(timeout=120) for f in others]
    if any(isinstance(g, numpy.ndarray) for g in got):
        failures.append("a worker died mid-step: some worker got a sum")
    exact(5003)

    # A worker in another sync mode than its job's (BSP here) is stopped at once.
    m = torch.nn.Linear(floats - 1, 1)
    try:
        geostorm.torch.ESync(torch.optim.SGD(m.parameters(), lr=1), m, clients[0], rounds=1)
        failures.append("an ESync worker in a BSP job was not stopped")
    except geostorm.Error as e:
        if "trains with esync, but its job (a's sidecar) was started with bsp" not in str(e):
            failures.append(f"an ESync worker in a BSP job: {e}")
    print(f"faults: a NaN gradient and a worker dying mid-step each failed their iteration everywhere, and the next "
          f"one summed exactly; a worker in the wrong sync mode was stopped ({len(failures)} failures)")
    return failures


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
        sockets = [worker_socket(dc, w) for dc in DCS for w in range(WORKERS)]
        failures += train(env, work, sockets, floats, "DistributedOptimizer", [])
        failures += train(env, work, sockets, floats, "a DDP model with geostorm's comm hook",
                          ["--ddp", f"{work}/ddp-store", "--first-iteration", "2000"])
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
        failures += faults(env, sockets, floats)
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
