"""``had-snn info FILE``: what an event or sequence file holds (validating it on the way)."""

from __future__ import annotations

import argparse
import json
import os

from had_snn.commands.box_update import positive_int

NAME = "info"
HELP = ("summarise an event/sequence file (.h5/.hdf5, .npz, .npy, .txt/.csv, .aedat4, Prophesee .raw/.dat): "
        "counts, time span, rates, sensor, frames, boxes")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="event or sequence file")
    parser.add_argument("--sensor", type=positive_int, nargs=2, metavar=("W", "H"), default=None,
                        help="sensor size in px, for files that do not store it (Prophesee .raw/.dat without "
                             "geometry, .npy); checked against the file's where it has one")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return " x ".join(str(v) for v in value) if value and all(isinstance(v, int) for v in value) else (
            ", ".join(_fmt(v) for v in value) or "-")
    return "-" if value is None else str(value)


def _checksum_summary(f) -> str:
    """Which non-empty datasets of an open HDF5 file carry a fletcher32 checksum (older files have none)."""
    import h5py

    sets: list[h5py.Dataset] = []
    f.visititems(lambda _name, obj: sets.append(obj) if isinstance(obj, h5py.Dataset) and obj.size else None)
    bare = [d.name for d in sets if not d.fletcher32]
    if not bare:
        return f"fletcher32 on all {len(sets)} non-empty datasets (verified on read)"
    return (f"none on {len(bare)} of {len(sets)} datasets ({', '.join(bare[:3])}{', ...' if len(bare) > 3 else ''}): "
            f"an older file, corruption there cannot be detected; rewriting it adds them")


def file_summary(path: str | os.PathLike, sensor_size: tuple[int, int] | None = None, progress: bool = False) -> dict:
    """What a supported file holds (validated on the way): format, sensor size, event counts, time span, rates,
    for ``.aedat4`` files the APS frame count and rate, and for native sequences the frames, boxes, trajectory,
    attributes and meta (their frames are not loaded).

    ``sensor_size`` (W, H) is required for files that do not store one and checked against those that do;
    ``progress`` shows a bar while decoding Prophesee files.
    """
    import numpy as np

    from had_snn.data.io import (
        EVENT_FILE,
        EVENTS_FORMAT,
        FORMAT_VERSION,
        HDF5_SUFFIXES,
        SEQUENCE_FORMAT,
        _check_format,
        _open_h5,
        read_events_and_frames,
        read_sequence,
    )
    from had_snn.util.paths import existing_file

    path = existing_file(path, EVENT_FILE)
    info: dict = {"file": str(path)}
    fmt = None
    if path.suffix.lower() in HDF5_SUFFIXES:
        with _open_h5(path) as f:
            fmt = _check_format(f, path, (SEQUENCE_FORMAT, EVENTS_FORMAT))
            frames_shape = tuple(f["frames"].shape) if "frames" in f else None
            info["checksums"] = _checksum_summary(f)
    if fmt == SEQUENCE_FORMAT:
        seq = read_sequence(path, load_frames=False)
        if sensor_size is not None and tuple(int(v) for v in sensor_size) != seq.sensor_size:
            raise ValueError(f"{path}: file sensor size {seq.sensor_size} differs from the requested "
                             f"{tuple(int(v) for v in sensor_size)}")
        ev, sensor_size = seq.events, seq.sensor_size
        info.update(format=f"{SEQUENCE_FORMAT} v{FORMAT_VERSION}", name=seq.name)
        aps = aps_t = None
    else:
        ev, sensor_size, aps, aps_t = read_events_and_frames(path, sensor_size=sensor_size, progress=progress)
        info["format"] = fmt or path.suffix.lower().lstrip(".")
        if path.suffix.lower() in (".raw", ".dat"):
            from had_snn.data.prophesee import read_header

            header = read_header(path)
            info["format"] = f"prophesee {header.encoding_name}"
            info["header"] = header.fields
    info["sensor_size_wh_px"] = list(sensor_size)
    info["events"] = int(len(ev))
    if len(ev):
        t0, t1 = int(ev["t"][0]), int(ev["t"][-1])
        duration_s = (t1 - t0) / 1e6
        info.update(t_first_us=t0, t_last_us=t1, duration_s=duration_s, on_fraction=float(ev["p"].mean()))
        if duration_s > 0:
            info["event_rate_mev_s"] = len(ev) / duration_s / 1e6
            info["rate_per_pixel_hz"] = len(ev) / duration_s / (sensor_size[0] * sensor_size[1])
    if aps_t is not None:
        info["frames"] = len(aps_t)
        info["frame_shape_hwc"] = list(aps.shape[1:])
        if len(aps_t) > 1:
            info["frame_rate_hz"] = float(1e6 / np.median(np.diff(aps_t)))
    if fmt == SEQUENCE_FORMAT:
        info["frames"] = seq.num_frames
        info["frame_shape_hwc"] = list(frames_shape[1:]) if frames_shape else None
        if seq.num_frames > 1:
            info["frame_rate_hz"] = float(1e6 / np.median(np.diff(seq.frame_t_us)))
        absent = int(np.isnan(seq.boxes).any(axis=1).sum())
        info["boxes"] = {"count": len(seq.boxes), "absent": absent}
        if len(seq.boxes) > absent:
            present = seq.boxes[~np.isnan(seq.boxes).any(axis=1)]
            info["boxes"]["mean_wh_px"] = [float(present[:, 2].mean()), float(present[:, 3].mean())]
        info["trajectory_samples"] = 0 if seq.trajectory_t_us is None else len(seq.trajectory_t_us)
        info["attributes"] = list(seq.attributes)
        info["meta"] = seq.meta
    return info


def run(args: argparse.Namespace) -> int:
    info = file_summary(args.file, sensor_size=args.sensor, progress=True)
    if args.json:
        print(json.dumps(info))
        return 0
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key:<{width}}  {_fmt(value)}")
    return 0
