"""``framesentry engines build|list``: build engines ahead of time (never on a request) and show their state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from framesentry.config import Settings, get_settings
from framesentry.errors import ConfigError, FrameSentryError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from framesentry.engines.spec import ModelSpec

engines_app = typer.Typer(help="Build and inspect inference engines (ONNX Runtime, TensorRT).", no_args_is_help=True)
MODELS = ("visual", "audio")
console = Console()


def model_names(model: str) -> list[str]:
    if model == "all":
        return list(MODELS)
    names = [m.strip() for m in model.split(",") if m.strip()]
    unknown = sorted(set(names) - set(MODELS))
    if unknown or not names:
        raise ConfigError(f"unknown model(s) {unknown or model!r}; choose from {', '.join(MODELS)} or 'all'")
    return names


def torch_spec(settings: Settings, model: str) -> ModelSpec:
    """The committed model as a PyTorch spec (whatever engine_backend says: exports start from PyTorch)."""
    eager = settings.model_copy(update={"engine_backend": "torch"})
    if model == "visual":
        from framesentry.inference.visual.model import VisualDetector

        return VisualDetector.from_dir(settings.models_dir / "visual").engine_spec()
    from framesentry.inference.audio.detector import AudioDetector

    return AudioDetector.load(eager).engine_spec()


def real_inputs(settings: Settings, model: str, n: int) -> NDArray[np.float32]:
    """``n`` real network inputs: dfdc-faces test crops (half real, half fake) after ``preprocess``, or
    64,600-sample windows of LibriSpeech test-other speech (hop 1 s). Used for parity and the bench."""
    import numpy as np

    from framesentry.lab.samples import load_rgb, shared_face_paths, speech_from_librispeech

    if model == "visual":
        from framesentry.inference.visual.model import VisualDetector, preprocess

        size = VisualDetector.read_identity(settings.models_dir / "visual").item_shape[-1]
        half = max(1, n // 2)
        paths = shared_face_paths(settings, "real", n=half) + shared_face_paths(settings, "fake", n=n - half)
        crops = np.stack([load_rgb(p) for p in paths[:n]])
        return np.ascontiguousarray(preprocess(crops, size).numpy(), dtype=np.float32)
    window, hop = 64600, 16000
    speech = speech_from_librispeech(settings, (window + hop * (n - 1)) / 16000 + 0.01, subset="test-other")
    return np.stack([speech[i * hop : i * hop + window] for i in range(n)]).astype(np.float32)


@engines_app.command("build")
def build(
    backend: Annotated[str, typer.Option(help="Engine backend to build: onnx or tensorrt.")],
    model: Annotated[str, typer.Option(help="visual, audio, a comma list, or all.")] = "all",
    force: Annotated[bool, typer.Option(help="Rebuild even when an engine exists (required for a stale one).")] = False,
    max_batch: Annotated[int | None, typer.Option(help="Largest batch (default: engine_max_batch).")] = None,
) -> None:
    """Export the committed models and build their engines into engines_dir, with a manifest each."""
    from framesentry.engines.build import build_engine
    from framesentry.engines.select import run_options

    settings = get_settings()
    for name in model_names(model):
        spec = torch_spec(settings, name)
        sample = real_inputs(settings, name, 8)
        with console.status(f"building {backend} engine for {name} ..."):
            out = build_engine(spec, backend, settings.engines_path, sample, max_batch=max_batch or
                               settings.engine_max_batch, options=run_options(settings), force=force)
        m, parity = out.manifest, out.manifest.parity
        what = "built" if out.rebuilt else "up to date (use --force to rebuild)"
        diff = f", parity max |diff| {parity.max_abs_diff:.2g} on {parity.items} real inputs" if parity else ""
        console.print(f"[green]{name}[/]: {backend} {m.backend_version} {m.precision} engine {what}: "
                      f"{out.folder}{diff}")


@engines_app.command("list")
def list_engines() -> None:
    """Show every model x engine backend: built or not, valid here or why not, and what auto would pick."""
    from framesentry.engines.build import list_engines as rows_of
    from framesentry.engines.select import choose, run_options
    from framesentry.inference.detectors import model_identities

    settings = get_settings()
    identities = model_identities(settings)
    table = Table(title=f"engines in {settings.engines_path}", header_style="bold")
    for col in ("model", "backend", "built", "valid", "precision", "version", "built at", "problems"):
        table.add_column(col)
    for r in rows_of(settings.engines_path, identities, run_options(settings)):
        m = r.manifest
        table.add_row(r.model, r.backend, "yes" if r.built else "no",
                      "[green]yes[/]" if r.valid else ("[red]no[/]" if r.built else "-"),
                      m.precision if m else "", m.backend_version if m else "", m.built_at if m else "",
                      "; ".join(r.problems))
    console.print(table)
    for ident in identities:
        try:
            choice = choose(ident, settings)
        except FrameSentryError as exc:
            console.print(f"{ident.name}: engine_backend={settings.engine_backend} -> [red]refused[/]: {exc.message}")
            continue
        console.print(f"{ident.name}: engine_backend={settings.engine_backend} -> [bold]{choice.backend}[/] "
                      f"({choice.reason})")
