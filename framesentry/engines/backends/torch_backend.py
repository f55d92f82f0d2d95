"""PyTorch eager: the model's own module, nothing to build. The fallback of ``auto`` and the parity reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from framesentry.engines.base import Availability, Backend, RunOptions
from framesentry.engines.device import wants_cuda
from framesentry.engines.spec import ModelSpec


class TorchBackend(Backend):
    name: ClassVar[str] = "torch"
    needs_engine: ClassVar[bool] = False
    auto_priority: ClassVar[int] = 0

    def __init__(self, spec: ModelSpec, max_batch: int, device: str) -> None:
        super().__init__(spec, max_batch)
        self.device = device
        self.module = spec.module.eval().to(device)

    @classmethod
    def availability(cls, options: RunOptions) -> Availability:
        try:
            import torch  # noqa: F401
        except ImportError:
            return Availability(False, "torch is not installed")
        return Availability(True)

    @classmethod
    def version(cls) -> str:
        import torch

        return str(torch.__version__)

    @classmethod
    def runtime_facts(cls, options: RunOptions) -> dict[str, Any]:
        import torch

        return {"device": "cuda" if wants_cuda(options.device) else "cpu", "threads": int(torch.get_num_threads())}

    @classmethod
    def load(cls, spec: ModelSpec, folder: Path | None, max_batch: int, options: RunOptions) -> TorchBackend:
        return cls(spec, max_batch, "cuda" if wants_cuda(options.device) else "cpu")

    def run(self, batch: Any) -> NDArray[np.float32]:
        import torch

        x = batch if isinstance(batch, torch.Tensor) else torch.from_numpy(np.asarray(batch, dtype=np.float32))
        with torch.inference_mode():
            out = self.module(x.to(self.device, non_blocking=True))
        return np.asarray(out.float().cpu().numpy(), dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        import torch

        return {
            "backend": self.name,
            "version": self.version(),
            "device": self.device,
            "precision": self.precision,
            "threads": int(torch.get_num_threads()),
            "max_batch": self.max_batch,
        }


BACKEND = TorchBackend
