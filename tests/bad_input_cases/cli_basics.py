"""Rows: options argparse itself must refuse (usage errors exit 2 with the option named), ``had-snn energy --mode`` /
``--counts`` per mode (a small random netx network and its counts written by the row's setup), the teacher options of
``had-snn energy`` (``--teacher``, ``--teacher-traffic``, ``--teacher-macs``), and the demo config's QAT step
(``train.student_had_qat``)."""

from __future__ import annotations

import json

from tests.bad_input_cases import Case, Env


def _net_with_counts(*modes: str):
    """Write ``{tmp}/net.h5`` (a random conv/pool/dense network) and ``{tmp}/<mode>.json`` counts per mode."""

    def setup(env: Env) -> None:
        import numpy as np

        from had_snn.conversion.emulator import LoihiEmulator
        from had_snn.conversion.random_net import random_network
        from had_snn.hardware.counts import count_modes
        from had_snn.hardware.netx import write_netx

        layers = random_network(0)
        write_netx(env.tmp / "net.h5", layers)
        frames = (np.random.default_rng(0).random((2, 3, 1, *layers[0].shape)) < 0.3).astype(np.uint8)
        for mode, data in count_modes(LoihiEmulator(layers), frames, modes=modes).items():
            (env.tmp / f"{mode}.json").write_text(json.dumps(data))

    return setup


def _net_and_windows(shape: tuple[int, ...]):
    """``{tmp}/net.h5`` and its reset counts (as :func:`_net_with_counts`) plus ``{tmp}/win.npz`` of 0/1 spikes."""

    def setup(env: Env) -> None:
        import numpy as np

        _net_with_counts("reset")(env)
        np.savez(env.tmp / "win.npz", spikes=(np.random.default_rng(1).random(shape) < 0.3).astype(np.uint8))

    return setup


def _net_and_traffic(traffic: object):
    """``{tmp}/net.h5`` with its reset counts (as :func:`_net_with_counts`) and ``{tmp}/traffic.json`` = ``traffic``."""

    def setup(env: Env) -> None:
        _net_with_counts("reset")(env)
        (env.tmp / "traffic.json").write_text(json.dumps(traffic))

    return setup


def _demo_config(qat: object):
    """Write ``{tmp}/demo.yaml``: demo_tiny.yaml (training configs by absolute path) with ``train.student_had_qat`` set
    to ``qat`` (``None``: left out)."""

    def setup(env: Env) -> None:
        import yaml

        from had_snn.demo.config import CONFIG_DIR

        raw = yaml.safe_load((CONFIG_DIR / "demo_tiny.yaml").read_text())
        for name in ("teacher", "student", "student_had"):
            raw["train"][name]["config"] = str(CONFIG_DIR / raw["train"][name]["config"])
        if qat is None:
            del raw["train"]["student_had_qat"]
        else:
            raw["train"]["student_had_qat"] = qat
        (env.tmp / "demo.yaml").write_text(yaml.safe_dump(raw))

    return setup


def _nothing_written(name: str):
    def check(env: Env) -> None:
        assert not (env.tmp / name).exists(), f"{name} was written"

    return check


CASES = [
    Case("eval-no-tracker", ("eval", "--data", "{data}", "--out", "{tmp}/ev"), 2, ("--tracker",)),
    Case("train-unknown-kind", ("train", "robot", "--config", "x.yaml"), 2, ("invalid choice",)),
    Case("cli-energy-mode-unknown", ("energy", "{tmp}/net.h5", "--mode", "burst", "--out", "{tmp}/en"), 2,
         ("--mode", "invalid choice")),
    Case("cli-energy-mode-not-counted", ("energy", "{tmp}/net.h5", "--counts", "{tmp}/reset.json", "--mode", "stream",
                                         "--out", "{tmp}/en"), 1,
         ("--mode stream", "no stream counts", "reset.json is reset"), setup=_net_with_counts("reset"),
         check=_nothing_written("en")),
    Case("cli-energy-two-counts-one-mode", ("energy", "{tmp}/net.h5", "--counts", "{tmp}/stream.json",
                                            "{tmp}/stream.json", "--out", "{tmp}/en"), 1,
         ("--counts", "both 'stream' counts", "one file per mode"), setup=_net_with_counts("stream"),
         check=_nothing_written("en")),
    Case("cli-energy-input-wrong-shape", ("energy", "{tmp}/net.h5", "--input", "{tmp}/win.npz", "--out", "{tmp}/en"),
         1, ("--input", "win.npz", "(2, 12, 12)"), setup=_net_and_windows((3, 2, 2, 5, 5)),
         check=_nothing_written("en")),
    Case("cli-energy-input-and-counts", ("energy", "{tmp}/net.h5", "--input", "{tmp}/win.npz", "--counts",
                                         "{tmp}/reset.json", "--out", "{tmp}/en"), 1,
         ("--input and --counts", "give one"), setup=_net_and_windows((3, 2, 2, 12, 12)), check=_nothing_written("en")),
    Case("cli-energy-teacher-traffic-missing", ("energy", "{tmp}/net.h5", "--counts", "{tmp}/reset.json",
                                                "--teacher-traffic", "{tmp}/absent.json", "--out", "{tmp}/en"), 1,
         ("teacher traffic file not found", "absent.json"), setup=_net_with_counts("reset"),
         check=_nothing_written("en")),
    Case("cli-energy-teacher-traffic-field", ("energy", "{tmp}/net.h5", "--counts", "{tmp}/reset.json",
                                              "--teacher-traffic", "{tmp}/traffic.json", "--out", "{tmp}/en"), 1,
         ("traffic.json", "layer 'conv1'", "'weights'", "non-negative integer"),
         setup=_net_and_traffic([{"name": "conv1", "macs": 10, "in_acts": 4, "out_acts": 4}]),
         check=_nothing_written("en")),
    Case("cli-energy-teacher-traffic-macs-format", ("energy", "{tmp}/net.h5", "--teacher-traffic", "{tmp}/traffic.json",
                                                    "--out", "{tmp}/en"), 1,
         ("traffic.json", "expected a non-empty list"), setup=_net_and_traffic({"conv1": 10}),
         check=_nothing_written("en")),
    Case("cli-energy-teacher-traffic-and-macs", ("energy", "{tmp}/net.h5", "--teacher-traffic", "{tmp}/traffic.json",
                                                 "--teacher-macs", "{tmp}/traffic.json", "--out", "{tmp}/en"), 2,
         ("--teacher-macs", "not allowed with argument --teacher-traffic")),
    Case("cli-energy-teacher-is-student", ("energy", "{tmp}/net.h5", "--teacher", "{student}", "--out", "{tmp}/en"), 1,
         ("--teacher", "not an ANN teacher checkpoint"), setup=_net_with_counts("reset"),
         check=_nothing_written("en")),
    Case("cli-demo-qat-missing", ("demo", "--config", "{tmp}/demo.yaml", "--out", "{tmp}/run", "--no-progress"), 1,
         ("demo.yaml", "train must define exactly", "student_had_qat"), setup=_demo_config(None),
         check=_nothing_written("run")),
    Case("cli-demo-qat-own-config", ("demo", "--config", "{tmp}/demo.yaml", "--out", "{tmp}/run", "--no-progress"), 1,
         ("demo.yaml", "student_had_qat", "only 'overrides'"), setup=_demo_config({"config": "student_qat.yaml"}),
         check=_nothing_written("run")),
    Case("cli-demo-qat-not-faithful", ("demo", "--config", "{tmp}/demo.yaml", "--out", "{tmp}/run", "--no-progress"),
         1, ("demo.yaml", "student_had_qat", "loihi_faithful"),
         setup=_demo_config({"overrides": {"model_config": {"loihi_faithful": False}}}), check=_nothing_written("run")),
]
