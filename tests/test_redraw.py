"""Redrawn faces: a seeded autoencoder fit on real faces, and fakes that use its reconstructions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from framesentry.config import Settings
from framesentry.lab.visual.dataset import load_images, read_labels, resize_uint8, split_indices
from framesentry.lab.visual.redraw import RedrawConfig, reconstruct, redrawn_cache, train_autoencoder
from framesentry.lab.visual.sbi import Landmarker, SBIConfig, SBIPool

SMALL = RedrawConfig(width=8, steps=30, batch_size=4)


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    """Six real train crops at 72 px (a side that is not a multiple of 16: the padding path)."""
    settings = Settings()
    samples = read_labels(settings)
    idx = [i for i in split_indices(samples, "train") if samples[i].label == 0][:6]
    return resize_uint8(load_images(settings, samples, idx), 72)


def test_autoencoder_learns_and_is_seeded(faces: np.ndarray) -> None:
    """Training lowers the reconstruction error below the untrained net's; same seed, same reconstruction."""
    untrained = reconstruct(train_autoencoder(faces, RedrawConfig(width=8, steps=1, batch_size=4, lr=0.0)), faces)
    trained = reconstruct(train_autoencoder(faces, SMALL, log=lambda _m: None), faces)
    again = reconstruct(train_autoencoder(faces, SMALL, log=lambda _m: None), faces)
    assert trained.shape == faces.shape and trained.dtype == np.uint8
    err = np.abs(trained.astype(int) - faces).mean()
    assert err < np.abs(untrained.astype(int) - faces).mean()
    assert np.array_equal(trained, again)


def test_redrawn_cache_is_reused(faces: np.ndarray, tmp_path: Path) -> None:
    """The second call reads the cached reconstructions instead of training again."""
    settings = Settings(work_dir=tmp_path)
    first = redrawn_cache(settings, faces, SMALL, log=lambda _m: None)
    files = list((tmp_path / "visual_cache").glob("redrawn_*.npy"))
    assert len(files) == 1
    np.save(files[0], np.zeros_like(first))  # a reused cache returns exactly what is stored
    assert not redrawn_cache(settings, faces, SMALL, log=lambda _m: None).any()


def test_pool_makes_redrawn_fakes(faces: np.ndarray) -> None:
    """With redraw_share 1 every fake comes from the reconstruction: whole crops or blended inside a mask."""
    pytest.importorskip("dlib", reason="training extra (dlib-bin) not installed")
    marks = np.stack([Landmarker()(im) for im in faces])
    redrawn = reconstruct(train_autoencoder(faces, SMALL, log=lambda _m: None), faces)
    whole = SBIPool(faces, marks, SBIConfig(), redrawn, redraw_share=1.0, whole_crop_p=1.0)
    reals, fakes = whole.draw(4, np.random.default_rng(0))
    for r, f in zip(reals, fakes, strict=True):
        i = next(k for k, im in enumerate(faces) if np.array_equal(im, r))
        assert np.array_equal(f, redrawn[i])
    masked = SBIPool(faces, marks, SBIConfig(ratios=(1.0,)), redrawn, redraw_share=1.0, whole_crop_p=0.0)
    reals, fakes = masked.draw(4, np.random.default_rng(1))
    for r, f in zip(reals, fakes, strict=True):
        i = next(k for k, im in enumerate(faces) if np.array_equal(im, r))
        changed = (f != r).any(axis=2)
        assert 0.02 < changed.mean() < 0.95, "a masked redraw changes the face, not the whole crop"
        inside = changed & (f == redrawn[i]).all(axis=2)
        assert inside.any(), "fully masked pixels come from the reconstruction"


def test_match_sharpness_brings_reconstructions_to_the_real_faces_sharpness(faces: np.ndarray) -> None:
    """Autoencoder faces are softer than the originals; matched ones are as sharp (the 'soft = fake' shortcut)."""
    from framesentry.inference.faces.crops import crop_sharpness
    from framesentry.lab.visual.redraw import match_sharpness

    redrawn = reconstruct(train_autoencoder(faces, SMALL, log=lambda _m: None), faces)
    matched = match_sharpness(redrawn, faces)
    before = [abs(np.log(crop_sharpness(f) / crop_sharpness(r))) for f, r in zip(redrawn, faces, strict=True)]
    after = [abs(np.log(crop_sharpness(f) / crop_sharpness(r))) for f, r in zip(matched, faces, strict=True)]
    assert np.median(after) < 0.5 * np.median(before)


def test_sharpness_balanced_subset_hides_sharpness_from_the_label() -> None:
    """Sharp reals and soft fakes: the kept subset has equal counts and equal sharpness per class."""
    from scipy.ndimage import gaussian_filter

    from framesentry.inference.faces.crops import crop_sharpness
    from framesentry.lab.visual.dataset import sharpness_balanced

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, size=(400, 32, 32, 3)).astype(np.float32)
    sigma = np.where(np.arange(400) < 200, rng.uniform(0.0, 1.0, 400), rng.uniform(0.5, 1.5, 400))
    images = np.stack([gaussian_filter(b, (s, s, 0)) for b, s in zip(base, sigma, strict=True)]).astype(np.uint8)
    labels = (np.arange(400) >= 200).astype(np.int64)  # the first 200 (sharper) are real
    sharp = np.log([crop_sharpness(im) for im in images])
    assert np.median(sharp[labels == 0]) - np.median(sharp[labels == 1]) > 0.5
    keep = sharpness_balanced(images, labels, seed=1, bins=10)
    assert (labels[keep] == 0).sum() == (labels[keep] == 1).sum() > 40
    kept_real, kept_fake = sharp[keep][labels[keep] == 0], sharp[keep][labels[keep] == 1]
    assert abs(np.median(kept_real) - np.median(kept_fake)) < 0.15
    assert np.array_equal(keep, sharpness_balanced(images, labels, seed=1, bins=10))


def test_training_with_redrawn_fakes_and_balanced_sharpness_runs_and_is_reproducible(tmp_path: Path) -> None:
    """A tiny real run with SBI + redrawn fakes on the sharpness-balanced subset; the card says how to redo it."""
    import json

    pytest.importorskip("dlib", reason="training extra (dlib-bin) not installed")
    from framesentry.lab.visual import train as train_mod

    settings = Settings(work_dir=tmp_path / "work")
    cfg = train_mod.TrainConfig(
        out_dir=tmp_path / "out", epochs=1, image_size=64, batch_size=16, limit=48, seed=7, log_every=1,
        sbi_share=0.5, sbi_pool=8, redraw_share=0.5, redraw=SMALL, balance_sharpness=True, max_steps=2,
    )
    train_mod.train_visual(cfg, settings)
    log = (cfg.run_dir / "train.log").read_text() if cfg.run_dir else ""
    assert "redrawn pool: 8 autoencoder reconstructions" in log
    assert "sharpness-balanced DFDC:" in log
    card = json.loads((tmp_path / "out" / "model_card.json").read_text())
    command = card["reproduce"] if isinstance(card["reproduce"], str) else card["reproduce"][-1]
    assert "--redraw-share 0.5" in command and "--balance-sharpness" in command
