"""The spiking event-only student: a Siamese CUBA-LIF network with a depthwise correlation and a centre head.

Input: ``template_spikes`` (T, B, 2, 64, 64) and ``search_spikes`` (T, B, 2, 128, 128) binary event spikes.

Spiking path, a plain ordered list a converter can walk (the Loihi mapping in brackets)::

    backbone (shared by template and search), nn.ModuleList, for each stage s = 1..3 with width C_s:
        Conv2d(C_in, C_s, 3, stride=2, padding=1, bias=False)   [conv layer]
        BatchNorm2d(C_s)                                         [folds into the conv weights and bias]
        CubaLIF                                                  [LIF: du, dv, vth]     <- stage end if last of s
        then (convs_per_stage - 1) x [Conv2d(C_s, C_s, 3, 1, 1, bias=False), BatchNorm2d, CubaLIF]
    xcorr: depthwise correlation of search stage3 spikes with the template kernel
           kernel = template_kernel(mean over T of the template stage3 spikes)  (B, C3, 7, 7)
           [a grouped conv (groups=C3, padding=3) whose weights are written once per sequence]
    xcorr_bn: BatchNorm2d(C3)                                    [folds into that per-sequence kernel and a bias]
    xcorr_lif: CubaLIF                                           [LIF]
    head, nn.ModuleList:
        Conv2d(C3, Ch, 3, padding=1, bias=False), BatchNorm2d(Ch), CubaLIF
        Conv2d(Ch, 5, 1, bias=True)                              [conv layer, bias -> bias_mant]
        CubaLIF(threshold=None)                                  [non-spiking read-out: membrane averaged over T]

Only the stage ends listed in :attr:`SpikingStudent.stage_ends` are exposed as features (per step, (T, B, C, H, W)).
The read-out's 5 channels are split into heatmap logits, size and offset (sigmoid, off-chip) by
:func:`~had_snn.models.heads.split_head`. Convolutions are time-folded: each conv/BN runs once on (T*B, C, H, W);
only the neurons loop over T. Activations are channels-last (NHWC per step) from the first conv on; the neurons keep
that layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from had_snn.models.heads import HEAD_CHANNELS, init_head_bias, split_head
from had_snn.models.layers import depthwise_xcorr, template_kernel
from had_snn.models.neurons import CubaLIF


@dataclass
class StudentConfig:
    """Student architecture and neuron parameters (decays per layer, shared initial values)."""

    in_channels: int = 2
    widths: tuple[int, int, int] = (16, 32, 64)
    convs_per_stage: int = 1
    head_channels: int = 32
    alpha: float = 0.5
    beta: float = 0.8
    threshold: float = 1.0
    learn_decay: bool = True
    surrogate_slope: float = 2.0
    readout_alpha: float = 0.0
    readout_beta: float = 0.0
    search_px: int = 128
    template_px: int = 64

    def __post_init__(self) -> None:
        self.widths = tuple(int(w) for w in self.widths)
        if len(self.widths) != 3 or self.convs_per_stage < 1:
            raise ValueError(f"student needs 3 stage widths and convs_per_stage >= 1, got {self.widths}, "
                             f"{self.convs_per_stage}")
        if self.search_px % 8 or self.template_px % 8:
            raise ValueError(f"search_px and template_px must be multiples of 8, got {self.search_px}, "
                             f"{self.template_px}")


@dataclass
class SearchTrace:
    """Everything the search path computes, time first: ``spikes`` of every spiking layer keyed by its deployed name
    (``backbone.i``, ``xcorr``, ``head.i``), the correlation ``response`` after its BN (T, B, C3, H, W) and the
    read-out ``membrane`` (T, B, 5, H, W)."""

    spikes: dict[str, torch.Tensor]
    response: torch.Tensor
    membrane: torch.Tensor


def run_layers(layers: nn.ModuleList, x: torch.Tensor, record: dict[int, torch.Tensor] | None = None) -> torch.Tensor:
    """Run a (T, B, C, H, W) tensor through a layer list: convs/BN time-folded, neurons stepped over T.

    ``record`` (if given) receives the output of every CubaLIF layer, keyed by its index in ``layers``.
    """
    for i, layer in enumerate(layers):
        if isinstance(layer, CubaLIF):
            x = layer(x)
            if record is not None:
                record[i] = x
        else:
            folded = x.flatten(0, 1)
            if isinstance(layer, nn.Conv2d):  # channels-last: ~2x faster conv forward+backward on CPU (oneDNN)
                folded = folded.contiguous(memory_format=torch.channels_last)
            x = layer(folded).unflatten(0, x.shape[:2])
    return x


def _check_spikes(batch: dict[str, torch.Tensor], key: str, channels: int, px: int) -> torch.Tensor:
    if key not in batch:
        raise ValueError(f"student batch is missing {key!r} (has {sorted(batch)})")
    x = batch[key]
    if x.dim() != 5 or x.shape[2] != channels or x.shape[3:] != (px, px):
        raise ValueError(f"{key} must be (T, B, {channels}, {px}, {px}) spikes, got {tuple(x.shape)}")
    return x


class SpikingStudent(nn.Module):
    """Event-only spiking tracker; ``forward(batch)`` returns heatmap/size/offset/response/features/firing_rates."""

    kind = "student"

    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        self.config = config
        cfg = config

        def lif(threshold: float | None = cfg.threshold, alpha: float = cfg.alpha, beta: float = cfg.beta,
                learn: bool = cfg.learn_decay) -> CubaLIF:
            return CubaLIF(alpha, beta, threshold, learn, cfg.surrogate_slope)

        layers: list[nn.Module] = []
        self.stage_ends: dict[str, int] = {}
        c_in = cfg.in_channels
        for s, width in enumerate(cfg.widths, start=1):
            for k in range(cfg.convs_per_stage):
                layers += [nn.Conv2d(c_in, width, 3, 2 if k == 0 else 1, 1, bias=False), nn.BatchNorm2d(width), lif()]
                c_in = width
            self.stage_ends[f"stage{s}"] = len(layers) - 1
        self.backbone = nn.ModuleList(layers)
        self.xcorr_bn = nn.BatchNorm2d(c_in)
        self.xcorr_lif = lif()
        self.head = nn.ModuleList([
            nn.Conv2d(c_in, cfg.head_channels, 3, 1, 1, bias=False), nn.BatchNorm2d(cfg.head_channels), lif(),
            nn.Conv2d(cfg.head_channels, HEAD_CHANNELS, 1, bias=True),
            lif(threshold=None, alpha=cfg.readout_alpha, beta=cfg.readout_beta, learn=False),
        ])
        init_head_bias(self.head[3])

    def embed(self, spikes: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Backbone per-step stage features {stage1..3: (T, B, C, H, W)} and firing rates of every backbone LIF."""
        record: dict[int, torch.Tensor] = {}
        run_layers(self.backbone, spikes, record)
        features = {name: record[i] for name, i in self.stage_ends.items()}
        rates = {f"backbone.{i}": s.mean() for i, s in record.items()}
        return features, rates

    def template_kernel(self, template: torch.Tensor) -> tuple[torch.Tensor, dict, dict]:
        """Correlation kernel (B, C3, k, k) of template spikes (T, B, C, H, W): the mean over T of the stage-3 spikes,
        2x2-averaged. Also returns the template's stage features and backbone firing rates (as :meth:`embed`)."""
        features, rates = self.embed(template)
        return template_kernel(features["stage3"].mean(0)), features, rates

    def search_path(self, search: torch.Tensor, kernel: torch.Tensor) -> SearchTrace:
        """The deployed path: backbone -> correlation with ``kernel`` (B, C3, k, k) -> xcorr BN + LIF -> head.

        This is the chain the converter quantises and the emulator runs; :meth:`forward` and the float-vs-fixed
        comparison both call it, so there is one definition of it.
        """
        record: dict[int, torch.Tensor] = {}
        x = run_layers(self.backbone, search, record)
        corr = depthwise_xcorr(x, kernel)
        corr = self.xcorr_bn(corr.flatten(0, 1)).unflatten(0, corr.shape[:2])
        corr_spikes = self.xcorr_lif(corr)
        head_record: dict[int, torch.Tensor] = {}
        membrane = run_layers(self.head, corr_spikes, head_record)
        spikes = {f"backbone.{i}": s for i, s in sorted(record.items())}
        spikes["xcorr"] = corr_spikes
        spikes.update({f"head.{i}": s for i, s in sorted(head_record.items()) if self.head[i].spiking})
        return SearchTrace(spikes, corr, membrane)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        cfg = self.config
        template = _check_spikes(batch, "template_spikes", cfg.in_channels, cfg.template_px)
        search = _check_spikes(batch, "search_spikes", cfg.in_channels, cfg.search_px)
        kernel, t_feats, t_rates = self.template_kernel(template)
        trace = self.search_path(search, kernel)
        out = split_head(trace.membrane.mean(0))
        s_feats = {name: trace.spikes[f"backbone.{i}"] for name, i in self.stage_ends.items()}
        rates = {("xcorr_lif" if k == "xcorr" else k): s.mean() for k, s in trace.spikes.items()}
        rates.update({f"template/{k}": v for k, v in t_rates.items()})
        out.update(response=trace.response.mean(0), response_spikes=trace.spikes["xcorr"], features=s_feats,
                   template_features=t_feats, template_kernel=kernel, firing_rates=rates)
        return out
