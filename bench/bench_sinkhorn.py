"""Sinkhorn benchmark: POT ``ot.bregman.sinkhorn_log`` (torch backend, one call per sample) vs the batched
:func:`had_snn.distill.spatial.sinkhorn_log` on the same costs, as the HAD spatial loss uses it.

Both run in this process on B random cost matrices (N = M = 256 tokens, a 16 x 16 map) with the same epsilon and
the same fixed iteration count; the plans are checked equal before timing is reported. Prints ms per batch for each
and the speed-up ratio. At these settings ours takes its kernel-domain iteration (float64 vector-matrix products;
see :func:`had_snn.distill.spatial.sinkhorn_log`).

    .venv/bin/python bench/bench_sinkhorn.py [--batch 16] [--tokens 256] [--iters 50] [--repeats 3] [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import ot
import torch
from result_line import emit

from had_snn.distill.spatial import sinkhorn_log


def best_time_s(fn, repeats: int, device: torch.device) -> tuple[float, torch.Tensor]:
    """Best wall time over ``repeats`` calls (after one warm-up call), and the last result."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--epsilon", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per implementation (best is kept)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    cost = (torch.rand(args.batch, args.tokens, args.tokens) * 2).to(device)
    a = torch.full((args.tokens,), 1.0 / args.tokens, device=device)

    def pot_loop() -> torch.Tensor:
        return torch.stack([
            ot.bregman.sinkhorn_log(a, a, c, args.epsilon, numItermax=args.iters, stopThr=0.0, warn=False)
            for c in cost
        ])

    with torch.no_grad():
        t_pot, ref = best_time_s(pot_loop, args.repeats, device)
        t_ours, ours = best_time_s(lambda: sinkhorn_log(cost, args.epsilon, args.iters), args.repeats, device)
    max_diff = float((ours - ref).abs().max())
    if max_diff > 1e-6 * float(ref.max()):
        raise SystemExit(f"plans differ: max |ours - POT| = {max_diff:.3g}")
    print(f"B={args.batch}, {args.tokens}x{args.tokens} tokens, eps={args.epsilon}, {args.iters} iterations, "
          f"{device} ({torch.get_num_threads()} CPU threads), plans equal (max diff {max_diff:.2g})")
    print(f"POT sinkhorn_log, loop over B : {t_pot * 1e3:8.1f} ms")
    print(f"had_snn batched sinkhorn_log  : {t_ours * 1e3:8.1f} ms")
    print(f"speed-up                      : {t_pot / t_ours:8.2f}x")
    emit(f"batched Sinkhorn, B={args.batch}, {args.tokens}x{args.tokens}, {args.iters} it ({device.type})",
         "POT sinkhorn_log per sample", t_pot, t_ours, "batch", f"plans equal (max diff {max_diff:.1g})", goal=3.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
