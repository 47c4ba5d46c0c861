"""The ANN teacher: a Siamese RGB + event-voxel CNN tracker with a centre head.

Inputs (batch dict): ``template_rgb`` (B,3,64,64), ``search_rgb`` (B,3,128,128) in [0, 1] and ``template_voxel``
(B,5,64,64), ``search_voxel`` (B,5,128,128). Each modality has a stem (conv3x3-BN-ReLU); with both modalities the
stems are concatenated and fused by a 1x1 conv. A shared backbone has three named stages (stride 2, 4, 8); the
template's stage3 is turned into a depthwise correlation kernel (:func:`template_kernel`) and correlated with the
search stage3 -> ``response`` (B, C3, Hm, Wm) -> head (conv3x3-BN-ReLU, conv1x1 -> 5 channels).
``modalities`` selects the RGB+events teacher or the RGB-only / event-only baselines with the same code.
``event_input: spike_counts`` (a diagnostic) feeds the event stem the student's own input instead of the voxel
grid: its spike steps summed, ``template_spikes`` / ``search_spikes`` (T, B, 2, P, P) -> (B, 2, P, P) counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from had_snn.models.heads import HEAD_CHANNELS, init_head_bias, split_head
from had_snn.models.layers import depthwise_xcorr, template_kernel

MODALITIES = ("rgb+events", "rgb", "events")
EVENT_INPUTS = ("voxel", "spike_counts")


@dataclass
class TeacherConfig:
    """Teacher architecture. Widths are per stage (stride 2, 4, 8)."""

    modalities: str = "rgb+events"
    rgb_channels: int = 3
    voxel_bins: int = 5
    stem_channels: int = 16
    widths: tuple[int, int, int] = (16, 32, 64)
    convs_per_stage: int = 2
    head_channels: int = 32
    search_px: int = 128
    template_px: int = 64
    event_input: str = "voxel"

    def __post_init__(self) -> None:
        if self.modalities not in MODALITIES:
            raise ValueError(f"teacher modalities must be one of {MODALITIES}, got {self.modalities!r}")
        if self.event_input not in EVENT_INPUTS:
            raise ValueError(f"model_config.event_input must be one of {EVENT_INPUTS}, got {self.event_input!r}")
        self.widths = tuple(int(w) for w in self.widths)
        if len(self.widths) != 3 or self.convs_per_stage < 1:
            raise ValueError(f"teacher needs 3 stage widths and convs_per_stage >= 1, got {self.widths}, "
                             f"{self.convs_per_stage}")
        if self.search_px % 8 or self.template_px % 8:
            raise ValueError(f"search_px and template_px must be multiples of 8, got {self.search_px}, "
                             f"{self.template_px}")


def conv_bn_relu(c_in: int, c_out: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


class Teacher(nn.Module):
    """Siamese ANN tracker; ``forward(batch)`` returns heatmap/size/offset/response/features."""

    def __init__(self, config: TeacherConfig) -> None:
        super().__init__()
        self.config = config
        self.kind = {"rgb+events": "teacher", "rgb": "teacher_rgb", "events": "teacher_events"}[config.modalities]
        c0 = config.stem_channels
        self.rgb_stem = conv_bn_relu(config.rgb_channels, c0) if "rgb" in config.modalities else None
        event_channels = config.voxel_bins if config.event_input == "voxel" else 2
        self.event_stem = conv_bn_relu(event_channels, c0) if "events" in config.modalities else None
        self.fuse = conv_bn_relu(2 * c0, c0, kernel=1) if config.modalities == "rgb+events" else None
        stages, c_in = [], c0
        for width in config.widths:
            layers = [conv_bn_relu(c_in, width, stride=2)]
            layers += [conv_bn_relu(width, width) for _ in range(config.convs_per_stage - 1)]
            stages.append(nn.Sequential(*layers))
            c_in = width
        self.stage1, self.stage2, self.stage3 = stages
        self.xcorr_bn = nn.BatchNorm2d(c_in)
        self.head = nn.Sequential(conv_bn_relu(c_in, config.head_channels), nn.Conv2d(config.head_channels,
                                                                                      HEAD_CHANNELS, 1))
        init_head_bias(self.head[-1])

    def _stem(self, rgb: torch.Tensor | None, voxel: torch.Tensor | None) -> torch.Tensor:
        if self.fuse is not None:
            return self.fuse(torch.cat([self.rgb_stem(rgb), self.event_stem(voxel)], dim=1))
        return self.rgb_stem(rgb) if self.rgb_stem is not None else self.event_stem(voxel)

    def embed(self, rgb: torch.Tensor | None, voxel: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """Backbone features {stage1, stage2, stage3} of one crop."""
        s1 = self.stage1(self._stem(rgb, voxel))
        s2 = self.stage2(s1)
        return {"stage1": s1, "stage2": s2, "stage3": self.stage3(s2)}

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        events = "voxel" if self.config.event_input == "voxel" else "spikes"
        need = [f"{crop}_{m}" for crop in ("template", "search") for m in ("rgb", events)
                if (m == "rgb" and self.rgb_stem is not None) or (m == events and self.event_stem is not None)]
        missing = [k for k in need if k not in batch]
        if missing:
            raise ValueError(f"{self.kind} batch is missing {missing} (has {sorted(batch)})")

        def event_input(crop: str) -> torch.Tensor | None:
            x = batch.get(f"{crop}_{events}")
            return x.sum(0) if events == "spikes" and x is not None else x

        template = self.embed(batch.get("template_rgb"), event_input("template"))
        search = self.embed(batch.get("search_rgb"), event_input("search"))
        response = torch.relu(self.xcorr_bn(depthwise_xcorr(search["stage3"], template_kernel(template["stage3"]))))
        out = split_head(self.head(response))
        out["response"] = response
        out["features"] = search
        out["template_features"] = template
        return out
