"""Latency per frame on Loihi 1: steps x (barrier synchronisation + busiest core's work per step).

Model: all cores work in parallel within a time step and a step ends with a barrier. A core processes its synaptic
ops and neuron updates sequentially; a layer's work is spread evenly over its cores, and a step's work is the frame
total divided by the steps (counts are per frame, so per-step peaks are averaged out). Barrier time is interpolated
linearly between the table's 1-tile and 32-tile figures by the tiles in use (capped at 32: multi-chip
synchronisation is not modelled).

Synapses deliver one step later, so the read-out trails the input by
:func:`~had_snn.hardware.netx.pipeline_fill_steps` = L, one step per synaptic layer. Per mode (see
:mod:`had_snn.hardware.energy`), with T input steps per frame:

* frame latency (first input step to last read-out step): T + L steps in both modes;
* steps billed per frame (``FrameCounts.steps``) and the frame period: T + L in ``reset`` (every frame runs its input
  and L flush steps from the zero state), T in ``stream`` (frames follow each other; frame k's read-out drains during
  frame k + 1's steps), so throughput is one frame per T + L steps (reset) or per T steps (stream).

The time per step comes from the billed operations of the mode. When a counts file does not say how many steps
carried input (``input_steps``), the latency is the counted steps and the estimate says so instead of guessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from had_snn.hardware.counts import FrameCounts
from had_snn.hardware.netx import pipeline_fill_steps
from had_snn.hardware.resources import LayerGeometry, NetworkMapping
from had_snn.hardware.table import HardwareTable

BARRIER_MAX_TILES = 32


@dataclass(frozen=True)
class LatencyEstimate:
    """Loihi 1 timing of one frame in ``mode``: ``steps`` billed steps per frame (``input_steps`` of them with input,
    None if unknown) x ``step_ns``; ``pipeline_fill_steps`` is the network's fill (one step per synaptic layer)."""

    steps: int
    barrier_ns: float
    compute_ns: float
    bottleneck_layer: str
    layer_compute_ns: dict[str, float]
    pipeline_fill_steps: int
    input_steps: int | None = None
    mode: str = "reset"

    @property
    def latency_steps(self) -> int:
        """Steps from a frame's first input step to its last read-out step: T + L (the counted steps when T is
        unknown)."""
        return self.steps if self.input_steps is None else self.input_steps + self.pipeline_fill_steps

    @property
    def period_steps(self) -> int:
        """Steps between the starts of two frames: the billed steps (T + L in reset mode, T in streaming mode)."""
        return self.steps

    @property
    def fill_included(self) -> bool | None:
        """True when the counted steps include the whole pipeline fill after the input (always, in streaming mode:
        the fill is the next frame's steps); None when unknown."""
        if self.mode == "stream":
            return True
        return None if self.input_steps is None else self.steps - self.input_steps >= self.pipeline_fill_steps

    @property
    def step_ns(self) -> float:
        return self.barrier_ns + self.compute_ns

    @property
    def frame_latency_us(self) -> float:
        """First input step to last read-out step of a frame, microseconds."""
        return self.latency_steps * self.step_ns / 1e3

    @property
    def throughput_fps(self) -> float:
        """Frames per second: one frame per :attr:`period_steps`."""
        return 1e9 / (self.period_steps * self.step_ns)


def barrier_ns(tiles: int, table: HardwareTable) -> float:
    """Barrier sync time for ``tiles`` active tiles (linear between the 1- and 32-tile figures)."""
    if tiles < 1:
        raise ValueError(f"tiles must be >= 1, got {tiles}")
    b1 = table.required("loihi1", "time", "barrier_sync_1_tile_ns")
    b32 = table.required("loihi1", "time", "barrier_sync_32_tiles_ns")
    return b1 + (b32 - b1) * (min(tiles, BARRIER_MAX_TILES) - 1) / (BARRIER_MAX_TILES - 1)


def loihi1_latency(
    geoms: Sequence[LayerGeometry], counts: FrameCounts, mapping: NetworkMapping, table: HardwareTable
) -> LatencyEstimate:
    """Per-step and per-frame latency of the mapped network on Loihi 1."""
    t_syn = table.required("loihi1", "time", "synaptic_op_ns")
    t_act = table.required("loihi1", "time", "neuron_update_active_ns")
    t_inact = table.required("loihi1", "time", "neuron_update_inactive_ns")
    per_layer: dict[str, float] = {}
    for g, c in zip(geoms, counts.layers, strict=True):
        cores = mapping.layer(g.name).cores
        active = c.neuron_updates if c.active_neuron_updates is None else c.active_neuron_updates
        work_ns = c.synops * t_syn + active * t_act + (c.neuron_updates - active) * t_inact
        per_layer[g.name] = work_ns / counts.steps / cores
    bottleneck = max(per_layer, key=lambda k: per_layer[k])
    return LatencyEstimate(
        steps=counts.steps, barrier_ns=barrier_ns(mapping.tiles, table), compute_ns=per_layer[bottleneck],
        bottleneck_layer=bottleneck, layer_compute_ns=per_layer, pipeline_fill_steps=pipeline_fill_steps(len(geoms)),
        input_steps=counts.input_steps, mode=counts.mode,
    )
