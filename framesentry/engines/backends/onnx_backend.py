"""ONNX Runtime: the exported graph on the CUDA execution provider when present, else the CPU one.

The ``.onnx`` file is portable (manifest device ``any``); the provider is picked when the session opens and
reported by ``describe``. Intra-op threads do not spin: on a small shared machine a spinning pool steals
the cores that decode and the other model need.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from framesentry.engines.base import Availability, Backend, BuildResult, RunOptions
from framesentry.engines.device import wants_cuda
from framesentry.engines.export import OPSET, export_onnx
from framesentry.engines.spec import ModelSpec
from framesentry.errors import ModelError

ENGINE_FILE = "model.onnx"
CUDA_EP = "CUDAExecutionProvider"
CPU_EP = "CPUExecutionProvider"


def providers_for(device: str) -> list[str]:
    """Execution providers in preference order for the ``engine_device`` setting and this onnxruntime build."""
    import onnxruntime as ort

    have = ort.get_available_providers()
    if wants_cuda(device) and CUDA_EP in have:
        return [CUDA_EP, CPU_EP]
    if device == "cuda":
        raise ModelError(
            f"engine_device is 'cuda' but onnxruntime {ort.__version__} offers only {have} "
            "(the CUDA provider comes with the onnxruntime-gpu package)"
        )
    return [CPU_EP]


class OnnxBackend(Backend):
    name: ClassVar[str] = "onnx"
    auto_priority: ClassVar[int] = 10

    def __init__(self, spec: ModelSpec, max_batch: int, session: Any, path: Path) -> None:
        super().__init__(spec, max_batch)
        self.session = session
        self.path = path

    @classmethod
    def availability(cls, options: RunOptions) -> Availability:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return Availability(False, "onnxruntime is not installed")
        return Availability(True)

    @classmethod
    def version(cls) -> str:
        import onnxruntime as ort

        return str(ort.__version__)

    @classmethod
    def runtime_facts(cls, options: RunOptions) -> dict[str, Any]:
        import onnxruntime as ort

        try:
            providers = providers_for(options.device)
        except ModelError as exc:
            return {"available_providers": ort.get_available_providers(), "error": exc.message}
        return {"device": "cuda" if CUDA_EP in providers else "cpu", "providers": providers,
                "available_providers": ort.get_available_providers()}

    @classmethod
    def build(cls, spec: ModelSpec, folder: Path, max_batch: int, options: RunOptions) -> BuildResult:
        tmp = folder / (ENGINE_FILE + ".partial")
        export_onnx(spec, tmp, target=cls.name)
        shutil.move(tmp, folder / ENGINE_FILE)
        return BuildResult(engine_file=ENGINE_FILE, precision=cls.precision, opset=OPSET, device="any")

    @classmethod
    def load(cls, spec: ModelSpec, folder: Path | None, max_batch: int, options: RunOptions) -> OnnxBackend:
        import onnxruntime as ort

        if folder is None:
            raise ModelError("the onnx backend needs a built engine folder")
        path = folder / ENGINE_FILE
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if options.threads:
            so.intra_op_num_threads = options.threads
        try:
            session = ort.InferenceSession(str(path), sess_options=so, providers=providers_for(options.device))
        except Exception as exc:  # onnxruntime raises its own untyped exceptions (Fail, InvalidGraph, ...)
            raise ModelError(f"onnxruntime cannot open {path}: {exc}", path=str(path)) from exc
        return cls(spec, max_batch, session, path)

    def run(self, batch: Any) -> NDArray[np.float32]:
        if not isinstance(batch, np.ndarray):
            batch = batch.detach().cpu().numpy()  # a torch tensor
        x = np.ascontiguousarray(batch, dtype=np.float32)
        (out,) = self.session.run([self.spec.identity.output_name], {self.spec.identity.input_name: x})
        return np.asarray(out, dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        opts = self.session.get_session_options()
        providers = list(self.session.get_providers())
        return {
            "backend": self.name,
            "version": self.version(),
            "device": "cuda" if CUDA_EP in providers else "cpu",
            "providers": providers,
            "precision": self.precision,
            "threads": int(opts.intra_op_num_threads),
            "max_batch": self.max_batch,
            "engine": str(self.path),
        }


BACKEND = OnnxBackend
