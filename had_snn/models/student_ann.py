"""The student's ANN twin: the spiking student's exact layers with ReLU instead of CUBA-LIF and no time.

A diagnostic model (kind ``student_ann``): it separates what the student loses to its capacity (the same
convolutions, widths, correlation and head as :class:`~had_snn.models.student.SpikingStudent`, built from the same
:class:`~had_snn.models.student.StudentConfig`) from what it loses to spiking (binary spikes over T steps, LIF
dynamics, surrogate gradients, the chip's one-step delays). Its input is the student's own spike tensors summed over
the steps, ``template_spikes`` (T, B, 2, Pt, Pt) -> (B, 2, Pt, Pt) event counts, so both see the same events.

Layers (one per student synaptic layer)::

    stem:     with stem_channels set, a full-resolution Conv2d (stride 1) + BatchNorm2d + ReLU
    backbone: per stage s, Conv2d(stride 2) + BatchNorm2d + ReLU, then (convs_per_stage - 1) x Conv2d + BN + ReLU
    xcorr:    depthwise correlation with template_kernel(template stage3), BatchNorm2d, ReLU
    head:     Conv2d 3x3 + BN + ReLU, Conv2d 1x1 (5 channels: heat map, size, offset)

The neuron fields of the config (``alpha``, ``beta``, ``threshold``, ...) are unused; ``qat`` must be false (the
twin never runs on a chip).
"""

from __future__ import annotations

import torch
from torch import nn

from had_snn.models.heads import HEAD_CHANNELS, init_head_bias, split_head
from had_snn.models.layers import depthwise_xcorr, template_kernel
from had_snn.models.student import StudentConfig, _check_spikes


def _conv_bn_relu(c_in: int, c_out: int, stride: int, kernel: int = 3) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class StudentANN(nn.Module):
    """ANN twin of the spiking student; ``forward(batch)`` returns heatmap/size/offset/response/features as the
    teacher does."""

    kind = "student_ann"

    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        if config.qat:
            raise ValueError("model_config.qat: the student's ANN twin has no chip integers to train against; "
                             "set qat: false")
        self.config = cfg = config
        stages, c_in = [], cfg.in_channels
        self.stem = nn.Sequential(*_conv_bn_relu(c_in, cfg.stem_channels, 1)) if cfg.stem_channels else nn.Identity()
        c_in = cfg.stem_channels or c_in
        for width in cfg.widths:
            layers: list[nn.Module] = []
            for k in range(cfg.convs_per_stage):
                layers += _conv_bn_relu(c_in, width, 2 if k == 0 else 1)
                c_in = width
            stages.append(nn.Sequential(*layers))
        self.stage1, self.stage2, self.stage3 = stages
        self.xcorr_bn = nn.BatchNorm2d(c_in)
        self.head = nn.Sequential(*_conv_bn_relu(c_in, cfg.head_channels, 1),
                                  nn.Conv2d(cfg.head_channels, HEAD_CHANNELS, 1))
        init_head_bias(self.head[-1])

    def embed(self, counts: torch.Tensor) -> dict[str, torch.Tensor]:
        """Stage features {stage1, stage2, stage3} of (B, 2, P, P) event counts."""
        s1 = self.stage1(self.stem(counts))
        s2 = self.stage2(s1)
        return {"stage1": s1, "stage2": s2, "stage3": self.stage3(s2)}

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        cfg = self.config
        template = _check_spikes(batch, "template_spikes", cfg.in_channels, cfg.template_px).sum(0)
        search = _check_spikes(batch, "search_spikes", cfg.in_channels, cfg.search_px).sum(0)
        t_feats, s_feats = self.embed(template), self.embed(search)
        response = torch.relu(self.xcorr_bn(depthwise_xcorr(s_feats["stage3"], template_kernel(t_feats["stage3"]))))
        out = split_head(self.head(response))
        out.update(response=response, features=s_feats, template_features=t_feats)
        return out
