"""``framesentry train visual``: fine-tune the face-crop deepfake detector on ../shared dfdc-faces."""

from __future__ import annotations

from pathlib import Path

import typer


def visual(
    epochs: int = typer.Option(4, min=1, help="Passes over the train split."),
    image_size: int = typer.Option(128, min=32, max=448, help="Model input size (crops are resized to it)."),
    batch_size: int = typer.Option(32, min=2, help="Training batch size."),
    lr: float = typer.Option(3e-4, min=0.0, help="Peak AdamW learning rate (warm-up then cosine)."),
    limit: int | None = typer.Option(None, min=4, help="Train on this many images only (smoke tests)."),
    out: Path | None = typer.Option(None, help="Output folder for weights + card [default: <work_dir>/visual_model]."),
    seed: int = typer.Option(1234, help="Seed for init, shuffling and augmentation."),
    threads: int = typer.Option(2, min=1, help="torch CPU threads."),
    no_pretrained: bool = typer.Option(False, "--no-pretrained", help="Start from random weights (ablation)."),
    init_from: Path | None = typer.Option(
        None, help="Start from these weights (an exported weights.pt or a best.pt) instead of ImageNet: fine-tune."
    ),
    warmup_steps: int = typer.Option(150, min=0, help="Linear LR warm-up steps before the cosine decay."),
    framing_p: float = typer.Option(
        0.0, min=0.0, max=1.0, help="Share of images given zoom-out/shift framing jitter (0 = base recipe)."
    ),
    sbi_share: float = typer.Option(
        0.0, min=0.0, max=1.0, help="Share of each batch made of self-blended-image pairs (real + blended)."
    ),
    sbi_pool: int = typer.Option(4000, min=2, help="Real train faces given 68 landmarks for self-blending."),
    redraw_share: float = typer.Option(
        0.0, min=0.0, max=1.0, help="Share of the --sbi-share fakes redrawn by an autoencoder trained on real faces."
    ),
    balance_sharpness: bool = typer.Option(
        False, "--balance-sharpness", help="Train on the DFDC subset where real and fake faces are equally sharp."
    ),
    max_steps: int | None = typer.Option(None, min=1, help="Stop after this many steps (LR schedule spans them)."),
    eval_every: int | None = typer.Option(None, min=1, help="Also checkpoint and score every this many steps."),
    select_by: str = typer.Option(
        "val", help="Keep the checkpoint with the best 'val' (DFDC val AUC) or 'crossdomain' (crossdomain-dev "
        "clip AUC on the crops cached by `framesentry eval --only crossdomain`; choice only, never trained on)."
    ),
    export_from: Path | None = typer.Option(
        None, help="Skip training: export this checkpoint (e.g. a stopped run's best.pt) with the same options."
    ),
) -> None:
    """Train (or export) the visual model; writes weights, calibration and model card into --out."""
    import os

    # On a shared CPU, OpenMP's default spin-waiting makes torch ~8x slower whenever another process holds a
    # core (measured here: 3 vs 24 img/s). Must be set before torch loads libgomp, hence here.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from framesentry.config import get_settings
    from framesentry.errors import DataError
    from framesentry.lab.visual.augment import AugmentConfig
    from framesentry.lab.visual.card import export_model
    from framesentry.lab.visual.train import TrainConfig, train_visual

    if select_by not in {"val", "crossdomain"}:
        raise typer.BadParameter("--select-by must be val or crossdomain")
    if redraw_share > 0 and sbi_share == 0:
        raise typer.BadParameter("--redraw-share needs --sbi-share > 0 (redrawn fakes are drawn from the SBI pool)")
    settings = get_settings()
    cfg = TrainConfig(
        out_dir=out or settings.work_dir / "visual_model",
        epochs=epochs,
        image_size=image_size,
        batch_size=batch_size,
        lr=lr,
        limit=limit,
        seed=seed,
        threads=threads,
        pretrained=not no_pretrained,
        warmup_steps=warmup_steps,
        init_from=init_from.resolve() if init_from else None,
        augment=AugmentConfig(framing_p=framing_p),
        sbi_share=sbi_share,
        sbi_pool=sbi_pool,
        redraw_share=redraw_share,
        balance_sharpness=balance_sharpness,
        max_steps=max_steps,
        eval_every=eval_every,
        select_by=select_by,
    )
    if export_from is not None:
        if not export_from.is_file():
            raise DataError(f"checkpoint not found: {export_from}", path=str(export_from))
        cfg.run_dir = export_from.parent
        card = export_model(export_from, cfg, settings)
    else:
        card = train_visual(cfg, settings).card
    test = card["metrics"]["test"]
    typer.echo(
        f"wrote {cfg.out_dir}: test AUC {test['auc']:.4f}, accuracy {test['accuracy']:.4f}, "
        f"ECE {test['ece_before']:.4f} -> {test['ece_after']:.4f} (T={card['calibration']['temperature']:.3f})"
    )
    files = "weights.pt, model_card.json, MODEL_CARD.md, calibration.json"
    typer.echo(f"to commit it, copy {files} to {settings.models_dir / 'visual'}")


if __name__ == "__main__":  # runnable before the full CLI exists: python -m framesentry.cli.train_visual
    typer.run(visual)
