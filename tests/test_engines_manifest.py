"""Engines without a GPU: the registry, ahead-of-time builds and their manifests, refusal of stale engines,
and what ``auto`` picks. A real ONNX engine of the committed visual model is built once into a temp folder;
each test copies it so tampering stays local."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from framesentry.config import Settings
from framesentry.digest import sha256_file
from framesentry.engines import manifest as mf
from framesentry.engines import registry
from framesentry.engines.backends.tensorrt_backend import TensorRTBackend
from framesentry.engines.base import Availability, RunOptions
from framesentry.engines.build import build_engine, list_engines
from framesentry.engines.select import choose, open_engine, plan
from framesentry.errors import ConfigError, ModelError, StaleEngineError
from framesentry.inference.visual.model import VisualDetector, preprocess


@pytest.fixture(scope="module")
def detector() -> VisualDetector:
    return VisualDetector.from_dir(Settings().models_dir / "visual")


@pytest.fixture(scope="module")
def sample(detector: VisualDetector) -> np.ndarray:
    """Four real face crops (dfdc-faces test split) after the model's preprocess."""
    from framesentry.lab.samples import load_rgb, shared_face_paths

    crops = np.stack([load_rgb(p) for p in shared_face_paths(Settings(), "real", n=4)])
    return np.ascontiguousarray(preprocess(crops, detector.input_size).numpy())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, detector: VisualDetector, sample: np.ndarray) -> Path:
    root = tmp_path_factory.mktemp("engines")
    build_engine(detector.engine_spec(), "onnx", root, sample, max_batch=64, options=RunOptions())
    return root


@pytest.fixture
def root(built: Path, tmp_path: Path) -> Path:
    """A private copy of the built engines folder."""
    shutil.copytree(built, tmp_path / "engines")
    return tmp_path / "engines"


def settings_for(root: Path, backend: str = "auto") -> Settings:
    return Settings(work_dir=root.parent / "work", engines_dir=root, engine_backend=backend, engine_device="cpu")


def edit_manifest(root: Path, **changes: object) -> None:
    path = root / "visual" / "onnx" / mf.MANIFEST_NAME
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_registry_finds_backends_by_file_in_auto_order() -> None:
    """Backends come from backends/<name>_backend.py; auto tries tensorrt, then onnx, then torch."""
    assert registry.names() == ["tensorrt", "onnx", "torch"]
    assert registry.get("onnx").name == "onnx"
    with pytest.raises(ConfigError, match="unknown engine backend 'nope'; known: onnx, tensorrt, torch"):
        registry.get("nope")


def test_listing_backends_imports_no_runtime() -> None:
    """Importing the engines package and listing backends loads neither onnxruntime, tensorrt nor torch."""
    code = (
        "import sys; from framesentry.engines import registry, select, build, batcher; registry.names(); "
        "print(sorted(m for m in ('onnxruntime', 'tensorrt', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_manifest_records_what_the_engine_was_built_from(built: Path, detector: VisualDetector) -> None:
    """The manifest has model sha256, shapes, precision, backend + version, device, file hash and parity."""
    m = mf.read(built / "visual" / "onnx")
    assert m is not None
    import onnxruntime

    assert (m.model, m.model_sha256, m.item_shape) == ("visual", detector.weights_sha256, [3, 128, 128])
    assert (m.backend, m.backend_version, m.precision, m.opset, m.device) == (
        "onnx", onnxruntime.__version__, "fp32", 17, "any"
    )
    assert m.max_batch == 64 and m.engine_sha256 == sha256_file(built / "visual" / "onnx" / m.engine_file)
    assert m.parity is not None and m.parity.passed and m.parity.items == 4 and m.parity.max_abs_diff < 1e-4
    assert not (built / "visual" / "onnx.building").exists()


def test_auto_uses_a_valid_built_engine_and_falls_back_to_torch(root: Path, detector: VisualDetector) -> None:
    """auto: onnx when built and valid; torch (saying why) when nothing is built. It never builds."""
    choice = choose(detector.identity, settings_for(root))
    assert choice.backend == "onnx" and "not installed" in choice.skipped["tensorrt"]
    empty = root.parent / "empty"
    choice = choose(detector.identity, settings_for(empty))
    assert choice.backend == "torch" and choice.skipped["onnx"] == "not built"
    assert not empty.exists()


def test_explicit_backend_without_engine_says_how_to_build(tmp_path: Path, detector: VisualDetector) -> None:
    with pytest.raises(ModelError, match=r"framesentry engines build --model visual --backend onnx"):
        choose(detector.identity, settings_for(tmp_path / "none", "onnx"))


def test_explicit_tensorrt_without_it_is_a_clear_error(root: Path, detector: VisualDetector) -> None:
    with pytest.raises(ModelError, match="'tensorrt' but it cannot run here"):
        choose(detector.identity, settings_for(root, "tensorrt"))


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"model_sha256": "0" * 64}, "built from other weights"),
        ({"backend_version": "0.0.1"}, "built with onnx 0.0.1"),
        ({"item_shape": [3, 224, 224]}, "input shape"),
    ],
)
def test_stale_engine_is_refused_never_used(root: Path, detector: VisualDetector, change: dict, why: str) -> None:
    """Explicit: StaleEngineError naming the problem and the --force rebuild. auto: skipped, torch runs."""
    edit_manifest(root, **change)
    with pytest.raises(StaleEngineError, match=why) as info:
        choose(detector.identity, settings_for(root, "onnx"))
    assert "--force" in info.value.message
    choice = choose(detector.identity, settings_for(root))
    assert choice.backend == "torch" and why in choice.skipped["onnx"]


def test_changed_engine_file_or_broken_manifest_is_stale(root: Path, detector: VisualDetector) -> None:
    folder = root / "visual" / "onnx"
    with (folder / "model.onnx").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(StaleEngineError, match="changed after the build"):
        choose(detector.identity, settings_for(root, "onnx"))
    (folder / mf.MANIFEST_NAME).write_text("{not json")
    with pytest.raises(StaleEngineError, match="unreadable"):
        choose(detector.identity, settings_for(root, "onnx"))
    assert choose(detector.identity, settings_for(root)).backend == "torch"


def test_build_keeps_valid_refuses_stale_and_rebuilds_with_force(
    root: Path, detector: VisualDetector, sample: np.ndarray
) -> None:
    spec, opts = detector.engine_spec(), RunOptions(device="cpu")
    kept = build_engine(spec, "onnx", root, sample, max_batch=64, options=opts)
    assert not kept.rebuilt
    edit_manifest(root, model_sha256="f" * 64)
    with pytest.raises(StaleEngineError, match="--force"):
        build_engine(spec, "onnx", root, sample, max_batch=64, options=opts)
    rebuilt = build_engine(spec, "onnx", root, sample, max_batch=32, options=opts, force=True)
    assert rebuilt.rebuilt and rebuilt.manifest.model_sha256 == detector.weights_sha256
    assert choose(detector.identity, settings_for(root, "onnx")).manifest.max_batch == 32  # type: ignore[union-attr]
    with pytest.raises(ModelError, match="nothing to build"):
        build_engine(spec, "torch", root, sample, max_batch=8, options=opts)


def test_list_engines_shows_built_valid_and_problems(root: Path, detector: VisualDetector) -> None:
    rows = {(r.model, r.backend): r for r in list_engines(root, [detector.identity], RunOptions(device="cpu"))}
    assert rows[("visual", "onnx")].built and rows[("visual", "onnx")].valid
    assert not rows[("visual", "tensorrt")].built
    edit_manifest(root, backend_version="0.0.1")
    row = list_engines(root, [detector.identity], RunOptions(device="cpu"))[1]
    assert row.backend == "onnx" and row.built and not row.valid and "0.0.1" in row.problems[0]


def test_device_specific_engine_must_match_gpu(detector: VisualDetector, root: Path) -> None:
    """A TensorRT plan built for another GPU / compute capability is stale (checked by manifest.problems)."""
    m = mf.read(root / "visual" / "onnx")
    assert m is not None
    trt = m.model_copy(update={"backend": "tensorrt", "backend_version": "11.4.0", "device": "NVIDIA H100",
                               "compute_capability": "9.0"})
    ok = dict(backend_version="11.4.0", folder=root / "visual" / "onnx")
    assert mf.problems(trt, detector.identity, device="NVIDIA H100", compute_capability="9.0", **ok) == []
    found = mf.problems(trt, detector.identity, device="NVIDIA L4", compute_capability="8.9", **ok)
    assert found == ["built for NVIDIA H100 (compute capability 9.0), this machine has NVIDIA L4 (8.9)"]


def test_auto_prefers_tensorrt_when_built_and_runnable(
    root: Path, detector: VisualDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Selection order only: TensorRT's availability/version/device are stood in for (no GPU here); a valid
    tensorrt manifest then wins over onnx, and a plan for another GPU is skipped in favour of onnx."""
    folder = root / "visual" / "tensorrt"
    shutil.copytree(root / "visual" / "onnx", folder)
    edit = json.loads((folder / mf.MANIFEST_NAME).read_text())
    edit.update(backend="tensorrt", backend_version="11.4.0", device="GPU-X", compute_capability="9.0",
                precision="fp16")
    (folder / mf.MANIFEST_NAME).write_text(json.dumps(edit))
    monkeypatch.setattr(TensorRTBackend, "availability", classmethod(lambda cls, o: Availability(True)))
    monkeypatch.setattr(TensorRTBackend, "version", classmethod(lambda cls: "11.4.0"))
    monkeypatch.setattr(TensorRTBackend, "device_key", classmethod(lambda cls, o: ("GPU-X", "9.0")))
    assert choose(detector.identity, settings_for(root)).backend == "tensorrt"
    monkeypatch.setattr(TensorRTBackend, "device_key", classmethod(lambda cls, o: ("GPU-Y", "8.9")))
    choice = choose(detector.identity, settings_for(root))
    assert choice.backend == "onnx" and "built for GPU-X" in choice.skipped["tensorrt"]


def test_detector_runs_through_the_selected_engine(root: Path, detector: VisualDetector, sample: np.ndarray) -> None:
    """VisualDetector.load opens the onnx engine; its calibrated scores equal the PyTorch ones."""
    from framesentry.lab.samples import load_rgb, shared_face_paths

    s = settings_for(root)
    onnx_det = VisualDetector.load(s)
    assert onnx_det.engine is not None and onnx_det.engine.describe()["backend"] == "onnx"
    crops = np.stack([load_rgb(p) for p in shared_face_paths(s, "fake", n=3)])
    np.testing.assert_allclose(onnx_det.predict(crops), detector.predict(crops), atol=1e-5)
    info = plan(detector.identity, s)
    assert info["backend"] == "onnx" and info["description"]["providers"] == ["CPUExecutionProvider"]
    assert info["engine"]["max_batch"] == 64
    torch_engine = open_engine(detector.engine_spec(), settings_for(root, "torch"))
    assert torch_engine.describe()["backend"] == "torch"
