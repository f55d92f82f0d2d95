"""The engines command line, run as a user runs it: `engines build` writes a valid engine and refuses to
overwrite a stale one without --force (one clear line, exit 2), `engines list` shows state and the auto
choice, and `bench` writes its JSON; `--live` says so when the live bench module is absent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "framesentry"]


def cli(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FRAMESENTRY_WORK_DIR": str(work), "FRAMESENTRY_ENGINE_DEVICE": "cpu", "COLUMNS": "200"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)


def test_build_list_and_refuse_stale_without_force(tmp_path: Path) -> None:
    built = cli(tmp_path, "engines", "build", "--backend", "onnx", "--model", "visual", "--max-batch", "16")
    assert built.returncode == 0, built.stderr
    assert "visual: onnx" in built.stdout and "parity max |diff|" in built.stdout
    manifest = tmp_path / "engines" / "visual" / "onnx" / "manifest.json"
    data = json.loads(manifest.read_text())
    assert data["max_batch"] == 16 and data["parity"]["items"] == 8 and data["parity"]["passed"]

    manifest.write_text(json.dumps({**data, "model_sha256": "0" * 64}))
    listed = cli(tmp_path, "engines", "list")
    assert listed.returncode == 0, listed.stderr
    assert "built from other weights" in listed.stdout
    assert "visual: engine_backend=auto -> torch" in listed.stdout

    refused = cli(tmp_path, "engines", "build", "--backend", "onnx", "--model", "visual")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "stale_engine" in refused.stderr and "--force" in refused.stderr


def test_bench_writes_json_with_baseline_and_backends(tmp_path: Path) -> None:
    out = cli(tmp_path, "bench", "--model", "visual", "--backend", "torch,onnx", "--batch-sizes", "1,4",
              "--repeats", "2", "--baseline-items", "4", "--out-dir", str(tmp_path / "results"))
    assert out.returncode == 0, out.stderr
    (path,) = (tmp_path / "results").glob("engines_offline_*.json")
    result = json.loads(path.read_text())
    assert path.name == f"engines_offline_{result['device']['slug']}.json"
    visual = result["models"]["visual"]
    assert visual["baseline"]["batch"] == 1 and visual["baseline"]["items_per_s"] > 0
    assert set(visual["backends"]) == {"torch", "onnx"}
    onnx = visual["backends"]["onnx"]
    assert onnx["engine_source"].startswith("built for this run") and [r["batch"] for r in onnx["rows"]] == [1, 4]
    assert all(r["ms_p50"] > 0 and r["x_naive"] > 0 for r in onnx["rows"])
    assert not (tmp_path / "engines").exists()  # the bench never writes into engines_dir
