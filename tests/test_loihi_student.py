"""The Loihi-faithful student (chip timing, voltage bias, decays on the grid) and its quantisation-aware mode."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from had_snn.hardware import cuba
from had_snn.models import SpikingStudent, StudentConfig
from had_snn.models.fold import fold_conv_bn
from had_snn.models.layers import depthwise_xcorr
from had_snn.models.neurons import CubaLIF
from had_snn.models.student import layer_groups
from had_snn.train.config import QAT_DEFAULTS
from tests.conftest import randomise_student

TINY = dict(widths=(4, 6, 8), head_channels=4, search_px=32, template_px=16, threshold=0.5)


def _student(seed: int = 0, **cfg) -> SpikingStudent:
    """A tiny student with random BN statistics and affine terms, so every layer has a voltage bias."""
    torch.manual_seed(seed)
    return randomise_student(SpikingStudent(StudentConfig(**{**TINY, **cfg})), decays=True)


def _spikes(steps: int, batch: int, px: int, seed: int, p: float = 0.2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, batch, 2, px, px, generator=g) < p).float()


def _chip_layers(model: SpikingStudent, kernel: torch.Tensor) -> list[dict]:
    """The search path as per-step chip layers: folded weights, voltage bias, decays on the grid, threshold."""
    out = []
    for conv, bn, _, lif in layer_groups(model.backbone, "backbone"):
        w, b = fold_conv_bn(conv.weight, conv.bias, bn)
        out.append(dict(conv=lambda x, w=w, c=conv: F.conv2d(x, w, None, c.stride, c.padding), bias=b, lif=lif))
    from had_snn.models.fold import bn_scale_shift

    scale, shift = bn_scale_shift(model.xcorr_bn)
    w_x = kernel.double() * scale.view(1, -1, 1, 1)
    out.append(dict(conv=lambda x: depthwise_xcorr(x.unsqueeze(0), w_x)[0], bias=shift, lif=model.xcorr_lif))
    for conv, bn, _, lif in layer_groups(model.head, "head"):
        w, b = fold_conv_bn(conv.weight, conv.bias, bn)
        out.append(dict(conv=lambda x, w=w, c=conv: F.conv2d(x, w, None, c.stride, c.padding), bias=b, lif=lif))
    return out


def _reference(model: SpikingStudent, search: torch.Tensor, kernel: torch.Tensor):
    """Plain per-step chip timing: layer l gets its input's spikes of step t-1, bias into v every step from 0."""
    layers = _chip_layers(model, kernel)
    steps, n_layers = search.shape[0], len(layers)
    prev = [torch.zeros_like(search[0])]  # spikes of the previous step: input, then every layer (zero at step 0)
    for layer in layers:
        prev.append(torch.zeros_like(layer["conv"](prev[-1])))
    state = [None] * n_layers
    record: list[list[torch.Tensor]] = [[] for _ in layers]
    for t in range(steps + n_layers):
        now = [search[t] if t < steps else torch.zeros_like(search[0])]
        for li, layer in enumerate(layers):
            alpha, beta = (float(d) for d in layer["lif"].decay_tensors())
            current = layer["conv"](prev[li])
            u, v = state[li] if state[li] is not None else (torch.zeros_like(current), torch.zeros_like(current))
            u = alpha * u + current
            v = beta * v + u + layer["bias"].view(*([1] * (v.dim() - 3)), -1, 1, 1)
            th = layer["lif"].threshold
            if th is None:
                out = v
            else:
                out = (v > th).double()
                v = v * (1 - out)
            state[li] = (u, v)
            record[li].append(out)
            now.append(out)
        prev = now
    return [torch.stack(r) for r in record]


@pytest.mark.parametrize("torch_lif", ["0", "1"])
def test_faithful_search_path_equals_per_step_reference(torch_lif: str, monkeypatch):
    """Numba (CPU) and torch-op (any device) paths alike."""
    monkeypatch.setenv("HAD_SNN_TORCH_LIF", torch_lif)
    model = _student().double().eval()
    search = _spikes(4, 2, 32, seed=1).double()
    kernel = torch.rand(2, 8, 3, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        trace = model.search_path(search, kernel)
        ref = _reference(model, search, kernel)
    names = list(trace.spikes)
    assert len(names) + 1 == len(ref)  # every spiking layer plus the read-out
    steps = search.shape[0]
    total_spikes = 0
    for layer_no, (name, want) in enumerate(zip(names, ref, strict=False), start=1):
        aligned = want[layer_no:layer_no + steps]
        assert torch.equal(trace.spikes[name], aligned), name
        total_spikes += int(aligned.sum())
    assert total_spikes > 0
    n_layers = len(ref)
    torch.testing.assert_close(trace.membrane, ref[-1][n_layers:n_layers + steps], rtol=1e-9, atol=1e-9)


def test_voltage_bias_identity_matches_per_step_reference():
    g = torch.Generator().manual_seed(3)
    current = torch.randn(9, 2, 3, 4, 4, generator=g, dtype=torch.float64) * 0.6
    bias = torch.randn(3, generator=g, dtype=torch.float64) * 0.3
    lif = CubaLIF(0.6, 0.85, 0.7, learn_decay=False).double()
    out = lif(current, voltage_bias=bias)
    a, b = lif.decays()
    u = torch.zeros_like(current[0])
    v = torch.zeros_like(current[0])
    want = []
    for t in range(current.shape[0]):
        u = a * u + current[t]
        v = b * v + u + bias.view(-1, 1, 1)
        spk = (v > 0.7).double()
        v = v * (1 - spk)
        want.append(spk)
    want = torch.stack(want)
    assert torch.equal(out, want) and 0 < want.mean() < 1
    readout = CubaLIF(0.6, 0.85, None, learn_decay=False).double()
    per_sample = torch.randn(2, 3, generator=g, dtype=torch.float64)
    mem = readout(current, voltage_bias=per_sample)
    u = torch.zeros_like(current[0])
    v = torch.zeros_like(current[0])
    for t in range(current.shape[0]):
        u = a * u + current[t]
        v = b * v + u + per_sample[..., None, None]
        torch.testing.assert_close(mem[t], v, rtol=1e-12, atol=1e-12)


def _batch(seed: int) -> dict[str, torch.Tensor]:
    return {"template_spikes": _spikes(3, 2, 16, seed, 0.3), "search_spikes": _spikes(3, 2, 32, seed + 1, 0.3)}


def _grads_reach_everything(model: SpikingStudent) -> None:
    model.train()
    out = model(_batch(5))
    loss = out["heatmap"].square().mean() + out["size"].mean() + sum(f.mean() for f in out["features"].values())
    loss.backward()
    for conv, bn, _, lif in layer_groups(model.backbone, "backbone") + layer_groups(model.head, "head"):
        assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
        if bn is not None:
            assert bn.weight.grad.abs().sum() > 0 and bn.bias.grad.abs().sum() > 0
        if lif.spiking:
            assert lif.alpha.grad is not None and lif.alpha.grad != 0
            assert lif.beta.grad is not None and lif.beta.grad != 0
    assert model.head[3].bias.grad.abs().sum() > 0
    assert model.xcorr_bn.weight.grad.abs().sum() > 0 and model.xcorr_bn.bias.grad.abs().sum() > 0
    assert model.xcorr_lif.alpha.grad != 0


def test_gradients_reach_decays_weights_and_bn_faithful():
    _grads_reach_everything(_student(threshold=0.3))


def test_gradients_reach_decays_weights_and_bn_qat():
    _grads_reach_everything(_student(threshold=0.3, qat=True))


def test_gradients_reach_everything_on_the_torch_op_path(monkeypatch):
    monkeypatch.setenv("HAD_SNN_TORCH_LIF", "1")
    _grads_reach_everything(_student(threshold=0.3, qat=True))


def test_faithful_training_updates_bn_running_stats_qat_freezes_them():
    for qat, changes in ((False, True), (True, False)):
        model = _student(qat=qat).train()
        before = model.backbone[1].running_mean.clone()
        model(_batch(7))
        assert (not torch.equal(before, model.backbone[1].running_mean)) is changes


def test_qat_forward_weights_are_the_quantiser_integers():
    model = _student(qat=True).eval()
    seen: dict[int, torch.Tensor] = {}
    for conv, _, _, _ in layer_groups(model.backbone, "backbone") + layer_groups(model.head, "head"):
        original = conv._conv_forward

        def capture(x, weight, bias, conv=conv, original=original):
            seen[id(conv)] = weight.detach().clone()
            return original(x, weight, bias)

        conv._conv_forward = capture
    with torch.no_grad():
        model(_batch(9))
    for conv, bn, _, lif in layer_groups(model.backbone, "backbone") + layer_groups(model.head, "head"):
        w64, b64 = fold_conv_bn(conv.weight, conv.bias, bn)
        k, _ = cuba.layer_scale(float(w64.abs().max()), float(b64.abs().max()), lif.threshold)
        want = cuba.weight_mantissa(w64, k)  # the forward convolves with the integer mantissas themselves
        assert torch.equal(seen[id(conv)], want.float())
        assert torch.equal(want, want.round()) and want.abs().max() <= 256  # integers on the 8-bit grid
        if lif.threshold is not None:
            assert abs(lif.threshold * k - round(lif.threshold * k)) < 1e-9  # the threshold is exact


def test_a_student_without_the_chips_timing_is_refused(tmp_path):
    """``loihi_faithful: false`` (the float semantics without the chip's timing) is gone: the config, and a
    checkpoint saved before the field existed, are refused with the field's name."""
    from dataclasses import asdict

    from had_snn.models.checkpoint import CheckpointError, load_model, save_checkpoint

    with pytest.raises(ValueError, match="loihi_faithful: False is not supported"):
        StudentConfig(loihi_faithful=False)
    model = _student()
    config = asdict(model.config)
    del config["loihi_faithful"], config["qat"]
    save_checkpoint(tmp_path / "old.pt", {"kind": "student", "model_config": config, "model": model.state_dict()})
    with pytest.raises(CheckpointError, match=r"old.pt: a student saved before model_config.loihi_faithful existed"):
        load_model(tmp_path / "old.pt")
    save_checkpoint(tmp_path / "new.pt", {"kind": "student", "model_config": asdict(model.config),
                                          "model": model.state_dict()})
    assert load_model(tmp_path / "new.pt").config.loihi_faithful is True
    assert all(m.on_grid for m in model.modules() if isinstance(m, CubaLIF))


def test_qat_fine_tuning_through_the_cli(tmp_path, capsys):
    import json
    from pathlib import Path

    from had_snn.cli import main
    from had_snn.data.benchmark import build_benchmark
    from had_snn.data.synthetic import SynthConfig
    from had_snn.models.checkpoint import load_checkpoint

    torch.set_num_threads(1)
    config = str(Path(__file__).resolve().parents[1] / "experiments" / "configs" / "tiny_student.yaml")
    data = tmp_path / "data"
    build_benchmark(data, 3, 0, (1, 1, 1), SynthConfig(width_px=64, height_px=48, duration_s=0.3, fps=30),
                    progress=False)
    common = ["train", "student", "--config", config, "--data", str(data), "--epochs", "1", "--no-progress",
              "--val-sequences", "0"]
    assert main([*common, "--out", str(tmp_path / "float")]) == 0
    assert main([*common, "--out", str(tmp_path / "bad"), "--qat"]) == 1
    assert "--qat" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    init = tmp_path / "float" / "last.pt"
    capsys.readouterr()
    assert main([*common, "--out", str(tmp_path / "qat"), "--qat", "--init", str(init)]) == 0
    # the from-scratch config's lr and warm-up give way to QAT's own (the explicit --epochs 1 stays)
    assert "--qat: fine-tuning with QAT's defaults" in capsys.readouterr().out
    state = load_checkpoint(tmp_path / "qat" / "last.pt")
    tc = state["train_config"]
    assert (tc["lr"], tc["warmup_steps"], tc["epochs"]) == (QAT_DEFAULTS["lr"], QAT_DEFAULTS["warmup_steps"], 1)
    assert state["model_config"]["qat"] is True and state["model_config"]["loihi_faithful"] is True
    assert state["train_config"]["init_from"] == str(init.resolve())
    start = load_checkpoint(init)["model"]
    for key, value in state["model"].items():  # BN statistics are frozen under QAT: exactly the init's
        if key.endswith(("running_mean", "running_var")):
            assert torch.equal(value, start[key]), key
    row = json.loads((tmp_path / "qat" / "metrics.json").read_text())[0]
    assert 0 < row["qat/weight_rel_error"] < 0.2 and 0 <= row["qat/bias_rel_error"] < 0.5
    # the flags people change first override config and QAT defaults alike
    assert main([*common, "--out", str(tmp_path / "qat2"), "--qat", "--init", str(init), "--lr", "3e-3",
                 "--batch-size", "3", "--samples-per-epoch", "6"]) == 0
    state = load_checkpoint(tmp_path / "qat2" / "last.pt")
    tc = state["train_config"]
    assert (tc["lr"], tc["batch_size"], tc["data"]["samples_per_epoch"]) == (3e-3, 3, 6)
    assert not torch.equal(state["model"]["backbone.0.weight"], start["backbone.0.weight"])  # it trained
    assert json.loads((tmp_path / "qat2" / "metrics.json").read_text())[0]["step"] == 2  # 6 samples / batch 3


def test_the_shipped_qat_config_starts_where_qat_defaults_do():
    import yaml

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "experiments" / "configs" / "student_qat.yaml")
                         .read_text())
    assert {k: raw[k] for k in QAT_DEFAULTS} == QAT_DEFAULTS and raw["model_config"]["qat"] is True


def test_fused_delayed_lif_equals_delay_then_lif_forward_and_gradients(monkeypatch):
    """The numba chip-layer node (current built on the fly, blocks split over 2 threads) equals delayed_current +
    the torch-op LIF in three step layouts (channels-last, NCHW, (H, W, B, C)): spikes identical, gradients to y,
    bias, scale, alpha, beta to rounding; the output keeps the input's layout."""

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        _check_fused(monkeypatch)
    finally:
        torch.set_num_threads(threads)


def _check_fused(monkeypatch) -> None:
    from had_snn.models.lif_autograd import CubaLIFFunction, delayed_current, use_compiled

    g = torch.Generator().manual_seed(4)
    for threshold in (0.5, None):
        for layout, per_sample in (("channels_last", False), ("nchw", True), ("hwbc", True)):
            y = torch.randn(3 * 2, 4, 32, 32, generator=g, dtype=torch.float64)
            if layout == "channels_last":
                y = y.contiguous(memory_format=torch.channels_last)
            y = y.unflatten(0, (3, 2))
            if layout == "hwbc":  # (H, W, B, C) per step, as after a channels-last depthwise convolution
                y = y.permute(0, 3, 4, 1, 2).contiguous().permute(0, 3, 4, 1, 2)
                assert y[0].stride() == (4, 1, 32 * 2 * 4, 2 * 4)
            y.requires_grad_()
            bias = (torch.randn(2, 4, generator=g) if per_sample else torch.randn(4, generator=g)).double() * 0.3
            bias.requires_grad_()
            scale = (torch.rand(4, generator=g, dtype=torch.float64) + 0.5).requires_grad_()
            lif = CubaLIF(0.6, 0.8, threshold, learn_decay=True, on_grid=True).double()
            assert use_compiled(y)
            out = lif.forward_delayed(y, bias, scale)
            weights = torch.randn(out.shape, generator=g, dtype=torch.float64)
            params = [y, bias, scale, lif.alpha, lif.beta]
            grads = torch.autograd.grad((out * weights).sum(), params)
            alpha, beta = lif.decay_tensors()
            monkeypatch.setenv("HAD_SNN_TORCH_LIF", "1")
            ref = CubaLIFFunction.apply(delayed_current(y, bias, alpha, scale), alpha, beta, threshold, 2.0)
            ref_grads = torch.autograd.grad((ref * weights).sum(), params)
            monkeypatch.setenv("HAD_SNN_TORCH_LIF", "0")
            assert out.shape[0] == 4 and out[0].stride() == y[0].stride()
            if threshold is None:
                torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
            else:
                assert torch.equal(out, ref) and 0 < float(out.detach().mean()) < 1
            for got, want in zip(grads, ref_grads, strict=True):
                torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_fused_delayed_lif_partial_blocks_no_scale_and_foreign_grad_layout(monkeypatch):
    """The numba chip-layer node on a neuron count that is not a multiple of the kernel's block (a partial last
    block), without a scale (its gradient is not asked for, as in QAT), in float32, with the incoming gradient in a
    different memory layout than the output: spikes equal the torch-op path, gradients to rounding."""
    from had_snn.models import lif_cpu
    from had_snn.models.lif_autograd import CubaLIFFunction, delayed_current

    g = torch.Generator().manual_seed(7)
    y = (torch.randn(5 * 3, 6, 13, 11, generator=g) * 0.8).contiguous(memory_format=torch.channels_last)
    y = y.unflatten(0, (5, 3)).requires_grad_()
    assert (3 * 6 * 13 * 11) % lif_cpu.BLOCK != 0
    bias = (torch.randn(6, generator=g) * 0.3).requires_grad_()
    lif = CubaLIF(0.7, 0.9, 0.6, learn_decay=True, on_grid=True)
    out = lif.forward_delayed(y, bias)
    weights = torch.randn(out.shape, generator=g).contiguous()  # NCHW per step: the backward copies it
    params = [y, bias, lif.alpha, lif.beta]
    grads = torch.autograd.grad((out * weights).sum(), params)
    alpha, beta = lif.decay_tensors()
    monkeypatch.setenv("HAD_SNN_TORCH_LIF", "1")
    ref = CubaLIFFunction.apply(delayed_current(y, bias, alpha, None), alpha, beta, 0.6, 2.0)
    ref_grads = torch.autograd.grad((ref * weights).sum(), params)
    assert torch.equal(out, ref) and 0 < float(out.detach().mean()) < 1
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=2e-4, atol=2e-4)


def test_resume_hint_keeps_qat_and_init(tmp_path):
    import argparse

    from had_snn.commands import train as train_cmd

    parser = argparse.ArgumentParser()
    train_cmd.add_arguments(parser)
    args = parser.parse_args(["student", "--config", "c.yaml", "--out", str(tmp_path / "run"), "--qat", "--init",
                              "runs/student/best.pt"])
    hint = train_cmd.resume_hint(args)
    assert "--qat" in hint and "--init runs/student/best.pt" in hint and "--resume" not in hint


def _qat_vs_emulator(model: SpikingStudent, template: torch.Tensor, search: torch.Tensor):
    """The QAT student's search-path trace and the emulator's aligned run of the network converted from it."""
    from had_snn.conversion.emulator import LoihiEmulator
    from had_snn.conversion.quantize import quantize_student, template_kernel_for

    qnet = quantize_student(model, template)
    kernel = template_kernel_for(model, template)
    with torch.no_grad():
        trace = model.search_path(search, kernel.unsqueeze(0).expand(search.shape[1], -1, -1, -1))
    return trace, qnet, LoihiEmulator(qnet.layers)


@pytest.mark.parametrize("torch_lif", ["0", "1"])
def test_qat_forward_is_the_emulator_bit_for_bit(torch_lif: str, monkeypatch):
    """Every layer's spikes and the read-out of the QAT float forward equal the emulator's (reset mode), numba and
    torch paths; streaming: the forward over two frames in a row equals the emulator's stream of the second frame."""
    monkeypatch.setenv("HAD_SNN_TORCH_LIF", torch_lif)
    model = _student(seed=3, threshold=0.3, qat=True).eval()
    template = _spikes(6, 1, 16, seed=4, p=0.3)
    search = _spikes(6, 2, 32, seed=5, p=0.25)
    trace, qnet, emu = _qat_vs_emulator(model, template, search)
    res = emu.run_aligned(search)
    total = 0
    for li, (name, spikes) in enumerate(trace.spikes.items()):
        assert torch.equal(spikes, res.spikes[li].float()), name
        total += int(spikes.sum())
    assert total > 0
    assert trace.membrane.dtype == torch.float64
    assert torch.equal(trace.membrane, res.readout_v.double() / qnet.readout_scale)
    # streaming: frame B continues frame A (no reset, no flush)
    frame_b = _spikes(5, 2, 32, seed=6, p=0.25)
    both, _, _ = _qat_vs_emulator(model, template, torch.cat([search, frame_b]))
    stream = emu.run_aligned(frame_b, stream=emu.run(search).state)
    for li, (name, spikes) in enumerate(both.spikes.items()):
        assert torch.equal(spikes[len(search):], stream.spikes[li].float()), name
    assert torch.equal(both.membrane[len(search):], stream.readout_v.double() / qnet.readout_scale)


def test_qat_backward_is_the_float_layers_surrogate():
    """Straight-through: the gradient of the chip layer equals the float delayed layer's on the same parameters."""
    from had_snn.models.lif_autograd import DelayedCubaLIFFunction

    lif = CubaLIF(0.6, 0.85, 0.5, on_grid=True)
    g = torch.Generator().manual_seed(7)
    k = 200.0
    a = torch.randint(-60, 90, (5, 2, 3, 4, 4), generator=g).float().requires_grad_()
    bias = (torch.randint(-30, 30, (3,), generator=g).double() / k).requires_grad_()
    out = lif.forward_chip(a, bias, k)
    grad = torch.rand(out.shape, generator=g)
    ga, gb, g_alpha = torch.autograd.grad(out, [a, bias, lif.alpha], grad)
    alpha, beta = lif.decay_tensors()
    a2, b2 = a.detach().requires_grad_(), bias.detach().requires_grad_()
    ref = DelayedCubaLIFFunction.apply(a2 / k, b2.float(), torch.ones(3), alpha, beta, 0.5, lif.surrogate_slope)
    ra, rb, r_alpha = torch.autograd.grad(ref, [a2, b2, lif.alpha], grad)
    torch.testing.assert_close(ga, ra)
    torch.testing.assert_close(gb, rb)
    torch.testing.assert_close(g_alpha, r_alpha)
    assert float(ga.abs().sum()) > 0


def test_a_student_with_a_stem_stays_on_the_chip():
    """``stem_channels``: a full-resolution stride-1 layer before stage 1 is one more chip layer; the QAT forward
    still equals the emulator bit for bit and the converted network lists it first."""
    model = _student(seed=7, threshold=0.3, qat=True, stem_channels=4).eval()
    template = _spikes(6, 1, 16, seed=8, p=0.3)
    search = _spikes(6, 2, 32, seed=9, p=0.25)
    trace, qnet, emu = _qat_vs_emulator(model, template, search)
    assert [lay.name for lay in qnet.layers][:3] == ["input", "backbone.0", "backbone.3"]
    assert qnet.layers[1].weight.shape[:2] == (4, 2) and qnet.layers[1].stride in (1, (1, 1))
    res = emu.run_aligned(search)
    for li, (name, spikes) in enumerate(trace.spikes.items()):
        assert torch.equal(spikes, res.spikes[li].float()), name
    assert torch.equal(trace.membrane, res.readout_v.double() / qnet.readout_scale)
