"""Time-folded student vs the same network as a per-step snntorch loop: forward + backward, same weights.

The per-step version runs every conv on one time step at a time and steps ``snntorch.Synaptic`` neurons
(reset to zero, no reset delay), the straightforward way to write an snntorch network. Two more variants isolate the
neuron implementation on the same time-folded network: neurons stepped with plain autograd (``CubaLIF.step`` per time
step, the pre-fusion implementation) and the fused ``CubaLIFFunction`` with its torch-op path (``HAD_SNN_TORCH_LIF=1``)
instead of the numba kernels. All use the student's own conv/BN modules (BN in eval mode so per-step and folded
statistics agree), so outputs and gradients must match.
``--data DIR`` replaces the random spikes by a batch of real training pairs from DIR's train split and the loss by the
tracking loss, i.e. one training step of ``had-snn train student`` minus the optimiser update.
Prints the wall time of each and the ratios. Usage: ``python bench/bench_student_step.py [--batch 16 --steps 8]``.
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import snntorch
import torch
from torch import nn

from had_snn.models import build_model
from had_snn.models.heads import split_head
from had_snn.models.layers import depthwise_xcorr, template_kernel
from had_snn.models.neurons import CubaLIF
from had_snn.models.student import SpikingStudent


def as_synaptic(lif: CubaLIF) -> snntorch.Synaptic:
    """An snntorch Synaptic with the same decays/threshold as our CubaLIF (read-out: no spikes, no reset)."""
    alpha, beta = lif.decays()
    if lif.spiking:
        return snntorch.Synaptic(alpha=alpha, beta=beta, threshold=lif.threshold, reset_mechanism="zero",
                                 reset_delay=False, spike_grad=snntorch.surrogate.atan(alpha=lif.surrogate_slope))
    return snntorch.Synaptic(alpha=alpha, beta=beta, threshold=float("inf"), reset_mechanism="none")


class SteppedCubaLIF(CubaLIF):
    """CubaLIF whose forward steps ``CubaLIF.step`` over T with plain autograd (one graph node per op and step)."""

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        syn = torch.zeros_like(current[0])
        mem = torch.zeros_like(current[0])
        out = []
        for t in range(current.shape[0]):
            o, syn, mem = self.step(current[t], syn, mem)
            out.append(o)
        return torch.stack(out)


def with_stepped_neurons(student: SpikingStudent) -> SpikingStudent:
    """A copy of ``student`` (same weights) whose neurons are :class:`SteppedCubaLIF`."""
    clone = copy.deepcopy(student)
    for module in clone.modules():
        if type(module) is CubaLIF:
            module.__class__ = SteppedCubaLIF
    return clone


class PerStepStudent(nn.Module):
    """The student's network written as a per-step snntorch loop over T, sharing the student's conv/BN weights."""

    def __init__(self, student: SpikingStudent) -> None:
        super().__init__()
        self.student = student
        self.neurons = nn.ModuleDict({f"b{i}": as_synaptic(m) for i, m in enumerate(student.backbone)
                                      if isinstance(m, CubaLIF)})
        self.neurons["xcorr"] = as_synaptic(student.xcorr_lif)
        self.neurons.update({f"h{i}": as_synaptic(m) for i, m in enumerate(student.head) if isinstance(m, CubaLIF)})

    def _step(self, layers: nn.ModuleList, prefix: str, x: torch.Tensor, state: dict) -> torch.Tensor:
        for i, layer in enumerate(layers):
            if isinstance(layer, CubaLIF):
                neuron = self.neurons[f"{prefix}{i}"]
                syn, mem = state.get(f"{prefix}{i}", (torch.zeros_like(x), torch.zeros_like(x)))
                spk, syn, mem = neuron(x, syn, mem)
                state[f"{prefix}{i}"] = (syn, mem)
                x = spk if layer.spiking else mem
            else:
                x = layer(x)
        return x

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        s = self.student
        state: dict = {}
        template_counts = sum(self._step(s.backbone, "b", x, state) for x in batch["template_spikes"])
        kernel = template_kernel(template_counts / batch["template_spikes"].shape[0])
        state = {}
        readout = 0.0
        for x in batch["search_spikes"]:
            feat = self._step(s.backbone, "b", x, state)
            corr = s.xcorr_bn(depthwise_xcorr(feat, kernel))
            syn, mem = state.get("xcorr", (torch.zeros_like(corr), torch.zeros_like(corr)))
            spk, syn, mem = self.neurons["xcorr"](corr, syn, mem)
            state["xcorr"] = (syn, mem)
            readout = readout + self._step(s.head, "h", spk, state)
        return split_head(readout / batch["search_spikes"].shape[0])


def real_batch(data_dir: str, batch_size: int, steps: int) -> dict[str, torch.Tensor]:
    """``batch_size`` training pairs (seed 0, epoch 0) from the train split of a benchmark, as the trainer sees them."""
    from had_snn.data.dataset import load_split
    from had_snn.tracking.config import CropConfig
    from had_snn.train.sampler import PairDataset, collate_pairs

    pairs = PairDataset(load_split(data_dir, "train", load_frames=False), CropConfig(student_steps=steps),
                        samples_per_epoch=batch_size)
    return collate_pairs([pairs[i] for i in range(batch_size)])


def fwd_bwd(model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[float, dict]:
    """One forward + backward (tracking loss on real pairs, else a fixed function of the outputs)."""
    from had_snn.train.losses import tracking_loss

    model.zero_grad()
    sync = torch.cuda.synchronize if batch["search_spikes"].is_cuda else (lambda: None)
    sync()
    t0 = time.perf_counter()
    out = model(batch)
    if "target_box" in batch:
        loss = tracking_loss(out, batch)[0]
    else:
        loss = out["heatmap"].square().mean() + out["size"].sum() + out["offset"].sum()
    loss.backward()
    sync()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=8, help="time steps T")
    parser.add_argument("--density", type=float, default=0.05, help="input spike probability per pixel and step")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (best is reported)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 = stable on a shared machine)")
    parser.add_argument("--data", help="benchmark root (index.json): real training pairs and the tracking loss")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    student = build_model("student").eval().to(args.device)
    variants = {"step": PerStepStudent(student).to(args.device), "autograd_lif": with_stepped_neurons(student),
                "torch_lif": student, "folded": student}
    g = torch.Generator().manual_seed(0)
    if args.data:
        batch = {k: v.to(args.device) for k, v in real_batch(args.data, args.batch, args.steps).items()}
    else:
        batch = {k: (torch.rand(args.steps, args.batch, 2, px, px, generator=g) < args.density).float().to(args.device)
                 for k, px in (("template_spikes", 64), ("search_spikes", 128))}
    times: dict[str, list[float]] = {name: [] for name in variants}
    outs, grads = {}, {}
    for repeat in range(args.repeats + 1):  # the first round warms up; rounds interleave so load hits all alike
        for name, model in variants.items():
            os.environ["HAD_SNN_TORCH_LIF"] = "1" if name == "torch_lif" else "0"
            t, outs[name] = fwd_bwd(model, batch)
            first_conv = model.student.backbone[0] if name == "step" else model.backbone[0]
            grads[name] = first_conv.weight.grad.clone()
            if repeat:
                times[name].append(t)
    for name in ("step", "autograd_lif", "torch_lif"):
        for key in ("heatmap", "size", "offset"):
            torch.testing.assert_close(outs["folded"][key], outs[name][key], rtol=1e-4, atol=1e-5,
                                       msg=f"{key} differs from {name}")
        torch.testing.assert_close(grads["folded"], grads[name], rtol=1e-3, atol=1e-5,
                                   msg=f"first-layer gradient differs from {name}")
    best = {name: min(ts) for name, ts in times.items()}
    where = args.device if args.device != "cpu" else f"cpu, {torch.get_num_threads()} threads"
    source = f"real pairs from {args.data}, tracking loss" if args.data else f"random spikes p={args.density}"
    print(f"student forward+backward, B={args.batch} T={args.steps}, {source}, {where}, best of {args.repeats}")
    print(f"  per-step snntorch loop:               {best['step'] * 1e3:8.1f} ms")
    print(f"  time-folded, autograd-stepped LIF:    {best['autograd_lif'] * 1e3:8.1f} ms")
    print(f"  time-folded, fused LIF, torch ops:    {best['torch_lif'] * 1e3:8.1f} ms")
    print(f"  time-folded, fused LIF, numba (ours): {best['folded'] * 1e3:8.1f} ms")
    print(f"  speed-up of ours vs per-step snntorch: {best['step'] / best['folded']:.2f}x, vs autograd-stepped LIF: "
          f"{best['autograd_lif'] / best['folded']:.2f}x, vs torch-op fused LIF: "
          f"{best['torch_lif'] / best['folded']:.2f}x   (outputs and first-layer gradients match)")


if __name__ == "__main__":
    main()
