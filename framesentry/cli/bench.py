"""``framesentry bench``: offline engine throughput per backend and batch size, beside a naive baseline.

Offline means the network forward alone on real inputs already in memory (no decode, no face detection):
what each backend buys. ``--live`` hands over to ``framesentry.lab.live_bench.run_live_bench`` (streams
end to end). Results go to ``benchmarks/results/engines_offline_<device>.json``.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from framesentry.config import REPO_DIR, Settings, get_settings
from framesentry.errors import ConfigError, StaleEngineError

RESULTS_DIR = REPO_DIR / "benchmarks" / "results"
DEFAULT_BATCHES = "1,8,32,64,128,256"
console = Console()


def int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise ConfigError(f"{what} must be comma-separated integers, got {text!r}") from exc
    if not values or min(values) < 1:
        raise ConfigError(f"{what} must be positive integers, got {text!r}")
    return values


def _engine_for(spec: Any, name: str, settings: Settings, max_batch: int, tmp: Path) -> tuple[Any, str]:
    """A loaded backend and where its engine came from: a valid one in engines_dir, else a build for this run."""
    from framesentry.cli.engines import real_inputs
    from framesentry.engines import manifest as mf
    from framesentry.engines import registry
    from framesentry.engines.build import build_engine
    from framesentry.engines.select import engine_problems, run_options

    cls, options = registry.get(name), run_options(settings)
    if not cls.needs_engine:
        return cls.load(spec, None, max_batch, options), "pytorch module"
    folder = mf.engine_folder(settings.engines_path, spec.name, name)
    try:
        found = mf.read(folder)
    except StaleEngineError:
        found = None
    if found is not None and found.max_batch >= max_batch and not engine_problems(cls, found, spec.identity,
                                                                                     folder, options):
        return cls.load(spec, folder, max_batch, options), f"engines_dir ({folder})"
    sample = real_inputs(settings, spec.name, 8)
    out = build_engine(spec, name, tmp, sample, max_batch=max_batch, options=options)
    return cls.load(spec, out.folder, max_batch, options), "built for this run (temporary folder)"


def run_offline(settings: Settings, batch_sizes: list[int], models: list[str], backends: list[str] | None,
                repeats: int = 5, baseline_items: int = 32) -> dict[str, Any]:
    """Measure every available backend for each model; the JSON-ready result."""
    from framesentry.cli.engines import real_inputs, torch_spec
    from framesentry.engines import registry
    from framesentry.engines.bench import ITEM_BUDGET, bench_interleaved, naive_seconds, naive_summary, tile
    from framesentry.engines.device import describe_machine, machine_slug
    from framesentry.engines.select import run_options

    result: dict[str, Any] = {
        "benchmark": "engines_offline",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": {"slug": machine_slug(), **describe_machine()},
        "what": "network forward only, inputs in memory (no decode/faces/VAD); ms per batch percentiles over "
                "repeats, backends interleaved per batch size; naive = PyTorch eager, one item per call, half "
                "timed before and half after the backends",
        "batch_sizes": batch_sizes, "item_budget": ITEM_BUDGET, "max_repeats": repeats,
        "models": {},
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory(prefix="framesentry-bench-") as tmp:
        for model in models:
            spec = torch_spec(settings, model)
            sample = real_inputs(settings, model, 16)
            entry: dict[str, Any] = {"version": spec.identity.version, "item_shape": list(spec.identity.item_shape),
                                     "backends": {}}
            engines: dict[str, Any] = {}
            for name in registry.names():
                if backends is not None and name not in backends:
                    continue
                available = registry.get(name).availability(run_options(settings))
                if not available.ok:
                    entry["backends"][name] = {"skipped": available.reason}
                    continue
                with console.status(f"{model}: loading {name}"):
                    engines[name], source = _engine_for(spec, name, settings, max(batch_sizes), Path(tmp))
                entry["backends"][name] = {"description": engines[name].describe(), "engine_source": source}
            naive = tile(sample, baseline_items)
            with console.status(f"{model}: naive baseline, backends {', '.join(engines)}"):
                seconds = naive_seconds(spec.module, naive[: baseline_items // 2])  # half before, half after
                rows = bench_interleaved({n: e.run for n, e in engines.items()}, sample, batch_sizes, repeats)
                seconds += naive_seconds(spec.module, naive[baseline_items // 2 :])
            entry["baseline"] = naive_summary(seconds)
            for name, backend_rows in rows.items():
                for row in backend_rows:
                    row["x_naive"] = round(row["items_per_s"] / entry["baseline"]["items_per_s"], 2)
                entry["backends"][name]["rows"] = backend_rows
            engines.clear()
            result["models"][model] = entry
    result["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    return result


def print_offline(result: dict[str, Any]) -> None:
    dev = result["device"]
    table = Table(title=f"offline engines on {dev['slug']} (torch threads {dev['torch_threads']})",
                  header_style="bold")
    for col in ("model", "backend", "batch", "ms/batch p50", "p90", "items/s", "x naive"):
        table.add_column(col, justify="right" if col not in ("model", "backend") else "left")
    skipped: list[str] = []
    for model, entry in result["models"].items():
        b = entry["baseline"]
        table.add_row(model, "naive (torch 1x1)", "1", f"{b['ms_p50']:.2f}", f"{b['ms_p90']:.2f}",
                      f"{b['items_per_s']:.1f}", "1.00")
        for name, info in entry["backends"].items():
            if "skipped" in info:
                skipped.append(f"{model}/{name}: {info['skipped']}")
                continue
            for row in info["rows"]:
                table.add_row(model, name, str(row["batch"]), f"{row['ms_p50']:.2f}", f"{row['ms_p90']:.2f}",
                              f"{row['items_per_s']:.1f}", f"{row['x_naive']:.2f}")
    console.print(table)
    for line in skipped:
        console.print(f"not measured: {escape(line)}")


def write_result(result: dict[str, Any], out_dir: Path, prefix: str = "engines_offline") -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{prefix}_{result['device']['slug']}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def run_live(settings: Settings, streams: list[int], seconds: float) -> dict[str, Any]:
    """The live-streams bench from ``framesentry.lab.live_bench``."""
    from framesentry.lab import live_bench

    result: dict[str, Any] = live_bench.run_live_bench(settings, streams, seconds)
    return result


def bench(
    batch_sizes: Annotated[str, typer.Option(help="Comma-separated batch sizes.")] = DEFAULT_BATCHES,
    model: Annotated[str, typer.Option(help="visual, audio, a comma list, or all.")] = "all",
    backend: Annotated[str, typer.Option(help="Backends to measure (comma list) or all available.")] = "all",
    repeats: Annotated[int, typer.Option(min=2, help="Most timed repeats per batch size (fewer for big ones).")] = 5,
    baseline_items: Annotated[int, typer.Option(min=4, help="Items timed one by one for the naive baseline.")] = 32,
    out_dir: Annotated[Path, typer.Option(help="Where the JSON goes.")] = RESULTS_DIR,
    offline: Annotated[bool, typer.Option(help="Run the offline engine bench.")] = True,
    live: Annotated[bool, typer.Option(help="Also run the live-streams bench (framesentry.lab.live_bench).")] = False,
    streams: Annotated[str, typer.Option(help="Stream counts for --live.")] = "1,2,4",
    seconds: Annotated[float, typer.Option(help="Seconds per live run.")] = 10.0,
) -> None:
    """Measure images/s and ms per batch of every available backend, beside a naive one-by-one baseline."""
    from framesentry.cli.engines import model_names
    from framesentry.inference.detectors import configure_torch

    settings = get_settings()
    configure_torch(settings)
    if offline:
        chosen = None if backend == "all" else [b.strip() for b in backend.split(",") if b.strip()]
        result = run_offline(settings, int_list(batch_sizes, "--batch-sizes"), model_names(model), chosen,
                             repeats, baseline_items)
        print_offline(result)
        console.print(f"wrote {write_result(result, out_dir)}")
    if live:
        live_result = run_live(settings, int_list(streams, "--streams"), seconds)
        console.print_json(json.dumps(live_result, default=str))
