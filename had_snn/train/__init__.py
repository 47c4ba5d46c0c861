"""Training loops, checkpoints and distributed training."""
