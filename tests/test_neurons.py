"""The fused CUBA LIF (one autograd node over T) against snntorch.Synaptic and the per-step autograd reference."""

from __future__ import annotations

import pytest
import snntorch
import torch

from had_snn.models.lif_autograd import CubaLIFFunction, use_compiled
from had_snn.models.lif_functional import lif_states
from had_snn.models.neurons import CubaLIF


@pytest.fixture(params=["numba", "torch"], autouse=True)
def lif_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run every test with the compiled CPU kernels and with the torch ops (HAD_SNN_TORCH_LIF=1)."""
    monkeypatch.setenv("HAD_SNN_TORCH_LIF", "1" if request.param == "torch" else "0")
    assert use_compiled(torch.zeros(1)) == (request.param == "numba")
    return request.param


def step_reference(lif: CubaLIF, current: torch.Tensor) -> torch.Tensor:
    """The same layer stepped with plain autograd (CubaLIF.step), the way the model ran before fusing."""
    syn = mem = spk = torch.zeros_like(current[0])
    out = []
    for t in range(current.shape[0]):
        o, syn, mem, spk = lif.step(current[t], syn, mem, spk)
        out.append(o)
    return torch.stack(out)


def snntorch_reference(alpha: float, beta: float, threshold: float, current: torch.Tensor) -> torch.Tensor:
    ref = snntorch.Synaptic(alpha=alpha, beta=beta, threshold=threshold, reset_mechanism="zero", reset_delay=False,
                            spike_grad=snntorch.surrogate.atan(alpha=2.0))
    syn, mem = ref.reset_mem()
    spikes = []
    for t in range(current.shape[0]):
        s, syn, mem = ref(current[t], syn, mem)
        spikes.append(s)
    return torch.stack(spikes)


@pytest.mark.parametrize(("alpha", "beta", "threshold"), [(0.5, 0.8, 1.0), (0.9, 0.95, 0.3), (0.0, 0.0, 0.5)])
def test_spikes_equal_snntorch_bit_for_bit(alpha: float, beta: float, threshold: float) -> None:
    g = torch.Generator().manual_seed(3)
    current = torch.randn(10, 4, 2000, generator=g)
    ours = CubaLIF(alpha, beta, threshold, learn_decay=False)(current)
    ref = snntorch_reference(alpha, beta, threshold, current)
    assert 0.05 < ours.mean() < 0.6
    assert torch.equal(ours, ref)


def test_states_follow_the_recurrence_by_hand() -> None:
    current = torch.tensor([0.6, 0.0, 0.0, 1.0, 0.0]).reshape(5, 1)
    syn, mem = lif_states(current, 0.5, 0.5, 1.0)
    torch.testing.assert_close(syn.flatten(), torch.tensor([0.6, 0.3, 0.15, 1.075, 0.5375]))
    # pre-reset membrane: 1.3 fires at t=3, so t=4 starts from 0: 0 * 0.5 + 0.5375
    torch.testing.assert_close(mem.flatten(), torch.tensor([0.6, 0.6, 0.45, 1.3, 0.5375]))


@pytest.mark.parametrize("threshold", [1.0, 0.2, None])
def test_gradients_equal_the_per_step_autograd_reference(threshold: float | None) -> None:
    torch.manual_seed(0)
    current = (torch.randn(9, 3, 5, 6) * 0.9 + 0.3).requires_grad_(True)
    weight = torch.randn(9, 3, 5, 6)
    grads = []
    for fused in (True, False):
        lif = CubaLIF(alpha=0.6, beta=0.85, threshold=threshold, learn_decay=True)
        out = lif(current) if fused else step_reference(lif, current)
        (out * weight).sum().backward()
        grads.append((out.detach(), current.grad.clone(), lif.alpha.grad.clone(), lif.beta.grad.clone()))
        current.grad = None
    (out_f, gx_f, ga_f, gb_f), (out_r, gx_r, ga_r, gb_r) = grads
    assert torch.equal(out_f, out_r)
    if threshold is not None:
        assert 0.05 < out_f.mean() < 0.95
    assert gx_f.abs().sum() > 0 and ga_f.abs() > 0 and gb_f.abs() > 0
    torch.testing.assert_close(gx_f, gx_r, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ga_f, ga_r, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gb_f, gb_r, rtol=1e-5, atol=1e-5)


def test_readout_gradient_passes_gradcheck_in_float64() -> None:
    torch.manual_seed(1)
    current = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    beta = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, a, b: CubaLIFFunction.apply(x, a, b, None, 2.0), (current, alpha, beta))


def test_decays_outside_zero_one_are_clamped_with_zero_gradient_like_snntorch() -> None:
    torch.manual_seed(2)
    current = torch.randn(5, 8, requires_grad=True)
    lif = CubaLIF(0.5, 0.5, 0.5, learn_decay=True)
    with torch.no_grad():
        lif.alpha.fill_(1.3)
    lif(current).sum().backward()
    assert lif.alpha.grad == 0 and lif.beta.grad != 0
    assert lif.decays() == (1.0, 0.5)


def test_single_step_and_frozen_decays() -> None:
    lif = CubaLIF(0.5, 0.8, 1.0, learn_decay=False)
    current = torch.tensor([[0.5, 1.5]], requires_grad=True)
    out = lif(current)
    assert out.tolist() == [[0.0, 1.0]]
    out.sum().backward()
    assert lif.alpha.grad is None and current.grad.shape == (1, 2)
    with pytest.raises(ValueError, match="T >= 1"):
        lif(torch.zeros(0, 3))


def test_channels_last_input_keeps_its_layout_and_matches_contiguous() -> None:
    torch.manual_seed(4)
    dense = torch.randn(6, 2, 3, 5, 4) + 0.4
    per_step_nhwc = dense.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (6, 2))
    weight = torch.randn(6, 2, 3, 5, 4)
    results = []
    for current in (dense, per_step_nhwc):
        current = current.clone().requires_grad_(True)
        lif = CubaLIF(0.6, 0.7, 0.5, learn_decay=True)
        out = lif(current)
        (out * weight).sum().backward()
        assert out.stride() == current.stride() and current.grad.stride() == current.stride()
        results.append((out, current.grad, lif.alpha.grad, lif.beta.grad))
    assert torch.equal(results[0][0], results[1][0]) and results[0][0].sum() > 0
    for a, b in zip(results[0][1:], results[1][1:], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
