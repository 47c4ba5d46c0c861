"""had_snn.hardware: Lava runner, Loihi core mapping, energy and latency (numpy, h5py and lava only; no torch)."""
