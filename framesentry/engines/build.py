"""Ahead-of-time engine builds (``framesentry engines build``) and the listing of what is built.

A build happens in a staging folder next to the target: export/compile, load the result, check parity
with PyTorch eager on real sample inputs, write the manifest last, then swap the folder in. A failed or
interrupted build leaves the previous engine (or nothing) in place, never a half-written one. An existing
valid engine is kept; a stale one is refused unless ``force``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from framesentry.digest import sha256_file
from framesentry.engines import manifest as mf
from framesentry.engines import registry
from framesentry.engines.base import RunOptions
from framesentry.engines.export import parity, tolerance, torch_reference
from framesentry.engines.select import engine_problems
from framesentry.engines.spec import ModelIdentity, ModelSpec
from framesentry.errors import ModelError, StaleEngineError


@dataclass
class BuildOutcome:
    manifest: mf.Manifest
    folder: Path
    rebuilt: bool
    """False when a valid engine was already there and kept."""


def _framesentry_version() -> str:
    try:
        return package_version("framesentry")
    except PackageNotFoundError:
        return "unknown"


def build_engine(
    spec: ModelSpec,
    backend: str,
    root: Path,
    sample: NDArray[np.float32],
    *,
    max_batch: int,
    options: RunOptions,
    force: bool = False,
) -> BuildOutcome:
    """Build ``backend``'s engine for ``spec`` under ``root``; ``sample`` are real inputs for the parity check."""
    cls = registry.get(backend)
    if not cls.needs_engine:
        raise ModelError(f"backend {backend!r} runs the PyTorch model directly; there is nothing to build")
    available = cls.availability(options)
    if not available.ok:
        raise ModelError(f"cannot build a {backend} engine here: {available.reason}", backend=backend)
    folder = mf.engine_folder(root, spec.name, backend)
    if not force:
        existing = mf.read(folder)  # an unreadable manifest raises StaleEngineError (use force)
        if existing is not None:
            mf.require_valid(folder, existing, engine_problems(cls, existing, spec.identity, folder, options))
            return BuildOutcome(existing, folder, rebuilt=False)
    staging = folder.with_name(folder.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        result = cls.build(spec, staging, max_batch, options)
        engine = cls.load(spec, staging, max_batch, options)
        x = np.ascontiguousarray(sample[:max_batch], dtype=np.float32)
        check = parity(torch_reference(spec, x), engine.run(x), tolerance(result.precision))
        del engine
        if not check["passed"]:
            raise ModelError(
                f"the {backend} engine for {spec.name} disagrees with PyTorch: max |diff| "
                f"{check['max_abs_diff']:.3g} over {check['items']} inputs "
                f"(atol {check['atol']}, rtol {check['rtol']})",
                **check,
            )
        ident = spec.identity
        manifest = mf.Manifest(
            model=ident.name, model_version=ident.version, model_sha256=ident.weights_sha256,
            backend=backend, backend_version=cls.version(), precision=result.precision,
            input_name=ident.input_name, output_name=ident.output_name, item_shape=list(ident.item_shape),
            max_batch=max_batch, opset=result.opset, device=result.device,
            compute_capability=result.compute_capability, engine_file=result.engine_file,
            engine_sha256=sha256_file(staging / result.engine_file), parity=mf.Parity(**check),
            torch_version=_torch_version(), built_at=mf.now_utc(),
            extra={"framesentry_version": _framesentry_version(), **result.extra},
        )
        mf.write(staging, manifest)
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return BuildOutcome(manifest, folder, rebuilt=True)


def _torch_version() -> str:
    import torch

    return str(torch.__version__)


@dataclass
class EngineStatus:
    """One row of ``framesentry engines list``."""

    model: str
    backend: str
    built: bool
    valid: bool
    folder: Path
    manifest: mf.Manifest | None = None
    problems: list[str] = field(default_factory=list)


def list_engines(root: Path, identities: list[ModelIdentity], options: RunOptions) -> list[EngineStatus]:
    """Every (model, engine backend) pair: built or not, and if built, valid here or why not."""
    rows: list[EngineStatus] = []
    for ident in identities:
        for name in registry.names():
            cls = registry.get(name)
            if not cls.needs_engine:
                continue
            folder = mf.engine_folder(root, ident.name, name)
            try:
                manifest = mf.read(folder)
            except StaleEngineError as exc:
                rows.append(EngineStatus(ident.name, name, True, False, folder, problems=[exc.message]))
                continue
            if manifest is None:
                rows.append(EngineStatus(ident.name, name, False, False, folder))
                continue
            available = cls.availability(options)
            found = (
                engine_problems(cls, manifest, ident, folder, options)
                if available.ok
                else [f"cannot be checked or run here: {available.reason}"]
            )
            rows.append(EngineStatus(ident.name, name, True, not found, folder, manifest, found))
    return rows
