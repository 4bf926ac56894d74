"""What a soak run (soak.py) did, from the workers' stamped output, the gateways'
event files, the controller's log and the processes' samples: the checks, and
the report as JSON and Markdown."""
import json
import os
import re
import statistics

RSS_GROWTH_LIMIT = 1.2  # end RSS / RSS after warm-up, any process that lived through both (1.08 in 10 min)
FD_GROWTH_LIMIT = 8     # open files, end minus after warm-up


def read_events(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, json.JSONDecodeError):
        return []


def worker_records(lines):
    """[(iteration, status, time, begun, error)] of one worker over its incarnations;
    status is exact, failed or wrong; `begun` is the time of the line before."""
    out, before = [], None
    for t, line in lines:
        if line.startswith("--- started"):
            before = t
            continue
        m = re.match(r"iteration (\d+)(?: (exact|failed: (.*))|: (.*))$", line)
        if not m:
            continue
        if m.group(2) == "exact":
            status, error = "exact", ""
        elif m.group(3) is not None:
            status, error = "failed", m.group(3)
        else:
            status, error = "wrong", m.group(4)
        out.append((int(m.group(1)), status, t, before if before is not None else t, error))
        before = t
    return out


def iterations(job, ended):
    """iteration -> {worker: (status, time, begun, error)}, up to the run's end (the
    iterations that the teardown cut short are left out)."""
    table = {}
    for name, lines in job.lines.items():
        for t, status, at, begun, error in worker_records(lines):
            if at <= ended:
                table.setdefault(t, {})[name] = (status, at, begun, error)
    return table


def policy_versions(controller_log, events):
    """The controller's decisions, and what each gateway committed and ran."""
    decided = {}  # version -> list of (outcome, detail)
    try:
        text = open(controller_log).read()
    except OSError:
        text = ""
    for m in re.finditer(r"policy v(\d+) committed, from iteration (\d+)", text):
        decided.setdefault(int(m.group(1)), []).append(("committed", int(m.group(2))))
    for m in re.finditer(r"policy v(\d+) aborted: (.*)", text):
        decided.setdefault(int(m.group(1)), []).append(("aborted", m.group(2).strip()))
    for m in re.finditer(r"the rollout of policy v(\d+) was interrupted by a restart", text):
        decided.setdefault(int(m.group(1)), []).append(("aborted", "the controller restarted during its rollout"))
    committed_at = {}  # version -> {from_iteration seen on any gateway}
    ran = {}  # iteration -> {dc: version}, each gateway's last record
    for path in events:
        for e in read_events(path):
            if e.get("event") == "policy_committed":
                committed_at.setdefault(e["version"], set()).add(e["from_iteration"])
            elif e.get("event") == "iteration":
                ran.setdefault(e["iteration"], {})[e["dc"]] = e["policy_version"]
    problems = []
    for v, outcomes in sorted(decided.items()):
        kinds = {o for o, _ in outcomes}
        starts = {d for o, d in outcomes if o == "committed"}
        if len(kinds) > 1:
            problems.append(f"policy v{v} was both committed and aborted: {outcomes}")
        if len(starts) > 1:
            problems.append(f"policy v{v} was committed from more than one iteration: {sorted(starts)}")
    for v, starts in sorted(committed_at.items()):
        if len(starts) > 1:
            problems.append(f"gateways committed policy v{v} from iterations {sorted(starts)}")
        if v in decided and any(o == "aborted" for o, _ in decided[v]):
            problems.append(f"a gateway committed policy v{v}, which the controller aborted")
        ours = {d for o, d in decided.get(v, []) if o == "committed"}
        if ours and starts != ours:
            problems.append(f"policy v{v}: the gateways' start {sorted(starts)} is not the controller's {sorted(ours)}")
    mixed = {t: dcs for t, dcs in ran.items() if len(set(dcs.values())) > 1}
    versions = [{"version": v, "outcome": o, ("from_iteration" if o == "committed" else "reason"): d}
                for v, outcomes in sorted(decided.items()) for o, d in outcomes[:1]]
    return versions, problems, mixed


def resources(job, warm_up_s):
    """Per process alive at the end: RSS and open files after warm-up and at the end."""
    out = []
    for p in job.retired:
        if not getattr(p, "at_end", False):
            continue
        warm = [s for s in p.samples if s[0] >= p.started + warm_up_s]
        if len(warm) < 2 or warm[-1][0] - warm[0][0] < 30:
            continue
        out.append({"process": p.name, "rss_kb_start": p.samples[0][1], "rss_kb_warm": warm[0][1],
                    "rss_kb_end": warm[-1][1], "fds_start": p.samples[0][2], "fds_warm": warm[0][2],
                    "fds_end": warm[-1][2],
                    "rss_growth": round(warm[-1][1] / max(1, warm[0][1]), 3), "seconds": round(warm[-1][0] - warm[0][0])})
    return out


def analyse(job, began, ended, args):
    table = iterations(job, ended)
    n = len(job.workers())
    names = {f"worker-{job.dcs[i]}-{w}" for i, w in job.workers()}
    last_whole = max((t for t, r in table.items() if len(r) == n), default=-1)
    counted = {t: r for t, r in table.items() if t <= last_whole}
    exact = [t for t, r in counted.items() if all(s == "exact" for s, *_ in r.values())]
    verified = [t for t in exact if set(counted[t]) == names]
    wrong = [{"iteration": t, "worker": w, "error": e} for t, r in table.items() for w, (s, _, _, e) in r.items()
             if s == "wrong"]
    failed = []
    for t, r in sorted(counted.items()):
        errors = {w: e for w, (s, _, _, e) in r.items() if s == "failed"}
        if not errors:
            continue
        span = (min(b for _, _, b, _ in r.values()), max(a for _, a, _, _ in r.values()))
        touched = [i for i, f in enumerate(job.faults) if f["start"] <= span[1] and span[0] <= f["clear"]]
        failed.append({"iteration": t, "begun": round(span[0] - began, 2), "ended": round(span[1] - began, 2),
                       "faults": touched, "error": sorted(errors.items())[0][1], "workers_failed": len(errors)})
    after_clear = []
    for i, f in enumerate(job.faults):
        nxt = min((t for t, r in counted.items() if len(r) == n and min(b for _, _, b, _ in r.values()) >= f["clear"]),
                  default=None)
        f["next_iteration"] = nxt
        f["next_exact"] = nxt in verified if nxt is not None else None
        if nxt is not None and nxt not in verified:
            after_clear.append(i)
    versions, version_problems, mixed = policy_versions(os.path.join(job.out, "controller.log"), job.gateway_events())
    res = resources(job, args.warm_up_s)
    accepted = sum(f.get("result", {}).get("accepted", 0) for f in job.faults if f["kind"] == "burst")
    report = {
        "duration_s": round(ended - began, 1),
        "topology": os.path.basename(args.topology), "scale": args.scale, "period_s": args.period_s,
        "model_mb": args.model_mb, "dcs": len(job.dcs), "workers_per_dc": args.workers,
        "timeout_ms": args.timeout_ms,
        "iterations": len(exact), "verified_iterations": len(verified),
        "wrong_sums": len(wrong), "wrong": wrong,
        "failed_iterations": len(failed),
        "failures_without_fault": sum(1 for f in failed if not f["faults"]),
        "faults_not_followed_by_an_exact_iteration": after_clear,
        "faults_injected": len(job.faults),
        "faults_by_kind": {k: sum(1 for f in job.faults if f["kind"] == k)
                           for k in sorted({f["kind"] for f in job.faults})},
        "corrupt_chunks_sent": sum(f.get("result", {}).get("sent", 0) for f in job.faults if f["kind"] == "burst"),
        "corrupt_chunks_accepted": accepted,
        "unexpected_exits": [dict(e, time=round(e["time"] - began, 2)) for e in job.unexpected],
        "policy_versions": versions, "policy_problems": version_problems,
        "iterations_mixing_versions": len(mixed),
        "rss_growth_max": max((r["rss_growth"] for r in res), default=None),
        "fd_growth_max": max((r["fds_end"] - r["fds_warm"] for r in res), default=None),
        "processes": res,
        "iteration_s_median": round(statistics.median(
            [max(a for _, a, _, _ in counted[t].values()) - min(b for _, _, b, _ in counted[t].values())
             for t in verified]), 3) if verified else None,
        "failures": failed,
        "faults": [{k: (round(v - began, 2) if k in ("start", "clear") else v) for k, v in f.items()}
                   for f in job.faults],
    }
    report["passed"] = bool(
        report["verified_iterations"] > 0 and not wrong and not job.unexpected and report["failures_without_fault"] == 0 and not after_clear
        and not version_problems and not mixed and accepted == 0 and res
        and report["rss_growth_max"] <= RSS_GROWTH_LIMIT and report["fd_growth_max"] <= FD_GROWTH_LIMIT)
    return report


def summary(r):
    return "\n".join([
        f"soak: {r['duration_s']:.0f} s, {r['dcs']} DCs x {r['workers_per_dc']} workers: "
        f"{r['iterations']} iterations exact ({r['verified_iterations']} verified on every worker), "
        f"{r['failed_iterations']} failed ({r['failures_without_fault']} without a fault), {r['wrong_sums']} wrong sums",
        f"soak: {r['faults_injected']} faults {r['faults_by_kind']}; after "
        f"{len(r['faults_not_followed_by_an_exact_iteration'])} of them the next iteration was not exact",
        f"soak: {len(r['unexpected_exits'])} processes exited on their own",
        f"soak: {len(r['policy_versions'])} policy versions decided, {len(r['policy_problems'])} problems, "
        f"{r['iterations_mixing_versions']} iterations mixing versions; corrupt chunks accepted "
        f"{r['corrupt_chunks_accepted']} of {r['corrupt_chunks_sent']}",
        f"soak: RSS growth at most {r['rss_growth_max']}x, open files {r['fd_growth_max']:+d} at most"
        if r["rss_growth_max"] is not None else "soak: no process lived long enough to sample",
        "soak: " + ("passed" if r["passed"] else "FAILED")])


def write(r, out, name, command):
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(r, f, indent=1)
    lines = [f"# Soak: {r['topology']} at {r['scale']}x, {r['dcs']} DCs x {r['workers_per_dc']} workers, "
             f"{r['duration_s'] / 60:.0f} minutes", "", f"`tests/soak/soak.py {command}`", "", "```",
             summary(r), "```", "", "| fault | count |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in r["faults_by_kind"].items()]
    lines += ["", "## Failed iterations", "", "| iteration | begun s | ended s | faults | workers failed | error |",
              "|---|---|---|---|---|---|"]
    for f in r["failures"]:
        kinds = ", ".join(r["faults"][i]["kind"] for i in f["faults"]) or "none"
        lines.append(f"| {f['iteration']} | {f['begun']} | {f['ended']} | {kinds} | {f['workers_failed']} | "
                     f"{f['error'][:120]} |")
    lines += ["", "## Policy versions", "", "| version | outcome | from iteration or reason |", "|---|---|---|"]
    lines += [f"| {v['version']} | {v['outcome']} | {v.get('from_iteration', v.get('reason'))} |"
              for v in r["policy_versions"]]
    lines += ["", "## Processes alive at the end", "", "RSS in kB and open files at start, after warm-up and at the end; "
              "growth is the end over after warm-up.", "",
              "| process | RSS start | RSS warm | RSS end | growth | files start | files warm | files end |",
              "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {p['process']} | {p['rss_kb_start']} | {p['rss_kb_warm']} | {p['rss_kb_end']} | {p['rss_growth']} | "
              f"{p['fds_start']} | {p['fds_warm']} | {p['fds_end']} |" for p in r["processes"]]
    with open(os.path.join(out, name + ".md"), "w") as f:
        f.write("\n".join(lines) + "\n")
