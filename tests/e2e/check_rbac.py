#!/usr/bin/env python3
"""RBAC is exact: what geostorm-operator did in each cluster of the e2e run (the API
emulators' audit, by User-Agent) against what the chart grants it, both ways.

  - every verb on every resource the operator used is granted;
  - nothing granted went unused (a grant only a path the run did not take needs
    would show up here: it is listed in RARE with the reason).

Usage: check_rbac.py HELM CHART HOST_STATS MEMBER_STATS...
"""
import json
import subprocess
import sys

import yaml

# Grants the e2e run does not exercise, each with why the operator needs it.
NAMESPACE = "the job's namespace is made, by server-side apply, in a cluster that lacks it (patch; create when new)"
POLICY = ("a member chart does not know how the host runs: without live controllers "
          "(operator.control.enabled=false, which the e2e run does not use) each DC's policy is a ConfigMap")
RARE = {
    "host": {"create core namespaces": NAMESPACE, "patch core namespaces": NAMESPACE},
    "member": {"create core namespaces": NAMESPACE, "patch core namespaces": NAMESPACE,
               "create core configmaps": POLICY, "patch core configmaps": POLICY, "delete core configmaps": POLICY},
}


def grants(rendered, kinds):
    out = set()
    for doc in yaml.safe_load_all(rendered):
        if not doc or doc.get("kind") not in kinds:
            continue
        for rule in doc["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        out.add(f"{verb} {group or 'core'} {resource}")
    return out


def used(stats_files):
    out = set()
    for path in stats_files:
        audit = json.load(open(path)).get("audit", {})
        out |= set(audit.get("geostorm-operator", {}))
    return out  # the emulator counts a server-side apply that creates as create too


def render(helm, chart, *flags):
    return subprocess.run([helm, "template", "geostorm", chart, "-n", "geostorm-system", *flags], check=True,
                          capture_output=True, text=True).stdout


def compare(name, granted, operator_used, failures, also_used=frozenset()):
    for u in sorted(operator_used - granted):
        failures.append(f"{name}: the operator did '{u}', which the chart does not grant")
    for g in sorted(granted - operator_used - also_used - set(RARE[name])):
        failures.append(f"{name}: the chart grants '{g}', which the operator never used")
    return len(operator_used)


def main():
    helm, chart, host_stats, member_stats = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    failures = []
    members_used = used(member_stats)
    # A DC may run in the host cluster itself: the host grants what members need as well.
    n = compare("host", grants(render(helm, chart), {"ClusterRole", "Role"}), used([host_stats]), failures,
                members_used)
    m = compare("member", grants(render(helm, chart, "--set", "mode=member"), {"ClusterRole"}), members_used,
                failures)
    if failures:
        print("FAIL:\n" + "\n".join(failures))
        return 1
    print(f"RBAC exact: {n} verbs used in the host and {m} in the members, each granted, and nothing else granted "
          f"but {sum(len(r) for r in RARE.values())} documented rare paths")
    return 0


if __name__ == "__main__":
    sys.exit(main())
