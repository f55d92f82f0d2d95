"""Self-blended images: landmarks on real shared crops, masks inside the face, changes only inside the mask."""

from __future__ import annotations

import numpy as np
import pytest

from framesentry.config import Settings
from framesentry.lab.visual.dataset import load_images, read_labels, split_indices
from framesentry.lab.visual.sbi import Landmarker, SBIConfig, SBIPool, blend_mask, self_blend

pytest.importorskip("dlib", reason="training extra (dlib-bin) not installed: bash scripts/setup.sh installs it")


@pytest.fixture(scope="module")
def faces() -> tuple[np.ndarray, np.ndarray]:
    """Four real train crops from the shared data and their 68 landmarks."""
    settings = Settings()
    samples = read_labels(settings)
    idx = [i for i in split_indices(samples, "train") if samples[i].label == 0][:4]
    images = load_images(settings, samples, idx)
    mark = Landmarker()
    return images, np.stack([mark(im) for im in images])


def test_landmarks_are_a_plausible_face(faces: tuple[np.ndarray, np.ndarray]) -> None:
    """68 points inside the crop; eyes above the nose tip above the mouth above the chin."""
    images, marks = faces
    w = images.shape[2]
    assert marks.shape == (4, 68, 2)
    assert (marks[..., 0] > -0.1 * w).all() and (marks[..., 0] < 1.1 * w).all()
    for m in marks:
        eyes, nose_tip, mouth, chin = m[36:48, 1].mean(), m[33, 1], m[48:68, 1].mean(), m[8, 1]
        assert eyes < nose_tip < mouth < chin


@pytest.mark.parametrize("lower", [False, True])
def test_mask_lies_inside_the_face(faces: tuple[np.ndarray, np.ndarray], lower: bool) -> None:
    """Every masked pixel is within the landmarks' face box; the lower-face mask stays below the eyes."""
    images, marks = faces
    rng = np.random.default_rng(3)
    cfg = SBIConfig()
    for im, m in zip(images, marks, strict=True):
        for _ in range(5):
            mask = blend_mask(m, im.shape[:2], rng, cfg, lower=lower)
            ys, xs = np.nonzero(mask > 0)
            assert ys.size > 0.02 * mask.size, "mask must cover part of the face"
            size = max(np.ptp(m[:, 0]), np.ptp(m[:, 1]))
            margin = 0.1 * size
            assert xs.min() >= m[:, 0].min() - margin and xs.max() <= m[:, 0].max() + margin
            assert ys.min() >= m[:, 1].min() - margin and ys.max() <= m[:, 1].max() + margin
            assert mask.min() >= 0.0 and mask.max() <= 1.0
            if lower:
                assert ys.min() > m[36:48, 1].mean(), "lower-face mask reaches the eyes"


def test_output_changes_only_inside_the_mask_and_is_seeded(faces: tuple[np.ndarray, np.ndarray]) -> None:
    """Pixels outside the mask are untouched, pixels inside change; same seed, same fake; other seed, other."""
    images, marks = faces
    for im, m in zip(images, marks, strict=True):
        out, mask = self_blend(im, m, np.random.default_rng(11))
        assert out.shape == im.shape and out.dtype == np.uint8
        changed = (out != im).any(axis=2)
        assert not changed[mask == 0].any()
        assert changed[mask > 0.5 * mask.max()].mean() > 0.3
        again, _ = self_blend(im, m, np.random.default_rng(11))
        other, _ = self_blend(im, m, np.random.default_rng(12))
        assert np.array_equal(out, again)
        assert not np.array_equal(out, other)


def test_pool_draws_real_and_blended_pairs(faces: tuple[np.ndarray, np.ndarray]) -> None:
    """A draw returns the real faces and, in the same order, their blends (differing from them)."""
    images, marks = faces
    pool = SBIPool(images, marks, SBIConfig())
    reals, fakes = pool.draw(3, np.random.default_rng(0))
    assert reals.shape == fakes.shape == (3, *images.shape[1:])
    assert all(any(np.array_equal(r, im) for im in images) for r in reals)
    assert all(not np.array_equal(r, f) for r, f in zip(reals, fakes, strict=True))
