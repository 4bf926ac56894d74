"""The Kubernetes protobuf encoding, as far as the API emulator (kube_emulator.py)
needs it: a real API server accepts `application/vnd.kubernetes.protobuf` bodies,
and client-go sends them for built-in types (Helm's release Secrets, for one). A
body is the magic `k8s\\0` and a runtime.Unknown {typeMeta = 1 {apiVersion = 1,
kind = 2}, raw = 2, contentEncoding = 3, contentType = 4} whose `raw` is the object,
field numbers as in k8s.io/api's generated.proto. Decoded here: Secret and
ConfigMap, with their ObjectMeta. Answers go back as JSON, which clients accept."""

import base64

MAGIC = b"k8s\x00"


class DecodeError(ValueError):
    pass


def fields(data):
    """(field number, wire type, value) of a message: ints for varints, bytes otherwise."""
    i = 0
    while i < len(data):
        key, i = varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(data, i)
        elif wire == 2:
            length, i = varint(data, i)
            if i + length > len(data):
                raise DecodeError(f"field {number} runs past the end of the message")
            value, i = data[i:i + length], i + length
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise DecodeError(f"field {number} has wire type {wire}")
        yield number, wire, value


def varint(data, i):
    value, shift = 0, 0
    while True:
        if i >= len(data):
            raise DecodeError("a varint runs past the end of the message")
        b = data[i]
        value |= (b & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if not b & 0x80:
            return value, i


def text(value):
    return value.decode("utf-8")


def string_map(entries, decode=text):
    out = {}
    for entry in entries:
        kv = {n: v for n, _, v in fields(entry)}
        out[text(kv.get(1, b""))] = decode(kv.get(2, b""))
    return out


def object_meta(data):
    meta, labels, annotations, finalizers = {}, [], [], []
    names = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}
    for number, _, value in fields(data):
        if number in names:
            meta[names[number]] = text(value)
        elif number == 7:
            meta["generation"] = value
        elif number == 11:
            labels.append(value)
        elif number == 12:
            annotations.append(value)
        elif number == 14:
            finalizers.append(text(value))
    if labels:
        meta["labels"] = string_map(labels)
    if annotations:
        meta["annotations"] = string_map(annotations)
    if finalizers:
        meta["finalizers"] = finalizers
    return meta


def secret_or_config_map(data, kind):
    obj, entries, binary, strings = {}, [], [], []
    for number, _, value in fields(data):
        if number == 1:
            obj["metadata"] = object_meta(value)
        elif number == 2:
            entries.append(value)
        elif number == 3 and kind == "Secret":
            obj["type"] = text(value)
        elif number == 3 and kind == "ConfigMap":
            binary.append(value)
        elif number == 4 and kind == "Secret":
            strings.append(value)
        elif (number, kind) in ((5, "Secret"), (4, "ConfigMap")):
            obj["immutable"] = bool(value)
    if kind == "Secret":
        if entries:
            obj["data"] = string_map(entries, lambda b: base64.b64encode(b).decode())
        if strings:
            obj["stringData"] = string_map(strings)
    else:
        if entries:
            obj["data"] = string_map(entries)
        if binary:
            obj["binaryData"] = string_map(binary, lambda b: base64.b64encode(b).decode())
    return obj


def decode(body):
    """The JSON form of a protobuf-encoded object. DecodeError names what is wrong."""
    if not body.startswith(MAGIC):
        raise DecodeError("no k8s protobuf magic")
    unknown = {n: v for n, _, v in fields(body[len(MAGIC):])}
    type_meta = {n: text(v) for n, _, v in fields(unknown.get(1, b""))}
    api_version, kind = type_meta.get(1, ""), type_meta.get(2, "")
    if api_version != "v1" or kind not in ("Secret", "ConfigMap"):
        raise DecodeError(f"protobuf bodies of {api_version}/{kind} are not emulated (Secret and ConfigMap are)")
    obj = secret_or_config_map(unknown.get(2, b""), kind)
    obj["apiVersion"], obj["kind"] = api_version, kind
    return obj
