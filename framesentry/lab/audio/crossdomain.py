"""Audio detector on ``shared/data/crossdomain-dev``: neural voice clones and their speakers' real voices.

Why: the project's own corpus is made with the project's own generators, so its EER says little about
voices cloned elsewhere. crossdomain-dev's 33 audio clips (Tortoise, Tacotron2, NaturalSpeech and the real
reference recordings, all re-encoded to MP3 alike) are scored exactly as an upload's audio is: the runtime
``score_audio`` (PyAV decode, overlapping windows, Silero VAD gate, calibrated detector), and a clip's score
is the upload's audio p_fake (mean over speech windows). Evaluation only: nothing here trains or chooses on
these clips inside training.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from framesentry.config import Settings
from framesentry.errors import DataError
from framesentry.inference.metrics import equal_error_rate, roc_auc


def crossdomain_root(settings: Settings) -> Path:
    return settings.shared_dir / "data" / "crossdomain-dev"


def audio_rows(root: Path) -> list[dict[str, str]]:
    """The audio rows of ``labels.csv`` (``file``, ``label``, ``manipulation``, ...)."""
    labels = root / "labels.csv"
    if not labels.is_file():
        raise DataError(f"crossdomain-dev labels missing: {labels}; see shared/README.md")
    with labels.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["modality"] == "audio"]
    if not rows:
        raise DataError(f"no audio rows in {labels}")
    return rows


def score_clip(path: Path, detectors: Any) -> dict[str, Any]:
    """One clip through the upload path's audio scoring: per-window p_fake and the clip's audio p_fake."""
    from framesentry.inference.batching import BatchedScorer
    from framesentry.inference.evidence import Evidence, Horizon
    from framesentry.inference.pipeline import score_audio
    from framesentry.media import probe

    info = probe(path, detectors.settings)
    evidence = Evidence(Horizon.whole_file())
    with BatchedScorer(detectors) as scorer:
        score_audio(path, info.duration_s or 0.0, scorer, evidence, lambda _s, _f: None)
    observations = list(evidence.windows)
    return {
        "p_fake": evidence.judge().audio_p,
        "windows_scored": len(observations),
        "windows_skipped": evidence.windows_skipped,
        "window_p_fake": [round(o.p_fake, 4) for o in observations],
    }


def _summary(scores: list[float], labels: list[int]) -> dict[str, Any]:
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    out: dict[str, Any] = {"n_fake": int(y.sum()), "n_real": int((1 - y).sum())}
    if len(set(labels)) == 2:
        eer, thr = equal_error_rate(s, y)
        out.update(auc=roc_auc(s, y), eer=eer, eer_threshold=thr)
    fake, real = s[y == 1], s[y == 0]
    if fake.size:
        out["median_p_fake_fake"] = float(np.median(fake))
        out["caught_at_0.5"] = int((fake >= 0.5).sum())
    if real.size:
        out["median_p_fake_real"] = float(np.median(real))
        out["false_alarms_at_0.5"] = int((real >= 0.5).sum())
    return out


def evaluate_crossdomain_audio(
    settings: Settings, detectors: Any | None = None, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """``crossdomain.audio``: AUC/EER over all clips, per manipulation (its fakes vs all real clips), per clip.

    A clip whose audio has no window with enough speech has no score; it is listed and left out of the
    metrics (``n_unscored``), not counted as real.
    """
    from framesentry.inference.detectors import Detectors

    root = crossdomain_root(settings)
    rows = audio_rows(root)
    detectors = detectors or Detectors(settings)
    clips: list[dict[str, Any]] = []
    for r in rows:
        path = root / r["file"]
        if not path.is_file():
            raise DataError(f"crossdomain-dev clip missing: {path}")
        res = score_clip(path, detectors)
        clips.append({"file": r["file"], "label": r["label"], "manipulation": r["manipulation"], **res})
        log(f"  {r['file']} {r['manipulation']}: p_fake {res['p_fake']}")
    scored = [c for c in clips if c["p_fake"] is not None]
    labels = [int(c["label"] == "fake") for c in scored]
    scores = [float(c["p_fake"]) for c in scored]
    out: dict[str, Any] = {"model_version": detectors.audio.version, **_summary(scores, labels),
                           "n_unscored": len(clips) - len(scored), "per_manipulation": {}}
    real = [c for c in scored if c["label"] == "real"]
    for m in sorted({c["manipulation"] for c in scored if c["label"] == "fake"}):
        fakes = [c for c in scored if c["manipulation"] == m]
        sub = fakes + real
        out["per_manipulation"][m] = _summary([float(c["p_fake"]) for c in sub],
                                              [int(c["label"] == "fake") for c in sub])
    out["per_clip"] = clips
    return out
