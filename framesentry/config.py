"""The one settings object. Every tunable lives here and is read from ``FRAMESENTRY_*`` variables."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
ASSETS_DIR = PACKAGE_DIR / "assets"
DEV_WEBHOOK_SECRET = "framesentry-development-only"  # refused outside development (see _service_defaults)


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
    max_pixels_per_s: int = Field(
        3840 * 2160 * 60, gt=0, description="Decoded pixels per second of video (width x height x fps): 4K at "
        "60 fps passes, 8K at 30 fps does not. Decoding, not the file size, is what a video costs a worker.",
    )
    max_total_pixels: int = Field(
        250_000_000_000, gt=0, description="Decoded pixels in the whole video (~1 h of 1080p30, ~15 min of 4K30).",
    )

    # --- sampling ----------------------------------------------------------------------------------
    visual_sample_fps: float = Field(2.0, gt=0, le=60, description="Frames per second sent to the face model.")
    face_detect_max_side: int = Field(640, ge=160, description="Frames are downscaled to this before detection.")
    face_min_size_px: int = Field(40, ge=12, description="Smallest face (in original pixels) considered.")
    face_min_confidence: float = Field(0.92, ge=0, le=1)
    face_crop_margin: float = Field(
        -0.128,
        ge=-0.5,
        le=2,
        description="Crop side = (1 + margin) x the MTCNN box's longer side. -0.128 reproduces the framing of the "
        "dfdc-faces training crops (measured, see inference/faces/crops.py); change it only with a retrained model.",
    )
    max_faces_per_frame: int = Field(8, ge=1)

    audio_sample_rate: int = Field(16000, description="Audio is resampled to this, mono.")
    audio_window_s: float = Field(4.0375, gt=0, description="AASIST input: 64,600 samples at 16 kHz.")
    audio_stride_s: float = Field(2.0, gt=0, description="Hop between audio windows (overlap = window - hop).")
    vad_min_speech_fraction: float = Field(0.3, ge=0, le=1, description="Windows with less speech are skipped.")
    # Router (inference/routing.py, default policy): what is too poor to judge.
    route_min_snr_db: float = Field(6.0, description="Audio windows with a lower SNR estimate are skipped.")
    route_max_clipped_fraction: float = Field(0.01, ge=0, le=1, description="Skip windows clipped more than this.")
    route_min_face_px: int = Field(48, ge=0, description="Faces smaller than this (longer side) are not judged.")
    route_min_face_sharpness: float = Field(
        3.0, ge=0, description="Laplacian variance of the grey 224 px crop below which a face is too blurred "
        "(1st percentile of dfdc-faces test crops: 4.6; Gaussian blur r=4: <= 1.2).")
    route_policy: Literal["default", "llm"] = Field(
        "default", description="'llm' asks the OpenAI-compatible endpoint below for file-level decisions.")
    # Optional OpenAI-compatible endpoint (summaries, LLM routing policy). Nothing requires it.
    llm_base_url: str | None = Field(None, description="e.g. http://127.0.0.1:8080/v1; unset = no LLM.")
    llm_model: str = Field("gpt-4o-mini", description="Model name sent to the endpoint.")
    llm_api_key: SecretStr | None = Field(None, description="Bearer token for the endpoint, if it needs one.")
    llm_timeout_s: float = Field(20.0, gt=0)
    # Deep pass (explain/): explanations after the verdict.
    explain_enabled: bool = Field(True, description="Queue the deep pass (explanations) after each verdict.")
    explain_top_frames: int = Field(3, ge=1, le=20, description="Most suspicious frames explained per face track.")
    explain_audio_windows: int = Field(3, ge=0, le=20, description="Most suspicious audio windows explained.")
    segment_s: float = Field(2.0, gt=0, description="Length of the per-segment report buckets.")

    # --- verdict -----------------------------------------------------------------------------------
    # The Uncertain band, fit on the dfdc-faces val split for the committed visual model (lab/visual/band.py:
    # Fake and Real calls on val crops right 90 % of the time; `framesentry eval` reports it as
    # visual.verdict_band). Refit it whenever the visual model changes.
    fake_threshold: float = Field(0.52, ge=0, le=1, description="p_fake at or above this is Fake.")
    real_threshold: float = Field(0.28, ge=0, le=1, description="p_fake at or below this is Real.")

    # --- runtime -----------------------------------------------------------------------------------
    torch_threads: int = Field(0, ge=0, description="0 = let torch decide.")
    batch_size: int = Field(32, ge=1, le=1024)

    # --- engines (backends, built engines) -- owned by the engines helper --------------------------
    engine_backend: str = Field(
        "auto",
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Backend for the raw network forward: 'auto' (fastest *built* engine: tensorrt, then onnx, "
        "else torch), or a registered backend name (torch, onnx, tensorrt). Never builds on the fly.",
    )
    engines_dir: Path | None = Field(
        None, description="Built engines and their manifests (`framesentry engines build`); unset = work_dir/engines."
    )
    engine_device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where backends run: 'auto' uses CUDA when present (checked without initialising it)."
    )
    engine_max_batch: int = Field(
        256, ge=1, le=4096, description="Largest batch an engine is built for (TensorRT optimisation profile 1..max)."
    )

    # --- live scoring (windows, scheduling, verdict smoothing, fan-out) -------------------------------
    live_enabled: bool = Field(True, description="Start the live ingest (RTMP listener, WHIP) with `serve`.")
    live_visual_fps: float = Field(2.0, gt=0, le=30, description="Frames per second of each live stream scored.")
    live_visual_window_frames: int = Field(
        4,
        ge=1,
        le=64,
        description="A face's live score is the trimmed mean (inference.fusion.track_score) of its last this-many "
        "scored frames.",
    )
    live_face_min_size_px: int = Field(
        64, ge=12, description="Smallest face scored live. Face detection costs ~(12 / this)^2: 64 px halves "
        "MTCNN's time per 720p frame against 40 px (measured), and smaller faces score poorly anyway."
    )
    live_audio_stride_s: float = Field(2.0, gt=0, description="Hop between live 4.04 s audio windows.")
    live_track_ttl_s: float = Field(
        2.0, gt=0, le=60, description="A face not seen for this long (stream time) leaves the live visual score."
    )
    live_audio_horizon_s: float = Field(
        6.0, gt=0, le=600, description="Speech windows that ended longer ago than this leave the live audio score."
    )
    live_max_inflight: int = Field(
        2, ge=1, le=16, description="Windows of one stream waiting for the models; beyond it the oldest is dropped."
    )
    live_batch_max: int = Field(32, ge=1, le=1024, description="Largest cross-stream batch sent to a model.")
    live_batch_wait_ms: float = Field(5.0, ge=0, le=1000, description="How long a batch waits to fill up.")
    bulk_nice: int = Field(
        10, ge=0, le=19, description="How much lower the OS scheduling priority of upload work (the batchers' "
        "bulk lane and an embedded job's decoding) is than live work's, so live streams win the cores."
    )
    bulk_share_when_live: float = Field(
        0.25, gt=0, le=1, description="While live windows arrive (in this process, or in the server for its analysis "
        "process), uploads' batches take at most this share of the time: the bulk lane rests after each one."
    )
    upload_process: bool = Field(
        True, description="A server with live streams analyses uploads in a child process at the idle scheduling "
        "policy (bulk_nice where there is none): no shared interpreter lock, crashes isolated (jobs/isolation.py, "
        "docs/LIVE.md)."
    )
    upload_process_threads: int = Field(
        1, ge=1, le=64, description="Runtime threads of that child: with 1 it never takes more than one core."
    )
    live_smoothing_alpha: float = Field(0.4, gt=0, le=1, description="EMA weight of the newest fused score.")
    live_verdict_dwell: int = Field(3, ge=1, le=100, description="Updates on the other side before a change.")
    live_client_queue: int = Field(16, ge=1, le=4096, description="Messages buffered per WebSocket client.")
    live_series_flush_s: float = Field(1.0, gt=0, description="Score series rows are written in batches this often.")
    live_max_streams: int = Field(64, ge=1, le=4096, description="Concurrent live streams accepted.")

    # --- live ingest (RTMP listener) -- owned by the RTMP helper -------------------------------------
    rtmp_host: str = Field("127.0.0.1", description="Address the RTMP listener binds (0.0.0.0 for all).")
    rtmp_port: int = Field(1935, ge=0, le=65535, description="RTMP listener port; 0 = any free port (tests).")
    rtmp_app: str = Field("live", min_length=1, description="RTMP application: publish to rtmp://host:port/APP/KEY.")
    live_stall_timeout_s: float = Field(
        10.0, gt=0, le=600, description="An RTMP publisher that sends nothing for this long (also before it "
        "publishes) is closed as stalled and its connection dropped."
    )

    # --- webrtc (WHIP ingest) -- owned by the WHIP helper ---------------------------------------------
    whip_stall_timeout_s: float = Field(
        10.0, gt=0, le=600, description="A WHIP publisher that sends no media for this long (or never connects) "
        "is closed as stalled; ICE consent alone takes ~30 s to notice a vanished peer."
    )

    # --- service (API, jobs, storage) -- owned by the service helper ---------------------------------
    environment: Literal["development", "production"] = Field(
        "development", description="'production' refuses default secrets and an API without keys."
    )
    database_url: str = Field("", description="SQLAlchemy URL; empty = SQLite under work_dir/service.")
    broker_url: str | None = Field(None, description="Celery broker (redis://...); unset = embedded worker.")
    broker_key_prefix: str = Field("", description="Prefix for every Redis key, to share one Redis safely.")
    broker_visibility_timeout_s: float | None = Field(
        None, gt=0, description="Redelivery delay of an unacknowledged job; unset = job_time_limit_s + 300."
    )
    queue_name: str = Field("framesentry", min_length=1, description="Celery queue for analyses.")
    explain_queue_name: str | None = Field(
        None, min_length=1, description="Celery queue for deep passes (explanations), consumed by its own worker so "
        "a verdict never waits behind one; unset = '<queue_name>.explain'.",
    )
    broker_timeout_s: float = Field(
        3.0, gt=0, le=60, description="Socket timeout for the broker: a publish to a broker that does not answer "
        "fails after about twice this (one retry), and the upload gets 503 with Retry-After.",
    )
    sweep_interval_s: float = Field(10.0, gt=0, description="How often workers sweep for orphaned jobs.")
    outbox_grace_s: float = Field(
        30.0, gt=0, description="A queued job never published after this long (its API died) is sent by a sweeper."
    )
    queued_stale_s: float = Field(
        900.0, gt=0, description="A job published this long ago and still queued is published again (the broker "
        "may have lost it; duplicates are harmless: the database lease decides who runs a job).",
    )
    worker_presence_ttl_s: float = Field(
        6.0, ge=1, le=300, description="A worker's presence key lives this long unless refreshed; after it expires "
        "a sweeper hands the dead worker's running jobs back.",
    )
    storage_dir: Path | None = Field(None, description="Uploaded media; unset = work_dir/service/media.")
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Comma-separated 'name@role:key', 'name:key' or 'key' (role admin when "
        "not given); non-empty turns X-API-Key on. At every start, configured keys no longer listed are revoked.",
    )
    rate_limit: str = Field(
        "20/second;1200/minute", description="Requests per caller (API key, or address when keys are off), in the "
        "`limits` notation, ';'-separated (a burst and a sustained limit); empty = none. In Redis when distributed, "
        "in memory when embedded.",
    )
    auth_failures_per_minute: int = Field(
        20, ge=0, description="Wrong API keys one address may send per minute before it gets 429 (0 = no limit).",
    )
    upload_quota_per_day: int = Field(0, ge=0, description="Uploads per key per UTC day (0 = no quota).")
    require_api_key: bool = Field(
        False, description="Require X-API-Key even with FRAMESENTRY_API_KEYS empty (keys made with `framesentry "
        "keys create`). On whenever API_KEYS is set, and in production.",
    )
    webhook_secret: SecretStr = Field(SecretStr(DEV_WEBHOOK_SECRET), description="HMAC key for webhooks.")
    webhook_allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated CIDR networks webhooks may reach although internal "
        "(loopback, private, link-local...), e.g. '10.0.5.0/24'. Empty: only public addresses.",
    )
    webhook_max_attempts: int = Field(5, ge=1, le=20)
    webhook_backoff_s: float = Field(2.0, gt=0, description="First retry delay; doubles per attempt.")
    webhook_timeout_s: float = Field(10.0, gt=0)
    job_time_limit_s: float = Field(1800.0, gt=0, description="Wall-clock limit for one analysis.")
    job_max_retries: int = Field(3, ge=0, description="Retries of a job after a transient fault.")
    job_retry_backoff_s: float = Field(5.0, gt=0, description="First retry delay; doubles per retry.")
    job_heartbeat_s: float = Field(10.0, gt=0, description="A running job older than 3 beats is abandoned.")
    worker_concurrency: int = Field(1, ge=1, le=64)
    upload_chunk_bytes: int = Field(1024**2, ge=4096, description="Uploads are written to disk in chunks of this.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated browser origins (https://app.example.com) allowed to "
        "call the API cross-origin (e.g. a call product using the browser SDK). Requests from any other foreign "
        "Origin are refused (403).",
    )
    host: str = Field("127.0.0.1", description="Address `framesentry serve` listens on.")
    port: int = Field(8000, ge=0, le=65535)

    # --- operations (metrics, logs) -------------------------------------------------------------------
    metrics_enabled: bool = Field(True, description="Serve Prometheus metrics at GET /metrics (no API key).")
    worker_metrics_port: int = Field(
        9808, ge=0, le=65535, description="`framesentry worker` serves its own /metrics here (the sum over its "
        "pool processes, Prometheus multiprocess mode), bound to FRAMESENTRY_HOST; 0 = off."
    )
    log_format: Literal["plain", "json"] = Field(
        "plain", description="'json': one JSON object per line with request/analysis/stream ids (for collectors)."
    )

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_variables(cls, data: object) -> object:
        """A mistyped ``FRAMESENTRY_*`` variable is an error, not silently a default (pydantic-settings itself
        only refuses unknown keys in .env files and arguments)."""
        known = {f"FRAMESENTRY_{name}".upper() for name in cls.model_fields}
        unknown = sorted(k for k in os.environ if k.upper().startswith("FRAMESENTRY_") and k.upper() not in known)
        if unknown:
            raise ValueError(f"unknown setting(s) {', '.join(unknown)}; see framesentry/config.py for the names")
        return data

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> Settings:
        if not self.real_threshold < self.fake_threshold:
            raise ValueError("real_threshold must be below fake_threshold")
        if self.audio_stride_s > self.audio_window_s:
            raise ValueError("audio_stride_s must not exceed audio_window_s (windows would leave gaps)")
        return self

    @field_validator("api_keys", "webhook_allowed_networks", "cors_origins", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        if value:
            from limits import parse_many

            parse_many(value)  # ValueError -> a clear settings error
        return value

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for spec in value:
            ipaddress.ip_network(spec, strict=False)  # ValueError -> a clear settings error
        return value

    @model_validator(mode="after")
    def _service_defaults(self) -> Settings:
        """Fill locations under work_dir; refuse insecure defaults outside development."""
        if not self.database_url:
            self.database_url = f"sqlite:///{self.work_dir / 'service' / 'framesentry.db'}"
        if self.storage_dir is None:
            self.storage_dir = self.work_dir / "service" / "media"
        if self.environment != "development":
            if self.webhook_secret.get_secret_value() == DEV_WEBHOOK_SECRET:
                raise ValueError("set FRAMESENTRY_WEBHOOK_SECRET: the default secret is for development only")
            if not self.api_keys:
                raise ValueError("set FRAMESENTRY_API_KEYS: production refuses an API without keys")
        return self

    @property
    def engines_path(self) -> Path:
        """Where built engines live: ``engines_dir`` or ``work_dir/engines``."""
        return self.engines_dir or self.work_dir / "engines"

    @property
    def auth_required(self) -> bool:
        """X-API-Key is required: keys configured, asked for, or production."""
        return bool(self.api_keys) or self.require_api_key or self.environment == "production"

    @property
    def embedded(self) -> bool:
        """No broker configured: the API runs its own in-process worker."""
        return not self.broker_url

    @property
    def media_dir(self) -> Path:
        assert self.storage_dir is not None  # filled by _service_defaults
        return self.storage_dir

    @property
    def webhook_queue(self) -> str:
        """Webhooks are delivered from their own queue, so a slow receiver never holds an analysis worker."""
        return f"{self.queue_name}.webhooks"

    @property
    def explain_queue(self) -> str:
        """Deep passes run from their own queue: an analysis never waits behind a deep pass (which takes longer)."""
        return self.explain_queue_name or f"{self.queue_name}.explain"

    @property
    def visibility_timeout_s(self) -> float:
        return self.broker_visibility_timeout_s or self.job_time_limit_s + 300.0

    @property
    def audio_window_samples(self) -> int:
        return round(self.audio_window_s * self.audio_sample_rate)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once. Tests build their own ``Settings(...)`` instead."""
    return Settings()
