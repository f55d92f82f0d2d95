"""Realistic test and demo clips made on the spot: real face crops over a textured scene, real speech.

Tests must make their own media; these helpers make it fast (x264 ``ultrafast``) and close enough to real
uploads (H.264/AAC in MP4, faces of realistic size, non-flat backgrounds, optional motion) that face
detection, decoding and audio analysis behave as they would on newsroom footage.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Literal

import av
import numpy as np
from av.audio.stream import AudioStream
from av.video.stream import VideoStream
from numpy.typing import NDArray

from framesentry.config import Settings
from framesentry.errors import DataError

Face = tuple[NDArray[np.uint8], tuple[int, int, int]]  # (face RGB crop, (x, y, width)) in output pixels

_DEFAULT_VIDEO = {".webm": "libvpx-vp9"}
_DEFAULT_AUDIO = {
    ".webm": "libopus",
    ".ogg": "libopus",
    ".opus": "libopus",
    ".wav": "pcm_s16le",
    ".flac": "flac",
    ".mkv": "aac",
}


def load_rgb(path: Path) -> NDArray[np.uint8]:
    """Read an image file as HxWx3 uint8 RGB."""
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def background(size: tuple[int, int], seed: int = 0) -> NDArray[np.uint8]:
    """A plausible scene: lit gradient, soft blobs (furniture, windows) and sensor-like noise, not flat."""
    width, height = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(60, 190, size=3).astype(np.float32)
    tilt = rng.uniform(-60, 60, size=(2, 3)).astype(np.float32)
    img = base + (xx / width)[..., None] * tilt[0] + (yy / height)[..., None] * tilt[1]
    for _ in range(6):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = rng.uniform(0.05, 0.3) * width, rng.uniform(0.05, 0.3) * height
        blob = np.exp(-(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2))
        img += blob[..., None] * rng.uniform(-50, 50, size=3).astype(np.float32)
    img += rng.normal(0, 6, size=(height, width, 3)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


@lru_cache(maxsize=32)
def _feather(h: int, w: int) -> NDArray[np.float32]:
    """Rounded-rectangle alpha with soft edges: crops blend in without a square seam or a lost chin."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = (np.abs((xx + 0.5) / w * 2 - 1) ** 4 + np.abs((yy + 0.5) / h * 2 - 1) ** 4) ** 0.25
    return np.clip((1.0 - r) / 0.12, 0, 1)[..., None].astype(np.float32)


def _resize(img: NDArray[np.uint8], width: int) -> NDArray[np.uint8]:
    from PIL import Image

    height = max(1, round(img.shape[0] * width / img.shape[1]))
    return np.asarray(Image.fromarray(img).resize((width, height), Image.Resampling.BILINEAR), dtype=np.uint8)


def _paste(canvas: NDArray[np.uint8], face: NDArray[np.uint8], x: int, y: int) -> None:
    """Alpha-blend an already-resized face at (x, y), clipped to the canvas."""
    h, w = face.shape[:2]
    H, W = canvas.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x0 >= x1 or y0 >= y1:
        return
    alpha = _feather(h, w)[y0 - y : y1 - y, x0 - x : x1 - x]
    src = face[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)
    dst = canvas[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] = (dst + alpha * (src - dst)).astype(np.uint8)


def compose_frame(
    size: tuple[int, int], faces: Sequence[Face], bg: NDArray[np.uint8] | None = None
) -> NDArray[np.uint8]:
    """Frame of ``size`` (width, height) with each face crop scaled to its width and pasted at (x, y)."""
    canvas = background(size) if bg is None else bg.copy()
    for face, (x, y, w) in faces:
        _paste(canvas, face if face.shape[1] == w else _resize(face, w), x, y)
    return canvas


def tone(
    duration_s: float, freq: float = 440.0, sample_rate: int = 16000, amplitude: float = 0.3
) -> NDArray[np.float32]:
    """A sine tone: audio with known pitch and length for decoder tests."""
    t = np.arange(round(duration_s * sample_rate), dtype=np.float64) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _codecs(path: Path, codec: str | None, audio_codec: str | None) -> tuple[str, str]:
    ext = path.suffix.lower()
    return codec or _DEFAULT_VIDEO.get(ext, "libx264"), audio_codec or _DEFAULT_AUDIO.get(ext, "aac")


def write_clip(
    path: Path,
    *,
    duration_s: float,
    size: tuple[int, int] = (1280, 720),
    fps: int = 30,
    faces: Sequence[Face] = (),
    motion: bool = False,
    audio: NDArray[np.float32] | None = None,
    video: bool = True,
    codec: str | None = None,
    audio_codec: str | None = None,
    sample_rate: int = 16000,
    seed: int = 0,
    video_options: dict[str, str] | None = None,
    faststart: bool = False,
) -> Path:
    """Encode a clip; the container follows the extension (.mp4, .mkv, .webm, .m4a, .wav, ...).

    ``codec``/``audio_codec`` default to what suits the container (H.264 + AAC for MP4). Audio is 16 kHz
    mono float, padded with silence or cut to ``duration_s``. With ``motion`` faces drift slowly. Keyframes
    come every second.
    ``video_options`` replace the fast defaults (e.g. ``{"preset": "veryfast"}`` for B-frames as in
    typical web exports). ``faststart`` puts the MP4 index first, as web exports do (phones put it last).
    """
    path = Path(path)
    if not video and audio is None:
        raise ValueError("a clip needs video, audio or both")
    vcodec, acodec = _codecs(path, codec, audio_codec)
    n_frames = round(duration_s * fps)
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), mode="w", options=options) as out:
        vs: VideoStream | None = None
        if video:
            new_v = out.add_stream(vcodec, rate=fps)
            assert isinstance(new_v, VideoStream)
            vs = new_v
            vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
            vs.codec_context.gop_size = max(1, int(fps))  # a keyframe a second, as phones and streams do
            if vcodec in ("libx264", "libx265"):
                vs.options = {"preset": "ultrafast", "crf": "23"}
            elif vcodec == "libvpx-vp9":
                vs.options = {"deadline": "realtime", "cpu-used": "8", "crf": "34", "b": "0"}
            if video_options is not None:
                vs.options = dict(video_options)
        astream: AudioStream | None = None
        if audio is not None:
            new_a = out.add_stream(acodec, rate=sample_rate, layout="mono")
            assert isinstance(new_a, AudioStream)
            astream = new_a
        video_frames = (
            _video_frames(size, fps, n_frames, faces, motion, seed) if vs is not None else iter(())
        )
        audio_frames = _audio_frames(audio, duration_s, sample_rate) if astream is not None else iter(())
        # Interleave by time, as cameras and editors do: a cut file then loses its end, not one track.
        pending_v, pending_a = next(video_frames, None), next(audio_frames, None)
        while pending_v is not None or pending_a is not None:
            take_video = pending_a is None or (
                pending_v is not None and pending_v[0] <= pending_a[0]
            )
            if take_video and pending_v is not None and vs is not None:
                out.mux(vs.encode(pending_v[1]))
                pending_v = next(video_frames, None)
            elif pending_a is not None and astream is not None:
                out.mux(astream.encode(pending_a[1]))
                pending_a = next(audio_frames, None)
        if vs is not None:
            out.mux(vs.encode(None))
        if astream is not None:
            out.mux(astream.encode(None))
    return path


def _video_frames(
    size: tuple[int, int], fps: int, n_frames: int, faces: Sequence[Face], motion: bool, seed: int
) -> Iterator[tuple[float, av.VideoFrame]]:
    """(time, frame) for each video frame; faces are resized once, then only moved."""
    width, height = size
    bg = background(size, seed)
    scaled = [(_resize(f, w) if f.shape[1] != w else f, x, y) for f, (x, y, w) in faces]
    phases = np.random.default_rng(seed + 1).uniform(0, 2 * np.pi, size=(len(scaled), 2))
    for i in range(n_frames):
        canvas = bg.copy()
        t = i / fps
        for j, (face, x, y) in enumerate(scaled):
            dx = dy = 0
            if motion:
                dx = round(0.03 * width * np.sin(0.6 * t + phases[j, 0]))
                dy = round(0.02 * height * np.sin(0.45 * t + phases[j, 1]))
            _paste(canvas, face, x + dx, y + dy)
        frame = av.VideoFrame.from_ndarray(canvas, format="rgb24")
        frame.pts = i
        yield t, frame


def _audio_frames(
    audio: NDArray[np.float32] | None, duration_s: float, sample_rate: int
) -> Iterator[tuple[float, av.AudioFrame]]:
    """(time, frame) for mono float audio in 1024-sample frames, padded with silence or cut to length."""
    n = round(duration_s * sample_rate)
    samples = np.zeros(n, dtype=np.float32)
    if audio is not None:
        src = np.asarray(audio, dtype=np.float32).reshape(-1)[:n]
        samples[: len(src)] = np.clip(src, -1.0, 1.0)
    for start in range(0, n, 1024):
        block = np.ascontiguousarray(samples[start : start + 1024].reshape(1, -1))
        frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = start
        yield start / sample_rate, frame


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise DataError(f"{what} not found at {path}. Check FRAMESENTRY_SHARED_DIR points at the shared data.")
    return path


def shared_face_paths(
    settings: Settings, label: Literal["real", "fake"], split: str = "test", n: int = 1, offset: int = 0
) -> list[Path]:
    """``n`` face crops of one label from the fixed split of dfdc-faces (deterministic: CSV order)."""
    root = settings.shared_dir / "data" / "dfdc-faces"
    labels = _require(root / "labels.csv", "The dfdc-faces labels file")
    with labels.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["label"] == label and r["split"] == split]
    picked = rows[offset : offset + n]
    if len(picked) < n:
        raise DataError(f"dfdc-faces has only {len(rows)} '{label}' images in split '{split}', asked for {offset + n}.")
    return [_require(root / "images" / r["image"], "A dfdc-faces image") for r in picked]


def speech_from_librispeech(
    settings: Settings,
    seconds: float,
    sample_rate: int = 16000,
    offset: int = 0,
    subset: Literal["train-clean-100", "test-other"] = "train-clean-100",
) -> NDArray[np.float32]:
    """``seconds`` of real read speech: LibriSpeech utterances of ``subset`` joined end to end."""
    from framesentry.media.decode import read_audio

    folder = _require(settings.shared_dir / "data" / "librispeech" / subset, "LibriSpeech")
    files = sorted(folder.rglob("*.flac"))[offset:]
    if not files:
        raise DataError(f"No LibriSpeech .flac files in {folder}.")
    need = round(seconds * sample_rate)
    parts: list[NDArray[np.float32]] = []
    have = 0
    for f in files:
        if have >= need:
            break
        parts.append(read_audio(f, sample_rate=sample_rate, max_s=(need - have) / sample_rate))
        have += len(parts[-1])
    if have < need:
        raise DataError(f"LibriSpeech in {folder} holds less than {seconds} s of speech.")
    return np.concatenate(parts)[:need]


def make_demo_clip(settings: Settings, path: Path, duration_s: float = 12.0) -> Path:
    """A held-out real face (dfdc test split) speaking held-out real speech (LibriSpeech test-other), 720p.

    Reused if it already exists, so repeated demos start at once.
    """
    if path.is_file() and path.stat().st_size > 0:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    face = load_rgb(shared_face_paths(settings, "real", "test", n=1)[0])
    speech = speech_from_librispeech(settings, duration_s, subset="test-other")
    return write_clip(path, duration_s=duration_s, faces=[(face, (480, 160, 320))], motion=True, audio=speech)


def make_benchmark_clip(settings: Settings, path: Path, duration_s: float = 60.0) -> Path:
    """A 720p30 H.264 clip with two real faces and continuous speech, as a talk-show style benchmark input."""
    if path.is_file() and path.stat().st_size > 0:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    first, second = (load_rgb(p) for p in shared_face_paths(settings, "real", "test", n=2))
    speech = speech_from_librispeech(settings, duration_s)
    faces = [(first, (200, 180, 300)), (second, (780, 200, 280))]
    return write_clip(path, duration_s=duration_s, faces=faces, motion=True, audio=speech)
