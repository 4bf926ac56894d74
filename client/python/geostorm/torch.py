"""PyTorch on geostorm, in the manner of Horovod.

    client = geostorm.Client(os.environ["GEOSTORM_SIDECAR"])
    broadcast_parameters(client, model.state_dict(), rank)        # everyone starts from rank 0's
    opt = DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                               model.named_parameters(), client)
    loss.backward(); opt.step(); opt.zero_grad()                  # gradients averaged over every worker

Gradients go out while the backward pass still runs: the parameters are laid out
in reverse order (the last layers' gradients come first), and each one is marked
ready for the sidecar as soon as its gradient is accumulated.

The job's model size (its sidecars' policy) must be the number of parameters x 4 bytes.

The job's sync mode (GeoTrainingJob spec.sync.mode, `geostorm local --mode`) picks
how workers train; `synchronizer` returns the right one for the job, and every
kind has the same loop:

    sync = synchronizer(optimizer, model, client, rounds=100, iteration=iteration)
    while not sync.done:
        loss = ...; optimizer.zero_grad(); loss.backward()
        sync.step()              # in place of optimizer.step()

  bsp     DistributedOptimizer: every step all-reduces the gradients (one round a step);
  esync   ESync: local steps, as many as the controller schedules for this DC, then
          the DCs average their model deltas;
  nbsync  NBSync: local steps go on while the last round's deltas are summed; the
          result lands on the model with the progress made meanwhile carried over.

A worker whose mode is not its job's gets geostorm.Error at once, and its chunks
carry the mode in their layout fingerprint, so the sidecars never sum them with
the others' (docs/training.md).

GEOSTORM_SLOWDOWN=F (set by `geostorm local --slowdown`) stretches each step's
compute F times, to emulate a DC with slower hardware.
"""
import concurrent.futures
import hashlib
import math
import os
import time

import numpy
import torch

from ._geostorm import Error

_ITERATION_KEY = "__geostorm_iteration__"


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
    """Emulates slower hardware: stretch() sleeps (F-1) times the compute since the last
    restart(), F from GEOSTORM_SLOWDOWN. Also measures the (stretched) compute time."""

    def __init__(self):
        self.factor = float(os.environ.get("GEOSTORM_SLOWDOWN", "1") or 1)
        self._since = time.monotonic()

    def stretch(self):
        if self.factor > 1:
            time.sleep((self.factor - 1) * (time.monotonic() - self._since))
        return time.monotonic() - self._since

    def restart(self):
        self._since = time.monotonic()


def broadcast_parameters(client, state_dict, rank, iteration=0):
    """Every worker's floating-point entries of `state_dict` become rank 0's, through one
    all-reduce (rank 0 contributes its values, the others zeros). Their sizes must add
    up to the job's model; returns the next iteration number."""
    tensors = [t for t in state_dict.values() if torch.is_floating_point(t)]
    total = sum(t.numel() for t in tensors)
    if total != client.model_floats:
        raise ValueError(f"the state has {total} floating-point values; the job's model has {client.model_floats}")
    flat = numpy.zeros(total, numpy.float32)
    if rank == 0:
        offset = 0
        for t in tensors:
            flat[offset:offset + t.numel()] = t.detach().reshape(-1).to(torch.float32).cpu().numpy()
            offset += t.numel()
    client.allreduce(iteration, flat)
    offset = 0
    with torch.no_grad():
        for t in tensors:
            t.copy_(torch.from_numpy(flat[offset:offset + t.numel()]).reshape(t.shape).to(t.dtype))
            offset += t.numel()
    return iteration + 1


def _model_layout(named_parameters, client):
    layout, total = _flat_layout(named_parameters)
    if total != client.model_floats:
        raise ValueError(f"the model has {total} parameters; the job's model has {client.model_floats} "
                         f"(plan the job with --model-mb {total * 4 / 1e6})")
    return layout, total


class DistributedOptimizer:
    """BSP. Wraps a torch optimizer: step() first replaces every gradient by its mean over
    all the job's workers, then steps. Gradients are sent as the backward pass makes them.
    `iteration` numbers the all-reduces; every worker of the job must count alike.
    With `rounds`, `done` turns true after that many steps."""

    def __init__(self, optimizer, named_parameters, client, iteration=0, rounds=None):
        _check_mode(client, "bsp")
        self.optimizer = optimizer
        self.client = client
        self.iteration = iteration
        self.rounds = 0
        self._rounds_wanted = rounds
        self._layout, total = _model_layout(named_parameters, client)
        self._fingerprint = _fingerprint("bsp", self._layout)
        self._clock = _ComputeClock()
        self._flat = numpy.zeros(total, numpy.float32)
        self._flat_torch = torch.from_numpy(self._flat)
        self._session = None
        self._pending = set()
        self._hooks = []
        for name, p, offset in self._layout:
            # The AccumulateGrad node fires once the parameter's gradient is complete.
            accumulate = p.expand_as(p).grad_fn.next_functions[0][0]
            self._hooks.append(accumulate.register_hook(self._ready_hook(p, offset)))
            self._hooks.append(accumulate)  # keeps the node (and so the hook) alive

    def _ready_hook(self, p, offset):
        def hook(*_):
            if self._session is None:
                self._clock.stretch()
                self._session = self.client.begin(self.iteration, self._flat, self._fingerprint)
                self._pending = {id(q) for _, q, _ in self._layout}
            n = p.numel()
            self._flat_torch[offset:offset + n].copy_(p.grad.detach().reshape(-1).to(torch.float32))
            self._session.ready(offset, n)
            self._pending.discard(id(p))
        return hook

    def synchronize(self):
        """Waits for the all-reduce of this iteration and puts the mean into every .grad."""
        if self._session is None:  # no backward pass: nothing to send; still keep step with the others
            self._session = self.client.begin(self.iteration, self._flat, self._fingerprint)
            self._flat[:] = 0
            self._session.ready(0, len(self._flat))
        else:
            # Parameters the loss did not reach contribute zeros.
            for name, p, offset in self._layout:
                if id(p) in self._pending:
                    self._flat[offset:offset + p.numel()] = 0
                    self._session.ready(offset, p.numel())
        session, self._session = self._session, None
        try:
            session.finish(self._flat)
        finally:
            self.iteration += 1
        self._flat /= self.client.total_workers
        with torch.no_grad():
            for name, p, offset in self._layout:
                mean = self._flat_torch[offset:offset + p.numel()].reshape(p.shape).to(p.dtype)
                if p.grad is None:
                    p.grad = mean.clone()
                else:
                    p.grad.copy_(mean)

    def step(self, closure=None):
        self.synchronize()
        loss = self.optimizer.step(closure)
        self.rounds += 1
        self._clock.restart()
        return loss

    @property
    def done(self):
        return self._rounds_wanted is not None and self.rounds >= self._rounds_wanted

    def zero_grad(self, set_to_none=False):
        self.optimizer.zero_grad(set_to_none=set_to_none)

    @property
    def param_groups(self):
        return self.optimizer.param_groups


class _ModelAverager:
    """What ESync and NBSync share: the model's parameters as one flat vector, the
    global model every worker agrees on (`self.reference`), and one all-reduce of a
    delta from it per round. global_lr scales the averaged delta (default: the
    GEOSTORM_GLOBAL_LR that `geostorm local --global-lr` and the operator set, else 1)."""

    def __init__(self, mode, optimizer, model, client, iteration, rounds, global_lr):
        _check_mode(client, mode)
        self.optimizer = optimizer
        self.client = client
        self.iteration = iteration
        self.rounds = 0  # synchronisations applied
        self.steps = 0   # local steps taken
        self._rounds_wanted = rounds
        self.global_lr = float(global_lr if global_lr is not None else os.environ.get("GEOSTORM_GLOBAL_LR", "1"))
        self._layout, total = _model_layout(model.named_parameters(), client)
        self._fingerprint = _fingerprint(mode, self._layout)
        self._clock = _ComputeClock()
        self.reference = self._read()

    @property
    def done(self):
        return self.rounds >= self._rounds_wanted

    def _read(self):
        return torch.cat([p.detach().reshape(-1).to(torch.float32) for _, p, _ in self._layout]).numpy().copy()

    def _write(self, flat):
        with torch.no_grad():
            for _, p, offset in self._layout:
                p.copy_(torch.from_numpy(flat[offset:offset + p.numel()]).reshape(p.shape).to(p.dtype))

    def _begin(self, delta):
        """Starts summing `delta` over every worker; finish(delta) waits for the sum."""
        session = self.client.begin(self.iteration, delta, self._fingerprint)
        session.ready(0, len(delta))
        self.iteration += 1
        return session

    def _land(self, summed):
        """The new global model from a round's summed deltas."""
        self.reference += self.global_lr * summed / self.client.total_workers
        self.rounds += 1

    def zero_grad(self, set_to_none=False):
        self.optimizer.zero_grad(set_to_none=set_to_none)

    @property
    def param_groups(self):
        return self.optimizer.param_groups


class ESync(_ModelAverager):
    """ESync: each DC takes as many local steps as the controller schedules for it
    (client.local_steps(): more for faster DCs, so that all arrive together), then every
    worker's model delta since the last round is averaged into the global model, which
    every worker continues from. `rounds` synchronisations in all."""

    def __init__(self, optimizer, model, client, rounds, iteration=0, global_lr=None):
        super().__init__("esync", optimizer, model, client, iteration, rounds, global_lr)
        self.local_steps = client.local_steps()
        self._left = self.local_steps

    def step(self, closure=None):
        loss = self.optimizer.step(closure)
        self._clock.stretch()
        self.steps += 1
        self._left -= 1
        if self._left <= 0 and not self.done:
            delta = self._read() - self.reference
            self._begin(delta).finish(delta)
            self._land(delta)
            self._write(self.reference)
            self.local_steps = self.client.local_steps()
            self._left = self.local_steps
        self._clock.restart()
        return loss


class NBSync(_ModelAverager):
    """NBSync: a round's deltas are summed while local steps go on. When the sum lands,
    the global model moves by it and the local progress made meanwhile is carried over
    onto the new global model. A round starts once the last one landed and at least
    `steps_per_round` local steps were taken since it started; that number follows the
    measured sync and step times, so that compute covers the sync. The last round is
    waited for, and every worker ends on the same global model."""

    def __init__(self, optimizer, model, client, rounds, iteration=0, global_lr=None):
        super().__init__("nbsync", optimizer, model, client, iteration, rounds, global_lr)
        self.steps_per_round = 1
        self._started = 0
        self._since_start = 0
        self._step_s = None
        self._sync_s = None
        self._inflight = None  # (future of the sum, delta buffer, the model when it was sent, start time)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)

    def step(self, closure=None):
        loss = self.optimizer.step(closure)
        self._step_s = _smooth(self._step_s, self._clock.stretch())
        self.steps += 1
        self._since_start += 1
        if self._inflight and (self._inflight[0].done() or self._started == self._rounds_wanted):
            self._land_inflight()
        if (self._inflight is None and self._started < self._rounds_wanted
                and self._since_start >= self.steps_per_round):
            sent = self._read()
            delta = sent - self.reference
            session = self._begin(delta)
            self._inflight = (self._pool.submit(session.finish, delta), delta, sent, time.monotonic())
            self._started += 1
            self._since_start = 0
        self._clock.restart()
        return loss

    def _land_inflight(self):
        future, delta, sent, started = self._inflight
        self._inflight = None
        future.result()  # geostorm.Error when the round failed
        self._sync_s = _smooth(self._sync_s, time.monotonic() - started)
        self._land(delta)
        carried = self._read() - sent if not self.done else 0
        self._write(self.reference + carried)
        self.steps_per_round = max(1, round(self._sync_s / max(self._step_s, 1e-6)))


def _smooth(mean, sample):
    return sample if mean is None else 0.7 * mean + 0.3 * sample


def synchronizer(optimizer, model, client, rounds, iteration=0, mode=None, global_lr=None):
    """The job's kind of training (client.sync_mode), all with one loop: `while not
    sync.done: ...backward(); sync.step()`. `mode`, when given, must be the job's."""
    job = client.sync_mode or "bsp"
    if mode is not None:
        _check_mode(client, mode)
    if job == "esync":
        return ESync(optimizer, model, client, rounds, iteration, global_lr)
    if job == "nbsync":
        return NBSync(optimizer, model, client, rounds, iteration, global_lr)
    return DistributedOptimizer(optimizer, model.named_parameters(), client, iteration, rounds)


__all__ = ["DistributedOptimizer", "ESync", "NBSync", "broadcast_parameters", "synchronizer", "Error"]
