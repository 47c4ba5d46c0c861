"""HAD losses: temporal (GRU) alignment, spatial (entropic OT) alignment, response distillation."""
