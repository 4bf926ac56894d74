#!/usr/bin/env python3
"""The Grafana dashboards in dashboards/, checked without Grafana:

  - their shape: at least 3 dashboards and 20 panels, unique uids and panel ids,
    the datasource/namespace variables everywhere (job and DC on the job dashboards),
    every panel with a described title and at least one query, every query on the
    dashboard's datasource variable;
  - types: each dashboard type-checks against @grafana/schema's Dashboard with tsc;
  - PromQL: every query (panels and annotations), with the template variables
    substituted, passes `promtool check rules`;
  - the node graph: its node query makes id, title and mainstat fields, its edge
    query id, source and target.

Usage: check_dashboards.py DASHBOARD_DIR TOOLS_DIR (.cache/tools, from scripts/tools.sh)
"""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

VARIABLES = {"$namespace": ".*", "$job": "job", "$dc": ".*", "$__rate_interval": "1m", "$__range": "5m",
             "$__interval": "15s"}


def substitute(expr, job="job"):
    """`expr` with the dashboards' template variables replaced (the job by `job`)."""
    for name, value in sorted(dict(VARIABLES, **{"$job": job}).items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(name, value)
    return expr


def queries(board):
    """(where, expr) of every query of a dashboard."""
    for panel in board["panels"]:
        for t in panel.get("targets", []):
            yield f'{board["title"]} / {panel["title"]} / {t["refId"]}', t["expr"]
    for a in board.get("annotations", {}).get("list", []):
        if "target" in a and "expr" in a["target"]:
            yield f'{board["title"]} / annotation {a["name"]}', a["target"]["expr"]


def check_shape(boards, failures):
    panels = sum(len(b["panels"]) for b in boards.values())
    if len(boards) < 3 or panels < 20:
        failures.append(f"{len(boards)} dashboards and {panels} panels; want at least 3 and 20")
    uids = [b["uid"] for b in boards.values()]
    if len(set(uids)) != len(uids):
        failures.append(f"uids repeat: {uids}")
    for name, b in boards.items():
        variables = [v["name"] for v in b["templating"]["list"]]
        want = ["datasource", "namespace"] + ([] if "operator" in name else ["job", "dc"])
        if variables != want:
            failures.append(f"{name}: variables {variables}, want {want}")
        ids = [p["id"] for p in b["panels"]]
        if len(set(ids)) != len(ids):
            failures.append(f"{name}: panel ids repeat")
        for p in b["panels"]:
            if not p.get("description") or not p.get("targets"):
                failures.append(f'{name} / {p["title"]}: no description or no query')
            for t in p.get("targets", []):
                if t.get("datasource", {}).get("uid") != "${datasource}":
                    failures.append(f'{name} / {p["title"]}: query {t["refId"]} not on the datasource variable')


def check_promql(boards, promtool, failures):
    rules = {"groups": [{"name": "dashboards", "rules": []}]}
    where = []
    for b in boards.values():
        for place, expr in queries(b):
            rules["groups"][0]["rules"].append({"record": f"dashboard:query_{len(where)}", "expr": substitute(expr)})
            where.append(place)
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        json.dump(rules, f)  # JSON is YAML
    out = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True)
    os.unlink(f.name)
    if out.returncode != 0:
        # promtool names the rule by its index: name the panel instead.
        text = re.sub(r"dashboard:query_(\d+)", lambda m: where[int(m.group(1))], out.stdout + out.stderr)
        failures.append("promtool refuses a query:\n" + text)
    return len(where)


def check_types(files, tools, failures):
    with tempfile.TemporaryDirectory(dir=tools) as work:
        for path in files:
            name = os.path.basename(path)[:-len(".json")].replace("-", "_")
            with open(os.path.join(work, name + ".ts"), "w") as ts:
                ts.write("import type { AnnotationQuery, Dashboard, DataQuery } from '@grafana/schema';\n"
                         "// Prometheus's query fields, which the schema leaves to each data source.\n"
                         "interface PromQuery extends DataQuery { expr: string; step?: string; titleFormat?: string }\n"
                         "type PrometheusDashboard = Omit<Dashboard, 'annotations'> & "
                         "{ annotations?: { list?: Array<AnnotationQuery<PromQuery>> } };\n"
                         f"export const {name}: PrometheusDashboard = ")
                ts.write(open(path).read())
                ts.write(";\n")
        with open(os.path.join(work, "tsconfig.json"), "w") as f:
            json.dump({"compilerOptions": {"strict": True, "noEmit": True, "moduleResolution": "bundler",
                                           "module": "esnext", "target": "es2020", "skipLibCheck": True,
                                           "typeRoots": [os.path.join(tools, "node_modules/@types")]},
                       "include": ["*.ts"]}, f)
        out = subprocess.run([os.path.join(tools, "node_modules/.bin/tsc"), "-p", work], capture_output=True,
                             text=True)
        if out.returncode != 0:
            failures.append("tsc against @grafana/schema:\n" + out.stdout + out.stderr)


def check_node_graph(boards, failures):
    found = False
    for b in boards.values():
        for p in b["panels"]:
            if p["type"] != "nodegraph":
                continue
            found = True
            renames = {}
            for t in p.get("transformations", []):
                renames.update(t.get("options", {}).get("renameByName", {}))
            for t in p["targets"]:
                # The labels label_replace(..., "dst", "$1", ...) and label_join(..., "dst", "-", ...) add.
                made = set(re.findall(r'"(\w+)",\s*"(?:\$1|-)"', t["expr"]))
                made |= {renames[k] for k in renames if k.endswith("#" + t["refId"])}
                want = {"nodes": {"id", "title", "mainstat"}, "edges": {"id", "source", "target", "mainstat"}}
                if t["refId"] not in want or not want[t["refId"]] <= made:
                    failures.append(f'{b["title"]} / {p["title"]}: query {t["refId"]} makes {sorted(made)}')
    if not found:
        failures.append("no node graph panel")


def main():
    directory, tools = sys.argv[1], os.path.abspath(sys.argv[2])
    files = sorted(glob.glob(os.path.join(directory, "*.json")))
    boards = {os.path.basename(f): json.load(open(f)) for f in files}
    failures = []
    check_shape(boards, failures)
    n = check_promql(boards, "promtool", failures)
    check_types(files, tools, failures)
    check_node_graph(boards, failures)
    if failures:
        print("FAIL:\n" + "\n".join(failures))
        return 1
    print(f"dashboards: {len(boards)} dashboards, {sum(len(b['panels']) for b in boards.values())} panels, "
          f"{n} queries: shape, types, PromQL and the node graph's fields check out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
