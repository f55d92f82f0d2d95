"""Build corpus v3 and its feature caches with several processes: ``python -m framesentry.lab.audio.prepare``.

Why: ``framesentry train audio`` builds the corpus and computes the frozen features in one process, which
uses one core for most of an hour. Both steps are already shardable (``Corpus.build(shard=...)``,
``FeatureCache(shard=...)``); this runs ``n`` shard processes at once and then the unsharded pass that
writes the part manifests. The result is the same corpus and the same caches a single process would make,
so ``framesentry train audio`` afterwards only fits the back end.

    python -m framesentry.lab.audio.prepare --jobs 2            # corpus, codec copies, feature caches
    python -m framesentry.lab.audio.prepare --jobs 2 --skip-features
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from framesentry.config import get_settings
from framesentry.lab.audio.backend import Log
from framesentry.lab.audio.dataset import Corpus


def _log(t0: float) -> Log:
    return lambda m: print(f"[{time.time() - t0:6.0f}s] {m}", flush=True)


def build_shard(index: int, count: int) -> None:
    settings = get_settings()
    corpus = Corpus(Corpus.default_root(settings.work_dir, "full"))
    corpus.build(settings.shared_dir, shard=(index, count), log=_log(time.time()))


def features_shard(index: int, count: int) -> None:
    """Codec copies and the three feature caches (``clean``, ``codec``, ``aug``) of this shard's clips."""
    import hashlib

    from framesentry.inference.audio.detector import AudioDetector
    from framesentry.lab.audio.backend import FeatureCache, FrontEnd, aug_uses_codec, has_aug
    from framesentry.lab.audio.features import ensure_codec_copies

    log = _log(time.time())
    settings = get_settings()
    corpus = Corpus(Corpus.default_root(settings.work_dir, "full"))
    mine = [c for c in corpus.clips if int(hashlib.sha1(c.id.encode()).hexdigest()[:8], 16) % count == index]
    heldout = [c for c in mine if c.split in ("val", "test")]
    aug = [c for c in mine if c.split == "train" and has_aug(c)]
    ensure_codec_copies(corpus, heldout + [c for c in aug if aug_uses_codec(c)], log=log)
    front = FrontEnd(AudioDetector.load(settings))
    for kind, clips in (("clean", mine), ("codec", heldout), ("aug", aug)):
        FeatureCache(corpus, kind, front, shard=(index, count)).get(clips, log=log)


def _run_shards(step: str, jobs: int) -> None:
    cmd = [sys.executable, "-m", "framesentry.lab.audio.prepare", "--step", step, "--shard"]
    procs = [subprocess.Popen([*cmd, f"{i}/{jobs}"]) for i in range(jobs)]
    codes = [p.wait() for p in procs]
    if any(codes):
        raise SystemExit(f"{step} shards failed: exit codes {codes}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2, help="shard processes per step")
    ap.add_argument("--skip-features", action="store_true", help="only build the corpus")
    ap.add_argument("--shard", help=argparse.SUPPRESS)
    ap.add_argument("--step", choices=("corpus", "features"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.shard:
        index, count = (int(v) for v in args.shard.split("/"))
        (build_shard if args.step == "corpus" else features_shard)(index, count)
        return
    t0 = time.time()
    _run_shards("corpus", args.jobs)
    settings = get_settings()
    corpus = Corpus(Corpus.default_root(settings.work_dir, "full"))
    corpus.build(settings.shared_dir, log=lambda m: None)  # collects the shards' clips, writes the manifests
    print(f"corpus: {len(corpus.clips)} clips {corpus.summary()} ({time.time() - t0:.0f} s)", flush=True)
    if not args.skip_features:
        _run_shards("features", args.jobs)
        print(f"features done ({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
