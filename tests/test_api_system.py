"""``GET /v1/system``: the backend chosen for each model (with reasons), the registered backends, the machine
and the model versions; documented in the OpenAPI spec. The app is the real one (no worker; the lifespan
migrates a SQLite database for the admin key's lookup)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from framesentry.api.app import create_app
from framesentry.config import Settings
from framesentry.engines.base import RunOptions
from framesentry.engines.build import build_engine
from framesentry.inference.audio.detector import AudioDetector
from framesentry.inference.visual.model import VisualDetector


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ONNX engine for the visual model only (audio left unbuilt on purpose)."""
    root = tmp_path_factory.mktemp("system-engines")
    det = VisualDetector.from_dir(Settings().models_dir / "visual")
    sample = np.random.default_rng(0).standard_normal((2, 3, 128, 128)).astype(np.float32)
    build_engine(det.engine_spec(), "onnx", root, sample, max_batch=32, options=RunOptions(device="cpu"))
    return root


def client_for(tmp_path: Path, engines: Path, backend: str = "auto") -> TestClient:
    """With an admin key: the full report (paths, versions, machine) is for admins only."""
    settings = Settings(work_dir=tmp_path, engines_dir=engines, engine_backend=backend, engine_device="cpu",
                        api_keys="ops@admin:adm", live_enabled=False)
    return TestClient(create_app(settings, run_worker=False), headers={"X-API-Key": "adm"})


def test_system_reports_choice_per_model_backends_and_machine(tmp_path: Path, engines: Path) -> None:
    import torch

    with client_for(tmp_path, engines) as client:
        body = client.get("/v1/system").json()
    models = {m["model"]: m for m in body["models"]}
    visual, audio = models["visual"], models["audio"]
    assert visual["backend"] == "onnx" and visual["reason"].startswith("auto")
    assert visual["description"]["providers"] == ["CPUExecutionProvider"]
    assert visual["engine"]["max_batch"] == 32 and visual["engine"]["device"] == "any"
    assert "not installed" in visual["skipped"]["tensorrt"]
    assert audio["backend"] == "torch" and audio["skipped"]["onnx"] == "not built" and audio["engine"] is None
    assert visual["version"] == VisualDetector.read_identity(Settings().models_dir / "visual").version
    assert audio["version"] == AudioDetector.read_identity(Settings().models_dir / "audio").version
    backends = {b["name"]: b for b in body["backends"]}
    assert backends["onnx"]["available"] and backends["onnx"]["needs_engine"]
    assert not backends["tensorrt"]["available"] and backends["tensorrt"]["version"] is None
    assert not backends["torch"]["needs_engine"]
    machine = body["machine"]
    assert machine["cpu_count"] >= 1 and machine["torch_threads"] == torch.get_num_threads()
    assert machine["cuda_available"] == torch.cuda.is_available()
    assert body["engines_dir"] == str(engines)


def test_refused_backend_is_reported_not_a_500(tmp_path: Path, engines: Path) -> None:
    """engine_backend=onnx with no audio engine: visual runs on onnx; audio is reported refused, with the fix."""
    with client_for(tmp_path, engines, "onnx") as client:
        body = client.get("/v1/system")
    assert body.status_code == 200
    models = {m["model"]: m for m in body.json()["models"]}
    assert models["visual"]["backend"] == "onnx" and models["visual"]["reason"] == "configured"
    assert models["audio"]["backend"] is None and "framesentry engines build" in models["audio"]["error"]


def test_system_is_in_the_openapi_spec(tmp_path: Path, engines: Path) -> None:
    spec = client_for(tmp_path, engines).get("/openapi.json").json()
    operation = spec["paths"]["/v1/system"]["get"]
    assert operation["tags"] == ["system"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/SystemInfo")
    assert {"SystemInfo", "ModelEngine", "MachineInfo", "BackendInfo"} <= set(spec["components"]["schemas"])
    assert "system" in {t["name"] for t in spec["tags"]}
