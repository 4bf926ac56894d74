"""ESync and NBSync: local steps, then the DCs average their model deltas
(geostorm.torch.synchronizer picks them by the job's sync mode; docs/training.md)."""
import concurrent.futures
import contextlib
import os
import time

import torch

from ._common import _check_mode, _ComputeClock, _fingerprint, _model_layout


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

    @contextlib.contextmanager
    def agreed(self):
        """Inside, the model holds the global model every worker agrees on (the last
        round's), without this worker's local steps since; for evaluation."""
        local = self._read()
        self._write(self.reference)
        try:
            yield
        finally:
            self._write(local)

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
    (client.local_steps(): more for faster DCs, so that all arrive together; each worker
    reports its compute per step, measured here, with that call), then every
    worker's model delta since the last round is averaged into the global model, which
    every worker continues from. `rounds` synchronisations in all."""

    def __init__(self, optimizer, model, client, rounds, iteration=0, global_lr=None):
        super().__init__("esync", optimizer, model, client, iteration, rounds, global_lr)
        self.local_steps = client.local_steps()
        self._left = self.local_steps
        self._compute_s = 0.0  # this round's, stretched by the slowdown

    def step(self, closure=None):
        loss = self.optimizer.step(closure)
        self._compute_s += self._clock.stretch()
        self.steps += 1
        self._left -= 1
        if self._left <= 0 and not self.done:
            delta = self._read() - self.reference
            self._begin(delta).finish(delta)
            self._land(delta)
            self._write(self.reference)
            # Report this round's compute per step; hear the next round's schedule.
            self.local_steps = self.client.local_steps(self._compute_s / self.local_steps)
            self._left = self.local_steps
            self._compute_s = 0.0
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
        self._clock.stretch()
        self._step_s = _smooth(self._step_s, self._clock.wall())  # steps that fit in a sync: wall time
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
