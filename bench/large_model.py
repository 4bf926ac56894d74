#!/usr/bin/env python3
"""A large model on loopback: `geostorm local` with 2 DCs x 2 workers and a model
of --model-mb, each sum checked exactly by the workers. It samples every sidecar's
peak RSS (VmHWM) while the job runs and compares it with the goal of issue 17:
at most 1.5x the model plus 64 MB. Writes large-model.json and .md under --out.

    python3 bench/large_model.py --build build --model-mb 1024 --out bench/results
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--model-mb", type=float, default=1024)
    ap.add_argument("--iterations", type=int, default=4)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = ap.parse_args()

    run_dir = tempfile.mkdtemp(prefix="geostorm-large-model-")
    topology = os.path.join(run_dir, "pair-2dc.yaml")
    with open(topology, "w") as f:
        f.write(TOPOLOGY)
    peaks, done = {}, threading.Event()
    sampler = threading.Thread(target=sample, args=(run_dir, peaks, done))
    sampler.start()
    began = time.time()
    try:
        run = subprocess.run([os.path.join(args.build, "bin", "geostorm"), "local", "--topology", topology,
                              "--model-mb", str(args.model_mb), "--workers", "2", "--iterations",
                              str(args.iterations), "--fixed-policy", "--out", os.path.join(run_dir, "job")],
                             capture_output=True, text=True)
    finally:
        done.set()
        sampler.join()
    if run.returncode != 0:
        sys.exit(f"large_model: geostorm local failed ({run.returncode}):\n{run.stdout}{run.stderr}")
    with open(os.path.join(run_dir, "job", "summary.json")) as f:
        summary = json.load(f)

    job_dir = os.path.join(run_dir, "job")
    exact = []  # per worker: the iterations it checked exact
    for log in sorted(n for n in os.listdir(job_dir) if n.startswith("worker-")):
        with open(os.path.join(job_dir, log)) as f:
            exact.append(len(re.findall(r"^iteration \d+ exact$", f.read(), re.M)))
    limit_mb = 1.5 * args.model_mb + 64
    rows = [{"process": name, "peak_rss_mb": round(kb / 1024, 1), "ratio_to_limit": round(kb / 1024 / limit_mb, 3)}
            for name, kb in sorted(peaks.items())]
    report = {
        "model_mb": args.model_mb, "dcs": 2, "workers_per_dc": 2, "iterations": args.iterations,
        "iterations_exact": min(exact, default=0) if len(exact) == 4 else 0,
        "failed_iterations": summary["failed_iterations"], "failed_workers": summary["failed_workers"],
        "median_s": summary["median_s"], "wall_s": round(time.time() - began, 1),
        "sidecar_rss_limit_mb": limit_mb, "sidecars": rows,
        "sidecar_peak_rss_mb_max": max((r["peak_rss_mb"] for r in rows), default=None),
    }
    report["passed"] = len(rows) == 4 and not summary["failed_iterations"] and not summary["failed_workers"] and \
        report["iterations_exact"] == args.iterations and report["sidecar_peak_rss_mb_max"] <= limit_mb
    if report["passed"]:
        shutil.rmtree(run_dir)
    else:
        print(f"large_model: logs in {run_dir}")

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "large-model.json"), "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    lines = [f"# A {args.model_mb:g} MB model, 2 DCs x 2 workers on loopback", "",
             f"`bench/large_model.py --model-mb {args.model_mb:g} --iterations {args.iterations}`", "",
             f"{report['iterations_exact']}/{args.iterations} iterations summed exactly on every worker; "
             f"median {report['median_s']:.2f} s per iteration.", "",
             f"| sidecar | peak RSS (MB) | of the limit, 1.5 x model + 64 MB = {limit_mb:g} MB |", "|---|---|---|"]
    lines += [f"| {r['process']} | {r['peak_rss_mb']} | {r['ratio_to_limit']} |" for r in rows]
    with open(os.path.join(args.out, "large-model.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"large_model: {args.model_mb:g} MB, {report['iterations_exact']}/{args.iterations} iterations exact, "
          f"median {report['median_s']:.2f} s; sidecar peak RSS at most {report['sidecar_peak_rss_mb_max']} MB "
          f"(limit {limit_mb:g} MB): " + ("passed" if report["passed"] else "FAILED"))
    for r in rows:
        print(f"large_model:   {r['process']:14s} {r['peak_rss_mb']:8.1f} MB  {r['ratio_to_limit']:.3f} of the limit")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
