"""What this machine offers to backends, found without initialising CUDA (safe before a fork, cheap in a request).

``torch.cuda.is_available()`` and ``device_count()`` query the driver without creating a CUDA context;
device names and compute capability need the context, so they are read only where a GPU backend is built
or loaded (``cuda_properties``).
"""

from __future__ import annotations

import os
import platform
from typing import Any


def cpu_count() -> int:
    """CPUs this process may use (affinity-aware), the number that matters for thread pools."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cuda_available() -> bool:
    """True when torch sees a CUDA device; does not create a CUDA context."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def cuda_device_count() -> int:
    if not cuda_available():
        return 0
    import torch

    return int(torch.cuda.device_count())


def wants_cuda(device: str) -> bool:
    """Resolve the ``engine_device`` setting: ``cuda`` and ``auto``-with-a-GPU mean CUDA."""
    return device == "cuda" or (device == "auto" and cuda_available())


def cuda_properties(index: int = 0) -> dict[str, Any]:
    """Name, compute capability and memory of one GPU (initialises CUDA: call only where a GPU is used)."""
    import torch

    props = torch.cuda.get_device_properties(index)
    return {
        "name": str(props.name),
        "compute_capability": f"{props.major}.{props.minor}",
        "memory_gib": round(props.total_memory / 1024**3, 1),
    }


def machine_slug() -> str:
    """Short device name for result files: ``cpu-x86_64-2c`` or ``cuda-nvidia-h200``."""
    if cuda_available():
        name = cuda_properties()["name"].lower()
        return "cuda-" + "-".join("".join(ch if ch.isalnum() else " " for ch in name).split())
    return f"cpu-{platform.machine() or 'unknown'}-{cpu_count()}c"


def describe_machine() -> dict[str, Any]:
    """CPU count, torch threads, CUDA presence (no context created), platform."""
    import torch

    return {
        "cpu_count": cpu_count(),
        "torch_threads": int(torch.get_num_threads()),
        "cuda_available": cuda_available(),
        "cuda_device_count": cuda_device_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": str(torch.__version__),
    }
