#!/usr/bin/python3
"""Time to accuracy on an emulated WAN (root): the digits example
(examples/pytorch/train_digits.py, a wider MLP) with one rank per DC and one DC's
compute 3x slower, every system on the same namespaces and tc rates, one after the
other in one run:

  netstorm+bsp, star+bsp      `geostorm local --wan --mode bsp` (star: one parameter server)
  gloo+bsp                    torch.distributed's Gloo all-reduce, ranks in the ring
                              planner's best order (gloo_digits.py)
  netstorm+esync, +nbsync     `geostorm local --wan --mode esync|nbsync`

A system's time to accuracy is the wall time from its first step until rank 0's
test accuracy first reaches the target. Writes <out>.json, .md and .png.

  bench/training/time_to_accuracy.py --build build --out bench/results/training-klonet-9dc
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench", "wan"))
from emulated_wan import emulated_wan  # noqa: E402
SYSTEMS = [("netstorm", "bsp"), ("star", "bsp"), ("gloo", "bsp"), ("netstorm", "esync"), ("netstorm", "nbsync")]


def parameters(hidden):
    """digits.make_model(hidden)'s size; computed here, as this script runs without torch."""
    return 64 * hidden + hidden + hidden * 10 + 10


def geostorm_run(args, strategy, mode, work):
    out = os.path.join(work, f"{strategy}-{mode}")
    cmd = [os.path.join(args.build, "bin", "geostorm"), "local", "--wan", "--tag", "tta", "--topology", args.topology,
           "--scale", str(args.scale), "--strategy", strategy, "--workers", "1",
           "--model-mb", str(parameters(args.hidden) * 4 / 1e6), "--iterations", str(args.rounds + 1),
           "--mode", mode, "--slowdown", f"{args.slow_dc}=3", "--worker-command",
           f"/usr/bin/python3 {ROOT}/examples/pytorch/train_digits.py", "--out", out]
    env = dict(os.environ, GEOSTORM_HIDDEN=str(args.hidden))
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.load(open(os.path.join(out, "result-rank0.json")))


def ring_order(args):
    plan = json.loads(subprocess.run(
        [os.path.join(args.build, "bin", "geostorm"), "plan", "--topology", args.topology, "--strategy", "ring",
         "--model-mb", "1", "--json"], check=True, capture_output=True, text=True).stdout)
    edges = {}
    for shard in plan["shards"]:
        edges.update(shard["reduce"])
    order = [plan["dataCenters"][0]]
    while len(order) < len(plan["dataCenters"]):
        order.append(edges[order[-1]])
    return order, plan["dataCenters"]


def gloo_run(args, work):
    order, dcs = ring_order(args)
    with emulated_wan(os.path.join(args.build, "bin"), args.topology, args.scale, "tta") as namespaces:
        store, out = os.path.join(work, "gloo-store"), os.path.join(work, "gloo.json")
        ranks = []
        for rank, dc in enumerate(order):
            ns, address = namespaces[dc]
            ifname = subprocess.run(["ip", "-n", ns, "-o", "-4", "addr"], capture_output=True, text=True).stdout
            ifname = next(line.split()[1] for line in ifname.splitlines() if f" {address}/" in line)
            env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(len(order)), DC_INDEX=str(dcs.index(dc)),
                       DCS=str(len(dcs)), STORE=store, ROUNDS=str(args.rounds), OUT=out, GLOO_SOCKET_IFNAME=ifname,
                       GEOSTORM_HIDDEN=str(args.hidden), GEOSTORM_SLOWDOWN="3" if dc == args.slow_dc else "1",
                       PYTHONPATH=os.path.join(args.build, "python"))
            ranks.append(subprocess.Popen(["ip", "netns", "exec", ns, "/usr/bin/python3",
                                           os.path.join(ROOT, "bench", "training", "gloo_digits.py")], env=env))
        if any(p.wait(timeout=3600) != 0 for p in ranks):
            raise RuntimeError("a Gloo rank failed")
        return json.load(open(out))


def summarise(system, mode, result, target):
    reached = next((t for t, _, acc in result["curve"] if acc >= target), None)
    return {"system": system, "mode": mode, "time_to_accuracy_s": reached, "final_accuracy": result["accuracy"],
            "steps": result["steps"], "rounds": len(result["curve"]), "wall_s": result["curve"][-1][0],
            "curve": result["curve"]}


def write(report, out):
    with open(out + ".json", "w") as f:
        json.dump(report, f, indent=1)
    rows = [f"# Time to {report['target_accuracy']:.0%} test accuracy: digits MLP ({report['parameters']} parameters), "
            f"{report['topology']} at {report['scale']}x its rates, {report['slow_dc']} 3x slower\n",
            "| system | mode | time to accuracy (s) | final accuracy | rounds | local steps (rank 0) | wall (s) |",
            "|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        tta = f"{r['time_to_accuracy_s']:.1f}" if r["time_to_accuracy_s"] is not None else "not reached"
        rows.append(f"| {r['system']} | {r['mode']} | {tta} | {r['final_accuracy']:.3f} | {r['rounds']} | "
                    f"{r['steps']} | {r['wall_s']:.1f} |")
    with open(out + ".md", "w") as f:
        f.write("\n".join(rows) + "\n")
    plots = []
    for i, r in enumerate(report["results"]):
        path = f"{out}.{i}.dat"
        with open(path, "w") as f:
            f.writelines(f"{t} {acc}\n" for t, _, acc in r["curve"])
        plots.append(f'"{path}" using 1:2 with lines lw 2 title "{r["system"]}+{r["mode"]}"')
    script = f"""set terminal pngcairo size 1000,500 font ",10" noenhanced
set output "{out}.png"
set xlabel "wall time (s)"
set ylabel "test accuracy"
set yrange [0:1]
set key bottom right
set grid
plot {", ".join(plots)}, {report['target_accuracy']} with lines dt 2 lc "gray" title "target"
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    for path in glob.glob(out + ".*.dat"):
        os.remove(path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build")
    p.add_argument("--topology", default=os.path.join(ROOT, "examples/topologies/klonet-9dc.yaml"))
    p.add_argument("--scale", type=float, default=0.01)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--rounds", type=int, default=60)
    p.add_argument("--slow-dc", default="dc9")
    p.add_argument("--target", type=float, default=0.97)
    p.add_argument("--systems", default=",".join(f"{s}+{m}" for s, m in SYSTEMS))
    p.add_argument("--out", default=os.path.join(ROOT, "bench/results/training-klonet-9dc"))
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="geostorm-tta-")
    results = []
    try:
        for system in args.systems.split(","):
            strategy, mode = system.split("+")
            print(f"== {system}", flush=True)
            result = gloo_run(args, work) if strategy == "gloo" else geostorm_run(args, strategy, mode, work)
            results.append(summarise(strategy, mode, result, args.target))
            r = results[-1]
            print(f"   time to {args.target:.0%}: {r['time_to_accuracy_s']} s, final accuracy {r['final_accuracy']:.3f}, "
                  f"{r['rounds']} rounds in {r['wall_s']:.1f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {"target_accuracy": args.target, "topology": os.path.basename(args.topology), "scale": args.scale,
              "parameters": parameters(args.hidden), "slow_dc": args.slow_dc, "results": results}
    write(report, args.out)
    tta = {f"{r['system']}+{r['mode']}": r["time_to_accuracy_s"] for r in results}
    base = tta.get("netstorm+bsp")
    for name, t in tta.items():
        if base and t:
            print(f"{name}: {t:.1f} s, {t / base:.2f}x netstorm+bsp's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
