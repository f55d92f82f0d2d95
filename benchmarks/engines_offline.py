"""Offline engine throughput (network forward only) per backend and batch size, beside a naive PyTorch
one-item-at-a-time baseline measured in the same process. The same code as ``framesentry bench``.

    .venv/bin/python benchmarks/engines_offline.py [--batch-sizes 1,8,32,64,128,256] [--model all] [--repeats 5]

Writes benchmarks/results/engines_offline_<device>.json (e.g. engines_offline_cpu-x86_64-2c.json).
"""

from __future__ import annotations

import argparse

from framesentry.cli.bench import DEFAULT_BATCHES, RESULTS_DIR, int_list, print_offline, run_offline, write_result
from framesentry.cli.engines import model_names
from framesentry.config import get_settings
from framesentry.inference.detectors import configure_torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", default=DEFAULT_BATCHES)
    parser.add_argument("--model", default="all")
    parser.add_argument("--backend", default="all", help="comma list of backends, or all available")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline-items", type=int, default=32)
    args = parser.parse_args()
    settings = get_settings()
    configure_torch(settings)
    backends = None if args.backend == "all" else [b.strip() for b in args.backend.split(",") if b.strip()]
    result = run_offline(settings, int_list(args.batch_sizes, "--batch-sizes"), model_names(args.model), backends,
                         args.repeats, args.baseline_items)
    print_offline(result)
    print(f"wrote {write_result(result, RESULTS_DIR)}")


if __name__ == "__main__":
    main()
