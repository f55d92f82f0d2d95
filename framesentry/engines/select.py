"""Which backend runs a model: ``auto`` (the fastest *valid built* engine, else PyTorch) or the configured one.

Never builds. ``auto`` skips an engine that is missing, stale or whose runtime is absent, and says why
(``Choice.skipped``, shown by /v1/system); an explicitly configured backend whose engine is missing or
stale is a ``ModelError``/``StaleEngineError`` that names the build command. The same ``choose`` serves the
detectors (``open_engine``) and the reports, so what is reported is what runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framesentry.config import Settings
from framesentry.engines import manifest as mf
from framesentry.engines import registry
from framesentry.engines.base import Backend, RunOptions
from framesentry.engines.spec import ModelIdentity, ModelSpec
from framesentry.errors import ModelError, StaleEngineError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Choice:
    """The decision for one model, with the reasons the faster backends were passed over."""

    backend: str
    folder: Path | None
    manifest: mf.Manifest | None
    reason: str
    skipped: dict[str, str] = field(default_factory=dict)


def run_options(settings: Settings) -> RunOptions:
    return RunOptions(device=settings.engine_device, threads=settings.torch_threads)


def engine_problems(
    cls: type[Backend], manifest: mf.Manifest, identity: ModelIdentity, folder: Path, options: RunOptions
) -> list[str]:
    """Why the engine in ``folder`` must not run ``identity`` here (empty = usable)."""
    device, capability = ("any", None) if manifest.device == "any" else cls.device_key(options)
    return mf.problems(
        manifest, identity, backend_version=cls.version(), device=device, compute_capability=capability, folder=folder
    )


def _configured(identity: ModelIdentity, name: str, root: Path, options: RunOptions) -> Choice:
    cls = registry.get(name)
    available = cls.availability(options)
    if not available.ok:
        raise ModelError(f"engine_backend is {name!r} but it cannot run here: {available.reason}", backend=name)
    if not cls.needs_engine:
        return Choice(name, None, None, "configured")
    folder = mf.engine_folder(root, identity.name, name)
    manifest = mf.read(folder)
    if manifest is None:
        raise ModelError(
            f"engine_backend is {name!r} but no {name} engine is built for the {identity.name} model in {root}. "
            f"Build it first: `framesentry engines build --model {identity.name} --backend {name}`",
            backend=name,
            model=identity.name,
        )
    mf.require_valid(folder, manifest, engine_problems(cls, manifest, identity, folder, options))
    return Choice(name, folder, manifest, "configured")


def _auto(identity: ModelIdentity, root: Path, options: RunOptions) -> Choice:
    skipped: dict[str, str] = {}
    for name in registry.names():
        cls = registry.get(name)
        available = cls.availability(options)
        if not available.ok:
            skipped[name] = available.reason
            continue
        if not cls.needs_engine:
            return Choice(name, None, None, "auto: no faster engine is built and valid" if skipped else "auto",
                          skipped)
        folder = mf.engine_folder(root, identity.name, name)
        try:
            manifest = mf.read(folder)
        except StaleEngineError as exc:
            skipped[name] = exc.message
            continue
        if manifest is None:
            skipped[name] = "not built"
            continue
        found = engine_problems(cls, manifest, identity, folder, options)
        if found:
            skipped[name] = "stale: " + "; ".join(found)
            log.warning("not using the %s engine for %s: %s (rebuild: %s)", name, identity.name, skipped[name],
                        mf.rebuild_hint(identity.name, name))
            continue
        return Choice(name, folder, manifest, "auto: fastest valid built engine", skipped)
    raise ModelError(f"no engine backend can run the {identity.name} model here: {skipped}")


def choose(identity: ModelIdentity, settings: Settings) -> Choice:
    """The backend for ``identity`` under ``settings.engine_backend``; raises for a misconfigured explicit one."""
    options = run_options(settings)
    if settings.engine_backend == "auto":
        return _auto(identity, settings.engines_path, options)
    return _configured(identity, settings.engine_backend, settings.engines_path, options)


def open_engine(spec: ModelSpec, settings: Settings) -> Backend:
    """Choose, load and warm up the backend for ``spec`` (the only way detectors get an engine)."""
    choice = choose(spec.identity, settings)
    cls = registry.get(choice.backend)
    max_batch = choice.manifest.max_batch if choice.manifest is not None else settings.engine_max_batch
    backend = cls.load(spec, choice.folder, max_batch, run_options(settings))
    backend.warmup((1,))
    backend.choice = choice
    log.info("%s model runs on %s (%s)", spec.name, choice.backend, choice.reason)
    return backend


def plan(identity: ModelIdentity, settings: Settings) -> dict[str, Any]:
    """What ``open_engine`` would run for ``identity``, without loading anything (for /v1/system)."""
    choice = choose(identity, settings)
    cls = registry.get(choice.backend)
    engine = None
    if choice.manifest is not None:
        m = choice.manifest
        engine = {
            "path": str(choice.folder), "precision": m.precision, "built_at": m.built_at, "device": m.device,
            "compute_capability": m.compute_capability, "max_batch": m.max_batch,
            "parity_max_abs_diff": m.parity.max_abs_diff if m.parity else None,
        }
    return {
        "backend": choice.backend,
        "reason": choice.reason,
        "skipped": choice.skipped,
        "description": {"backend": cls.name, "version": cls.version(), **cls.runtime_facts(run_options(settings))},
        "engine": engine,
    }
