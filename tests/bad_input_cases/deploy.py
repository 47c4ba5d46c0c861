"""Rows: bad inputs of ``deploy``, ``convert`` and ``energy`` (spike npz files, netx files, output folders, options).

The network is a small random conv/pool/dense netx file (input (2, 12, 12)) written by the row's setup; an error
must leave no output folder behind (``NET_DIR/deploy_<backend>`` for deploy).
"""

from __future__ import annotations

import json

import h5py
import numpy as np

from tests.bad_input_cases import Case, Env

CHW = (2, 12, 12)


def _net(env: Env) -> None:
    from had_snn.conversion.random_net import random_network
    from had_snn.hardware.netx import write_netx

    (env.tmp / "cv").mkdir(exist_ok=True)
    write_netx(env.tmp / "cv" / "student.h5", random_network(0))


def _net_and(**arrays):
    def setup(env: Env) -> None:
        _net(env)
        np.savez(env.tmp / "win.npz", **arrays)
    return setup


def _good_spikes(shape=(3, 1, *CHW)) -> np.ndarray:
    return (np.random.default_rng(0).random(shape) < 0.3).astype(np.uint8)


def _text_npz(env: Env) -> None:
    _net(env)
    (env.tmp / "win.npz").write_text("template_spikes,search_spikes\n1,0\n")


def _truncated_npz(env: Env) -> None:
    _net(env)
    np.savez(env.tmp / "full.npz", spikes=_good_spikes((8, 2, *CHW)))
    data = (env.tmp / "full.npz").read_bytes()
    (env.tmp / "win.npz").write_bytes(data[: len(data) // 2])


def _npy_file(env: Env) -> None:
    _net(env)
    np.save(env.tmp / "win.npy", _good_spikes())


def _pickled(env: Env) -> None:
    _net(env)
    np.savez(env.tmp / "win.npz", spikes=np.array([{"a": 1}, None], dtype=object))


def _netx_text(env: Env) -> None:
    (env.tmp / "cv").mkdir()
    (env.tmp / "cv" / "student.h5").write_text("this is not HDF5\n")
    np.savez(env.tmp / "win.npz", spikes=_good_spikes())


def _netx_edit(key: str, value=None, move_to: str | None = None):
    def setup(env: Env) -> None:
        _net(env)
        with h5py.File(env.tmp / "cv" / "student.h5", "a") as f:
            if move_to:
                f.move(key, move_to)
            else:
                del f[key]
                f[key] = value
        np.savez(env.tmp / "win.npz", spikes=_good_spikes())
    return setup


def _old_input_neuron(env: Env) -> None:
    _net(env)
    with h5py.File(env.tmp / "cv" / "student.h5", "a") as f:  # as files written before: a relay neuron on the input
        n = f["layer/0"].create_group("neuron")
        for key, value in (("type", "CUBA"), ("iDecay", 4096), ("vDecay", 4095), ("vThMant", 0)):
            n[key] = value
    np.savez(env.tmp / "win.npz", spikes=_good_spikes())


def _readout_scale_text(env: Env) -> None:
    _net(env)
    with h5py.File(env.tmp / "cv" / "student.h5", "a") as f:
        f.attrs["readout_scale"] = "large"
    np.savez(env.tmp / "win.npz", spikes=_good_spikes())


def _out_file(env: Env) -> None:
    _net(env)
    np.savez(env.tmp / "win.npz", spikes=_good_spikes())
    (env.tmp / "taken").write_text("keep me\n")


def _counts(data: dict):
    def setup(env: Env) -> None:
        _net(env)
        (env.tmp / "counts.json").write_text(json.dumps(data))
    return setup


def _no_deploy_folder(env: Env) -> None:
    assert not (env.tmp / "cv" / "deploy_emulator").exists(), "a failed deploy left its output folder"


def _file_kept(env: Env) -> None:
    assert (env.tmp / "taken").read_text() == "keep me\n"


def _nothing_written(folder: str):
    def check(env: Env) -> None:
        assert not (env.tmp / folder).exists(), f"a failed command wrote {folder}/"
    return check


DEPLOY = ("deploy", "{tmp}/cv", "--input", "{tmp}/win.npz")

CASES = [
    Case("dep-input-missing", ("deploy", "{tmp}/cv", "--input", "{tmp}/nope.npz"), 1,
         ("--input", "nope.npz", "not found"), setup=_net, check=_no_deploy_folder),
    Case("dep-input-not-a-zip", DEPLOY, 1, ("--input", "win.npz", "not a readable .npz archive"), setup=_text_npz,
         check=_no_deploy_folder),
    Case("dep-input-truncated-zip", DEPLOY, 1, ("--input", "win.npz", ".npz"), setup=_truncated_npz,
         check=_no_deploy_folder),
    Case("dep-input-npy-not-npz", ("deploy", "{tmp}/cv", "--input", "{tmp}/win.npy"), 1,
         ("--input", "single .npy array", "'spikes'"), setup=_npy_file, check=_no_deploy_folder),
    Case("dep-input-python-objects", DEPLOY, 1, ("--input", "python objects"), setup=_pickled,
         check=_no_deploy_folder),
    Case("dep-input-missing-array", DEPLOY, 1, ("--input", "'spikes' or 'search_spikes'", "frames"),
         setup=_net_and(frames=np.arange(3)), check=_no_deploy_folder),
    Case("dep-input-4d", DEPLOY, 1, ("--input", "(T, B, C, H, W)", "(3, 2, 12, 12)"),
         setup=_net_and(spikes=np.zeros((3, *CHW), np.uint8)), check=_no_deploy_folder),
    Case("dep-input-wrong-size", DEPLOY, 1, ("--input", "(2, 10, 10)", "expects (2, 12, 12)"),
         setup=_net_and(search_spikes=np.zeros((3, 1, 2, 10, 10), np.uint8)), check=_no_deploy_folder),
    Case("dep-input-empty-window", DEPLOY, 1, ("--input", "no empty axis"),
         setup=_net_and(spikes=np.zeros((0, 1, *CHW), np.uint8)), check=_no_deploy_folder),
    Case("dep-input-counts-not-spikes", DEPLOY, 1, ("--input", "0/1 spikes", "other values"),
         setup=_net_and(spikes=np.full((3, 1, *CHW), 2.0, np.float32)), check=_no_deploy_folder),
    Case("dep-input-string-dtype", DEPLOY, 1, ("--input", "dtype"),
         setup=_net_and(spikes=np.full((3, 1, *CHW), "1")), check=_no_deploy_folder),
    Case("dep-net-not-hdf5", DEPLOY, 1, ("student.h5", "not a readable HDF5 file"), setup=_netx_text,
         check=_no_deploy_folder),
    Case("dep-net-folder-without-student", ("deploy", "{tmp}", "--input", "{tmp}/win.npz"), 1,
         ("no student.h5", "had-snn convert"), setup=lambda env: np.savez(env.tmp / "win.npz", spikes=_good_spikes())),
    Case("dep-net-fractional-weights", DEPLOY, 1, ("student.h5 layer 1", "'weight' must hold integers", "2.5"),
         setup=_netx_edit("layer/1/weight", np.full((4, 2, 3, 3), 2.5)), check=_no_deploy_folder),
    Case("dep-net-malformed-layer-name", DEPLOY, 1, ("student.h5", "malformed layer name", "conv"),
         setup=_netx_edit("layer/1", move_to="layer/conv"), check=_no_deploy_folder),
    Case("dep-net-missing-shape", DEPLOY, 1, ("student.h5 layer 2", "missing dataset 'shape'"),
         setup=_netx_edit("layer/2/shape", move_to="layer/2/shape_old"), check=_no_deploy_folder),
    Case("dep-net-readout-scale-text", DEPLOY, 1, ("student.h5", "'readout_scale' must be a number", "large"),
         setup=_readout_scale_text, check=_no_deploy_folder),
    Case("dep-out-is-a-file", (*DEPLOY, "--out", "{tmp}/taken"), 1, ("--out", "taken", "is a file"),
         setup=_out_file, check=_file_kept),
    Case("dep-unknown-backend", (*DEPLOY, "--backend", "loihi"), 2, ("--backend", "invalid choice"), setup=_net),
    Case("dep-unknown-mode", (*DEPLOY, "--mode", "continuous"), 2, ("--mode", "invalid choice", "stream"), setup=_net),
    Case("dep-lava-netx-without-lava", (*DEPLOY, "--lava-netx"), 1, ("--lava-netx", "--backend lava", "--compare"),
         setup=_net_and(spikes=_good_spikes()), check=_no_deploy_folder),
    Case("dep-lava-netx-old-input-neuron", (*DEPLOY, "--compare", "--lava-netx"), 1,
         ("student.h5", "--lava-netx", "input layer holds a 'neuron' group", "convert the student again"),
         setup=_old_input_neuron, check=_no_deploy_folder),
    Case("dep-timeout-not-positive", (*DEPLOY, "--backend", "lava", "--timeout-s", "0"), 1, ("--timeout-s", "> 0"),
         setup=_net_and(spikes=_good_spikes()), check=lambda env: None),
    Case("dep-convert-template-not-npz", ("convert", "{student}", "--out", "{tmp}/conv", "--template",
                                          "{tmp}/win.npz"), 1,
         ("--template", "win.npz", "not a readable .npz archive"), setup=_text_npz, check=_nothing_written("conv")),
    Case("dep-convert-search-wrong-size", ("convert", "{student}", "--out", "{tmp}/conv", "--search",
                                           "{tmp}/win.npz"), 1,
         ("--search", "'search_spikes'", "expects (2, 32, 32)"),
         setup=_net_and(search_spikes=np.zeros((4, 1, 2, 16, 16), np.uint8)), check=_nothing_written("conv")),
    Case("dep-convert-out-is-a-file", ("convert", "{student}", "--out", "{tmp}/taken"), 1,
         ("--out", "is a file"), setup=_out_file, check=_file_kept),
    Case("dep-convert-rate-out-of-range", ("convert", "{student}", "--out", "{tmp}/conv", "--rate", "1.5"), 1,
         ("--rate", "[0, 1]"), check=_nothing_written("conv")),
    Case("dep-energy-net-not-hdf5", ("energy", "{tmp}/cv/student.h5", "--out", "{tmp}/en"), 1,
         ("student.h5", "not a readable HDF5 file"), setup=_netx_text, check=_nothing_written("en")),
    Case("dep-energy-out-is-a-file", ("energy", "{tmp}/cv", "--out", "{tmp}/taken"), 1, ("--out", "is a file"),
         setup=_out_file, check=_file_kept),
    Case("dep-energy-counts-input-steps", ("energy", "{tmp}/cv", "--counts", "{tmp}/counts.json", "--out",
                                           "{tmp}/en"), 1,
         ("counts.json", "'input_steps'", "[1, steps=4]"),
         setup=_counts({"steps": 4, "input_steps": 9, "layers": []}), check=_nothing_written("en")),
    Case("dep-energy-counts-layers-not-list", ("energy", "{tmp}/cv", "--counts", "{tmp}/counts.json", "--out",
                                               "{tmp}/en"), 1,
         ("counts.json", "'layers' must be a list"), setup=_counts({"steps": 4, "layers": {"conv1": 1}}),
         check=_nothing_written("en")),
]
