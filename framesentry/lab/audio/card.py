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
