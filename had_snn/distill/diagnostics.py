"""Training-time diagnostics of the distillation terms: how hard each term pulls on the student.

On the steps :func:`is_diagnostic_step` picks (``distill.diagnostics_every``; 0 = each epoch's first batch), the
training loop calls :func:`gradient_diagnostics` with the tracking loss, the combiner's ``last_terms`` (weighted,
balanced, ramped: what the optimiser actually sees) and the student's parameters. It logs

- ``diag/grad/track``: ``||d L_track / d theta||`` over the student's parameters ``theta``;
- ``diag/grad/<term>``: ``||d term / d theta|| / ||d L_track / d theta||`` (and ``diag/grad/distill`` for their sum):
  > 1 means the term pulls harder on the student than tracking does;
- ``diag/cos/<term>``: cosine between the term's gradient and the tracking loss's (< 0: the term works against
  tracking on that batch).

Gradients come from ``torch.autograd.grad(..., retain_graph=True)`` (nothing is accumulated into ``.grad``), so the
normal backward pass of the step is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import nn

from had_snn.distill.balance import TOTAL_TERM, TermCombiner

PREFIX = "diag/"


def find_combiner(modules: Iterable[nn.Module]) -> TermCombiner | None:
    """The first :class:`TermCombiner` inside ``modules`` (the training loop's extra modules), or None."""
    for module in modules:
        for sub in module.modules():
            if isinstance(sub, TermCombiner):
                return sub
    return None


def is_diagnostic_step(step: int, step_in_epoch: int, every: int) -> bool:
    """``every`` = 0: the first batch of each epoch; N > 0: every N-th training step (global count, from 0)."""
    if every < 0:
        raise ValueError(f"distill.diagnostics_every: expected an integer >= 0, got {every}")
    return step_in_epoch == 0 if every == 0 else step % every == 0


def _flat_grad(loss: torch.Tensor, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """d loss / d params flattened into one vector (zeros for parameters the loss does not reach)."""
    if not loss.requires_grad:
        return torch.zeros(sum(p.numel() for p in params), device=params[0].device if params else None)
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params,
                                                                                           strict=True)])


def gradient_diagnostics(track_loss: torch.Tensor, terms: Mapping[str, torch.Tensor],
                         params: Sequence[torch.Tensor]) -> dict[str, float]:
    """Gradient-norm ratios and cosines of each distillation term against the tracking loss (see module doc).

    ``terms`` are scalar tensors still in the graph (``TermCombiner.last_terms``); ``params`` the student's
    trainable parameters. With a zero tracking gradient the ratios are reported as ``inf`` (or 0 for a zero term).
    """
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("gradient_diagnostics: no trainable student parameters")
    g_track = _flat_grad(track_loss, params)
    n_track = float(g_track.norm())
    logs = {f"{PREFIX}grad/track": n_track}
    if not terms:
        return logs
    items = dict(terms)
    if len(items) > 1:
        items[TOTAL_TERM] = torch.stack([t.reshape(()) for t in terms.values()]).sum()
    for name, term in items.items():
        g = _flat_grad(term, params)
        n = float(g.norm())
        logs[f"{PREFIX}grad/{name}"] = n / n_track if n_track > 0 else (0.0 if n == 0 else float("inf"))
        denom = n * n_track
        logs[f"{PREFIX}cos/{name}"] = float(torch.dot(g, g_track)) / denom if denom > 0 else 0.0
    return logs
