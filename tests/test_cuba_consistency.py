"""One CUBA neuron, every implementation: the training neuron (plain autograd ``CubaLIF.step``, the fused forward on its
numba and torch paths, the Loihi-faithful voltage bias and delayed layer) against the emulator's integer step (torch
``lif_step`` and the numba ``lif_block``), on the same seeded inputs; then a tiny QAT student through the quantiser
and the emulator.

The inputs are integer-scaled (current ``a_in / k``, voltage bias ``bias_mant / k``, threshold ``vth_mant / k``) and
the decays on the chip's 1/4096 grid, so float and fixed point must agree: spikes identical, and ``64 k v_float``
equal to the integer ``v`` up to the truncation of the decay shift (at most ``1 / (1 - alpha)`` per step on ``u``,
which ``v`` accumulates with ``1 / (1 - beta)``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from had_snn.conversion.emulator import lif_step
from had_snn.hardware import cuba
from had_snn.hardware.cuba_kernels import lif_block
from had_snn.models.neurons import CubaLIF
from tests.conftest import randomise_student

I_DECAY, V_DECAY = 1229, 614  # alpha = 0.69995..., beta = 0.85009...
K = 100.0  # integer units per float unit
VTH_MANT = 300  # threshold 3.0
STEPS, SHAPE = 24, (2, 4, 3, 3)  # (B, C, H, W)
ALPHA, BETA = cuba.alpha_of(I_DECAY), cuba.beta_of(V_DECAY)
#: the largest |64 k v_float - v_int| the truncating decays allow
V_BOUND = (1 / (1 - ALPHA) + 1) / (1 - BETA)


def _inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Integer synaptic sums (T, B, C, H, W) and per-channel bias mantissas (C,)."""
    rng = np.random.default_rng(seed)
    a_in = rng.integers(-40, 121, size=(STEPS, *SHAPE)) * (rng.random((STEPS, *SHAPE)) < 0.6)
    return a_in.astype(np.int64), rng.integers(-6, 12, size=SHAPE[1]).astype(np.int64)


def _fixed(a_in: np.ndarray, bias_mant: np.ndarray, vth_mant: int, lead: int = 0, numba: bool = False):
    """The emulator's integer LIF on ``a_in`` delivered after ``lead`` empty steps: (spikes, v), each
    (T + lead, B, C, H, W)."""
    n_steps = a_in.shape[0] + lead
    flat = a_in.reshape(a_in.shape[0], SHAPE[0], -1)
    per_neuron = np.repeat(bias_mant << cuba.BIAS_EXP, int(np.prod(SHAPE[2:])))
    u = np.zeros(flat.shape[1:], np.int64)
    v = np.zeros(flat.shape[1:], np.int64)
    spikes = np.zeros((n_steps, *flat.shape[1:]), bool)
    v_out = np.zeros((n_steps, *flat.shape[1:]), np.int64)
    if numba:
        lif_block(flat, lead, u, v, cuba.keep_of(I_DECAY), cuba.keep_of(V_DECAY), per_neuron,
                  vth_mant << cuba.VTH_SHIFT, spikes, v_out)
    else:
        ut, vt, bias = torch.from_numpy(u), torch.from_numpy(v), torch.from_numpy(per_neuron)
        for t in range(n_steps):
            a = torch.from_numpy(flat[t - lead]) if t >= lead else torch.zeros_like(ut)
            ut, vt, fired = lif_step(ut, vt, a, I_DECAY - 1, V_DECAY, bias, vth_mant)
            spikes[t], v_out[t] = fired.numpy(), vt.numpy()
    return spikes.reshape(n_steps, *SHAPE), v_out.reshape(n_steps, *SHAPE)


def _neuron(threshold: float | None) -> CubaLIF:
    return CubaLIF(ALPHA, BETA, threshold, learn_decay=False, on_grid=True).double()


def _torch_path(monkeypatch, on: bool) -> None:
    if on:
        monkeypatch.setenv("HAD_SNN_TORCH_LIF", "1")
    else:
        monkeypatch.delenv("HAD_SNN_TORCH_LIF", raising=False)


def test_decays_and_threshold_are_on_the_chip_grid() -> None:
    lif = _neuron(VTH_MANT / K)
    assert lif.decays() == (ALPHA, BETA)
    assert (cuba.i_decay_of(ALPHA), cuba.v_decay_of(BETA)) == (I_DECAY, V_DECAY)
    assert cuba.vth_mantissa(VTH_MANT / K, K) == VTH_MANT


def test_torch_and_numba_emulator_steps_agree() -> None:
    a_in, bias = _inputs(1)
    for lead in (0, 1):
        s_t, v_t = _fixed(a_in, bias, VTH_MANT, lead)
        s_n, v_n = _fixed(a_in, bias, VTH_MANT, lead, numba=True)
        assert s_t.any() and not s_t.all()
        np.testing.assert_array_equal(s_t, s_n)
        np.testing.assert_array_equal(v_t, v_n)


def test_plain_step_equals_the_integer_neuron() -> None:
    """``CubaLIF.step`` (plain autograd, no bias): spikes identical, membrane within the truncation bound."""
    a_in, _ = _inputs(2)
    spikes_int, v_int = _fixed(a_in, np.zeros(SHAPE[1], np.int64), VTH_MANT)
    lif = _neuron(VTH_MANT / K)
    current = torch.from_numpy(a_in).double() / K
    syn = mem = spk = torch.zeros(SHAPE, dtype=torch.float64)
    for t in range(STEPS):
        _, syn, mem, spk = lif.step(current[t], syn, mem, spk)
        np.testing.assert_array_equal(spk.detach().numpy() > 0, spikes_int[t], err_msg=f"step {t}")
        v_after_reset = (mem - spk * mem).detach().numpy()  # the chip's v: reset to 0 in the step that fires
        assert np.abs(v_after_reset * 64 * K - v_int[t]).max() <= V_BOUND
    assert spikes_int.sum() > 20


@pytest.mark.parametrize("torch_path", [False, True], ids=["numba", "torch"])
def test_fused_forward_with_voltage_bias_equals_the_integer_neuron(monkeypatch, torch_path: bool) -> None:
    """The fused forward (numba or torch path) with the Loihi-faithful voltage bias: same spikes as the chip; the
    non-spiking read-out's membrane x 64 k within the truncation bound of the integer ``v``."""
    _torch_path(monkeypatch, torch_path)
    a_in, bias = _inputs(3)
    current = torch.from_numpy(a_in).double() / K
    vb = torch.from_numpy(bias).double() / K
    spikes_int, _ = _fixed(a_in, bias, VTH_MANT)
    spikes = _neuron(VTH_MANT / K)(current, voltage_bias=vb)
    np.testing.assert_array_equal(spikes.numpy() > 0, spikes_int)
    _, v_readout = _fixed(a_in, bias, cuba.READOUT_VTH_MANT)
    membrane = _neuron(None)(current, voltage_bias=vb)
    assert np.abs(membrane.numpy() * 64 * K - v_readout).max() <= V_BOUND
    assert spikes_int.sum() > 20 and np.abs(v_readout).max() > 100 * V_BOUND


@pytest.mark.parametrize("torch_path", [False, True], ids=["numba", "torch"])
def test_delayed_layer_equals_the_emulator_with_one_step_of_delay(monkeypatch, torch_path: bool) -> None:
    """``CubaLIF.forward_delayed`` (one chip layer: input of step t - 1, bias from step 0) against the emulator's
    step with its one step of synaptic delay (``lead`` = 1), numba and torch; T + 1 steps."""
    _torch_path(monkeypatch, torch_path)
    a_in, bias = _inputs(4)
    y = torch.from_numpy(a_in).double() / K
    vb = torch.from_numpy(bias).double() / K
    for numba in (False, True):
        spikes_int, _ = _fixed(a_in, bias, VTH_MANT, lead=1, numba=numba)
        spikes = _neuron(VTH_MANT / K).forward_delayed(y, vb)
        assert spikes.shape[0] == STEPS + 1
        np.testing.assert_array_equal(spikes.numpy() > 0, spikes_int)
        _, v_readout = _fixed(a_in, bias, cuba.READOUT_VTH_MANT, lead=1, numba=numba)
        membrane = _neuron(None).forward_delayed(y, vb)
        assert np.abs(membrane.numpy() * 64 * K - v_readout).max() <= V_BOUND


# --- a tiny QAT student through the quantiser and the emulator ---------------------------------------------------

TINY = dict(widths=(4, 6, 8), head_channels=4, search_px=32, template_px=16, threshold=0.5)


@pytest.fixture(scope="module")
def qat_student():
    """A tiny QAT student with random BN statistics and decays (every layer has a voltage bias), its inputs, and the
    conv weights, correlation weights and voltage biases its forward used (captured)."""
    from had_snn.models import SpikingStudent, StudentConfig
    from had_snn.models import student as student_module
    from had_snn.models.student import layer_groups

    torch.manual_seed(0)
    model = randomise_student(SpikingStudent(StudentConfig(**TINY, qat=True)), decays=True).eval()
    g = torch.Generator().manual_seed(7)
    template = (torch.rand(6, 1, 2, 16, 16, generator=g) < 0.25).float()
    search = (torch.rand(6, 1, 2, 32, 32, generator=g) < 0.25).float()
    seen: dict[str, list] = {"weight": [], "bias": [], "xcorr": []}
    groups = layer_groups(model.backbone, "backbone") + layer_groups(model.head, "head")
    for conv, _, _, _ in groups:
        conv._conv_forward = (lambda x, w, b, original=conv._conv_forward: (seen["weight"].append(w.detach().clone()),
                                                                            original(x, w, b))[1])
    for lif in [g[3] for g in groups] + [model.xcorr_lif]:
        lif.forward_chip = (lambda a, vb, k, original=lif.forward_chip:
                            (seen["bias"].append(vb.detach().clone()), original(a, vb, k))[1])
    original_xcorr = student_module.depthwise_xcorr

    def capture_xcorr(x, kernel):
        seen["xcorr"].append(kernel.detach().clone())
        return original_xcorr(x, kernel)

    student_module.depthwise_xcorr = capture_xcorr
    try:
        with torch.no_grad():
            from had_snn.conversion.quantize import template_kernel_for

            kernel = template_kernel_for(model, template)
            seen = {k: [] for k in seen}  # the search path only (the template ran the backbone too)
            model.search_path(search, kernel.unsqueeze(0))
    finally:
        student_module.depthwise_xcorr = original_xcorr
    for conv, _, _, lif in groups:  # the hooks go: later runs (quantiser, comparison) must not add to what was seen
        del conv._conv_forward, lif.forward_chip
    del model.xcorr_lif.forward_chip
    return model, template, search, seen


def test_qat_integers_are_the_quantisers(qat_student) -> None:
    """What the QAT forward used is exactly the netx file's integers: conv weights and the correlation kernel (the
    mantissas themselves), every voltage bias (``bias_mant / k`` in float64)."""
    from had_snn.conversion.quantize import quantize_student

    model, template, _, seen = qat_student
    qnet = quantize_student(model, template)
    synaptic = qnet.layers[1:]
    names = [lay.name for lay in synaptic]
    assert names[3] == "xcorr" and len(seen["weight"]) == len(synaptic) - 1 and len(seen["bias"]) == len(synaptic)
    convs = [i for i, n in enumerate(names) if n != "xcorr"]
    for i, used in zip(convs, seen["weight"], strict=True):
        k = qnet.scales[i]
        assert torch.equal(used, torch.from_numpy(synaptic[i].weight).float()), names[i]
    (xcorr_used,) = seen["xcorr"]
    assert torch.equal(xcorr_used[0], torch.from_numpy(synaptic[3].weight[:, 0]).float())
    for i, used in enumerate(seen["bias"]):
        k = qnet.scales[i]
        want = torch.from_numpy(synaptic[i].bias / k)
        assert used.dtype == torch.float64 and torch.equal(used.reshape(-1), want), names[i]
    assert all(np.abs(lay.bias).max() > 0 for lay in synaptic)  # every layer really has a voltage bias


def test_qat_student_and_its_fixed_point_network_agree(qat_student) -> None:
    """Float QAT student vs the emulator on the aligned windows: identical spikes in every layer and read-out."""
    from had_snn.conversion.fidelity import compare_float_fixed
    from had_snn.conversion.quantize import quantize_student

    model, template, search, _ = qat_student
    cmp = compare_float_fixed(model, quantize_student(model, template), search, template)
    rates = [lay["float_rate"] for lay in cmp["layers"]]
    assert min(rates) > 0.01, f"every layer must fire for the agreement to mean something: {rates}"
    assert cmp["min_spike_agreement"] == 1.0, cmp["layers"]  # the QAT forward is the chip's integer arithmetic
    assert cmp["readout_step_max_abs_error"] == 0.0 and cmp["heatmap_peak_agreement"] == 1.0
