"""Activity regularisation of the spiking student: a penalty on what its spikes cost on the chip.

The ``activity:`` section of a training config (:class:`ActivityConfig`) adds one term to the loss, computed on the
search path's spikes (the deployed path: ``forward``'s ``search_spikes``, each (T, B, C, H, W) aligned to the input
steps as the chip reads them):

* ``mode: fanout`` (default): ``weight x (estimated synaptic ops per frame) / 1e6``. A spike of neuron n of spiking
  layer X costs ``fanout[n]`` synaptic operations in the layer X feeds (the emulator's structural fan-out,
  :func:`had_snn.models.layers.conv_fanout`, as the emulator bills it: zero weights and padding borders included),
  so the estimate is ``sum over X, t, n of spikes[t, n] x fanout_X[n]`` averaged over the batch: the same number the
  emulator counts for those spikes (``LoihiEmulator.count_ops``'s ``synaptic_ops``, read one layer later). The
  fan-out maps are computed once from the architecture and the crop size (:func:`fanout_maps`). ``weight`` is
  therefore "loss per million synaptic ops per frame", comparable across shapes.
* ``mode: rate``: per-layer firing-rate targets (``targets: {backbone.0: 0.05, head.0: 0.02}`` or one rate for every
  spiking layer; layers are named as in the emulator and the energy report: the conv whose neurons spike); the
  penalty is ``weight x sum over layers of max(0, rate - target)**2``, the rate being spikes per neuron per step.

``weight: 0`` (the default) disables the term. Every step logs, per spiking layer X, ``activity/X/rate``,
``activity/X/synops`` (estimated synaptic ops per frame its spikes cause) and ``activity/X/penalty``, plus
``activity/synops`` (sum over the trainable layers; the input events' ops, fixed by the data, are not in it) and
``activity/penalty``; the loop averages them per epoch into ``metrics.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from had_snn.models.layers import conv_fanout

ACTIVITY_MODES = ("fanout", "rate")
#: The fan-out penalty's unit: weight 1 costs 1 (loss) per million synaptic ops per frame.
OPS_UNIT = 1e6


@dataclass
class ActivityConfig:
    """The ``activity:`` section: ``mode`` fanout|rate, ``weight`` (0 disables), ``targets`` (rate mode: one rate
    or ``{layer: rate}`` keyed by the chip layer names of the energy report: ``backbone.0``, ``xcorr``, ``head.0``)."""

    mode: str = "fanout"
    weight: float = 0.0
    targets: Any = field(default=None)

    @property
    def enabled(self) -> bool:
        return self.weight > 0


def check_activity(section: Any) -> dict:
    """Validate a raw ``activity:`` mapping (types and ranges); ValueError names ``activity.FIELD``."""
    from had_snn.util.config_check import check_value, shown

    if not isinstance(section, dict):
        raise ValueError(f"activity: expected a mapping with mode, weight, targets, got {shown(section)}")
    known = {"mode", "weight", "targets"}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ValueError(f"activity: unknown field(s) {unknown}; expected some of {sorted(known)}")
    out = dict(section)
    mode = out.get("mode", "fanout")
    if mode not in ACTIVITY_MODES:
        raise ValueError(f"activity.mode: expected one of {list(ACTIVITY_MODES)}, got {shown(mode)}")
    if "weight" in out:
        out["weight"] = check_value(out["weight"], float, "activity.weight")
        if out["weight"] < 0:
            raise ValueError(f"activity.weight: expected a value >= 0 (0 disables), got {out['weight']!r}")
    targets = out.get("targets")
    if mode == "fanout" and targets is not None:
        raise ValueError("activity.targets: only used by mode: rate (mode is fanout); remove it or set mode: rate")
    if mode == "rate":
        if targets is None:
            raise ValueError("activity.targets: mode: rate needs a firing-rate target (one rate in [0, 1] or "
                             "{layer: rate}, e.g. {backbone.0: 0.05})")
        items = targets.items() if isinstance(targets, dict) else [(None, targets)]
        checked = {}
        for name, rate in items:
            where = "activity.targets" if name is None else f"activity.targets.{name}"
            if name is not None and not isinstance(name, str):
                raise ValueError(f"activity.targets: layer names must be strings, got {shown(name)}")
            rate = check_value(rate, float, where)
            if not 0 <= rate <= 1:
                raise ValueError(f"{where}: expected a firing rate in [0, 1] (spikes per neuron per step), "
                                 f"got {rate!r}")
            checked[name] = rate
        out["targets"] = checked[None] if None in checked else checked
    return out


def chip_layer_names(convs_per_stage: int = 1, stem: bool = False) -> list[str]:
    """The student's spiking chip layers by name (each backbone conv, the stem's first when it has one, is followed
    by its BN and LIF, 3 modules)."""
    return [f"backbone.{3 * j}" for j in range(3 * convs_per_stage + int(stem))] + ["xcorr", "head.0"]


def check_targets_layers(section: dict, model_config: dict) -> None:
    """Rate mode: every layer named in ``activity.targets`` exists in the student ``model_config`` describes."""
    targets = section.get("targets")
    if section.get("mode") == "rate" and isinstance(targets, dict):
        names = chip_layer_names(int(model_config.get("convs_per_stage", 1)), bool(model_config.get("stem_channels")))
        unknown = sorted(set(targets) - set(names))
        if unknown:
            raise ValueError(f"activity.targets: unknown layer(s) {unknown}; the student's spiking layers are "
                             f"{names}")


def _out_hw(conv: nn.Conv2d, hw: tuple[int, int]) -> tuple[int, int]:
    return tuple((size + 2 * p - d * (k - 1) - 1) // s + 1 for size, k, s, p, d in
                 zip(hw, conv.kernel_size, conv.stride, conv.padding, conv.dilation, strict=True))


def spiking_layers(model: nn.Module) -> list[tuple[str, str, nn.Conv2d | None]]:
    """The search path's spiking layers in order as (chip name, trace key, the conv its spikes feed); the chip name
    is the emulator's and the energy report's (``backbone.0``: the neurons of conv ``backbone.0``), the trace key
    :attr:`SearchTrace.spikes`'s (the LIF's index, ``backbone.2``). The first entry is the network ``input``; the
    correlation's conv (the per-sequence template kernel) is ``None``."""
    from had_snn.models.student import layer_groups

    backbone, head = layer_groups(model.backbone, "backbone"), layer_groups(model.head, "head")
    at = {id(m): i for layers in (model.backbone, model.head) for i, m in enumerate(layers)}
    names = [("input", "input")] + [(f"backbone.{at[id(c)]}", f"backbone.{i}") for c, _, i, _ in backbone]
    names += [("xcorr", "xcorr")] + [(f"head.{at[id(c)]}", f"head.{i}") for c, _, i, lif in head if lif.spiking]
    feeds: list[nn.Conv2d | None] = [c for c, _, _, _ in backbone] + [None] + [c for c, _, _, _ in head]
    return [(chip, key, conv) for (chip, key), conv in zip(names, feeds, strict=False)]


@torch.no_grad()
def fanout_maps(model: nn.Module) -> dict[str, torch.Tensor]:
    """Per-neuron fan-out (C, H, W) float64 of the network input and of every spiking layer of ``model``'s search
    path, keyed by chip name (``input``, ``backbone.0``, ..., ``xcorr``, ``head.0``): the synaptic ops one spike
    costs in the next layer, from the architecture and the crop size (``search_px``, ``template_px``)."""
    from had_snn.models.student import layer_groups

    cfg = model.config
    t_hw = (cfg.template_px, cfg.template_px)
    for conv, _, _, _ in layer_groups(model.backbone, "backbone"):
        t_hw = _out_hw(conv, t_hw)
    k = t_hw[0] - 1  # the template kernel: stage-3 template features, 2x2-averaged (had_snn.models.layers)
    shape = (cfg.in_channels, cfg.search_px, cfg.search_px)
    maps: dict[str, torch.Tensor] = {}
    for name, _, conv in spiking_layers(model):
        if conv is None:  # the depthwise correlation: groups = C3, a k x k kernel, 'same' padding
            c = shape[0]
            maps[name] = conv_fanout(shape, (c, 1, k, k), 1, k // 2, 1, c)
            continue
        maps[name] = conv_fanout(shape, tuple(conv.weight.shape), conv.stride, conv.padding, conv.dilation,
                                 conv.groups)
        shape = (conv.out_channels, *_out_hw(conv, shape[1:]))
    return maps


def synops_per_frame(spikes: torch.Tensor, fanout: torch.Tensor) -> torch.Tensor:
    """Synaptic ops (B,) the spikes (T, B, C, H, W) of one layer cause in the next: sum of spikes x fan-out."""
    return torch.einsum("tbchw,chw->b", spikes, fanout.to(spikes.dtype))


class ActivityPenalty:
    """The configured penalty for one model: ``penalty(out) -> (loss term, per-layer logs)`` (see the module doc)."""

    def __init__(self, cfg: ActivityConfig, model: nn.Module) -> None:
        if getattr(model, "kind", None) != "student":
            raise ValueError("activity: activity regularisation applies to the spiking student (model: student), "
                             f"not to a {getattr(model, 'kind', type(model).__name__)!r}")
        self.cfg = cfg
        maps = fanout_maps(model)
        self.input_fanout = maps.pop("input")
        self.fanouts = maps
        self.layers = list(maps)
        self.trace_keys = {chip: key for chip, key, _ in spiking_layers(model)[1:]}
        self.targets: dict[str, float] = {}
        if cfg.mode == "rate":
            if isinstance(cfg.targets, dict):
                unknown = sorted(set(cfg.targets) - set(self.layers))
                if unknown:
                    raise ValueError(f"activity.targets: unknown layer(s) {unknown}; the student's spiking layers "
                                     f"are {self.layers}")
                self.targets = dict(cfg.targets)
            else:
                self.targets = {name: float(cfg.targets) for name in self.layers}

    def __call__(self, out: dict) -> tuple[torch.Tensor, dict[str, float]]:
        spikes = out.get("search_spikes")
        if spikes is None:
            raise ValueError("activity: the model's output has no search_spikes (not a spiking student)")
        total = None
        logs: dict[str, float] = {}
        ops_sum = 0.0
        for name in self.layers:
            s = spikes[self.trace_keys[name]]
            fan = self.fanouts[name].to(s.device)
            ops = synops_per_frame(s, fan).mean()
            rate = s.mean()
            if self.cfg.mode == "fanout":
                term = self.cfg.weight * ops / OPS_UNIT
            elif name in self.targets:
                term = self.cfg.weight * torch.relu(rate - self.targets[name]) ** 2
            else:
                term = None
            if term is not None:
                total = term if total is None else total + term
            ops_sum += float(ops.detach())
            logs[f"activity/{name}/rate"] = float(rate.detach())
            logs[f"activity/{name}/synops"] = float(ops.detach())
            logs[f"activity/{name}/penalty"] = float(term.detach()) if term is not None else 0.0
        if total is None:
            total = torch.zeros((), device=next(iter(spikes.values())).device)
        logs["activity/synops"] = ops_sum
        logs["activity/penalty"] = float(total.detach())
        return total, logs


def build_activity(section: dict | None, model: nn.Module) -> ActivityPenalty | None:
    """The penalty of a validated ``activity:`` section, or None when the section is empty (nothing logged)."""
    if not section:
        return None
    return ActivityPenalty(ActivityConfig(**section), model)
