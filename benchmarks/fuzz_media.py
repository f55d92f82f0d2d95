"""Fuzz the media probe/decode path with atheris (coverage-guided, libFuzzer underneath).

    .venv/bin/python -m benchmarks.fuzz_media --seconds 600            # the long run
    .venv/bin/python -m benchmarks.fuzz_media --seconds 30 --jobs 1    # what CI runs (tests/test_fuzz_media.py)

Seeds: small valid clips made now (MP4, WebM, MKV, WAV, M4A). Inputs that make anything but a FrameSentryError
escape are written to --crashes (default tests/fuzz_crashes/, where tests/test_fuzz_media.py replays each as a
regression test); libFuzzer prints the traceback. Exit code 0: nothing found in the time given.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from framesentry.lab.fuzz_media import main as fuzz_main
from framesentry.lab.fuzz_media import write_seeds

CRASHES = Path(__file__).resolve().parent.parent / "tests" / "fuzz_crashes"


INHERITED_PEAK_KB = 1024 * 1024


def restart_with_own_peak_rss() -> None:
    """libFuzzer's ``-rss_limit_mb`` reads getrusage's peak RSS, which Linux carries over from the process that
    started this one (exec keeps it): started by a pytest that had grown to 3 GB, every run "ran out of memory"
    (in CI) while the fuzzer itself used 150 MB. Run again from this small process: its children count afresh."""
    import resource
    import subprocess

    inherited_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if os.environ.get("FUZZ_MEDIA_RESTARTED") or inherited_kb < INHERITED_PEAK_KB:
        return
    env = {**os.environ, "FUZZ_MEDIA_RESTARTED": "1"}  # not FRAMESENTRY_*: settings refuse unknown names
    sys.exit(subprocess.run([sys.executable, "-m", "benchmarks.fuzz_media", *sys.argv[1:]], env=env).returncode)


def main() -> None:
    restart_with_own_peak_rss()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=600, help="Total fuzzing time.")
    parser.add_argument("--crashes", type=Path, default=CRASHES, help="Where crashing inputs are kept.")
    parser.add_argument("--corpus", type=Path, default=None, help="Corpus folder to grow (default: temporary).")
    parser.add_argument("--max-len", type=int, default=64 * 1024, help="Largest input in bytes.")
    parser.add_argument("--runs", type=int, default=-1, help="Stop after this many inputs (-1: time only).")
    parser.add_argument("--seed", type=int, default=0, help="libFuzzer's random seed (0: a new one each run); with "
                        "--runs, a fixed seed replays the same inputs (CI's regression run)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    corpus = args.corpus or Path(tempfile.mkdtemp(prefix="framesentry-fuzz-corpus-"))
    corpus.mkdir(parents=True, exist_ok=True)
    seeds = write_seeds(Path(tempfile.mkdtemp(prefix="framesentry-fuzz-seeds-")))
    for seed in seeds:
        shutil.copy(seed, corpus / seed.name)
    args.crashes.mkdir(parents=True, exist_ok=True)
    flags = [
        f"-max_total_time={args.seconds}",
        f"-runs={args.runs}",
        f"-seed={args.seed}",
        f"-max_len={args.max_len}",
        "-timeout=20",              # one input may take at most 20 s (a hang is a finding too)
        "-rss_limit_mb=3072",
        f"-artifact_prefix={args.crashes}/",
        "-print_final_stats=1",
        str(corpus),
    ]
    print(f"fuzzing for {args.seconds} s; corpus {corpus}; crashes -> {args.crashes}", file=sys.stderr, flush=True)
    fuzz_main(flags)


if __name__ == "__main__":
    main()
