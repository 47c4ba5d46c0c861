"""Seeded random fixed-point networks (conv + sum-pool + dense + read-out) for agreement tests and benchmarks."""

from __future__ import annotations

import numpy as np

from had_snn.hardware.cuba import I_DECAY_RANGE, READOUT_VTH_MANT, V_DECAY_RANGE
from had_snn.hardware.netx import CubaNeuron, NetxLayer, sum_pool_layer


def _neuron(rng: np.random.Generator, vth_range: tuple[int, int]) -> CubaNeuron:
    return CubaNeuron(
        i_decay=int(rng.integers(I_DECAY_RANGE[0], I_DECAY_RANGE[1] + 1)),
        v_decay=int(rng.integers(V_DECAY_RANGE[0], V_DECAY_RANGE[1] + 1)), vth_mant=int(rng.integers(*vth_range))
    )


def random_network(
    seed: int,
    in_shape: tuple[int, int, int] = (2, 12, 12),
    channels: tuple[int, int] = (4, 6),
    hidden: int = 12,
    outputs: int = 4,
    weight_max: int = 255,
    vth_range: tuple[int, int] = (1, 200),
) -> list[NetxLayer]:
    """input -> conv3x3 -> sum-pool 2 -> conv3x3 stride 2 -> flatten -> dense -> dense read-out (never spikes).

    Weights are uniform in ``[-weight_max - 1, weight_max]``; decays, biases and thresholds are uniform over their
    Loihi ranges (thresholds within ``vth_range``), so large ``weight_max`` with small thresholds drives ``u`` and
    ``v`` into their wrap and clip limits.
    """
    rng = np.random.default_rng(seed)
    c0, h, w = in_shape
    c1, c2 = channels

    def weights(*shape: int) -> np.ndarray:
        return rng.integers(-weight_max - 1, weight_max + 1, size=shape)

    def bias(n: int) -> np.ndarray:
        return rng.integers(-64, 64, size=n)

    layers = [NetxLayer(type="input", shape=in_shape, name="input")]
    layers.append(
        NetxLayer(
            type="conv", shape=(c1, h, w), weight=weights(c1, c0, 3, 3), bias=bias(c1), padding=(1, 1),
            neuron=_neuron(rng, vth_range), name="conv1",
        )
    )
    layers.append(sum_pool_layer(c1, (h, w), 2, _neuron(rng, (0, 3)), name="pool1"))
    h2, w2 = h // 2, w // 2
    h3, w3 = (h2 - 1) // 2 + 1, (w2 - 1) // 2 + 1
    layers.append(
        NetxLayer(
            type="conv", shape=(c2, h3, w3), weight=weights(c2, c1, 3, 3), bias=bias(c2), padding=(1, 1),
            stride=(2, 2), neuron=_neuron(rng, vth_range), name="conv2",
        )
    )
    layers.append(NetxLayer(type="flatten", shape=(c2 * h3 * w3, 1, 1), name="flatten"))
    layers.append(
        NetxLayer(
            type="dense", shape=(hidden, 1, 1), weight=weights(hidden, c2 * h3 * w3), bias=bias(hidden),
            neuron=_neuron(rng, vth_range), name="fc1",
        )
    )
    readout = _neuron(rng, vth_range)
    readout.vth_mant = READOUT_VTH_MANT
    layers.append(
        NetxLayer(type="dense", shape=(outputs, 1, 1), weight=weights(outputs, hidden), neuron=readout, name="readout")
    )
    return layers


def random_spikes(seed: int, n_steps: int, batch: int, shape: tuple[int, int, int], rate: float = 0.2) -> np.ndarray:
    """Bernoulli(rate) input spikes (T, B, C, H, W) as uint8."""
    rng = np.random.default_rng(seed)
    return (rng.random((n_steps, batch, *shape)) < rate).astype(np.uint8)
