"""ONNX Runtime agrees with PyTorch eager on real inputs for both committed models, and the graphs that
TensorRT would compile (FP16, conv-DFT audio frontend) agree within the FP16 tolerance when run by ONNX
Runtime on the CPU. Inputs: dfdc-faces test crops (real and fake) and LibriSpeech test-other speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from framesentry.config import Settings
from framesentry.engines.base import RunOptions
from framesentry.engines.build import build_engine
from framesentry.engines.export import FP16_TOL, FP32_TOL, export_onnx, parity, torch_reference
from framesentry.engines.spec import ModelSpec
from framesentry.inference.audio.detector import AudioDetector
from framesentry.inference.visual.model import VisualDetector, preprocess

SHARED = Settings()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("parity-engines")


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    """24 uint8 crops: 12 real + 12 fake from the dfdc-faces test split."""
    from framesentry.lab.samples import load_rgb, shared_face_paths

    paths = shared_face_paths(SHARED, "real", n=12, offset=20) + shared_face_paths(SHARED, "fake", n=12, offset=20)
    return np.stack([load_rgb(p) for p in paths])


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    """Eight 64,600-sample windows of held-out real speech (LibriSpeech test-other), hop 1 s."""
    from framesentry.lab.samples import speech_from_librispeech

    speech = speech_from_librispeech(SHARED, 12.0, subset="test-other")
    return np.stack([speech[i * 16000 : i * 16000 + 64600] for i in range(8)]).astype(np.float32)


def ort_run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"input": x})[0])


def engine_settings(root: Path) -> Settings:
    return Settings(work_dir=root / "work", engines_dir=root, engine_backend="onnx", engine_device="cpu")


def build(spec: ModelSpec, root: Path, x: np.ndarray) -> None:
    build_engine(spec, "onnx", root, x, max_batch=64, options=RunOptions(device="cpu"))


def test_visual_onnx_matches_torch_on_real_faces(faces: np.ndarray, root: Path) -> None:
    """Logits within |d| <= 1e-4 + 1e-4|x|, calibrated p_fake within 1e-5, through VisualDetector itself."""
    ref = VisualDetector.from_dir(SHARED.models_dir / "visual")
    x = np.ascontiguousarray(preprocess(faces, ref.input_size).numpy())
    build(ref.engine_spec(), root, x[:4])
    det = VisualDetector.load(engine_settings(root))
    assert det.engine is not None and det.engine.describe()["backend"] == "onnx"
    got, want = det.logits(faces), ref.logits(faces)
    check = parity(want, got, FP32_TOL)
    assert check["passed"], check
    assert np.abs(want).max() > 1.0  # real crops give non-trivial logits, so the comparison means something
    np.testing.assert_allclose(det.predict(faces), ref.predict(faces), atol=1e-5)


def test_audio_onnx_matches_torch_on_real_speech(windows: np.ndarray, root: Path) -> None:
    """The spectral CNN exported with its conv-DFT spectrogram twin agrees with the torch.stft eager model."""
    ref = AudioDetector.load(SHARED.model_copy(update={"engine_backend": "torch"}))
    build(ref.engine_spec(), root, windows[:2])
    det = AudioDetector.load(engine_settings(root))
    assert det.engine is not None and det.engine.describe()["backend"] == "onnx"
    check = parity(ref.cnn_logits(windows), det.cnn_logits(windows), FP32_TOL)
    assert check["passed"], check
    np.testing.assert_allclose(det.predict(windows), ref.predict(windows), atol=1e-5)


@pytest.mark.parametrize("model", ["visual", "audio"])
def test_tensorrt_graphs_match_torch_within_fp16_tolerance(
    model: str, faces: np.ndarray, windows: np.ndarray, tmp_path: Path
) -> None:
    """The exact ONNX graph the TensorRT build parses (strongly typed FP16; conv-DFT spectrogram in float32
    for audio) run by ONNX Runtime: within the FP16 tolerance, and its float32 twin within FP32's."""
    if model == "visual":
        det = VisualDetector.from_dir(SHARED.models_dir / "visual")
        x = np.ascontiguousarray(preprocess(faces[:8], det.input_size).numpy())
        spec = det.engine_spec()
    else:
        audio = AudioDetector.load(SHARED.model_copy(update={"engine_backend": "torch"}))
        x, spec = windows, audio.engine_spec()
    want = torch_reference(spec, x)
    fp16 = parity(want, ort_run(export_onnx(spec, tmp_path / "fp16.onnx", "tensorrt", "fp16"), x), FP16_TOL)
    fp32 = parity(want, ort_run(export_onnx(spec, tmp_path / "fp32.onnx", "tensorrt", "fp32"), x), FP32_TOL)
    assert fp16["passed"] and fp32["passed"], (fp16, fp32)
    assert fp16["max_abs_diff"] > fp32["max_abs_diff"]  # the FP16 graph really runs in half precision
    import onnx

    types = {t.data_type for t in onnx.load(str(tmp_path / "fp16.onnx")).graph.initializer}
    assert onnx.TensorProto.FLOAT16 in types
