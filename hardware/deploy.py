"""Main-venv side of the Lava backend: find the Python 3.10 Lava venv, run the runner as a subprocess, read results.

The Lava venv is looked up in ``$HAD_SNN_LAVA_PYTHON`` (a python executable) or ``.venv-lava/bin/python`` in the
current directory or any parent of this package's source folder.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

LAVA_PYTHON_ENV = "HAD_SNN_LAVA_PYTHON"


class LavaUnavailable(RuntimeError):
    """No usable Lava venv (message says where it was looked for)."""


def find_lava_python() -> Path:
    """Path of the Lava venv's python; raises LavaUnavailable naming the places searched."""
    explicit = os.environ.get(LAVA_PYTHON_ENV)
    if explicit:
        if Path(explicit).is_file():
            return Path(explicit)
        raise LavaUnavailable(f"${LAVA_PYTHON_ENV}={explicit} is not a file")
    searched = []
    for root in (Path.cwd(), *Path(__file__).resolve().parents):
        candidate = root / ".venv-lava" / "bin" / "python"
        searched.append(str(candidate))
        if candidate.is_file():
            return candidate
    raise LavaUnavailable(
        "no Lava venv found (set $HAD_SNN_LAVA_PYTHON or create .venv-lava with `make setup`); looked at "
        + ", ".join(dict.fromkeys(searched))
    )


def lava_available() -> tuple[bool, str]:
    """(True, path) when the Lava venv exists and imports lava, else (False, reason)."""
    try:
        python = find_lava_python()
    except LavaUnavailable as exc:
        return False, str(exc)
    probe = subprocess.run([str(python), "-c", "import lava.proc.lif.process"], capture_output=True, text=True)
    if probe.returncode != 0:
        return False, f"{python} cannot import lava: {probe.stderr.strip().splitlines()[-1:]}"
    return True, str(python)


def run_lava(net_path: str | os.PathLike, spikes: np.ndarray, timeout_s: float | None = None) -> dict[str, np.ndarray]:
    """Run ``spikes`` (T, B, C, H, W) through the netx network in Lava; returns the runner's arrays.

    Keys: ``spikes_<i>`` per synaptic layer, ``v_out``, ``layer_names``, ``build_s``, ``first_step_s``, ``run_s``.
    """
    python = find_lava_python()
    with tempfile.TemporaryDirectory(prefix="had_snn_lava_") as tmp:
        inp, out = Path(tmp) / "input.npz", Path(tmp) / "output.npz"
        np.savez(inp, spikes=np.asarray(spikes, dtype=np.uint8))
        proc = subprocess.run(
            [str(python), "-m", "had_snn.hardware.lava_runner", str(net_path), str(inp), str(out)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            raise RuntimeError(f"Lava runner failed (exit {proc.returncode}) on {net_path}:\n{tail}")
        with np.load(out) as f:
            return {k: f[k] for k in f.files}

