"""Live cost of the audio detector per 4 s window on this machine's CPU: VAD gate, then the committed
detector's parts (spectral CNN through its engine, LPC residual, Whisper encoder when the model uses it,
back end + calibration), batch 1 as a live stream scores them, plus the batched upload rate.

    .venv/bin/python benchmarks/audio_window.py [--repeats 20]

Writes benchmarks/results/audio_window_cpu.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from framesentry.config import get_settings
from framesentry.inference.detectors import Detectors

RESULTS = Path(__file__).resolve().parent / "results"


def _median_ms(fn: Callable[[], object], repeats: int, per: int = 1) -> float:
    fn()  # warm-up (lazy allocations, ONNX Runtime first run)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000 / per)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    from framesentry.inference.audio.residual import residual_peakiness
    from framesentry.inference.audio.windows import tile_to
    from framesentry.lab.audio.dataset import list_bonafide, read_audio

    settings = get_settings()
    det = Detectors(settings)
    audio, vad = det.audio, det.vad
    path = list_bonafide(settings.shared_dir)[0][0]
    x = tile_to(read_audio(path), audio.window_samples)[None, :]
    batch = np.repeat(x, 8, axis=0)
    parts: dict[str, float] = {
        "vad_ms": _median_ms(lambda: vad.speech_fraction(x[0]), args.repeats),
        "cnn_ms": _median_ms(lambda: audio.cnn_logits(x), args.repeats),
        "residual_ms": _median_ms(lambda: residual_peakiness(x), args.repeats),
    }
    if audio.whisper is not None:
        parts["whisper_ms"] = _median_ms(lambda: audio.whisper(x), args.repeats)
    parts["detector_predict_ms"] = _median_ms(lambda: audio.predict(x), args.repeats)
    parts["live_window_total_ms"] = parts["vad_ms"] + parts["detector_predict_ms"]
    parts["upload_ms_per_window_batch8"] = _median_ms(lambda: audio.predict(batch), max(3, args.repeats // 4), 8)
    result = {
        "what": "ms per 64,600-sample (4.04 s) window, median of repeats; live = VAD + predict at batch 1",
        "model_version": audio.version,
        "uses_whisper": audio.whisper is not None,
        "engine": audio.engine.describe() if audio.engine is not None else "torch",
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": settings.torch_threads,
        "note": "two cores shared with other jobs while measured: read as an upper bound",
        "results": parts,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "audio_window_cpu.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(parts, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
