"""The bounds and defaults of the synthetic benchmark, in one table that both the generator and the ``had-snn synth``
options read (plain Python: the CLI imports it without numpy, so ``--help`` stays instant)."""

from __future__ import annotations

#: Sane bounds, checked before anything is allocated (a 100000 px sensor or a 1 MHz render rate is a typo).
SYNTH_MIN_SENSOR_PX, SYNTH_MAX_SENSOR_PX = 16, 4096
MAX_DURATION_S = 600.0
MIN_RENDER_HZ, MAX_RENDER_HZ = 1000.0, 100_000.0
MAX_SEQUENCES = 100_000
MAX_WORKERS = 256
#: Default number of sequences of ``had-snn synth``: 120/40/40 with the default fractions 0.6/0.2/0.2, so the test
#: split resolves a few SR points.
DEFAULT_NUM_SEQUENCES = 200
#: Scene attribute tags. Events win on the first six (frames blur, go dark, saturate, lose the target behind an
#: occluder or among look-alikes, or see the whole background move); frames win on the last three: ``pause`` (the
#: target stands still for a large part of the sequence and emits no events), ``color_distractor`` (a copy of the
#: target that differs only in hue, at equal luma, crosses it) and ``textureless`` (a flat target on a textured
#: background: events only at its moving edges).
ATTRIBUTES = ("fast_motion", "low_light", "hdr", "occlusion", "distractor", "camera_motion", "pause",
              "color_distractor", "textureless")
