"""`geostorm wan up` for the benchmark scripts: holds an emulated WAN (root) while
a block runs.

    with emulated_wan(bin_dir, topology, scale, "hh") as namespaces:
        ...  # namespaces[dc] = (namespace, address)
"""
import contextlib
import os
import signal
import subprocess


@contextlib.contextmanager
def emulated_wan(bin_dir, topology, scale, tag, period_s=None):
    """`period_s`: a dynamic topology's rates are redrawn this often (default: the file's period)."""
    wan = subprocess.Popen([os.path.join(bin_dir, "geostorm"), "wan", "up", "--topology", topology, "--scale",
                            str(scale), "--tag", tag, *(["--period-s", str(period_s)] if period_s else [])],
                           stdout=subprocess.PIPE, text=True)
    namespaces = {}
    try:
        for line in wan.stdout:
            if line.strip() == "ready":
                break
            dc, ns, address = line.split()
            namespaces[dc] = (ns, address)
        if wan.poll() is not None:
            raise RuntimeError("geostorm wan up failed")
        yield namespaces
    finally:
        wan.send_signal(signal.SIGINT)
        wan.wait()
