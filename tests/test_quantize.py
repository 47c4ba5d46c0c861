"""BN folding, float -> Loihi integer quantisation of the student, per-layer report and range errors."""

from __future__ import annotations

import torch
from torch import nn

from had_snn.models.fold import fold_conv_bn


def test_bn_folding_preserves_outputs() -> None:
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(3, 5, 3, padding=1, bias=True), nn.BatchNorm2d(5)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-1, 1)
    bn.eval()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    w, b = fold_conv_bn(conv.weight, conv.bias, bn)
    expected = bn.double()(conv.double()(x))
    got = nn.functional.conv2d(x, w, b, padding=1)
    assert torch.allclose(got, expected, atol=1e-12)
    assert not torch.allclose(w, conv.weight.double())  # folding did change the weights


import numpy as np  # noqa: E402
import pytest  # noqa: E402

from had_snn.conversion.fidelity import compare_float_fixed  # noqa: E402
from had_snn.conversion.quantize import (  # noqa: E402
    FloatLayer,
    correlation_layer,
    quantize_layer,
    quantize_student,
)
from had_snn.models import build_model  # noqa: E402


def _tiny_student(bias_free: bool = False):
    torch.manual_seed(0)
    m = build_model("student", widths=(4, 8, 8), head_channels=8, search_px=32, template_px=16).eval()
    with torch.no_grad():
        if bias_free:
            m.head[3].bias.zero_()
            for mod in m.modules():
                if isinstance(mod, nn.Conv2d):
                    mod.weight.mul_(3)
        else:
            for mod in m.modules():
                if isinstance(mod, nn.BatchNorm2d):
                    mod.running_mean.uniform_(-0.2, 0.2)
                    mod.running_var.uniform_(0.5, 1.5)
    g = torch.Generator().manual_seed(1)
    tmpl = (torch.rand(8, 1, 2, 16, 16, generator=g) < 0.3).float()
    srch = (torch.rand(8, 1, 2, 32, 32, generator=g) < 0.3).float()
    return m, tmpl, srch


def _layer(weight: torch.Tensor, threshold: float | None = 1.0, bias: float = 0.0, alpha=0.5, beta=0.8) -> FloatLayer:
    c = weight.shape[0]
    return FloatLayer("l", weight.double(), torch.full((c,), bias, dtype=torch.float64), (1, 1), (1, 1), (1, 1), 1,
                      alpha, beta, threshold)


def test_quantise_dequantise_error_bounds_and_field_mapping() -> None:
    w = torch.randn(6, 3, 3, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    q, k, rep = quantize_layer(_layer(w, bias=0.05, threshold=0.7), (3, 8, 8))
    # k: the weight limit 254 / max|w|, lowered so that the threshold is exact on the chip (0.7 k an integer)
    k_w = 254 / w.abs().max().item()
    assert k == pytest.approx(np.floor(0.7 * k_w) / 0.7) and k <= k_w
    assert q.neuron.vth_mant == np.floor(0.7 * k_w) and q.neuron.vth_mant == pytest.approx(0.7 * k, abs=1e-9)
    assert np.abs(q.weight).max() <= 254 and np.all(q.weight % 2 == 0)
    assert np.abs(q.weight / k - w.numpy()).max() <= 1 / k + 1e-12  # rounding to even integers: error <= 1 LSB
    assert rep.clipped_weights == 0 and rep.limited_by == "weights"
    assert (q.neuron.i_decay, q.neuron.v_decay) == (2048, 819)
    assert q.bias.tolist() == [round(0.05 * k)] * 6  # the float bias is the per-step voltage bias
    assert rep.weight_rel_error < 0.01


def test_quantiser_uses_the_one_cuba_definition() -> None:
    """Every field equals :mod:`had_snn.hardware.cuba`'s mapping (and the read-out threshold fits 17 bits)."""
    from had_snn.hardware import cuba

    w = torch.randn(5, 2, 3, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    lay = _layer(w, threshold=1.3, bias=0.2, alpha=0.3071, beta=0.9123)
    q, k, rep = quantize_layer(lay, (2, 6, 6), weight_percentile=90)
    k_ref, why = cuba.layer_scale(float(np.percentile(w.abs().numpy(), 90)), 0.2, 1.3)
    assert (k, rep.limited_by) == (k_ref, why)
    np.testing.assert_array_equal(q.weight, cuba.weight_mantissa(w.numpy(), k_ref))
    np.testing.assert_array_equal(q.bias, cuba.bias_mantissa(np.full(5, 0.2), k_ref))
    assert q.neuron.vth_mant == cuba.vth_mantissa(1.3, k_ref)
    assert (q.neuron.i_decay, q.neuron.v_decay) == (cuba.i_decay_of(0.3071), cuba.v_decay_of(0.9123))
    assert rep.alpha_error == pytest.approx(abs(cuba.alpha_of(q.neuron.i_decay) - 0.3071))
    readout, _, _ = quantize_layer(_layer(w, threshold=None), (2, 6, 6))
    assert readout.neuron.vth_mant == cuba.READOUT_VTH_MANT == (1 << 17) - 1


def test_percentile_scaling_clips_and_reports_it() -> None:
    w = torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    q, k, rep = quantize_layer(_layer(w), (4, 8, 8), weight_percentile=95)
    wk = w * k  # even rounding keeps [-257, 255) in range: 254 is the largest, -256 the smallest value
    assert rep.clipped_weights == int(((wk >= 255) | (wk < -257)).sum()) > 0
    assert q.weight.max() == 254 and q.weight.min() == -256


def test_limits_fail_naming_layer_and_limit() -> None:
    with pytest.raises(ValueError, match="layer l: fan-in 4608 exceeds the Loihi limit of 4096"):
        quantize_layer(_layer(torch.ones(1, 512, 3, 3)), (512, 4, 4))
    with pytest.raises(ValueError, match=r"layer l: threshold 0.0001 x scale 254 rounds below 1"):
        quantize_layer(_layer(torch.ones(1, 1, 3, 3), threshold=1e-4), (1, 4, 4))
    m, tmpl, _ = _tiny_student()
    m.backbone.append(nn.ReLU())
    with pytest.raises(ValueError, match=r"backbone.9: unsupported module ReLU"):
        quantize_student(m, tmpl)


def test_student_fixed_point_tracks_float_and_template_requantises() -> None:
    m, tmpl, srch = _tiny_student(bias_free=True)
    q = quantize_student(m, tmpl)
    assert [lay.name for lay in q.layers] == ["input", "backbone.0", "backbone.3", "backbone.6", "xcorr", "head.0",
                                              "head.3"]
    assert q.layers[4].groups == 8 and q.layers[-1].neuron.vth_mant == (1 << 17) - 1
    cmp = compare_float_fixed(m, q, srch, tmpl)
    assert cmp["layers"][0]["float_rate"] > 0.05
    assert all(layer["spike_agreement"] > 0.95 for layer in cmp["layers"])
    assert cmp["latency_steps"] == 6 and sum(cmp["emulator_counts"]["output_spikes"][0]) > 0
    other = (torch.rand(8, 1, 2, 16, 16, generator=torch.Generator().manual_seed(9)) < 0.5).float()
    q2 = correlation_layer(m, q, other)
    assert not np.array_equal(q2.layers[4].weight, q.layers[4].weight)
    unchanged = [i for i in range(1, 7) if np.array_equal(q.layers[i].weight, q2.layers[i].weight)]
    assert unchanged == [1, 2, 3, 5, 6]


def test_convert_and_deploy_cli(tmp_path) -> None:
    import json

    from had_snn.cli import main
    from had_snn.models.checkpoint import model_state, save_checkpoint

    m, _, srch = _tiny_student(bias_free=True)
    save_checkpoint(tmp_path / "s.pt", model_state(m))
    assert main(["convert", str(tmp_path / "s.pt"), "--out", str(tmp_path / "cv"), "--to", "netx"]) == 0
    report = json.loads((tmp_path / "cv" / "quantization.json").read_text())
    assert [r["name"] for r in report["layers"]][-1] == "head.3" and report["float_vs_fixed"]["latency_steps"] == 6
    assert (tmp_path / "cv" / "student.h5").exists() and (tmp_path / "cv" / "weight_histograms.png").exists()
    np.savez(tmp_path / "in.npz", spikes=srch.numpy())
    assert main(["deploy", str(tmp_path / "cv"), "--input", str(tmp_path / "in.npz")]) == 0
    out = np.load(tmp_path / "cv" / "deploy_emulator" / "outputs.npz")
    assert out["v_out"].shape == (8 + 6, 1, 5, 4, 4) and out["count_synaptic_ops"].sum() > 0  # 6 fill steps
    # deploy's counts.json is what `had-snn energy --counts` reads
    counts = json.loads((tmp_path / "cv" / "deploy_emulator" / "counts.json").read_text())
    assert (counts["steps"], counts["input_steps"], counts["frames"]) == (8 + 6, 8, 1)
    assert sum(layer["synops"] for layer in counts["layers"]) == int(out["count_synaptic_ops"].sum())
    save_checkpoint(tmp_path / "t.pt", model_state(build_model("teacher", widths=(4, 8, 8))))
    assert main(["energy", str(tmp_path / "cv"), "--counts", str(tmp_path / "cv" / "deploy_emulator" / "counts.json"),
                 "--teacher", str(tmp_path / "t.pt"), "--out", str(tmp_path / "en")]) == 0
    energy = json.loads((tmp_path / "en" / "report.json").read_text())["energy"]
    macs = json.loads((tmp_path / "en" / "teacher_macs.json").read_text())
    assert energy["ann_45nm"]["per_frame_uj"] == pytest.approx(4.6e-6 * sum(m for _, m in macs))
    student_ckpt = str(tmp_path / "s.pt")  # not a teacher: a one-line error
    assert main(["energy", str(tmp_path / "cv"), "--teacher", student_ckpt, "--out", str(tmp_path / "e2")]) == 1
    # a teacher checkpoint is refused with a one-line error
    save_checkpoint(tmp_path / "t.pt", model_state(build_model("teacher_events")))
    assert main(["convert", str(tmp_path / "t.pt"), "--out", str(tmp_path / "x")]) == 1


def test_convert_student_writes_what_it_reports(tmp_path) -> None:
    import json

    import h5py

    from had_snn.conversion.convert import convert_student
    from had_snn.conversion.fidelity import float_trace
    from had_snn.conversion.quantize import template_kernel_for

    m, tmpl, srch = _tiny_student(bias_free=True)
    done = convert_student(m, tmpl, srch, tmp_path / "cv", tmp_path / "runs" / "x.pt", formats=("netx", "nir"),
                           attrs={"source": "ignored.pt", "template_sequence": "seq"}, meta={"note": "test"})
    assert sorted(done.files) == ["histograms", "netx", "nir", "quantization"]
    assert all(p.is_file() for p in done.files.values())
    report = json.loads(done.files["quantization"].read_text())
    assert report["note"] == "test" and report["float_vs_fixed"] == done.comparison
    assert report["readout_scale"] == done.qnet.readout_scale
    with h5py.File(done.files["netx"]) as f:
        # the source relative to the output folder (they move together); the caller's attrs cannot replace it
        assert f.attrs["source"] == "../runs/x.pt" and f.attrs["readout_scale"] == done.qnet.readout_scale
        assert f.attrs["template_sequence"] == "seq"
    # the float trace is the student's own search path: its read-out is what forward averages
    kernel = template_kernel_for(m, tmpl)
    with torch.no_grad():
        out = m({"template_spikes": tmpl, "search_spikes": srch})
    membrane = float_trace(m, srch, kernel)["membrane"].mean(0)
    torch.testing.assert_close(membrane[:, :1], out["heatmap"])
    with pytest.raises(ValueError, match="unknown export format"):
        convert_student(m, tmpl, srch, tmp_path / "bad", "x.pt", formats=("onnx",))
    with pytest.raises(ValueError, match="only the spiking student"):
        convert_student(build_model("teacher_events"), tmpl, srch, tmp_path / "bad", "x.pt")


