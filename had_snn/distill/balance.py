"""Combine distillation terms into one loss: weights, optional running-magnitude balancing, linear warm-up.

Every distillation loss (HAD, vanilla KD, HDETrack-style KD, the authors' HAD objective) hands its unweighted scalar
terms to one :class:`TermCombiner`, so balancing, warm-up, logging and the training loop's gradient diagnostics work
the same way for all of them.

- ``balance: none``: ``total = ramp * sum_i w_i t_i``.
- ``balance: running``: ``total = ramp * sum_i w_i t_i / m_i`` with ``m_i`` a detached exponential moving average of
  ``|t_i|`` (momentum ``balance_momentum``, initialised from the first value), so each term contributes about its
  weight ``w_i`` whatever its natural scale.
- ``warmup_steps = S > 0``: ``ramp = min(1, s / S)`` with ``s`` the number of training-mode calls before this one
  (0 on the first step, 1 from step S on).

The running magnitudes and the step counter are buffers: they are saved with the loss module's state (the
checkpoint's ``extra_modules``) and restored on resume. They change only in training mode. Without warm-up the step
counter is not saved and without running balance there are no magnitudes, so a default loss module's state is what
it was before the combiner existed (old checkpoints load, and resume).

Diagnostics: the training loop sets ``diagnose = True`` for the steps it examines (``distill.diagnostics_every``);
a loss computes its log-only diagnostics (e.g. the OT plan's entropy) only then and hands them to :meth:`log_extra`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from had_snn.distill.config import DistillConfig

TOTAL_TERM = "distill"
_RUNNING_PREFIX = "running_"
_MIN_MAGNITUDE = 1e-12


def _buffer_name(term: str) -> str:
    """Buffer name of a term's running magnitude (``.`` is not allowed in buffer names)."""
    return _RUNNING_PREFIX + term.replace(".", "_")


class TermCombiner(nn.Module):
    """``forward(terms) -> (total, logs)`` where ``terms`` maps a name to ``(weight, unweighted scalar tensor)``.

    ``logs`` holds every unweighted term as a float, ``"distill"`` (the returned total) and the log-only entries
    added since the last call through :meth:`log_extra`. ``last_terms`` keeps the weighted, balanced and ramped
    terms of the last call (still in the autograd graph) for the training loop's gradient diagnostics.
    """

    def __init__(self, config: DistillConfig) -> None:
        super().__init__()
        self.balance = str(config.balance)
        self.momentum = float(config.balance_momentum)
        self.warmup_steps = int(config.warmup_steps)
        if self.balance not in ("none", "running"):
            raise ValueError(f'distill.balance: expected "none" or "running", got {self.balance!r}')
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"distill.balance_momentum: expected a number in [0, 1), got {self.momentum}")
        if self.warmup_steps < 0:
            raise ValueError(f"distill.warmup_steps: expected an integer >= 0, got {self.warmup_steps}")
        self.diagnostics_every = int(config.diagnostics_every)
        self.adapter_lr_scale = float(config.adapter_lr_scale)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long), persistent=self.warmup_steps > 0)
        self.diagnose = False
        self.last_terms: dict[str, torch.Tensor] = {}
        self._extra: dict[str, float] = {}

    def log_extra(self, name: str, value: float) -> None:
        """Add a log-only entry (e.g. ``ot_entropy/stage2``) to the logs of the next :meth:`forward`."""
        self._extra[name] = float(value)

    def ramp(self) -> float:
        """The warm-up factor of the next call: ``min(1, steps / warmup_steps)`` (1 without warm-up)."""
        if self.warmup_steps <= 0:
            return 1.0
        return min(1.0, int(self.steps) / self.warmup_steps)

    def running_magnitude(self, name: str) -> torch.Tensor | None:
        """The running magnitude of term ``name`` (None before its first training-mode value)."""
        return self._buffers.get(_buffer_name(name))

    def _scale(self, name: str, value: torch.Tensor) -> torch.Tensor | float:
        """1 / running magnitude of ``name`` (updated first in training mode); 1 when ``balance`` is none."""
        if self.balance != "running":
            return 1.0
        magnitude = value.detach().abs().reshape(())
        key = _buffer_name(name)
        running = self._buffers.get(key)
        if self.training:
            if running is None:
                running = magnitude.clone().to(torch.float32)
            else:
                running = self.momentum * running + (1.0 - self.momentum) * magnitude.to(running)
            self.register_buffer(key, running)
        elif running is None:  # eval before any training step: balance by the value itself
            running = magnitude
        return 1.0 / running.clamp_min(_MIN_MAGNITUDE).to(value.dtype)

    def forward(self, terms: Mapping[str, tuple[float, torch.Tensor]]) -> tuple[torch.Tensor, dict[str, float]]:
        ramp = self.ramp()
        logs: dict[str, float] = {}
        weighted: dict[str, torch.Tensor] = {}
        for name, (weight, value) in terms.items():
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                raise ValueError(f"TermCombiner: term {name!r} must be a scalar tensor, got {value!r}")
            value = value.reshape(())
            logs[name] = float(value.detach())
            weighted[name] = (ramp * float(weight)) * value * self._scale(name, value)
        if weighted:
            total = torch.stack(list(weighted.values())).sum()
        else:
            total = self.steps.new_zeros((), dtype=torch.float32)
        if self.training:
            self.steps += 1
        self.last_terms = weighted
        logs[TOTAL_TERM] = float(total.detach())
        logs.update(self._extra)
        self._extra = {}
        return total, logs

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        """Create the running-magnitude buffers a checkpoint holds; a checkpoint written before the combiner
        existed (no ``steps``) keeps the current state."""
        for key, value in state_dict.items():
            if key.startswith(prefix + _RUNNING_PREFIX) and "." not in key[len(prefix):]:
                name = key[len(prefix):]
                if name not in self._buffers:
                    self.register_buffer(name, torch.zeros_like(value))
        if "steps" not in self._non_persistent_buffers_set and prefix + "steps" not in state_dict:
            state_dict[prefix + "steps"] = self.steps.clone()
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
