"""``framesentry train audio``: build the spoof corpus, train the audio detector, write weights + card.

The default recipe (v3) needs the corpus v3 generators of the ``[train]`` extra."""

from __future__ import annotations

from pathlib import Path

import typer


def audio(
    recipe: str = typer.Option("v3", help="v3: frozen Whisper + v2 CNN features, logistic back end, corpus v3 "
                               "(the shipped recipe); v2: train the spectral CNN (and fusion) from scratch."),
    epochs: int = typer.Option(12, min=1, help="Passes over the train split for the shipped model."),
    holdout_epochs: int = typer.Option(12, min=0, help="Epochs per held-out-generator run (0 = skip them)."),
    aasist: str = typer.Option("auto", help="Fuse pretrained AASIST: auto (if it helps on val), always, never."),
    tiny: bool = typer.Option(False, "--tiny", help="Small corpus and no AASIST (smoke test, ~1 min)."),
    augment: bool = typer.Option(True, help="v3: add the augmented (codec/reverb/noise) copies of train clips."),
    features: str = typer.Option("cnn,res_log_kurt,res_log_crest,whisper",
                                 help="v3: back-end inputs, comma-separated; 'whisper' alone = the frozen Whisper "
                                 "block only (its front end saw no spoof)."),
    out: Path | None = typer.Option(None, help="Output folder [default: <work_dir>/audio_model]."),
    seed: int = typer.Option(0, help="Seed for synthesis, augmentation and training."),
    threads: int = typer.Option(2, min=1, help="torch CPU threads."),
) -> None:
    """Train the audio spoof detector; copy the output folder to framesentry/assets/audio to ship it."""
    import torch

    from framesentry.config import get_settings
    from framesentry.errors import ConfigError
    from framesentry.lab.audio.train import train_audio

    if recipe not in ("v2", "v3"):
        raise ConfigError(f"--recipe must be v2 or v3, not {recipe!r}")
    if aasist not in ("auto", "always", "never"):
        raise ConfigError(f"--aasist must be auto, always or never, not {aasist!r}")
    torch.set_num_threads(threads)
    settings = get_settings()
    out_dir = out or settings.work_dir / "audio_model"
    if recipe == "v3":
        from framesentry.lab.audio.train_v3 import train_v3

        feats = [f.strip() for f in features.split(",") if f.strip()]
        known = {"cnn", "res_log_kurt", "res_log_crest", "whisper"}
        if "whisper" not in feats or not set(feats) <= known:
            raise ConfigError(f"--features must include whisper and use only {sorted(known)}, not {features!r}")
        m3 = train_v3(settings, out_dir, tiny=tiny, augment=augment, log=typer.echo, features=feats)
        typer.echo(f"done: clean pooled test EER {m3['test']['clean']['pooled']['eer']:.2%}, LOGO pooled "
                   f"{m3['logo']['pooled_eer']:.2%}; artefacts in {out_dir}")
        return
    metrics = train_audio(settings, out_dir, epochs=epochs, holdout_epochs=holdout_epochs, tiny=tiny,
                          use_aasist=aasist, seed=seed, log=typer.echo)
    pooled = metrics["test_clean"]["pooled"]["eer"]
    typer.echo(f"done: pooled test EER {pooled:.2%}; artefacts in {out_dir}")
