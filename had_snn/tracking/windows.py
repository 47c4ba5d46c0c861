"""Cut a sequence's spike windows as the tracker cuts them: the template around the first ground-truth box, each
search window around the ground-truth box of its frame.

These are the real inputs of the Loihi side: the correlation kernel is quantised from the template
(``had-snn convert``, the demo's convert step, the emulated tracker) and the search windows drive Lava or the
emulator (``had-snn windows``, ``had-snn deploy``, the demo's Lava check).
"""

from __future__ import annotations

from collections.abc import Sequence as IntSequence

import numpy as np

from had_snn.data.sequence import Sequence
from had_snn.tracking.config import CropConfig
from had_snn.tracking.crop import crop_inputs
from had_snn.tracking.tracker import init_box


def spike_windows(seq: Sequence, crop: CropConfig, frames: IntSequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Template spikes (T, 1, C, Pt, Pt) of frame 0 and search spikes (T, len(frames), C, Ps, Ps), time first.

    Raises ValueError naming the sequence when a frame index is out of range or a frame has no ground-truth box.
    """
    frames = [int(k) for k in frames]
    bad = [k for k in frames if not 0 <= k < seq.num_frames]
    if bad:
        raise ValueError(f"frames {bad}: sequence {seq.name!r} has frames 0..{seq.num_frames - 1}")
    no_box = [k for k in frames if not np.all(np.isfinite(seq.boxes[k]))]
    if no_box:
        raise ValueError(f"sequence {seq.name!r}: frames {no_box} have no ground-truth box (target absent)")
    template = crop_inputs(seq, 0, init_box(seq), crop.template_context, crop.template_px, crop)["spikes"][:, None]
    search = [crop_inputs(seq, k, seq.boxes[k].astype(np.float64), crop.search_context, crop.search_px, crop)["spikes"]
              for k in frames]
    if not search:
        t, _, c = template.shape[:3]
        return template, np.zeros((t, 0, c, crop.search_px, crop.search_px), dtype=template.dtype)
    return template, np.stack(search, axis=1)
