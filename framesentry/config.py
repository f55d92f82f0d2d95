"""The one settings object. Every tunable lives here and is read from ``FRAMESENTRY_*`` variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
ASSETS_DIR = PACKAGE_DIR / "assets"


class Settings(BaseSettings):
    """Validated configuration. Unknown ``FRAMESENTRY_*`` keys are refused (``extra="forbid"``)."""

    model_config = SettingsConfigDict(env_prefix="FRAMESENTRY_", extra="forbid", validate_default=True)

    # --- locations -------------------------------------------------------------------------------
    shared_dir: Path = Field(REPO_DIR.parent / "shared", description="Data/weights provided with the project.")
    models_dir: Path = Field(ASSETS_DIR, description="Committed model weights, cards and calibration.")
    work_dir: Path = Field(Path.home() / ".cache" / "framesentry", description="Caches, generated data.")

    # --- input caps --------------------------------------------------------------------------------
    max_file_bytes: int = Field(2 * 1024**3, gt=0)
    max_duration_s: float = Field(4 * 3600.0, gt=0)
    max_width: int = Field(7680, gt=0)
    max_height: int = Field(4320, gt=0)

    # --- sampling ----------------------------------------------------------------------------------
    visual_sample_fps: float = Field(2.0, gt=0, le=60, description="Frames per second sent to the face model.")
    face_detect_max_side: int = Field(640, ge=160, description="Frames are downscaled to this before detection.")
    face_min_size_px: int = Field(40, ge=12, description="Smallest face (in original pixels) considered.")
    face_min_confidence: float = Field(0.92, ge=0, le=1)
    face_crop_margin: float = Field(
        0.3, ge=0, le=2, description="Extra context around the detector box, as a fraction of its size."
    )
    max_faces_per_frame: int = Field(8, ge=1)

    audio_sample_rate: int = Field(16000, description="Audio is resampled to this, mono.")
    audio_window_s: float = Field(4.0375, gt=0, description="AASIST input: 64,600 samples at 16 kHz.")
    audio_stride_s: float = Field(2.0, gt=0, description="Hop between audio windows (overlap = window - hop).")
    vad_min_speech_fraction: float = Field(0.3, ge=0, le=1, description="Windows with less speech are skipped.")
    segment_s: float = Field(2.0, gt=0, description="Length of the per-segment report buckets.")

    # --- verdict -----------------------------------------------------------------------------------
    fake_threshold: float = Field(0.7, ge=0, le=1, description="p_fake at or above this is Fake.")
    real_threshold: float = Field(0.3, ge=0, le=1, description="p_fake at or below this is Real.")

    # --- runtime -----------------------------------------------------------------------------------
    torch_threads: int = Field(0, ge=0, description="0 = let torch decide.")
    batch_size: int = Field(32, ge=1, le=1024)

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> Settings:
        if not self.real_threshold < self.fake_threshold:
            raise ValueError("real_threshold must be below fake_threshold")
        if self.audio_stride_s > self.audio_window_s:
            raise ValueError("audio_stride_s must not exceed audio_window_s (windows would leave gaps)")
        return self

    @property
    def audio_window_samples(self) -> int:
        return round(self.audio_window_s * self.audio_sample_rate)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once. Tests build their own ``Settings(...)`` instead."""
    return Settings()
