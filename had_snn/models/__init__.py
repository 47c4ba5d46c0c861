"""The ANN teacher (RGB + events) and the spiking event-only student."""
