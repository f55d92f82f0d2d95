"""ONNX export of a model spec (dynamic batch, opset 17) and the parity measure every build reports.

The TorchScript exporter (``dynamo=False``) is used: it needs nothing beyond torch and onnx (the dynamo
exporter would need ``onnxscript``, not installed here). It cannot trace complex tensors, so a model with a
complex ``torch.stft`` supplies an export twin (see ``inference/audio/detector.export_twin``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from framesentry.engines.spec import ModelSpec
from framesentry.errors import ModelError

OPSET = 17
# Agreement required of a float32 engine with PyTorch eager on real inputs, on the raw logit:
# |engine - torch| <= ATOL + RTOL * |torch|. Measured maxima are ~1e-6 (see docs/ENGINES.md).
FP32_TOL = (1e-4, 1e-4)
# FP16 engines (TensorRT) round activations to 11 significant bits; logits of these models span about +-10.
FP16_TOL = (5e-2, 2e-2)


def export_onnx(spec: ModelSpec, path: Path, target: str, precision: str = "fp32", opset: int = OPSET) -> Path:
    """Write ``spec`` (its twin for ``target``/``precision``) as ONNX with a dynamic batch axis; ``ModelError``
    if the export fails or the graph does not check."""
    import onnx
    import torch

    module = spec.module_for(target, precision)
    ident = spec.identity
    example = torch.zeros((2, *ident.item_shape), dtype=torch.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # the exporter warns about its own deprecation and traced shapes
            torch.onnx.export(
                module,
                (example,),
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=[ident.input_name],
                output_names=[ident.output_name],
                dynamic_axes={ident.input_name: {0: "batch"}, ident.output_name: {0: "batch"}},
                do_constant_folding=True,
            )
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    except Exception as exc:  # the exporter raises many internal types; the user needs one clear message
        path.unlink(missing_ok=True)
        raise ModelError(
            f"ONNX export of the {ident.name} model failed: {type(exc).__name__}: {str(exc)[:300]}",
            model=ident.name,
        ) from exc
    return path


def tolerance(precision: str) -> tuple[float, float]:
    """(atol, rtol) an engine of ``precision`` must meet against PyTorch eager float32."""
    return FP16_TOL if precision == "fp16" else FP32_TOL


def half_io(module: Any) -> Any:
    """A float16 copy of ``module`` that keeps float32 inputs and outputs (engine I/O stays float32), for
    strongly typed FP16 builds. The original module is left untouched."""
    import copy

    import torch
    from torch import nn

    class _HalfIO(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = copy.deepcopy(inner).half()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x.half()).float()

    return _HalfIO(module).eval()


def torch_reference(spec: ModelSpec, sample: NDArray[np.float32]) -> NDArray[np.float32]:
    """PyTorch eager outputs of the spec's own module (not the export twin): the ground truth for parity."""
    import torch

    with torch.inference_mode():
        out = spec.module.eval()(torch.from_numpy(np.ascontiguousarray(sample, dtype=np.float32)))
    return np.asarray(out.float().cpu().numpy(), dtype=np.float32)


def parity(reference: NDArray[Any], candidate: NDArray[Any], tol: tuple[float, float]) -> dict[str, Any]:
    """Max absolute difference and whether every element is within ``atol + rtol * |reference|``."""
    ref = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    got = np.asarray(candidate, dtype=np.float64).reshape(len(candidate), -1)
    if ref.shape != got.shape:
        raise ModelError(f"engine output shape {got.shape} differs from PyTorch's {ref.shape}")
    diff = np.abs(ref - got)
    atol, rtol = tol
    return {
        "items": len(ref),
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "atol": atol,
        "rtol": rtol,
        "passed": bool(np.all(diff <= atol + rtol * np.abs(ref))),
    }
