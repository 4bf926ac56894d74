"""OpenAPI v3 schema checks for the Kubernetes API emulator (kube_emulator.py):
validation with API-server-style messages, defaults and pruning, as a CRD's
structural schema asks for."""

import copy
import json
import re


def type_name(value):
    # bool before int: in Python a bool is an int.
    for python_type, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                              (list, "array"), (dict, "object")):
        if isinstance(value, python_type):
            return name
    return "null"


def go_value(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


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
        if "minimum" in schema and schema.get("exclusiveMinimum") and value <= schema["minimum"]:
            errors.append((path, f"{path}: Invalid value: {value}: {path} in body should be greater "
                                 f"than {schema['minimum']}"))
        elif "minimum" in schema and value < schema["minimum"]:
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
