"""Voice activity detection with Silero VAD (ONNX model shipped inside the ``silero-vad`` wheel).

Why: the spoof models only know speech; scoring music, noise or silence as "speech" gives meaningless
p_fake values. We run the model file directly with ONNX Runtime instead of importing the ``silero_vad``
package, because that package calls ``torch.set_num_threads(1)`` at import time (a global side effect) and
its loader is not needed: the model file is found on disk, so this works offline.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from framesentry.errors import ModelError

VAD_RATE = 16000
FRAME = 512  # samples per VAD step at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous frame the model sees


def silero_model_path() -> Path:
    """Locate ``silero_vad.onnx`` inside the installed wheel without executing the package."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("silero-vad is not installed; it provides the voice activity model")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise ModelError(f"silero-vad model file missing: {path}")
    return path


class VoiceActivity:
    """Per-frame speech probabilities and per-window speech fractions for mono 16 kHz audio."""

    def __init__(self, threshold: float = 0.5) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        self.threshold = threshold
        self._session: Any = ort.InferenceSession(
            str(silero_model_path()), sess_options=opts, providers=["CPUExecutionProvider"]
        )

    def frame_probabilities(self, audio: NDArray[np.float32], sample_rate: int = VAD_RATE) -> NDArray[np.float32]:
        """Speech probability of each 32 ms frame (the last partial frame is zero-padded)."""
        if sample_rate != VAD_RATE:
            raise ValueError(f"VAD expects {VAD_RATE} Hz audio, got {sample_rate}")
        x = np.asarray(audio, dtype=np.float32).ravel()
        n = -(-x.size // FRAME)
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        x = np.pad(x, (CONTEXT, n * FRAME - x.size))
        state = np.zeros((2, 1, 128), dtype=np.float32)
        sr = np.array(VAD_RATE, dtype=np.int64)
        probs = np.empty(n, dtype=np.float32)
        for i in range(n):
            chunk = x[i * FRAME : i * FRAME + FRAME + CONTEXT][None, :]
            out, state = self._session.run(None, {"input": chunk, "state": state, "sr": sr})
            probs[i] = float(out[0, 0])
        return probs

    def speech_mask(self, audio: NDArray[np.float32], sample_rate: int = VAD_RATE) -> NDArray[np.bool_]:
        """Per-frame speech decision, with short gaps (< 0.2 s) between speech frames filled."""
        speech = self.frame_probabilities(audio, sample_rate) >= self.threshold
        gap = 0
        for i in range(speech.size):  # hangover: pauses inside a sentence count as speech
            if speech[i]:
                if 0 < gap <= 6 and i - gap - 1 >= 0 and speech[i - gap - 1]:
                    speech[i - gap : i] = True
                gap = 0
            else:
                gap += 1
        return speech

    def window_fractions(
        self, audio: NDArray[np.float32], sample_rate: int, window_samples: int, stride_samples: int
    ) -> NDArray[np.float64]:
        """Fraction of speech frames inside each window of ``iter_windows`` (same order and count)."""
        from framesentry.inference.audio.windows import window_starts

        x = np.asarray(audio, dtype=np.float32).ravel()
        if x.size == 0:
            return np.zeros(0)
        mask = self.speech_mask(x, sample_rate).astype(np.float64)
        cum = np.concatenate([[0.0], np.cumsum(mask)])
        out = []
        for s in window_starts(x.size, window_samples, stride_samples):
            a = s // FRAME
            b = max(a + 1, -(-min(s + window_samples, x.size) // FRAME))
            out.append((cum[b] - cum[a]) / (b - a))
        return np.asarray(out)

    def speech_fraction(self, audio: NDArray[np.float32], sample_rate: int = VAD_RATE) -> float:
        """Fraction of the whole signal that is speech."""
        mask = self.speech_mask(audio, sample_rate)
        return float(mask.mean()) if mask.size else 0.0


_DEFAULT: VoiceActivity | None = None


def speech_fraction(audio: NDArray[np.float32], sample_rate: int = VAD_RATE) -> float:
    """Speech fraction of a mono 16 kHz signal using a shared, lazily created ``VoiceActivity``."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = VoiceActivity()
    return _DEFAULT.speech_fraction(audio, sample_rate)
