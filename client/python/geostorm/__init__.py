"""geostorm for Python workers: all-reduce gradients through this worker's sidecar.

    import geostorm
    client = geostorm.Client("unix:/run/geostorm/worker.sock")
    grad = numpy.zeros(client.model_floats, numpy.float32)
    contributors = client.allreduce(iteration, grad)          # grad now holds the sum
    client.allreduce_named(iteration, {"fc.weight": w, "fc.bias": b})

Errors raise geostorm.Error with the sidecar's reason. `geostorm.torch` has the
PyTorch side: DistributedOptimizer and broadcast_parameters.
"""
from ._geostorm import Client, Error, Session

__all__ = ["Client", "Error", "Session"]
