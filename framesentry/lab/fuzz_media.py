"""Fuzzing the probe/decode path with atheris: one input = bytes a client could upload.

Each input is written to a file and taken through what an upload job does with it before any model runs:
``probe`` (container, streams, caps, first frames), sampled video frames and the first seconds of audio. A
``FrameSentryError`` (bad media, over a cap) is the expected answer to garbage; anything else escaping is a
finding. Runs from ``benchmarks/fuzz_media.py`` (the long run) and tests/test_fuzz_media.py (a short one, and
every kept crashing input under tests/fuzz_crashes/ as a regression).
"""

from __future__ import annotations

import sys
from pathlib import Path

from framesentry.config import Settings
from framesentry.errors import FrameSentryError

MAX_FRAMES = 8
"""Sampled frames decoded per input: enough to cross a keyframe, few enough to keep inputs fast."""
AUDIO_S = 2.0


def fuzz_settings(work_dir: Path) -> Settings:
    """Caps small enough that no input can cost much (a claimed 8K, 4-hour file is refused by probe)."""
    return Settings(work_dir=work_dir, max_file_bytes=4 * 1024**2, max_duration_s=120.0, max_width=1920,
                    max_height=1080)


def check_input(data: bytes, path: Path, settings: Settings) -> str:
    """Probe and decode ``data`` (written to ``path``); returns ``ok`` or the error code it was refused with.

    Raises whatever else escapes: that is a bug in the media layer (or in PyAV/FFmpeg under it).
    """
    from framesentry.media import iter_sampled_frames, probe, read_audio

    path.write_bytes(data)
    try:
        info = probe(path, settings)
        if info.video is not None:
            for i, _frame in enumerate(iter_sampled_frames(path, 2.0, max_side=128)):
                if i + 1 >= MAX_FRAMES:
                    break
        if info.audio is not None:
            read_audio(path, settings.audio_sample_rate, max_s=AUDIO_S)
    except FrameSentryError as exc:
        return exc.code
    return "ok"


def write_seeds(folder: Path) -> list[Path]:
    """Small valid files in the containers and codecs uploads come in: the fuzzer mutates from these."""
    from framesentry.lab.samples import tone, write_clip

    folder.mkdir(parents=True, exist_ok=True)
    speech = tone(1.0, 300.0)
    made = [
        write_clip(folder / "h264_aac.mp4", duration_s=1.0, size=(64, 48), fps=10, audio=speech),
        write_clip(folder / "h264_aac_faststart.mp4", duration_s=1.0, size=(48, 32), fps=5, audio=speech,
                   faststart=True),
        write_clip(folder / "vp9_opus.webm", duration_s=1.0, size=(64, 48), fps=10, audio=speech),
        write_clip(folder / "mkv_video_only.mkv", duration_s=1.0, size=(32, 32), fps=5),
        write_clip(folder / "pcm.wav", duration_s=0.5, video=False, audio=speech[:8000]),
        write_clip(folder / "aac.m4a", duration_s=0.5, video=False, audio=speech[:8000]),
    ]
    return made


def main(argv: list[str]) -> None:
    """libFuzzer entry: ``argv`` are libFuzzer's own flags and corpus folders (see benchmarks/fuzz_media.py)."""
    import tempfile

    import atheris

    work = Path(tempfile.mkdtemp(prefix="framesentry-fuzz-"))
    settings = fuzz_settings(work)
    target = work / "input"
    with atheris.instrument_imports(include=["framesentry.media"]):
        import framesentry.media  # noqa: F401  (instrumented for coverage feedback)

    def one_input(data: bytes) -> None:
        check_input(data, target, settings)

    atheris.Setup([sys.argv[0], *argv], one_input)
    atheris.Fuzz()
