"""Track a recording from a given initial box with a trained checkpoint: float, Loihi fixed point, or a netx file.

:func:`open_checkpoint` loads what ``had-snn track --checkpoint`` and ``had-snn eval --tracker`` name (a folder
means the run file in it, :func:`resolve_checkpoint_path`: a training run's ``best.pt``, else its ``last.pt``, else
the ``student.h5`` of a ``had-snn convert`` output folder):

- a teacher or student ``.pt`` written by ``had-snn train``: the float model (``mode = "float"``);
- a student ``.pt`` with ``fixed_point=True``: the student in Loihi fixed point, run by the bit-exact emulator
  (:class:`~had_snn.tracking.loihi.EmulatedStudent`; ``mode = "fixed-point"``). The correlation layer is quantised
  from the template cut around the initial box, the rest as ``had-snn convert`` quantises it;
- a ``student.h5`` written by ``had-snn convert`` (``mode = "netx"``): its netx layers run in the emulator; the float
  student named by its ``source`` attribute cuts the template and re-quantises the correlation layer (what the
  deployed network does at track start). The file is checked against a fresh quantisation of its source.

:func:`checkpoint_crop` takes T (``--steps`` or the training config) and the crop geometry from the checkpoint,
:func:`build_tracker` turns it into a :class:`~had_snn.tracking.tracker.ModelTracker` (an
:class:`~had_snn.tracking.loihi.EmulatedTracker` for the fixed-point modes, reset or streaming) and
:func:`track_online` runs it:
``initialize(seq, box)`` at the first output time, then ``update(k)`` once per output time. Nothing in the tracker
needs the whole recording in advance: each ``update(k)`` reads only the events of window ``k``, so a live source that
appends events and output times to the sequence can drive the same two calls.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from had_snn.data.sequence import Sequence
from had_snn.tracking.config import CropConfig
from had_snn.tracking.crop import crop_inputs
from had_snn.tracking.tracker import FRAME_KINDS, BoxUpdate, ModelTracker, init_box

NETX_SUFFIXES = (".h5", ".hdf5")
#: What a folder given as a checkpoint stands for, in order of preference: a training run's best and last
#: checkpoints, then the netx file of a ``had-snn convert`` output folder.
RUN_FILES = ("best.pt", "last.pt", "student.h5")
#: what runs a fixed-point student's network (``--backend``): the bit-exact emulator, or Lava (stream mode)
BACKENDS = ("emulator", "lava")


@dataclass
class TrackerCheckpoint:
    """A loaded ``--checkpoint``: the float model and, for the fixed-point modes, what quantises it."""

    path: Path
    model: nn.Module  # the float model (for a netx file: the student its ``source`` names)
    mode: str  # "float" | "fixed-point" | "netx"
    train_steps: int | None = None  # student_steps of the training config, when the checkpoint records it
    weight_percentile: float = 100.0
    source: Path | None = None  # netx: the float student's checkpoint
    netx_layers: list | None = None
    netx_attrs: dict = field(default_factory=dict)
    train_crop: dict | None = None  # the training config's data.crop section, when the checkpoint records it
    given: Path | None = None  # the path as the user gave it (a folder resolves to its run file)

    @property
    def model_kind(self) -> str:
        return str(getattr(self.model, "kind", type(self.model).__name__))

    @property
    def needs_frames(self) -> bool:
        """Whether the model reads RGB frames (the teacher and its RGB-only variant)."""
        return self.model_kind in FRAME_KINDS

    @property
    def kind(self) -> str:
        """``teacher``, ``student``, ``student-fixed-point`` or ``student-netx`` (and the teacher variants)."""
        return {"float": self.model_kind, "fixed-point": "student-fixed-point", "netx": "student-netx"}[self.mode]

    def describe(self) -> str:
        what = {"float": f"{self.model_kind} (float)",
                "fixed-point": f"student in Loihi fixed point (emulator, weight percentile {self.weight_percentile:g})",
                "netx": f"netx student (emulator) from {self.source}"}[self.mode]
        where = f"{self.path}" if self.given is None or self.given == self.path else (
            f"{self.given} -> {self.path.name} ({self.path})")
        return f"{where}: {what}"


def _train_crop(state: dict) -> dict | None:
    crop = ((state.get("train_config") or {}).get("data") or {}).get("crop")
    return dict(crop) if isinstance(crop, dict) else None


def _train_steps(crop: dict | None) -> int | None:
    return int(crop["student_steps"]) if crop and "student_steps" in crop else None


def _load_pt(path: Path, device: str) -> tuple[nn.Module, dict | None]:
    """The model of a ``.pt`` checkpoint and its training crop section (None when it records none)."""
    from had_snn.models.checkpoint import load_checkpoint, model_from_state

    try:
        state = load_checkpoint(path, map_location=device)
    except ValueError as exc:
        if "weights_only" in str(exc):  # torch's unpickling advice is for trusted files only: never show it
            raise ValueError(f"{path}: not a had-snn checkpoint (it holds Python objects a safe load refuses); "
                             "expected a .pt written by `had-snn train`") from None
        raise
    return model_from_state(state, device, str(path)), _train_crop(state)


def resolve_checkpoint_path(path: str | os.PathLike) -> Path:
    """The file a checkpoint argument names: a file as it is; a folder's first of :data:`RUN_FILES` (``best.pt``,
    ``last.pt``, ``student.h5``). FileNotFoundError says what was looked for."""
    path = Path(path)
    if path.is_dir():
        for name in RUN_FILES:
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"{path} is a folder without {', '.join(RUN_FILES)}: expected a training run "
                                "folder (`had-snn train`), a `had-snn convert` output folder, or a checkpoint file")
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if not path.is_file():
        raise ValueError(f"checkpoint {path} is not a regular file")
    return path


def _weight_percentile_of(path: Path, attrs: dict) -> float:
    """The percentile a netx file was quantised at: its attribute, else ``quantization.json`` beside it, else 100."""
    if "weight_percentile" in attrs:
        return float(attrs["weight_percentile"])
    report = path.parent / "quantization.json"
    if report.is_file():
        try:
            return float(json.loads(report.read_text()).get("weight_percentile", 100.0))
        except (json.JSONDecodeError, TypeError, ValueError):
            raise ValueError(f"{report}: not a readable quantisation report (needed for {path}'s weight "
                             "percentile)") from None
    return 100.0


def _source_path(path: Path, attrs: dict, given: Path | None) -> Path:
    """The float student of the netx file ``path``: ``given`` (``--source``) when set, else its ``source`` attribute
    (relative to the file's folder, as ``had-snn convert`` writes it, or to the current folder)."""
    if given is not None:
        if not given.is_file():
            raise FileNotFoundError(f"--source {given}: no such file (the student checkpoint {path} was converted "
                                    "from)")
        return given
    if "source" not in attrs:
        raise ValueError(f"{path}: attribute 'source' (the student checkpoint it was converted from) is missing; "
                         "name it with --source CKPT, or re-run `had-snn convert CKPT`")
    source = Path(str(attrs["source"]))
    for candidate in ((path.parent / source,) if not source.is_absolute() else ()) + (source,):
        if candidate.is_file():
            return candidate.resolve()
    raise FileNotFoundError(f"{path}: attribute 'source' names {source}, which does not exist; the float student is "
                            "needed for the template path and the correlation layer: name it with --source CKPT")


def layer_differences(ours: list, theirs: list, skip: tuple[str, ...] = ("xcorr",)) -> list[str]:
    """Names and fields of the netx layers that differ (layers named in ``skip`` are not compared; an input layer's
    legacy relay neuron, written by older versions, is not compared either)."""
    if len(ours) != len(theirs):
        return [f"{len(ours)} vs {len(theirs)} layers"]
    out = []
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if a.name in skip and b.name in skip:
            continue
        fields_ = []
        for f in ("type", "name", "shape", "stride", "padding", "dilation", "groups", "weight_exp", "neuron"):
            if f == "neuron" and a.type == b.type == "input":
                continue
            if getattr(a, f) != getattr(b, f):
                fields_.append(f)
        for f in ("weight", "bias"):
            x, y = getattr(a, f), getattr(b, f)
            if (x is None) != (y is None) or (x is not None and not np.array_equal(x, y)):
                fields_.append(f)
        if fields_:
            out.append(f"layer {i} ({a.name or b.name}): {', '.join(fields_)}")
    return out


def base_network(student: nn.Module, weight_percentile: float, kernel: torch.Tensor):
    """The student quantised as ``had-snn convert`` does it, with the correlation kernel ``kernel`` (C, k, k).

    Every layer but the correlation is independent of the template. An all-zero ``kernel`` (a silent template) has
    no fixed-point scale, so a kernel of ones stands in for it: the tracker re-quantises the correlation layer from
    its own template anyway (and keeps the initial box when that one is silent).
    """
    from had_snn.conversion.quantize import quantize_float_layers, student_float_layers

    cfg = student.config
    if not bool(kernel.abs().max() > 0):
        kernel = torch.ones_like(kernel)
    layers = student_float_layers(student, kernel)
    return quantize_float_layers(layers, (cfg.in_channels, cfg.search_px, cfg.search_px), weight_percentile)


def _open_netx(path: Path, source: Path | None = None) -> TrackerCheckpoint:
    from had_snn.conversion.quantize import QuantizedNetwork
    from had_snn.hardware.netx import read_netx

    try:
        layers, attrs = read_netx(path)
    except (OSError, ValueError) as exc:
        detail = str(exc).removeprefix(f"{path}: ")
        raise ValueError(f"{path}: not a netx network written by `had-snn convert` ({detail})") from None
    source = _source_path(path, attrs, source)
    student, train_crop = _load_pt(source, "cpu")  # the emulator's side: template path and quantisation
    if getattr(student, "kind", None) != "student":
        raise ValueError(f"{path}: attribute 'source' names {source}, which holds a {student.kind}, not the student")
    percentile = _weight_percentile_of(path, attrs)
    xcorr = [lay for lay in layers if lay.name == "xcorr"]
    if len(xcorr) != 1:
        raise ValueError(f"{path}: expected one correlation layer named 'xcorr', found {len(xcorr)}")
    k = xcorr[0].weight.shape[-1]
    fresh = base_network(student, percentile, torch.ones(xcorr[0].weight.shape[0], k, k, dtype=torch.float64))
    diffs = layer_differences(layers, fresh.layers)
    scale = attrs.get("readout_scale")
    if scale is not None and not np.isclose(float(scale), fresh.readout_scale, rtol=1e-9, atol=0.0):
        diffs.append(f"readout_scale {float(scale):.6g} vs {fresh.readout_scale:.6g}")
    if diffs:
        shown = "; ".join(diffs[:3]) + (f"; and {len(diffs) - 3} more" if len(diffs) > 3 else "")
        raise ValueError(f"{path} and its source {source} disagree: the netx layers are not the source quantised at "
                         f"weight percentile {percentile:g} ({shown}); re-run `had-snn convert`")
    qnet = QuantizedNetwork(layers, list(fresh.scales), list(fresh.reports))
    return TrackerCheckpoint(path, student, "netx", _train_steps(train_crop), percentile, source, qnet.layers, attrs,
                             train_crop)


def open_checkpoint(path: str | os.PathLike, fixed_point: bool = False, device: str = "cpu",
                    weight_percentile: float | None = None, source: str | os.PathLike | None = None
                    ) -> TrackerCheckpoint:
    """Load a checkpoint argument (see the module docstring; a folder resolves with :func:`resolve_checkpoint_path`).
    ``weight_percentile`` is for ``fixed_point`` (default 100); a netx file uses the percentile it was quantised at.
    ``source``: the float student of a netx file, instead of the one its ``source`` attribute names."""
    given = Path(path)
    path = resolve_checkpoint_path(given)
    if path.suffix.lower() in NETX_SUFFIXES:
        ckpt = _open_netx(path, None if source is None else Path(source))
        ckpt.given = given
        if weight_percentile is not None and float(weight_percentile) != ckpt.weight_percentile:
            raise ValueError(f"{path} was quantised at weight percentile {ckpt.weight_percentile:g}, not "
                             f"--weight-percentile {weight_percentile:g}")
        return ckpt
    if source is not None:
        raise ValueError(f"--source names the float student of a converted network (student.h5), not of {path}")
    model, train_crop = _load_pt(path, "cpu" if fixed_point else device)
    train_steps = _train_steps(train_crop)
    if not fixed_point and weight_percentile is not None:
        raise ValueError(f"--weight-percentile applies to the fixed-point student (--fixed-point or a student.h5), "
                         f"not to the float {model.kind} in {path}")
    if not fixed_point:
        return TrackerCheckpoint(path, model, "float", train_steps, train_crop=train_crop, given=given)
    if getattr(model, "kind", None) != "student":
        raise ValueError(f"--fixed-point needs a student checkpoint; {path} holds a {model.kind}")
    if train_crop and train_crop.get("graded_spikes"):
        raise ValueError(f"--fixed-point: {path} was trained on graded spikes (data.crop.graded_spikes: true); the "
                         "fixed-point path and Loihi 1 take binary spikes, so track it in float")
    percentile = 100.0 if weight_percentile is None else float(weight_percentile)
    if not 0.0 < percentile <= 100.0:
        raise ValueError(f"--weight-percentile must be in (0, 100], got {percentile:g}")
    return TrackerCheckpoint(path, model, "fixed-point", train_steps, percentile, train_crop=train_crop, given=given)


def resolve_steps(ckpt: TrackerCheckpoint, steps: int | None) -> tuple[int, str]:
    """Spike steps T per output window and where the number came from."""
    if steps is not None:
        if steps < 1:
            raise ValueError(f"--steps must be >= 1, got {steps}")
        return int(steps), "--steps"
    if ckpt.train_steps is not None:
        return ckpt.train_steps, "the checkpoint's training config"
    return CropConfig.student_steps, "the default (the checkpoint does not record its training steps)"


def checkpoint_crop(ckpt: TrackerCheckpoint, steps: int | None = None) -> tuple[CropConfig, str]:
    """The crop a checkpoint is tracked with (the one shared rule of ``track``, ``eval`` and ``windows``) and a line
    saying where T and the sizes come from.

    T is ``steps`` (``--steps``) when given, else the training config's, else CropConfig's default; sizes from the
    model config, contexts and event window from the training config (:func:`crop_config_for`). When ``--steps``
    overrides a T the checkpoint records, the line says so.
    """
    from had_snn.tracking.tracker import crop_config_for

    t, source = resolve_steps(ckpt, steps)
    crop = crop_config_for(ckpt.model, t, ckpt.train_crop)
    if source == "--steps" and ckpt.train_steps is not None and ckpt.train_steps != t:
        source = f"--steps, overriding the checkpoint's training T = {ckpt.train_steps}"
    line = (f"T = {t} spike steps per window (from {source}); template {crop.template_px} px, search "
            f"{crop.search_px} px (from the checkpoint)")
    return crop, line


def template_spikes(seq: Sequence, box: np.ndarray, crop: CropConfig) -> torch.Tensor:
    """Template spikes (T, 1, C, Pt, Pt) cut around ``box`` at the first output time, as the tracker cuts them."""
    spikes = crop_inputs(seq, 0, box, crop.template_context, crop.template_px, crop)["spikes"]
    return torch.from_numpy(spikes[:, None])


def build_tracker(ckpt: TrackerCheckpoint, crop: CropConfig, window_influence: float = 0.25,
                  box_update: BoxUpdate | None = None, device: str = "cpu", *, name: str | None = None,
                  fingerprint: str | None = None, seq: Sequence | None = None,
                  box: np.ndarray | None = None, loihi_mode: str | None = None, backend: str = "emulator",
                  lava_timeout_s: float | None = 600.0) -> tuple[ModelTracker, dict[str, Any]]:
    """The tracker for ``ckpt`` (named ``name``, default the run folder's name for a run file such as ``best.pt``,
    else the file stem) and facts worth reporting.

    The fixed-point modes quantise the correlation layer from each sequence's template as they track; given ``seq``
    and its initial ``box``, the facts say whether that template is silent (``silent_template``). ``loihi_mode``
    (``--loihi-mode``: ``reset``, the default, or ``stream``) is how the emulated chip runs the frames
    (:mod:`had_snn.tracking.loihi`); the facts give it with ``crop_lag_frames`` and ``billed_steps_per_frame``. It
    is refused for a float checkpoint. ``backend`` (``--backend``): ``emulator`` (default) runs the fixed-point
    network in the bit-exact emulator; ``lava`` runs it in Lava, stream mode only, one graph per sequence
    (:class:`~had_snn.tracking.lava_tracker.LavaStreamTracker`; each Lava command is stopped after ``lava_timeout_s``).
    A Lava tracker holds a Lava session: call its ``close()`` when done.
    """
    from had_snn.tracking.loihi import check_mode

    if backend not in BACKENDS:
        raise ValueError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "lava":
        if ckpt.mode == "float":
            raise ValueError(f"--backend lava runs the fixed-point student (--fixed-point or a converted student.h5), "
                             f"not the float {ckpt.model_kind} in {ckpt.path}")
        if loihi_mode == "reset":
            raise ValueError("--backend lava runs the chip's stream mode (one Lava graph per sequence); reset mode "
                             "runs in the emulator (--backend emulator), whose fixed point is Lava's bit for bit")
        loihi_mode = "stream"

    name = name or (ckpt.path.resolve().parent.name if ckpt.path.name in RUN_FILES else ckpt.path.stem)
    if loihi_mode is not None:
        check_mode(loihi_mode)
        if ckpt.mode == "float":
            raise ValueError(f"--loihi-mode applies to the fixed-point student (--fixed-point or a converted "
                             f"student.h5), not to the float {ckpt.model_kind} in {ckpt.path}")
    if ckpt.mode == "float":
        tracker = ModelTracker(ckpt.model, crop, window_influence, device=device, name=name,
                               fingerprint=fingerprint, box_update=box_update)
        return tracker, {}
    from had_snn.conversion.quantize import QuantizedNetwork, template_kernel_for
    from had_snn.tracking.loihi import EmulatedStudent, EmulatedTracker

    student, facts = ckpt.model, {}
    cfg = student.config
    if seq is not None:
        kernel = template_kernel_for(student, template_spikes(seq, init_box(seq) if box is None else box, crop))
        facts["silent_template"] = not bool(kernel.abs().max() > 0)
    else:  # a silent (zero) template: base_network puts a stand-in there; every later template is re-quantised
        zeros = torch.zeros((crop.student_steps, 1, cfg.in_channels, cfg.template_px, cfg.template_px))
        kernel = template_kernel_for(student, zeros)
    if ckpt.mode == "fixed-point":
        qnet = base_network(student, ckpt.weight_percentile, kernel)
    else:  # the netx layers (verified against the source when opened); scales and reports of the same quantisation
        fresh = base_network(student, ckpt.weight_percentile, kernel)
        qnet = QuantizedNetwork(list(ckpt.netx_layers), fresh.scales, fresh.reports)
    if backend == "lava":
        from had_snn.hardware.lava_stream import LavaStream
        from had_snn.tracking.lava_tracker import LavaStreamStudent, LavaStreamTracker

        emulated = LavaStreamStudent(student, qnet, LavaStream(lava_timeout_s), ckpt.weight_percentile)
        tracker = LavaStreamTracker(emulated, crop, window_influence, name=name, fingerprint=fingerprint,
                                    box_update=box_update)
    else:
        emulated = EmulatedStudent(student, qnet, ckpt.weight_percentile, device=device, mode=loihi_mode or "reset")
        tracker = EmulatedTracker(emulated, crop, window_influence, device=device, name=name,
                                  fingerprint=fingerprint, box_update=box_update)
    facts.update(loihi_mode=emulated.mode, crop_lag_frames=tracker.crop_lag_frames,
                 billed_steps_per_frame=emulated.billed_steps(crop.student_steps), chip_backend=backend)
    return tracker, facts


@dataclass
class TrackResult:
    boxes: np.ndarray  # (N, 4) x, y, w, h px, one per output time
    seconds: float  # wall time of initialize + every update
    scores: np.ndarray  # (N,) the penalised peak score behind each box (NaN for the initial box)

    @property
    def fps(self) -> float:
        return len(self.boxes) / self.seconds if self.seconds > 0 else float("nan")


def track_online(tracker: ModelTracker, seq: Sequence, box: np.ndarray, progress: bool = True,
                 on_box: Callable[[int, np.ndarray], None] | None = None) -> TrackResult:
    """``initialize(seq, box)`` at output 0, then ``update(k)`` per output time ``k``, with a tqdm progress bar.

    ``on_box(k, box)`` (optional) sees every box as soon as it exists (e.g. to stream it out).
    """
    from tqdm import tqdm

    boxes, scores = np.empty((seq.num_frames, 4)), np.full(seq.num_frames, np.nan)
    start = time.perf_counter()
    boxes[0] = tracker.initialize(seq, box)
    if on_box is not None:
        on_box(0, boxes[0])
    for k in tqdm(range(1, seq.num_frames), desc=f"track {tracker.name}", unit="window", disable=not progress):
        boxes[k] = tracker.update(k)
        scores[k] = getattr(tracker, "last_score", np.nan)
        if on_box is not None:
            on_box(k, boxes[k])
    return TrackResult(boxes, time.perf_counter() - start, scores)
