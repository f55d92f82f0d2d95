"""Audio detector v3: frozen front ends (Whisper tiny.en encoder, the v2 spectral CNN's logit, LPC-residual
peakiness) and a logistic-regression back end, trained and measured on corpus v3.

Why this shape: with every front end frozen, training is one regularised linear fit on cached features,
so the leave-one-generator-out table (train without G, test on G) is eight refits of seconds each instead of
eight network trainings, which two shared CPU cores cannot afford. The Whisper encoder never saw any spoof,
so it cannot have memorised a generator; the v2 CNN saw espeak, flite, Griffin-Lim and LPC, so LOGO rows for
those four are also reported with the Whisper-only back end (``frozen_only``), whose front end saw none.

Feature caches (``features-<kind>-<key>.npz`` in the corpus folder) hold, per clip, the CNN logit, the two
residual statistics and the 768 pooled Whisper features of one audio version (``kind``):
- ``clean``: the cached window;
- ``codec``: one MP3/AAC/Opus round trip (``features.ensure_codec_copies``);
- ``aug``: for half of the train clips (``has_aug``), the clean window or (half of those) its codec copy,
  plus reverberation, band limit, noise and gain (``augment.channel_copy``), the same random recipe for both
  classes.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from framesentry.inference.metrics import equal_error_rate
from framesentry.lab.audio.dataset import WINDOW, Clip, Corpus
from framesentry.lab.audio.spoofgen import GENERATORS

Log = Callable[[str], None]
C_GRID = (0.003, 0.01, 0.03, 0.1)
FEATURES = ["cnn", "res_log_kurt", "res_log_crest", "whisper"]
FROZEN_ONLY = ["whisper"]


def _aug_rng(clip: Clip, seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha1(f"aug:{clip.id}".encode()).hexdigest()[:8], 16) ^ seed)


def has_aug(clip: Clip) -> bool:
    """Whether a train clip gets an augmented copy (half of them, by a hash of the id: the CPU budget here)."""
    return int(hashlib.sha1(f"has-aug:{clip.id}".encode()).hexdigest()[:8], 16) % 2 == 0


def aug_uses_codec(clip: Clip, seed: int = 0) -> bool:
    """Whether a clip's augmented copy starts from its codec round trip (half of them: a codec copy costs
    ~0.2 s of CPU, the budget here does not allow one for every train clip)."""
    return bool(_aug_rng(clip, seed).random() < 0.5)


def windows_of(corpus: Corpus, clips: Sequence[Clip], kind: str, seed: int = 0) -> NDArray[np.float32]:
    """``[N, 64600]`` float windows of one audio version (``clean``, ``codec`` or ``aug``)."""
    from framesentry.lab.audio.augment import channel_copy
    from framesentry.lab.audio.features import to_float, window_matrix

    if kind in ("clean", "codec"):
        return to_float(window_matrix(corpus, clips, kind))
    out = np.empty((len(clips), WINDOW), dtype=np.float32)
    for i, c in enumerate(clips):
        rng = _aug_rng(c, seed)
        source = "codec" if rng.random() < 0.5 else "clean"
        out[i] = channel_copy(to_float(window_matrix(corpus, [c], source))[0], rng)
    return out


class FrontEnd:
    """The frozen front ends of a detector: its spectral CNN (through its engine) and the Whisper encoder."""

    def __init__(self, detector: Any) -> None:
        from framesentry.inference.audio.whisper import WhisperFeatures

        self.detector = detector
        self.whisper = detector.whisper or WhisperFeatures()
        self.key = f"{detector.card['weights_sha256'][:8]}-{self.whisper.compute_type}"

    def cnn_logits(self, x: NDArray[np.float32]) -> NDArray[np.float64]:
        return np.asarray(self.detector.cnn_logits(x), dtype=np.float64)


class FeatureCache:
    """Per-clip front-end features of one audio version, computed once and kept in ``.npz`` files.

    ``shard=(i, n)``: compute only the clips whose id hashes to ``i`` mod ``n`` and keep them in a file of
    their own, so ``n`` processes can fill the cache at once; every cache reads all files of its kind."""

    def __init__(self, corpus: Corpus, kind: str, front: FrontEnd, shard: tuple[int, int] = (0, 1)) -> None:
        self.corpus, self.kind, self.det, self.shard = corpus, kind, front, shard
        stem = f"features-{kind}-{front.key}"
        self.path = corpus.root / (f"{stem}.npz" if shard[1] == 1 else f"{stem}-s{shard[0]}of{shard[1]}.npz")
        self.data: dict[str, NDArray[np.float64]] = {}
        for path in sorted(corpus.root.glob(f"{stem}*.npz")):
            if ".tmp." in path.name:
                continue
            with np.load(path) as z:
                self.data.update({str(i): z["x"][k] for k, i in enumerate(z["ids"])})

    def _mine(self, clip: Clip) -> bool:
        i, n = self.shard
        return n == 1 or int(hashlib.sha1(clip.id.encode()).hexdigest()[:8], 16) % n == i

    def _save(self, ids: Sequence[str]) -> None:
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, ids=np.asarray(list(ids)), x=np.stack([self.data[i] for i in ids]))
        os.replace(tmp, self.path)

    def get(self, clips: Sequence[Clip], log: Log = print, chunk: int = 32) -> NDArray[np.float64]:
        """``[N, 3 + 768]``: cnn logit, residual kurtosis and crest, Whisper mean/std (computed if missing;
        a sharded cache returns only after computing its share, and raises if asked for the rest)."""
        from framesentry.inference.audio.residual import residual_peakiness

        todo = [c for c in clips if c.id not in self.data and self._mine(c)]
        t0 = time.time()
        written: list[str] = []
        if self.path.is_file():
            with np.load(self.path) as z:
                written = [str(i) for i in z["ids"]]
        for k in range(0, len(todo), chunk):
            part = todo[k : k + chunk]
            x = windows_of(self.corpus, part, self.kind)
            feats = np.concatenate([self.det.cnn_logits(x)[:, None], residual_peakiness(x), self.det.whisper(x)],
                                   axis=1)
            self.data.update({c.id: f for c, f in zip(part, feats, strict=True)})
            written += [c.id for c in part]
            self._save(written)
            log(f"  features {self.kind}: {min(k + chunk, len(todo))}/{len(todo)} ({time.time() - t0:.0f} s)")
        if self.shard[1] > 1:
            return np.zeros((0, 3 + 768))
        return np.stack([self.data[c.id] for c in clips]) if clips else np.zeros((0, 3 + 768))


def columns(x: NDArray[np.float64], features: Sequence[str]) -> NDArray[np.float64]:
    """The raw-feature columns a back end uses, laid out as ``fusion.raw_features`` does."""
    from framesentry.inference.audio.fusion import whisper_columns

    return whisper_columns(x, list(features))


def labels(clips: Sequence[Clip]) -> NDArray[np.int64]:
    return np.asarray([c.label for c in clips], dtype=np.int64)


def fit(x: NDArray[np.float64], y: NDArray[np.int64], features: list[str], c: float) -> dict[str, Any]:
    from framesentry.inference.audio.fusion import fit_linear

    if "whisper" not in features:
        raise ValueError("the v3 back end always uses the Whisper block")
    return fit_linear(columns(x, features), y, list(features), c)


def score(cfg: dict[str, Any], x: NDArray[np.float64]) -> NDArray[np.float64]:
    from framesentry.inference.audio.fusion import apply_fusion

    return apply_fusion(cfg, columns(x, cfg["features"]))


def choose_c(
    xtr: NDArray[np.float64], ytr: NDArray[np.int64], xva: NDArray[np.float64], yva: NDArray[np.int64],
    features: list[str], log: Log = print,
) -> tuple[float, dict[str, float]]:
    """Regularisation with the lowest validation EER (ties: the stronger regularisation)."""
    results = {}
    for c in C_GRID:
        results[str(c)] = equal_error_rate(score(fit(xtr, ytr, features, c), xva), yva)[0]
        log(f"  C={c}: val EER {results[str(c)]:.3%}")
    best = min(C_GRID, key=lambda c: (results[str(c)], c))
    return best, results


def logo_table(
    train: tuple[Sequence[Clip], NDArray[np.float64]],
    test: tuple[Sequence[Clip], NDArray[np.float64]],
    held_out_pool: tuple[Sequence[Clip], NDArray[np.float64]],
    features: list[str],
    c: float,
    log: Log = print,
) -> dict[str, Any]:
    """Train without G, test on the test speakers' bona fide vs every clip of G (none of G was seen).

    ``held_out_pool`` holds all clips of every generator (any split), ``test`` the test bona fide. Pooled: the
    EER over the union of the eight (bona fide, G) score sets, each scored by the model that never saw G.
    """
    tr_clips, xtr = train
    te_clips, xte = test
    pool_clips, xpool = held_out_pool
    gtr = np.asarray([c.generator for c in tr_clips])
    real_te = np.asarray([c.generator == "bonafide" for c in te_clips])
    gpool = np.asarray([c.generator for c in pool_clips])
    ytr = labels(tr_clips)
    out: dict[str, Any] = {"per_generator": {}}
    all_s, all_y = [], []
    for g in GENERATORS:
        keep = gtr != g
        cfg = fit(xtr[keep], ytr[keep], features, c)
        s_real, s_fake = score(cfg, xte[real_te]), score(cfg, xpool[gpool == g])
        s = np.concatenate([s_real, s_fake])
        y = np.concatenate([np.zeros(s_real.size, np.int64), np.ones(s_fake.size, np.int64)])
        eer = equal_error_rate(s, y)[0] if s_fake.size else float("nan")
        out["per_generator"][g] = {"eer": eer, "n_spoof": int(s_fake.size), "n_bonafide": int(s_real.size)}
        all_s.append(s)
        all_y.append(y)
        log(f"  LOGO {g}: EER {eer:.3%} ({s_fake.size} spoofs)")
    out["pooled_eer"] = equal_error_rate(np.concatenate(all_s), np.concatenate(all_y))[0]
    out["mean_eer"] = float(np.nanmean([v["eer"] for v in out["per_generator"].values()]))
    out["features"] = list(features)
    out["C"] = c
    return out
