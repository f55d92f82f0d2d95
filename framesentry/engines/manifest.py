"""The manifest beside every built engine, and the checks that refuse a stale or foreign engine.

An engine is only as good as what it was built from: the exact weights (sha256), the input shape, the
backend library version (TensorRT plans do not load across versions) and, for device-specific engines, the
GPU's compute capability. ``problems`` lists every mismatch; ``require_valid`` turns them into a typed
``StaleEngineError`` that tells the user the command that fixes it. Nothing stale is ever used silently.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from framesentry.digest import sha256_file
from framesentry.engines.spec import ModelIdentity
from framesentry.errors import StaleEngineError

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1


class Parity(BaseModel):
    """Agreement with PyTorch eager measured at build time on the sample inputs given to the build."""

    items: int
    max_abs_diff: float
    atol: float
    rtol: float
    passed: bool


class Manifest(BaseModel):
    """Everything an engine was built from. Written as ``manifest.json`` in the engine's folder."""

    model_config = ConfigDict(extra="forbid")

    format_version: int = FORMAT_VERSION
    model: str
    model_version: str
    model_sha256: str
    backend: str
    backend_version: str
    precision: str
    input_name: str
    output_name: str
    item_shape: list[int]
    min_batch: int = 1
    max_batch: int
    opset: int
    device: str = Field(description="'any' for portable engines (ONNX), else the GPU name.")
    compute_capability: str | None = None
    engine_file: str
    engine_sha256: str
    parity: Parity | None = None
    torch_version: str
    built_at: str
    extra: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


def engine_folder(root: Path, model: str, backend: str) -> Path:
    """``<engines_dir>/<model>/<backend>/``: one engine per model and backend."""
    return root / model / backend


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write(folder: Path, manifest: Manifest) -> Path:
    """Write the manifest last, atomically: a folder without one is an unfinished build, never an engine."""
    path = folder / MANIFEST_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest.model_dump(), indent=2) + "\n")
    tmp.replace(path)
    return path


def read(folder: Path) -> Manifest | None:
    """The manifest in ``folder``, ``None`` when nothing is built there; ``StaleEngineError`` when unreadable."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return Manifest.model_validate_json(path.read_text())
    except (ValidationError, ValueError, OSError) as exc:
        raise StaleEngineError(
            f"engine manifest {path} is unreadable ({type(exc).__name__}); rebuild it with --force",
            path=str(path),
        ) from exc


def problems(
    manifest: Manifest,
    identity: ModelIdentity,
    *,
    backend_version: str,
    device: str,
    compute_capability: str | None,
    folder: Path,
    check_file: bool = True,
) -> list[str]:
    """Every reason this engine must not be used for ``identity`` on this machine (empty = valid)."""
    out: list[str] = []
    if manifest.format_version != FORMAT_VERSION:
        out.append(f"manifest format {manifest.format_version} (this build reads {FORMAT_VERSION})")
    if manifest.model != identity.name:
        out.append(f"built for model {manifest.model!r}, not {identity.name!r}")
    if manifest.model_sha256 != identity.weights_sha256:
        out.append(
            f"built from other weights (sha256 {manifest.model_sha256[:12]}, committed model is "
            f"{identity.weights_sha256[:12]})"
        )
    if tuple(manifest.item_shape) != tuple(identity.item_shape):
        out.append(f"input shape {manifest.item_shape} differs from the model's {list(identity.item_shape)}")
    if (manifest.input_name, manifest.output_name) != (identity.input_name, identity.output_name):
        out.append("input/output tensor names differ from the model's")
    if manifest.backend_version != backend_version:
        out.append(f"built with {manifest.backend} {manifest.backend_version}, this machine has {backend_version}")
    if manifest.device != "any" and (manifest.device, manifest.compute_capability) != (device, compute_capability):
        out.append(
            f"built for {manifest.device} (compute capability {manifest.compute_capability}), "
            f"this machine has {device} ({compute_capability})"
        )
    if manifest.parity is not None and not manifest.parity.passed:
        out.append(f"failed its parity check at build (max |diff| {manifest.parity.max_abs_diff:.3g})")
    if check_file:
        engine = folder / manifest.engine_file
        if not engine.is_file():
            out.append(f"engine file {engine.name} is missing")
        elif sha256_file(engine) != manifest.engine_sha256:
            out.append(f"engine file {engine.name} was changed after the build (sha256 mismatch)")
    return out


def rebuild_hint(model: str, backend: str) -> str:
    return f"framesentry engines build --model {model} --backend {backend} --force"


def require_valid(folder: Path, manifest: Manifest, found: list[str]) -> None:
    """Raise ``StaleEngineError`` listing ``found`` problems, with the command that rebuilds the engine."""
    if found:
        raise StaleEngineError(
            f"refusing the {manifest.backend} engine for {manifest.model} in {folder}: " + "; ".join(found)
            + f". Rebuild it: `{rebuild_hint(manifest.model, manifest.backend)}`",
            path=str(folder),
            problems=found,
        )
