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

Test hooks under /debug: `stats` (request counts by verb and resource), `compact`
(drop the watch history, so older resourceVersions get 410), `fail` (make the next N
matching requests fail with a status code, for retry tests).

Usage: kube_emulator.py [--port 0] [--port-file F] [--token-file F]
                        [--tls-cert F --tls-key F [--tls-client-ca F]] [--split-events] [--bookmark-s S]
"""

import argparse
import base64
import copy
import json
import os
import queue
import re
import ssl
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import yaml


def now_rfc3339():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    def __init__(self, code, reason, message, causes=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.causes = code, reason, message, causes

    def status(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.causes:
            body["details"] = {"causes": self.causes}
        return body


# A resource type: where it lives in the URL space and how it behaves.
class Kind:
    def __init__(self, group, version, plural, kind, namespaced, short=(), status=False,
                 schema=None, columns=(), singular=None, categories=()):
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.namespaced, self.short, self.status = namespaced, list(short), status
        self.schema, self.columns = schema, list(columns)
        self.singular = singular or kind.lower()
        self.categories = list(categories)

    @property
    def group_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version


BUILTIN = [
    Kind("", "v1", "namespaces", "Namespace", False, ["ns"], True),
    Kind("", "v1", "pods", "Pod", True, ["po"], True),
    Kind("", "v1", "services", "Service", True, ["svc"], True),
    Kind("", "v1", "secrets", "Secret", True),
    Kind("", "v1", "configmaps", "ConfigMap", True, ["cm"]),
    Kind("", "v1", "serviceaccounts", "ServiceAccount", True, ["sa"]),
    Kind("", "v1", "events", "Event", True, ["ev"]),
    Kind("batch", "v1", "jobs", "Job", True, [], True),
    Kind("apps", "v1", "deployments", "Deployment", True, ["deploy"], True),
    Kind("coordination.k8s.io", "v1", "leases", "Lease", True),
    Kind("events.k8s.io", "v1", "events", "Event", True, ["ev"]),
    Kind("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    Kind("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    Kind("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    Kind("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    Kind("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
         False, ["crd", "crds"], True),
]

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


# ---------------------------------------------------------------- schema validation

def type_name(value):
    # bool before int: in Python a bool is an int.
    for python_type, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                              (list, "array"), (dict, "object")):
        if isinstance(value, python_type):
            return name
    return "null"


def go_value(value):
    return json.dumps(value, separators=(",", ":"))


def validate(schema, value, path, errors, unknown):
    """Checks `value` against a structural schema like the API server; appends errors."""
    if value is None:
        if not schema.get("nullable"):
            errors.append((path, f"{path}: Invalid value: \"null\": {path} in body must be of type "
                                 f"{schema.get('type', 'object')}: \"null\""))
        return
    want = schema.get("type")
    got = type_name(value)
    if schema.get("x-kubernetes-int-or-string"):
        want = None if got in ("integer", "string") else "integer"
    if want and not (got == want or (want == "number" and got == "integer")):
        errors.append((path, f"{path}: Invalid value: \"{got}\": {path} in body must be of type "
                             f"{want}: \"{got}\""))
        return
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(go_value(v) for v in schema["enum"])
        errors.append((path, f"{path}: Unsupported value: {go_value(value)}: supported values: {allowed}"))
    if got in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append((path, f"{path}: Invalid value: {value}: {path} in body should be greater "
                                 f"than or equal to {schema['minimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append((path, f"{path}: Invalid value: {value}: {path} in body should be less "
                                 f"than or equal to {schema['maximum']}"))
    if got == "string":
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append((path, f"{path}: Invalid value: {go_value(value)}: {path} in body should be "
                                 f"at least {schema['minLength']} chars long"))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append((path, f"{path}: Too long: may not be longer than {schema['maxLength']}"))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append((path, f"{path}: Invalid value: {go_value(value)}: {path} in body should "
                                 f"match '{schema['pattern']}'"))
    if got == "array":
        validate_array(schema, value, path, errors, unknown)
    if got == "object":
        validate_object(schema, value, path, errors, unknown)


def validate_array(schema, value, path, errors, unknown):
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append((path, f"{path}: Invalid value: {len(value)}: {path} in body should have at "
                             f"least {schema['minItems']} items"))
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append((path, f"{path}: Too many: {len(value)}: must have at most "
                             f"{schema['maxItems']} items"))
    items = schema.get("items", {})
    for i, item in enumerate(value):
        validate(items, item, f"{path}[{i}]", errors, unknown)
    list_type = schema.get("x-kubernetes-list-type")
    seen = set()
    for i, item in enumerate(value):
        if list_type == "map" and isinstance(item, dict):
            key = tuple(json.dumps(item.get(k)) for k in schema.get("x-kubernetes-list-map-keys", []))
        elif list_type == "set":
            key = json.dumps(item, sort_keys=True)
        else:
            continue
        if key in seen:
            errors.append((f"{path}[{i}]", f"{path}[{i}]: Duplicate value: {go_value(item)}"))
        seen.add(key)


def validate_object(schema, value, path, errors, unknown):
    props = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            req = f"{path}.{name}" if path else name
            errors.append((req, f"{req}: Required value"))
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        child = f"{path}.{key}" if path else key
        if key in props:
            validate(props[key], item, child, errors, unknown)
        elif isinstance(extra, dict):
            validate(extra, item, child, errors, unknown)
        elif not schema.get("x-kubernetes-preserve-unknown-fields") and props:
            unknown.append(child)
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        errors.append((path, f"{path}: Invalid value: {len(value)}: {path} in body should have at "
                             f"least {schema['minProperties']} properties"))


def apply_defaults(schema, value):
    """Sets the schema's `default` on absent fields of objects that are present."""
    if isinstance(value, dict):
        for key, prop in schema.get("properties", {}).items():
            if key not in value and "default" in prop:
                value[key] = copy.deepcopy(prop["default"])
            if key in value:
                apply_defaults(prop, value[key])
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            apply_defaults(schema["items"], item)


def prune(schema, value):
    """Drops fields the schema does not declare, as the API server does by default."""
    if isinstance(value, dict) and schema.get("type") == "object":
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return
        for key in list(value):
            if key in props:
                prune(props[key], value[key])
            elif isinstance(extra, dict):
                prune(extra, value[key])
            elif props:
                del value[key]
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            prune(schema["items"], item)


# ---------------------------------------------------------------- selectors and patches

def parse_selector(text):
    """A label selector as a predicate over a labels dict."""
    clauses = []
    for part in re.findall(r"[^,(]+(?:\([^)]*\))?", text or ""):
        part = part.strip().strip(",").strip()
        if not part:
            continue
        m = re.match(r"^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$", part)
        if m:
            values = {v.strip() for v in m.group(3).split(",")}
            key, neg = m.group(1), m.group(2) == "notin"
            clauses.append(lambda l, k=key, vs=values, n=neg: (l.get(k) in vs) != n)
            continue
        m = re.match(r"^([\w./-]+)\s*(==|!=|=)\s*([\w./-]*)$", part)
        if m:
            key, op, val = m.groups()
            clauses.append(lambda l, k=key, v=val, n=(op == "!="): (l.get(k) == v) != n)
            continue
        m = re.match(r"^(!?)([\w./-]+)$", part)
        if not m:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {part!r}")
        clauses.append(lambda l, k=m.group(2), n=bool(m.group(1)): (k in l) != n)
    return lambda labels: all(c(labels or {}) for c in clauses)


def parse_field_selector(text):
    clauses = []
    for part in (text or "").split(","):
        if not part:
            continue
        m = re.match(r"^([\w.]+)(==|!=|=)(.*)$", part)
        if not m:
            raise ApiError(400, "BadRequest", f"invalid field selector: {part!r}")
        path, op, val = m.groups()
        clauses.append((path.split("."), val, op == "!="))

    def match(obj):
        for path, val, neg in clauses:
            cur = obj
            for p in path:
                cur = cur.get(p) if isinstance(cur, dict) else None
            if ((cur if cur is not None else "") == val) == neg:
                return False
        return True
    return match


def merge_patch(target, patch):
    """RFC 7386, ignoring strategic-merge directives (keys starting with '$')."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def deep_merge(stored, applied):
    """Server-side apply, simplified: applied fields win; fields only stored are kept."""
    if not (isinstance(stored, dict) and isinstance(applied, dict)):
        return copy.deepcopy(applied)
    result = copy.deepcopy(stored)
    for key, value in applied.items():
        result[key] = deep_merge(stored.get(key), value)
    return result


def json_path(obj, path):
    """A printer column's JSONPath: dotted fields, [index], and [?(@.field=="value")]."""
    cur = obj
    for part in re.findall(r'(?:[^.\[]+|\[\d+\]|\[\?\(@\.\w+=="[^"]*"\)\])+', path):
        f = re.match(r'^(\w*)\[\?\(@\.(\w+)=="([^"]*)"\)\]$', part)
        if f:
            cur = cur.get(f.group(1)) if isinstance(cur, dict) else None
            hits = [i for i in cur or [] if isinstance(i, dict) and i.get(f.group(2)) == f.group(3)]
            cur = hits[0] if hits else None
            continue
        m = re.match(r"^(\w+)\[(\d+)\]$", part)
        if m:
            cur = cur.get(m.group(1)) if isinstance(cur, dict) else None
            cur = cur[int(m.group(2))] if isinstance(cur, list) and int(m.group(2)) < len(cur) else None
        else:
            cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


def age(timestamp):
    try:
        then = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return "<unknown>"
    s = int((datetime.now(timezone.utc) - then).total_seconds())
    return f"{s}s" if s < 120 else f"{s // 60}m" if s < 7200 else f"{s // 3600}h"


# ---------------------------------------------------------------- the store

class Store:
    """Every object of one emulated cluster, with a watch history. Thread-safe."""

    def __init__(self, history):
        self.lock = threading.RLock()
        self.kinds = {}          # (group, plural) -> Kind
        self.objects = {}        # (group, plural) -> {(namespace, name): object}
        self.rv = 1
        self.history = []        # (rv, group, plural, type, object)
        self.max_history = history
        self.compacted = 0
        self.watchers = []       # (group, plural, namespace, predicate, queue)
        self.stats = {}
        self.failures = []       # [code, remaining, method, path prefix]
        for kind in BUILTIN:
            self.register(kind)
        for ns in ("default", "kube-system", "kube-public"):
            self.create(self.kinds[("", "namespaces")], None, {"metadata": {"name": ns}})

    def register(self, kind):
        with self.lock:
            self.kinds[(kind.group, kind.plural)] = kind
            self.objects.setdefault((kind.group, kind.plural), {})

    def unregister(self, group, plural):
        with self.lock:
            self.kinds.pop((group, plural), None)
            for obj in list(self.objects.pop((group, plural), {}).values()):
                self.emit(group, plural, "DELETED", obj)

    def next_rv(self):
        self.rv += 1
        return str(self.rv)

    def emit(self, group, plural, event_type, obj):
        rv = int(obj["metadata"]["resourceVersion"])
        self.history.append((rv, group, plural, event_type, copy.deepcopy(obj)))
        if len(self.history) > self.max_history:
            dropped = self.history.pop(0)
            self.compacted = dropped[0]
        for g, p, ns, pred, q in list(self.watchers):
            if (g, p) == (group, plural) and (ns is None or obj["metadata"].get("namespace") == ns) \
                    and pred(obj):
                q.put({"type": event_type, "object": obj})

    def compact(self):
        with self.lock:
            if self.history:
                self.compacted = self.history[-1][0]
            self.history = []

    def get(self, kind, ns, name):
        obj = self.objects[(kind.group, kind.plural)].get((ns or "", name))
        if obj is None:
            raise ApiError(404, "NotFound", f'{kind.plural}{"." + kind.group if kind.group else ""} '
                                            f'"{name}" not found')
        return obj

    def check_namespace(self, kind, ns):
        if kind.namespaced and ("", ns) not in self.objects[("", "namespaces")]:
            raise ApiError(404, "NotFound", f'namespaces "{ns}" not found')

    def create(self, kind, ns, obj, dry_run=False):
        with self.lock:
            meta = obj.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            name = meta.get("name", "")
            if not name:
                raise ApiError(422, "Invalid", f"{kind.kind} \"\" is invalid: metadata.name: Required value: "
                                               "name or generateName is required")
            if kind.namespaced:
                meta["namespace"] = ns
            self.check_namespace(kind, ns)
            store = self.objects[(kind.group, kind.plural)]
            if (ns or "", name) in store:
                raise ApiError(409, "AlreadyExists", f'{kind.plural}{"." + kind.group if kind.group else ""} '
                                                     f'"{name}" already exists')
            obj["apiVersion"], obj["kind"] = kind.group_version, kind.kind
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            meta["generation"] = 1
            self.admit(kind, None, obj)
            if dry_run:
                return obj
            meta["resourceVersion"] = self.next_rv()
            store[(ns or "", name)] = obj
            self.emit(kind.group, kind.plural, "ADDED", obj)
            self.after_write(kind, obj)
            return obj

    def admit(self, kind, old, obj):
        """Defaulting and validation, as the API server's admission chain does."""
        name = obj["metadata"]["name"]
        if not DNS_SUBDOMAIN.match(name) or len(name) > 253:
            raise ApiError(422, "Invalid", f'{kind.kind}.{kind.group} "{name}" is invalid: metadata.name: '
                                           f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must '
                                           "consist of lower case alphanumeric characters, '-' or '.'")
        if kind.plural == "services" and kind.group == "":
            spec = obj.setdefault("spec", {})
            if old is not None and "clusterIP" in old.get("spec", {}):
                spec.setdefault("clusterIP", old["spec"]["clusterIP"])
            spec.setdefault("clusterIP", f"10.96.{self.rv // 250 % 250}.{self.rv % 250 + 1}")
            spec.setdefault("type", "ClusterIP")
        if kind.plural == "pods" and kind.group == "" and old is not None:
            if old.get("spec") != obj.get("spec"):
                raise ApiError(422, "Invalid", f'Pod "{name}" is invalid: spec: Forbidden: pod updates may '
                                               "not change fields other than `spec.containers[*].image`, ...")
        if kind.plural == "pods" and old is None:
            obj.setdefault("status", {"phase": "Pending"})
        if kind.schema is not None:
            self.validate_custom(kind, obj)

    def validate_custom(self, kind, obj):
        errors, unknown = [], []
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        apply_defaults(kind.schema, body)
        validate(kind.schema, body, "", errors, unknown)
        strict = getattr(self.local, "field_validation", "") == "Strict"
        if unknown and strict:
            fields = ", ".join(f'unknown field "{u}"' for u in unknown)
            raise ApiError(400, "BadRequest", f"strict decoding error: {fields}")
        if errors:
            name = obj["metadata"]["name"]
            causes = [{"reason": "FieldValueInvalid", "message": m[len(p) + 2:], "field": p}
                      for p, m in errors]
            message = errors[0][1] if len(errors) == 1 else "[" + ", ".join(m for _, m in errors) + "]"
            raise ApiError(422, "Invalid", f'{kind.kind}.{kind.group} "{name}" is invalid: {message}', causes)
        prune(kind.schema, body)
        for key in [k for k in obj if k not in ("apiVersion", "kind", "metadata")]:
            if key in body:
                obj[key] = body[key]
            else:
                del obj[key]

    local = threading.local()

    def update(self, kind, ns, name, obj, subresource=None, check_rv=True, dry_run=False):
        with self.lock:
            old = self.get(kind, ns, name)
            meta = obj.setdefault("metadata", {})
            want_rv = meta.get("resourceVersion")
            if check_rv and want_rv and want_rv != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {kind.plural}'
                                                f'{"." + kind.group if kind.group else ""} "{name}": the object '
                                                "has been modified; please apply your changes to the latest "
                                                "version and try again")
            new = copy.deepcopy(old)
            if subresource == "status":
                new["status"] = obj.get("status")
            else:
                for key in ("labels", "annotations", "finalizers", "ownerReferences"):
                    if key in meta:
                        new["metadata"][key] = meta[key]
                    else:
                        new["metadata"].pop(key, None)
                for key in [k for k in new if k not in ("apiVersion", "kind", "metadata", "status")]:
                    del new[key]
                for key, value in obj.items():
                    if key not in ("apiVersion", "kind", "metadata") and not (key == "status" and kind.status):
                        new[key] = value
                body = lambda o: {k: v for k, v in o.items() if k not in ("metadata", "status")}
                if body(new) != body(old):
                    new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
                self.admit(kind, old, new)
            if new == old:
                return old
            if dry_run:
                return new
            new["metadata"]["resourceVersion"] = self.next_rv()
            if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
                return self.remove(kind, new)
            self.objects[(kind.group, kind.plural)][(ns or "", name)] = new
            self.emit(kind.group, kind.plural, "MODIFIED", new)
            self.after_write(kind, new)
            return new

    def delete(self, kind, ns, name):
        with self.lock:
            obj = self.get(kind, ns, name)
            if obj["metadata"].get("finalizers"):
                if not obj["metadata"].get("deletionTimestamp"):
                    obj = copy.deepcopy(obj)
                    obj["metadata"]["deletionTimestamp"] = now_rfc3339()
                    obj["metadata"]["resourceVersion"] = self.next_rv()
                    self.objects[(kind.group, kind.plural)][(ns or "", name)] = obj
                    self.emit(kind.group, kind.plural, "MODIFIED", obj)
                return obj
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = self.next_rv()
            return self.remove(kind, obj)

    def remove(self, kind, obj):
        """Removes `obj` for good, then what it owns (garbage collection) and, for a
        namespace or CRD, what lives in it."""
        meta = obj["metadata"]
        self.objects[(kind.group, kind.plural)].pop((meta.get("namespace", ""), meta["name"]), None)
        self.emit(kind.group, kind.plural, "DELETED", obj)
        for (group, plural), objects in list(self.objects.items()):
            child_kind = self.kinds.get((group, plural))
            for child in list(objects.values()):
                owners = child["metadata"].get("ownerReferences", [])
                in_namespace = kind.plural == "namespaces" and child["metadata"].get("namespace") == meta["name"]
                if in_namespace or any(o.get("uid") == meta["uid"] for o in owners):
                    try:
                        self.delete(child_kind, child["metadata"].get("namespace"), child["metadata"]["name"])
                    except ApiError:
                        pass
        if kind.plural == "customresourcedefinitions":
            spec = obj.get("spec", {})
            self.unregister(spec.get("group"), spec.get("names", {}).get("plural"))
        return obj

    def after_write(self, kind, obj):
        if kind.plural == "customresourcedefinitions" and kind.group == "apiextensions.k8s.io":
            self.register_crd(obj)

    def register_crd(self, crd):
        spec = crd.get("spec", {})
        names = spec.get("names", {})
        versions = [v for v in spec.get("versions", []) if v.get("served", True)]
        storage = next((v for v in versions if v.get("storage")), versions[0] if versions else None)
        if storage is None:
            return
        schema = storage.get("schema", {}).get("openAPIV3Schema", {"type": "object",
                                                                   "x-kubernetes-preserve-unknown-fields": True})
        self.register(Kind(spec["group"], storage["name"], names["plural"], names["kind"],
                           spec.get("scope") == "Namespaced", names.get("shortNames", []),
                           "status" in storage.get("subresources", {}), schema,
                           storage.get("additionalPrinterColumns", []), names.get("singular"),
                           names.get("categories", [])))
        if not crd.get("status", {}).get("conditions"):
            status = {"conditions": [
                {"type": t, "status": "True", "reason": r, "lastTransitionTime": now_rfc3339(), "message": ""}
                for t, r in (("NamesAccepted", "NoConflicts"), ("Established", "InitialNamesAccepted"))],
                "acceptedNames": names, "storedVersions": [storage["name"]]}
            crd["status"] = status

    def list(self, kind, ns, label_pred, field_pred):
        with self.lock:
            items = [o for (o_ns, _), o in sorted(self.objects[(kind.group, kind.plural)].items())
                     if (ns is None or o_ns == ns) and label_pred(o["metadata"].get("labels"))
                     and field_pred(o)]
            return copy.deepcopy(items), str(self.rv)

    def watch(self, kind, ns, label_pred, since):
        """A queue of events after resourceVersion `since` (None: synthetic ADDED for all)."""
        q = queue.Queue()
        with self.lock:
            if since is None:
                items, _ = self.list(kind, ns, label_pred, lambda o: True)
                for o in items:
                    q.put({"type": "ADDED", "object": o})
            else:
                if since < self.compacted:
                    raise ApiError(410, "Expired", f"too old resource version: {since} ({self.compacted})")
                for rv, g, p, t, o in self.history:
                    if rv > since and (g, p) == (kind.group, kind.plural) and \
                            (ns is None or o["metadata"].get("namespace") == ns) and \
                            label_pred(o["metadata"].get("labels")):
                        q.put({"type": t, "object": copy.deepcopy(o)})
            entry = (kind.group, kind.plural, ns, lambda o: label_pred(o["metadata"].get("labels")), q)
            self.watchers.append(entry)
        return q, entry

    def unwatch(self, entry):
        with self.lock:
            if entry in self.watchers:
                self.watchers.remove(entry)


# ---------------------------------------------------------------- HTTP

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
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        ctype = self.headers.get("Content-Type", "")
        try:
            if "yaml" in ctype:
                return yaml.safe_load(raw.decode())
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as e:
            raise ApiError(400, "BadRequest", f"the request body could not be decoded: {e}")

    def handle_request(self, method):
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            self.authorize()
            self.inject_failure(method, url.path)
            if url.path.startswith("/debug/"):
                return self.debug(method, url.path, query)
            key = f"{method} {url.path}"
            with self.store.lock:
                self.store.stats[key] = self.store.stats.get(key, 0) + 1
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
                return self.send_json(200, {"requests": self.store.stats, "resourceVersion": self.store.rv})
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
        """Just enough OpenAPI v3 for kubectl to see that PATCH takes fieldValidation, so
        it asks for server-side strict validation instead of validating client-side."""
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
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": paths}

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
        if method == "DELETE":
            try:
                self.read_body()  # DeleteOptions: read so the connection stays in step
            except ApiError:
                pass
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
