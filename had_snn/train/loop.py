"""The training loop shared by teachers and students: DDP-aware, resumable, with per-epoch metrics and checkpoints.

Outputs in ``out_dir``: ``config.yaml`` (resolved config), ``metrics.csv`` / ``metrics.json`` (one row per epoch),
``last.pt`` (checkpoint after every epoch, written atomically) and, when ``val_sequences`` are given, ``best.pt``
(the model of the epoch with the highest validation success rate ``val_sr``, written atomically).

Nothing is written before the run is known to start (config parsed, data and model built, checkpoint restored):
a run that fails to start leaves the folder as it was. A fresh run (``resume=False``) first removes the folder's
old run files (:data:`RUN_FILES`). After each epoch the order is: ``last.pt`` (it holds the whole metrics history
and the best-epoch record), then ``best.pt`` when ``val_sr`` improved, then the metrics files. A kill at any point
therefore leaves a checkpoint that is never behind the metrics; ``resume=True`` rewrites the metrics from the
checkpoint's history (dropping rows beyond its epoch) and rewrites ``best.pt`` from the checkpoint when the kill fell
between the two checkpoint writes. ``resume=True`` restores model, optimiser, schedule, extra modules, step counter,
RNG and best-epoch record from ``last.pt`` and continues with the next epoch; training pairs depend only on
(seed, epoch, index), so a resumed run sees the same data as an uninterrupted one. A resume is refused when the
config differs from the checkpoint's in anything but ``epochs``, ``data.dir``, ``data.num_workers`` and the teacher
path (:func:`resume_differences`) or when it validates on other sequences.

Validation: after every epoch rank 0 tracks each of ``val_sequences`` one pass (OTB protocol,
:class:`~had_snn.tracking.tracker.ModelTracker` with the training crop) and logs their success rate (AUC, a
fraction in [0, 1]) as ``val_sr`` (and the seconds it took as ``val_seconds``; ``seconds`` is training only).

Initialisation: ``cfg.init_from`` (an absolute path once :func:`resolve_init` ran) loads a trained checkpoint's
weights into a fresh run (not on resume: ``last.pt`` holds the weights then); the architecture must match. This is
how quantisation-aware fine-tuning (``model_config.qat``, ``had-snn train student --qat --init CKPT``) starts; with
QAT every epoch row also logs ``qat/weight_rel_error`` and ``qat/bias_rel_error`` (mean over the chip layers of
``|quantised - float| / |float|`` of the folded weights and voltage biases at the epoch's end).

BatchNorm: with ``cfg.bn_freeze_epoch`` = k > 0, epochs k, k + 1, ... train with every BN layer frozen to its running
statistics (:func:`freeze_batch_norm`); before that BN uses batch statistics as usual.

Activity regularisation: a non-empty ``cfg.activity`` section adds :class:`~had_snn.train.activity.ActivityPenalty`
to the loss (a penalty on the search path's spikes weighted by each layer's fan-out, or per-layer firing-rate
targets) and logs per spiking layer ``activity/LAYER/rate``, ``activity/LAYER/synops`` (estimated synaptic ops per
frame) and ``activity/LAYER/penalty`` each epoch.

Distillation plugs in through ``extra_loss(out, batch) -> (loss, terms)`` (added to the tracking loss) and
``extra_modules`` (trained with the model, saved in the checkpoint, gradients averaged across ranks). The extra
modules' parameters form their own optimiser parameter group with learning rate ``lr x distill.adapter_lr_scale``
(the schedule scales both groups; checkpoints written with one group resume). When the extra modules hold a
:class:`~had_snn.distill.balance.TermCombiner`, the steps chosen by ``distill.diagnostics_every`` (0: each epoch's
first batch) also log ``diag/grad/track`` (gradient norm of the tracking loss over the student's parameters),
``diag/grad/<term>`` (each distillation term's gradient norm relative to it), ``diag/cos/<term>`` (cosine with the
tracking gradient) and the loss's own diagnostics (``extra/ot_entropy/<stage>``, ``extra/ot_distance/<stage>``);
see :mod:`had_snn.distill.diagnostics`. An epoch row holds the mean of each value over the steps that logged it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from had_snn.data.sequence import Sequence as TrackSequence
from had_snn.distill.diagnostics import find_combiner, gradient_diagnostics, is_diagnostic_step
from had_snn.models import build_model
from had_snn.models.checkpoint import load_checkpoint, model_state, save_checkpoint, weight_misfit
from had_snn.tracking.config import CropConfig
from had_snn.train import distributed
from had_snn.train.activity import build_activity
from had_snn.train.clips import ClipDataset, collate_clips
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
BEST_NAME = "best.pt"
CONFIG_NAME = "config.yaml"
METRICS_NAMES = ("metrics.json", "metrics.csv")
# Every file a run writes: a fresh run removes them first, so no stale file of an earlier run survives beside it.
RUN_FILES = (CHECKPOINT_NAME, BEST_NAME, CONFIG_NAME, *METRICS_NAMES)
# Config fields a resumed run may change: they do not change what the run computes (epochs only extends it).
RESUME_MAY_CHANGE = ("epochs", "data.dir", "data.num_workers", "distill.teacher", "init_from")


def resolve_init(cfg: TrainConfig, where: str | os.PathLike = "config", init: str | os.PathLike | None = None) -> None:
    """Resolve ``cfg.init_from`` (relative to the config file's folder) or ``init`` (``--init``, relative to the
    current folder) to an absolute path written back into ``cfg``, and check that it loads into ``cfg``'s model.

    Raises FileNotFoundError / ValueError naming ``init_from`` or ``--init``, the path and what was expected.
    """
    if init is not None:
        cfg.init_from, origin, base = str(init), f"--init {init}", Path.cwd()
    elif cfg.init_from:
        config_file = Path(where)
        origin = f"{where}: init_from {cfg.init_from!r}"
        base = config_file.parent if config_file.is_file() else Path.cwd()
    else:
        return
    path = Path(os.path.expanduser(cfg.init_from))
    resolved = Path(os.path.abspath(path if path.is_absolute() else base / path))
    if not resolved.is_file():
        state = "is a folder" if resolved.is_dir() else "does not exist"
        raise FileNotFoundError(f"{origin}: {resolved} {state}; expected a checkpoint written by `had-snn train "
                                f"{cfg.model}` (e.g. runs/{cfg.model}/best.pt)")
    cfg.init_from = str(resolved)
    load_init(build_model(cfg.model, **cfg.model_config), resolved, origin)


def load_init(model: nn.Module, path: str | os.PathLike, origin: str = "init_from") -> None:
    """Load the weights of checkpoint ``path`` into ``model`` (same kind and architecture, else ValueError)."""
    from had_snn.models.checkpoint import CheckpointError

    try:
        state = load_checkpoint(path)
    except CheckpointError as exc:
        raise CheckpointError(f"{origin}: {exc}") from None
    if state["kind"] != model.kind:
        raise ValueError(f"{origin}: {path} holds a {state['kind']!r} model but this run trains {model.kind!r}")
    misfit = weight_misfit(model, state["model"])
    if misfit:
        raise ValueError(f"{origin}: {path} has another architecture than model_config: {misfit} tensor(s); the "
                         "widths, convs_per_stage and head_channels must match")
    model.load_state_dict(state["model"])


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Linear warm-up then cosine decay to 5 % of the base learning rate."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def freeze_batch_norm(model: nn.Module) -> None:
    """Every BatchNorm layer of ``model`` to its running statistics (eval mode) for the rest of the epoch: it
    normalises with them and stops updating them; its affine scale and shift keep training."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def write_metrics(out_dir: Path, history: list[dict]) -> None:
    """Write ``metrics.json`` and ``metrics.csv`` (one row per epoch) atomically."""
    write_text_atomic(out_dir / "metrics.json", json.dumps(history, indent=1))
    columns = list(dict.fromkeys(k for row in history for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(history)
    write_text_atomic(out_dir / "metrics.csv", buf.getvalue())


def _flatten(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):  # an empty mapping adds no field: ``distill: {}`` equals no distill section
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def resume_differences(saved: dict, cfg: TrainConfig) -> list[str]:
    """Dotted names of the config fields in which ``cfg`` differs from a checkpoint's ``train_config`` ``saved``,
    ignoring :data:`RESUME_MAY_CHANGE`. Lists and tuples compare equal element by element."""
    a, b = _flatten(json.loads(json.dumps(saved))), _flatten(json.loads(json.dumps(cfg.to_dict())))
    return sorted(k for k in set(a) | set(b) if k not in RESUME_MAY_CHANGE and a.get(k) != b.get(k))


def validate(model: nn.Module, sequences: Sequence[TrackSequence], crop: CropConfig,
             device: torch.device | str = "cpu", progress: bool = False) -> float:
    """Success rate (AUC, fraction in [0, 1]) of ``model`` tracking each sequence one pass from its first GT box."""
    from had_snn.evaluation.metrics import score_sequence, summarize
    from had_snn.tracking.tracker import ModelTracker

    tracker = ModelTracker(model, crop, device=device, name="val")
    scores = [score_sequence(tracker.track(s), s.boxes, frame_size=s.sensor_size)
              for s in tqdm(sequences, desc="val", unit="seq", disable=not progress, leave=False)]
    return summarize(scores).auc


def _to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _upgrade_single_group(state: dict, optimizer, n_model_params: int) -> tuple[dict, dict]:
    """Optimiser and scheduler states of a checkpoint written with one parameter group (student and adapters
    together, before the adapters had their own group), split into this optimiser's two groups: the student's
    parameters first, then the adapters' at ``lr x adapter_lr_scale``. Other states are returned unchanged."""
    opt, sched = state["optimizer"], state["scheduler"]
    if len(opt["param_groups"]) != 1 or len(optimizer.param_groups) != 2:
        return opt, sched
    (old,) = opt["param_groups"]
    scale = optimizer.param_groups[1]["lr"] / optimizer.param_groups[0]["lr"]
    ids = list(old["params"])
    adapters = {**old, "params": ids[n_model_params:]}
    for key in ("lr", "initial_lr"):
        if key in adapters:
            adapters[key] = adapters[key] * scale
    opt = {**opt, "param_groups": [{**old, "params": ids[:n_model_params]}, adapters]}
    sched = dict(sched)
    for key in ("base_lrs", "_last_lr"):
        if isinstance(sched.get(key), list) and len(sched[key]) == 1:
            sched[key] = [sched[key][0], sched[key][0] * scale]
    if isinstance(sched.get("lr_lambdas"), list) and len(sched["lr_lambdas"]) == 1:
        sched["lr_lambdas"] = sched["lr_lambdas"] * 2
    return opt, sched


def _restore(path: Path, cfg: TrainConfig, model: nn.Module, optimizer, scheduler, extra: Sequence[nn.Module]):
    state = load_checkpoint(path, map_location="cpu")
    if state["kind"] != model.kind:
        raise ValueError(f"{path}: checkpoint holds a {state['kind']!r} model but the config trains {model.kind!r}")
    if "train_config" not in state or "optimizer" not in state:
        raise ValueError(f"{path}: not a training checkpoint (no optimiser state); cannot resume from it")
    differ = resume_differences(state["train_config"], cfg)
    if differ:
        raise ValueError(f"{path}: the config differs from the checkpoint's run in {', '.join(differ)}; resume with "
                         f"the run's config ({path.parent / CONFIG_NAME}) or start over without resuming")
    if len(state.get("extra_modules", [])) != len(extra):
        raise ValueError(f"{path}: checkpoint has {len(state.get('extra_modules', []))} extra modules, "
                         f"this run {len(extra)}")
    model.load_state_dict(state["model"])
    n_model = len(optimizer.param_groups[0]["params"])
    opt_state, sched_state = _upgrade_single_group(state, optimizer, n_model)
    optimizer.load_state_dict(opt_state)
    scheduler.load_state_dict(sched_state)
    for module, sd in zip(extra, state.get("extra_modules", []), strict=True):
        module.load_state_dict(sd)
    torch.set_rng_state(state["rng"])
    return state


def _repair_best(out_dir: Path, state: dict, model: nn.Module, cfg: TrainConfig) -> None:
    """After a resume: make ``best.pt`` hold the epoch the checkpoint's best record names (a kill may have fallen
    between writing ``last.pt`` and ``best.pt``)."""
    best = state.get("best")
    if not best:
        return
    path = out_dir / BEST_NAME
    try:
        held = load_checkpoint(path).get("epoch") if path.is_file() else None
    except ValueError:  # unreadable: treated as missing
        held = None
    if held == best["epoch"]:
        return
    if best["epoch"] == state["epoch"]:
        _save_best(path, model, best, state.get("val_names", []), cfg)
    else:
        print(f"warning: {path} should hold epoch {best['epoch']} (val_sr {best['val_sr']:.4f}) but holds "
              f"{held if held is not None else 'nothing'}; it is rewritten when val_sr next improves",
              file=sys.stderr)


def _save_best(path: Path, model: nn.Module, best: dict, val_names: list[str], cfg: TrainConfig) -> None:
    save_checkpoint(path, {**model_state(model), "epoch": best["epoch"], "step": best["step"],
                           "val_sr": best["val_sr"], "val_names": list(val_names), "train_config": cfg.to_dict()})


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
    val_sequences: Sequence[TrackSequence] | None = None,
) -> TrainRun:
    """Train ``cfg.model`` on pairs from ``sequences``; returns the metrics history and the trained model.

    ``val_sequences`` (optional): tracked after every epoch on rank 0; their success rate is logged as ``val_sr``
    and ``best.pt`` keeps the best epoch. Under ``torchrun`` every rank calls this; rank 0 writes the outputs.
    Resuming a run that already reached ``cfg.epochs`` writes nothing and returns its history.
    """
    out_dir = Path(out_dir)
    ctx = distributed.setup(device)
    try:
        return _train(cfg, out_dir, sequences, ctx, resume, extra_loss, list(extra_modules), progress,
                      list(val_sequences or []))
    finally:
        distributed.cleanup(ctx)


def _start_outputs(out_dir: Path, cfg: TrainConfig, resume: bool, state: dict | None, model: nn.Module,
                   history: list[dict]) -> None:
    """Rank 0, once the run is known to start: clear a fresh run's folder, write the config, resync the metrics."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        for name in RUN_FILES:
            (out_dir / name).unlink(missing_ok=True)
    save_config(cfg, out_dir / CONFIG_NAME)
    if state is not None:
        _resync(out_dir, state, model, cfg, history)


def _resync(out_dir: Path, state: dict, model: nn.Module, cfg: TrainConfig, history: list[dict]) -> None:
    """After a resume: make the metrics files and ``best.pt`` agree with the checkpoint (rows beyond its epoch are
    dropped, missing rows restored); files that already agree are left untouched."""
    try:
        current = json.loads((out_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        current = None
    if current != history or not (out_dir / "metrics.csv").is_file():
        write_metrics(out_dir, history)
    _repair_best(out_dir, state, model, cfg)


def _train(cfg, out_dir, sequences, ctx, resume, extra_loss, extra_modules, progress, val_sequences) -> TrainRun:
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, **cfg.model_config)
    if cfg.init_from and not resume:
        load_init(model, cfg.init_from)
    activity = build_activity(cfg.activity, model)
    d = cfg.data
    if d.clip_frames > 1:
        if cfg.model != "student" or extra_loss is not None:
            raise ValueError(f"data.clip_frames = {d.clip_frames} (stream training) needs the spiking student and the "
                             f"tracking loss alone; got model {cfg.model!r}"
                             + (" with distillation" if extra_loss is not None else ""))
        dataset = ClipDataset(sequences, d.clip_frames, d.crop_config(), d.samples_per_epoch, d.max_gap,
                              d.center_jitter, d.scale_jitter, seed=cfg.seed)
        collate = collate_clips
    else:
        dataset = PairDataset(sequences, d.crop_config(), d.samples_per_epoch, d.max_gap, d.center_jitter,
                              d.scale_jitter, seed=cfg.seed)
        collate = collate_pairs
    sampler = DistributedSampler(dataset, ctx.world_size, ctx.rank, shuffle=False) if ctx.enabled else None
    loader = DataLoader(dataset, cfg.batch_size, sampler=sampler, drop_last=True, collate_fn=collate,
                        num_workers=d.num_workers, pin_memory=ctx.device.type == "cuda")
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise ValueError(f"data.samples_per_epoch={cfg.data.samples_per_epoch} is smaller than batch_size="
                         f"{cfg.batch_size} x {ctx.world_size} process(es): no full batch per epoch")
    combiner = find_combiner(extra_modules)
    diagnostics_every = combiner.diagnostics_every if combiner is not None else 0
    adapter_lr_scale = combiner.adapter_lr_scale if combiner is not None else 1.0
    extra_params = [p for m in extra_modules for p in m.parameters() if p.requires_grad]
    model_params = [p for p in model.parameters() if p.requires_grad]
    params = model_params + extra_params
    groups = [{"params": model_params}]
    if extra_params:  # the distillation adapters: their own group, lr x distill.adapter_lr_scale
        groups.append({"params": extra_params, "lr": cfg.lr * adapter_lr_scale})
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    total_steps = cfg.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, cfg.warmup_steps, total_steps))
    start_epoch, step, history, best, state = 0, 0, [], None, None
    val_names = [s.name for s in val_sequences]
    ckpt_path = out_dir / CHECKPOINT_NAME
    if resume:
        state = _restore(ckpt_path, cfg, model, optimizer, scheduler, extra_modules)
        start_epoch, step, history, best = state["epoch"], state["step"], list(state["history"]), state.get("best")
        saved_names = state.get("val_names")
        if saved_names is not None and saved_names != val_names:
            raise ValueError(f"{ckpt_path}: the run validated on {len(saved_names)} sequence(s) {saved_names} but "
                             f"this resume on {len(val_names)} {val_names}; resume with the same val sequences "
                             f"(e.g. the same --val-sequences)")
        if start_epoch >= cfg.epochs:  # nothing left to train: only bring the outputs in line with last.pt
            if ctx.is_main:
                _resync(out_dir, state, model, cfg, history)
            return TrainRun(history, model)
    if ctx.is_main:
        _start_outputs(out_dir, cfg, resume, state, model, history)
    saved_at = (start_epoch, step) if resume else None
    model.to(ctx.device)
    for m in extra_modules:
        m.to(ctx.device)
    for group in optimizer.state.values():  # optimiser state restored on CPU follows its parameters
        for k, v in group.items():
            if torch.is_tensor(v) and k != "step":
                group[k] = v.to(ctx.device)
    net = distributed.wrap(model, ctx)
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, cfg.epochs):
            dataset.set_epoch(epoch)
            if sampler is not None:
                sampler.set_epoch(epoch)
            net.train()
            if cfg.bn_freeze_epoch and epoch + 1 >= cfg.bn_freeze_epoch:
                freeze_batch_norm(model)
            for m in extra_modules:
                m.train()
            sums: dict[str, float] = {}
            counts: dict[str, int] = {}
            t0 = time.perf_counter()
            bar = tqdm(loader, desc=f"{cfg.model} epoch {epoch + 1}/{cfg.epochs}",
                       disable=not (progress and ctx.is_main), leave=False)
            for step_in_epoch, batch in enumerate(bar):
                batch = _to_device(batch, ctx.device)
                diagnose = combiner is not None and is_diagnostic_step(step, step_in_epoch, diagnostics_every)
                if combiner is not None:
                    combiner.diagnose = diagnose
                out = net(batch)
                loss, logs = tracking_loss(out, batch, cfg.loss_weights or None)
                track_loss = loss
                if activity is not None:
                    penalty, activity_logs = activity(out)
                    loss = loss + penalty
                    logs.update(activity_logs)
                if extra_loss is not None:
                    extra, extra_logs = extra_loss(out, batch)
                    loss = loss + extra
                    logs.update({f"extra/{k}": v for k, v in extra_logs.items()})
                if not torch.isfinite(loss):
                    raise ValueError(f"loss became {float(loss)} at step {step} (epoch {epoch + 1}); lower lr "
                                     f"(now {cfg.lr}) or check the data")
                if diagnose:
                    combiner.diagnose = False
                    logs.update(gradient_diagnostics(track_loss, combiner.last_terms, model_params))
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
                    counts[k] = counts.get(k, 0) + 1
                bar.set_postfix(loss=f"{logs['loss']:.3f}", iou=f"{logs['iou']:.2f}")
            row = distributed.average_scalars({k: v / counts[k] for k, v in sums.items()}, ctx)
            row = {"epoch": epoch + 1, "step": step, "lr": scheduler.get_last_lr()[0],
                   "seconds": round(time.perf_counter() - t0, 2), **row}
            if len(optimizer.param_groups) > 1 and adapter_lr_scale != 1.0:
                row["lr_adapters"] = scheduler.get_last_lr()[1]
            if getattr(getattr(model, "config", None), "qat", False):
                row.update(model.qat_errors())
            improved = False
            if val_sequences and ctx.is_main:
                t_val = time.perf_counter()
                row["val_sr"] = validate(model, val_sequences, cfg.data.crop_config(), ctx.device, progress)
                row["val_seconds"] = round(time.perf_counter() - t_val, 2)
                improved = best is None or row["val_sr"] > best["val_sr"]
                if improved:
                    best = {"epoch": epoch + 1, "step": step, "val_sr": row["val_sr"]}
            history.append(row)
            if ctx.is_main:
                save_checkpoint(ckpt_path, {
                    **model_state(model), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "extra_modules": [m.state_dict() for m in extra_modules], "epoch": epoch + 1, "step": step,
                    "history": history, "train_config": cfg.to_dict(), "rng": torch.get_rng_state(),
                    "best": best, "val_names": val_names,
                })
                saved_at = (epoch + 1, step)
                if improved:
                    _save_best(out_dir / BEST_NAME, model, best, val_names, cfg)
                write_metrics(out_dir, history)
                if progress:
                    val = f" val SR {100 * row['val_sr']:.1f}%" if "val_sr" in row else ""
                    mark = " (best)" if improved else ""
                    tqdm.write(f"epoch {epoch + 1}/{cfg.epochs} step {step}: loss {row['loss']:.4f} "
                               f"iou {row['iou']:.3f}{val}{mark} ({row['seconds']:.1f} s)")
    except KeyboardInterrupt:
        if ctx.is_main:
            where = (f"the last checkpoint {ckpt_path} holds epoch {saved_at[0]} (step {saved_at[1]})" if saved_at
                     else "no checkpoint was written yet")
            print(f"\n{cfg.model}: stopped in epoch {epoch + 1}/{cfg.epochs} at step {step}; {where}",
                  file=sys.stderr)
        raise
    return TrainRun(history, model)
