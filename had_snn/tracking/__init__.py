"""Running a tracker: crops and spike windows, heat-map decoding, the initialize/update tracker, its Loihi
(emulated fixed-point) variant, any recording as a sequence of output times, the online runner behind
``had-snn track`` and its video."""
