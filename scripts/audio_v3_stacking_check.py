"""Side check for docs/AUDIO_V3_CANDIDATE.md (not a model, nothing written): a stacked back end on the cached
corpus v3 features, in-domain and leave-one-generator-out.

Stacking: a Whisper-only logistic regression whose train-set logits are out-of-fold (5 folds grouped by
speaker, TTS clips each their own group), then a small logistic fusion of the CNN logit, the two residual
features (and their squares) and that Whisper logit. Run after scripts/audio_v3_candidate.sh:

    chrt -i 0 .venv/bin/python scripts/audio_v3_stacking_check.py
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from framesentry.config import get_settings
from framesentry.inference.audio.detector import AudioDetector
from framesentry.inference.metrics import equal_error_rate
from framesentry.lab.audio.backend import FeatureCache, FrontEnd, labels
from framesentry.lab.audio.dataset import Corpus
from framesentry.lab.audio.spoofgen import GENERATORS
from framesentry.lab.audio.train_v3 import load_features

C_WHISPER = 0.1  # what choose_c picked for both candidates


def _whisper_lr(x: np.ndarray, y: np.ndarray) -> Any:
    w = x[:, 3:]
    mean, std = w.mean(0), w.std(0) + 1e-6
    lr = LogisticRegression(C=C_WHISPER, max_iter=3000, class_weight="balanced").fit((w - mean) / std, y)
    return lambda z: lr.decision_function((z[:, 3:] - mean) / std)


def _small(x: np.ndarray, wlogit: np.ndarray) -> np.ndarray:
    u = np.column_stack([x[:, 0], x[:, 1], x[:, 2], wlogit])
    return np.column_stack([u, x[:, 1] ** 2, x[:, 2] ** 2])


def fit_stack(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> Any:
    oof = np.zeros(len(y))
    for tr, te in GroupKFold(5).split(x, y, groups):
        oof[te] = _whisper_lr(x[tr], y[tr])(x[te])
    whisper = _whisper_lr(x, y)
    s = _small(x, oof)
    mean, std = s.mean(0), s.std(0) + 1e-6
    fusion = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit((s - mean) / std, y)
    return lambda z: fusion.decision_function((_small(z, whisper(z)) - mean) / std)


def main() -> None:
    settings = get_settings()
    corpus = Corpus(Corpus.default_root(settings.work_dir, "full"))
    front = FrontEnd(AudioDetector.load(settings))
    d = load_features(corpus, front, lambda m: None)
    train = [*d["train"], *d["train_aug"]]
    xtr = np.concatenate([d["clean_train"], d["aug_train"]])
    ytr = labels(train)
    groups = np.asarray([c.id if c.speaker == "tts" else c.speaker for c in train])
    gtr = np.asarray([c.generator for c in train])
    yte, gte = labels(d["test"]), np.asarray([c.generator for c in d["test"]])
    model = fit_stack(xtr, ytr, groups)
    for kind in ("clean", "codec"):
        z = model(d[f"{kind}_test"])
        per = {g: equal_error_rate(z[(gte == g) | (gte == "bonafide")], yte[(gte == g) | (gte == "bonafide")])[0]
               for g in GENERATORS}
        print(f"in-domain {kind}: pooled EER {100 * equal_error_rate(z, yte)[0]:.1f} %; "
              + ", ".join(f"{g} {100 * v:.1f} %" for g, v in per.items()), flush=True)
    pool = corpus.select()
    xpool = FeatureCache(corpus, "clean", front).get(pool, log=lambda m: None)
    gpool = np.asarray([c.generator for c in pool])
    real = d["clean_test"][gte == "bonafide"]
    all_s, all_y = [], []
    for g in GENERATORS:
        keep = gtr != g
        m = fit_stack(xtr[keep], ytr[keep], groups[keep])
        s = np.concatenate([m(real), m(xpool[gpool == g])])
        y = np.concatenate([np.zeros(len(real), np.int64), np.ones(int((gpool == g).sum()), np.int64)])
        all_s.append(s)
        all_y.append(y)
        print(f"LOGO {g}: EER {100 * equal_error_rate(s, y)[0]:.1f} %", flush=True)
    print(f"LOGO pooled EER {100 * equal_error_rate(np.concatenate(all_s), np.concatenate(all_y))[0]:.1f} %")


if __name__ == "__main__":
    main()
