"""Teacher and student trackers: shapes, variants, binary spikes, surrogate gradients, snntorch equivalence."""

from __future__ import annotations

import pytest
import snntorch
import torch

from had_snn.models import MODEL_KINDS, build_model
from had_snn.models.layers import depthwise_xcorr, template_kernel
from had_snn.models.neurons import CubaLIF

TINY_TEACHER = {"stem_channels": 4, "widths": (4, 8, 8), "convs_per_stage": 1, "head_channels": 8}
TINY_STUDENT = {"widths": (4, 8, 8), "head_channels": 8}


def make_batch(b: int = 2, t: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "template_rgb": torch.rand(b, 3, 64, 64, generator=g),
        "search_rgb": torch.rand(b, 3, 128, 128, generator=g),
        "template_voxel": torch.randn(b, 5, 64, 64, generator=g),
        "search_voxel": torch.randn(b, 5, 128, 128, generator=g),
        "template_spikes": (torch.rand(t, b, 2, 64, 64, generator=g) < 0.2).float(),
        "search_spikes": (torch.rand(t, b, 2, 128, 128, generator=g) < 0.2).float(),
    }


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_every_kind_produces_the_tracker_outputs(kind: str) -> None:
    torch.manual_seed(0)
    model = build_model(kind, **(TINY_STUDENT if kind.startswith("student") else TINY_TEACHER))
    out = model(make_batch())
    assert model.kind == kind
    assert out["heatmap"].shape == (2, 1, 16, 16)
    assert out["size"].shape == out["offset"].shape == (2, 2, 16, 16)
    assert 0 <= out["size"].min() and out["size"].max() <= 1 and 0 <= out["offset"].min() and out["offset"].max() <= 1
    assert out["response"].shape == (2, 8, 16, 16)
    strides = {"stage1": 2, "stage2": 4, "stage3": 8}
    for name, stride in strides.items():
        feat = out["features"][name]
        assert feat.shape[-2:] == (128 // stride, 128 // stride)
        assert feat.dim() == (5 if kind == "student" else 4)


def test_teacher_variants_ignore_the_other_modality_and_fail_without_their_own() -> None:
    torch.manual_seed(0)
    rgb = build_model("teacher_rgb", **TINY_TEACHER).eval()
    batch = make_batch()
    a = rgb(batch)["heatmap"]
    batch["search_voxel"] = batch["search_voxel"] * 10
    assert torch.equal(a, rgb(batch)["heatmap"])
    events = build_model("teacher_events", **TINY_TEACHER).eval()
    del batch["search_voxel"]
    with pytest.raises(ValueError, match="search_voxel"):
        events(batch)


def test_build_model_rejects_unknown_kind_and_fields() -> None:
    with pytest.raises(ValueError, match="unknown model kind"):
        build_model("resnet")
    with pytest.raises(ValueError, match="widht"):
        build_model("student", widht=3)
    with pytest.raises(ValueError, match="implies modalities"):
        build_model("teacher_rgb", modalities="events")


def test_student_spikes_are_binary_and_rates_reported() -> None:
    torch.manual_seed(0)
    model = build_model("student", **TINY_STUDENT)
    out = model(make_batch())
    for name, feat in out["features"].items():
        assert feat.shape[:2] == (4, 2), name
        assert set(feat.unique().tolist()) <= {0.0, 1.0}, name
    assert set(out["response_spikes"].unique().tolist()) == {0.0, 1.0}
    rates = out["firing_rates"]
    assert set(rates) >= {"backbone.2", "backbone.5", "backbone.8", "xcorr_lif", "head.2", "template/backbone.2"}
    assert all(0.0 < float(r.detach()) < 1.0 for r in rates.values())


def test_student_rejects_wrong_spike_shape() -> None:
    model = build_model("student", **TINY_STUDENT)
    batch = make_batch()
    batch["search_spikes"] = batch["search_spikes"][0]
    with pytest.raises(ValueError, match=r"search_spikes must be \(T, B, 2, 128, 128\)"):
        model(batch)


def test_surrogate_gradient_reaches_the_first_layer_and_the_decays() -> None:
    torch.manual_seed(0)
    model = build_model("student", **TINY_STUDENT)
    out = model(make_batch())
    (out["heatmap"].sum() + out["size"].sum()).backward()
    first = model.backbone[0].weight.grad
    assert first is not None and first.abs().sum() > 0
    assert model.backbone[2].alpha.grad is not None and model.backbone[2].alpha.grad.abs() > 0
    assert model.head[4].alpha.grad is None  # fixed read-out decays


def test_cuba_lif_hand_trace_with_reset_to_zero() -> None:
    lif = CubaLIF(alpha=0.5, beta=0.5, threshold=1.0, learn_decay=False)
    current = torch.tensor([0.6, 0.0, 0.0, 1.0, 0.0]).reshape(5, 1)
    # syn: .6 .3 .15 1.075 ...; mem: .6 .6 .45 1.3(spike->0) then .5375
    spikes = lif(current).flatten().tolist()
    assert spikes == [0.0, 0.0, 0.0, 1.0, 0.0]
    syn = mem = spk = torch.zeros(1)
    mems = []
    for t in range(5):
        _, syn, mem, spk = lif.step(current[t], syn, mem, spk)
        mems.append(round(float(mem), 6))  # pre-reset: 1.3 fires, and the next step starts from 0
    assert mems == [0.6, 0.6, 0.45, 1.3, 0.5375]
    assert lif(torch.full((3, 1), 1.0)).flatten().tolist() == [0.0, 1.0, 1.0]  # strict >: mem 1.0 does not fire


def test_cuba_lif_equals_snntorch_synaptic_forward_and_gradient() -> None:
    torch.manual_seed(0)
    current = torch.randn(12, 3, 7, requires_grad=True)
    ours = CubaLIF(alpha=0.7, beta=0.9, threshold=0.8, learn_decay=False)
    spk_ours = ours(current)
    (spk_ours * torch.arange(7.0)).sum().backward()
    g_ours = current.grad.clone()
    current.grad = None
    ref = snntorch.Synaptic(alpha=0.7, beta=0.9, threshold=0.8, reset_mechanism="zero", reset_delay=False,
                            spike_grad=snntorch.surrogate.atan(alpha=2.0))
    syn, mem = ref.reset_mem()
    spk_ref = []
    for t in range(12):
        s, syn, mem = ref(current[t], syn, mem)
        spk_ref.append(s)
    spk_ref = torch.stack(spk_ref)
    (spk_ref * torch.arange(7.0)).sum().backward()
    assert spk_ours.sum() > 0
    assert torch.equal(spk_ours, spk_ref)
    torch.testing.assert_close(g_ours, current.grad)


def test_depthwise_xcorr_matches_per_sample_loop_and_keeps_size() -> None:
    g = torch.Generator().manual_seed(1)
    search = torch.randn(3, 2, 4, 16, 16, generator=g)
    kernel = template_kernel(torch.randn(2, 4, 8, 8, generator=g))
    assert kernel.shape == (2, 4, 7, 7)
    out = depthwise_xcorr(search, kernel)
    assert out.shape == search.shape
    ref = torch.nn.functional.conv2d(search[1, 1], kernel[1].unsqueeze(1), padding=3, groups=4)
    torch.testing.assert_close(out[1, 1], ref)
    # a kernel equal to a search patch peaks at that patch's centre
    s = torch.zeros(1, 1, 16, 16)
    s[0, 0, 5:12, 2:9] = torch.rand(7, 7, generator=g) + 0.5
    peak = depthwise_xcorr(s, s[:, :, 5:12, 2:9]).flatten().argmax().item()
    assert divmod(peak, 16) == (8, 5)
    with pytest.raises(ValueError, match="odd k"):
        depthwise_xcorr(search, torch.randn(2, 4, 8, 8))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_depthwise_xcorr_gradients_equal_the_grouped_convolution(dtype):
    """The numba weight gradient of the correlation (and oneDNN's input gradient) against autograd of the plain
    grouped convolution, per time step and sample, with a kernel as wide as the map's border allows."""
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(3)
    x = (torch.rand(4, 2, 3, 9, 7, generator=g) < 0.3).to(dtype).requires_grad_()
    kernel = torch.randn(2, 3, 5, 5, generator=g, dtype=dtype).requires_grad_()
    out = depthwise_xcorr(x, kernel)
    grad = torch.randn(out.shape, generator=g, dtype=dtype)
    gx, gk = torch.autograd.grad(out, [x, kernel], grad)
    x2, k2 = x.detach().requires_grad_(), kernel.detach().requires_grad_()
    ref = torch.stack([F.conv2d(x2[t].reshape(1, 6, 9, 7), k2.reshape(6, 1, 5, 5), padding=2, groups=6)
                       .reshape(2, 3, 9, 7) for t in range(4)])
    rx, rk = torch.autograd.grad(ref, [x2, k2], grad)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out, ref, **tol)
    torch.testing.assert_close(gx, rx, **tol)
    torch.testing.assert_close(gk, rk, **tol)
    assert float(gk.abs().max()) > 0
