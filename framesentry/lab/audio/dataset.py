"""The audio training/evaluation corpus: LibriSpeech bona fide segments plus the project's spoofs.

Every item is one model window (64,600 samples at 16 kHz, shorter ones are tiled by the model code).
Split is by speaker (hash of the LibriSpeech speaker id), and resynthesised spoofs inherit the split of the
speaker whose audio they were made from, so no speaker's voice appears on two sides. TTS utterances have
no human speaker; they are split by a hash of their own id. Audio is cached under ``work_dir`` as int16
``.npy`` files with a ``manifest.json``, so synthesis runs once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from framesentry.errors import DataError
from framesentry.lab.audio.spoofgen import RESYNTH_GENERATORS, TTS_GENERATORS, resynthesise, synthesise_tts

RATE = 16000
WINDOW = 64600
SPLITS = ("train", "val", "test")
CORPUS_VERSION = "v2"  # v2: Griffin-Lim phase initialisation seeded (v1 was not reproducible)


@dataclass(frozen=True)
class Clip:
    """One window of audio. ``label`` 1 = spoof, 0 = bona fide; ``generator`` is ``bonafide`` for real."""

    id: str
    label: int
    generator: str
    speaker: str
    split: str
    tag: str


def read_audio(path: Path, rate: int = RATE) -> NDArray[np.float32]:
    """Decode an audio file to mono float32 at ``rate`` (the project's PyAV decoder); ``DataError`` if broken."""
    from framesentry.errors import MediaError
    from framesentry.media.decode import read_audio as decode_audio

    try:
        return decode_audio(path, sample_rate=rate)
    except MediaError as exc:
        raise DataError(f"cannot decode audio {path}: {exc.message}") from exc


def split_of(key: str, fractions: tuple[float, float] = (0.70, 0.85)) -> str:
    """Deterministic split from a stable hash: 70 % train, 15 % val, 15 % test."""
    h = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "train" if h < fractions[0] else "val" if h < fractions[1] else "test"


def list_bonafide(shared_dir: Path) -> list[tuple[Path, str]]:
    """``(flac path, speaker id)`` for both LibriSpeech subsets (test-other is nested by speaker)."""
    root = shared_dir / "data" / "librispeech"
    files = sorted((root / "train-clean-100").glob("*.flac")) + sorted((root / "test-other").glob("*/*.flac"))
    if not files:
        raise DataError(f"no LibriSpeech .flac files under {root}; see shared/README.md")
    return [(f, f.name.split("-")[0]) for f in files]


def segments(x: NDArray[np.float32], max_segments: int) -> list[NDArray[np.float32]]:
    """Non-overlapping full windows from the start (a short file gives one short segment)."""
    n = min(max(x.size // WINDOW, 1), max_segments)
    return [x[i * WINDOW : (i + 1) * WINDOW] for i in range(n)]


class Corpus:
    """Manifest + cached audio of every clip; ``build`` creates what is missing."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.audio_dir = root / "audio"
        self.manifest = root / "manifest.json"
        self.clips: list[Clip] = []
        if self.manifest.is_file():
            self.clips = [Clip(**c) for c in json.loads(self.manifest.read_text())["clips"]]

    @staticmethod
    def default_root(work_dir: Path, name: str = "full") -> Path:
        return work_dir / "audio" / f"corpus-{CORPUS_VERSION}-{name}"

    def audio(self, clip: Clip) -> NDArray[np.float32]:
        """Cached waveform of one clip as float32 in [-1, 1]."""
        path = self.audio_dir / f"{clip.id}.npy"
        if not path.is_file():
            raise DataError(f"cached audio missing: {path}; run `framesentry train audio` to rebuild")
        return np.load(path).astype(np.float32) / 32767.0

    def _save(self, clip_id: str, x: NDArray[np.float32]) -> None:
        pcm = (np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)
        np.save(self.audio_dir / f"{clip_id}.npy", pcm)

    def build(
        self,
        shared_dir: Path,
        n_tts: int = 300,
        max_segments: int = 3,
        max_files: int | None = None,
        seed: int = 0,
        log: Callable[[str], None] = print,
    ) -> list[Clip]:
        """Create (or complete) the corpus: bona fide segments, their resyntheses, and TTS utterances."""
        self.audio_dir.mkdir(parents=True, exist_ok=True)
        have = {c.id: c for c in self.clips}
        clips: list[Clip] = []
        files = list_bonafide(shared_dir)
        if max_files is not None:  # small corpora still need every split: pick round-robin over splits
            by_split = {sp: [f for f in files if split_of(f"speaker:{f[1]}") == sp] for sp in SPLITS}
            files = [by_split[sp][i] for i in range(max_files) for sp in SPLITS if i < len(by_split[sp])][:max_files]
        for k, (path, speaker) in enumerate(files):
            split = split_of(f"speaker:{speaker}")
            base = path.stem
            ids = [f"bonafide-{base}-{i}" for i in range(max_segments)]
            x = read_audio(path) if ids[0] not in have else None
            segs = segments(x, max_segments) if x is not None else None
            n_seg = len(segs) if segs is not None else sum(1 for i in ids if i in have)
            for i in range(n_seg):
                cid = ids[i]
                if cid in have:
                    clips.append(have[cid])
                else:
                    assert segs is not None
                    self._save(cid, segs[i])
                    clips.append(Clip(cid, 0, "bonafide", speaker, split, f"librispeech:{base}"))
                for gen in RESYNTH_GENERATORS:
                    gid = f"{gen}-{base}-{i}"
                    if gid in have:
                        clips.append(have[gid])
                        continue
                    src = segs[i] if segs is not None else self.audio(have[cid])
                    rng = np.random.default_rng(int(hashlib.sha1(gid.encode()).hexdigest()[:8], 16) ^ seed)
                    y, tag = resynthesise(gen, src, rng)
                    self._save(gid, y)
                    clips.append(Clip(gid, 1, gen, speaker, split, tag))
            if k % 25 == 0:
                log(f"  bona fide + resynthesis: {k + 1}/{len(files)} files")
                self._write(clips + [c for c in have.values() if c not in clips])
        for gen in TTS_GENERATORS:
            for j in range(n_tts):
                tid = f"{gen}-{j:04d}"
                if tid in have:
                    clips.append(have[tid])
                    continue
                rng = np.random.default_rng(int(hashlib.sha1(tid.encode()).hexdigest()[:8], 16) ^ seed)
                y, tag, _text = synthesise_tts(gen, rng)
                self._save(tid, segments(y, 1)[0])
                clips.append(Clip(tid, 1, gen, "tts", split_of(f"tts:{tid}"), tag))
            log(f"  {gen}: {n_tts} utterances")
        self.clips = clips
        self._write(clips)
        return clips

    def _write(self, clips: Sequence[Clip]) -> None:
        self.manifest.write_text(json.dumps({"version": CORPUS_VERSION, "clips": [asdict(c) for c in clips]}))

    def select(self, split: str | None = None, exclude: Sequence[str] = ()) -> list[Clip]:
        """Clips of one split, optionally without some generators (for held-out tests)."""
        return [c for c in self.clips if (split is None or c.split == split) and c.generator not in exclude]

    def summary(self) -> dict[str, dict[str, int]]:
        """Counts per split and generator (for the model card)."""
        out: dict[str, dict[str, int]] = {}
        for c in self.clips:
            out.setdefault(c.split, {}).setdefault(c.generator, 0)
            out[c.split][c.generator] += 1
        return out
