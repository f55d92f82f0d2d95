"""Seconds for the deep pass (explanations) on a 60 s 720p30 clip with two faces and speech, 2 CPU cores.

The verdict pass runs first (its time is reported too, as the reference); then the deep pass as the router
decided it, and once more with the result escalated (Uncertain: the deeper re-analysis with twice the frames
and flip test-time augmentation on top of the explanations), since that is its worst case. Per-stage times
come from the deep pass itself. Prints a table and writes JSON to benchmarks/results/.

    .venv/bin/python benchmarks/deep_pass.py [--seconds 60] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from framesentry.config import Settings
from framesentry.explain.deep_pass import run_deep_pass
from framesentry.inference.detectors import Detectors
from framesentry.inference.pipeline import analyze_file
from framesentry.inference.result import RouteDecision
from framesentry.lab.samples import make_benchmark_clip

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="clip length")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the machine's 2 cores)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    settings = Settings(torch_threads=args.threads, llm_base_url=None)
    clip = make_benchmark_clip(settings, settings.work_dir / "bench" / f"clip_{int(args.seconds)}s_720p30.mp4",
                               duration_s=args.seconds)
    detectors = Detectors(settings)
    _ = detectors.faces, detectors.visual, detectors.audio, detectors.vad  # load once, outside the timings

    load_before = round(os.getloadavg()[0], 2)
    t0 = time.perf_counter()
    result = analyze_file(clip, settings, detectors)
    verdict_s = time.perf_counter() - t0
    runs = {}
    escalate = RouteDecision(step="escalate", action="deep_pass", reason="benchmark: forced", policy="benchmark")
    variants = {"as_routed": result,
                "escalated": result.model_copy(update={"routing": [d for d in result.routing
                                                                   if d.step != "escalate"] + [escalate]})}
    for name, res in variants.items():
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            exp = run_deep_pass(clip, res, Path(tmp), detectors)
            runs[name] = {"total_s": round(time.perf_counter() - t0, 3), "stages_s": exp.timing_s,
                          "heatmaps": len(exp.heatmaps),
                          "audio_windows_explained": len((exp.audio_saliency or {}).get("windows", [])),
                          "refined": exp.refined.model_dump() if exp.refined else None,
                          "report_bytes": (Path(tmp) / "report.pdf").stat().st_size}
        print(f"deep pass ({name}): {runs[name]['total_s']:.2f} s  {exp.timing_s}", flush=True)

    import torch

    report = {
        "benchmark": "deep_pass",
        "device": f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
                  f"{torch.get_num_threads()}",
        "load_average_1m_before": load_before,
        "load_average_1m_after": round(os.getloadavg()[0], 2),
        "note": "another process on these cores shows up in the load averages; the ratios to the verdict pass of "
                "the same run are the numbers to compare across machines",
        "clip": {"duration_s": result.media.duration_s, "width": result.media.width, "height": result.media.height,
                 "fps": result.media.fps, "faces": len(result.faces)},
        "verdict_pass": {"total_s": round(verdict_s, 3), "stages_s": result.timing_s, "verdict": result.verdict.value,
                         "routed": [d.action for d in result.routing if d.step == "escalate"]},
        "deep_pass": runs,
        "deep_over_verdict": {name: round(run["total_s"] / verdict_s, 3) for name, run in runs.items()},
        "settings": {"explain_top_frames": settings.explain_top_frames,
                     "explain_audio_windows": settings.explain_audio_windows,
                     "visual_sample_fps": settings.visual_sample_fps},
    }
    out = args.out or RESULTS / "deep_pass_cpu.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"verdict pass {verdict_s:.2f} s; wrote {out}")


if __name__ == "__main__":
    main()
