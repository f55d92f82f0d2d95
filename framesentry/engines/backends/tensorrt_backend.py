"""TensorRT: an FP16 engine compiled ahead of time from the ONNX export, run with torch CUDA tensors.

Build: the model's FP16 graph (float32 I/O, sensitive parts kept float32 by the model's own export twin) is
exported to ONNX, parsed with ``tensorrt.OnnxParser`` into a strongly typed network (TensorRT 11 has only
those; 10.x gets the ``STRONGLY_TYPED`` flag, so the precision is exactly what the graph says) and compiled
with one optimisation profile covering batch 1..max. The plan is tied to the TensorRT version and the GPU's
compute capability; both go into the manifest and a mismatch makes the engine stale.

Run: inputs and outputs are torch CUDA tensors whose pointers are bound to the execution context, launched
on torch's current stream, so no pycuda is needed. One context serves one batch at a time (a lock).
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from framesentry.engines.base import Availability, Backend, BuildResult, RunOptions
from framesentry.engines.device import cuda_available, cuda_properties
from framesentry.engines.export import OPSET, export_onnx
from framesentry.engines.spec import ModelSpec
from framesentry.errors import ModelError, StaleEngineError

ENGINE_FILE = "model.plan"
ONNX_FILE = "model_fp16.onnx"
WORKSPACE_BYTES = 2 << 30


def _trt() -> Any:
    import tensorrt

    return tensorrt


def _logger() -> Any:
    trt = _trt()
    return trt.Logger(trt.Logger.WARNING)


def opt_batch(max_batch: int) -> int:
    """The batch TensorRT tunes kernels for: the batcher's usual full batch, within the profile."""
    return max(1, min(32, max_batch))


class TensorRTBackend(Backend):
    name: ClassVar[str] = "tensorrt"
    auto_priority: ClassVar[int] = 20
    precision: ClassVar[str] = "fp16"

    def __init__(self, spec: ModelSpec, max_batch: int, engine: Any, path: Path) -> None:
        super().__init__(spec, max_batch)
        self.engine = engine
        self.context = engine.create_execution_context()
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def availability(cls, options: RunOptions) -> Availability:
        if importlib.util.find_spec("tensorrt") is None:
            return Availability(False, "the tensorrt Python package is not installed (pip install '.[gpu]')")
        if options.device == "cpu":
            return Availability(False, "engine_device is 'cpu'")
        if not cuda_available():
            return Availability(False, "no CUDA device is visible to torch")
        return Availability(True)

    @classmethod
    def version(cls) -> str:
        return str(_trt().__version__)

    @classmethod
    def runtime_facts(cls, options: RunOptions) -> dict[str, Any]:
        return {"device": "cuda"}

    @classmethod
    def device_key(cls, options: RunOptions) -> tuple[str, str | None]:
        props = cuda_properties()
        return str(props["name"]), str(props["compute_capability"])

    @classmethod
    def build(cls, spec: ModelSpec, folder: Path, max_batch: int, options: RunOptions) -> BuildResult:
        trt = _trt()
        onnx_path = export_onnx(spec, folder / ONNX_FILE, target=cls.name, precision=cls.precision)
        logger = _logger()
        builder = trt.Builder(logger)
        flags = 0
        strongly_typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
        if strongly_typed is not None:
            flags |= 1 << int(strongly_typed)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(onnx_path.read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ModelError(f"TensorRT cannot parse {onnx_path.name}: {errors}", model=spec.name)
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
        profile = builder.create_optimization_profile()
        item = tuple(spec.identity.item_shape)
        profile.set_shape(
            spec.identity.input_name, min=(1, *item), opt=(opt_batch(max_batch), *item), max=(max_batch, *item)
        )
        config.add_optimization_profile(profile)
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            raise ModelError(f"TensorRT failed to build an engine for {spec.name} (see the TensorRT log above)")
        (folder / ENGINE_FILE).write_bytes(bytes(memoryview(plan)))
        device, capability = cls.device_key(options)
        return BuildResult(
            engine_file=ENGINE_FILE,
            precision=cls.precision,
            opset=OPSET,
            device=device,
            compute_capability=capability,
            extra={"onnx_file": ONNX_FILE, "opt_batch": opt_batch(max_batch), "workspace_bytes": WORKSPACE_BYTES},
        )

    @classmethod
    def load(cls, spec: ModelSpec, folder: Path | None, max_batch: int, options: RunOptions) -> TensorRTBackend:
        if folder is None:
            raise ModelError("the tensorrt backend needs a built engine folder")
        trt = _trt()
        path = folder / ENGINE_FILE
        engine = trt.Runtime(_logger()).deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            raise StaleEngineError(
                f"TensorRT {cls.version()} cannot deserialise {path}; rebuild it with "
                f"`framesentry engines build --model {spec.name} --backend tensorrt --force`",
                path=str(path),
            )
        return cls(spec, max_batch, engine, path)

    def run(self, batch: Any) -> NDArray[np.float32]:
        import torch

        ident = self.spec.identity
        if int(batch.shape[0]) > self.max_batch:
            raise ModelError(f"batch of {batch.shape[0]} exceeds the engine's profile (max {self.max_batch})")
        x = batch if isinstance(batch, torch.Tensor) else torch.from_numpy(np.asarray(batch, dtype=np.float32))
        x = x.to("cuda", dtype=torch.float32, non_blocking=True).contiguous()
        with self._lock:
            if not self.context.set_input_shape(ident.input_name, tuple(x.shape)):
                raise ModelError(f"TensorRT refused input shape {tuple(x.shape)} for {ident.name}")
            out = torch.empty(tuple(self.context.get_tensor_shape(ident.output_name)), dtype=torch.float32,
                              device="cuda")
            self.context.set_tensor_address(ident.input_name, x.data_ptr())
            self.context.set_tensor_address(ident.output_name, out.data_ptr())
            stream = torch.cuda.current_stream()
            if not self.context.execute_async_v3(stream.cuda_stream):
                raise ModelError(f"TensorRT execution failed for {ident.name}")
            stream.synchronize()
        return np.asarray(out.cpu().numpy(), dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        props = cuda_properties()
        return {
            "backend": self.name,
            "version": self.version(),
            "device": f"cuda:{props['name']}",
            "compute_capability": props["compute_capability"],
            "precision": self.precision,
            "max_batch": self.max_batch,
            "engine": str(self.path),
        }


BACKEND = TensorRTBackend
