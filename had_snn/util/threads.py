"""Torch CPU threads: the `--threads` option of the commands that run torch on the CPU, and the experiment scripts."""

from __future__ import annotations

THREADS_HELP = ("torch CPU threads (default: torch's default); 1 is usually faster on a loaded "
                "machine, where OpenMP threads wait on each other")


def set_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)``; ``None`` keeps torch's default. Raises ValueError below 1."""
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"--threads must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)
