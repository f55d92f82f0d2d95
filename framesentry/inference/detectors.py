"""The loaded models, created on first use and shared by every analysis in the process.

Loading is lazy so that importing FrameSentry, or analysing an audio-only file, never pays for models it
does not need.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING

from framesentry.config import Settings, get_settings

if TYPE_CHECKING:
    from framesentry.engines.spec import ModelIdentity
    from framesentry.inference.audio.detector import AudioDetector
    from framesentry.inference.audio.vad import VoiceActivity
    from framesentry.inference.faces import FaceDetector
    from framesentry.inference.visual.model import VisualDetector

_lock = threading.Lock()


def configure_torch(settings: Settings) -> None:
    """Apply the thread setting once; torch's default can oversubscribe small machines."""
    import torch

    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)


class Detectors:
    """Face detector, visual and audio models, voice activity: each loaded when first touched."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        configure_torch(self.settings)

    @cached_property
    def faces(self) -> FaceDetector:
        from framesentry.inference.faces import FaceDetector

        with _lock:
            return FaceDetector(self.settings)

    @cached_property
    def visual(self) -> VisualDetector:
        from framesentry.inference.visual.model import VisualDetector

        with _lock:
            return VisualDetector.load(self.settings)

    @cached_property
    def audio(self) -> AudioDetector:
        from framesentry.inference.audio.detector import AudioDetector

        with _lock:
            return AudioDetector.load(self.settings)

    @cached_property
    def vad(self) -> VoiceActivity:
        from framesentry.inference.audio.vad import VoiceActivity

        with _lock:
            return VoiceActivity()

    def engines(self) -> dict[str, dict[str, object]]:
        """Backend description (name, version, device/providers) of each model this process has loaded."""
        loaded = self.__dict__
        return {
            name: loaded[name].engine.describe()
            for name in ("visual", "audio")
            if name in loaded and loaded[name].engine is not None
        }

    def versions(self) -> dict[str, str]:
        """Versions of the models this process has loaded (only those actually used)."""
        loaded = self.__dict__
        out: dict[str, str] = {}
        if "visual" in loaded:
            out["visual"] = self.visual.version
        if "audio" in loaded:
            out["audio"] = self.audio.version
        if "faces" in loaded:
            out["faces"] = "mtcnn-facenet-pytorch-2.6.0"
        return out


def model_identities(settings: Settings) -> list[ModelIdentity]:
    """Identity (version, weights sha256, input shape) of each engine-backed model, read from the cards only."""
    from framesentry.inference.audio.detector import AudioDetector
    from framesentry.inference.visual.model import VisualDetector

    return [
        VisualDetector.read_identity(settings.models_dir / "visual"),
        AudioDetector.read_identity(settings.models_dir / "audio"),
    ]
