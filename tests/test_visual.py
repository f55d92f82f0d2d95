"""Visual detector: data split, augmentation, shared preprocess, training end to end, committed model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from framesentry.config import Settings
from framesentry.digest import sha256_file
from framesentry.errors import DataError, ModelError
from framesentry.inference.metrics import roc_auc
from framesentry.inference.visual import model as model_mod
from framesentry.inference.visual.model import VisualDetector, preprocess
from framesentry.lab.visual import train as train_mod
from framesentry.lab.visual.augment import AugmentConfig, degrade, degrade_batch
from framesentry.lab.visual.dataset import read_labels, split_indices
from framesentry.lab.visual.evaluate import split_data


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="module")
def detector(settings: Settings) -> VisualDetector:
    return VisualDetector.load(settings)


def test_split_is_fixed_and_never_mixes_videos(settings: Settings) -> None:
    """The labels.csv split has the documented sizes and no source video appears in two splits."""
    samples = read_labels(settings)
    sizes = {s: split_indices(samples, s).size for s in ("train", "val", "test")}
    assert sizes == {"train": 16038, "val": 2050, "test": 1912}
    owner: dict[str, str] = {}
    for s in samples:
        assert owner.setdefault(s.source_video, s.split) == s.split
    small = split_indices(samples, "test", 10)
    assert small.size == 10 and sum(samples[i].label for i in small) == 5


def test_missing_data_raises_data_error(tmp_path: Path) -> None:
    """A missing dfdc-faces folder is a DataError with the path, not a raw traceback."""
    with pytest.raises(DataError, match="dfdc-faces not found"):
        read_labels(Settings(shared_dir=tmp_path))


def test_augmentation_changes_pixels_keeps_shape_and_dtype() -> None:
    """Each degradation path alters the image while keeping [H,W,3] uint8; same seed, same output."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (144, 144, 3), dtype=np.uint8)
    img[40:100, 40:100] = 200  # some structure so blur/JPEG have something to change
    always = AugmentConfig(flip_p=1, color_p=1, rescale_p=1, blur_p=1, noise_p=1, jpeg_p=1)
    for cfg in (AugmentConfig(), always):
        out = degrade(img, np.random.default_rng(1), cfg)
        assert out.shape == img.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - img.astype(int)).mean() > 1.0
        assert np.array_equal(out, degrade(img, np.random.default_rng(1), cfg))
    batch = degrade_batch(np.stack([img, img]), np.random.default_rng(2))
    assert batch.shape == (2, 144, 144, 3) and batch.dtype == np.uint8
    assert not np.array_equal(batch[0], batch[1])


def test_preprocess_resizes_and_normalises() -> None:
    """224 px uint8 crops become [N,3,size,size] floats, ImageNet-normalised; bad input is refused."""
    mean_rgb = np.round(np.array(model_mod.IMAGENET_MEAN) * 255).astype(np.uint8)
    gray = np.broadcast_to(mean_rgb, (2, 224, 224, 3)).copy()  # the ImageNet mean colour -> ~0 everywhere
    x = preprocess(gray, 96)
    assert tuple(x.shape) == (2, 3, 96, 96)
    assert float(x.abs().max()) < 0.02
    assert float(preprocess(np.full((1, 224, 224, 3), 255, np.uint8), 96).min()) > 2.0
    with pytest.raises(ValueError):
        preprocess(gray.astype(np.float32), 96)


def test_preprocess_is_one_function_for_training_and_inference(detector: VisualDetector) -> None:
    """Training imports the very same preprocess object, and the detector's logits equal module(preprocess(x))."""
    import torch

    assert train_mod.preprocess is model_mod.preprocess
    crops = np.random.default_rng(3).integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)
    with torch.inference_mode():
        direct = detector.module(preprocess(crops, detector.input_size)).reshape(-1).double().numpy()
    np.testing.assert_allclose(detector.logits(crops), direct, rtol=1e-5, atol=1e-5)


def test_training_end_to_end_writes_loadable_model(tmp_path: Path) -> None:
    """The real training function runs on a tiny subset and writes weights, calibration and a card that loads."""
    settings = Settings(work_dir=tmp_path / "work")
    cfg = train_mod.TrainConfig(
        out_dir=tmp_path / "out", epochs=1, image_size=64, batch_size=16, limit=32, seed=7, log_every=1
    )
    result = train_mod.train_visual(cfg, settings)
    out = tmp_path / "out"
    for name in ("weights.pt", "model_card.json", "MODEL_CARD.md", "calibration.json"):
        assert (out / name).is_file(), name
    card = json.loads((out / "model_card.json").read_text())
    assert card["weights_sha256"] == sha256_file(out / "weights.pt")
    assert card["config"]["seed"] == 7 and card["config"]["limit"] == 32
    assert card["data"]["sizes"]["train"]["images"] == 32
    assert card["calibration"]["temperature"] > 0 and result.epochs_run == 1
    assert (cfg.run_dir is not None) and (cfg.run_dir / "best.pt").is_file()
    det = VisualDetector.from_dir(out)
    p = det.predict(np.zeros((2, 224, 224, 3), dtype=np.uint8))
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1))
    assert det.input_size == 64 and det.version.startswith("mobilenetv2-64@")


def test_committed_model_separates_real_and_fake_test_crops(settings: Settings, detector: VisualDetector) -> None:
    """On 100 held-out test crops the committed model ranks fakes above reals far better than chance."""
    images, labels = split_data(settings, "test", limit=100)
    p = detector.predict(images)
    assert p.shape == (100,) and p.dtype == np.float64 and np.all((p >= 0) & (p <= 1))
    assert roc_auc(p, labels) > 0.8
    assert detector.version == f"mobilenetv2-{detector.input_size}@{detector.card['weights_sha256'][:12]}"  # type: ignore[index]


def test_missing_or_tampered_weights_raise_model_error(tmp_path: Path, settings: Settings) -> None:
    """No card, no weights, or weights whose sha256 differs from the card all give a clear ModelError."""
    with pytest.raises(ModelError, match="card missing"):
        VisualDetector.load(Settings(models_dir=tmp_path))
    dst = tmp_path / "visual"
    shutil.copytree(settings.models_dir / "visual", dst)
    card = json.loads((dst / "model_card.json").read_text())
    weights = dst / card["weights_file"]
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # flip one byte: same size, different content
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="do not match"):
        VisualDetector.load(Settings(models_dir=tmp_path))
    weights.unlink()
    with pytest.raises(ModelError, match="weights missing"):
        VisualDetector.load(Settings(models_dir=tmp_path))


def test_framing_jitter_zooms_out_and_shifts() -> None:
    """Zoom-out puts new border around a smaller face; shift moves it; same seed, same output."""
    img = np.full((144, 144, 3), 200, dtype=np.uint8)
    img[60:84, 60:84] = 0  # a dark square marks the face centre
    plain = dict(flip_p=0, color_p=0, rescale_p=0, blur_p=0, noise_p=0, jpeg_p=0)
    zoom = AugmentConfig(framing_p=1, zoom_min=1.2, zoom_max=1.2, shift_max=0.0, texture_p=1, **plain)
    out = degrade(img, np.random.default_rng(4), zoom)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.array_equal(out, degrade(img, np.random.default_rng(4), zoom))
    dark = np.argwhere(out.max(axis=2) < 60)
    side = dark.max(axis=0) - dark.min(axis=0) + 1
    assert np.all(np.abs(side - 24 / 1.2) <= 2), side  # the marker shrank by the zoom factor
    assert np.abs(out[:4].astype(int) - 200).mean() > 5  # border is texture, not the image
    shift = AugmentConfig(framing_p=1, zoom_min=1.0, zoom_max=1.0, shift_max=0.08, texture_p=0, **plain)
    views = [degrade(img, np.random.default_rng(s), shift) for s in range(6)]
    centres = [np.argwhere(v.max(axis=2) < 60).mean(axis=0) for v in views]
    assert max(np.abs(c - 71.5).max() for c in centres) > 3  # the marker moved off-centre in some views


def test_init_from_loads_weights_and_card_lists_both_commands(tmp_path: Path, settings: Settings) -> None:
    """--init-from loads an exported model exactly; the fine-tune card reproduces base then fine-tune."""
    import torch

    from framesentry.lab.visual.card import reproduce_command

    base = settings.models_dir / "visual"
    model = model_mod.build_model()
    train_mod.load_init_weights(model, base / "weights.pt")
    saved = torch.load(base / "weights.pt", map_location="cpu", weights_only=True)
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
    with pytest.raises(ModelError, match="not found"):
        train_mod.load_init_weights(model, tmp_path / "nope.pt")
    cfg = train_mod.TrainConfig(out_dir=tmp_path, epochs=1, lr=1e-4, init_from=base / "weights.pt")
    cmds = reproduce_command(cfg)
    base_card = json.loads((base / "model_card.json").read_text())["reproduce"]
    first = base_card if isinstance(base_card, str) else base_card[0]
    assert cmds[0] == first.replace("--out <dir>", "--out <base_dir>")
    assert "--init-from <base_dir>/weights.pt" in cmds[-1] and "--lr 0.0001" in cmds[-1]
