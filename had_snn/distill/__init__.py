"""HAD losses: temporal (GRU) alignment, spatial (entropic OT) alignment, response distillation.

Modules: ``config`` (DistillConfig, the ``distill:`` YAML section; no torch), ``temporal`` (fold over T),
``spatial`` (batched log-domain Sinkhorn, OT and resize+MSE feature losses), ``response`` (heat-map KL / focal MSE),
``had_loss`` (HADLoss over stages, teacher_distill_hook). Equations and keys: docs/distillation.md.
"""
