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
    with sync.agreed():          # the global model, without local steps since the last round
        evaluate(model)

  bsp     DistributedOptimizer: every step all-reduces the gradients (one round a step);
  esync   ESync: local steps, as many as the controller schedules for this DC, then
          the DCs average their model deltas;
  nbsync  NBSync: local steps go on while the last round's deltas are summed; the
          result lands on the model with the progress made meanwhile carried over.

For a model already wrapped in DDP, `ddp_comm_hook` averages DDP's buckets through
geostorm (BSP).

A worker whose mode is not its job's gets geostorm.Error at once, and its chunks
carry the mode in their layout fingerprint, so the sidecars never sum them with
the others' (docs/training.md).

GEOSTORM_SLOWDOWN=F (set by `geostorm local --slowdown`) stretches each step's
compute F times, to emulate a DC with slower hardware.
"""
import concurrent.futures
import contextlib

import numpy
import torch

from ._common import _check_mode, _ComputeClock, _fingerprint, _model_layout
from ._geostorm import Error
from .averaging import ESync, NBSync

_ITERATION_KEY = "__geostorm_iteration__"


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

    @contextlib.contextmanager
    def agreed(self):
        """The model every worker agrees on is the model, under BSP."""
        yield

    def zero_grad(self, set_to_none=False):
        self.optimizer.zero_grad(set_to_none=set_to_none)

    @property
    def param_groups(self):
        return self.optimizer.param_groups

class _DdpState:
    """One DDP model's all-reduces: DDP hands its gradient buckets over in index order,
    which lays them out one after another in the job's model."""

    def __init__(self, client, iteration):
        _check_mode(client, "bsp")
        self.client = client
        self.iteration = iteration
        self.flat = numpy.zeros(client.model_floats, numpy.float32)
        self.flat_torch = torch.from_numpy(self.flat)
        self.fingerprint = _fingerprint(f"bsp-ddp/{client.model_floats}", [])
        self.session = None
        self.offset = 0
        self.waiting = []  # (future, offset, bucket buffer) of the iteration in progress
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)


def _ddp_allreduce(state, bucket):
    buffer = bucket.buffer()
    n = buffer.numel()
    if state.session is None:
        state.session = state.client.begin(state.iteration, state.flat, state.fingerprint)
        state.offset, state.waiting = 0, []
    future = torch.futures.Future()
    if state.offset + n > len(state.flat):
        future.set_exception(ValueError(f"DDP's buckets hold more than the job's model of {len(state.flat)} floats "
                                        f"(plan it with --model-mb {(state.offset + n) * 4 / 1e6})"))
        return future
    state.flat_torch[state.offset:state.offset + n].copy_(buffer.reshape(-1).to(torch.float32))
    state.session.ready(state.offset, n)  # on the WAN while the backward pass goes on
    state.waiting.append((future, state.offset, buffer))
    state.offset += n
    if bucket.is_last():
        session, waiting = state.session, state.waiting
        state.session = None
        state.iteration += 1
        state.pool.submit(_ddp_finish, state, session, waiting)
    return future


def _ddp_finish(state, session, waiting):
    try:
        if state.offset != len(state.flat):
            raise ValueError(f"DDP's buckets hold {state.offset} floats; the job's model has {len(state.flat)}")
        session.finish(state.flat)
    except Exception as e:  # every bucket's future carries it to DDP's backward
        for future, _, _ in waiting:
            future.set_exception(e)
        return
    state.flat /= state.client.total_workers
    for future, offset, buffer in waiting:
        buffer.copy_(state.flat_torch[offset:offset + buffer.numel()].reshape(buffer.shape).to(buffer.dtype))
        future.set_result(buffer)


def ddp_comm_hook(client, iteration=0):
    """For a model already wrapped in DistributedDataParallel (BSP jobs): DDP's gradient
    buckets are averaged through geostorm instead of its process group, each bucket sent
    as soon as DDP hands it over. The process group still does DDP's start-up broadcast.

        ddp = torch.nn.parallel.DistributedDataParallel(model)
        ddp.register_comm_hook(*geostorm.torch.ddp_comm_hook(client, iteration))
    """
    return _DdpState(client, iteration), _ddp_allreduce


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


__all__ = ["DistributedOptimizer", "ESync", "NBSync", "broadcast_parameters", "ddp_comm_hook", "synchronizer", "Error"]
