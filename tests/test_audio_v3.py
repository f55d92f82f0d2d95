"""Audio v3: neural spoof generators, corpus parts, channel augmentation, Whisper front end, v3 training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from framesentry.config import Settings

RATE = 16000


@pytest.fixture(scope="module")
def real_speech(settings: Settings) -> np.ndarray:
    """Two seconds of a real LibriSpeech utterance (train-clean-100, speaker 103), 16 kHz."""
    from framesentry.lab.audio.dataset import read_audio

    x = read_audio(settings.shared_dir / "data" / "librispeech" / "train-clean-100" / "103-1240-0000.flac")
    return x[RATE : 3 * RATE]


def _envelope(x: np.ndarray) -> np.ndarray:
    frames = np.lib.stride_tricks.sliding_window_view(x, 400)[::160]
    return np.log(np.mean(frames**2, axis=1) + 1e-9)


@pytest.mark.parametrize("name", ["hifigan", "lpcnet"])
def test_neural_resynthesis_keeps_the_source_speech(real_speech: np.ndarray, name: str) -> None:
    """HiFi-GAN and LPCNet resynthesise the real utterance: same length, same loudness contour over time."""
    from framesentry.lab.audio.spoofgen import resynthesise

    y, tag = resynthesise(name, real_speech, np.random.default_rng(0))
    assert tag.startswith(name) and y.shape == real_speech.shape and y.dtype == np.float32
    assert np.corrcoef(_envelope(real_speech), _envelope(y))[0, 1] > 0.7
    if name == "hifigan":  # LPCNet (libcodec2) is not bit-reproducible: see neuralgen._LPCNet.roundtrip
        y2, _ = resynthesise(name, real_speech, np.random.default_rng(0))
        assert np.allclose(y, y2, atol=1e-4)


@pytest.mark.parametrize("name", ["piper", "kokoro"])
def test_neural_tts_speaks(name: str) -> None:
    """Piper and Kokoro say a short sentence: 16 kHz float audio of plausible length and level."""
    from framesentry.lab.audio import neuralgen

    y, tag = getattr(neuralgen, name)("The old farmer carried the box.", np.random.default_rng(1))
    assert tag.startswith(name) and y.dtype == np.float32
    assert 0.8 * RATE < y.size < 6 * RATE
    assert 0.01 < float(np.sqrt(np.mean(y**2))) < 0.7


def test_corpus_parts_are_reproducible_and_independent(settings: Settings, tmp_path: Path) -> None:
    """Two builds of the same parts give identical audio; parts load back in a fixed order."""
    from framesentry.lab.audio.dataset import Corpus

    def build(root: Path) -> Corpus:
        c = Corpus(root)
        c.build(settings.shared_dir, n_tts={"espeak": 2}, max_segments=1, max_files=3,
                parts=("espeak", "bonafide", "griffinlim"), log=lambda m: None)
        return c

    a, b = build(tmp_path / "a"), build(tmp_path / "b")
    assert [c.id for c in a.clips] == [c.id for c in b.clips]
    assert [c.generator for c in a.clips][:3] == ["bonafide"] * 3  # PARTS order, not build order
    assert {c.generator for c in a.clips} == {"bonafide", "espeak", "griffinlim"}
    for clip in a.clips:
        assert np.array_equal(a.audio(clip), b.audio(clip))
    resynth = [c for c in a.clips if c.generator == "griffinlim"]
    real = {c.speaker: c.split for c in a.clips if c.label == 0}
    assert all(real[c.speaker] == c.split for c in resynth)  # a resynthesis stays with its speaker
    assert len(Corpus(tmp_path / "a").clips) == len(a.clips)
    # Two shards make disjoint halves and write no manifest; an unsharded build then collects them as they are.
    sharded = Corpus(tmp_path / "s")
    for i in range(2):
        sharded.build(settings.shared_dir, n_tts={"espeak": 2}, max_segments=1, max_files=3,
                      parts=("espeak", "bonafide", "griffinlim"), shard=(i, 2), log=lambda m: None)
    assert not (tmp_path / "s" / "parts" / "espeak.json").exists()
    made = sorted(p.name for p in (tmp_path / "s" / "audio").glob("*.npy"))
    c = build(tmp_path / "s")
    assert sorted(p.name for p in (tmp_path / "s" / "audio").glob("*.npy")) == made  # nothing re-synthesised
    assert [x.id for x in c.clips] == [x.id for x in a.clips]
    assert not list((tmp_path / "s" / "audio").glob("*.tmp"))  # metadata is written atomically (shards read it)
    with pytest.raises(ValueError, match="unknown"):
        a.build(settings.shared_dir, parts=("nope",))


def test_channel_copy_keeps_length_and_is_seeded(real_speech: np.ndarray) -> None:
    from framesentry.lab.audio.augment import channel_copy, reverb

    r, tag = reverb(real_speech, np.random.default_rng(2))
    assert r.shape == real_speech.shape and tag.startswith("reverb:")
    assert float(np.sqrt(np.mean(r**2))) == pytest.approx(float(np.sqrt(np.mean(real_speech**2))), rel=0.05)
    a = channel_copy(real_speech, np.random.default_rng(3))
    assert a.shape == real_speech.shape and np.all(np.isfinite(a)) and np.max(np.abs(a)) <= 1.0
    assert np.array_equal(a, channel_copy(real_speech, np.random.default_rng(3)))


def test_whisper_features_are_pooled_and_batch_invariant(real_speech: np.ndarray) -> None:
    from framesentry.inference.audio.whisper import FEATURES, WhisperFeatures
    from framesentry.inference.audio.windows import tile_to

    w = WhisperFeatures()
    x = np.stack([tile_to(real_speech, 64600), tile_to(real_speech[::-1].copy(), 64600)])
    f = w(x)
    assert f.shape == (2, FEATURES) and np.all(np.isfinite(f))
    assert np.allclose(w(x[:1])[0], f[0], atol=1e-3)
    assert not np.allclose(f[0], f[1], atol=1e-3)


def test_train_v3_tiny_writes_a_loadable_whisper_detector(settings: Settings, tmp_path: Path) -> None:
    """The v3 recipe end to end on a tiny corpus: card with the LOGO table of all eight generators, a
    detector that loads (Whisper back end, v2 CNN weights unchanged) and scores windows."""
    from framesentry.inference.audio.detector import AudioDetector
    from framesentry.lab.audio.spoofgen import GENERATORS
    from framesentry.lab.audio.train_v3 import train_v3

    local = settings.model_copy(update={"work_dir": tmp_path / "work"})
    out = tmp_path / "model"
    metrics = train_v3(local, out, tiny=True, log=lambda m: None)
    assert set(metrics["logo"]["per_generator"]) == set(GENERATORS)
    assert 0.0 <= metrics["test"]["clean"]["pooled"]["eer"] <= 1.0
    assert metrics["speed"]["whisper_ms"] > 0
    det = AudioDetector.load(local, model_dir=out)
    assert det.whisper is not None and det.fusion["use_whisper"]
    assert det.card["weights_sha256"] == AudioDetector.read_identity(settings.models_dir / "audio").weights_sha256
    x = np.zeros((2, 64600), np.float32) + 0.01 * np.random.default_rng(0).standard_normal(64600)
    p = det.predict(x)
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1))
    # A Whisper-only back end (same cached features, a refit): the runtime picks its columns like training did.
    from framesentry.lab.audio.backend import score

    only = train_v3(local, tmp_path / "whisper-only", tiny=True, log=lambda m: None, features=["whisper"])
    assert only["logo"]["features"] == ["whisper"]
    det2 = AudioDetector.load(local, model_dir=tmp_path / "whisper-only")
    assert det2.fusion["features"] == ["whisper"]
    raw = np.concatenate([det2.cnn_logits(x)[:, None], np.zeros((2, 2)), det2.whisper(x)], axis=1)
    assert np.allclose(det2.logits(x), score(det2.fusion, raw), atol=1e-6)


def test_candidate_report_copies_eval_numbers_side_by_side(tmp_path: Path) -> None:
    """The side-by-side table copies what `framesentry eval` wrote; a number a model lacks shows as a dash."""
    import json

    from framesentry.lab.audio.candidate_report import collect, markdown

    gen = {"eer": 0.25, "n_spoof": 4, "n_bonafide": 4}
    cand = {"audio": {"logo": {"per_generator": {"kokoro": gen}, "pooled_eer": 0.2},
                      "clean": {"pooled": {"eer": 0.1}}},
            "crossdomain": {"audio": {"auc": 0.7, "eer": 0.3, "caught_at_0.5": 2, "n_fake": 3,
                                      "per_manipulation": {"TTS-X": {"auc": 0.6, "eer": 0.4}}}}}
    shipped = {"audio": {"clean": {"pooled": {"eer": 0.5}}},
               "crossdomain": {"audio": {"auc": 0.4, "eer": 0.6, "caught_at_0.5": 0, "n_fake": 3,
                                         "per_manipulation": {}}}}
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "cand.json").write_text(json.dumps(cand))
    (tmp_path / "evals" / "shipped.json").write_text(json.dumps(shipped))
    rows = {r.split(" | ")[0].lstrip("| "): r for r in markdown(collect(tmp_path / "evals", tmp_path)).splitlines()}
    assert rows["LOGO EER, held out kokoro"].endswith("| 25.0 % | — |")
    assert rows["in-domain pooled EER, clean test"].endswith("| 10.0 % | 50.0 % |")
    assert rows["crossdomain-dev AUC"].endswith("| 0.700 | 0.400 |")
    assert rows["crossdomain TTS-X AUC / EER"].endswith("| 0.600 / 40.0 % | — |")
