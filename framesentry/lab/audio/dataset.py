"""The audio training/evaluation corpus: LibriSpeech bona fide segments plus the project's spoofs.

Every item is one model window (64,600 samples at 16 kHz, shorter ones are tiled by the model code).
Split is by speaker (hash of the LibriSpeech speaker id), and resynthesised spoofs inherit the split of the
speaker whose audio they were made from, so no speaker's voice appears on two sides. TTS utterances have
no human speaker; they are split by a hash of their own id (Piper has one voice and Kokoro five voice packs
plus blends, so TTS voices recur across splits: the leave-one-generator-out table is the test of unseen
voices). Audio is cached under ``work_dir`` as int16 ``.npy`` files with one manifest per part
(``parts/<part>.json``), so synthesis runs once, and every clip's audio depends only on its id and the seed.
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
CORPUS_VERSION = "v3"  # v3: + Kokoro, Piper, HiFi-GAN, LPCNet; one manifest per part (v2: seeded Griffin-Lim)


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


PARTS = ("bonafide", *RESYNTH_GENERATORS, *TTS_GENERATORS)
N_TTS = {"espeak": 120, "flite": 120, "piper": 90, "kokoro": 60}
RESYNTH_FILES = {"griffinlim": 120, "lpc": 120, "hifigan": 60, "lpcnet": 60}
"""Full-corpus size per generator (TTS utterances; source files resynthesised, picked round-robin over the
splits, so a smaller count is a prefix of a larger one and a grown corpus reuses what was made). Grown from
22 Kokoro, 45 Piper, 16 HiFi-GAN and 36 LPCNet clips so that no held-out neural generator rests on a few
dozen clips; 1,295 windows in all. Built here by ``python -m framesentry.lab.audio.prepare --jobs 2`` (two
shard processes under ``chrt -i 0`` on two cores shared with other jobs) in about 10 minutes of wall time;
one-core costs measured earlier: Kokoro ~9 s per sentence, HiFi-GAN ~2.8 s and LPCNet ~2.6 s per 4 s window,
Piper ~1.5 s per utterance."""


def _rng(clip_id: str, seed: int) -> np.random.Generator:
    """Per-clip generator: a clip's audio depends only on its id and the seed, never on build order."""
    return np.random.default_rng(int(hashlib.sha1(clip_id.encode()).hexdigest()[:8], 16) ^ seed)


class Corpus:
    """Cached audio of every clip plus one manifest per part (bona fide, or one generator).

    Parts are built independently (``build(parts=...)``), so several processes can build different parts of
    the same corpus at once; ``clips`` is the union in the fixed ``PARTS`` order.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.audio_dir = root / "audio"
        self.parts_dir = root / "parts"
        self.clips: list[Clip] = self._load()

    def _load(self) -> list[Clip]:
        clips: list[Clip] = []
        for part in PARTS:
            path = self.parts_dir / f"{part}.json"
            if path.is_file():
                clips += [Clip(**c) for c in json.loads(path.read_text())["clips"]]
        return clips

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
        tmp = self.audio_dir / f"{clip_id}.tmp.npy"
        np.save(tmp, pcm)
        tmp.replace(self.audio_dir / f"{clip_id}.npy")

    @staticmethod
    def _files(shared_dir: Path, max_files: int | None) -> list[tuple[Path, str]]:
        files = list_bonafide(shared_dir)
        if max_files is not None:  # small corpora still need every split: pick round-robin over splits
            by_split = {sp: [f for f in files if split_of(f"speaker:{f[1]}") == sp] for sp in SPLITS}
            files = [by_split[sp][i] for i in range(max_files) for sp in SPLITS if i < len(by_split[sp])][:max_files]
        return files

    def build(
        self,
        shared_dir: Path,
        n_tts: dict[str, int] | int | None = None,
        max_segments: int = 3,
        resynth_segments: int = 1,
        max_files: int | None = None,
        parts: Sequence[str] = PARTS,
        shard: tuple[int, int] = (0, 1),
        seed: int = 0,
        log: Callable[[str], None] = print,
    ) -> list[Clip]:
        """Create (or complete) the given parts: bona fide segments (up to ``max_segments`` per file), the
        resynthesis of each file's first ``resynth_segments`` segments by every resynthesis generator, and
        ``n_tts`` utterances per TTS generator (``N_TTS`` by default).

        ``shard=(i, n)``: make only every n-th clip (offset i) and leave the part manifests alone, so n
        processes can share the slow neural generators; a final unsharded build then collects the clips
        from their metadata files (``<id>.json`` beside each ``<id>.npy``) without synthesising them again."""
        self.audio_dir.mkdir(parents=True, exist_ok=True)
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        unknown = set(parts) - set(PARTS)
        if unknown:
            raise ValueError(f"unknown corpus parts: {sorted(unknown)}")
        counts = n_tts if isinstance(n_tts, dict) else {g: n_tts if n_tts is not None else N_TTS[g]
                                                        for g in TTS_GENERATORS}
        files = self._files(shared_dir, max_files)
        index, count = shard
        for part in parts:
            have = {c.id: c for c in self._read_part(part)}
            clips: list[Clip] = []
            if part in TTS_GENERATORS:
                for j in range(counts.get(part, 0)):
                    tid = f"{part}-{j:04d}"
                    if tid not in have and j % count == index:
                        have[tid] = self._saved(tid) or self._make_tts(part, tid, seed)
                    if tid in have:
                        clips.append(have[tid])
                    if count == 1:
                        self._write_part(part, clips)  # after every clip: an interrupted build loses nothing
                    if j % 20 == 0:
                        log(f"  {part}: {j + 1}/{counts.get(part, 0)}")
            else:
                n_seg = max_segments if part == "bonafide" else resynth_segments
                cap = RESYNTH_FILES.get(part) if max_files is None else None
                part_files = files if cap is None else self._files(shared_dir, cap)
                for k, (path, speaker) in enumerate(part_files):
                    split, base = split_of(f"speaker:{speaker}"), path.stem
                    ids = [f"{part}-{base}-{i}" for i in range(n_seg)]
                    for cid in ids:
                        saved = self._saved(cid) if cid not in have else None
                        if saved is not None:
                            have[cid] = saved
                    if ids[0] not in have and k % count == index:
                        for i, seg in enumerate(segments(read_audio(path), n_seg)):
                            if part == "bonafide":
                                self._save(ids[i], seg)
                                have[ids[i]] = self._record(Clip(ids[i], 0, "bonafide", speaker, split,
                                                                 f"librispeech:{base}"))
                            else:
                                y, tag = resynthesise(part, seg, _rng(ids[i], seed))
                                self._save(ids[i], y)
                                have[ids[i]] = self._record(Clip(ids[i], 1, part, speaker, split, tag))
                    clips += [have[cid] for cid in ids if cid in have]
                    if count == 1:
                        self._write_part(part, clips)
                    if k % 25 == 0:
                        log(f"  {part}: {k + 1}/{len(part_files)} files")
            if count == 1:
                self._write_part(part, clips)
            log(f"  {part}: {len(clips)} clips")
        self.clips = self._load()
        return self.clips

    def _make_tts(self, part: str, tid: str, seed: int) -> Clip:
        y, tag, _text = synthesise_tts(part, _rng(tid, seed))
        self._save(tid, segments(y, 1)[0])
        return self._record(Clip(tid, 1, part, "tts", split_of(f"tts:{tid}"), tag))

    def _record(self, clip: Clip) -> Clip:
        """Write the clip's metadata beside its audio, so a build by another process (a shard) can reuse it."""
        tmp = self.audio_dir / f"{clip.id}.json.tmp"
        tmp.write_text(json.dumps(asdict(clip)))
        tmp.replace(self.audio_dir / f"{clip.id}.json")  # atomic: another shard may read it at any moment
        return clip

    def _saved(self, clip_id: str) -> Clip | None:
        meta, audio = self.audio_dir / f"{clip_id}.json", self.audio_dir / f"{clip_id}.npy"
        if meta.is_file() and audio.is_file():
            return Clip(**json.loads(meta.read_text()))
        return None

    def _read_part(self, part: str) -> list[Clip]:
        path = self.parts_dir / f"{part}.json"
        return [Clip(**c) for c in json.loads(path.read_text())["clips"]] if path.is_file() else []

    def _write_part(self, part: str, clips: Sequence[Clip]) -> None:
        tmp = self.parts_dir / f"{part}.json.tmp"
        tmp.write_text(json.dumps({"version": CORPUS_VERSION, "part": part, "clips": [asdict(c) for c in clips]}))
        tmp.replace(self.parts_dir / f"{part}.json")

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
