"""``/v1/system``: which engine backend runs each model and why, the backends this machine has, and the machine.

The choice is computed by ``engines.select.plan``, the same rule the detectors apply when they load, so the
report is what a worker with these settings runs. Nothing is loaded or built, and CUDA is only queried for
presence (no context is created in the API process).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from framesentry.api.deps import OwnerDep, ServicesDep
from framesentry.api.errors import error_responses
from framesentry.api.services import Services
from framesentry.errors import FrameSentryError

router = APIRouter(tags=["system"])


class MachineInfo(BaseModel):
    cpu_count: int = Field(description="CPUs this process may use.")
    torch_threads: int = Field(description="Intra-op threads PyTorch uses.")
    cuda_available: bool = Field(description="A CUDA device is visible (checked without initialising CUDA).")
    cuda_device_count: int
    platform: str
    processor: str
    python: str
    torch: str


class EngineFile(BaseModel):
    """The built engine a model uses (absent for PyTorch eager)."""

    path: str | None
    precision: str
    built_at: str
    device: str = Field(description="'any' for portable engines (ONNX), else the GPU it was built for.")
    compute_capability: str | None
    max_batch: int
    parity_max_abs_diff: float | None = Field(description="Largest |engine - PyTorch| logit difference at build.")


class ModelEngine(BaseModel):
    model: str = Field(description="'visual' or 'audio'.")
    version: str = Field(description="Model version (weights hash), as in analysis results.")
    backend: str | None = Field(description="Backend that runs its forward pass; null when refused (see error).")
    reason: str = Field(description="Why this backend: 'configured' or the auto rule.")
    skipped: dict[str, str] = Field(default_factory=dict, description="Faster backends passed over, and why.")
    description: dict[str, Any] = Field(default_factory=dict, description="Backend version, device, providers.")
    engine: EngineFile | None = None
    error: str | None = Field(None, description="Why the configured backend cannot run this model.")


class BackendInfo(BaseModel):
    name: str
    available: bool
    reason: str = Field(description="Why it cannot run here (empty when available).")
    version: str | None
    needs_engine: bool = Field(description="Runs an ahead-of-time built engine (`framesentry engines build`).")


class SystemInfo(BaseModel):
    """Paths, versions and the machine are shown to admin keys only (null / empty for other callers)."""

    engine_backend: str = Field(description="The engine_backend setting ('auto' or a backend name).")
    engine_device: str
    engines_dir: str | None
    models: list[ModelEngine]
    backends: list[BackendInfo]
    machine: MachineInfo | None


def _backends(options: Any) -> list[BackendInfo]:
    from framesentry.engines import registry

    out = []
    for name in registry.names():
        cls = registry.get(name)
        available = cls.availability(options)
        out.append(BackendInfo(name=name, available=available.ok, reason=available.reason,
                               version=cls.version() if available.ok else None, needs_engine=cls.needs_engine))
    return out


def _model(identity: Any, settings: Any) -> ModelEngine:
    from framesentry.engines.select import plan

    try:
        chosen = plan(identity, settings)
    except FrameSentryError as exc:
        return ModelEngine(model=identity.name, version=identity.version, backend=None, reason="refused",
                           error=exc.message)
    engine = EngineFile(**chosen["engine"]) if chosen["engine"] else None
    return ModelEngine(model=identity.name, version=identity.version, backend=chosen["backend"],
                       reason=chosen["reason"], skipped=chosen["skipped"], description=chosen["description"],
                       engine=engine)


def _redacted(info: SystemInfo) -> SystemInfo:
    """What a non-admin caller sees: the choices and reasons, no file paths, versions or machine details."""
    models = [m.model_copy(update={"description": {}, "engine": m.engine and m.engine.model_copy(
        update={"path": None})}) for m in info.models]
    backends = [b.model_copy(update={"version": None}) for b in info.backends]
    return info.model_copy(update={"engines_dir": None, "machine": None, "models": models, "backends": backends})


@router.get("/system", response_model=SystemInfo, summary="Engine backends, models and machine",
            responses=error_responses(401, 429))
def system(services: ServicesDep, caller: OwnerDep) -> SystemInfo:
    """The backend chosen for each model (with the reasons), every registered backend, and the machine (the
    paths, versions and machine only for admin keys)."""
    info = _report(services)
    return info if caller.is_admin else _redacted(info)


def _report(services: Services) -> SystemInfo:
    from framesentry.engines.device import describe_machine
    from framesentry.engines.select import run_options
    from framesentry.inference.detectors import model_identities

    settings = services.settings
    return SystemInfo(
        engine_backend=settings.engine_backend,
        engine_device=settings.engine_device,
        engines_dir=str(settings.engines_path),
        models=[_model(identity, settings) for identity in model_identities(settings)],
        backends=_backends(run_options(settings)),
        machine=MachineInfo(**describe_machine()),
    )
