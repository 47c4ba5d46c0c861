"""The spiking event-only student: a Siamese CUBA-LIF network with a depthwise correlation and a centre head.

Input: ``template_spikes`` (T, B, 2, 64, 64) and ``search_spikes`` (T, B, 2, 128, 128) binary event spikes.

Spiking path, a plain ordered list a converter can walk (the Loihi mapping in brackets)::

    backbone (shared by template and search), nn.ModuleList:
      with stem_channels = C_0 set, first a full-resolution stem:
        Conv2d(C_in, C_0, 3, stride=1, padding=1, bias=False), BatchNorm2d(C_0), CubaLIF
      then for each stage s = 1..3 with width C_s:
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

**The chip's timing** (the only mode; ``StudentConfig.loihi_faithful`` must be true, see
:mod:`had_snn.hardware.cuba`): every synaptic layer (conv + BN + LIF, the correlation, the read-out) delays its input
by one step, BN is split into ``scale * conv(x)`` (the current) and ``shift`` (+ conv bias x scale) that enters the
VOLTAGE at every step from step 0, and decays sit on the chip's 1/4096 grid. Layer l (1-based along the search path,
L layers) therefore runs T + l steps; :meth:`SpikingStudent.search_path` returns layer l's spikes of steps
[l, l + T) and the read-out membrane of steps [L, L + T): T steps aligned to the input as the chip reads them. Stage
features (and the template kernel, the mean of the aligned stage-3 spikes) are aligned alike. In training BN uses
batch statistics and updates its running statistics as ``nn.BatchNorm2d`` does.

**Quantisation-aware mode** (``StudentConfig.qat``): BN is frozen to its running
statistics and folded into the conv in float64 (:func:`had_snn.models.fold.fold_bn64`, the quantiser's fold); per
layer the scale ``k = cuba.layer_scale(max|W|, max|b|, threshold)`` puts weights and voltage biases on the chip's
integer grid with straight-through gradients (:func:`qat_integers`); the correlation layer is quantised per sample
(one template each). The forward then runs the chip's own integer arithmetic (:meth:`CubaLIF.forward_chip`: synaptic
sums of the integer weights, decays truncated toward zero, 24-bit wrap / clip, ``bias_mant`` and ``vth_mant``, the
read-out's ``v / (64 k)`` in float64), so its spikes and read-out equal the emulator's of the converted network; the
backward is the float layer's surrogate gradient (straight-through).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from had_snn.models.fold import bn_affine64, fold_bn64
from had_snn.models.heads import HEAD_CHANNELS, init_head_bias, split_head
from had_snn.models.layers import depthwise_xcorr, template_kernel
from had_snn.models.neurons import CubaLIF

#: Layer groups [Conv2d, BatchNorm2d | None, CubaLIF] as (conv, bn, lif index, lif).
Group = tuple[nn.Conv2d, "nn.BatchNorm2d | None", int, CubaLIF]


@dataclass
class StudentConfig:
    """Student architecture and neuron parameters (decays per layer, shared initial values)."""

    in_channels: int = 2
    widths: tuple[int, int, int] = (16, 32, 64)
    convs_per_stage: int = 1
    stem_channels: int | None = None  # a full-resolution (stride 1) conv layer before stage 1; None: no stem
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
    loihi_faithful: bool = True
    qat: bool = False

    def __post_init__(self) -> None:
        if self.loihi_faithful is not True:
            raise ValueError(f"model_config.loihi_faithful: {self.loihi_faithful!r} is not supported: every student "
                             "runs the chip's timing (one step of delay per layer, the voltage bias, decays on the "
                             "1/4096 grid); remove the field or set it to true, and retrain a student made without it")
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


def folded_channels_last(x: torch.Tensor) -> torch.Tensor:
    """(S, B, C, H, W) steps as one channels-last (S*B, C, H, W) batch (oneDNN's fast conv layout) with at most one
    copy: none when every sample's step already lies channels-last, one (instead of two) from another layout such as
    the correlation's (S, H, W, B, C)."""
    nhwc = x.permute(0, 1, 3, 4, 2)
    if not nhwc.is_contiguous():
        nhwc = nhwc.contiguous()
    return nhwc.flatten(0, 1).permute(0, 3, 1, 2)


def layer_groups(layers: nn.ModuleList, prefix: str) -> list[Group]:
    """The [Conv2d, BatchNorm2d?, CubaLIF] groups of a layer list, in order (one chip layer each): the one walker of
    the student's layers (its forward, the quantiser, the fan-out maps). Anything that is not such a group (two
    convolutions in a row, a BN not directly after its conv, another module, a conv without a CubaLIF) is a
    ValueError naming the module as ``prefix.<index>``."""
    groups: list[Group] = []
    conv: nn.Conv2d | None = None
    bn: nn.BatchNorm2d | None = None
    for i, m in enumerate(layers):
        where = f"{prefix}.{i}"
        if isinstance(m, nn.Conv2d):
            if conv is not None:
                raise ValueError(f"{where}: two convolutions without a CubaLIF between them cannot map to Loihi")
            conv, bn = m, None
        elif isinstance(m, nn.BatchNorm2d):
            if conv is None or bn is not None:
                raise ValueError(f"{where}: BatchNorm2d must directly follow a Conv2d to be folded")
            bn = m
        elif isinstance(m, CubaLIF):
            if conv is None:
                raise ValueError(f"{where}: CubaLIF without a preceding Conv2d")
            groups.append((conv, bn, i, m))
            conv = None
        else:
            raise ValueError(f"{where}: unsupported module {type(m).__name__} (Loihi mapping knows Conv2d, "
                             "BatchNorm2d, CubaLIF)")
    if conv is not None:
        raise ValueError(f"{prefix}: its last Conv2d has no CubaLIF")
    return groups


def bn_split(bn: nn.BatchNorm2d, y: torch.Tensor, frozen: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """BatchNorm of ``y`` (N, C, H, W) split into ``(scale, shift)`` (C,) with ``bn(y) == scale * y + shift``.

    In training (and not ``frozen``) the batch statistics are used and the running statistics updated as
    ``nn.BatchNorm2d`` does (momentum, unbiased variance); otherwise the running statistics.
    """
    if bn.training and not frozen:
        var, mean = torch.var_mean(y, dim=(0, 2, 3), unbiased=False)
        with torch.no_grad():
            n = y.numel() // y.shape[1]
            bn.num_batches_tracked.add_(1)
            m = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
            bn.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
            bn.running_var.mul_(1 - m).add_(var.detach() * (n / max(n - 1, 1)), alpha=m)
    else:
        mean, var = bn.running_mean, bn.running_var
    scale = bn.weight * torch.rsqrt(var + bn.eps)
    return scale, bn.bias - mean * scale


def chip_scale(weight: torch.Tensor, bias: torch.Tensor, threshold: float | None) -> float:
    """The quantiser's per-layer scale ``k`` (:func:`had_snn.hardware.cuba.layer_scale`) of float64 folded tensors;
    an all-zero weight (a template without spikes) is scaled by its bias and threshold alone."""
    from had_snn.hardware.cuba import layer_scale

    w_ref = float(weight.detach().abs().max()) if weight.numel() else 0.0
    return layer_scale(w_ref if w_ref > 0 else 1e-12, float(bias.detach().abs().max()), threshold)[0]


def qat_integers(weight64: torch.Tensor, bias64: torch.Tensor, k: torch.Tensor | float,
                 dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The QAT forward's weights as the chip holds them: integer mantissas ``weight_mantissa(w, k)`` (exact in
    ``dtype``, straight-through to ``k * w``), and the voltage bias on its grid (``bias_mant / k``, float64,
    straight-through)."""
    from had_snn.hardware.cuba import fake_quantize, weight_mantissa

    scaled = weight64 * k
    w_int = scaled + (weight_mantissa(weight64.detach(), k) - scaled).detach()
    return w_int.to(dtype), fake_quantize(bias64, k, "bias")


def _check_spikes(batch: dict[str, torch.Tensor], key: str, channels: int, px: int) -> torch.Tensor:
    if key not in batch:
        raise ValueError(f"student batch is missing {key!r} (has {sorted(batch)})")
    x = batch[key]
    if x.dim() != 5 or x.shape[2] != channels or x.shape[3:] != (px, px):
        raise ValueError(f"{key} must be (T, B, {channels}, {px}, {px}) spikes, got {tuple(x.shape)}")
    return x


class SpikingStudent(nn.Module):
    """Event-only spiking tracker; ``forward(batch)`` returns heatmap/size/offset/response/features/firing_rates and
    ``search_spikes`` (the search path's spikes per deployed layer name, :attr:`SearchTrace.spikes`; what activity
    regularisation, :mod:`had_snn.train.activity`, penalises)."""

    kind = "student"

    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        self.config = config
        cfg = config

        def lif(threshold: float | None = cfg.threshold, alpha: float = cfg.alpha, beta: float = cfg.beta,
                learn: bool = cfg.learn_decay) -> CubaLIF:
            return CubaLIF(alpha, beta, threshold, learn, cfg.surrogate_slope, on_grid=True)

        layers: list[nn.Module] = []
        self.stage_ends: dict[str, int] = {}
        c_in = cfg.in_channels
        if cfg.stem_channels:
            layers += [nn.Conv2d(c_in, cfg.stem_channels, 3, 1, 1, bias=False), nn.BatchNorm2d(cfg.stem_channels),
                       lif()]
            c_in = cfg.stem_channels
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
        """Backbone per-step stage features {stage1..3: (T, B, C, H, W)} and firing rates of every backbone LIF
        (Loihi-faithful: aligned to the input steps, see the module docstring)."""
        record: dict[int, torch.Tensor] = {}
        steps = spikes.shape[0]
        x = spikes
        for conv, bn, i, lif in layer_groups(self.backbone, "backbone"):
            x = self._chip_layer(conv, bn, lif, x)
            record[i] = x[-steps:]
        features = {name: record[i] for name, i in self.stage_ends.items()}
        rates = {f"backbone.{i}": s.mean() for i, s in record.items()}
        return features, rates

    def template_kernel(self, template: torch.Tensor) -> tuple[torch.Tensor, dict, dict]:
        """Correlation kernel (B, C3, k, k) of template spikes (T, B, C, H, W): the mean over T of the (aligned)
        stage-3 spikes, 2x2-averaged. Also returns the template's stage features and backbone firing rates (as
        :meth:`embed`)."""
        features, rates = self.embed(template)
        return template_kernel(features["stage3"].mean(0)), features, rates

    def _chip_layer(self, conv: nn.Conv2d, bn: nn.BatchNorm2d | None, lif: CubaLIF, x: torch.Tensor) -> torch.Tensor:
        """One Loihi-faithful synaptic layer on (S, B, C, H, W) input spikes; returns S + 1 steps (one of delay)."""
        folded = folded_channels_last(x)
        if self.config.qat:
            w64, b64 = fold_bn64(conv.weight, conv.bias, bn)
            k = chip_scale(w64, b64, lif.threshold)
            w_int, bias = qat_integers(w64, b64, k, conv.weight.dtype)
            a = conv._conv_forward(folded, w_int, None)  # the chip's synaptic sums: exact integers
            return lif.forward_chip(a.unflatten(0, x.shape[:2]), bias, k)
        else:
            y = conv._conv_forward(folded, conv.weight, None)
            if bn is None:
                scale, bias = None, conv.bias
            else:
                scale, bias = bn_split(bn, y)
                if conv.bias is not None:
                    bias = bias + conv.bias * scale
        return lif.forward_delayed(y.unflatten(0, x.shape[:2]), bias, scale)

    @torch.no_grad()
    def qat_errors(self) -> dict[str, float]:
        """Mean over the fixed chip layers (backbone and head; the correlation changes per template) of the relative
        error ``|quantised - float| / |float|`` of the folded weights and voltage biases (what QAT trains against)."""
        from had_snn.hardware.cuba import bias_mantissa, weight_mantissa

        errors: dict[str, list[float]] = {"qat/weight_rel_error": [], "qat/bias_rel_error": []}
        for conv, bn, _, lif in layer_groups(self.backbone, "backbone") + layer_groups(self.head, "head"):
            w64, b64 = fold_bn64(conv.weight, conv.bias, bn)
            k = chip_scale(w64, b64, lif.threshold)
            for key, x, q in (("qat/weight_rel_error", w64, weight_mantissa(w64, k) / k),
                              ("qat/bias_rel_error", b64, bias_mantissa(b64, k) / k)):
                errors[key].append(float((q - x).norm() / x.norm().clamp_min(1e-12)))
        return {key: sum(v) / len(v) for key, v in errors.items()}

    def _chip_xcorr(self, x: torch.Tensor, kernel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The Loihi-faithful correlation layer on (S, B, C3, H, W) spikes: (S + 1 steps of spikes, the S steps of
        the response after BN). With QAT the kernel is folded and quantised per sample (its own scale)."""
        bn, lif = self.xcorr_bn, self.xcorr_lif
        if self.config.qat:
            from had_snn.hardware.cuba import fake_quantize

            scale64, shift64 = bn_affine64(bn)
            w64 = kernel.double() * scale64.view(1, -1, 1, 1)
            k = torch.tensor([chip_scale(w, shift64, lif.threshold) for w in w64], dtype=torch.float64,
                             device=w64.device)
            w_int = qat_integers(w64, shift64, k.view(-1, 1, 1, 1), kernel.dtype)[0]
            bias = fake_quantize(shift64.expand(len(k), -1), k.view(-1, 1), "bias")
            a = depthwise_xcorr(x, w_int)  # integer sums, per sample
            inv_k = (1.0 / k).to(kernel.dtype).view(1, -1, 1, 1, 1)
            return lif.forward_chip(a, bias, k), a * inv_k + bias.to(kernel.dtype)[..., None, None]
        corr = depthwise_xcorr(x, kernel)
        scale, shift = bn_split(bn, corr.flatten(0, 1))
        response = torch.addcmul(shift.view(-1, 1, 1), corr, scale.view(-1, 1, 1))
        return lif.forward_delayed(corr, shift, scale), response

    def search_path(self, search: torch.Tensor, kernel: torch.Tensor) -> SearchTrace:
        """The deployed path: backbone -> correlation with ``kernel`` (B, C3, k, k) -> xcorr BN + LIF -> head.

        This is the chain the converter quantises and the emulator runs; :meth:`forward` and the float-vs-fixed
        comparison both call it, so there is one definition of it. Every trace is T steps aligned to
        the input steps as the chip reads them (layer l's spikes of steps [l, l + T), the read-out of [L, L + T)).
        """
        steps = search.shape[0]
        spikes: dict[str, torch.Tensor] = {}
        x = search
        for conv, bn, i, lif in layer_groups(self.backbone, "backbone"):
            x = self._chip_layer(conv, bn, lif, x)
            spikes[f"backbone.{i}"] = x[-steps:]
        x, response = self._chip_xcorr(x, kernel)
        spikes["xcorr"] = x[-steps:]
        for conv, bn, i, lif in layer_groups(self.head, "head"):
            x = self._chip_layer(conv, bn, lif, x)
            if lif.spiking:
                spikes[f"head.{i}"] = x[-steps:]
        return SearchTrace(spikes, response[-steps:], x[-steps:])

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        cfg = self.config
        template = _check_spikes(batch, "template_spikes", cfg.in_channels, cfg.template_px)
        search = _check_spikes(batch, "search_spikes", cfg.in_channels, cfg.search_px)
        kernel, t_feats, t_rates = self.template_kernel(template)
        trace = self.search_path(search, kernel)
        frames = int(batch["clip_frames"]) if "clip_frames" in batch else 1
        if frames > 1:  # a stream of K windows (had_snn.train.clips): each frame's read-out, rows k * B + b
            if search.shape[0] % frames:
                raise ValueError(f"search_spikes has {search.shape[0]} steps, not a multiple of clip_frames={frames}")
            m = trace.membrane
            membrane = m.unflatten(0, (frames, -1)).mean(1).flatten(0, 1)
        else:
            membrane = trace.membrane.mean(0)
        out = split_head(membrane.to(search.dtype))  # QAT: a float64 read-out, cast after the mean
        s_feats = {name: trace.spikes[f"backbone.{i}"] for name, i in self.stage_ends.items()}
        rates = {("xcorr_lif" if k == "xcorr" else k): s.mean() for k, s in trace.spikes.items()}
        rates.update({f"template/{k}": v for k, v in t_rates.items()})
        out.update(response=trace.response.mean(0), response_spikes=trace.spikes["xcorr"], features=s_feats,
                   template_features=t_feats, template_kernel=kernel, firing_rates=rates,
                   search_spikes=trace.spikes)
        return out
