"""Cached inputs for audio training/evaluation: window matrices, codec copies and AASIST scores.

Why a cache: codec round trips (~0.2 s per window) and AASIST (~1 s per window on two shared cores) are
the expensive steps. Both are deterministic given the clip and seed, so they are computed once under the
corpus folder in ``work_dir``. AASIST scores are keyed by the sha256 of the weights file they came from.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from framesentry.inference.audio.windows import tile_to
from framesentry.lab.audio.augment import codec_choice, random_codec
from framesentry.lab.audio.dataset import WINDOW, Clip, Corpus


def window_matrix(corpus: Corpus, clips: Sequence[Clip], kind: str = "clean") -> NDArray[np.int16]:
    """``[N, 64600]`` int16 windows (short clips tiled); ``kind`` is ``clean`` or ``codec``."""
    out = np.zeros((len(clips), WINDOW), dtype=np.int16)
    for i, c in enumerate(clips):
        path = (corpus.audio_dir if kind == "clean" else corpus.root / kind) / f"{c.id}.npy"
        x = np.load(path)
        out[i] = x[:WINDOW] if x.size >= WINDOW else np.tile(x, -(-WINDOW // max(x.size, 1)))[:WINDOW]
    return out


def to_float(x: NDArray[np.int16]) -> NDArray[np.float32]:
    return np.asarray(x, dtype=np.float32) / 32767.0


def ensure_codec_copies(
    corpus: Corpus, clips: Sequence[Clip], seed: int = 0, log: Callable[[str], None] = print
) -> dict[str, str]:
    """One random lossy round trip (MP3/AAC/Opus) per clip, cached as ``codec/<id>.npy``; returns tags."""
    root = corpus.root / "codec"
    root.mkdir(parents=True, exist_ok=True)
    tags_path = root / "tags.json"
    tags: dict[str, str] = json.loads(tags_path.read_text()) if tags_path.is_file() else {}
    def rng_of(c: Clip) -> np.random.Generator:
        return np.random.default_rng(int(hashlib.sha1(f"codec:{c.id}".encode()).hexdigest()[:8], 16) ^ seed)

    for c in clips:  # a copy saved by a process that stopped before writing its tag: the tag is re-derived
        if c.id not in tags and (root / f"{c.id}.npy").is_file():
            tags[c.id] = codec_choice(rng_of(c))[3]
    todo = [c for c in clips if not (root / f"{c.id}.npy").is_file() or c.id not in tags]
    for k, c in enumerate(todo):
        rng = rng_of(c)
        x = tile_to(corpus.audio(c), WINDOW)
        y, tag = random_codec(x, rng)
        np.save(root / f"{c.id}.tmp.npy", (np.clip(y, -1, 1) * 32767).astype(np.int16))
        os.replace(root / f"{c.id}.tmp.npy", root / f"{c.id}.npy")  # a stopped process leaves no torn copy
        tags[c.id] = tag
        if k % 200 == 0:
            log(f"  codec copies: {k + 1}/{len(todo)}")
            _merge_write(tags_path, tags)  # several processes may build copies of different parts at once
    _merge_write(tags_path, tags)
    return {c.id: tags[c.id] for c in clips}


def aasist_scores(
    corpus: Corpus,
    clips: Sequence[Clip],
    shared_dir: Path,
    kind: str = "clean",
    variant: str = "AASIST",
    log: Callable[[str], None] = print,
) -> NDArray[np.float64]:
    """Pretrained AASIST fake logits (``logit[0] - logit[1]``) per clip, cached per weights digest."""
    from framesentry.digest import sha256_file
    from framesentry.inference.audio.aasist import aasist_paths, load_aasist
    from framesentry.inference.audio.detector import aasist_fake_logits

    digest = sha256_file(aasist_paths(shared_dir, variant)[0])[:16]
    path = corpus.root / f"aasist-{variant}-{digest}-{kind}.json"
    cache: dict[str, float] = {}
    if path.is_file():
        with contextlib.suppress(ValueError):
            cache = json.loads(path.read_text())
    todo = [c for c in clips if c.id not in cache]
    if todo:
        model = load_aasist(shared_dir, variant)
        step = 32
        for k in range(0, len(todo), step):
            part = todo[k : k + step]
            scores = aasist_fake_logits(model, to_float(window_matrix(corpus, part, kind)))
            cache.update({c.id: float(s) for c, s in zip(part, scores, strict=True)})
            _merge_write(path, cache)
            log(f"  AASIST {kind}: {min(k + step, len(todo))}/{len(todo)}")
    return np.asarray([cache[c.id] for c in clips], dtype=np.float64)


def _merge_write(path: Path, cache: dict[str, Any]) -> None:
    """Merge with what another process may have written meanwhile, then replace the file atomically."""
    if path.is_file():
        with contextlib.suppress(ValueError):  # a torn file is simply recomputed
            cache.update({k: v for k, v in json.loads(path.read_text()).items() if k not in cache})
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(cache))
    os.replace(tmp, path)
