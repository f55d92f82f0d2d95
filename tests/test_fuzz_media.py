"""The media fuzz harness: its seeds decode, a short atheris run finds nothing, kept crashing inputs stay fixed.

The short run is what CI affords (~25 s on 2 cores); ``python -m benchmarks.fuzz_media --seconds 600`` is the
long one. Crashing inputs it keeps live in tests/fuzz_crashes/ and are replayed here one by one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from framesentry.lab.fuzz_media import check_input, fuzz_settings, write_seeds

REPO = Path(__file__).resolve().parent.parent
CRASHES = REPO / "tests" / "fuzz_crashes"
KEPT = sorted(p for p in CRASHES.glob("*") if p.name != "README.md")


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_seeds(tmp_path_factory.mktemp("seeds"))


def test_every_seed_decodes_and_its_broken_copies_are_refused_cleanly(seeds: list[Path], tmp_path: Path) -> None:
    """The harness really decodes (the seeds are fine) and tells garbage apart with a typed error."""
    settings = fuzz_settings(tmp_path)
    target = tmp_path / "input"
    assert len(seeds) >= 5
    for seed in seeds:
        data = seed.read_bytes()
        assert check_input(data, target, settings) == "ok", seed.name
        assert check_input(data[: len(data) // 3], target, settings) != "ok", seed.name  # cut: refused
    assert check_input(b"", target, settings) == "empty_file"
    assert check_input(b"not a video, just text\n" * 10, target, settings) == "not_media"


@pytest.mark.parametrize("path", KEPT, ids=[p.name for p in KEPT])
def test_kept_crashing_input_is_now_refused_cleanly(path: Path, tmp_path: Path) -> None:
    outcome = check_input(path.read_bytes(), tmp_path / "input", fuzz_settings(tmp_path))
    assert outcome  # "ok" or the error code: anything else would have raised


def test_a_short_fuzz_run_finds_nothing(tmp_path: Path) -> None:
    """A fixed seed and run count, so CI replays the same inputs every time (a regression run); finding new
    inputs is the long random run's job (``python -m benchmarks.fuzz_media --seconds 600``)."""
    crashes = tmp_path / "crashes"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.fuzz_media", "--seconds", "60", "--runs", "5000", "--seed", "1",
         "--crashes", str(crashes), "--corpus", str(tmp_path / "corpus")],
        cwd=REPO, capture_output=True, text=True, timeout=180, env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )
    found = sorted(p.name for p in crashes.glob("*"))
    assert done.returncode == 0 and not found, f"{found}\n{done.stderr[-4000:]}"
    assert "Done " in done.stderr and "stat::number_of_executed_units" in done.stderr
    runs = int(done.stderr.split("stat::number_of_executed_units:")[1].split()[0])
    assert runs >= 200, runs  # it really fuzzed, not just started
