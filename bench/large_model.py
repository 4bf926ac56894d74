#!/usr/bin/env python3
"""A large model on loopback: `geostorm local` with 2 DCs x 2 workers and a model
of --model-mb, each sum checked exactly by the workers. It samples every sidecar's
peak RSS (VmHWM) while the job runs and compares it with the goal of issue 17:
at most 1.5x the model plus 64 MB, over --runs jobs (the worst peak counts: it
varies from run to run). Writes large-model.json and .md under --out.

    python3 bench/large_model.py --build build --model-mb 1024 --runs 3 --out bench/results
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

TOPOLOGY = "name: pair-2dc\nkind: mesh\ndataCenters: [a, b]\ndefaultMbps: 10000\n"


def sidecars(run_dir):
    """pid -> the sidecar's name (gateway-a, member-b-1, ...) for this run's sidecars."""
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if not argv[0].endswith("geostorm-sidecar") or "--worker-listen" not in argv:
            continue
        if run_dir in argv[argv.index("--worker-listen") + 1]:
            member = argv[argv.index("--member-id") + 1] if "--member-id" in argv else None
            found[int(pid)] = f"member-{member}" if member else "gateway-" + argv[argv.index("--dc") + 1]
    return found


def peak_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return int(re.search(r"^VmHWM:\s+(\d+)", f.read(), re.M).group(1))
    except (OSError, AttributeError):
        return None


def sample(run_dir, peaks, done):
    while not done.is_set():
        for pid, name in sidecars(run_dir).items():
            kb = peak_kb(pid)
            if kb is not None:
                peaks[name] = max(peaks.get(name, 0), kb)
        time.sleep(0.1)


def run_once(args):
    """One job: (peak RSS in kB by sidecar, iterations every worker checked exact,
    the job's summary, its directory)."""
    run_dir = tempfile.mkdtemp(prefix="geostorm-large-model-")
    topology = os.path.join(run_dir, "pair-2dc.yaml")
    with open(topology, "w") as f:
        f.write(TOPOLOGY)
    peaks, done = {}, threading.Event()
    sampler = threading.Thread(target=sample, args=(run_dir, peaks, done))
    sampler.start()
    try:
        run = subprocess.run([os.path.join(args.build, "bin", "geostorm"), "local", "--topology", topology,
                              "--model-mb", str(args.model_mb), "--workers", "2", "--iterations",
                              str(args.iterations), "--fixed-policy", "--out", os.path.join(run_dir, "job")],
                             capture_output=True, text=True)
    finally:
        done.set()
        sampler.join()
    if run.returncode != 0:
        sys.exit(f"large_model: geostorm local failed ({run.returncode}), logs in {run_dir}:\n{run.stdout}{run.stderr}")
    job_dir = os.path.join(run_dir, "job")
    with open(os.path.join(job_dir, "summary.json")) as f:
        summary = json.load(f)
    exact = []  # per worker: the iterations it checked exact
    for log in sorted(n for n in os.listdir(job_dir) if n.startswith("worker-")):
        with open(os.path.join(job_dir, log)) as f:
            exact.append(len(re.findall(r"^iteration \d+ exact$", f.read(), re.M)))
    return peaks, (min(exact, default=0) if len(exact) == 4 else 0), summary, run_dir


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--model-mb", type=float, default=1024)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3, help="jobs; each sidecar's worst peak counts")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = ap.parse_args()

    limit_mb = 1.5 * args.model_mb + 64
    began = time.time()
    runs = []
    for _ in range(args.runs):
        peaks, exact, summary, run_dir = run_once(args)
        ok = len(peaks) == 4 and exact == args.iterations and not summary["failed_iterations"] and \
            not summary["failed_workers"]
        runs.append({"peak_rss_mb": {name: round(kb / 1024, 1) for name, kb in sorted(peaks.items())},
                     "iterations_exact": exact, "failed_iterations": summary["failed_iterations"],
                     "failed_workers": summary["failed_workers"], "median_s": summary["median_s"], "exact": ok})
        if ok:
            shutil.rmtree(run_dir)
        else:
            print(f"large_model: a run was not exact; logs in {run_dir}")
    names = sorted({n for r in runs for n in r["peak_rss_mb"]})
    rows = [{"process": n, "peak_rss_mb": [r["peak_rss_mb"].get(n) for r in runs],
             "worst_ratio_to_limit": round(max(r["peak_rss_mb"].get(n, 0) for r in runs) / limit_mb, 3)}
            for n in names]
    worst = max((max(r["peak_rss_mb"].values(), default=0) for r in runs), default=0)
    report = {"model_mb": args.model_mb, "dcs": 2, "workers_per_dc": 2, "iterations": args.iterations,
              "runs": runs, "wall_s": round(time.time() - began, 1), "sidecar_rss_limit_mb": limit_mb,
              "sidecars": rows, "sidecar_peak_rss_mb_max": worst,
              "all_exact": all(r["exact"] for r in runs)}
    report["passed"] = report["all_exact"] and worst <= limit_mb

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "large-model.json"), "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    medians = ", ".join(f"{r['median_s']:.2f}" for r in runs)
    lines = [f"# A {args.model_mb:g} MB model, 2 DCs x 2 workers on loopback", "",
             f"`bench/large_model.py --model-mb {args.model_mb:g} --iterations {args.iterations} --runs {args.runs}`",
             "", f"{sum(r['exact'] for r in runs)} of {args.runs} runs summed every iteration exactly on every worker; "
             f"median s per iteration: {medians}.", "",
             f"| sidecar | peak RSS per run (MB) | worst, of the limit 1.5 x model + 64 MB = {limit_mb:g} MB |",
             "|---|---|---|"]
    lines += [f"| {r['process']} | {' / '.join(str(p) for p in r['peak_rss_mb'])} | {r['worst_ratio_to_limit']} |"
              for r in rows]
    with open(os.path.join(args.out, "large-model.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"large_model: {args.model_mb:g} MB, {sum(r['exact'] for r in runs)}/{args.runs} runs exact; sidecar peak "
          f"RSS at most {worst} MB (limit {limit_mb:g} MB): " + ("passed" if report["passed"] else "FAILED"))
    for r in rows:
        print(f"large_model:   {r['process']:14s} {' / '.join(f'{p:7.1f}' for p in r['peak_rss_mb'])} MB  "
              f"worst {r['worst_ratio_to_limit']:.3f} of the limit")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
