"""What geostorm.torch's kinds of training share: the model's flat layout, the
mode check and fingerprint, and the compute clock."""
import hashlib
import os
import time

from ._geostorm import Error


def _flat_layout(named_parameters):
    """(name, parameter, offset) in reverse order of registration, and the total size."""
    params = [(n, p) for n, p in named_parameters if p.requires_grad]
    names = [n for n, _ in params]
    if len(set(names)) != len(names):
        raise ValueError("parameter names repeat: give model.named_parameters()")
    layout, offset = [], 0
    for name, p in reversed(params):
        layout.append((name, p, offset))
        offset += p.numel()
    return layout, offset


def _fingerprint(mode, layout):
    """A non-zero 64-bit fingerprint of the sync mode and the tensors' names and sizes."""
    h = hashlib.blake2b(mode.encode(), digest_size=8)
    for name, p, offset in layout:
        h.update(f"|{name}:{p.numel()}@{offset}".encode())
    return int.from_bytes(h.digest(), "little") or 1


def _check_mode(client, mode):
    job = client.sync_mode or "bsp"
    if job != mode:
        raise Error(f"this worker trains with {mode}, but its job ({client.data_center}'s sidecar) was started "
                    f"with {job} (spec.sync.mode)")


class _ComputeClock:
    """A step's compute: the process's CPU time since restart(), so that workers that
    share this machine's cores do not count each other's turns. stretch() emulates
    slower hardware: it sleeps (F-1) times that, F from GEOSTORM_SLOWDOWN, and
    returns the compute as that hardware would take it (F times). wall() is the
    wall time since restart(), the sleep included."""

    def __init__(self):
        self.factor = float(os.environ.get("GEOSTORM_SLOWDOWN", "1") or 1)
        self.restart()

    def stretch(self):
        compute = time.process_time() - self._cpu
        if self.factor > 1:
            time.sleep((self.factor - 1) * compute)
        return self.factor * compute

    def wall(self):
        return time.monotonic() - self._wall

    def restart(self):
        self._cpu, self._wall = time.process_time(), time.monotonic()


def _model_layout(named_parameters, client):
    layout, total = _flat_layout(named_parameters)
    if total != client.model_floats:
        raise ValueError(f"the model has {total} parameters; the job's model has {client.model_floats} "
                         f"(plan the job with --model-mb {total * 4 / 1e6})")
    return layout, total
