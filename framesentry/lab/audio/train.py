"""Training the audio detector end to end: corpus -> spectral CNN -> fusion (residual cue, optional
AASIST) -> calibration.

``train_audio(settings, out_dir)`` is what ``framesentry train audio`` runs. It writes the weights, the
calibration and the model card (with per-generator, pooled and held-out-generator EERs measured on the
test speakers) into ``out_dir``; copying that folder to ``framesentry/assets/audio`` ships the model.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from framesentry.config import Settings
from framesentry.inference.metrics import equal_error_rate
from framesentry.lab.audio.dataset import Clip, Corpus
from framesentry.lab.audio.spoofgen import GENERATORS

Log = Callable[[str], None]


def train_cnn(
    x_clean: NDArray[np.int16],
    x_codec: NDArray[np.int16],
    y: NDArray[np.int64],
    x_val: NDArray[np.int16],
    y_val: NDArray[np.int64],
    epochs: int,
    seed: int = 0,
    crop: int = 24000,
    batch: int = 32,
    width: int = 16,
    phase: bool = False,
    log: Log = print,
) -> tuple[Any, list[dict[str, float]]]:
    """Train the spectral CNN on random crops with identical augmentation for both classes.

    Each example is the clean or the codec copy (50/50), a random ``crop``-sample slice (the model pools
    globally, so it scores full windows at test time), then band limit / noise / gain / shift. The
    checkpoint with the best validation EER (full clean windows) is returned.
    """
    import torch

    from framesentry.inference.audio.detector import cnn_logits
    from framesentry.inference.audio.spectral import SpectralCNN
    from framesentry.lab.audio.augment import random_channel
    from framesentry.lab.audio.features import to_float

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = SpectralCNN(width=width, phase=phase)
    steps_per_epoch = max(1, len(y) // batch)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * steps_per_epoch)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(n_neg / max(n_pos, 1)))
    xv = to_float(x_val)
    best: tuple[float, dict[str, Any]] = (2.0, copy.deepcopy(model.state_dict()))
    history: list[dict[str, float]] = []
    for epoch in range(epochs):
        model.train()
        t0, total = time.time(), 0.0
        order = rng.permutation(len(y))
        for step in range(steps_per_epoch):
            idx = order[step * batch : (step + 1) * batch]
            waves = []
            for i in idx:
                src = x_codec[i] if rng.random() < 0.5 else x_clean[i]
                start = int(rng.integers(0, src.size - crop + 1))
                waves.append(random_channel(src[start : start + crop].astype(np.float32) / 32767.0, rng))
            logits = model(torch.from_numpy(np.stack(waves)))
            loss = loss_fn(logits, torch.from_numpy(y[idx].astype(np.float32)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        model.eval()
        val_eer = equal_error_rate(cnn_logits(model, xv), y_val)[0] if len(set(y_val)) == 2 else 1.0
        history.append({"epoch": epoch + 1, "loss": total / steps_per_epoch, "val_eer": val_eer})
        log(f"  epoch {epoch + 1}/{epochs}: loss {total / steps_per_epoch:.4f} val EER {val_eer:.3%} "
            f"({time.time() - t0:.0f} s)")
        if val_eer <= best[0]:
            best = (val_eer, copy.deepcopy(model.state_dict()))
    model.load_state_dict(best[1])
    return model.eval(), history


def _labels(clips: Sequence[Clip]) -> NDArray[np.int64]:
    return np.asarray([c.label for c in clips], dtype=np.int64)


def held_out_scores(data: dict[str, Any], epochs: int, log: Log) -> dict[str, dict[str, Any]]:
    """For every generator G: train without G, keep val (without G) and test (bona fide + G) CNN scores."""
    from framesentry.inference.audio.detector import cnn_logits
    from framesentry.lab.audio.features import to_float

    out: dict[str, dict[str, Any]] = {}
    for g in GENERATORS:
        keep_tr = np.asarray([c.generator != g for c in data["train"]])
        keep_va = np.asarray([c.generator != g for c in data["val"]])
        log(f"held-out {g}: training without it")
        model, _ = train_cnn(data["x_train"][keep_tr], data["k_train"][keep_tr], data["y_train"][keep_tr],
                             data["x_val"][keep_va], data["y_val"][keep_va], epochs=epochs, log=log)
        test_m = np.asarray([c.generator in ("bonafide", g) for c in data["test"]])
        out[g] = {"val_mask": keep_va, "test_mask": test_m,
                  "val": cnn_logits(model, to_float(data["x_val"][keep_va])),
                  "test": cnn_logits(model, to_float(data["x_test"][test_m]))}
    return out


def held_out_report(
    hs: dict[str, dict[str, Any]], data: dict[str, Any], peaky: dict[str, NDArray[np.float64]],
    aasist: dict[str, NDArray[np.float64]] | None, use_aasist: bool, log: Log,
) -> dict[str, Any]:
    """EER on the unseen generator G: CNN alone, and the shipped fusion recipe refitted on val without G."""
    from framesentry.inference.audio.fusion import apply_fusion, fit_fusion, raw_features

    out: dict[str, Any] = {}
    for g, h in hs.items():
        vm, tm = h["val_mask"], h["test_mask"]
        y_te, y_va = data["y_test"][tm], data["y_val"][vm]
        res: dict[str, Any] = {"cnn_eer": equal_error_rate(h["test"], y_te)[0]}
        a_va = aasist["val"][vm] if use_aasist and aasist is not None else None
        a_te = aasist["test"][tm] if use_aasist and aasist is not None else None
        cfg, _ = fit_fusion(raw_features(h["val"], peaky["x_val"][vm], a_va), y_va, use_aasist)
        res["fused_eer"] = equal_error_rate(apply_fusion(cfg, raw_features(h["test"], peaky["x_test"][tm], a_te)),
                                            y_te)[0]
        if aasist is not None:
            res["aasist_pretrained_eer"] = equal_error_rate(aasist["test"][tm], y_te)[0]
            if not use_aasist:  # what fusing AASIST would have given on the unseen generator
                cfg2, _ = fit_fusion(raw_features(h["val"], peaky["x_val"][vm], aasist["val"][vm]), y_va, True)
                z2 = apply_fusion(cfg2, raw_features(h["test"], peaky["x_test"][tm], aasist["test"][tm]))
                res["fused_with_aasist_eer"] = equal_error_rate(z2, y_te)[0]
        out[g] = res
        log(f"  held-out {g}: {res}")
    return out


def train_audio(
    settings: Settings,
    out_dir: Path,
    epochs: int = 12,
    holdout_epochs: int = 12,
    tiny: bool = False,
    tiny_files: int = 24,
    use_aasist: str = "auto",
    seed: int = 0,
    log: Log = print,
) -> dict[str, Any]:
    """Build/complete the corpus, train, fuse, calibrate, evaluate and write the model artefacts."""
    from framesentry.inference.audio.detector import cnn_logits
    from framesentry.inference.audio.fusion import apply_fusion, fit_fusion, raw_features
    from framesentry.inference.audio.residual import residual_peakiness
    from framesentry.inference.calibration import fit_temperature
    from framesentry.lab.audio.card import write_artifacts
    from framesentry.lab.audio.evaluate import calibration_report, generator_report
    from framesentry.lab.audio.features import aasist_scores, ensure_codec_copies, to_float, window_matrix

    corpus = Corpus(Corpus.default_root(settings.work_dir, "tiny" if tiny else "full"))
    log(f"corpus: {corpus.root}")
    if tiny:
        corpus.build(settings.shared_dir, n_tts=tiny_files // 2, max_segments=1, max_files=tiny_files, seed=seed,
                     log=log)
    else:
        corpus.build(settings.shared_dir, seed=seed, log=log)
    ensure_codec_copies(corpus, corpus.clips, seed=seed, log=log)
    data: dict[str, Any] = {}
    for split in ("train", "val", "test"):
        clips = corpus.select(split)
        data[split] = clips
        data[f"x_{split}"] = window_matrix(corpus, clips, "clean")
        data[f"k_{split}"] = window_matrix(corpus, clips, "codec")
        data[f"y_{split}"] = _labels(clips)
    log(f"clips: train {len(data['train'])}, val {len(data['val'])}, test {len(data['test'])}")
    model, history = train_cnn(data["x_train"], data["k_train"], data["y_train"], data["x_val"], data["y_val"],
                               epochs=epochs, seed=seed, log=log)
    s = {f"{k}_{sp}": cnn_logits(model, to_float(data[f"{k}_{sp}"])) for k in ("x", "k") for sp in ("val", "test")}
    val_cnn_eer = equal_error_rate(s["x_val"], data["y_val"])[0]
    peaky = {f"{k}_{sp}": residual_peakiness(to_float(data[f"{k}_{sp}"])) for k in ("x", "k") for sp in ("val", "test")}
    fusion, cv_eer = fit_fusion(raw_features(s["x_val"], peaky["x_val"]), data["y_val"], use_aasist=False)
    fusion.update(val_eer_cnn=val_cnn_eer, cv_val_eer_without_aasist=cv_eer)
    log(f"fusion without AASIST: CNN val EER {val_cnn_eer:.3%}, fused (5-fold CV) {cv_eer:.3%}")
    aas: dict[str, NDArray[np.float64]] | None = None
    if use_aasist != "never" and not tiny:
        aas = {sp: aasist_scores(corpus, data[sp], settings.shared_dir, "clean", log=log) for sp in ("val", "test")}
        f2, cv2 = fit_fusion(raw_features(s["x_val"], peaky["x_val"], aas["val"]), data["y_val"], use_aasist=True)
        log(f"fusion with AASIST: fused (5-fold CV) {cv2:.3%}")
        # AASIST costs ~50x the rest per window: only fuse it when it clearly helps on validation.
        if use_aasist == "always" or cv2 < cv_eer - 0.01:
            f2.update(val_eer_cnn=val_cnn_eer, cv_val_eer_without_aasist=cv_eer)
            fusion = f2
            aas["test_codec"] = aasist_scores(corpus, data["test"], settings.shared_dir, "codec", log=log)
        fusion["cv_val_eer_with_aasist"] = cv2

    def fused(kind: str, split: str) -> NDArray[np.float64]:
        a = None
        if fusion["use_aasist"] and aas is not None:
            a = aas[split] if kind == "x" else aas["test_codec"]
        return apply_fusion(fusion, raw_features(s[f"{kind}_{split}"], peaky[f"{kind}_{split}"], a))

    # Calibrate on validation; include the codec copies where the fused score can be computed for them.
    if fusion["use_aasist"]:
        z_cal, y_cal = fused("x", "val"), data["y_val"]
    else:
        z_cal = np.concatenate([fused("x", "val"), fused("k", "val")])
        y_cal = np.concatenate([data["y_val"], data["y_val"]])
    calibrator = fit_temperature(z_cal, y_cal, fit_bias=True)
    metrics: dict[str, Any] = {"history": history, "fusion": fusion}
    for kind, name in (("x", "test_clean"), ("k", "test_codec")):
        z = fused(kind, "test")
        rep = generator_report(z, data["test"])
        rep["calibration"] = calibration_report(z, calibrator(z), data["y_test"], s[f"{kind}_test"])
        rep["cnn_only"] = generator_report(s[f"{kind}_test"], data["test"])
        if aas is not None and (kind == "x" or "test_codec" in aas):
            rep["aasist_pretrained"] = generator_report(aas["test" if kind == "x" else "test_codec"], data["test"])
        metrics[name] = rep
        log(f"{name}: pooled EER {rep['pooled']['eer']:.3%} per generator "
            f"{ {g: round(v['eer'], 4) for g, v in rep['per_generator'].items()} } ECE {rep['calibration']}")
    metrics["speed"] = measure_speed(model, settings, fusion["use_aasist"], time_aasist=not tiny)
    metrics["corpus"] = corpus.summary()
    metrics["held_out"] = {"status": "pending"}
    # The shipped model is written first; held-out runs (one retraining per generator) then complete the card.
    write_artifacts(out_dir, model, calibrator, fusion, metrics, settings, tiny=tiny)
    if holdout_epochs > 0:
        hs = held_out_scores(data, holdout_epochs, log)
        metrics["held_out"] = held_out_report(hs, data, peaky, aas, bool(fusion["use_aasist"]), log)
        metrics["held_out"]["epochs"] = holdout_epochs
    else:
        metrics["held_out"] = {"status": "skipped"}
    write_artifacts(out_dir, model, calibrator, fusion, metrics, settings, tiny=tiny)
    log(f"wrote {out_dir}")
    return metrics


def measure_speed(model: Any, settings: Settings, with_aasist: bool, time_aasist: bool = True) -> dict[str, float]:
    """Milliseconds per 64,600-sample window on this machine (CPU), batch 1 and batch 16."""
    import torch

    from framesentry.inference.audio.aasist import load_aasist
    from framesentry.inference.audio.detector import aasist_fake_logits, cnn_logits
    from framesentry.inference.audio.vad import VoiceActivity

    x = (np.random.default_rng(0).standard_normal((16, 64600)) * 0.1).astype(np.float32)
    out: dict[str, float] = {"torch_threads": float(torch.get_num_threads())}

    def timed(fn: Callable[[], object], n: int) -> float:
        fn()
        t = time.perf_counter()
        fn()
        return (time.perf_counter() - t) / n * 1000

    out["cnn_ms_batch1"] = timed(lambda: cnn_logits(model, x[:1]), 1)
    out["cnn_ms_per_window_batch16"] = timed(lambda: cnn_logits(model, x), 16)
    from framesentry.inference.audio.residual import residual_peakiness

    out["residual_ms_per_window"] = timed(lambda: residual_peakiness(x[:4]), 4)
    vad = VoiceActivity()
    out["vad_ms_per_window"] = timed(lambda: vad.speech_mask(x[0]), 1)
    if time_aasist:
        aasist = load_aasist(settings.shared_dir, "AASIST")
        out["aasist_ms_per_window_batch4"] = timed(lambda: aasist_fake_logits(aasist, x[:4]), 4)
    out["aasist_used"] = float(with_aasist)
    return out
