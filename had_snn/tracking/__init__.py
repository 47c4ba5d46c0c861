"""Running a tracker: crops and spike windows, heat-map decoding, the initialize/update tracker and its Loihi
(emulated fixed-point) variant."""
