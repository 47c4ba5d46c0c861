"""Training: the loop, YAML configs, DDP, the pair sampler, tracking losses and the distillation hook (checkpoints
are written and read by :mod:`had_snn.models.checkpoint`)."""
