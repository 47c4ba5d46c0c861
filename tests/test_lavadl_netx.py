"""The netx HDF5 that ``write_netx`` (and so ``had-snn convert``) writes runs unmodified in lava-dl 0.6.0's
``lava.lib.dl.netx.hdf5.Network``, the loader Lava users already have, and agrees with the emulator.

lava-dl is installed in the Lava venv with ``--no-deps`` (``make setup-lava``; no torch): the runner loads its
``netx.hdf5`` module past the two torch-only imports (see :func:`had_snn.hardware.lava_runner.import_lavadl_netx`).

One documented difference: netx's Dense block re-packs the weights with ``netx.utils.optimize_weight_bits``, which
picks the weight bits and exponent that keep every weight exact; mixed-sign odd weights then get 9 bits and survive,
where Lava's ``Dense`` with 8-bit weights (our runner, and the emulator) drops their lowest bit. Our quantiser writes
even weights (``cuba.weight_mantissa``: the 8-bit mixed-sign grid), on which the two agree bit for bit; for odd dense
weights w, netx computes the exact sum, which the emulator reproduces as weights 2w with ``weightExp = -1``.
netx also ignores our ``weightExp`` key (it derives the exponent itself).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace

import numpy as np
import pytest

from had_snn.conversion.chip_run import compare, run_network
from had_snn.conversion.emulator import LoihiEmulator
from had_snn.conversion.random_net import random_network, random_spikes
from had_snn.hardware.deploy import find_lava_python, lava_available, run_lava
from had_snn.hardware.netx import write_netx


def _lavadl_available() -> tuple[bool, str]:
    ok, reason = lava_available()
    if not ok:
        return False, f"Lava venv unavailable: {reason}"
    probe = subprocess.run([str(find_lava_python()), "-c", "from had_snn.hardware.lava_runner import "
                            "import_lavadl_netx; import_lavadl_netx()"], capture_output=True, text=True)
    if probe.returncode:
        return False, f"lava-dl netx does not import in the Lava venv: {probe.stderr.strip().splitlines()[-1:]}"
    return True, ""


LAVADL_OK, LAVADL_REASON = _lavadl_available()
pytestmark = [pytest.mark.lava, pytest.mark.skipif(not LAVADL_OK, reason=LAVADL_REASON)]


def _assert_same(lava: dict, emu_res, what: str) -> None:
    for i, s in enumerate(emu_res.spikes, start=1):
        bad = np.argwhere(lava[f"spikes_{i}"] != s.numpy())
        assert bad.size == 0, f"{what}: layer {i} differs first at (t, b, c, h, w) = {bad[0].tolist()}"
    np.testing.assert_array_equal(lava["v_out"], emu_res.v_out.numpy(), err_msg=f"{what}: read-out v")


def _even_dense(layers):
    """Dense weights on the 8-bit mixed-sign grid (even), as the quantiser writes them."""
    for lay in layers:
        if lay.type == "dense":
            lay.weight = (lay.weight >> 1) << 1
    return layers


def test_lavadl_netx_runs_our_file_bit_exact_in_reset_and_stream(tmp_path) -> None:
    layers = _even_dense(random_network(3, in_shape=(2, 8, 8), channels=(3, 4), hidden=6, vth_range=(1, 60)))
    path = tmp_path / "net.h5"
    write_netx(path, layers)
    x = random_spikes(4, 5, 2, layers[0].shape, rate=0.3)
    for mode in ("reset", "stream"):
        emulated = run_network(path, x, "emulator", mode)
        verdict = compare(run_network(path, x, "lava-dl", mode, timeout_s=300), emulated)
        assert verdict["identical"], f"lava-dl netx, {mode}: {verdict['layers']}, {verdict['v_out']}"
        assert all(s.any() for s in emulated.spikes[:-1])


def test_deploy_compare_with_lava_netx_is_identical(tmp_path) -> None:
    """``had-snn deploy --compare --lava-netx``: lava-dl's loader against the emulator, in stream mode."""
    from had_snn.cli import main

    layers = _even_dense(random_network(5, in_shape=(2, 8, 8), channels=(3, 4), hidden=6, vth_range=(1, 60)))
    write_netx(tmp_path / "net.h5", layers)
    np.savez(tmp_path / "win.npz", spikes=random_spikes(6, 3, 2, layers[0].shape, rate=0.3))
    out = tmp_path / "cmp"
    assert main(["deploy", str(tmp_path / "net.h5"), "--input", str(tmp_path / "win.npz"), "--compare", "--mode",
                 "stream", "--lava-netx", "--no-progress", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["identical"] and summary["lava_graph"] == "lava-dl netx.hdf5.Network"


def test_lavadl_netx_keeps_odd_dense_weights_exact(tmp_path) -> None:
    layers = random_network(4, in_shape=(2, 6, 6), channels=(3, 3), hidden=5, weight_max=127, vth_range=(1, 60))
    for lay in layers:
        if lay.type == "dense":
            lay.weight[lay.weight % 2 == 0] += 1  # odd weights in [-127, 127]
    path = tmp_path / "net.h5"
    write_netx(path, layers)
    x = random_spikes(5, 6, 1, layers[0].shape, rate=0.4)
    emu = LoihiEmulator(layers)
    flushed = emu.flushed(x).numpy().astype(np.uint8)
    lavadl = run_lava(path, flushed, timeout_s=300, lavadl_netx=True)
    # w exactly: 2w (even, kept by an 8-bit Dense) with the sum halved again
    exact = [replace(lay, weight=2 * lay.weight, weight_exp=-1) if lay.type == "dense" else lay for lay in layers]
    _assert_same(lavadl, LoihiEmulator(exact).run(flushed), "lava-dl netx vs exact odd weights")
    truncated = emu.run(flushed)  # our own Lava graph / the emulator: 8-bit Dense drops the lowest bit
    assert not np.array_equal(lavadl["v_out"], truncated.v_out.numpy())
    _assert_same(run_lava(path, flushed, timeout_s=300), truncated, "our Lava graph")
