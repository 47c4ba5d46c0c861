"""Distillation losses: HAD (temporal GRU fold, spatial entropic OT, response), and the KD baselines it must beat.

Modules: ``config`` (DistillConfig, the ``distill:`` YAML section; no torch), ``temporal`` (fold over T),
``spatial`` (batched log-domain Sinkhorn, OT and resize+MSE feature losses), ``response`` (heat-map KL / focal MSE),
``had_loss`` (HADLoss over stages, modes ``had`` and ``vanilla_kd``; teacher_distill_hook), ``hdetrack``
(HDETrackLoss, mode ``hdetrack``: feature MSE + token-similarity matrices + focal response), ``authors``
(AuthorsHADLoss, mode ``had_authors``: the authors' released objective = HDETrack terms + frozen token GRUs L_TA +
Sinkhorn on softened response maps L_OT), ``balance`` (TermCombiner: every loss's terms, weights, balancing,
warm-up). Equations and keys: docs/distillation.md.
"""
