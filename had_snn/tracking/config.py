"""Crop and input-encoding defaults shared by the sampler, the tracker loop and the models."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class CropConfig:
    """Template / search crop geometry and event encoding (SiamFC / OSTrack style square crops).

    The template is a ``template_context * sqrt(w * h)`` px square around the box resized to ``template_px``; the
    search region is ``search_context * sqrt(w * h)`` resized to ``search_px``; pixels outside the image are zero.
    Events come from the window of ``window_frames`` frame intervals ending at the frame time, binned into
    ``student_steps`` binary spike steps (student) and a ``voxel_bins`` voxel grid (teacher). ``graded_spikes``
    gives the student each step's event count per pixel and polarity instead (graded spikes, as Loihi 2 carries;
    the float student only: the fixed-point path and Loihi 1 take binary spikes). Heads predict on a
    ``search_px / heatmap_stride`` square grid (16 x 16 by default).
    """

    template_px: int = 64
    search_px: int = 128
    template_context: float = 2.0
    search_context: float = 4.0
    student_steps: int = 8
    voxel_bins: int = 5
    window_frames: float = 1.0
    heatmap_stride: int = 8
    graded_spikes: bool = False

    def __post_init__(self) -> None:
        for name in ("template_px", "search_px", "student_steps", "voxel_bins", "heatmap_stride"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"CropConfig.{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("template_context", "search_context", "window_frames"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"CropConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if self.search_px % self.heatmap_stride:
            raise ValueError(f"CropConfig.search_px={self.search_px} is not a multiple of heatmap_stride")

    @property
    def heatmap_px(self) -> int:
        """Side of the head's output grid in cells."""
        return self.search_px // self.heatmap_stride

    def as_dict(self) -> dict:
        return asdict(self)
