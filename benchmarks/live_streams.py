"""N concurrent live 720p30 streams: window-close-to-score latency and dropped windows, FrameSentry's live path
against a naive per-frame pipeline, in the same process (see framesentry/lab/live_bench.py for what each does).

    .venv/bin/python benchmarks/live_streams.py [--streams 1,2,4,8] [--seconds 10] [--with-upload]
        [--repeats 3] [--compare-in-process]

With ``--with-upload`` each stream count also runs beside a long upload analysed as the embedded server does
(in a child process, ``jobs/isolation.py``), and the table shows the live p99 change it causes; runs alone and
beside the upload alternate ``--repeats`` times and their latencies are pooled. ``--compare-in-process`` adds
the upload analysed in the live path's own process (on the shared scorer's bulk lane), the design it replaced.

Prints a table and writes benchmarks/results/live_streams_<device>.json.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from rich.console import Console
from rich.table import Table

from framesentry.config import Settings
from framesentry.lab.live_bench import run_live_bench

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="1,2,4,8")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--with-upload", action="store_true", help="also measure live beside a long upload")
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs per stream count, pooled")
    parser.add_argument("--compare-in-process", action="store_true",
                        help="with --with-upload: also the upload analysed in the live path's process")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    settings = Settings()
    result = run_live_bench(settings, [int(n) for n in args.streams.split(",")], args.seconds, args.with_upload,
                            repeats=args.repeats, upload_in_process=args.compare_in_process)
    table = Table(title=f"live streams, {result['device']}")
    for col in ("streams", "pipeline", "realtime", "scored/s", "dropped", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(col, justify="right")
    for row in result["rows"]:
        runs = [("framesentry", row["framesentry"])]
        for key, label in (("with_upload", "+ upload"), ("with_upload_in_process", "+ upload in-process")):
            if f"framesentry_{key}" in row:
                change = 100 * (row[f"p99_change_{key}"] or 0)
                runs.append((f"{label} (p99 {change:+.0f} %)", row[f"framesentry_{key}"]))
        for name, r in [*runs, ("naive per-frame", row["naive_per_frame"])]:
            lat = r["latency"]
            table.add_row(str(row["streams"]), name, "yes" if r["realtime"] else "NO", f"{r['scored_per_s']:.1f}",
                          f"{100 * r['dropped_rate']:.1f} %" if "dropped_rate" in r else "never (lags)",
                          str(lat["p50_ms"]), str(lat["p95_ms"]), str(lat["p99_ms"]))
    Console().print(table)
    RESULTS.mkdir(exist_ok=True)
    tag = "cpu" if result["device"].startswith("cpu") else re.sub(r"[^a-z0-9]+", "-", result["device"].lower())
    out = args.out or RESULTS / f"live_streams_{tag}{'_with_upload' if args.with_upload else ''}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
