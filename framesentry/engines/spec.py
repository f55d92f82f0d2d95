"""What a model looks like to a backend: identity (for manifests) plus the torch module (for running/exporting).

The inference layer builds these from its own model cards; engines never import inference, so this small
description is the whole contract between the two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelIdentity:
    """Enough to decide whether a built engine belongs to the committed model (no weights loaded)."""

    name: str
    """Short model key, also the engines sub-folder: ``visual``, ``audio``."""
    version: str
    weights_sha256: str
    item_shape: tuple[int, ...]
    """Shape of one input item (the batch dimension is added in front)."""
    input_name: str = "input"
    output_name: str = "logit"


@dataclass(frozen=True)
class ModelSpec:
    """A loaded model ready to be exported or run: identity + eval-mode torch module.

    ``export_module(target, precision)`` returns the module to export for a backend and precision (default:
    ``module`` itself, float32 only). A model whose eager graph a backend cannot take (a complex STFT) gives
    a numerically equal twin; a reduced-precision graph (TensorRT >= 11 networks are strongly typed, so FP16
    must be in the graph) keeps float32 inputs/outputs and any numerically sensitive part in float32.
    """

    identity: ModelIdentity
    module: Any
    export_module: Callable[[str, str], Any] | None = None

    @property
    def name(self) -> str:
        return self.identity.name

    def module_for(self, target: str, precision: str = "fp32") -> Any:
        """The module to export for backend ``target`` at ``precision``, in eval mode."""
        if self.export_module is not None:
            module = self.export_module(target, precision)
        elif precision == "fp32":
            module = self.module
        else:
            raise ValueError(f"model {self.name} has no {precision} export")
        return module.eval()
