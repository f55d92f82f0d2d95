"""FrameSentry: streaming, real-time deepfake detection for live video and uploaded files."""

__version__ = "0.1.0"
