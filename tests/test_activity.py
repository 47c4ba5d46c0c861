"""Activity regularisation: the penalty reaches every spiking layer, and its fan-out equals the emulator's."""

from __future__ import annotations

import pytest
import torch

from had_snn.models import SpikingStudent, StudentConfig
from had_snn.models.neurons import CubaLIF
from had_snn.models.student import layer_groups
from had_snn.train.activity import ActivityConfig, ActivityPenalty, check_activity, fanout_maps, synops_per_frame
from tests.conftest import randomise_student

TINY = dict(widths=(4, 6, 8), head_channels=4, search_px=32, template_px=16, threshold=0.5)


def _student(qat: bool = False, seed: int = 0, **cfg) -> SpikingStudent:
    """A tiny student with random BN statistics and convs scaled up, so every layer fires on sparse input."""
    torch.manual_seed(seed)
    return randomise_student(SpikingStudent(StudentConfig(**{**TINY, **cfg}, qat=qat)), conv_gain=4)


def _batch(steps: int = 4, batch: int = 2, seed: int = 0, p: float = 0.2, template_px: int = 16,
           search_px: int = 32) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"template_spikes": (torch.rand(steps, batch, 2, template_px, template_px, generator=g) < p).float(),
            "search_spikes": (torch.rand(steps, batch, 2, search_px, search_px, generator=g) < p).float()}


def _spiking_params(model: SpikingStudent) -> dict[str, torch.nn.Parameter]:
    """Conv weight and BN gamma/beta of every spiking layer of the search path (the read-out conv is not one)."""
    params = {}
    for prefix, layers in (("backbone", model.backbone), ("head", model.head)):
        for conv, bn, i, lif in layer_groups(layers, prefix):
            if lif.spiking:
                params[f"{prefix}.{i}.conv"] = conv.weight
                params[f"{prefix}.{i}.bn.weight"], params[f"{prefix}.{i}.bn.bias"] = bn.weight, bn.bias
    params["xcorr_bn.weight"], params["xcorr_bn.bias"] = model.xcorr_bn.weight, model.xcorr_bn.bias
    return params


@pytest.mark.parametrize("qat", [False, True], ids=["faithful", "qat"])
@pytest.mark.parametrize("mode", ["fanout", "rate"])
def test_penalty_gradient_reaches_every_spiking_layer(qat: bool, mode: str) -> None:
    model = _student(qat=qat)
    model.train()
    section = {"mode": mode, "weight": 1.0, **({"targets": 0.0} if mode == "rate" else {})}
    penalty = ActivityPenalty(ActivityConfig(**check_activity(section)), model)
    out = model(_batch())
    loss, logs = penalty(out)
    assert loss.item() > 0
    loss.backward()
    params = _spiking_params(model)
    assert len(params) == 3 * len(penalty.layers) - 1  # conv + BN per layer, the correlation has BN only
    for name, p in params.items():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches {name}"
    for name in penalty.layers:
        assert logs[f"activity/{name}/rate"] > 0, f"{name} never fires: the test input is too weak"
    assert logs["activity/synops"] == pytest.approx(sum(logs[f"activity/{n}/synops"] for n in penalty.layers))


def test_weight_zero_gives_no_gradient() -> None:
    model = _student()
    penalty = ActivityPenalty(ActivityConfig(weight=0.0), model)
    loss, logs = penalty(model(_batch()))
    assert loss.item() == 0 and logs["activity/synops"] > 0


def _emulator(model: SpikingStudent):
    from had_snn.conversion.emulator import LoihiEmulator
    from had_snn.conversion.quantize import quantize_student

    model.eval()
    px = model.config.template_px
    qnet = quantize_student(model, _batch(batch=1, p=0.3, template_px=px)["template_spikes"])
    return LoihiEmulator(qnet.layers, compiled=False)


@pytest.mark.parametrize("cfg", [{}, {"convs_per_stage": 2}, {"search_px": 48, "template_px": 32}],
                         ids=["tiny", "two-convs", "other-crop"])
def test_fanout_equals_the_emulator_structural_fanout(cfg: dict) -> None:
    model = _student(**cfg)
    maps = fanout_maps(model)
    emu = _emulator(model)
    # spiking layer k (named by its conv, as the emulator names it) feeds the emulator's synapse k
    assert list(maps) == ["input", *emu.layer_names[:-1]]
    for (name, fan), syn in zip(maps.items(), emu.synapses, strict=True):
        assert torch.equal(fan.flatten(), syn.fanout.flatten()), name


def test_synops_estimate_equals_emulator_counted_operations() -> None:
    """Billing counts equal the emulator's: the same spike tensors give the same synaptic ops per layer."""
    model = _student()
    maps = fanout_maps(model)
    emu = _emulator(model)
    g = torch.Generator().manual_seed(1)
    steps, batch = 5, 3
    spikes_in = torch.rand(steps, batch, *emu.input_shape, generator=g) < 0.2
    layer_spikes = [torch.rand(steps, batch, *s.layer.shape, generator=g) < 0.1 for s in emu.synapses]
    counts = emu.count_ops(spikes_in, layer_spikes)["synaptic_ops"]  # (L, T, B): ops of the previous layer's spikes
    sources = [spikes_in, *layer_spikes[:-1]]
    for li, (name, fan) in enumerate(maps.items()):
        ours = synops_per_frame(sources[li].double(), fan)
        assert torch.equal(ours.round().long(), counts[li].sum(0)), name
        assert torch.equal(ours, ours.round())


def test_rate_targets_name_layers() -> None:
    model = _student()
    with pytest.raises(ValueError, match=r"activity.targets: unknown layer\(s\) \['backbone.9'\]"):
        ActivityPenalty(ActivityConfig(**check_activity({"mode": "rate", "weight": 1.0,
                                                         "targets": {"backbone.9": 0.1}})), model)
    pen = ActivityPenalty(ActivityConfig(**check_activity({"mode": "rate", "weight": 2.0,
                                                           "targets": {"head.0": 0.0}})), model)
    out = model(_batch())
    loss, logs = pen(out)
    rate = out["search_spikes"]["head.2"].mean()  # the trace keys the neurons of conv head.0 by their LIF
    assert loss.item() == pytest.approx(2.0 * rate.item() ** 2)
    assert logs["activity/backbone.0/penalty"] == 0.0


@pytest.mark.parametrize("section, words", [
    ({"mode": "energy"}, "activity.mode: expected one of ['fanout', 'rate']"),
    ({"weight": -1}, "activity.weight: expected a value >= 0"),
    ({"weight": "lots"}, "activity.weight: expected a number"),
    ({"mode": "rate", "weight": 1}, "activity.targets: mode: rate needs"),
    ({"mode": "rate", "targets": {"head.0": 2}}, "activity.targets.head.0: expected a firing rate in [0, 1]"),
    ({"targets": 0.1}, "activity.targets: only used by mode: rate"),
    ({"wieght": 1}, "activity: unknown field(s) ['wieght']"),
    ([1], "activity: expected a mapping"),
])
def test_check_activity_names_the_field(section, words: str) -> None:
    with pytest.raises(ValueError) as err:
        check_activity(section)
    assert words in str(err.value)


@pytest.mark.parametrize("convs", [1, 2])
def test_layer_names_from_the_config_match_the_model(convs: int) -> None:
    from had_snn.train.activity import chip_layer_names

    model = _student(convs_per_stage=convs)
    spiking = [m for m in model.modules() if isinstance(m, CubaLIF) and m.spiking]
    layers = ActivityPenalty(ActivityConfig(), model).layers
    assert len(spiking) == len(layers) and layers == chip_layer_names(convs)
