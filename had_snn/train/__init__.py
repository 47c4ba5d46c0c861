"""Training: the loop, YAML configs, atomic checkpoints, DDP, the pair sampler, tracking losses and the
distillation hook."""
