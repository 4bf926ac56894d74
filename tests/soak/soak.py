#!/usr/bin/env python3
"""The soak (root): a geostorm job on the emulated klonet-9dc-dynamic WAN, with
2 workers per DC and the policy controller re-planning live from the sidecars'
reports, under random faults, one at a time, every --fault-gap-s:

  gateway, member   SIGKILL a random gateway (or member) sidecar and the workers
                    that talk through it, then start them again: the workers join
                    at the iteration after the one the others are on, once the
                    others begin it (as a rendezvous would tell a restarted worker)
  controller        SIGKILL the controller, half of the time while a rollout is
                    prepared and not yet committed, and start it again from its
                    state file
  link              halve a random link direction's rate for a while
  burst             a burst of corrupt chunks at a random gateway
                    (geostorm-chunk-burst), from another DC

Every worker is a geostorm-synthetic-worker that checks every value of every sum
(each DC, worker, iteration and element contributes a different value), with
--keep-going. The controller's updates are delayed by up to 200 ms
(--inject-delay-ms), as a control channel across a WAN would be: the emulated
WAN has no latency, and rollouts would otherwise be too short to be hit.

Then it checks (soak_report.py): no wrong sum; every failed iteration is one a
fault touched, and the first iteration after a fault clears is exact; no policy
version is committed twice or both committed and aborted, gateways agree with the
controller, and no iteration mixes versions; RSS and open files at the end
against after warm-up. Exits 1 when a check fails.

  make soak                                              # 30 minutes: bench/results/soak.*
  tests/soak/soak.py --build build --minutes 3 --out /tmp/soak    # the CI version
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import soak_report  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
JOB = "soak"
TAG = "sk"


def namespace(dc):
    return f"gs{TAG}-dc{dc + 1}"


def address(dc):
    return f"10.77.0.{dc + 1}:7000"


def shaped_links(dcs):
    """(from, to) of every shaped link direction: DC i's devices to-dc<j+1>."""
    out = []
    for i in range(dcs):
        devices = subprocess.check_output(["ip", "-n", namespace(i), "-o", "link"], text=True)
        out += [(i, int(j) - 1) for j in re.findall(r"\d+: to-dc(\d+)@", devices)]
    return out


def htb_kbit(ns, dev):
    shown = subprocess.check_output(["tc", "-n", ns, "class", "show", "dev", dev], text=True)
    rate, unit = re.search(r"rate (\d+)([KMG]?)bit", shown).groups()
    return int(rate) * {"": 1e-3, "K": 1, "M": 1e3, "G": 1e6}[unit]


def set_htb_kbit(ns, dev, kbit):
    """As testbed/emulated_wan.cc sets a rate: the burst at least rate/250."""
    kbit = max(1, int(kbit))
    burst = str(max(32000, kbit * 1000 // 8 // 250))
    subprocess.run(["tc", "-n", ns, "class", "change", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate",
                    f"{kbit}kbit", "burst", burst, "cburst", burst], check=True)


def started_since(events, since):
    return any(e.get("event") == "started" and e.get("time", 0) >= since for e in soak_report.read_events(events))


def wait_for_prepared(events, timeout):
    """Until a gateway records a policy prepared (from now on) that it has not yet
    committed; False on timeout. Reads only what the event files gain."""
    offsets = {path: os.path.getsize(path) if os.path.exists(path) else 0 for path in events}
    open_versions = set()
    deadline = time.time() + timeout
    while time.time() < deadline:
        for path in events:
            with open(path, "rb") as f:
                f.seek(offsets[path])
                data = f.read()
            complete = data[:data.rfind(b"\n") + 1]
            offsets[path] += len(complete)
            for line in complete.decode().splitlines():
                e = json.loads(line)
                if e.get("event") == "policy_prepared":
                    open_versions.add(e["version"])
                elif e.get("event") == "policy_committed":
                    open_versions.discard(e["version"])
            if open_versions:
                return True
        time.sleep(0.02)
    return False


class Proc:
    """One incarnation of a program, in a DC's namespace (dc None: here). A
    worker's output is read line by line, each line stamped with its time."""

    def __init__(self, name, argv, log, dc=None, lines=None):
        self.name, self.started = name, time.time()
        prefix = ["ip", "netns", "exec", namespace(dc)] if dc is not None else []
        self.log = open(log, "a")
        self.log.write(f"--- started {self.started:.3f}\n")
        self.log.flush()
        if lines is None:
            self.p = subprocess.Popen(prefix + argv, stdout=self.log, stderr=subprocess.STDOUT)
        else:
            lines.append((self.started, "--- started"))
            self.p = subprocess.Popen(prefix + argv, stdout=subprocess.PIPE, stderr=self.log, text=True)
            threading.Thread(target=self._read, args=(lines,), daemon=True).start()
        self.samples = []  # (time, rss kB, open files)
        self.at_end = False  # alive when the run ended, not killed by a fault

    def _read(self, lines):
        for line in self.p.stdout:
            lines.append((time.time(), line.rstrip("\n")))
            self.log.write(line)
            self.log.flush()

    def alive(self):
        return self.p.poll() is None

    def kill(self):
        if self.alive():
            self.p.kill()
        self.p.wait()

    def sample(self):
        try:
            with open(f"/proc/{self.p.pid}/status") as f:
                rss = int(re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M).group(1))
            self.samples.append((time.time(), rss, len(os.listdir(f"/proc/{self.p.pid}/fd"))))
        except (OSError, AttributeError):
            pass


class Job:
    """The WAN, the controller, the sidecars and the workers, each restartable."""

    def __init__(self, args, out):
        self.args, self.out, self.bin = args, out, os.path.join(args.build, "bin")
        plan = json.loads(subprocess.check_output(
            [self.geostorm(), "plan", "--topology", args.topology, "--model-mb", str(args.model_mb), "--json"],
            text=True))
        self.dcs, self.model_bytes, self.chunk_bytes = plan["dataCenters"], plan["modelBytes"], plan["chunkBytes"]
        self.links = []  # (from, to) of every shaped link direction, once the WAN is up
        self.procs = {}     # name -> current Proc
        self.retired = []   # killed incarnations
        self.lines = {}     # worker name -> [(time, line)] over every incarnation
        self.first = {}     # worker name -> the first iteration of its current incarnation
        self.faults = []
        self.unexpected = []  # processes that died on their own: each is a finding
        self.rng = random.Random(args.seed)

    def geostorm(self):
        return os.path.join(self.bin, "geostorm")

    def path(self, name):
        return os.path.join(self.out, name)

    def start(self, name, argv, dc=None, worker=False):
        lines = self.lines.setdefault(name, []) if worker else None
        self.procs[name] = Proc(name, argv, self.path(name + ".log"), dc, lines)
        return self.procs[name]

    def stop(self, name):
        p = self.procs.pop(name)
        p.kill()
        self.retired.append(p)

    def up(self):
        a = self.args
        self.wan = subprocess.Popen(
            [self.geostorm(), "wan", "up", "--topology", a.topology, "--tag", TAG, "--scale", str(a.scale),
             "--period-s", str(a.period_s)], stdout=open(self.path("wan.log"), "w"), stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while "ready" not in open(self.path("wan.log")).read():
            if self.wan.poll() is not None or time.time() > deadline:
                sys.exit("soak: the emulated WAN did not come up: " + open(self.path("wan.log")).read())
            time.sleep(0.2)
        self.links = shaped_links(len(self.dcs))
        self.start_controller()
        for i in range(len(self.dcs)):
            self.start_gateway(i)
        for i in range(len(self.dcs)):
            for w in range(1, a.workers):
                self.start_member(i, w)
        for i in range(len(self.dcs)):
            for w in range(a.workers):
                self.start_worker(i, w, 0)

    def start_controller(self):
        a = self.args
        self.start("controller", [
            os.path.join(self.bin, "geostorm-controller"), "--job", JOB, "--topology", a.topology, "--scale",
            str(a.scale), "--model-mb", str(a.model_mb), "--listen", "unix:" + self.path("control.sock"),
            "--state-file", self.path("rollout-state.json"), "--interval-ms", "2000", "--inject-delay-ms", "200",
            "--metrics", "127.0.0.1:0", "--insecure"])

    def start_gateway(self, i):
        argv = [os.path.join(self.bin, "geostorm-sidecar"), "--job", JOB, "--dc", self.dcs[i], "--controller",
                "unix:" + self.path("control.sock"), "--listen", address(i), "--worker-listen",
                self.socket(i, 0), "--workers", str(self.args.workers), "--timeout-ms", str(self.args.timeout_ms),
                "--metrics", "127.0.0.1:0", "--events", self.path(f"gateway-{self.dcs[i]}.events"), "--insecure"]
        for j, dc in enumerate(self.dcs):
            if j != i:
                argv += ["--peer", f"{dc}={address(j)}"]
        self.start(f"gateway-{self.dcs[i]}", argv, i)

    def start_member(self, i, w):
        self.start(f"member-{self.dcs[i]}-{w}", [
            os.path.join(self.bin, "geostorm-sidecar"), "--job", JOB, "--dc", self.dcs[i], "--gateway", address(i),
            "--member-id", f"{self.dcs[i]}-{w}", "--worker-listen", self.socket(i, w), "--insecure"], i)

    def socket(self, i, w):
        return "unix:" + self.path(f"{self.dcs[i]}-{w}.sock")

    def start_worker(self, i, w, first):
        self.first[f"worker-{self.dcs[i]}-{w}"] = first
        self.start(f"worker-{self.dcs[i]}-{w}", [
            os.path.join(self.bin, "geostorm-synthetic-worker"), "--sidecar", self.socket(i, w), "--dc-index", str(i),
            "--worker-index", str(w), "--dcs", str(len(self.dcs)), "--workers", str(self.args.workers),
            "--iterations", "100000000", "--first-iteration", str(first), "--keep-going"], i, worker=True)

    def workers(self):
        return [(i, w) for i in range(len(self.dcs)) for w in range(self.args.workers)]

    def current(self, name):
        """The iteration a worker is on: the one after its last report, or its first."""
        for _, line in reversed(self.lines.get(name, [])):
            m = re.match(r"iteration (\d+)[ :]", line)
            if m:
                return max(self.first.get(name, 0), int(m.group(1)) + 1)
            if line.startswith("--- started"):
                break
        return self.first.get(name, 0)

    def ahead(self, names):
        """The iteration after the furthest any of these workers is on."""
        return 1 + max(self.current(n) for n in names)

    def rejoin(self, restarted):
        """Where restarted workers join, and when: at the iteration after the one the
        other workers are on (that one fails for want of their contributions), once
        the others have begun it. A DC that begins an iteration much earlier than the
        others times it out before they arrive (see the closing note of stop 28)."""
        live = [f"worker-{self.dcs[i]}-{w}" for i, w in self.workers()]
        live = [n for n in live if n not in restarted]
        first = self.ahead(live)
        deadline = time.time() + self.args.timeout_ms / 1000 + 5
        while time.time() < deadline and min(self.current(n) for n in live) < first:
            time.sleep(0.05)
        return first

    def wait_started(self, events, since, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if started_since(events, since):
                return True
            time.sleep(0.1)
        return False

    # The faults. Each returns its record once it has cleared.
    def kill_sidecar(self, kind):
        i = self.rng.randrange(len(self.dcs))
        w = 0 if kind == "gateway" else self.rng.randrange(1, self.args.workers)
        name = f"gateway-{self.dcs[i]}" if kind == "gateway" else f"member-{self.dcs[i]}-{w}"
        # A dead gateway takes its DC's workers with it (their sidecars can reach nothing); a member, its own.
        hit = [(i, v) for v in range(self.args.workers)] if kind == "gateway" else [(i, w)]
        start = time.time()
        self.stop(name)
        for (d, v) in hit:
            self.stop(f"worker-{self.dcs[d]}-{v}")
        time.sleep(self.rng.uniform(1, 5))
        if kind == "gateway":
            self.start_gateway(i)
            self.wait_started(self.path(f"gateway-{self.dcs[i]}.events"), start)
        else:
            self.start_member(i, w)
        clear = time.time()
        first = self.rejoin({f"worker-{self.dcs[d]}-{v}" for d, v in hit})
        for (d, v) in hit:
            self.start_worker(d, v, first)
        return {"kind": kind, "target": name, "start": start, "clear": clear, "workers_from": first}

    def kill_controller(self):
        during_rollout = self.rng.random() < 0.5
        start, waited = time.time(), False
        if during_rollout:
            waited = wait_for_prepared(self.gateway_events(), timeout=self.args.fault_gap_s)
            start = time.time()
        self.stop("controller")
        time.sleep(self.rng.uniform(0.5, 4))
        self.start_controller()
        return {"kind": "controller", "target": "controller", "start": start, "clear": time.time(),
                "during_rollout": waited}

    def halve_link(self):
        frm, to = self.rng.choice(self.links)
        ns, dev = namespace(frm), f"to-dc{to + 1}"
        before = htb_kbit(ns, dev)
        start = time.time()
        set_htb_kbit(ns, dev, before / 2)
        time.sleep(self.rng.uniform(5, 15))
        if abs(htb_kbit(ns, dev) - before / 2) <= 0.02 * before:  # not redrawn meanwhile
            set_htb_kbit(ns, dev, before)
        return {"kind": "link", "target": f"{self.dcs[frm]}->{self.dcs[to]}", "start": start, "clear": time.time(),
                "kbit": before}

    def burst(self):
        i, j = self.rng.sample(range(len(self.dcs)), 2)
        start = time.time()
        r = subprocess.run(
            ["ip", "netns", "exec", namespace(j), os.path.join(self.bin, "geostorm-chunk-burst"), "--target",
             address(i), "--job", JOB, "--sender", self.dcs[j], "--model-bytes", str(self.model_bytes),
             "--chunk-bytes", str(self.chunk_bytes), "--iteration", str(self.ahead(self.lines)), "--count",
             str(self.args.burst_chunks), "--seed", str(self.rng.randrange(1 << 30))],
            capture_output=True, text=True, timeout=60)
        report = json.loads(r.stdout) if r.stdout.strip() else {"error": r.stderr.strip()}
        return {"kind": "burst", "target": f"gateway-{self.dcs[i]}", "from": self.dcs[j], "start": start,
                "clear": time.time(), "result": report, "exit": r.returncode}

    def revive(self):
        """Records a process that exited on its own, and starts it again (a worker at
        the next iteration), so that one finding does not stop the run."""
        for name, p in list(self.procs.items()):
            if p.alive():
                continue
            self.unexpected.append({"process": name, "time": time.time(), "exit": p.p.returncode})
            self.stop(name)
            if name == "controller":
                self.start_controller()
                continue
            kind, dc, *w = name.split("-")
            i = self.dcs.index(dc)
            if kind == "gateway":
                self.start_gateway(i)
            elif kind == "member":
                self.start_member(i, int(w[0]))
            else:
                self.start_worker(i, int(w[0]), self.rejoin({name}))

    def gateway_events(self):
        return [self.path(f"gateway-{dc}.events") for dc in self.dcs]

    def inject(self, kind):
        if kind in ("gateway", "member"):
            return self.kill_sidecar(kind)
        return {"controller": self.kill_controller, "link": self.halve_link, "burst": self.burst}[kind]()

    def sample(self):
        for p in self.procs.values():
            p.sample()

    def down(self):
        for name in sorted(self.procs, key=lambda n: not n.startswith("worker")):  # workers first
            self.procs[name].at_end = True
            self.stop(name)
        self.wan.terminate()
        self.wan.wait(timeout=60)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--topology", default=os.path.join(ROOT, "examples/topologies/klonet-9dc-dynamic.yaml"))
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--period-s", type=float, default=30)
    ap.add_argument("--model-mb", type=float, default=0.5)
    ap.add_argument("--workers", type=int, default=2, help="per DC")
    ap.add_argument("--timeout-ms", type=int, default=8000, help="the job's iteration timeout")
    ap.add_argument("--fault-gap-s", type=float, default=0, help="between faults (default: 40 in a run, at least 20 s)")
    ap.add_argument("--burst-chunks", type=int, default=100)
    ap.add_argument("--warm-up-s", type=float, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench/results"))
    ap.add_argument("--name", default="soak")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("soak: needs root (network namespaces)")
        return 77
    duration = args.minutes * 60
    if args.fault_gap_s <= 0:
        args.fault_gap_s = max(20.0, duration / 40)
    run_dir = tempfile.mkdtemp(prefix="geostorm-soak-")
    job = Job(args, run_dir)
    kinds = ["gateway", "link", "controller", "burst", "member", "controller"]
    began = time.time()
    try:
        job.up()
        next_fault, n = began + args.warm_up_s, 0
        while time.time() < began + duration:
            job.sample()
            job.revive()
            if time.time() >= next_fault and time.time() < began + duration - args.fault_gap_s:
                kind = kinds[n % len(kinds)] if n < len(kinds) else job.rng.choice(kinds)
                fault = job.inject(kind)
                job.faults.append(fault)
                print(f"soak: {time.time() - began:6.0f} s  {fault['kind']:10s} {fault['target']}", flush=True)
                next_fault, n = time.time() + job.rng.uniform(0.5, 1.5) * args.fault_gap_s, n + 1
            time.sleep(1)
        job.sample()
    finally:
        ended = time.time()
        job.down()
    with open(os.path.join(run_dir, "raw.json"), "w") as f:  # what the report is made from
        json.dump({"began": began, "ended": ended, "faults": job.faults, "unexpected": job.unexpected,
                   "lines": job.lines, "samples": {f"{p.name}@{p.started}": p.samples for p in job.retired}}, f)
    report = soak_report.analyse(job, began, ended, args)
    os.makedirs(args.out, exist_ok=True)
    soak_report.write(report, args.out, args.name, " ".join(sys.argv[1:]))
    print(soak_report.summary(report))
    print(f"soak: logs in {run_dir}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
