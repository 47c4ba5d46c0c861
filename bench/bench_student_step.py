"""One training step of the Loihi-faithful student vs the same network as a per-step snntorch loop.

Both run the chip's timing (:mod:`had_snn.hardware.cuba`): every synaptic layer delays its input by one step, the BN
shift (and the read-out's conv bias) enters the voltage at every step from step 0, decays sit on the 1/4096 grid, and
layer l of L runs T + l steps (the read-out is read over steps [L, L + T)). Ours time-folds each conv/BN over the
steps and runs the neurons as one fused node (numba kernels on CPU) with the voltage bias folded into the current
(:func:`had_snn.models.lif_autograd.delayed_current`). The peer steps ``snntorch.Synaptic`` per layer and step with
per-step convs, the same delays and the same voltage biases through the same exact identity (current ``b`` at step 0,
``(1 - alpha) b`` later); it also computes only the steps the read-out needs. Both call the same correlation
(:func:`had_snn.models.layers.depthwise_xcorr`, whose weight gradient is a numba kernel on the CPU), so the ratio
measures the time folding and the fused neurons alone. Both share the same weights (a copy)
and BN in eval mode (running statistics, so per-step and folded BN agree); a step is forward + loss + backward +
AdamW update. The first (warm-up) round compares them: spikes of every search-path layer, outputs, loss and the
first conv's gradient. Prints the best (and median) wall time and process CPU time of each (CPU time varies less
when other processes share the cores), the ratios and, with ``--profile``, where ours spends its time. On a machine
shared with other processes prefer ``--threads 1``: with 2 threads the per-step loop's many small ops each wait on
a thread barrier, so a descheduled thread inflates its time many-fold (seen: 0.4 s -> 30 s) and the ratio means
little; repeat the bench and compare ratios of the same run.

Usage: ``python bench/bench_student_step.py [--batch 4 --steps 8 --threads 2 --data DIR --profile]``.
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import snntorch
import torch
from result_line import emit
from torch import nn

from had_snn.models import build_model
from had_snn.models.heads import split_head
from had_snn.models.layers import depthwise_xcorr, template_kernel
from had_snn.models.neurons import CubaLIF
from had_snn.models.student import SpikingStudent, bn_split, layer_groups
from had_snn.util.malloc import tune_malloc


def as_synaptic(lif: CubaLIF) -> snntorch.Synaptic:
    """An snntorch Synaptic with the decays the chip applies and our threshold (read-out: no spikes, no reset)."""
    alpha, beta = lif.decays()
    if lif.spiking:
        return snntorch.Synaptic(alpha=alpha, beta=beta, threshold=lif.threshold, reset_mechanism="zero",
                                 reset_delay=False, spike_grad=snntorch.surrogate.atan(alpha=lif.surrogate_slope))
    return snntorch.Synaptic(alpha=alpha, beta=beta, threshold=float("inf"), reset_mechanism="none")


class PerStepFaithful(nn.Module):
    """The Loihi-faithful student as a per-step snntorch loop, on its own copy of the student's weights."""

    def __init__(self, student: SpikingStudent) -> None:
        super().__init__()
        self.student = copy.deepcopy(student)
        s = self.student
        self.backbone = layer_groups(s.backbone, "backbone")
        self.head = layer_groups(s.head, "head")
        lifs = [g[3] for g in self.backbone] + [s.xcorr_lif] + [g[3] for g in self.head]
        self.neurons = nn.ModuleList(as_synaptic(lif) for lif in lifs)
        self.alphas = [lif.decays()[0] for lif in lifs]

    @staticmethod
    def _conv_layer(conv: nn.Conv2d, bn: nn.BatchNorm2d | None):
        """(synaptic input of one step, voltage bias) of a [conv, BN?] group, BN from its running statistics."""
        if bn is None:
            return (lambda x: conv._conv_forward(x, conv.weight, None)), conv.bias
        scale, shift = bn_split(bn, torch.empty(0), frozen=True)
        bias = shift if conv.bias is None else shift + conv.bias * scale
        return (lambda x: conv._conv_forward(x, conv.weight, None) * scale.view(-1, 1, 1)), bias

    def _run(self, chain: list, first: int, inputs: torch.Tensor) -> list[list[torch.Tensor]]:
        """Run layers ``chain`` [(synaptic input fn, voltage bias)] (neurons from index ``first``) over T + L steps;
        layer j (1-based) runs steps [0, T + j). Returns every layer's outputs per step."""
        steps, n_layers = inputs.shape[0], len(chain)
        last: list[torch.Tensor | None] = [None] * (n_layers + 1)  # outputs of the previous step (0: the input)
        state: list = [None] * n_layers
        outs: list[list[torch.Tensor]] = [[] for _ in chain]
        for t in range(steps + n_layers):
            now: list[torch.Tensor | None] = [inputs[t] if t < steps else None]
            for j, (synaptic, bias) in enumerate(chain):
                if t >= steps + j + 1:  # not read by any later layer inside the read-out window
                    now.append(None)
                    continue
                neuron, alpha = self.neurons[first + j], self.alphas[first + j]
                vb = bias.view(*([1] * (bias.dim() == 1)), *bias.shape, 1, 1)
                if t == 0:  # nothing has arrived yet (one step of delay): the voltage bias alone
                    current = vb.expand(*self._shape(j, inputs, chain)).clone()
                else:
                    current = synaptic(last[j]) + (1 - alpha) * vb
                syn, mem = state[j] if state[j] is not None else (torch.zeros_like(current),
                                                                  torch.zeros_like(current))
                spk, syn, mem = neuron(current, syn, mem)
                state[j] = (syn, mem)
                out = spk if neuron.threshold != float("inf") else mem
                outs[j].append(out)
                now.append(out)
            last = now
        return outs

    @torch.no_grad()
    def _shape(self, j: int, inputs: torch.Tensor, chain: list) -> tuple[int, ...]:
        x = torch.zeros_like(inputs[0])
        for synaptic, _ in chain[:j + 1]:
            x = synaptic(x)
        return tuple(x.shape)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        s = self.student
        backbone = [self._conv_layer(conv, bn) for conv, bn, _, _ in self.backbone]
        steps, nb = batch["template_spikes"].shape[0], len(backbone)
        t_outs = self._run(backbone, 0, batch["template_spikes"])
        kernel = template_kernel(torch.stack(t_outs[-1][nb:nb + steps]).mean(0))
        scale, shift = bn_split(s.xcorr_bn, torch.empty(0), frozen=True)
        xcorr = (lambda x: depthwise_xcorr(x, kernel) * scale.view(-1, 1, 1)), shift.unsqueeze(0).expand(len(kernel),
                                                                                                         -1)
        chain = [*backbone, xcorr, *[self._conv_layer(conv, bn) for conv, bn, _, _ in self.head]]
        outs = self._run(chain, 0, batch["search_spikes"])
        n_layers = len(chain)
        spikes = [torch.stack(o[j + 1:j + 1 + steps]) for j, o in enumerate(outs[:-1])]
        membrane = torch.stack(outs[-1][n_layers:n_layers + steps])
        return {**split_head(membrane.mean(0)), "spikes": spikes}


class Ours(nn.Module):
    """The student's own forward, plus the aligned spikes of every search-path layer for the comparison."""

    def __init__(self, student: SpikingStudent) -> None:
        super().__init__()
        self.student = student

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        s = self.student
        kernel, _, _ = s.template_kernel(batch["template_spikes"])
        trace = s.search_path(batch["search_spikes"], kernel)
        return {**split_head(trace.membrane.mean(0)), "spikes": list(trace.spikes.values())}


def real_batch(data_dir: str, batch_size: int, steps: int) -> dict[str, torch.Tensor]:
    """``batch_size`` training pairs (seed 0, epoch 0) from the train split of a benchmark, as the trainer sees them."""
    from had_snn.data.dataset import load_split
    from had_snn.tracking.config import CropConfig
    from had_snn.train.sampler import PairDataset, collate_pairs

    pairs = PairDataset(load_split(data_dir, "train", load_frames=False), CropConfig(student_steps=steps),
                        samples_per_epoch=batch_size)
    return collate_pairs([pairs[i] for i in range(batch_size)])


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor]):
    """One training step (forward, loss, backward, AdamW update); returns ((wall s, process CPU s), outputs, loss,
    first-conv grad)."""
    from had_snn.train.losses import tracking_loss

    sync = torch.cuda.synchronize if batch["search_spikes"].is_cuda else (lambda: None)
    sync()
    t0, c0 = time.perf_counter(), time.process_time()
    optimizer.zero_grad(set_to_none=True)
    out = model(batch)
    if "target_box" in batch:
        loss = tracking_loss(out, batch)[0]
    else:
        loss = out["heatmap"].square().mean() + out["size"].sum() + out["offset"].sum()
    loss.backward()
    grad = model.student.backbone[0].weight.grad.clone()
    optimizer.step()
    sync()
    return (time.perf_counter() - t0, time.process_time() - c0), out, float(loss.detach()), grad


def profile_ours(model: nn.Module, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor]) -> None:
    """Print where one training step of ours spends its time (convolutions, neurons, glue)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train_step(model, optimizer, batch)
    groups = {"convolutions": 0.0, "neurons (CubaLIF kernels)": 0.0, "BN split / bias / delay / copies": 0.0,
              "optimizer": 0.0, "other": 0.0}
    for evt in prof.key_averages():
        name, self_us = evt.key, evt.self_cpu_time_total
        if "conv" in name or "mkldnn" in name:
            groups["convolutions"] += self_us
        elif "CubaLIF" in name:
            groups["neurons (CubaLIF kernels)"] += self_us
        elif any(k in name for k in ("addcmul", "copy_", "cat", "var_mean", "rsqrt", "mul", "add", "sub", "sum",
                                     "empty", "contiguous", "clone", "expand", "slice", "fill_", "zero_")):
            groups["BN split / bias / delay / copies"] += self_us
        elif "Optimizer" in name or "adamw" in name.lower() or "_foreach" in name:
            groups["optimizer"] += self_us
        else:
            groups["other"] += self_us
    total = sum(groups.values()) or 1.0
    print("  where ours spends one training step (self CPU time):")
    for name, us in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"    {name:36s} {us / 1e3:8.1f} ms  {100 * us / total:5.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=8, help="time steps T per frame")
    parser.add_argument("--density", type=float, default=0.05, help="input spike probability per pixel and step")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (best is reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--data", help="benchmark root (index.json): real training pairs and the tracking loss")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--profile", action="store_true", help="also print where ours spends its time")
    args = parser.parse_args()
    tune_malloc()  # as the had-snn command does (both sides run in this process)
    torch.set_num_threads(args.threads)
    os.environ["HAD_SNN_TORCH_LIF"] = "0"
    torch.manual_seed(0)
    student = build_model("student", loihi_faithful=True).to(args.device)
    with torch.no_grad():  # BN statistics as after training, so every layer has a voltage bias
        for m in student.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    student.eval()  # BN from running statistics (the per-step loop cannot use batch statistics over all steps)
    models = {"step": PerStepFaithful(student), "ours": Ours(student)}
    optimizers = {name: torch.optim.AdamW(m.parameters(), lr=1e-3) for name, m in models.items()}
    g = torch.Generator().manual_seed(0)
    if args.data:
        batch = {k: v.to(args.device) for k, v in real_batch(args.data, args.batch, args.steps).items()}
    else:
        batch = {k: (torch.rand(args.steps, args.batch, 2, px, px, generator=g) < args.density).float().to(args.device)
                 for k, px in (("template_spikes", 64), ("search_spikes", 128))}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in models}
    results = {}
    for repeat in range(args.repeats + 1):  # round 0 warms up and compares; rounds interleave so load hits both
        for name, model in models.items():
            t, out, loss, grad = train_step(model, optimizers[name], batch)
            if repeat:
                times[name].append(t)
            else:
                results[name] = (out, loss, grad)
    (ours, loss_ours, grad_ours), (step, loss_step, grad_step) = results["ours"], results["step"]
    agree = [float((a == b).float().mean()) for a, b in zip(ours["spikes"], step["spikes"], strict=True)]
    fired = sum(int(s.sum()) for s in ours["spikes"])
    for key in ("heatmap", "size", "offset"):
        torch.testing.assert_close(ours[key], step[key], rtol=1e-3, atol=1e-4, msg=f"{key} differs")
    torch.testing.assert_close(loss_ours, loss_step, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(grad_ours, grad_step, rtol=1e-2, atol=1e-4, msg="first-layer gradient differs")
    if min(agree) < 0.9999:
        raise AssertionError(f"spikes differ: per-layer agreement {agree}")
    best = {name: min(t[0] for t in ts) for name, ts in times.items()}
    cpu = {name: min(t[1] for t in ts) for name, ts in times.items()}
    median = {name: sorted(t[0] for t in ts)[len(ts) // 2] for name, ts in times.items()}
    n_threads = torch.get_num_threads()
    where = args.device if args.device != "cpu" else f"cpu, {n_threads} thread{'s' if n_threads > 1 else ''}"
    source = f"real pairs from {args.data}, tracking loss" if args.data else f"random spikes p={args.density}"
    print(f"Loihi-faithful student, one training step (forward + backward + AdamW), B={args.batch} T={args.steps}, "
          f"{source}, {where}, best of {args.repeats}")
    shown = ", ".join(f"{a:.6f}" for a in agree)
    print(f"  spike agreement per search-path layer: [{shown}] ({fired} spikes); loss "
          f"{loss_ours:.6f} vs {loss_step:.6f}")
    for name, label in (("step", "per-step snntorch loop (same network):"), ("ours", "time-folded, fused LIF (ours):")):
        print(f"  {label:39s}{best[name] * 1e3:8.1f} ms wall (median {median[name] * 1e3:.1f}), "
              f"{cpu[name] * 1e3:8.1f} ms CPU")
    print(f"  speed-up of ours vs per-step snntorch: {best['step'] / best['ours']:.2f}x wall, "
          f"{cpu['step'] / cpu['ours']:.2f}x CPU time (all threads; steadier on a loaded machine)")
    emit(f"student training step, B={args.batch} T={args.steps} ({where})", "per-step snntorch Synaptic loop",
         best["step"], best["ours"], "step", "spikes, outputs, loss, gradient equal", goal=5.0)
    if args.profile:
        profile_ours(models["ours"], optimizers["ours"], batch)


if __name__ == "__main__":
    main()
