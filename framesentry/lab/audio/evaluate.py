"""Audio detector evaluation: EER per spoof generator, pooled EER, calibration, on the test speakers.

``evaluate_audio(settings)`` scores the committed detector on the test split of the project's corpus
(rebuilt deterministically under ``work_dir`` if missing), on clean windows and on codec-degraded copies.
Held-out-generator EERs need retraining, so they are reported from the model card written by the training
run that produced the committed weights (``held_out_from_training``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from framesentry.config import Settings
from framesentry.inference.metrics import equal_error_rate, expected_calibration_error, roc_auc
from framesentry.lab.audio.dataset import Clip, Corpus


def generator_report(scores: NDArray[np.float64], clips: Sequence[Clip]) -> dict[str, Any]:
    """EER/AUC of bona fide vs each spoof generator, and pooled over all spoofs (higher score = fake)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray([c.label for c in clips])
    gens = np.asarray([c.generator for c in clips])
    real = gens == "bonafide"
    out: dict[str, Any] = {"per_generator": {}}
    for g in sorted(str(v) for v in set(gens) - {"bonafide"}):
        m = real | (gens == g)
        eer, _ = equal_error_rate(s[m], y[m])
        out["per_generator"][g] = {"eer": eer, "auc": roc_auc(s[m], y[m]), "n_spoof": int((gens == g).sum())}
    eer, thr = equal_error_rate(s, y)
    out["pooled"] = {"eer": eer, "auc": roc_auc(s, y), "threshold": thr, "n_bonafide": int(real.sum()),
                     "n_spoof": int((~real).sum())}
    return out


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -60, 60))), dtype=np.float64)


def calibration_report(
    logits: NDArray[np.float64],
    p_cal: NDArray[np.float64],
    y: NDArray[np.int64],
    cnn_raw: NDArray[np.float64] | None = None,
) -> dict[str, float]:
    """ECE before calibration (plain sigmoid of the fused logit, and of the raw CNN logit, which is
    trained with a class-balancing weight) and after (the calibrated p_fake)."""
    out = {
        "ece_before": expected_calibration_error(_sigmoid(logits), y),
        "ece_after": expected_calibration_error(p_cal, y),
        "accuracy_at_0.5": float(np.mean((p_cal >= 0.5) == (y == 1))),
    }
    if cnn_raw is not None:
        out["ece_before_raw_cnn"] = expected_calibration_error(_sigmoid(cnn_raw), y)
    return out


def evaluate_audio(settings: Settings | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Evaluate the committed audio detector on the test split; returns a JSON-ready dict.

    A v3 detector (Whisper back end) is measured on corpus v3 with ``evaluate_v3``; an older one on the
    corpus of its recipe with ``evaluate_v2``.
    """
    from framesentry.inference.audio.detector import AudioDetector

    settings = settings or Settings()
    det = AudioDetector.load(settings)
    if det.fusion.get("use_whisper"):
        return evaluate_v3(det, settings, log)
    return evaluate_v2(det, settings, log)


def evaluate_v3(det: Any, settings: Settings, log: Callable[[str], None] = print) -> dict[str, Any]:
    """In-domain EERs (clean, codec), false alarms on real test windows after codec round trips at the Fake
    threshold, ECE after calibration, and the leave-one-generator-out table (``logo``: the back end refitted
    without each generator with the shipped features and C; ``logo_frozen_only``: Whisper features alone)."""
    from framesentry.lab.audio.backend import FEATURES, FROZEN_ONLY, FeatureCache, FrontEnd, logo_table
    from framesentry.lab.audio.train_v3 import load_features, test_report

    corpus = Corpus(Corpus.default_root(settings.work_dir))
    if not corpus.clips:
        log("building audio corpus v3 (about an hour on two shared cores)")
        corpus.build(settings.shared_dir, log=log)
    front = FrontEnd(det)
    cfg = det.fusion
    d = load_features(corpus, front, log, bool(cfg.get("train_augmented", True)))
    result: dict[str, Any] = {"model_version": det.version, "corpus": "v3", "n_test": len(d["test"])}
    result.update(test_report(cfg, det.calibrator, d, settings))
    train = ([*d["train"], *d["train_aug"]], np.concatenate([d["clean_train"], d["aug_train"]]))
    real = [c.label == 0 for c in d["test"]]
    test = ([c for c in d["test"] if c.label == 0], d["clean_test"][real])
    pool = corpus.select()
    pool_pair = (pool, FeatureCache(corpus, "clean", front).get(pool, log=log))
    c = float(cfg["C"])
    result["logo"] = logo_table(train, test, pool_pair, list(cfg.get("features", FEATURES)), c, log)
    result["logo_frozen_only"] = logo_table(train, test, pool_pair, FROZEN_ONLY, c, log)
    log(f"  clean pooled EER {result['clean']['pooled']['eer']:.3%}, LOGO pooled {result['logo']['pooled_eer']:.3%}")
    return json.loads(json.dumps(result, default=float))


def evaluate_v2(det: Any, settings: Settings, log: Callable[[str], None] = print) -> dict[str, Any]:
    """The v2 recipe (spectral CNN + residual fusion, optional AASIST) on the test split of the corpus."""
    from framesentry.lab.audio.features import aasist_scores, ensure_codec_copies, to_float, window_matrix

    corpus = Corpus(Corpus.default_root(settings.work_dir))
    if not corpus.clips:
        log("building the audio corpus (one-off)")
        corpus.build(settings.shared_dir, log=log)
    test = corpus.select("test")
    ensure_codec_copies(corpus, test, log=log)
    y = np.asarray([c.label for c in test], dtype=np.int64)
    result: dict[str, Any] = {"model_version": det.version, "n_test": len(test)}
    for kind in ("clean", "codec"):
        x = to_float(window_matrix(corpus, test, kind))
        from framesentry.inference.audio.detector import cnn_logits
        from framesentry.inference.audio.residual import residual_peakiness

        t0 = time.perf_counter()
        cnn = cnn_logits(det.cnn, x)
        cnn_ms = (time.perf_counter() - t0) / len(x) * 1000
        aasist = None
        if det.aasist is not None:  # pretrained AASIST scores are cached per weights digest
            variant = str(det.fusion.get("aasist_variant", "AASIST"))
            aasist = aasist_scores(corpus, test, settings.shared_dir, kind, variant, log=log)
        z = det.fuse(cnn, residual_peakiness(x), aasist)
        p = det.calibrator(z)
        rep = generator_report(z, test)
        rep["calibration"] = calibration_report(z, p, y, cnn)
        rep["cnn_only"] = generator_report(cnn, test)["pooled"]
        rep["cnn_ms_per_window_batched"] = cnn_ms
        result[kind] = rep
        log(f"  {kind}: pooled EER {rep['pooled']['eer']:.3%}, ECE {rep['calibration']['ece_after']:.3f}")
    result["held_out_from_training"] = det.card.get("metrics", {}).get("held_out", {})
    return json.loads(json.dumps(result))
