"""Every float CUBA LIF path equals the one step definition (had_snn.models.lif_functional.lif_step), step for step:
the torch loop, the numba kernels (plain and the fused chip layer), the read-out, and their gradients."""

from __future__ import annotations

import pytest
import torch

from had_snn.models.lif_autograd import CubaLIFFunction, DelayedCubaLIFFunction, delayed_current
from had_snn.models.lif_functional import lif_states, lif_step

ALPHA, BETA, TH, SLOPE = 0.6, 0.85, 0.5, 2.0


class AtanSpike(torch.autograd.Function):
    """snntorch's arctan surrogate (``surrogate.atan``) in the input's dtype: snntorch casts its spikes to float32,
    which would round a float64 reference's gradients to float32."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * (SLOPE / 2) / (1 + (torch.pi / 2 * SLOPE * x) ** 2)


def reference(current: torch.Tensor, threshold: float | None, surrogate_spikes: bool = False):
    """(spikes or membrane, syn, pre-reset mem) of a loop of lif_step over a (T, ...) current from the zero state."""
    spike_fn = AtanSpike.apply
    syn = mem = spk = torch.zeros_like(current[0])
    outs, syns, mems = [], [], []
    for t in range(current.shape[0]):
        syn, mem = lif_step(syn, mem, spk, current[t], ALPHA, BETA)
        if threshold is None:
            outs.append(mem)
        else:
            spk = spike_fn(mem - threshold) if surrogate_spikes else (mem > threshold).to(mem.dtype)
            outs.append(spk)
        syns.append(syn)
        mems.append(mem)
    return torch.stack(outs), torch.stack(syns), torch.stack(mems)


def _current(seed: int = 0, shape=(9, 2, 3, 5, 5)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) * 0.8 - 0.1


@pytest.mark.parametrize("threshold", [TH, None], ids=["spiking", "read-out"])
def test_torch_loop_equals_the_step_bit_for_bit(threshold) -> None:
    current = _current()
    out, syn, mem = reference(current, threshold)
    syn_t, mem_t = lif_states(current, ALPHA, BETA, threshold)
    assert torch.equal(syn_t, syn) and torch.equal(mem_t, mem)
    if threshold is not None:
        assert out.sum() > 10 and out.mean() < 0.9  # some neurons fire, not all: the reset is exercised


@pytest.mark.parametrize("torch_path", [False, True], ids=["numba", "torch"])
@pytest.mark.parametrize("threshold", [TH, None], ids=["spiking", "read-out"])
def test_cuba_lif_function_equals_the_step(monkeypatch, torch_path, threshold) -> None:
    monkeypatch.setenv("HAD_SNN_TORCH_LIF", "1" if torch_path else "0")
    current = _current(1)
    out = CubaLIFFunction.apply(current, torch.tensor(ALPHA), torch.tensor(BETA), threshold, SLOPE)
    assert torch.equal(out, reference(current, threshold)[0])


def test_fused_chip_layer_equals_the_step_on_its_delayed_biased_current() -> None:
    g = torch.Generator().manual_seed(2)
    y = torch.rand((6, 2, 3, 4, 4), generator=g) * 0.6
    bias = torch.tensor([0.05, -0.1, 0.2])
    scale = torch.tensor([1.0, 0.7, 1.3])
    alpha, beta = torch.tensor(ALPHA), torch.tensor(BETA)
    fused = DelayedCubaLIFFunction.apply(y, bias, scale, alpha, beta, TH, SLOPE)
    current = delayed_current(y, bias, alpha, scale)
    assert torch.equal(fused, reference(current, TH)[0]) and fused.shape[0] == y.shape[0] + 1


@pytest.mark.parametrize("torch_path", [False, True], ids=["numba", "torch"])
@pytest.mark.parametrize("threshold", [TH, None], ids=["spiking", "read-out"])
def test_gradients_equal_autograd_through_the_step(monkeypatch, torch_path, threshold) -> None:
    monkeypatch.setenv("HAD_SNN_TORCH_LIF", "1" if torch_path else "0")
    current = _current(3, (7, 2, 4, 3, 3)).double()
    g_out = torch.randn(current.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    grads = []
    for fused in (True, False):
        x = current.clone().requires_grad_(True)
        a = torch.tensor(ALPHA, dtype=torch.float64, requires_grad=True)
        b = torch.tensor(BETA, dtype=torch.float64, requires_grad=True)
        if fused:
            out = CubaLIFFunction.apply(x, a, b, threshold, SLOPE)
        else:
            spike_fn = AtanSpike.apply
            syn = mem = spk = torch.zeros_like(x[0])
            outs = []
            for t in range(x.shape[0]):
                syn, mem = lif_step(syn, mem, spk, x[t], a, b)
                spk = spike_fn(mem - threshold) if threshold is not None else torch.zeros_like(mem)
                outs.append(spk if threshold is not None else mem)
            out = torch.stack(outs)
        grads.append(torch.autograd.grad(out, (x, a, b), g_out))
    for got, want in zip(*grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)
