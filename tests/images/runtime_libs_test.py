#!/usr/bin/env python3
"""The container images carry exactly what their binaries need. There is no Docker
engine here, so this reads each Dockerfile instead of building it:

  - two stages, the last on Debian 12 slim, running as a non-root user;
  - every shared library the built binary links (ldd) belongs to a Debian package
    (dpkg -S) that the runtime stage installs, or that Debian 12 slim already has;
  - the runtime stage installs nothing the binary does not link (ca-certificates
    excepted, for TLS to the Kubernetes API).

Usage: runtime_libs_test.py SOURCE_DIR BUILD_DIR
"""
import os
import re
import subprocess
import sys

# Packages of debian:12-slim that binaries link (its required set).
BASE = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}
ALLOWED_EXTRA = {"ca-certificates"}
IMAGES = {"operator/Dockerfile": "geostorm-operator", "sidecar/Dockerfile": "geostorm-sidecar"}


def spellings(path):
    """A library's path and its merged-/usr spellings, the ones dpkg may know it by."""
    return (path, os.path.realpath(path), "/usr" + path, path.removeprefix("/usr"))


def owners(paths):
    """The Debian package that owns each of `paths` (one dpkg call: each reads the whole database)."""
    candidates = sorted({c for p in paths for c in spellings(p)})
    out = subprocess.run(["dpkg", "-S", *candidates], capture_output=True, text=True).stdout
    known = {}
    for line in out.splitlines():
        package, _, path = line.partition(": ")
        known[path.strip()] = package.split(":")[0]
    return {p: next((known[c] for c in spellings(p) if c in known), None) for p in paths}


def linked_packages(binary, failures):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    paths = []
    for line in out.splitlines():
        if "=>" not in line:
            continue
        path = line.split("=>")[1].split("(")[0].strip()
        if path == "not found" or not path:
            failures.append(f"{binary}: {line.strip()}")
        else:
            paths.append(path)
    packages = set()
    for path, package in owners(paths).items():
        if package is None:
            failures.append(f"{binary}: no Debian package owns {path}")
        else:
            packages.add(package)
    return packages


def runtime_stage(dockerfile, failures):
    text = open(dockerfile).read().replace("\\\n", " ")
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    if len(stages) < 2:
        failures.append(f"{dockerfile}: not multi-stage")
        return set()
    last = stages[-1]
    if not re.match(r"debian:12-slim\b", last):
        failures.append(f"{dockerfile}: the runtime stage is not on debian:12-slim: FROM {last.splitlines()[0]}")
    users = re.findall(r"^USER (\S+)", last, flags=re.M)
    if not users or users[-1].split(":")[0] in ("root", "0"):
        failures.append(f"{dockerfile}: the runtime stage runs as root")
    installed = set()
    for m in re.finditer(r"apt-get install ([^&\n]*)", last):
        installed |= {w for w in m.group(1).split() if not w.startswith("-")}
    return installed


def main():
    src, build = sys.argv[1], sys.argv[2]
    failures, lines = [], []
    for dockerfile, binary in IMAGES.items():
        installed = runtime_stage(os.path.join(src, dockerfile), failures)
        needed = linked_packages(os.path.join(build, "bin", binary), failures) - BASE
        for p in sorted(needed - installed):
            failures.append(f"{dockerfile}: {binary} links {p}, which the runtime stage does not install")
        for p in sorted(installed - needed - ALLOWED_EXTRA):
            failures.append(f"{dockerfile}: the runtime stage installs {p}, which {binary} does not link")
        lines.append(f"{dockerfile}: {len(needed)} packages, each installed, nothing more")
    if failures:
        print("FAIL:\n" + "\n".join(failures))
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
