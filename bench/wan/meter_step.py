#!/usr/bin/env python3
"""The passive meter under change (root): one shaped link between two network
namespaces carries netstorm's traffic between two sidecars while its rate steps
down and back up. For each step it reports how far the sidecar's passive estimate
(geostorm_link_throughput_bytes_per_second, scraped every 0.2 s) is from iperf3's
goodput at the new rate, measured on the same link in the same run, and how long
the estimate takes to come within 10% and stay there, in seconds and in
iterations.

  bench/wan/meter_step.py --build build --out bench/results      # 100 -> 40 -> 100 Mbit/s
  bench/wan/meter_step.py --rates 155,20,155 --hold-s 20

Writes <out>/meter-step.json and .md.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

POLL = """
import re, sys, time, urllib.request
while True:
    try:
        body = urllib.request.urlopen("http://127.0.0.1:9100/metrics", timeout=1).read().decode()
        m = re.search(r'^geostorm_link_throughput_bytes_per_second\\{[^}]*dst="b"[^}]*\\} (\\S+)$', body, re.M)
        if m:
            print(time.time(), m.group(1), flush=True)
    except OSError:
        pass
    time.sleep(0.2)
"""


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, text=True, **kw)


class Link:
    """Namespaces a and b joined by a veth pair, each direction shaped by tbf."""

    def __init__(self):
        tag = os.getpid() % 100000
        self.a, self.b, self.dev_a, self.dev_b = f"gsmeter-a-{tag}", f"gsmeter-b-{tag}", f"vma{tag}", f"vmb{tag}"

    def __enter__(self):
        sh("ip", "netns", "add", self.a)
        sh("ip", "netns", "add", self.b)
        for ns in (self.a, self.b):  # Reno, as in testbed/emulated_wan.cc
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.tcp_congestion_control=reno")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", self.dev_a, "netns", self.a, "type", "veth", "peer", "name", self.dev_b, "netns", self.b)
        sh("ip", "-n", self.a, "addr", "add", "10.78.0.1/24", "dev", self.dev_a)
        sh("ip", "-n", self.b, "addr", "add", "10.78.0.2/24", "dev", self.dev_b)
        sh("ip", "-n", self.a, "link", "set", self.dev_a, "up")
        sh("ip", "-n", self.b, "link", "set", self.dev_b, "up")
        return self

    def __exit__(self, *exc):
        for ns in (self.a, self.b):
            for pid in subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split():
                subprocess.run(["kill", "-9", pid])
            subprocess.run(["ip", "netns", "del", ns])

    def shape(self, ns, dev, mbps):
        burst = max(32000, int(mbps * 1e6 / 8 / 250))
        sh("ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", f"{mbps}mbit",
           "burst", str(burst), "latency", "50ms")

    def set_a_to_b(self, mbps):
        self.shape(self.a, self.dev_a, mbps)

    def iperf(self, seconds=5):
        """iperf3 TCP goodput a -> b in bytes/s."""
        server = subprocess.Popen(["ip", "netns", "exec", self.b, "iperf3", "-s", "-1", "-p", "5202"],
                                  stdout=subprocess.DEVNULL)
        time.sleep(0.3)
        out = sh("ip", "netns", "exec", self.a, "iperf3", "-c", "10.78.0.2", "-p", "5202", "-t", str(seconds), "-J",
                 capture_output=True).stdout
        server.wait(timeout=10)
        return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 8


def run(args, link, work):
    bin_dir = os.path.join(os.path.abspath(args.build), "bin")
    rates = [float(r) for r in args.rates.split(",")]
    link.shape(link.b, link.dev_b, rates[0])
    reference = {}
    for r in sorted(set(rates)):
        link.set_a_to_b(r)
        reference[r] = link.iperf()
        print(f"iperf3 at {r:g} Mbit/s: {reference[r] / 1e6:.2f} MB/s", flush=True)
    link.set_a_to_b(rates[0])

    topology = os.path.join(work, "two.yaml")
    with open(topology, "w") as f:
        f.write(f"kind: mesh\ndataCenters: [a, b]\ndefaultMbps: {rates[0]:g}\n")
    model_mb = rates[0] * args.iteration_s / 8  # about iteration_s of transfer per iteration at the first rate
    policy = os.path.join(work, "policy.yaml")
    with open(policy, "w") as f:
        sh(os.path.join(bin_dir, "geostorm"), "plan", "--topology", topology, "--strategy", "netstorm", "--model-mb",
           str(model_mb), "--yaml", stdout=f)
    procs = []

    def start(ns, argv, log):
        procs.append(subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=open(os.path.join(work, log), "w"),
                                      stderr=subprocess.STDOUT))
        return procs[-1]

    try:
        for dc, ns, me, peer in (("a", link.a, "10.78.0.1", "10.78.0.2"), ("b", link.b, "10.78.0.2", "10.78.0.1")):
            other = "b" if dc == "a" else "a"
            start(ns, [os.path.join(bin_dir, "geostorm-sidecar"), "--dc", dc, "--policy", policy, "--listen",
                       f"{me}:7000", "--peer", f"{other}={peer}:7000", "--worker-listen", f"unix:{work}/{dc}.sock",
                       "--metrics", "127.0.0.1:9100", "--events", f"{work}/{dc}.events", "--insecure"], f"{dc}.log")
        time.sleep(1)
        poller = start(link.a, [sys.executable, "-u", "-c", POLL], "estimates.txt")
        for i, (dc, ns) in enumerate((("a", link.a), ("b", link.b))):
            start(ns, [os.path.join(bin_dir, "geostorm-synthetic-worker"), "--sidecar", f"unix:{work}/{dc}.sock",
                       "--dc-index", str(i), "--dcs", "2", "--iterations", "100000"], f"worker-{dc}.log")
        time.sleep(args.hold_s)  # the first rate: warm-up, and the estimate before the first step
        steps = []
        for before, after in zip(rates, rates[1:]):
            steps.append({"from_mbps": before, "to_mbps": after, "at": time.time()})
            link.set_a_to_b(after)
            time.sleep(args.hold_s)
        end = time.time()
        poller.kill()
    finally:
        for p in procs:
            p.kill()
            p.wait()

    samples = []
    with open(os.path.join(work, "estimates.txt")) as f:
        for line in f:
            t, v = line.split()
            samples.append((float(t), float(v)))
    done = []  # when a's gateway finished each iteration
    with open(os.path.join(work, "a.events")) as f:
        for line in f:
            e = json.loads(line)
            if e.get("event") == "iteration":
                done.append(e["time"])
    if len(done) < 3:
        sys.exit(f"meter_step: only {len(done)} iterations ran; see the logs in {work}")
    bounds = [s["at"] for s in steps] + [end]
    for k, s in enumerate(steps):
        s["to_reference_bytes_per_second"] = ref = reference[s["to_mbps"]]
        old = reference[s["from_mbps"]]
        window = [(t, v) for t, v in samples if s["at"] <= t < bounds[k + 1]]
        before = [v for t, v in samples if s["at"] - 5 <= t < s["at"]]
        s["error_before"] = statistics.median(before) / old - 1 if before else None
        s["error_settled"] = statistics.median(v for t, v in window if t >= bounds[k + 1] - 5) / ref - 1
        within = [abs(v / ref - 1) <= 0.1 for _, v in window]
        # The first sample from which the estimate stays within 10% until the next step.
        settle = next((i for i in range(len(within)) if all(within[i:])), None)
        s["within_10pct_s"] = window[settle][0] - s["at"] if settle is not None else None
        s["within_10pct_iterations"] = (sum(1 for t in done if s["at"] <= t <= window[settle][0])
                                        if settle is not None else None)
        s["iteration_s_after"] = statistics.median(b - a for a, b in zip(done, done[1:])
                                                   if s["at"] + 2 <= a and b < bounds[k + 1])
        s["timeline"] = [[round(t - s["at"], 2), round(v / ref - 1, 4)] for t, v in window]
        del s["at"]
    return {"rates_mbps": rates, "hold_s": args.hold_s, "model_mb": model_mb,
            "iperf3_bytes_per_second": {f"{r:g}": v for r, v in reference.items()},
            "iterations": len(done), "command": " ".join(sys.argv), "steps": steps}


def markdown(report):
    lines = ["# The passive meter under a step change of one link's rate", "",
             f"`{report['command']}`", "",
             f"netstorm between two DCs, {report['model_mb']:g} MB model; the a -> b rate steps every "
             f"{report['hold_s']:g} s. Errors are against iperf3's goodput at each rate, on the same link in the "
             "same run.", "",
             "| step | iperf3 after MB/s | error before | within 10% after | iterations | error settled | "
             "iteration s |", "|---|---|---|---|---|---|---|"]
    for s in report["steps"]:
        settle = f"{s['within_10pct_s']:.1f} s" if s["within_10pct_s"] is not None else "never"
        its = s["within_10pct_iterations"] if s["within_10pct_iterations"] is not None else "-"
        before = f"{100 * s['error_before']:+.1f}%" if s["error_before"] is not None else "-"
        lines.append(f"| {s['from_mbps']:g} -> {s['to_mbps']:g} Mbit/s | {s['to_reference_bytes_per_second'] / 1e6:.2f} "
                     f"| {before} | {settle} | {its} | {100 * s['error_settled']:+.1f}% | {s['iteration_s_after']:.2f} |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build")
    p.add_argument("--rates", default="100,40,100", help="Mbit/s of a -> b, held --hold-s each, comma-separated")
    p.add_argument("--hold-s", type=float, default=15)
    p.add_argument("--iteration-s", type=float, default=1.0, help="model size: this long per iteration at the first rate")
    p.add_argument("--out", default="bench/results")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("meter_step: needs root, for network namespaces and tc")
    with tempfile.TemporaryDirectory() as work, Link() as link:
        report = run(args, link, work)
    base = os.path.join(args.out, "meter-step")
    with open(base + ".json", "w") as f:
        json.dump(report, f, indent=2)
    with open(base + ".md", "w") as f:
        f.write(markdown(report))
    print(markdown(report))
    print(f"wrote {base}.json and .md")


if __name__ == "__main__":
    main()
