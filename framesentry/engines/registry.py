"""Backends by name. Each lives in one file ``backends/<name>_backend.py`` exposing ``BACKEND``; adding a
backend is adding that file. Modules are imported on first lookup and keep their heavy imports inside
functions, so listing backends never imports onnxruntime or tensorrt."""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from framesentry.engines.base import Backend
from framesentry.errors import ConfigError

SUFFIX = "_backend"
PACKAGE = "framesentry.engines.backends"


@lru_cache(maxsize=1)
def _modules() -> dict[str, str]:
    """Backend name -> module path, from the file names in ``backends/``."""
    package = importlib.import_module(PACKAGE)
    return {
        info.name.removesuffix(SUFFIX): f"{PACKAGE}.{info.name}"
        for info in pkgutil.iter_modules(package.__path__)
        if info.name.endswith(SUFFIX)
    }


def names() -> list[str]:
    """Registered backend names, in ``auto`` order (highest priority first)."""
    return sorted(_modules(), key=lambda n: (-get(n).auto_priority, n))


def get(name: str) -> type[Backend]:
    """The backend class registered as ``name``; ``ConfigError`` naming the known ones otherwise."""
    modules = _modules()
    if name not in modules:
        raise ConfigError(f"unknown engine backend {name!r}; known: {', '.join(sorted(modules))}", backend=name)
    cls: type[Backend] = importlib.import_module(modules[name]).BACKEND
    if cls.name != name:
        raise ConfigError(f"backend module {modules[name]} registers {cls.name!r}, expected {name!r}")
    return cls
