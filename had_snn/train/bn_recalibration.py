"""BatchNorm recalibration: a trained model's running statistics recomputed with its final weights.

During training BN's running statistics are an exponential average over batches of weights that kept changing; the
statistics the final weights produce can differ from it. :func:`recalibrate_batch_norm` resets them and averages
the batch statistics of the final weights over ``batches`` (a cumulative average, every batch weighing the same),
without a gradient and without touching any weight. The result is still a plain BN with running statistics, so it
folds into the chip's weights and biases as any trained student's does.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def recalibrate_batch_norm(model: nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> int:
    """Reset every BatchNorm layer's running statistics and recompute them as the mean over ``batches`` of their
    batch statistics under ``model``'s current weights. Returns the number of batches used; ``model`` is left in
    eval mode with its BN momenta as they were. ValueError when the model has no BN layer or no batch was given."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        raise ValueError(f"{type(model).__name__}: has no BatchNorm layer to recalibrate")
    momenta = [m.momentum for m in norms]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: running = mean over the batches seen
        m.train()
    n = 0
    try:
        with torch.no_grad():
            for batch in batches:
                model(batch)
                n += 1
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        model.eval()
    if n == 0:
        raise ValueError("recalibrate_batch_norm: no batch given")
    return n
