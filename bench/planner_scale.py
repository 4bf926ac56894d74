#!/usr/bin/env python3
"""netstorm's planning time and plan quality against the number of DCs.

Runs the planner_scale binary (bench/planner_scale.cc) and writes
<out>/planner-scale.json (field `results`: dcs, topology, plan_s, simulated_s,
full_method_simulated_s, ...; field `simulator`: dcs, chunks, simulate_s, simulated_x_t_min), .md and
.png (plan time and x T_min against DCs).

    bench/planner_scale.py --build build --out bench/results
"""
import argparse
import json
import os
import subprocess


def table(report):
    lines = ["| topology | DCs | plan s | simulated x T_min | full method x T_min | vs full method | "
             "simulate once s | shards |", "|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        ratio = r["simulated_s"] / r["t_min_s"]
        full = r["full_method_simulated_s"]
        full_ratio = f"{full / r['t_min_s']:.3f}" if full else "-"
        versus = f"{r['simulated_s'] / full:.3f}" if full else "-"
        lines.append(f"| {r['topology']} | {r['dcs']} | {r['plan_s']:.3f} | {ratio:.3f} | {full_ratio} | {versus} | "
                     f"{r['simulate_s']:.3f} | {r['shards']} |")
    return lines


def simulator_table(report):
    lines = ["", "The simulator's cost against the number of chunks, and the plan's simulated time (random mesh, "
             "1 GB, each plan made for its chunk size):", "", "| DCs | chunks | simulate once s | simulated x T_min |",
             "|---|---|---|---|"]
    lines += [f"| {r['dcs']} | {r['chunks']} | {r['simulate_s']:.3f} | {r['simulated_x_t_min']:.3f} |"
              for r in report.get("simulator", [])]
    return lines


def plot(report, png):
    script = [f'set terminal pngcairo size 1100,460 font ",10" noenhanced', f'set output "{png}"',
              "set multiplot layout 1,2", "set logscale xy", "set xlabel \"DCs\"", "set key top left",
              "set xtics (16, 32, 64, 128, 256)"]
    data = {}
    for kind in sorted({r["topology"] for r in report["results"]}):
        path = f"{png}.{kind}.dat"
        with open(path, "w") as f:
            for r in report["results"]:
                if r["topology"] == kind:
                    full = r["full_method_simulated_s"]
                    f.write(f"{r['dcs']} {r['plan_s']} {r['simulated_s'] / r['t_min_s']} "
                            f"{full / r['t_min_s'] if full else 'NaN'}\n")
        data[kind] = path
    script += ['set title "time to plan (1 GB model)"', 'set ylabel "seconds"',
               "plot " + ", ".join(f'"{p}" using 1:2 with linespoints lw 2 title "{k}"' for k, p in data.items())
               + ", 0.1 with lines dt 2 title \"100 ms\", 5 with lines dt 3 title \"5 s\""]
    script += ['set title "simulated iteration time over T_min"', "unset logscale y", 'set ylabel "x T_min"',
               "plot " + ", ".join(f'"{p}" using 1:3 with linespoints lw 2 title "{k}", '
                                   f'"{p}" using 1:4 with points pt 6 ps 2 title "{k}, full method"'
                                   for k, p in data.items())]
    subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True, check=True)
    for path in data.values():
        os.remove(path)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", default="build")
    p.add_argument("--out", default="bench/results")
    p.add_argument("--max-dcs", type=int, default=256)
    p.add_argument("--full-max-dcs", type=int, default=32)
    p.add_argument("--full-max-physical-dcs", type=int, default=64)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "planner-scale.json")
    subprocess.run([os.path.join(args.build, "bin", "planner_scale"), "--max-dcs", str(args.max_dcs),
                    "--full-max-dcs", str(args.full_max_dcs),
                    "--full-max-physical-dcs", str(args.full_max_physical_dcs), "--json", path], check=True)
    with open(path) as f:
        report = json.load(f)
    lines = ["# netstorm: planning time and quality against the number of DCs", "",
             f"`bench/planner_scale.py --build {args.build} --out {args.out}`; a 1 GB model, "
             "the default chunk size, random rates in [20, 1000] Mbit/s. The full method is the packing LP "
             "at any size with column generation until no tree would lower T.", ""] + table(report) + \
        simulator_table(report)
    with open(os.path.join(args.out, "planner-scale.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    plot(report, os.path.join(args.out, "planner-scale.png"))
    print(f"wrote {path}, .md and .png")


if __name__ == "__main__":
    main()
