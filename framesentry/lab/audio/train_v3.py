"""``framesentry train audio`` (v3): corpus v3 -> cached frozen features -> logistic back end -> calibration,
with the leave-one-generator-out table, codec false alarms and calibration measured on the test speakers.

The spectral CNN is not retrained: the shipped v2 weights are a frozen front end (its logit is one feature),
so its file, sha256 and engine export stay the same. What is new is the Whisper block and the back end.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from framesentry.config import Settings
from framesentry.inference.metrics import equal_error_rate, expected_calibration_error
from framesentry.lab.audio.backend import (
    FEATURES,
    FROZEN_ONLY,
    FeatureCache,
    FrontEnd,
    Log,
    aug_uses_codec,
    choose_c,
    fit,
    has_aug,
    labels,
    logo_table,
    score,
)
from framesentry.lab.audio.dataset import Clip, Corpus


def load_features(corpus: Corpus, front: FrontEnd, log: Log, augment: bool = True) -> dict[str, Any]:
    """Clips per split and their feature matrices per audio version (see ``backend``); ``augment=False``
    leaves out the augmented train copies."""
    from framesentry.lab.audio.features import ensure_codec_copies

    need = [c for c in corpus.clips if c.split in ("val", "test") or (augment and has_aug(c) and aug_uses_codec(c))]
    ensure_codec_copies(corpus, need, log=log)
    caches = {k: FeatureCache(corpus, k, front) for k in ("clean", "codec", "aug")}
    d: dict[str, Any] = {sp: corpus.select(sp) for sp in ("train", "val", "test")}
    for kind, splits in (("clean", ("test", "val", "train")), ("codec", ("test", "val"))):
        for sp in splits:
            d[f"{kind}_{sp}"] = caches[kind].get(d[sp], log=log)
    d["train_aug"] = [c for c in d["train"] if augment and has_aug(c)]
    d["aug_train"] = caches["aug"].get(d["train_aug"], log=log)
    return d


def false_alarms(p: NDArray[np.float64], clips: Sequence[Clip], threshold: float) -> dict[str, float]:
    real = np.asarray([c.label == 0 for c in clips])
    return {"rate": float(np.mean(p[real] >= threshold)), "n_windows": int(real.sum()), "threshold": threshold}


def test_report(cfg: dict[str, Any], cal: Any, d: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """In-domain EERs (clean, codec), codec false alarms at the Fake threshold, ECE after calibration."""
    from framesentry.lab.audio.evaluate import generator_report

    out: dict[str, Any] = {}
    p_all, y_all = [], []
    for kind in ("clean", "codec"):
        z = score(cfg, d[f"{kind}_test"])
        p = cal(z)
        rep = generator_report(z, d["test"])
        rep["false_alarms_at_fake_threshold"] = false_alarms(p, d["test"], settings.fake_threshold)
        rep["ece_after"] = expected_calibration_error(p, labels(d["test"]))
        out[kind] = rep
        p_all.append(p)
        y_all.append(labels(d["test"]))
    out["ece_after_clean_and_codec"] = expected_calibration_error(np.concatenate(p_all), np.concatenate(y_all))
    return out


def train_v3(
    settings: Settings, out_dir: Path, tiny: bool = False, augment: bool = True, log: Log = print,
    features: Sequence[str] = FEATURES,
) -> dict[str, Any]:
    """Fit, calibrate and measure the v3 detector; write its artefacts to ``out_dir``. ``tiny``: three source
    files and one utterance per TTS generator (a smoke test of the whole recipe, about a minute).
    ``features``: the back end's inputs (``FEATURES``; ``["whisper"]`` = the frozen Whisper block alone, whose
    front end saw no spoof)."""
    from framesentry.inference.audio.detector import WEIGHTS_NAME, AudioDetector
    from framesentry.inference.calibration import fit_temperature
    from framesentry.lab.audio.card import write_v3_artifacts

    corpus = Corpus(Corpus.default_root(settings.work_dir, "tiny" if tiny else "full"))
    if tiny:
        corpus.build(settings.shared_dir, n_tts=1, max_segments=1, max_files=3, log=log)
    elif not corpus.clips:
        log("building corpus v3 (about an hour on two shared cores)")
        corpus.build(settings.shared_dir, log=log)
    shipped = AudioDetector.load(settings)
    front = FrontEnd(shipped)
    d = load_features(corpus, front, log, augment)
    xtr = np.concatenate([d["clean_train"], d["aug_train"]])
    ytr = np.concatenate([labels(d["train"]), labels(d["train_aug"])])
    xva = np.concatenate([d["clean_val"], d["codec_val"]])
    yva = np.concatenate([labels(d["val"])] * 2)
    feats = list(features)
    c, c_eers = choose_c(xtr, ytr, xva, yva, feats, log)
    cfg = fit(xtr, ytr, feats, c)
    cfg["whisper_compute_type"] = front.whisper.compute_type
    cfg["train_augmented"] = augment
    cal = fit_temperature(score(cfg, xva), yva, fit_bias=True)
    metrics: dict[str, Any] = {"C_grid_val_eer": c_eers, "C": c}
    metrics["test"] = test_report(cfg, cal, d, settings)
    metrics["val_eer"] = equal_error_rate(score(cfg, xva), yva)[0]
    train_pair = ([*d["train"], *d["train_aug"]], xtr)
    pool = corpus.select()
    pool_x = FeatureCache(corpus, "clean", front).get(pool, log=log)
    test_real = [cl for cl in d["test"] if cl.label == 0]
    test_x = d["clean_test"][[cl.label == 0 for cl in d["test"]]]
    metrics["logo"] = logo_table(train_pair, (test_real, test_x), (pool, pool_x), feats, c, log)
    metrics["logo_frozen_only"] = logo_table(train_pair, (test_real, test_x), (pool, pool_x), FROZEN_ONLY, c, log)
    metrics["speed"] = measure_speed(shipped, front)
    metrics["corpus"] = corpus.summary()
    out_dir.mkdir(parents=True, exist_ok=True)
    src = settings.models_dir / "audio" / WEIGHTS_NAME
    if src.resolve() != (out_dir / WEIGHTS_NAME).resolve():
        shutil.copyfile(src, out_dir / WEIGHTS_NAME)
    write_v3_artifacts(out_dir, shipped.card, cfg, cal, metrics, settings)
    log(f"wrote {out_dir}")
    return metrics


def measure_speed(detector: Any, front: FrontEnd, n: int = 5) -> dict[str, float]:
    """Milliseconds per 4 s window at batch 1 on this CPU: VAD, CNN, residual, Whisper (median of ``n``)."""
    from framesentry.inference.audio.residual import residual_peakiness
    from framesentry.inference.audio.vad import VoiceActivity

    x = (np.random.default_rng(0).standard_normal((1, 64600)) * 0.1).astype(np.float32)
    vad = VoiceActivity()
    parts = {"vad": lambda: vad.speech_fraction(x[0]), "cnn": lambda: front.cnn_logits(x),
             "residual": lambda: residual_peakiness(x), "whisper": lambda: front.whisper(x)}
    out: dict[str, float] = {}
    for name, fn in parts.items():
        fn()
        times = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
        out[f"{name}_ms"] = float(np.median(times))
    out["total_ms_per_window"] = float(sum(out.values()))
    return out
