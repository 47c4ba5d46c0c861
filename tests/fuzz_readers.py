"""Seeded mutation fuzzing of every reader: ``python -m tests.fuzz_readers LOG [--cases N] [--seed S] [--start K]``.

Clean files (the real sensor samples of ``../shared/samples/`` and files the project writes: EVT 2.0, DAT, text,
``.npy``/``.npz``, native HDF5 sequences, netx networks, checkpoints) are mutated (bit flips, truncations, repeated,
dropped, zeroed and overwritten words) and read back with the project's readers. Each case must either fail with an
expected error (:data:`had_snn.util.errors.EXPECTED`) whose message names the file, or decode into something the
project accepts: events sorted, on the sensor and without implausible gaps; a sequence, network or model that passes
its own validation. A case that takes longer than ``CASE_TIMEOUT_S`` is a hang (a watchdog ends the process; the
caller restarts at the next case). Run by ``tests/test_fuzz_readers.py`` in a subprocess under a 2 GB address-space
limit, so an allocation over that bound fails the case as a MemoryError. Outcomes go to the JSON-lines LOG.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
CASE_TIMEOUT_S = 20


# --- clean files --------------------------------------------------------------------------------------------------

def _random_events(n: int, size: tuple[int, int], seed: int = 0):
    from had_snn.data.events import make_events

    rng = np.random.default_rng(seed)
    t = 1_000 + np.cumsum(rng.integers(0, 40, n))
    return make_events(rng.integers(0, size[0], n), rng.integers(0, size[1], n), t, rng.integers(0, 2, n))


def _write_evt2(folder: Path) -> Path:
    import expelliarmus

    ev = _random_events(3000, (64, 48), 1)
    arr = np.empty(len(ev), dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "u1")])
    for n in ("t", "x", "y", "p"):
        arr[n] = ev[n]
    raw = folder / "w.raw"
    expelliarmus.Wizard(encoding="evt2").save(raw, arr)
    path = folder / "clean_evt2.raw"
    path.write_bytes(b"% geometry 64x48\n" + raw.read_bytes())
    return path


def _write_dat(folder: Path) -> Path:
    ev = _random_events(2000, (32, 16), 2)
    rec = np.empty(len(ev), dtype=[("t", "<u4"), ("d", "<u4")])
    rec["t"] = ev["t"]
    rec["d"] = ev["x"].astype(np.uint32) | (ev["y"].astype(np.uint32) << 14) | (ev["p"].astype(np.uint32) << 28)
    path = folder / "clean.dat"
    path.write_bytes(b"% Data file containing CD events\n% Version 2\n% Width 32\n% Height 16\n" + bytes([0x0C, 8])
                     + rec.tobytes())
    return path


def _write_event_files(folder: Path) -> dict[str, Path]:
    from had_snn.data.io import write_events

    ev = _random_events(1500, (64, 48), 3)
    out = {}
    for suffix in (".csv", ".txt", ".npz", ".h5"):
        out[suffix] = folder / f"clean{suffix}"
        write_events(out[suffix], ev, (64, 48))
    out[".npy"] = folder / "clean.npy"
    np.save(out[".npy"], ev)
    return out


def _write_sequence(folder: Path) -> Path:
    from had_snn.data.io import write_sequence
    from had_snn.data.synthetic import SynthConfig, generate_sequence

    seq = generate_sequence(SynthConfig(width_px=48, height_px=32, duration_s=0.15, fps=20), 1, ("occlusion",))
    path = folder / "clean_seq.h5"
    write_sequence(path, seq)
    return path


def _write_netx(folder: Path) -> Path:
    from had_snn.conversion.random_net import random_network
    from had_snn.hardware.netx import write_netx

    path = folder / "clean_net.h5"
    write_netx(path, random_network(0), attrs={"readout_scale": 1.0})
    return path


def _write_checkpoint(folder: Path) -> Path:
    import torch

    from had_snn.models import build_model
    from had_snn.models.checkpoint import model_state, save_checkpoint

    torch.manual_seed(0)
    student = build_model("student", widths=(2, 4, 4), head_channels=4, search_px=32, template_px=16)
    path = folder / "clean.pt"
    save_checkpoint(path, model_state(student))
    return path


# --- readers and what an accepted result must satisfy ---------------------------------------------------------------

def _read_events(sensor: tuple[int, int] | None = None) -> Callable[[Path], None]:
    def read(path: Path) -> None:
        from had_snn.data.events import MAX_EVENT_GAP_US, validate_events
        from had_snn.data.io import read_events

        ev, size = read_events(path, sensor_size=sensor)
        validate_events(ev, size, source=str(path))  # sorted, on the sensor, polarity 0/1
        assert len(ev) < 2 or int(np.diff(ev["t"]).max()) <= MAX_EVENT_GAP_US, "an implausible gap was accepted"
    return read


def _read_sequence(path: Path) -> None:
    from had_snn.data.io import read_sequence

    seq = read_sequence(path)
    assert seq.num_frames > 0


def _read_netx(path: Path) -> None:
    from had_snn.hardware.netx import read_netx, validate_layers

    layers, _ = read_netx(path)
    validate_layers(layers, str(path), hardware_fields=True)


def _read_checkpoint(path: Path) -> None:
    import torch

    from had_snn.models.checkpoint import load_model

    model = load_model(path)
    assert all(bool(torch.isfinite(p).all()) for p in model.state_dict().values() if p.is_floating_point())


# --- mutations ------------------------------------------------------------------------------------------------------

def mutate(data: bytes, rng: np.random.Generator, start: int = 0) -> tuple[bytes, str]:
    """One mutation of ``data`` at or after byte ``start`` (the header is mutated too, less often)."""
    b = bytearray(data)
    lo = 0 if rng.random() < 0.15 or start >= len(b) else start
    n = len(b)
    kind = rng.choice(["flip", "flips", "truncate", "repeat", "drop", "zero", "random", "int_max"])
    at = int(rng.integers(lo, max(lo + 1, n)))
    width = int(rng.choice([1, 2, 4, 8, 16, 64]))
    if kind == "flip" and n:
        b[min(at, n - 1)] ^= 1 << int(rng.integers(8))
    elif kind == "flips" and n:
        for pos in rng.integers(lo, n, int(rng.integers(2, 64))):
            b[int(pos)] ^= 1 << int(rng.integers(8))
    elif kind == "truncate":
        del b[at:]
    elif kind == "repeat":
        b[at:at] = b[at:at + width]
    elif kind == "drop":
        del b[at:at + width]
    elif kind == "zero":
        b[at:at + width] = bytes(len(b[at:at + width]))
    elif kind == "random":
        b[at:at + width] = rng.integers(0, 256, len(b[at:at + width]), dtype=np.uint8).tobytes()
    else:  # a word of all ones: the largest unsigned value of its width
        b[at:at + width] = b"\xff" * len(b[at:at + width])
    return bytes(b), f"{kind}@{at}/{width}"


def _data_start(path: Path) -> int:
    """Where a file's data starts (after a text header), so most mutations hit the encoded events."""
    if path.suffix.lower() in (".raw", ".dat"):
        from had_snn.data.prophesee import read_header

        return read_header(path).data_offset
    return 0


def targets(folder: Path) -> list[tuple[str, Path, Callable[[Path], None], float]]:
    """The clean files (written into ``folder``): name, path, reader, share of the cases."""
    events = _write_event_files(folder)
    return [
        ("evt3-sample", SAMPLES / "prophesee-evt3" / "evt3_sample.raw", _read_events(), 1.0),
        ("evt2", _write_evt2(folder), _read_events(), 2.0),
        ("dat", _write_dat(folder), _read_events(), 2.0),
        ("aedat4-sample", SAMPLES / "dvxplorer-aedat4" / "sample.aedat4", _read_events(), 0.5),
        ("npy", events[".npy"], _read_events((64, 48)), 1.5),
        ("npz", events[".npz"], _read_events(), 1.5),
        ("csv", events[".csv"], _read_events(), 1.0),
        ("txt", events[".txt"], _read_events(), 1.0),
        ("events-h5", events[".h5"], _read_events(), 1.0),
        ("sequence-h5", _write_sequence(folder), _read_sequence, 1.0),
        ("netx", _write_netx(folder), _read_netx, 1.5),
        ("checkpoint", _write_checkpoint(folder), _read_checkpoint, 0.5),
    ]


def run(n_cases: int, seed: int, log: Path, start: int = 0) -> None:
    """Cases ``start..n_cases-1`` of the seeded plan; appends to the JSON-lines ``log`` a ``start`` record before
    each case and its outcome after, so a case that hangs past ``CASE_TIMEOUT_S`` or kills the process (the
    watchdog exits it) is known from the last record."""
    import faulthandler

    from had_snn.util.errors import EXPECTED

    with tempfile.TemporaryDirectory(prefix="had-snn-fuzz-") as tmp, open(log, "a") as out:
        folder = Path(tmp)
        plan = targets(folder)
        for _, clean, read, _ in plan:  # the clean files themselves read
            read(clean)
        weights = np.array([t[3] for t in plan])
        clean_bytes = {t[0]: t[1].read_bytes() for t in plan}
        starts = {t[0]: _data_start(t[1]) for t in plan}
        for i in range(start, n_cases):
            rng = np.random.default_rng([seed, i])  # each case from its own seed: a restart replays it exactly
            name, clean, read, _ = plan[int(rng.choice(len(plan), p=weights / weights.sum()))]
            data, how = mutate(clean_bytes[name], rng, starts[name])
            record = {"case": i, "target": name, "mutation": how}
            out.write(json.dumps({**record, "outcome": "start"}) + "\n")
            out.flush()
            path = folder / f"case{clean.suffix}"
            path.write_bytes(data)
            faulthandler.dump_traceback_later(CASE_TIMEOUT_S, exit=True)  # C code that never returns: exit
            try:
                read(path)
                record["outcome"] = "read"
            except EXPECTED as exc:
                message = str(exc)
                if path.name in message or "--sensor" in message:
                    record["outcome"] = "refused"
                else:
                    record |= {"outcome": "failure",
                               "problem": f"{type(exc).__name__} without the file name: {message[:300]}"}
            except BaseException as exc:  # noqa: BLE001 - every other outcome is a finding
                record |= {"outcome": "failure", "problem": f"{type(exc).__name__}: {str(exc)[:300]}"}
            finally:
                faulthandler.cancel_dump_traceback_later()
            out.write(json.dumps(record) + "\n")
            out.flush()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("log", type=Path, help="JSON-lines log the outcomes are appended to")
    p.add_argument("--cases", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--start", type=int, default=0, help="first case (after a hang: the next one)")
    args = p.parse_args(argv)
    run(args.cases, args.seed, args.log, args.start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
