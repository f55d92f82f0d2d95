"""Seconds to analyse a 60 s 720p30 clip: FrameSentry's pipeline vs a naive decode-every-frame baseline.

Both run in the same process on the same clip, one after the other, so machine noise hits both alike.
The baseline decodes and converts every frame, detects and scores faces on every frame one at a time, and
scores every audio window one at a time without voice-activity detection: what a straightforward first
implementation does. Prints a table and writes JSON to benchmarks/results/.

    .venv/bin/python benchmarks/analyze_clip.py [--seconds 60] [--baseline-seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from framesentry.config import Settings
from framesentry.inference.batching import BatchedScorer
from framesentry.inference.detectors import Detectors
from framesentry.inference.pipeline import analyze_file
from framesentry.inference.scoring import ScoringCore
from framesentry.lab.samples import make_benchmark_clip
from framesentry.media import iter_audio, probe

RESULTS = Path(__file__).resolve().parent / "results"


def naive_baseline(path: Path, core: ScoringCore, seconds: float) -> dict[str, float]:
    """Every frame decoded, converted, face-detected and scored by the scoring core at batch 1; every audio
    window scored at batch 1."""
    import av

    from framesentry.inference.audio.streaming import stream_windows
    from framesentry.inference.scoring import FrameJob, WindowJob

    settings = core.settings
    t0 = time.perf_counter()
    frames = faces = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= seconds:
                break
            frames += 1
            job = FrameJob(float(frame.time or 0.0), frame.to_ndarray(format="rgb24"), settings.face_min_size_px)
            faces += len(core.score_frames([job])[0])
    t_visual = time.perf_counter() - t0
    t1 = time.perf_counter()
    chunks = (c.samples for c in iter_audio(path, sample_rate=settings.audio_sample_rate))
    windows = 0
    for w in stream_windows(
        chunks,
        sample_rate=settings.audio_sample_rate,
        window_samples=settings.audio_window_samples,
        stride_samples=round(settings.audio_stride_s * settings.audio_sample_rate),
    ):
        if w.start_s >= seconds:
            break
        core.score_windows([WindowJob(w.start_s, w.end_s, w.samples)])
        windows += 1
    t_audio = time.perf_counter() - t1
    return {"visual_s": t_visual, "audio_s": t_audio, "total_s": t_visual + t_audio, "frames": frames,
            "faces_scored": faces, "audio_windows": windows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="clip length")
    parser.add_argument("--baseline-seconds", type=float, default=60.0, help="baseline runs on this much")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    settings = Settings()
    clip = make_benchmark_clip(settings, settings.work_dir / "bench" / f"clip_{int(args.seconds)}s_720p30.mp4",
                               duration_s=args.seconds)
    info = probe(clip, settings)
    with BatchedScorer(Detectors(settings)) as scorer:
        scorer.warm_up()  # load every model once so neither side pays for loading
        t0 = time.perf_counter()
        result = analyze_file(clip, settings, scorer=scorer)
        ours = time.perf_counter() - t0
    print(f"framesentry: {ours:.2f} s for {info.duration_s:.0f} s of video; running the naive baseline...", flush=True)
    base = naive_baseline(clip, scorer.core, args.baseline_seconds)
    scale = info.duration_s / min(args.baseline_seconds, info.duration_s)
    base_full = base["total_s"] * scale

    import torch

    report = {
        "benchmark": "analyze_clip",
        "device": f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
                  f"{torch.get_num_threads()}",
        "clip": {"duration_s": info.duration_s, "width": info.video.width if info.video else None,
                 "height": info.video.height if info.video else None, "fps": info.video.fps if info.video else None},
        "framesentry": {"total_s": round(ours, 3), "stages_s": result.timing_s, "verdict": result.verdict.value,
                        "faces_scored": result.visual.windows_scored, "audio_windows": result.audio.windows_scored,
                        "settings": {"visual_sample_fps": settings.visual_sample_fps,
                                     "audio_stride_s": settings.audio_stride_s}},
        "naive_baseline": {**{k: round(v, 3) for k, v in base.items()}, "measured_on_s": min(args.baseline_seconds,
                           info.duration_s), "total_for_clip_s": round(base_full, 3)},
        "speedup": round(base_full / ours, 2),
        "target_s": 10.0,
    }
    print(f"{'pipeline':<22}{'seconds':>10}{'x realtime':>12}")
    for name, secs in (("framesentry", ours), ("naive baseline", base_full)):
        print(f"{name:<22}{secs:>10.2f}{info.duration_s / secs:>12.2f}")
    print(f"speedup {report['speedup']}x; stages: {result.timing_s}")
    out = args.out or RESULTS / "analyze_clip_cpu.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
