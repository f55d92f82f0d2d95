"""Media layer: probing, typed errors for bad uploads, sampled frames, 16 kHz audio, streaming memory."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import CLIPS

from framesentry.config import Settings
from framesentry.errors import (
    CorruptMediaError,
    EmptyMediaError,
    MediaError,
    MediaLimitError,
    NoStreamsError,
    NotFoundError,
    NotMediaError,
    UnsupportedCodecError,
)
from framesentry.lab.samples import compose_frame, shared_face_paths, tone, write_clip
from framesentry.media import iter_audio, iter_sampled_frames, probe, read_audio

# --- helpers that write special-purpose media ---------------------------------------------------


def _write_counter_clip(path: Path, n_frames: int, fps: int = 30, options: dict[str, str] | None = None) -> Path:
    """Frame i shows its own number as two grey levels (i % 16, i // 16), robust to compression."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        assert isinstance(vs, av.video.stream.VideoStream)
        vs.width, vs.height, vs.pix_fmt = 128, 96, "yuv420p"
        vs.options = dict(options or {"preset": "ultrafast"})
        for i in range(n_frames):
            img = np.empty((96, 128, 3), np.uint8)
            img[:, :64] = (i % 16) * 16 + 8
            img[:, 64:] = (i // 16) * 16 + 8
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
    return path


def _frame_number(rgb: np.ndarray) -> int:
    h, w = rgb.shape[:2]
    lo = rgb[h // 4 : 3 * h // 4, w // 8 : 3 * w // 8].mean()
    hi = rgb[h // 4 : 3 * h // 4, 5 * w // 8 : 7 * w // 8].mean()
    return round((lo - 8) / 16) + 16 * round((hi - 8) / 16)


def _readable(exc: MediaError, name: str) -> None:
    """User-facing messages name the file and carry no FFmpeg jargon."""
    assert name in exc.message
    for jargon in ("Errno", "avcodec", "avformat", "Traceback", "moov"):
        assert jargon not in exc.message


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


# --- probe --------------------------------------------------------------------------------------


def test_probe_reports_tracks_of_face_speech_clip(clip_faces_speech: Path) -> None:
    """probe() reads container, duration, codecs, size, fps, frame count and audio layout correctly."""
    info = probe(clip_faces_speech)
    assert "mp4" in info.container_format
    assert info.size_bytes == clip_faces_speech.stat().st_size
    assert info.duration_s == pytest.approx(6.0, abs=0.05)
    assert info.video is not None and info.audio is not None
    assert (info.video.codec, info.video.width, info.video.height) == ("h264", 640, 360)
    assert info.video.fps == pytest.approx(30.0)
    assert info.video.frame_count == 180
    assert info.video.pixel_format == "yuv420p"
    assert (info.audio.codec, info.audio.sample_rate, info.audio.channels) == ("aac", 16000, 1)


@pytest.mark.parametrize(
    ("fixture", "has_video", "has_audio"),
    [("clip_multi_face", True, True), ("clip_no_face", True, True), ("clip_video_only", True, False),
     ("clip_audio_only", False, True)],
)
def test_probe_track_presence(request: pytest.FixtureRequest, fixture: str, has_video: bool, has_audio: bool) -> None:
    """Each fixture clip reports exactly the tracks it was made with, and its length."""
    info = probe(request.getfixturevalue(fixture))
    assert info.has_video is has_video and info.has_audio is has_audio
    assert info.duration_s == pytest.approx(CLIPS[fixture].duration_s, abs=0.05)


def test_probe_reports_display_size_of_rotated_phone_video(tmp_path: Path) -> None:
    """A portrait phone video (stored sideways + rotation flag) is reported and decoded upright."""
    img = np.zeros((96, 128, 3), np.uint8)
    img[:32, :32] = (255, 0, 0)  # red mark top-left of the stored picture
    path = tmp_path / "portrait.mp4"
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=10)
        assert isinstance(vs, av.video.stream.VideoStream)
        vs.width, vs.height, vs.pix_fmt, vs.options = 128, 96, "yuv420p", {"preset": "ultrafast"}
        vs.set_display_rotation(90)
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
    info = probe(path)
    assert info.video is not None and (info.video.width, info.video.height, info.video.rotation) == (96, 128, 90)
    rgb = next(iter(iter_sampled_frames(path, 1.0))).rgb
    assert rgb.shape == (128, 96, 3)
    ys, xs = np.nonzero(rgb[..., 0] > 200)
    assert ys.mean() > 96 and xs.mean() < 32  # rotated 90° counter-clockwise: mark moves to bottom-left


# --- bad inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "error", "words"),
    [
        ("empty_file", EmptyMediaError, "empty"),
        ("not_media_file", NotMediaError, "PDF"),
        ("garbage_with_media_extension", NotMediaError, ".mp4"),
        ("truncated_clip", CorruptMediaError, "cut off"),
    ],
)
def test_bad_inputs_raise_typed_readable_errors(
    request: pytest.FixtureRequest, fixture: str, error: type[MediaError], words: str
) -> None:
    """Each classic bad upload gets its own error type and a plain-language message naming the file."""
    path: Path = request.getfixturevalue(fixture)
    with pytest.raises(error) as info:
        probe(path)
    _readable(info.value, path.name)
    assert words in info.value.message


def test_truncated_clip_says_where_it_was_cut(truncated_clip: Path) -> None:
    """A web MP4 cut in half is caught at probe time from its index, with the time of the cut (~3 s)."""
    with pytest.raises(CorruptMediaError) as info:
        probe(truncated_clip)
    assert 2.0 < info.value.details["at_s"] < 4.0


def test_truncated_clip_fails_inside_decoders_with_typed_error(truncated_clip: Path) -> None:
    """Decoding a cut file yields the frames that exist, then raises CorruptMediaError (not an av error)."""
    got = []
    with pytest.raises(CorruptMediaError) as info:
        for frame in iter_sampled_frames(truncated_clip, 2.0):
            got.append(frame.t_s)
    assert 2.0 <= max(got) < 4.0
    assert 2.0 < info.value.details["at_s"] < 4.0
    with pytest.raises(CorruptMediaError):
        list(iter_audio(truncated_clip))


def test_phone_style_mp4_cut_before_its_index_is_corrupt_not_foreign(tmp_path: Path, clip_video_only: Path) -> None:
    """An MP4 whose index (written last, as phones do) was cut off is 'damaged', not 'not a video'."""
    data = clip_video_only.read_bytes()
    path = tmp_path / "phone_upload.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptMediaError) as info:
        probe(path)
    _readable(info.value, path.name)


def test_cut_matroska_detected_from_its_size_field(tmp_path: Path, speech: np.ndarray) -> None:
    """A WebM/MKV cut in half is caught at probe time (header size > file size) and again while decoding."""
    full = write_clip(tmp_path / "full.webm", duration_s=4.0, size=(320, 180), audio=speech)
    data = full.read_bytes()
    path = tmp_path / "cut.webm"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptMediaError, match="incomplete"):
        probe(path)
    with pytest.raises(CorruptMediaError):
        list(iter_sampled_frames(path, 2.0))


def test_damaged_audio_mid_stream_reports_time(tmp_path: Path, clip_audio_only: Path) -> None:
    """Garbage in the middle of an AAC track raises CorruptMediaError with the time it broke (~3 s)."""
    data = bytearray(clip_audio_only.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 4000] = np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    path = tmp_path / "damaged.m4a"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptMediaError) as info:
        list(iter_audio(path))
    _readable(info.value, path.name)
    assert 1.0 < info.value.details["at_s"] < 5.0


def test_subtitle_only_file_has_no_streams(tmp_path: Path) -> None:
    """A file with only subtitles is valid media but has nothing to analyse -> NoStreamsError."""
    path = tmp_path / "captions.srt"
    path.write_text("1\n00:00:01,000 --> 00:00:02,000\nHello newsroom\n")
    with pytest.raises(NoStreamsError) as info:
        probe(path)
    _readable(info.value, path.name)


def test_unknown_codec_is_unsupported(tmp_path: Path) -> None:
    """An AVI whose video codec tag is unknown to FFmpeg -> UnsupportedCodecError, in probe and decoders."""
    src = tmp_path / "ok.avi"
    with av.open(str(src), "w") as out:
        vs = out.add_stream("mjpeg", rate=10)
        assert isinstance(vs, av.video.stream.VideoStream)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuvj420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
    path = tmp_path / "exotic.avi"
    path.write_bytes(src.read_bytes().replace(b"MJPG", b"ZQZQ"))
    with pytest.raises(UnsupportedCodecError) as info:
        probe(path)
    _readable(info.value, path.name)
    with pytest.raises(UnsupportedCodecError):
        list(iter_sampled_frames(path, 1.0))


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    """A path that does not exist -> NotFoundError, not an OSError traceback."""
    with pytest.raises(NotFoundError):
        probe(tmp_path / "nope.mp4")


def test_caps_raise_media_limit_error(clip_faces_speech: Path) -> None:
    """Duration, resolution and file-size caps from Settings are enforced with HTTP 413 errors."""
    for caps, word in [
        (Settings(max_duration_s=3.0), "long"),
        (Settings(max_width=320), "pixels"),
        (Settings(max_height=200), "pixels"),
        (Settings(max_file_bytes=1000), "largest"),
    ]:
        with pytest.raises(MediaLimitError) as info:
            probe(clip_faces_speech, caps)
        assert info.value.http_status == 413 and word in info.value.message
    assert probe(clip_faces_speech, Settings(max_duration_s=7.0, max_width=640, max_height=360)).video


# --- sampled frames -----------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [2.0, 7.0, 0.4, 60.0])
def test_sampled_frames_are_the_first_frames_at_each_instant(tmp_path: Path, rate: float) -> None:
    """At k/rate the first frame at or after it (number ceil(k/rate*fps)) is returned, once each, with its pts
    time: the rule the live sampler uses, so a file and a stream of the same clip score the same frames."""
    fps, n = 30, 90
    path = _write_counter_clip(tmp_path / "counter.mp4", n, fps)
    frames = list(iter_sampled_frames(path, rate))
    instants = range(math.ceil(n / fps * rate))
    expected = sorted({c for k in instants if (c := math.ceil(k / rate * fps - 1e-9)) < n})
    assert [f.index for f in frames] == list(range(len(expected)))
    assert [_frame_number(f.rgb) for f in frames] == expected
    assert [f.t_s for f in frames] == pytest.approx([i / fps for i in expected], abs=1e-4)


def test_sampled_frames_shape_and_downscale(clip_faces_speech: Path) -> None:
    """Frames are HxWx3 uint8 RGB, contiguous; max_side shrinks the long side and keeps the aspect."""
    full = list(iter_sampled_frames(clip_faces_speech, 2.0))
    small = list(iter_sampled_frames(clip_faces_speech, 2.0, max_side=320))
    assert len(full) == len(small) == 12
    assert full[0].rgb.shape == (360, 640, 3) and full[0].rgb.dtype == np.uint8
    assert small[0].rgb.shape == (180, 320, 3) and small[0].rgb.flags.c_contiguous
    assert [f.t_s for f in small] == pytest.approx([k / 2 for k in range(12)], abs=1e-4)
    assert full[3].rgb.std() > 10  # real picture, not a blank frame


def test_skipping_unused_frames_changes_nothing(tmp_path: Path) -> None:
    """The NONREF speed-up returns bit-identical frames on a clip with B-frames (as web exports have)."""
    path = _write_counter_clip(tmp_path / "bframes.mp4", 150, 30, {"preset": "veryfast"})
    with av.open(str(path)) as c:
        types = {f.pict_type for f in c.decode(video=0)}
    assert av.video.frame.PictureType.B in types  # otherwise this test would prove nothing
    fast = list(iter_sampled_frames(path, 2.0, skip_unused=True))
    slow = list(iter_sampled_frames(path, 2.0, skip_unused=False))
    assert [f.t_s for f in fast] == [f.t_s for f in slow]
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(fast, slow, strict=True))
    assert [_frame_number(f.rgb) for f in fast] == list(range(0, 150, 15))


def test_audio_only_file_has_no_frames(clip_audio_only: Path) -> None:
    """Asking for frames from an audio-only file is a typed NoStreamsError, not an empty result."""
    with pytest.raises(NoStreamsError, match="no picture"):
        list(iter_sampled_frames(clip_audio_only, 2.0))


# --- audio --------------------------------------------------------------------------------------


def test_audio_chunks_are_16k_mono_float_and_contiguous(clip_faces_speech: Path, speech: np.ndarray) -> None:
    """iter_audio gives float32 mono in [-1, 1], back-to-back chunks, ~6 s total matching the source."""
    chunks = list(iter_audio(clip_faces_speech, chunk_s=2.5))
    assert [len(c.samples) for c in chunks[:2]] == [40000, 40000]
    for a, b in itertools.pairwise(chunks):
        assert b.start_s == pytest.approx(a.start_s + a.duration_s)
    audio = np.concatenate([c.samples for c in chunks])
    assert audio.dtype == np.float32 and audio.ndim == 1 and np.abs(audio).max() <= 1.0
    assert len(audio) / 16000 == pytest.approx(6.0, abs=0.05)
    assert np.corrcoef(audio[:96000], speech)[0, 1] > 0.95  # same speech, aligned at t=0


def test_audio_resampled_and_downmixed(tmp_path: Path) -> None:
    """A 44.1 kHz stereo WAV comes back as 16 kHz mono with the same pitch and length."""
    path = tmp_path / "stereo.wav"
    sig = tone(2.0, 440.0, sample_rate=44100)
    with av.open(str(path), "w") as out:
        st = out.add_stream("pcm_s16le", rate=44100, layout="stereo")
        assert isinstance(st, av.audio.stream.AudioStream)
        for start in range(0, len(sig), 4410):
            block = sig[start : start + 4410]
            frame = av.AudioFrame.from_ndarray(np.stack([block, block]), format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 44100, start
            out.mux(st.encode(frame))
        out.mux(st.encode(None))
    audio = read_audio(path)
    assert len(audio) == pytest.approx(32000, abs=20)
    spectrum = np.abs(np.fft.rfft(audio))
    assert np.argmax(spectrum) * 16000 / len(audio) == pytest.approx(440, abs=2)
    assert np.abs(audio).max() == pytest.approx(0.3, abs=0.02)


def test_read_audio_librispeech_and_max_s(settings: Settings) -> None:
    """read_audio reads a LibriSpeech FLAC at full length, and exactly max_s seconds when asked."""
    flac = sorted((settings.shared_dir / "data" / "librispeech" / "train-clean-100").glob("*.flac"))[0]
    info = probe(flac)
    full = read_audio(flac)
    assert len(full) / 16000 == pytest.approx(info.duration_s, abs=0.01)
    assert len(read_audio(flac, max_s=1.5)) == 24000


def test_video_only_file_has_no_audio(clip_video_only: Path) -> None:
    """iter_audio on a silent-film upload raises NoStreamsError saying there is no sound track."""
    with pytest.raises(NoStreamsError, match="no sound"):
        list(iter_audio(clip_video_only))


# --- streaming ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 s, 320x240 at 10 fps with a tone: 1200 frames = 276 MB if all RGB frames were kept."""
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    return write_clip(path, duration_s=120.0, size=(320, 240), fps=10, audio=tone(120.0, 300.0))


def test_frame_decoding_streams_with_bounded_memory(long_clip: Path) -> None:
    """Decoding every frame of a 2-minute clip never holds more than a few frames (RSS grows < 10 %)."""
    all_frames = 1200 * 320 * 240 * 3
    base = _rss_bytes()
    peak, count = base, 0
    last_t = -1.0
    for frame in iter_sampled_frames(long_clip, 10.0):
        last_t = frame.t_s
        count += 1
        if count % 50 == 0:
            peak = max(peak, _rss_bytes())
    assert count == 1200 and last_t == pytest.approx(119.9)
    assert peak - base < 0.1 * all_frames


def test_audio_streams_with_bounded_memory(long_clip: Path) -> None:
    """iter_audio over 2 minutes allocates about one chunk at a time (tracemalloc peak << whole track)."""
    import tracemalloc

    tracemalloc.start()
    total = 0
    for chunk in iter_audio(long_clip, chunk_s=1.0):
        total += len(chunk.samples)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert total / 16000 == pytest.approx(120.0, abs=0.1)
    assert peak < 0.15 * total * 4


# --- sample makers ------------------------------------------------------------------------------


def test_compose_frame_pastes_face_on_textured_background(real_faces: list[np.ndarray]) -> None:
    """The face lands at (x, y) at the asked width, and the background is not a flat colour."""
    face = real_faces[0]
    img = compose_frame((640, 360), [(face, (100, 50, 112))])
    assert img.shape == (360, 640, 3) and img.dtype == np.uint8
    centre = img[50 + 40 : 50 + 72, 100 + 40 : 100 + 72].astype(int)
    assert np.abs(centre - face[80:144:2, 80:144:2].astype(int)).mean() < 25
    assert img[300:, 400:].std() > 3


def test_shared_face_paths_follow_labels(settings: Settings) -> None:
    """shared_face_paths returns existing images of the asked label and split, deterministically."""
    fake = shared_face_paths(settings, "fake", split="test", n=3)
    assert len(fake) == 3 and all(p.exists() for p in fake)
    assert fake == shared_face_paths(settings, "fake", split="test", n=3)
    assert set(fake).isdisjoint(shared_face_paths(settings, "real", split="test", n=50))
