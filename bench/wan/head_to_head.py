#!/usr/bin/env python3
"""The head-to-head benchmark on an emulated WAN (root): every system on the same
namespaces and tc rates, one after the other, in one run.

  geostorm strategies  `geostorm local --wan` (controller, sidecars, synthetic workers)
  Gloo                 bench/peers/gloo_allreduce, ring all-reduce, one rank per DC
  Open MPI             bench/peers/mpi_allreduce under mpirun, ranks placed in the
                       DCs' namespaces by a launch agent that runs `ip netns exec`

Gloo and Open MPI get the best ring order our `ring` planner finds (their own rank
order is blind to the WAN), and Open MPI is told to use its ring algorithm; the
`ring` strategy's simulation is their prediction. Rates and model are scaled
together (--scale) so that the kernel's shaping leaves CPU to the systems; the
CPU use seen during each run is reported beside it.

Each system's iteration time is given two ways: `median_s`, the slowest
gateway's (or rank's) time per call, and `throughput_s`, the median wall-clock gap
between successive iterations done everywhere. A system that fails or times out
is reported as such (`failed`, with its first error), and the report is still
written.

Writes <out>/<name>.json (field `results`, one entry per system), .md and .png.

  bench/wan/head_to_head.py --build build --out bench/results            # everything
  bench/wan/head_to_head.py --systems star,netstorm --iterations 3        # make run
  bench/wan/head_to_head.py --dynamic --topology examples/topologies/klonet-9dc-dynamic.yaml
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from emulated_wan import emulated_wan

STRATEGIES = ["star", "sharded-ps", "mlnet", "tsengine", "netstorm-paper", "netstorm"]
# --dynamic: netstorm re-planning and with its first policy fixed, netstorm-paper
# re-planning with the paper's rule, star, and Gloo's ring.
DYNAMIC_SYSTEMS = ["netstorm", "netstorm-fixed", "netstorm-paper", "star", "gloo"]


class CpuMeter:
    """Share of the machine's CPU time that was busy between start() and stop()."""

    @staticmethod
    def _read():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields), idle

    def start(self):
        self.total, self.idle = self._read()

    def stop(self):
        total, idle = self._read()
        return 1 - (idle - self.idle) / max(1, total - self.total)


def quantile(xs, q):
    xs = sorted(xs)
    return xs[round(q * (len(xs) - 1))] if xs else 0.0


class Bench:
    def __init__(self, args):
        self.args = args
        self.bin = os.path.join(os.path.abspath(args.build), "bin")
        self.runs = os.path.join(os.path.abspath(args.out), "runs")
        os.makedirs(self.runs, exist_ok=True)
        self.ring = self.plan("ring")

    def geostorm(self, *argv, check=True, **kw):
        return subprocess.run([os.path.join(self.bin, "geostorm"), *argv], check=check, text=True, **kw)

    def plan(self, strategy):
        out = self.geostorm("plan", "--topology", self.args.topology, "--strategy", strategy, "--model-mb",
                            str(self.args.model_mb / self.args.scale), "--json", capture_output=True).stdout
        return json.loads(out)

    def ring_order(self):
        """The DCs in the order of the ring planner's ring, from its reduce edges."""
        edges = {}
        for shard in self.ring["shards"]:
            edges.update(shard["reduce"])
        order = [self.ring["dataCenters"][0]]
        while len(order) < len(self.ring["dataCenters"]):
            order.append(edges[order[-1]])
        return order

    def local(self, name, *flags, iterations=None, topology=None):
        """One geostorm run; returns its summary with the CPU use."""
        out = os.path.join(self.runs, name)
        shutil.rmtree(out, ignore_errors=True)
        cpu = CpuMeter()
        cpu.start()
        print(f"== {name}", flush=True)
        run = self.geostorm("local", "--topology", topology or self.args.topology, "--wan", "--scale",
                            str(self.args.scale), "--model-mb", str(self.args.model_mb), "--iterations",
                            str(iterations or self.args.iterations), "--tag", "hh", "--out", out,
                            *(["--prometheus-server"] if self.args.prometheus_server else []), *flags,
                            check=False, stderr=subprocess.PIPE)
        busy = cpu.stop()
        sys.stderr.write(run.stderr)
        try:
            with open(os.path.join(out, "summary.json")) as f:
                summary = json.load(f)
        except FileNotFoundError:
            summary = {"iterations": [], "median_s": None, "p90_s": None, "throughput_s": None, "t_min_s": None,
                       "predicted_s": None, "failed_iterations": [], "periods": [],
                       "started_at": 0}
        if run.returncode != 0:
            errors = summary["failed_iterations"]
            summary["failed"] = errors[0]["error"] if errors else (run.stderr.strip().splitlines() or ["?"])[-1]
        summary["cpu_busy"] = busy
        return summary

    def with_wan(self, run):
        """Runs `run(namespace_of)` with the topology held up by `geostorm wan up`."""
        period = self.args.period_s if self.args.dynamic else None
        with emulated_wan(self.bin, self.args.topology, self.args.scale, "hh", period) as namespaces:
            return run(namespaces)

    def peer(self, name, command_for):
        """Gloo or Open MPI on the WAN; `command_for(namespaces, order, floats)` starts it."""
        print(f"== {name}", flush=True)
        floats = int(self.args.model_mb * 1e6 / 4)
        order = self.ring_order()

        def run(namespaces):
            cpu = CpuMeter()
            cpu.start()
            try:
                text, failed = command_for(namespaces, order, floats), None
            except subprocess.CalledProcessError as e:
                text, failed = e.stdout or "", ((e.stderr or "").strip().splitlines() or [str(e)])[-1]
            busy = cpu.stop()
            times = [float(line.split()[2]) for line in text.splitlines() if line.startswith("iteration ")]
            if failed is None and len(times) < self.args.iterations:
                failed = f"{len(times)} of {self.args.iterations} iterations finished"
            # One blocking call per iteration, back to back: the gap is the call.
            s = {"iterations": [{"iteration": i, "seconds": t} for i, t in enumerate(times)],
                 "median_s": statistics.median(times) if times else None, "p90_s": quantile(times, 0.9),
                 "cpu_busy": busy, "predicted_s": self.ring["predictedSeconds"], "t_min_s": self.ring["tMinSeconds"]}
            s["throughput_s"] = s["median_s"]
            if failed:
                s["failed"] = failed
            return s

        return self.with_wan(run)

    def gloo(self, namespaces, order, floats):
        store = tempfile.mkdtemp()
        try:
            ranks = [subprocess.Popen(["ip", "netns", "exec", namespaces[dc][0], os.path.join(self.bin, "gloo_allreduce"),
                                       "--rank", str(r), "--size", str(len(order)), "--address", namespaces[dc][1],
                                       "--store", store, "--floats", str(floats), "--iterations",
                                       str(self.args.iterations)], stdout=subprocess.PIPE, text=True)
                     for r, dc in enumerate(order)]
            text = ranks[0].communicate()[0]
            for p in ranks[1:]:
                p.wait()
            return text
        finally:
            shutil.rmtree(store, ignore_errors=True)

    def mpi(self, namespaces, order, floats):
        agent_dir = tempfile.mkdtemp()
        agent = os.path.join(agent_dir, "agent.sh")
        by_address = {address: ns for ns, address in namespaces.values()}
        with open(agent, "w") as f:
            # mpirun calls its rsh agent as `agent [options] host command...`.
            f.write("#!/bin/sh\nwhile [ \"${1#-}\" != \"$1\" ]; do shift; done\nhost=$1; shift\ncase $host in\n")
            for address, ns in by_address.items():
                f.write(f"  {address}) exec ip netns exec {ns} sh -c \"$*\" ;;\n")
            f.write("esac\necho \"agent: unknown host $host\" >&2; exit 1\n")
        os.chmod(agent, 0o755)
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        hosts = ",".join(namespaces[dc][1] for dc in order)
        subnet = "10.77.0.0/24"
        try:
            return subprocess.run(
                ["ip", "netns", "exec", namespaces[order[0]][0], "mpirun", "-np", str(len(order)), "--host", hosts,
                 "--mca", "plm_rsh_agent", agent, "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", subnet,
                 "--mca", "oob_tcp_if_include", subnet, "--mca", "coll_tuned_use_dynamic_rules", "1",
                 "--mca", "coll_tuned_allreduce_algorithm", "4",  # ring
                 os.path.join(self.bin, "mpi_allreduce"), "--floats", str(floats), "--iterations",
                 str(self.args.iterations)], env=env, check=True, capture_output=True, text=True).stdout
        finally:
            shutil.rmtree(agent_dir, ignore_errors=True)


def entry(system, s):
    e = {"system": system, "median_s": s["median_s"], "p90_s": s["p90_s"], "throughput_s": s["throughput_s"],
         "t_min_s": s["t_min_s"], "predicted_s": s["predicted_s"], "cpu_busy": round(s["cpu_busy"], 3),
         "iterations_s": [round(i["seconds"], 4) for i in s["iterations"]]}
    done = e["median_s"] is not None
    e["time_over_t_min"] = e["median_s"] / e["t_min_s"] if done else None
    e["prediction_error"] = (e["median_s"] - e["predicted_s"]) / e["predicted_s"] if done and e["predicted_s"] else None
    for key in ("rollouts_committed", "failed"):
        if key in s:
            e[key] = s[key]
    return e


def fastest(entries):
    """The entry with the least median among those that finished."""
    return min((e for e in entries if e["median_s"] is not None), key=lambda e: e["median_s"], default=None)


def head_to_head(bench, args):
    systems = args.systems.split(",")
    results, ablation, placements = [], [], []
    for system in systems:
        if system == "gloo":
            results.append(entry("gloo", bench.peer("gloo", bench.gloo)))
        elif system == "openmpi":
            results.append(entry("openmpi", bench.peer("openmpi", bench.mpi)))
        elif system == "star" and args.star_placements:
            # Every placement of the parameter server; the best one is `star`.
            for dc in bench.ring["dataCenters"]:
                placements.append(entry(f"star@{dc}", bench.local(f"star-{dc}", "--strategy", "star", "--star-root",
                                                                   dc, "--fixed-policy",
                                                                   iterations=args.star_iterations)))
            best = fastest(placements)
            if best:
                results.append(dict(best, system="star", star_root=best["system"].split("@")[1]))
        elif system in STRATEGIES:
            flags = ["--strategy", system] + ([] if system == "netstorm" else ["--fixed-policy"])
            results.append(entry(system, bench.local(system, *flags)))
        else:
            sys.exit(f"head_to_head: unknown system '{system}'")
    if args.ablation:
        ablation.append(entry("netstorm without multipath", bench.local("netstorm-no-multipath", "--no-multipath")))
        ablation.append(entry("netstorm without awareness (uniform guess)",
                              bench.local("netstorm-uniform-guess", "--uniform-guess")))
        full = next((e for e in results if e["system"] == "netstorm"), None)
        if full:
            ablation.append(dict(full, system="netstorm (full)"))
    star = next((e for e in results if e["system"] == "star"), None)
    for e in results + ablation + placements:
        e["speedup_over_star"] = star["median_s"] / e["median_s"] if star and e["median_s"] else None
    report = {"topology": os.path.splitext(os.path.basename(args.topology))[0], "model_mb": args.model_mb,
              "scale": args.scale, "iterations": args.iterations, "command": " ".join(sys.argv),
              "results": results, "ablation": ablation, "star_placements": placements}
    if placements:
        netstorm = next((e for e in results if e["system"] == "netstorm"), None)
        if netstorm and netstorm["median_s"] and all(p["median_s"] for p in placements):
            speedups = [p["median_s"] / netstorm["median_s"] for p in placements]
            report["netstorm_speedup_over_star"] = {"best_placement": min(speedups),
                                                    "mean_over_placements": statistics.mean(speedups)}
    return report


def markdown(report):
    lines = [f"# {report['topology']}: {report['model_mb']} MB per worker, rates x{report['scale']}",
             "", f"`{report['command']}`", ""]

    def table(rows):
        out = ["| system | median s | p90 s | s apart | x T_min | vs star | predicted s | prediction error | CPU busy |",
               "|---|---|---|---|---|---|---|---|---|"]
        for e in rows:
            if e["median_s"] is None:
                out.append(f"| {e['system']} | failed: {e['failed']} |||||||| ")
                continue
            err = f"{100 * e['prediction_error']:+.0f}%" if e["prediction_error"] is not None else "-"
            vs = f"{e['speedup_over_star']:.2f}x" if e.get("speedup_over_star") else "-"
            apart = f"{e['throughput_s']:.3f}" if e["throughput_s"] else "-"
            failed = f" (failed: {e['failed']})" if e.get("failed") else ""
            out.append(f"| {e['system']}{failed} | {e['median_s']:.3f} | {e['p90_s']:.3f} | {apart} "
                       f"| {e['time_over_t_min']:.2f} | {vs} | {e['predicted_s']:.3f} | {err} | {100 * e['cpu_busy']:.0f}% |")
        return out

    lines += table(report["results"])
    t_min = next((e["t_min_s"] for e in report["results"] if e["t_min_s"]), None)
    if t_min:
        lines += ["", f"T_min = {t_min:.3f} s on the scaled WAN; `s apart` is the wall-clock gap between "
                      "successive iterations (the throughput), beside the slowest gateway's time per call."]
    if report.get("netstorm_speedup_over_star"):
        s = report["netstorm_speedup_over_star"]
        lines += [f"netstorm over star: {s['best_placement']:.2f}x at star's best DC, "
                  f"{s['mean_over_placements']:.2f}x on average over all placements."]
    if report["ablation"]:
        lines += ["", "## Ablation", ""] + table(report["ablation"])
    if report["star_placements"]:
        lines += ["", "## Every placement of star's server", ""] + table(report["star_placements"])
    return "\n".join(lines) + "\n"


def plot(report, png):
    rows = [e for e in report["results"] + report["ablation"]
            if e["system"] != "netstorm (full)" and e["median_s"] is not None]
    data = png + ".dat"
    with open(data, "w") as f:
        for e in rows:
            f.write(f"\"{e['system']}\" {e['median_s']} {e['p90_s']} {e['predicted_s']}\n")
    t_min = rows[0]["t_min_s"]
    script = f"""set terminal pngcairo size 1100,520 font ",10" noenhanced
set output "{png}"
set title "{report['topology']}: sync time per iteration (median, p90) against the simulator and T_min"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel "seconds"
set xtics rotate by -25
set key top right
set yrange [0:*]
plot "{data}" using 2:xtic(1) title "median", "" using 3 title "p90", "" using 4 title "predicted", \\
     {t_min} with lines lw 2 dt 2 title "T_min"
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    os.remove(data)


def dynamic(bench, args):
    """Every system on the dynamic topology, with the same seed and iterations: netstorm
    re-planning, netstorm keeping its first policy, netstorm-paper re-planning with
    the paper's rule, star, and Gloo's ring (in the order best for the first period);
    and, if asked for, the ablation: netstorm-no-multipath and netstorm-uniform-guess."""
    runs, t_min, wanted = {}, {}, args.systems.split(",")
    for system, flags in [("netstorm", ["--strategy", "netstorm"]),
                          ("netstorm-fixed", ["--strategy", "netstorm", "--fixed-policy"]),
                          ("netstorm-paper", ["--strategy", "netstorm-paper"]),
                          ("star", ["--strategy", "star", "--fixed-policy"]),
                          # The ablation (asked for by name): re-planning without relay routes;
                          # and without awareness, planned once from every link at the mean rate.
                          ("netstorm-no-multipath", ["--strategy", "netstorm", "--no-multipath"]),
                          ("netstorm-uniform-guess", ["--strategy", "netstorm", "--uniform-guess", "--fixed-policy"])]:
        if system not in wanted:
            continue
        s = bench.local(system, "--period-s", str(args.period_s), *flags)
        t_min.update({p["period"]: p["t_min_s"] for p in s["periods"]})
        runs[system] = dynamic_run(s, adaptive="--fixed-policy" not in flags,
                                   events=os.path.join(bench.runs, system))
    if "gloo" in wanted:
        g = bench.peer("gloo", bench.gloo)
        # Gloo's calls run back to back from the WAN's first period (its start is a
        # second or so later than the periods' clock: within the first period).
        at, iterations = 0.0, []
        for it in g["iterations"]:
            at += it["seconds"]
            iterations.append({"iteration": it["iteration"], "seconds": it["seconds"], "done_at_s": at})
        periods = [{"period": p, "start_s": p * args.period_s, "t_min_s": t} for p, t in sorted(t_min.items())]
        runs["gloo"] = dynamic_run({"iterations": iterations, "periods": periods, "failed": g.get("failed"),
                                    "cpu_busy": g["cpu_busy"]}, adaptive=False)
    results = [{"system": name, **{k: r[k] for k in ("total_s", "iterations", "mean_period_ratio",
                                                      "reaction_iterations_median", "reaction_iterations_max",
                                                      "changes_without_replan", "failed")}}
               for name, r in runs.items()]
    fixed = runs.get("netstorm-fixed")
    for e in results:
        e["total_vs_netstorm_fixed"] = e["total_s"] / fixed["total_s"] if fixed and fixed["total_s"] else None
    return {"topology": os.path.splitext(os.path.basename(args.topology))[0], "model_mb": args.model_mb,
            "scale": args.scale, "period_s": args.period_s, "iterations": args.iterations,
            "command": " ".join(sys.argv), "results": results, "runs": runs}


def dynamic_run(s, adaptive, events=None):
    """Per period: median iteration time against that period's T_min; the policy
    versions; and, re-planning, the reaction to each change: iterations from the
    first one done after the change to the first that ran a policy decided after it."""
    periods = s["periods"]
    iterations = s["iterations"]

    def period_of(t):
        return max((p["period"] for p in periods if p["start_s"] <= t), default=0)

    by_period = {}
    for it in iterations:
        by_period.setdefault(period_of(it["done_at_s"]), []).append(it["seconds"])
    # A period the run ended in before half of it had passed is not counted: its
    # few iterations are the slow ones right after the change, not its median.
    last_done = max((it["done_at_s"] for it in iterations), default=0)
    length = periods[1]["start_s"] - periods[0]["start_s"] if len(periods) > 1 else float("inf")
    table = [{"period": p["period"], "start_s": round(p["start_s"], 2), "t_min_s": p["t_min_s"],
              "median_s": statistics.median(by_period[p["period"]]) if p["period"] in by_period else None,
              "iterations": len(by_period.get(p["period"], [])),
              "counted": last_done - p["start_s"] >= length / 2} for p in periods]
    ratios = [p["median_s"] / p["t_min_s"] for p in table if p["median_s"] and p["counted"]]
    versions = {}
    for it in iterations:
        if "policy_version" in it:
            versions.setdefault(it["policy_version"], {"version": it["policy_version"],
                                                       "from_iteration": it["iteration"],
                                                       "at_s": round(it["done_at_s"], 2)})
    reactions, without = [], 0
    if adaptive and events:
        decided = policy_decisions(events, s["started_at"])  # version -> when the first gateway prepared it
        for k, p in enumerate(periods[1:], 1):
            end = periods[k + 1]["start_s"] if k + 1 < len(periods) else float("inf")
            first = next((it["iteration"] for it in iterations if it["done_at_s"] > p["start_s"]), None)
            new = [v for v, at in decided.items() if p["start_s"] <= at < end and v in versions]
            if first is None:
                continue
            if not new:
                without += 1
                continue
            reactions.append(max(0, versions[min(new)]["from_iteration"] - first))
    done = [it["done_at_s"] for it in iterations]
    return {"periods": table, "versions": list(versions.values()),
            "total_s": done[-1] - done[0] + iterations[0]["seconds"] if done else None,
            "iterations": len(iterations), "mean_period_ratio": statistics.mean(ratios) if ratios else None,
            "reaction_iterations_median": statistics.median(reactions) if reactions else None,
            "reaction_iterations_max": max(reactions) if reactions else None,
            "changes_without_replan": without if adaptive else None, "failed": s.get("failed"),
            "cpu_busy": s["cpu_busy"],
            "iteration_times": [{k: it[k] for k in ("iteration", "seconds", "done_at_s")} for it in iterations]}


def policy_decisions(run_dir, started_at):
    """Policy version -> seconds since the run's start when the first gateway prepared it."""
    decided = {}
    for name in os.listdir(run_dir):
        if not name.endswith(".events"):
            continue
        with open(os.path.join(run_dir, name)) as f:
            for line in f:
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                if e.get("event") == "policy_prepared":
                    at = e["time"] - started_at
                    decided[e["version"]] = min(decided.get(e["version"], at), at)
    return decided


def dynamic_markdown(report):
    lines = [f"# {report['topology']}: {report['model_mb']} MB, rates x{report['scale']}, "
             f"redrawn every {report['period_s']} s, {report['iterations']} iterations", "",
             f"`{report['command']}`", "",
             "| system | total s | vs netstorm-fixed | mean of period median / T_min "
             "| reaction (iterations) median, max | changes with no re-plan |", "|---|---|---|---|---|---|"]
    for e in report["results"]:
        def f(v, fmt):
            return format(v, fmt) if v is not None else "-"
        failed = f" (failed: {e['failed']})" if e.get("failed") else ""
        lines.append(f"| {e['system']}{failed} | {f(e['total_s'], '.1f')} | {f(e['total_vs_netstorm_fixed'], '.2f')} "
                     f"| {f(e['mean_period_ratio'], '.2f')} | {f(e['reaction_iterations_median'], 'g')}, "
                     f"{f(e['reaction_iterations_max'], 'g')} | {f(e['changes_without_replan'], 'd')} |")
    lines += ["", "Reaction: for each change of the rates, the iterations from the first one done after the change "
              "to the first that ran a policy decided after it. The mean over periods leaves out a period the run "
              "ended in before half of it had passed.", ""]
    for name, run in report["runs"].items():
        lines += [f"## {name}", "", "| period | start s | T_min s | median s | x T_min | iterations |",
                  "|---|---|---|---|---|---|"]
        for p in run["periods"]:
            m = p["median_s"]
            cut = "" if p.get("counted", True) else " (not counted: the run ended early in it)"
            lines.append(f"| {p['period']}{cut} | {p['start_s']} | {p['t_min_s']:.3f} | "
                         f"{m:.3f} | {m / p['t_min_s']:.2f} | {p['iterations']} |" if m else
                         f"| {p['period']} | {p['start_s']} | {p['t_min_s']:.3f} | - | - | 0 |")
        if run["versions"]:
            lines += ["", "Policy versions: " + ", ".join(f"v{v['version']} from iteration {v['from_iteration']} "
                                                          f"({v['at_s']} s)" for v in run["versions"])]
        lines.append("")
    return "\n".join(lines)


def dynamic_plot(report, png):
    files, plots = [], []
    for k, (name, run) in enumerate(report["runs"].items()):
        path = f"{png}.{k}.dat"
        files.append(path)
        with open(path, "w") as f:
            for it in run["iteration_times"]:
                f.write(f"{it['done_at_s']} {it['seconds']}\n")
        plots.append(f"\"{path}\" using 1:2 with linespoints title \"{name}\"")
        tmin_path = f"{png}.{k}.tmin.dat"
        files.append(tmin_path)
        with open(tmin_path, "w") as f:
            for p in run["periods"]:
                f.write(f"{p['start_s']} {p['t_min_s']}\n")
        if k == 0:
            plots.append(f"\"{tmin_path}\" using 1:2 with steps lw 2 dt 2 title \"T_min\"")
    script = f"""set terminal pngcairo size 1100,520 font ",10" noenhanced
set output "{png}"
set title "{report['topology']}: iteration time as the WAN changes every {report['period_s']} s"
set xlabel "seconds since start"
set ylabel "seconds per iteration"
set yrange [0:*]
plot {", ".join(plots)}
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    for path in files:
        os.remove(path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build")
    p.add_argument("--topology", default="examples/topologies/klonet-9dc.yaml")
    p.add_argument("--scale", type=float, default=0.1, help="rates times this")
    p.add_argument("--model-mb", type=float, default=10, help="per worker; 100 MB at full rates is 10 at 0.1")
    p.add_argument("--iterations", type=int, default=5)
    p.add_argument("--systems", help="comma-separated (default: every strategy, gloo and openmpi; with --dynamic: "
                                     + ",".join(DYNAMIC_SYSTEMS) + ")")
    p.add_argument("--star-placements", action="store_true", help="run star at every DC")
    p.add_argument("--star-iterations", type=int, default=3, help="iterations per star placement")
    p.add_argument("--ablation", action="store_true", help="netstorm without multipath, without awareness")
    p.add_argument("--dynamic", action="store_true", help="the dynamic run instead of the head-to-head")
    p.add_argument("--period-s", type=float, default=20)
    p.add_argument("--prometheus-server", action="store_true",
                   help="our runs plan from a real Prometheus scraping every sidecar (geostorm local --prometheus-server)")
    p.add_argument("--out", default="bench/results")
    p.add_argument("--name", default=None, help="file name of the report (default: topology)")
    args = p.parse_args()
    args.systems = args.systems or ",".join(DYNAMIC_SYSTEMS if args.dynamic else STRATEGIES + ["gloo", "openmpi"])
    if os.geteuid() != 0:
        sys.exit("head_to_head: needs root, for network namespaces and tc")
    bench = Bench(args)
    name = args.name or os.path.splitext(os.path.basename(args.topology))[0]
    base = os.path.join(args.out, name)
    if args.dynamic:
        report = dynamic(bench, args)
        text, draw = dynamic_markdown(report), dynamic_plot
    else:
        report = head_to_head(bench, args)
        text, draw = markdown(report), plot
    with open(base + ".json", "w") as f:
        json.dump(report, f, indent=2)
    with open(base + ".md", "w") as f:
        f.write(text)
    draw(report, os.path.abspath(base + ".png"))
    print(text)
    print(f"wrote {base}.json, .md and .png")


if __name__ == "__main__":
    main()
