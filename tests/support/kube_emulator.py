#!/usr/bin/env python3
"""A Kubernetes API emulator for tests: the real HTTP protocol, one process per cluster.

It serves what geostorm-operator and the real `kubectl` use: discovery, CRUD on any
built-in or custom resource, resourceVersion with 409 Conflict, merge/apply patches,
the status subresource, watch with bookmarks and 410 for a compacted resourceVersion,
label selectors, pagination, CRD registration with OpenAPI v3 schema validation, and
Table output with a CRD's printer columns.

Simplifications (documented in docs/operator.md): server-side apply merges the applied
object into the stored one (no managedFields); a strategic-merge patch is applied as a
JSON merge patch; CEL rules (x-kubernetes-validations) are not evaluated; no OpenAPI
document is only what kubectl needs to choose server-side field validation.

Test hooks under /debug: `stats` (request counts by method and path, and an audit:
by client (the User-Agent's product), the RBAC verbs and resources it used), `compact`
(drop the watch history, so older resourceVersions get 410), `fail` (make the next N
matching requests fail with a status code, for retry tests; `stats` says how many
injected failures are still to come).

Usage: kube_emulator.py [--port 0] [--port-file F] [--token-file F]
                        [--tls-cert F --tls-key F [--tls-client-ca F]] [--split-events] [--bookmark-s S]
"""

import argparse
import base64
import json
import os
import queue
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import yaml

import kube_protobuf
from kube_store import ApiError, Store, age, audit_verb, deep_merge, json_path, merge_patch, parse_field_selector, parse_selector


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One send per response (headers and body together) and no Nagle: otherwise the
    # body waits for the client's delayed ACK of the headers, about 40 ms a request.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    store: Store = None
    options = None

    def log_message(self, fmt, *args):
        if self.options.verbose:
            sys.stderr.write("emulator: " + fmt % args + "\n")

    def do_GET(self):
        self.handle_request("GET")

    def do_POST(self):
        self.handle_request("POST")

    def do_PUT(self):
        self.handle_request("PUT")

    def do_PATCH(self):
        self.handle_request("PATCH")

    def do_DELETE(self):
        self.handle_request("DELETE")

    def send_json(self, code, body, headers=None):
        data = json.dumps(body, ensure_ascii=False).encode()  # non-ASCII values as they are, as an API server does
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        raw = self.raw_body
        if not raw:
            return None
        ctype = self.headers.get("Content-Type", "")
        try:
            if "protobuf" in ctype:
                return kube_protobuf.decode(raw)
            if "yaml" in ctype:
                return yaml.safe_load(raw.decode())
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as e:
            raise ApiError(400, "BadRequest", f"the request body could not be decoded: {e}")

    def handle_request(self, method):
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        # Read whole before anything can refuse the request, so that the connection
        # stays in step: an unread body would be taken for the next request.
        length = int(self.headers.get("Content-Length") or 0)
        self.raw_body = self.rfile.read(length) if length else b""
        try:
            self.authorize()
            self.inject_failure(method, url.path)
            if url.path.startswith("/debug/"):
                return self.debug(method, url.path, query)
            key = f"{method} {url.path}"
            verb = audit_verb(method, url.path, query)
            with self.store.lock:
                self.store.stats[key] = self.store.stats.get(key, 0) + 1
            if verb:
                self.audit(verb)
            Store.local.field_validation = query.get("fieldValidation", "")
            self.route(method, url.path, query)
        except ApiError as e:
            if method != "GET" or e.code != 404:
                self.log_message("%s %s -> %d %s", method, self.path, e.code, e.message)
            try:
                self.send_json(e.code, e.status(), {"Retry-After": "1"} if e.code == 429 else None)
            except (BrokenPipeError, ConnectionResetError):
                pass
        except (BrokenPipeError, ConnectionResetError):
            pass

    def audit(self, verb):
        """Counts an RBAC verb for this request's client (its User-Agent's product)."""
        agent = self.headers.get("User-Agent", "").split("/")[0]
        with self.store.lock:
            audit = self.store.audit.setdefault(agent, {})
            audit[verb] = audit.get(verb, 0) + 1

    def authorize(self):
        if not self.options.token_file:
            return
        with open(self.options.token_file) as f:
            token = f.read().strip()
        if self.headers.get("Authorization", "") != f"Bearer {token}":
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def inject_failure(self, method, path):
        if path.startswith("/debug/"):
            return
        with self.store.lock:
            for f in self.store.failures:
                code, remaining, m, prefix = f
                if remaining > 0 and (not m or m == method) and path.startswith(prefix):
                    f[1] -= 1
                    raise ApiError(code, {409: "Conflict", 429: "TooManyRequests"}.get(code, "InternalError"),
                                   f"injected failure {code}")

    def debug(self, method, path, query):
        if path == "/debug/stats":
            with self.store.lock:
                return self.send_json(200, {"requests": self.store.stats, "audit": self.store.audit,
                                            "resourceVersion": self.store.rv,
                                            "failuresLeft": sum(f[1] for f in self.store.failures)})
        if path == "/debug/compact":
            self.store.compact()
            return self.send_json(200, {"compacted": self.store.compacted})
        if path == "/debug/fail":
            with self.store.lock:
                self.store.failures.append([int(query["code"]), int(query.get("count", 1)),
                                            query.get("method", ""), query.get("path", "/")])
            return self.send_json(200, {})
        raise ApiError(404, "NotFound", path)

    # -- discovery

    def route(self, method, path, query):
        parts = [p for p in path.split("/") if p]
        if path in ("/version", "/version/"):
            return self.send_json(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0-geostorm-emulator",
                                        "platform": "linux/amd64"})
        if path in ("/healthz", "/readyz", "/livez"):
            return self.send_raw(200, b"ok", "text/plain")
        if path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                                        "serverAddress": "127.0.0.1"}]})
        if path == "/apis":
            return self.send_json(200, self.group_list())
        if parts[:2] == ["openapi", "v3"]:
            return self.send_json(200, self.openapi(parts[2:]))
        if parts[:1] == ["api"] and len(parts) == 2:
            return self.send_json(200, self.resource_list("", parts[1]))
        if parts[:1] == ["apis"] and len(parts) == 2:
            group = self.group_list()["groups"]
            match = [g for g in group if g["name"] == parts[1]]
            if not match:
                raise ApiError(404, "NotFound", f"group {parts[1]} not found")
            return self.send_json(200, dict(match[0], kind="APIGroup", apiVersion="v1"))
        if parts[:1] == ["apis"] and len(parts) == 3:
            return self.send_json(200, self.resource_list(parts[1], parts[2]))
        return self.resource(method, parts, query)

    def openapi(self, gv_parts):
        """Just enough OpenAPI v3 for kubectl: that PATCH takes fieldValidation (so it
        asks for server-side strict validation), and, for `kubectl explain`, each custom
        kind's schema under components.schemas, tagged with its group, version and kind."""
        with self.store.lock:
            kinds = list(self.store.kinds.values())
        if not gv_parts:
            paths = {}
            for k in kinds:
                prefix = f"apis/{k.group}/{k.version}" if k.group else f"api/{k.version}"
                paths[prefix] = {"serverRelativeURL": f"/openapi/v3/{prefix}?hash={self.store.rv}"}
            return {"paths": paths}
        group, version = ("", gv_parts[1]) if gv_parts[0] == "api" else (gv_parts[1], gv_parts[2])
        paths = {}
        for k in kinds:
            if (k.group, k.version) != (group, version):
                continue
            prefix = f"/apis/{k.group}/{k.version}" if k.group else f"/api/{k.version}"
            scope = "/namespaces/{namespace}" if k.namespaced else ""
            paths[f"{prefix}{scope}/{k.plural}/{{name}}"] = {"patch": {
                "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}}
                               for n in ("dryRun", "fieldManager", "fieldValidation", "force")],
                "responses": {},
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {"group": k.group, "version": k.version, "kind": k.kind}}}
        schemas = {}
        for k in kinds:
            if (k.group, k.version) == (group, version) and k.schema:
                name = ".".join(reversed(k.group.split("."))) + f".{k.version}.{k.kind}"
                schemas[name] = dict(k.schema, **{"x-kubernetes-group-version-kind": [
                    {"group": k.group, "version": k.version, "kind": k.kind}]})
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": paths,
                "components": {"schemas": schemas}}

    def send_raw(self, code, data, ctype):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def group_list(self):
        groups = {}
        with self.store.lock:
            for kind in self.store.kinds.values():
                if kind.group:
                    groups.setdefault(kind.group, set()).add(kind.version)
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in sorted(vs)],
             "preferredVersion": {"groupVersion": f"{g}/{sorted(vs)[-1]}", "version": sorted(vs)[-1]}}
            for g, vs in sorted(groups.items())]}

    def resource_list(self, group, version):
        resources = []
        with self.store.lock:
            kinds = [k for k in self.store.kinds.values() if k.group == group and k.version == version]
        if not kinds:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({group}/{version})")
        verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        for k in kinds:
            resources.append({"name": k.plural, "singularName": k.singular, "namespaced": k.namespaced,
                              "kind": k.kind, "verbs": verbs, "shortNames": k.short,
                              "categories": k.categories})
            if k.status:
                resources.append({"name": f"{k.plural}/status", "singularName": "", "namespaced": k.namespaced,
                                  "kind": k.kind, "verbs": ["get", "patch", "update"]})
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": kinds[0].group_version,
                "resources": resources}

    # -- resources

    def resource(self, method, parts, query):
        # /api/v1[/namespaces/NS]/PLURAL[/NAME[/SUB]] or /apis/G/V[/namespaces/NS]/PLURAL[/NAME[/SUB]]
        if parts[:1] == ["api"]:
            group, rest = "", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) > 3:
            group, rest = parts[1], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces" and (group, rest[2]) in self.store.kinds:
            ns, rest = rest[1], rest[2:]
        kind = self.store.kinds.get((group, rest[0]))
        if kind is None:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource ({rest[0]})")
        if ns is not None and not kind.namespaced:
            raise ApiError(404, "NotFound", f"{kind.plural} is cluster-scoped")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub not in (None, "status") or (sub == "status" and not kind.status):
            raise ApiError(404, "NotFound", f"{kind.plural}/{sub}: no such subresource")
        if kind.namespaced and ns is None and method not in ("GET",):
            raise ApiError(405, "MethodNotAllowed", f"{kind.plural} is namespaced: the URL needs a namespace")
        dry_run = query.get("dryRun") == "All"
        if method == "GET" and name is None:
            if query.get("watch") in ("true", "1"):
                return self.watch(kind, ns, query)
            return self.list(kind, ns, query)
        if method == "GET":
            obj = self.store.get(kind, ns, name)
            return self.send_object(kind, obj)
        if method == "POST" and name is None:
            obj = self.body_for(kind)
            return self.send_json(201, self.store.create(kind, ns, obj, dry_run))
        if method == "PUT" and name:
            obj = self.body_for(kind)
            return self.send_json(200, self.store.update(kind, ns, name, obj, sub, dry_run=dry_run))
        if method == "PATCH" and name:
            return self.patch(kind, ns, name, sub, query, dry_run)
        if method == "DELETE" and name:
            return self.send_json(200, self.store.delete(kind, ns, name))
        if method == "DELETE":
            items, _ = self.store.list(kind, ns, parse_selector(query.get("labelSelector")),
                                       parse_field_selector(query.get("fieldSelector")))
            for o in items:
                self.store.delete(kind, o["metadata"].get("namespace"), o["metadata"]["name"])
            return self.send_json(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})
        raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed here")

    def body_for(self, kind):
        obj = self.read_body()
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the request body is not an object")
        want = obj.get("kind")
        if want and want != kind.kind:
            raise ApiError(400, "BadRequest", f"the body's kind {want} does not match {kind.kind}")
        return obj

    def patch(self, kind, ns, name, sub, query, dry_run):
        ctype = self.headers.get("Content-Type", "")
        patch = self.read_body()
        if not isinstance(patch, dict):
            raise ApiError(400, "BadRequest", "the patch is not an object")
        with self.store.lock:
            if "apply-patch" in ctype:
                if not query.get("fieldManager"):
                    raise ApiError(400, "BadRequest", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: "
                                                      "Required value: is required for apply patch")
                try:
                    current = self.store.get(kind, ns, name)
                except ApiError as e:
                    if e.code != 404 or sub:
                        raise
                    patch.setdefault("metadata", {})["name"] = name
                    self.audit(f"create {kind.group or 'core'} {kind.plural}")  # RBAC asks for create too
                    return self.send_json(201, self.store.create(kind, ns, patch, dry_run))
                patch.get("metadata", {}).pop("resourceVersion", None)
                merged = deep_merge(current, patch)
            elif "json-patch" in ctype:
                raise ApiError(415, "UnsupportedMediaType", "json-patch is not emulated")
            else:
                current = self.store.get(kind, ns, name)
                merged = merge_patch(current, patch)
            if "resourceVersion" not in patch.get("metadata", {}):
                merged["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            return self.send_json(200, self.store.update(kind, ns, name, merged, sub, dry_run=dry_run))

    def send_object(self, kind, obj):
        if "as=Table" in self.headers.get("Accept", ""):
            return self.send_json(200, self.table(kind, [obj], str(self.store.rv)))
        return self.send_json(200, obj)

    def list(self, kind, ns, query):
        items, rv = self.store.list(kind, ns, parse_selector(query.get("labelSelector")),
                                    parse_field_selector(query.get("fieldSelector")))
        start = 0
        if query.get("continue"):
            try:
                rv, start = base64.b64decode(query["continue"]).decode().split(":")
                start = int(start)
            except ValueError:
                raise ApiError(400, "BadRequest", "invalid continue token")
        limit = int(query.get("limit") or 0)
        page = items[start:start + limit] if limit else items[start:]
        meta = {"resourceVersion": rv}
        if limit and start + limit < len(items):
            meta["continue"] = base64.b64encode(f"{rv}:{start + limit}".encode()).decode()
            meta["remainingItemCount"] = len(items) - start - limit
        if "as=Table" in self.headers.get("Accept", ""):
            table = self.table(kind, page, rv)
            table["metadata"].update(meta)
            return self.send_json(200, table)
        self.send_json(200, {"kind": f"{kind.kind}List", "apiVersion": kind.group_version,
                             "metadata": meta, "items": page})

    def table(self, kind, items, rv):
        columns = [{"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}]
        for c in kind.columns:
            columns.append({"name": c["name"], "type": c.get("type", "string"), "format": c.get("format", ""),
                            "description": c.get("description", ""), "priority": c.get("priority", 0)})
        if not any(c.get("jsonPath") == ".metadata.creationTimestamp" for c in kind.columns):
            columns.append({"name": "Age", "type": "date", "format": "", "description": "", "priority": 0})
        rows = []
        for o in items:
            cells = [o["metadata"]["name"]]
            for c in kind.columns:
                value = json_path(o, c["jsonPath"])
                if c["jsonPath"] == ".metadata.creationTimestamp":
                    value = age(value)
                cells.append(value if value is not None else None)
            if len(cells) < len(columns):
                cells.append(age(o["metadata"].get("creationTimestamp")))
            rows.append({"cells": cells, "object": {"kind": "PartialObjectMetadata",
                                                    "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}})
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv},
                "columnDefinitions": columns, "rows": rows}

    def watch(self, kind, ns, query):
        since = query.get("resourceVersion")
        since = None if since in (None, "", "0") else int(since)
        pred = parse_selector(query.get("labelSelector"))
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        timeout = float(query.get("timeoutSeconds") or 1800)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            q, entry = self.store.watch(kind, ns, pred, since)
        except ApiError as e:
            self.write_event({"type": "ERROR", "object": e.status()})
            return self.end_chunks()
        deadline = time.time() + timeout
        last = since or 0
        next_bookmark = time.time() + self.options.bookmark_s
        try:
            while time.time() < deadline:
                try:
                    event = q.get(timeout=max(0.01, min(next_bookmark, deadline) - time.time()))
                    last = int(event["object"]["metadata"]["resourceVersion"])
                    self.write_event(event)
                except queue.Empty:
                    if bookmarks and time.time() >= next_bookmark:
                        next_bookmark = time.time() + self.options.bookmark_s
                        with self.store.lock:
                            rv = max(last, self.store.rv)
                        self.write_event({"type": "BOOKMARK", "object": {
                            "kind": kind.kind, "apiVersion": kind.group_version,
                            "metadata": {"resourceVersion": str(rv),
                                         "annotations": {"k8s.io/initial-events-end": "true"}}}})
            self.end_chunks()
        finally:
            self.store.unwatch(entry)

    def write_event(self, event):
        data = (json.dumps(event) + "\n").encode()
        pieces = [data]
        if self.options.split_events and len(data) > 3:
            third = len(data) // 3
            pieces = [data[:third], data[third:2 * third], data[2 * third:]]
        for piece in pieces:
            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.flush()
            if len(pieces) > 1:
                time.sleep(0.002)

    def end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument("--token-file", help="require 'Authorization: Bearer <contents>' (re-read per request)")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--tls-client-ca", help="require client certificates signed by this CA")
    parser.add_argument("--split-events", action="store_true", help="send every watch event in three chunks")
    parser.add_argument("--bookmark-s", type=float, default=1.0)
    parser.add_argument("--history", type=int, default=100000, help="watch events kept before compaction")
    parser.add_argument("--verbose", action="store_true")
    options = parser.parse_args()

    Handler.store = Store(options.history)
    Handler.options = options
    server = ThreadingHTTPServer(("127.0.0.1", options.port), Handler)
    server.daemon_threads = True
    if options.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(options.tls_cert, options.tls_key)
        if options.tls_client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(options.tls_client_ca)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    if options.port_file:
        with open(options.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.rename(options.port_file + ".tmp", options.port_file)
    print(f"listening on {port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
