"""The one backend interface: load, warm up, run a batch, describe; plus how a backend builds its engine.

A backend class is registered by its ``name`` (see ``registry``). Backends that run an ahead-of-time built
artefact (ONNX file, TensorRT plan) set ``needs_engine`` and implement ``build``; ``select`` only ever loads
what ``build`` wrote and a manifest vouches for.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from framesentry.engines.spec import ModelSpec
from framesentry.errors import ModelError
from framesentry.obs.metrics import timed_batch


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run on this machine now, and if not, why (shown by `engines list`, /v1/system)."""

    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class RunOptions:
    """Runtime knobs every backend reads: device preference and CPU threads (0 = library default)."""

    device: str = "auto"
    threads: int = 0


@dataclass
class BuildResult:
    """What ``build`` wrote, for the manifest: file names inside the engine folder and backend facts."""

    engine_file: str
    precision: str
    opset: int
    device: str
    compute_capability: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(ABC):
    """A loaded model on one runtime. ``run`` takes a float32 batch ``[N, *item_shape]`` (numpy or a torch
    tensor) and returns float32 outputs ``[N, ...]`` as numpy."""

    name: ClassVar[str]
    needs_engine: ClassVar[bool] = True
    auto_priority: ClassVar[int] = 0
    """Higher is tried first by ``auto`` (tensorrt > onnx > torch)."""
    precision: ClassVar[str] = "fp32"

    def __init__(self, spec: ModelSpec, max_batch: int) -> None:
        self.spec = spec
        self.max_batch = max_batch
        self.choice: Any = None
        """The ``select.Choice`` that picked this backend (set by ``select.open_engine``)."""

    # --- class level: can it run here, what version, how to build --------------------------------------------
    @classmethod
    @abstractmethod
    def availability(cls, options: RunOptions) -> Availability:
        """Importable and its device present, decided without initialising CUDA."""

    @classmethod
    @abstractmethod
    def version(cls) -> str:
        """The runtime library's version (recorded in manifests; a different one makes an engine stale)."""

    @classmethod
    def runtime_facts(cls, options: RunOptions) -> dict[str, Any]:
        """Where it would run (device, providers), known without loading a model or initialising CUDA."""
        return {}

    @classmethod
    def device_key(cls, options: RunOptions) -> tuple[str, str | None]:
        """(device, compute capability) an engine of this backend is tied to; portable engines say ``any``."""
        return "any", None

    @classmethod
    def build(cls, spec: ModelSpec, folder: Path, max_batch: int, options: RunOptions) -> BuildResult:
        """Export/compile ``spec`` into ``folder``. Only backends with ``needs_engine`` implement it."""
        raise ModelError(f"backend {cls.name} runs the model directly and has nothing to build")

    @classmethod
    @abstractmethod
    def load(cls, spec: ModelSpec, folder: Path | None, max_batch: int, options: RunOptions) -> Backend:
        """Open the engine in ``folder`` (``None`` for backends without one)."""

    # --- instance level ----------------------------------------------------------------------------------------
    @abstractmethod
    def run(self, batch: Any) -> NDArray[np.float32]:
        """Raw network outputs for one batch of at most ``max_batch`` items."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Backend, version, device/providers, precision: what /v1/system and the bench report."""

    def warmup(self, batch_sizes: tuple[int, ...] = (1,)) -> None:
        """Run zero batches once per size so first-request latency excludes lazy allocation/kernel selection."""
        for n in batch_sizes:
            self.run(np.zeros((min(n, self.max_batch), *self.spec.identity.item_shape), dtype=np.float32))

    def timed_run(self, batch: Any) -> NDArray[np.float32]:
        """``run``, its wall time observed as one model batch in the metrics (labelled by model name)."""
        with timed_batch(self.spec.name, int(batch.shape[0])):
            return self.run(batch)

    def run_chunked(self, batch: Any, chunk: int | None = None) -> NDArray[np.float32]:
        """``run`` over a batch of any size, ``min(chunk, max_batch)`` items at a time."""
        step = max(1, min(chunk or self.max_batch, self.max_batch))
        n = int(batch.shape[0])
        if n == 0:
            return np.zeros((0,), dtype=np.float32)
        parts = [self.timed_run(batch[i : i + step]) for i in range(0, n, step)]
        return np.concatenate(parts, axis=0)
