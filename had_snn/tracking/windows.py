"""Cut a sequence's spike windows as the tracker cuts them: the template around the first ground-truth box, each
search window around the ground-truth box of its frame.

These are the real inputs of the Loihi side: the correlation kernel is quantised from the template
(``had-snn convert``, the demo's convert step, the emulated tracker) and the search windows drive Lava or the
emulator (``had-snn windows``, ``had-snn deploy``, the demo's Lava check).
"""

from __future__ import annotations

from collections.abc import Sequence as IntSequence

import numpy as np

from had_snn.data.sequence import Sequence, valid_box_mask
from had_snn.tracking.config import CropConfig
from had_snn.tracking.crop import crop_inputs


def spike_windows(seq: Sequence, crop: CropConfig, frames: IntSequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Template spikes (T, 1, C, Pt, Pt) of frame 0 and search spikes (T, len(frames), C, Ps, Ps), time first.

    Every box used must be a valid target on the sensor (:func:`had_snn.data.sequence.valid_box_mask`): frame 0's
    for the template and each requested frame's. Raises ValueError naming the sequence and the frame(s) when a frame
    index is out of range or a required box is absent (NaN) or invalid.
    """
    frames = [int(k) for k in frames]
    bad = [k for k in frames if not 0 <= k < seq.num_frames]
    if bad:
        raise ValueError(f"frames {bad}: sequence {seq.name!r} has frames 0..{seq.num_frames - 1}")
    if seq.num_frames == 0:
        raise ValueError(f"sequence {seq.name!r} has no frames: no ground-truth box to cut the template around")
    valid = valid_box_mask(seq.boxes, seq.sensor_size)
    if not valid[0]:
        raise ValueError(f"sequence {seq.name!r}: frame 0 has no valid ground-truth box ({_box_text(seq.boxes[0])}), "
                         f"so there is no template to cut (the template is cut around frame 0's box)")
    no_box = [k for k in frames if not valid[k]]
    if no_box:
        raise ValueError(f"sequence {seq.name!r}: frames {no_box} have no valid ground-truth box (target absent or "
                         f"box invalid, e.g. frame {no_box[0]}: {_box_text(seq.boxes[no_box[0]])}); choose frames "
                         f"with a box")
    template = crop_inputs(seq, 0, seq.boxes[0].astype(np.float64), crop.template_context, crop.template_px,
                           crop)["spikes"][:, None]
    search = [crop_inputs(seq, k, seq.boxes[k].astype(np.float64), crop.search_context, crop.search_px, crop)["spikes"]
              for k in frames]
    if not search:
        t, _, c = template.shape[:3]
        return template, np.zeros((t, 0, c, crop.search_px, crop.search_px), dtype=template.dtype)
    return template, np.stack(search, axis=1)


def _box_text(box: np.ndarray) -> str:
    """What a box row holds, for error messages: absent (NaN; readers set invalid boxes absent) or its values."""
    if np.isnan(box).all():
        return "target absent or an invalid box read as absent"
    return "x, y, w, h = " + ", ".join(f"{float(v):g}" for v in box) + " px"
