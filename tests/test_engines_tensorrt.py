"""TensorRT on a real GPU: FP16 build from the ONNX export with a 1..max batch profile, parity with PyTorch,
dynamic batch sizes, and refusal of a plan from another TensorRT version. Skipped, with the reason, where
the ``tensorrt`` package or a CUDA device is missing (this project's CPU machines)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from framesentry.config import Settings
from framesentry.engines import manifest as mf
from framesentry.engines.base import RunOptions
from framesentry.engines.build import build_engine
from framesentry.engines.device import cuda_available
from framesentry.engines.export import FP16_TOL, parity, torch_reference
from framesentry.engines.select import choose, open_engine
from framesentry.errors import StaleEngineError
from framesentry.inference.audio.detector import AudioDetector
from framesentry.inference.visual.model import VisualDetector, preprocess

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("tensorrt") is None,
                       reason="tensorrt is not installed (needs the NVIDIA stack: pip install '.[gpu]')"),
    pytest.mark.skipif(not cuda_available(), reason="no CUDA device visible to torch"),
]
SHARED = Settings()
MAX_BATCH = 16


def settings_for(root: Path) -> Settings:
    return Settings(work_dir=root / "work", engines_dir=root, engine_backend="tensorrt", engine_device="cuda")


def test_visual_tensorrt_fp16_build_run_and_stale(tmp_path: Path) -> None:
    from framesentry.lab.samples import load_rgb, shared_face_paths

    det = VisualDetector.from_dir(SHARED.models_dir / "visual")
    crops = np.stack([load_rgb(p) for p in shared_face_paths(SHARED, "fake", n=MAX_BATCH)])
    x = np.ascontiguousarray(preprocess(crops, det.input_size).numpy())
    out = build_engine(det.engine_spec(), "tensorrt", tmp_path, x, max_batch=MAX_BATCH, options=RunOptions("cuda"))
    m = out.manifest
    assert m.precision == "fp16" and m.compute_capability and m.parity is not None and m.parity.passed
    engine = open_engine(det.engine_spec(), settings_for(tmp_path))
    for n in (1, 7, MAX_BATCH):  # every batch size inside the profile
        assert parity(torch_reference(det.engine_spec(), x[:n]), engine.run(x[:n]), FP16_TOL)["passed"]
    path = tmp_path / "visual" / "tensorrt" / mf.MANIFEST_NAME
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "backend_version": "0.0.0"}))
    with pytest.raises(StaleEngineError, match=r"built with tensorrt 0\.0\.0"):
        choose(det.identity, settings_for(tmp_path))


def test_audio_tensorrt_fp16_matches_torch(tmp_path: Path) -> None:
    from framesentry.lab.samples import speech_from_librispeech

    det = AudioDetector.load(SHARED.model_copy(update={"engine_backend": "torch"}))
    speech = speech_from_librispeech(SHARED, 12.0, subset="test-other")
    x = np.stack([speech[i * 16000 : i * 16000 + 64600] for i in range(8)]).astype(np.float32)
    out = build_engine(det.engine_spec(), "tensorrt", tmp_path, x, max_batch=MAX_BATCH, options=RunOptions("cuda"))
    assert out.manifest.parity is not None and out.manifest.parity.passed
