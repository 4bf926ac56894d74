#!/usr/bin/env python3
"""Every query of every panel of the job dashboards returns data from the real
Prometheus scraping a real run: a 3-DC `geostorm local --prometheus-server` whose
topology file says one link is slow, which loopback contradicts, so that the
controller re-plans from what Prometheus holds and rolls a policy out. The test
fails naming the dashboard, panel and query that came back empty, and checks that
the node graph's queries return the fields Grafana needs.

With --prometheus URL it runs no job, and checks the dashboards given against a
Prometheus that already scrapes what they show: the e2e test checks the operator
dashboard that way, against its operators.

Usage: live_dashboards.py BUILD_DIR DASHBOARD_DIR
       live_dashboards.py --prometheus URL DASHBOARD_FILE...
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_dashboards import queries, substitute  # noqa: E402

TOPOLOGY = """name: uneven-3dc
kind: mesh
dataCenters: [a, b, c]
defaultMbps: 400
mbps:
  a: {b: 20}
"""
JOB = "local"


def query(url, expr):
    with urllib.request.urlopen(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}), timeout=10) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]


def check(url, files):
    """(failures, queries checked) of every query of the dashboards in `files`."""
    failures, checked = [], 0
    for path in files:
        board = json.load(open(path))
        for where, expr in queries(board):
            checked += 1
            result = query(url, substitute(expr, JOB))
            if not result:
                failures.append(f"{where}: no data for {substitute(expr, JOB)}")
                continue
            if where.endswith("/ nodes") or where.endswith("/ edges"):
                want = {"id", "title"} if where.endswith("nodes") else {"id", "source", "target"}
                missing = [f for f in want if any(f not in r["metric"] for r in result)]
                if missing:
                    failures.append(f"{where}: series without {missing}: {result[:2]}")
    return failures, checked


def main():
    if sys.argv[1] == "--prometheus":
        failures, checked = check(sys.argv[2], sys.argv[3:])
        if failures:
            print("FAIL:\n" + "\n".join(failures))
            return 1
        print(f"dashboards live: {checked} queries all return data from Prometheus at {sys.argv[2]}")
        return 0
    build, dashboards = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="geostorm-dashboards-")
    with open(os.path.join(work, "topology.yaml"), "w") as f:
        f.write(TOPOLOGY)
    said = os.path.join(work, "local.err")  # a file, not a pipe: nobody has to keep reading it
    run = subprocess.Popen(
        [os.path.join(build, "bin", "geostorm"), "local", "--topology", os.path.join(work, "topology.yaml"),
         "--model-mb", "4", "--iterations", "100000", "--interval-ms", "500", "--prometheus-server",
         "--out", os.path.join(work, "run")], stdout=subprocess.DEVNULL, stderr=open(said, "w"))
    try:
        url = None
        for _ in range(600):
            text = open(said).read()
            if m := re.search(r"Prometheus at (http://\S+)", text):
                url = m.group(1)
                break
            if "no Prometheus" in text or run.poll() is not None:
                print("FAIL: " + text[-2000:])
                return 1
            time.sleep(0.1)
        if url is None:
            print("FAIL: the run never said where Prometheus is")
            return 1
        # Wait for a committed rollout, and for a minute's worth of rates.
        deadline = time.time() + 120
        while time.time() < deadline:
            committed = query(url, f'geostorm_controller_rollouts_total{{job="{JOB}", outcome="committed"}}')
            if committed and float(committed[0]["value"][1]) >= 1:
                break
            time.sleep(1)
        else:
            print("FAIL: no rollout committed within 120 s")
            return 1
        time.sleep(15)  # rates need a few scrapes of the new policy too
        jobs = [os.path.join(dashboards, n) for n in sorted(os.listdir(dashboards))
                if n.endswith(".json") and n != "geostorm-operator.json"]
        failures, checked = check(url, jobs)
        if failures:
            print("FAIL:\n" + "\n".join(failures))
            return 1
        print(f"dashboards live: {checked} queries of the job dashboards all return data from Prometheus at {url}, "
              f"after {int(float(committed[0]['value'][1]))} committed rollout(s)")
        return 0
    finally:
        run.send_signal(signal.SIGINT)
        try:
            run.wait(timeout=60)
        except subprocess.TimeoutExpired:
            run.kill()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    sys.exit(main())
