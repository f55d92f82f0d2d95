"""Fine-tuning the visual detector on dfdc-faces: one reproducible function the CLI calls.

ImageNet MobileNetV2 is fine-tuned end to end on the train split with degradation augmentation. After every
epoch the model is scored on the val split and checkpointed, keeping the best by val AUC, so a run stopped
early still yields a usable model. ``export_model`` then writes weights, calibration (fit on val) and the
model card into the output folder; test numbers are computed once there and never used for any choice.
With ``init_from`` the run starts from an exported model's weights instead of ImageNet (a short, low-LR
fine-tune, e.g. to add framing-jitter augmentation without retraining from scratch).

With ``sbi_share > 0`` that share of every batch is self-blended-image pairs (``lab.visual.sbi``): real train
faces and the same faces blended with a transformed copy of themselves, labelled fake; the rest of the batch
is DFDC as before. With ``redraw_share > 0`` that share of those fakes is the face redrawn by an
autoencoder trained on the real faces (``lab.visual.redraw``), inside a landmark mask or over the whole
crop. With ``balance_sharpness`` the DFDC part is the subset where real and fake faces are equally sharp.
With ``select_by="crossdomain"`` checkpoints are also scored every ``eval_every`` steps on the cached
crossdomain-dev crops (``lab.visual.crossdomain``; choice only, never a training signal) and the
best by that clip AUC is kept as ``best.pt``; DFDC val AUC is logged beside it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from framesentry.config import Settings
from framesentry.inference.metrics import roc_auc
from framesentry.inference.visual.model import batched_logits, build_model, preprocess
from framesentry.lab.visual.augment import AugmentConfig, degrade_batch
from framesentry.lab.visual.dataset import (
    cached_pixels,
    load_images,
    read_labels,
    resize_uint8,
    sharpness_balanced,
    split_indices,
)
from framesentry.lab.visual.redraw import RedrawConfig
from framesentry.lab.visual.sbi import SBIConfig, SBIPool


@dataclass
class TrainConfig:
    """Everything that determines a run; saved verbatim next to the model."""

    out_dir: Path
    epochs: int = 4
    image_size: int = 128
    cache_size: int = 144
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 150
    dropout: float = 0.2
    seed: int = 1234
    limit: int | None = None
    threads: int = 2
    pretrained: bool = True
    eval_batch_size: int = 32
    log_every: int = 25
    run_dir: Path | None = None
    init_from: Path | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    sbi_share: float = 0.0  # share of each batch made of SBI pairs (half real, half self-blended)
    sbi_pool: int = 4000  # real train faces given landmarks for SBI
    sbi: SBIConfig = field(default_factory=SBIConfig)
    redraw_share: float = 0.0  # share of the SBI fakes made from autoencoder redrawings instead (lab.visual.redraw)
    redraw: RedrawConfig = field(default_factory=RedrawConfig)
    balance_sharpness: bool = False  # train on a DFDC subset where real and fake are equally sharp (dataset.py)
    max_steps: int | None = None  # stop after this many steps (the LR schedule spans them)
    eval_every: int | None = None  # also checkpoint/score every this many steps
    select_by: str = "val"  # "val" (DFDC val AUC) or "crossdomain" (crossdomain-dev clip AUC, choice only)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["out_dir"], d["run_dir"] = str(self.out_dir), str(self.run_dir) if self.run_dir else None
        d["init_from"] = str(self.init_from) if self.init_from else None
        return d


@dataclass
class TrainResult:
    """What the CLI prints: where the model went and how it scored."""

    out_dir: Path
    best_epoch: int
    best_val_auc: float
    epochs_run: int
    train_seconds: float
    card: dict[str, Any]


class _Log:
    """Print and append to ``train.log`` in the run folder (the nohup'd run is followed with tail)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        with self.path.open("a") as fh:
            fh.write(line + "\n")


def _pixels(settings: Settings, cfg: TrainConfig, samples: list[Any], indices: NDArray[np.int64]) -> NDArray[np.uint8]:
    """Training pixels at ``cache_size``: the shared on-disk cache, or a small in-memory one for --limit."""
    if cfg.limit is None:
        return np.asarray(cached_pixels(settings, cfg.cache_size, samples)[indices])
    return resize_uint8(load_images(settings, samples, indices), cfg.cache_size)


def _lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up then cosine decay to 2 % of the peak."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.lr * (0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))


def load_init_weights(model: torch.nn.Module, path: Path) -> None:
    """Load an exported ``weights.pt`` (plain state dict) or a training checkpoint (``state_dict`` key)."""
    from framesentry.errors import ModelError

    if not path.is_file():
        raise ModelError(f"--init-from weights not found: {path}", path=str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state)
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except (RuntimeError, OSError, ValueError, AttributeError) as exc:
        raise ModelError(f"cannot initialise from {path}: {exc}", path=str(path)) from exc


def _score(
    model: torch.nn.Module, cfg: TrainConfig, settings: Settings, x_va: NDArray[np.uint8], y_va: NDArray[np.int64]
) -> dict[str, float]:
    """DFDC val AUC, and with ``select_by="crossdomain"`` the crossdomain-dev clip AUC per manipulation."""
    rec = {"val_auc": roc_auc(batched_logits(model, x_va, cfg.image_size, cfg.eval_batch_size), y_va)}
    if cfg.select_by == "crossdomain":
        from framesentry.lab.visual.crossdomain import crossdomain_visual_auc

        report = crossdomain_visual_auc(
            lambda crops: batched_logits(model, crops, cfg.image_size, cfg.eval_batch_size), settings
        )
        rec["crossdomain_auc"] = float(report["auc"])
        if report["deepfacelive_blame"]["swap_side_blamed"] is not None:
            rec["crossdomain_swap_blamed"] = float(report["deepfacelive_blame"]["swap_side_blamed"])
        for family, fam in report["per_manipulation"].items():
            if fam.get("auc") is not None:
                rec[f"crossdomain_auc_{family}"] = float(fam["auc"])
    return rec


def _sbi_pool(
    settings: Settings,
    cfg: TrainConfig,
    samples: list[Any],
    tr_idx: NDArray[np.int64],
    x_tr: NDArray[np.uint8],
    y_tr: NDArray[np.float32],
    log: _Log,
) -> SBIPool:
    """The first ``sbi_pool`` real train faces (file order) with their 68 landmarks (cached), and with
    ``redraw_share`` their autoencoder redrawings (cached)."""
    from framesentry.lab.visual.redraw import redrawn_cache
    from framesentry.lab.visual.sbi import landmark_cache

    real_rows = np.flatnonzero(y_tr == 0)[: cfg.sbi_pool]
    pixels = np.asarray(x_tr[real_rows])
    t0 = time.time()
    marks = landmark_cache(settings, pixels, tr_idx[real_rows], cfg.cache_size)
    log(f"SBI pool: {len(real_rows)} real faces, landmarks in {time.time() - t0:.0f}s")
    if cfg.redraw_share <= 0:
        return SBIPool(pixels, marks, cfg.sbi)
    t0 = time.time()
    redrawn = redrawn_cache(settings, pixels, cfg.redraw, log)
    log(f"redrawn pool: {len(redrawn)} autoencoder reconstructions in {time.time() - t0:.0f}s")
    return SBIPool(pixels, marks, cfg.sbi, redrawn, cfg.redraw_share, cfg.redraw.whole_crop_p)


def _seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train_visual(cfg: TrainConfig, settings: Settings | None = None) -> TrainResult:
    """Fine-tune, checkpoint each epoch (best by val AUC), then export weights + calibration + card."""
    from framesentry.lab.visual.card import export_model

    settings = settings or Settings()
    torch.set_num_threads(cfg.threads)
    _seed_everything(cfg.seed)
    run_dir = cfg.run_dir or settings.work_dir / "visual_runs" / time.strftime("run-%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg.run_dir = run_dir
    log = _Log(run_dir / "train.log")
    (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))

    samples = read_labels(settings)
    tr_idx = split_indices(samples, "train", cfg.limit)
    va_idx = split_indices(samples, "val", None if cfg.limit is None else max(16, cfg.limit // 2))
    y_tr = np.array([samples[i].label for i in tr_idx], dtype=np.float32)
    y_va = np.array([samples[i].label for i in va_idx], dtype=np.int64)
    t0 = time.time()
    x_tr = _pixels(settings, cfg, samples, tr_idx)
    x_va = _pixels(settings, cfg, samples, va_idx)
    log(f"data: train {len(tr_idx)} val {len(va_idx)} pixels {x_tr.shape} loaded in {time.time() - t0:.1f}s")

    model = build_model(pretrained=cfg.pretrained and cfg.init_from is None, dropout=cfg.dropout)
    if cfg.init_from is not None:
        load_init_weights(model, cfg.init_from)
        log(f"initialised from {cfg.init_from}")
    pool = _sbi_pool(settings, cfg, samples, tr_idx, x_tr, y_tr, log) if cfg.sbi_share > 0 else None
    n_sbi = round(cfg.batch_size * cfg.sbi_share / 2) if pool is not None else 0
    n_dfdc = cfg.batch_size - 2 * n_sbi
    rows = np.arange(len(tr_idx))
    if cfg.balance_sharpness:
        rows = sharpness_balanced(np.asarray(x_tr), y_tr, cfg.seed)
        log(f"sharpness-balanced DFDC: {len(rows)} of {len(tr_idx)} train faces kept")
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    steps_per_epoch = math.ceil(len(rows) / n_dfdc)
    total_steps = min(steps_per_epoch * cfg.epochs, cfg.max_steps or 1 << 62)
    history: list[dict[str, float]] = []
    best = {"score": -1.0, "step": 0}
    step = 0
    t_start = time.time()

    def checkpoint(epoch: int) -> None:
        rec = _score(model, cfg, settings, x_va, y_va)
        rec.update(epoch=epoch, step=step, elapsed_seconds=time.time() - t_start)
        history.append(rec)
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        torch.save({"epoch": epoch, "step": step, "state_dict": state, **rec}, run_dir / "last.pt")
        score = rec["crossdomain_auc"] if cfg.select_by == "crossdomain" else rec["val_auc"]
        if score > best["score"]:
            best.update(score=score, step=step, epoch=epoch)
            torch.save({"epoch": epoch, "step": step, "state_dict": state, **rec}, run_dir / "best.pt")
        (run_dir / "history.json").write_text(json.dumps(history, indent=2))
        extra = f" crossdomain AUC {rec['crossdomain_auc']:.4f}" if "crossdomain_auc" in rec else ""
        if "crossdomain_swap_blamed" in rec:
            extra += f", swap blamed in {rec['crossdomain_swap_blamed']:.0%} of DeepFaceLive clips"
        log(f"step {step}: val AUC {rec['val_auc']:.4f}{extra} (best {best['score']:.4f} @ step {best['step']})")
        model.train()

    for epoch in range(1, cfg.epochs + 1):
        rng = np.random.default_rng([cfg.seed, epoch])  # per-epoch stream: same run, same batches
        order = rows[rng.permutation(len(rows))]
        model.train()
        t_ep, seen, loss_sum = time.time(), 0, 0.0
        for b in range(steps_per_epoch):
            if step >= total_steps:
                break
            sel = np.sort(order[b * n_dfdc : (b + 1) * n_dfdc])
            images, labels = np.asarray(x_tr[sel]), y_tr[sel]
            if pool is not None:
                reals, fakes = pool.draw(n_sbi, rng)
                images = np.concatenate([images, reals, fakes])
                labels = np.concatenate([labels, np.zeros(n_sbi, np.float32), np.ones(n_sbi, np.float32)])
            x = preprocess(degrade_batch(images, rng, cfg.augment), cfg.image_size)
            y = torch.from_numpy(labels)
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, total_steps, cfg)
            loss = loss_fn(model(x).reshape(-1), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            seen += len(labels)
            loss_sum += float(loss.detach()) * len(labels)
            if (b + 1) % cfg.log_every == 0:
                rate = seen / (time.time() - t_ep)
                log(f"epoch {epoch} step {b + 1}/{steps_per_epoch} loss {loss_sum / seen:.4f} {rate:.1f} img/s")
            if cfg.eval_every and step % cfg.eval_every == 0:
                checkpoint(epoch)
        if not (cfg.eval_every and step % cfg.eval_every == 0):
            checkpoint(epoch)
        log(f"epoch {epoch} done: loss {loss_sum / max(1, seen):.4f} in {time.time() - t_ep:.0f}s")
        if step >= total_steps:
            break
    best_epoch, best_auc = int(best.get("epoch", 0)), float(best["score"])
    train_seconds = time.time() - t_start
    card = export_model(run_dir / "best.pt", cfg, settings, history=history, train_seconds=train_seconds, log=log)
    return TrainResult(cfg.out_dir, best_epoch, best_auc, len(history), train_seconds, card)
