"""Depthwise cross-correlation shared by the teacher and the student (the Siamese matching step)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def conv_fanout(in_shape: tuple[int, int, int], weight_shape: tuple[int, ...], stride, padding, dilation,
                groups: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Synapses leaving each input neuron (C, H, W) of a conv (structural: zero weights and borders included), float64:
    the gradient of ``sum(conv(x, ones))`` with respect to ``x``. What a spike costs in synaptic ops, for the
    emulator's counts and the activity penalty alike."""
    with torch.inference_mode(False), torch.enable_grad():
        x = torch.zeros((1, *in_shape), dtype=torch.float64, device=device, requires_grad=True)
        F.conv2d(x, torch.ones(weight_shape, dtype=torch.float64, device=device), stride=stride, padding=padding,
                 dilation=dilation, groups=groups).sum().backward()
    return x.grad[0].detach()


def template_kernel(template_features: torch.Tensor) -> torch.Tensor:
    """Correlation kernel from template features (B, C, Ht, Wt): 2x2 mean with stride 1 -> (B, C, Ht-1, Wt-1).

    An even Ht (8 for a 64 px template at stride 8) becomes odd (7), so the correlation with symmetric padding
    keeps the search size (16 x 16) and stays centred.
    """
    return F.avg_pool2d(template_features, 2, stride=1)


def depthwise_xcorr(search: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Depthwise cross-correlation of search features with a per-sample kernel, 'same' output size.

    Args:
        search: (N, B, C, H, W) features (N = time steps, 1 for an ANN) or (B, C, H, W).
        kernel: (B, C, k, k) with odd k.
    Returns: same shape as ``search``.
    """
    squeeze = search.dim() == 4
    if squeeze:
        search = search.unsqueeze(0)
    n, b, c, h, w = search.shape
    k = kernel.shape[-1]
    if kernel.shape[:2] != (b, c) or k % 2 == 0 or kernel.shape[-2] != k:
        raise ValueError(f"xcorr kernel must be (B={b}, C={c}, k, k) with odd k, got {tuple(kernel.shape)}")
    # oneDNN's fast depthwise path takes channels-last (N, H, W, B*C) memory: one copy into it (none if the search
    # already lies so), then a view as (N, B*C, H, W)
    hwbc = search.permute(0, 3, 4, 1, 2)
    if not hwbc.is_contiguous():
        hwbc = hwbc.contiguous()
    folded = hwbc.permute(0, 3, 4, 1, 2).reshape(n, b * c, h, w)
    weight = kernel.reshape(b * c, 1, k, k)
    if torch.is_grad_enabled() and (folded.requires_grad or weight.requires_grad) and _fast_weight_grad(folded):
        out = DepthwiseXcorr.apply(folded, weight)
    else:
        out = F.conv2d(folded, weight, padding=k // 2, groups=b * c)
    out = out.reshape(n, b, c, h, w)
    return out[0] if squeeze else out


def _fast_weight_grad(x: torch.Tensor) -> bool:
    """Whether :class:`DepthwiseXcorr` can take the weight gradient with the numba kernel: a CPU float tensor and
    numba installed (it is in the train extra)."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return False
    try:
        from had_snn.models import lif_cpu  # noqa: F401
    except ImportError:  # pragma: no cover - only where numba is missing
        return False
    return True


class DepthwiseXcorr(torch.autograd.Function):
    """``apply(x, weight)``: the 'same' depthwise correlation ``F.conv2d(x, weight, padding=k // 2, groups=C)`` of a
    (N, C, H, W) channels-last ``x`` with (C, 1, k, k) weights. The forward and the input gradient are oneDNN's; the
    weight gradient is :func:`had_snn.models.lif_cpu.depthwise_grad_weight` (a vectorised loop over the channels,
    ~3x faster than oneDNN's grouped-convolution weight gradient on one core; equal to summation order)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        return F.conv2d(x, weight, padding=weight.shape[-1] // 2, groups=weight.shape[0])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        from had_snn.models.lif_cpu import depthwise_grad_weight

        x, weight = ctx.saved_tensors
        k, groups = weight.shape[-1], weight.shape[0]
        g_x = g_w = None
        if ctx.needs_input_grad[0]:
            g_x = torch.ops.aten.convolution_backward(grad, x, weight, None, (1, 1), (k // 2, k // 2), (1, 1), False,
                                                      (0, 0), groups, (True, False, False))[0]
        if ctx.needs_input_grad[1]:
            nhwc = lambda t: t.detach().permute(0, 2, 3, 1).contiguous()  # noqa: E731 - no copy when channels-last
            out = torch.zeros((k, k, groups), dtype=x.dtype)
            depthwise_grad_weight(nhwc(x).numpy(), nhwc(grad).to(x.dtype).numpy(), k, k // 2, out.numpy())
            g_w = out.permute(2, 0, 1).unsqueeze(1).to(weight.dtype)
        return g_x, g_w
