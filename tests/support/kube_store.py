"""The object store of the Kubernetes API emulator (kube_emulator.py): kinds,
objects with resourceVersions, selectors, patches, watches and their history."""

import copy
import queue
import re
import threading
import time
import uuid
from datetime import datetime, timezone

from kube_schema import apply_defaults, prune, validate

def now_rfc3339():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """A failure as the API server's Status. `details` (name, group, kind) let kubectl
    say which object: `The GeoTrainingJob "x" is invalid: ...`."""

    def __init__(self, code, reason, message, causes=None, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.causes = code, reason, message, causes
        self.details = details or {}

    def status(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        details = dict(self.details)
        if self.causes:
            details["causes"] = self.causes
        if details:
            body["details"] = details
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
    Kind("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ["pdb"], True),
    Kind("events.k8s.io", "v1", "events", "Event", True, ["ev"]),
    Kind("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    Kind("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    Kind("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    Kind("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    Kind("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
         False, ["crd", "crds"], True),
]


DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def label_error(path, value):
    return (f'{path}: Invalid value: "{value}": a lowercase RFC 1123 label must consist of lower case '
            "alphanumeric characters or '-', and must start and end with an alphanumeric character")


def core_errors(kind, obj):
    """What the API server's own validation refuses in pods and Services (the
    part the operator's objects can get wrong), with its messages."""
    errors = []
    if kind.group != "":
        return errors
    name = obj["metadata"]["name"]
    spec = obj.get("spec") or {}
    if kind.plural == "services" and not (DNS_1035.match(name) and len(name) <= 63):
        errors.append(f'metadata.name: Invalid value: "{name}": a DNS-1035 label must consist of lower case '
                      "alphanumeric characters or '-', start with an alphabetic character, and end with an "
                      "alphanumeric character")
    if kind.plural != "pods":
        return errors
    if not spec.get("containers"):
        errors.append("spec.containers: Required value")
    def check_name(path, value, seen):
        if not (DNS_LABEL.match(value) and len(value) <= 63):
            errors.append(label_error(path, value))
        elif value in seen:
            errors.append(f'{path}: Duplicate value: "{value}"')
        seen.add(value)

    volumes = set()
    for i, volume in enumerate(spec.get("volumes") or []):
        check_name(f"spec.volumes[{i}].name", volume.get("name", ""), volumes)
    containers = set()
    for field in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(field) or []):
            check_name(f"spec.{field}[{i}].name", container.get("name", ""), containers)
            for j, mount in enumerate(container.get("volumeMounts") or []):
                if mount.get("name") not in volumes:
                    errors.append(f'spec.{field}[{i}].volumeMounts[{j}].name: Not found: "{mount.get("name")}"')
    return errors


# ---------------------------------------------------------------- schema validation


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
        self.audit = {}  # client -> "verb group resource" -> count
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
        errors = core_errors(kind, obj)
        if errors:
            message = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
            raise ApiError(422, "Invalid", f'{kind.kind} "{name}" is invalid: {message}')
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
            raise ApiError(422, "Invalid", f'{kind.kind}.{kind.group} "{name}" is invalid: {message}', causes,
                           {"name": name, "group": kind.group, "kind": kind.kind})
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


def audit_verb(method, path, query):
    """"VERB GROUP RESOURCE[/SUBRESOURCE]" of a request, as RBAC sees it ("list apps
    deployments", "patch geostorm.io geotrainingjobs/status"); None for discovery."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    else:
        return None
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        rest = rest[2:]  # namespaced: the resource follows the namespace
    resource, name, sub = rest[0], rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else ""
    if method == "GET":
        verb = "get" if name else ("watch" if query.get("watch") in ("1", "true") else "list")
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if name else "deletecollection"}.get(method)
    return f"{verb} {group or 'core'} {resource}{'/' + sub if sub else ''}" if verb else None
