"""The training loop shared by teachers and students: DDP-aware, resumable, with per-epoch metrics and checkpoints.

Outputs in ``out_dir``: ``config.yaml`` (resolved config), ``metrics.csv`` / ``metrics.json`` (one row per epoch),
``last.pt`` (checkpoint after every epoch, written atomically). ``resume=True`` restores model, optimiser,
schedule, extra modules, step counter and RNG from ``last.pt`` and continues with the next epoch; training pairs
depend only on (seed, epoch, index), so a resumed run sees the same data as an uninterrupted one.

Distillation plugs in through ``extra_loss(out, batch) -> (loss, terms)`` (added to the tracking loss) and
``extra_modules`` (trained with the model, saved in the checkpoint, gradients averaged across ranks).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from had_snn.data.sequence import Sequence as TrackSequence
from had_snn.models import build_model
from had_snn.train import distributed
from had_snn.train.checkpoint import load_checkpoint, model_state, save_checkpoint
from had_snn.train.config import TrainConfig, save_config
from had_snn.train.losses import tracking_loss
from had_snn.train.sampler import PairDataset, collate_pairs
from had_snn.util.atomic import write_text_atomic


@dataclass
class TrainRun:
    """What :func:`train` returns: the per-epoch metrics and this process's trained model (unwrapped from DDP)."""

    history: list[dict]
    model: nn.Module


ExtraLoss = Callable[[dict, dict], tuple[torch.Tensor, dict[str, float]]]
CHECKPOINT_NAME = "last.pt"


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Linear warm-up then cosine decay to 5 % of the base learning rate."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def write_metrics(out_dir: Path, history: list[dict]) -> None:
    """Write ``metrics.json`` and ``metrics.csv`` (one row per epoch) atomically."""
    write_text_atomic(out_dir / "metrics.json", json.dumps(history, indent=1))
    columns = list(dict.fromkeys(k for row in history for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(history)
    write_text_atomic(out_dir / "metrics.csv", buf.getvalue())


def _to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _restore(path: Path, cfg: TrainConfig, model: nn.Module, optimizer, scheduler, extra: Sequence[nn.Module]):
    state = load_checkpoint(path, map_location="cpu")
    if state["kind"] != model.kind:
        raise ValueError(f"{path}: checkpoint holds a {state['kind']!r} model but the config trains {model.kind!r}")
    if state.get("train_config", {}).get("model_config") != cfg.to_dict()["model_config"]:
        raise ValueError(f"{path}: model_config differs from the checkpoint's; resume with the same config")
    if len(state.get("extra_modules", [])) != len(extra):
        raise ValueError(f"{path}: checkpoint has {len(state.get('extra_modules', []))} extra modules, "
                         f"this run {len(extra)}")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    for module, sd in zip(extra, state.get("extra_modules", []), strict=True):
        module.load_state_dict(sd)
    torch.set_rng_state(state["rng"])
    return state["epoch"], state["step"], list(state["history"])


def train(
    cfg: TrainConfig,
    out_dir: str | os.PathLike,
    sequences: Sequence[TrackSequence],
    *,
    resume: bool = False,
    device: str | None = None,
    extra_loss: ExtraLoss | None = None,
    extra_modules: Sequence[nn.Module] = (),
    progress: bool = True,
) -> TrainRun:
    """Train ``cfg.model`` on pairs from ``sequences``; returns the metrics history and the trained model.

    Under ``torchrun`` every rank calls this; rank 0 writes the outputs.
    """
    out_dir = Path(out_dir)
    ctx = distributed.setup(device)
    try:
        return _train(cfg, out_dir, sequences, ctx, resume, extra_loss, list(extra_modules), progress)
    finally:
        distributed.cleanup(ctx)


def _train(cfg, out_dir, sequences, ctx, resume, extra_loss, extra_modules, progress) -> TrainRun:
    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out_dir / "config.yaml")
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, **cfg.model_config)
    dataset = PairDataset(sequences, cfg.data.crop_config(), cfg.data.samples_per_epoch, cfg.data.max_gap,
                          cfg.data.center_jitter, cfg.data.scale_jitter, seed=cfg.seed)
    sampler = DistributedSampler(dataset, ctx.world_size, ctx.rank, shuffle=False) if ctx.enabled else None
    loader = DataLoader(dataset, cfg.batch_size, sampler=sampler, drop_last=True, collate_fn=collate_pairs,
                        num_workers=cfg.data.num_workers, pin_memory=ctx.device.type == "cuda")
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise ValueError(f"data.samples_per_epoch={cfg.data.samples_per_epoch} is smaller than batch_size="
                         f"{cfg.batch_size} x {ctx.world_size} process(es): no full batch per epoch")
    extra_params = [p for m in extra_modules for p in m.parameters() if p.requires_grad]
    params = [p for p in model.parameters() if p.requires_grad] + extra_params
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    total_steps = cfg.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, cfg.warmup_steps, total_steps))
    start_epoch, step, history = 0, 0, []
    ckpt_path = out_dir / CHECKPOINT_NAME
    if resume:
        start_epoch, step, history = _restore(ckpt_path, cfg, model, optimizer, scheduler, extra_modules)
    model.to(ctx.device)
    for m in extra_modules:
        m.to(ctx.device)
    for group in optimizer.state.values():  # optimiser state restored on CPU follows its parameters
        for k, v in group.items():
            if torch.is_tensor(v) and k != "step":
                group[k] = v.to(ctx.device)
    net = distributed.wrap(model, ctx)
    for epoch in range(start_epoch, cfg.epochs):
        dataset.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        net.train()
        for m in extra_modules:
            m.train()
        sums: dict[str, float] = {}
        t0 = time.perf_counter()
        bar = tqdm(loader, desc=f"{cfg.model} epoch {epoch + 1}/{cfg.epochs}", disable=not (progress and ctx.is_main),
                   leave=False)
        for batch in bar:
            batch = _to_device(batch, ctx.device)
            out = net(batch)
            loss, logs = tracking_loss(out, batch, cfg.loss_weights or None)
            if extra_loss is not None:
                extra, extra_logs = extra_loss(out, batch)
                loss = loss + extra
                logs.update({f"extra/{k}": v for k, v in extra_logs.items()})
            if not torch.isfinite(loss):
                raise ValueError(f"loss became {float(loss)} at step {step} (epoch {epoch + 1}); lower lr "
                                 f"(now {cfg.lr}) or check the data")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            distributed.average_gradients(extra_params, ctx)
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            step += 1
            logs["loss"] = float(loss.detach())
            for name, rate in out.get("firing_rates", {}).items():
                if not name.startswith("template/"):
                    logs[f"rate/{name}"] = float(rate.detach())
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.set_postfix(loss=f"{logs['loss']:.3f}", iou=f"{logs['iou']:.2f}")
        row = distributed.average_scalars({k: v / steps_per_epoch for k, v in sums.items()}, ctx)
        row = {"epoch": epoch + 1, "step": step, "lr": scheduler.get_last_lr()[0],
               "seconds": round(time.perf_counter() - t0, 2), **row}
        history.append(row)
        if ctx.is_main:
            write_metrics(out_dir, history)
            save_checkpoint(ckpt_path, {
                **model_state(model), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "extra_modules": [m.state_dict() for m in extra_modules], "epoch": epoch + 1, "step": step,
                "history": history, "train_config": cfg.to_dict(), "rng": torch.get_rng_state(),
            })
            if progress:
                tqdm.write(f"epoch {epoch + 1}/{cfg.epochs} step {step}: loss {row['loss']:.4f} "
                           f"iou {row['iou']:.3f} ({row['seconds']:.1f} s)")
    return TrainRun(history, model)
