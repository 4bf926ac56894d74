#!/usr/bin/env python3
"""geostorm-operator at scale: N GeoTrainingJobs x D data centers, one member
cluster (API emulator) per DC, plus the host. Reports reconcile p50/p99 (from the
operator's own histogram) while creating everything and in the steady state after,
how long until every worker pod exists, the member-cluster writes in the steady
state (must be 0), and the operator's RSS. Latencies are also given as multiples of
one API round trip to the emulator, measured in the same run (the baseline).

Usage: bench/operator/scale_bench.py [--build build] [--jobs 100] [--dcs 9] [--out DIR]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMULATOR = os.path.join(ROOT, "tests", "support", "kube_emulator.py")


def call(url, method="GET", body=None, ctype="application/json"):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"{}")


def start_emulator(work, name, procs):
    port_file = os.path.join(work, f"{name}.port")
    log = open(os.path.join(work, f"{name}.log"), "w")
    procs.append(subprocess.Popen([sys.executable, EMULATOR, "--port-file", port_file, "--bookmark-s", "5"],
                                  stdout=log, stderr=subprocess.STDOUT))
    for _ in range(200):
        if os.path.exists(port_file):
            break
        time.sleep(0.05)
    url = f"http://127.0.0.1:{open(port_file).read().strip()}"
    with open(os.path.join(work, f"{name}.kubeconfig"), "w") as f:
        f.write(f"apiVersion: v1\nkind: Config\nclusters: [{{name: {name}, cluster: {{server: \"{url}\"}}}}]\n"
                f"contexts: [{{name: {name}, context: {{cluster: {name}}}}}]\ncurrent-context: {name}\n")
    return url


def histogram(metrics_text):
    """(bucket upper bounds, cumulative counts, count) of the job controller's histogram."""
    buckets, count = [], 0
    for line in metrics_text.splitlines():
        if line.startswith('geostorm_operator_reconcile_duration_seconds_bucket{controller="geotrainingjob"'):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
        elif line.startswith('geostorm_operator_reconcile_duration_seconds_count{controller="geotrainingjob"'):
            count = float(line.split()[-1])
    return buckets, count


def quantile(before, after, q):
    """The q-quantile of the reconciles between two histogram snapshots, interpolated
    linearly inside its bucket (as Prometheus' histogram_quantile does)."""
    b0 = dict(before[0])
    diff = [(le, n - b0.get(le, 0)) for le, n in after[0]]
    total = after[1] - before[1]
    if total <= 0:
        return float("nan"), 0
    rank, lower, below = q * total, 0.0, 0.0
    for le, n in diff:
        if n >= rank:
            if le == float("inf"):
                return lower, total
            return lower + (le - lower) * (rank - below) / max(n - below, 1e-9), total
        lower, below = le, n
    return lower, total


def rss_mb(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def member_writes(urls):
    total = 0
    for url in urls:
        for key, n in call(url + "/debug/stats")["requests"].items():
            if not key.startswith("GET"):
                total += n
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--dcs", type=int, default=9)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--resync-s", type=float, default=10)
    parser.add_argument("--out", default="")
    args = parser.parse_args()

    procs = []
    work = tempfile.mkdtemp(prefix="geostorm-scale-")
    try:
        host = start_emulator(work, "host", procs)
        members = [start_emulator(work, f"dc{i}", procs) for i in range(args.dcs)]
        # The baseline: one API round trip (GET of one object) to an emulator.
        call(host + "/api/v1/namespaces", "POST", {"metadata": {"name": "geostorm-system"}})
        samples = []
        for _ in range(200):
            t = time.perf_counter()
            call(host + "/api/v1/namespaces/default")
            samples.append(time.perf_counter() - t)
        round_trip = statistics.median(samples)

        kubectl = ["kubectl", "--kubeconfig", os.path.join(work, "host.kubeconfig"), "--cache-dir",
                   os.path.join(work, "cache")]
        subprocess.run(kubectl + ["apply", "-f", os.path.join(ROOT, "crds")], check=True, stdout=subprocess.DEVNULL)
        import base64
        for i in range(args.dcs):
            kc = base64.b64encode(open(os.path.join(work, f"dc{i}.kubeconfig"), "rb").read()).decode()
            call(host + "/api/v1/namespaces/geostorm-system/secrets", "POST",
                 {"metadata": {"name": f"dc{i}-kubeconfig"}, "data": {"kubeconfig": kc}})
            call(host + "/apis/geostorm.io/v1alpha1/geoclusters", "POST",
                 {"apiVersion": "geostorm.io/v1alpha1", "kind": "GeoCluster", "metadata": {"name": f"dc{i}"},
                  "spec": {"secretRef": {"name": f"dc{i}-kubeconfig", "namespace": "geostorm-system"}}})

        log = open(os.path.join(work, "operator.log"), "w")
        port_file = os.path.join(work, "operator.port")
        operator = subprocess.Popen(
            [os.path.join(args.build, "bin", "geostorm-operator"), "--kubeconfig", os.path.join(work, "host.kubeconfig"),
             "--health-listen", "127.0.0.1:0", "--port-file", port_file, "--workers", str(args.workers),
             "--resync-s", str(args.resync_s)], stdout=log, stderr=subprocess.STDOUT)
        procs.append(operator)
        for _ in range(200):
            if os.path.exists(port_file):
                break
            time.sleep(0.1)
        health = int(open(port_file).read())
        metrics_url = f"http://127.0.0.1:{health}/metrics"
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(1)
        idle_rss, _ = rss_mb(operator.pid)

        start_hist = histogram(urllib.request.urlopen(metrics_url).read().decode())
        started = time.time()
        template = {"spec": {"containers": [{"name": "trainer", "image": "trainer:1"}]}}
        for j in range(args.jobs):
            call(host + "/apis/geostorm.io/v1alpha1/namespaces/default/geotrainingjobs", "POST", {
                "apiVersion": "geostorm.io/v1alpha1", "kind": "GeoTrainingJob",
                "metadata": {"name": f"job{j:03d}"},
                "spec": {"dataCenters": [{"name": f"dc{i}", "cluster": f"dc{i}", "replicas": 1, "template": template}
                                         for i in range(args.dcs)],
                         "sync": {"roots": min(2, args.dcs)}}})
        created = time.time() - started
        want = args.jobs
        while True:
            counts = [len(call(m + "/api/v1/namespaces/default/pods")["items"]) for m in members]
            if min(counts) >= want:
                break
            if time.time() - started > 900:
                raise SystemExit(f"timed out: pods per member {counts}")
            time.sleep(0.5)
        all_pods = time.time() - started
        # Let the last status writes land, then take the creation phase's histogram.
        time.sleep(2)
        create_hist = histogram(urllib.request.urlopen(metrics_url).read().decode())
        create_rss, _ = rss_mb(operator.pid)

        # Steady state: resyncs reconcile every job again; nothing should be written.
        writes_before = member_writes(members)
        time.sleep(args.resync_s * 2 + 1)
        steady_hist = histogram(urllib.request.urlopen(metrics_url).read().decode())
        steady_writes = member_writes(members) - writes_before
        rss, peak = rss_mb(operator.pid)

        p50c, nc = quantile(start_hist, create_hist, 0.5)
        p99c, _ = quantile(start_hist, create_hist, 0.99)
        p50s, ns = quantile(create_hist, steady_hist, 0.5)
        p99s, _ = quantile(create_hist, steady_hist, 0.99)
        result = {
            "jobs": args.jobs, "dcs": args.dcs, "workers": args.workers,
            "api_round_trip_ms": round_trip * 1e3,
            "create": {"reconciles": nc, "p50_ms": p50c * 1e3, "p99_ms": p99c * 1e3,
                       "submit_s": created, "all_pods_s": all_pods},
            "steady": {"reconciles": ns, "p50_ms": p50s * 1e3, "p99_ms": p99s * 1e3, "member_writes": steady_writes},
            "rss_mb": {"idle": idle_rss, "after_create": create_rss, "steady": rss, "peak": peak},
        }
        print(f"operator scale: {args.jobs} jobs x {args.dcs} DCs ({args.jobs * args.dcs} DC deployments, "
              f"{args.jobs * args.dcs * 5} member objects), {args.workers} workers")
        print(f"  baseline: one API round trip {round_trip * 1e3:.2f} ms")
        print(f"  create:  {nc:.0f} reconciles, p50 {p50c * 1e3:.1f} ms ({p50c / round_trip:.0f} round trips), "
              f"p99 {p99c * 1e3:.1f} ms ({p99c / round_trip:.0f} round trips); every pod in {all_pods:.1f} s")
        print(f"  steady:  {ns:.0f} reconciles, p50 {p50s * 1e3:.2f} ms ({p50s / round_trip:.1f} round trips), "
              f"p99 {p99s * 1e3:.2f} ms; member writes {steady_writes}")
        print(f"  RSS: idle {idle_rss:.0f} MB, after create {create_rss:.0f} MB, steady {rss:.0f} MB, peak {peak:.0f} MB")
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            with open(os.path.join(args.out, "operator-scale.json"), "w") as f:
                json.dump(result, f, indent=2)
        if steady_writes:
            raise SystemExit("steady state wrote to member clusters: the reconciler is not idempotent")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
