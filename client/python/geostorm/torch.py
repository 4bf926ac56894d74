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
"""
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
    """Wraps a torch optimizer: step() first replaces every gradient by its mean over
    all the job's workers, then steps. Gradients are sent as the backward pass makes them.
    `iteration` numbers the all-reduces; every worker of the job must count alike."""

    def __init__(self, optimizer, named_parameters, client, iteration=0):
        self.optimizer = optimizer
        self.client = client
        self.iteration = iteration
        self._layout, total = _flat_layout(named_parameters)
        if total != client.model_floats:
            raise ValueError(f"the model has {total} parameters; the job's model has {client.model_floats} "
                             f"(plan the job with --model-mb {total * 4 / 1e6})")
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
                self._session = self.client.begin(self.iteration, self._flat)
                self._pending = {id(q) for _, q, _ in self._layout}
            n = p.numel()
            self._flat_torch[offset:offset + n].copy_(p.grad.detach().reshape(-1).to(torch.float32))
            self._session.ready(offset, n)
            self._pending.discard(id(p))
        return hook

    def synchronize(self):
        """Waits for the all-reduce of this iteration and puts the mean into every .grad."""
        if self._session is None:  # no backward pass: nothing to send; still keep step with the others
            self._session = self.client.begin(self.iteration, self._flat)
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
        return self.optimizer.step(closure)

    def zero_grad(self, set_to_none=False):
        self.optimizer.zero_grad(set_to_none=set_to_none)

    @property
    def param_groups(self):
        return self.optimizer.param_groups


__all__ = ["DistributedOptimizer", "broadcast_parameters", "Error"]
