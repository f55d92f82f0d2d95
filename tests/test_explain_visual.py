"""Grad-CAM on the visual model: maps exist, differ between a real face and its manipulated twin, peak inside
the face on a composed frame, depend on the model's weights (Adebayo et al. 2018 randomisation check), and
are not disturbed by the same model scoring on another thread.

Real/fake pairs are DFDC test crops: each fake is made from the real video named in its ``source_video``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from framesentry.config import Settings
from framesentry.explain.gradcam import TARGET_LAYER, frame_map, gradcam_maps, peak
from framesentry.inference.visual.model import VisualDetector

PAIRS = 6


@pytest.fixture(scope="module")
def visual(settings: Settings) -> VisualDetector:
    return VisualDetector.from_dir(settings.models_dir / "visual")


@pytest.fixture(scope="module")
def pairs(settings: Settings) -> list[tuple[np.ndarray, np.ndarray]]:
    from framesentry.lab.samples import load_rgb

    root = settings.shared_dir / "data" / "dfdc-faces"
    with (root / "labels.csv").open(newline="") as fh:
        fakes = [r for r in csv.DictReader(fh) if r["split"] == "test" and r["label"] == "fake"][:PAIRS]
    images = root / "images"
    return [(load_rgb(images / r["source_video"].replace(".mp4", ".jpg")), load_rgb(images / r["image"]))
            for r in fakes]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_maps_exist_and_differ_between_real_and_fake(visual: VisualDetector,
                                                     pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
    crops = np.stack([c for pair in pairs for c in pair])
    cams = gradcam_maps(visual.module, crops, visual.input_size)
    assert cams.maps.shape == (len(crops), 224, 224)
    assert np.isfinite(cams.maps).all() and cams.maps.min() >= 0 and cams.maps.max() <= 1
    assert all(m.max() > 0.5 for m in cams.maps)  # each map has a clear peak (pytorch-grad-cam scales to 1)
    real, fake = cams.maps[0::2], cams.maps[1::2]
    # The fakes are called fake and their maps show evidence for fake; the reals mostly the other way.
    assert [cams.targets[i] for i in range(1, len(crops), 2)].count("fake") >= PAIRS - 1
    diffs = [float(np.abs(r - f).mean()) for r, f in zip(real, fake, strict=True)]
    corrs = [_corr(r, f) for r, f in zip(real, fake, strict=True)]
    assert min(diffs) > 0.03, diffs
    assert np.mean(corrs) < 0.9, corrs  # same person, same pose, different evidence


def test_maps_peak_inside_the_face_on_a_frame(visual: VisualDetector, settings: Settings,
                                              pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Face pasted on a 640x360 frame, found by MTCNN, cropped like the pipeline; the map placed back on the
    frame must put its peak inside the detected face box and most of its mass there."""
    from framesentry.inference.faces import FaceDetector, crop_face
    from framesentry.lab.samples import compose_frame

    detector = FaceDetector(settings)
    inside, masses = 0, []
    faces = [c for pair in pairs for c in pair]
    for face in faces:
        frame = compose_frame((640, 360), [(face, (200, 60, 220))])
        [box] = detector.detect(frame)
        crop = crop_face(frame, box, settings)
        cam = gradcam_maps(visual.module, crop[None], visual.input_size).maps[0]
        ibox = (int(box.x1), int(box.y1), int(box.x2), int(box.y2))
        fmap = frame_map(frame.shape[:2], cam, ibox, settings)
        x, y = peak(fmap)
        inside += ibox[0] <= x <= ibox[2] and ibox[1] <= y <= ibox[3]
        masses.append(fmap[ibox[1] : ibox[3], ibox[0] : ibox[2]].sum() / fmap.sum())
    assert inside >= 0.75 * len(faces), inside  # measured: 9 of 12 with features.18
    assert min(masses) > 0.8, masses


def test_maps_are_unchanged_while_the_model_scores_on_another_thread(
        visual: VisualDetector, pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Live streams and uploads go on scoring with the same model while a heat map is made (live explainer,
    deep pass): their forward passes must not reach the map's hooks."""
    import threading

    crops = np.stack(pairs[0])
    alone = gradcam_maps(visual.module, crops, visual.input_size).maps
    stop = threading.Event()

    def score() -> None:
        x = torch.rand(3, 3, visual.input_size, visual.input_size)
        while not stop.is_set():
            with torch.no_grad():
                visual.module(x)

    scorer = threading.Thread(target=score, daemon=True)
    scorer.start()
    try:
        beside = [gradcam_maps(visual.module, crops, visual.input_size).maps for _ in range(4)]
    finally:
        stop.set()
        scorer.join(10)
    for maps in beside:
        np.testing.assert_allclose(maps, alone, atol=1e-4)


def test_sanity_check_randomised_weights_change_the_maps(visual: VisualDetector,
                                                         pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Adebayo et al. (2018): a saliency method that ignores the model is an edge detector. Re-initialise the
    head and the top blocks (cascading randomisation) and the maps must change."""
    import copy

    crops = np.stack([c for pair in pairs for c in pair])
    trained = gradcam_maps(visual.module, crops, visual.input_size).maps
    randomised = copy.deepcopy(visual.module)
    torch.manual_seed(0)
    for name, module in randomised.named_modules():
        if name.startswith(("classifier", "features.18", "features.17", "features.16")) and hasattr(
                module, "reset_parameters"):
            module.reset_parameters()
    random_maps = gradcam_maps(randomised, crops, visual.input_size).maps
    corrs = [_corr(a, b) for a, b in zip(trained, random_maps, strict=True)]
    assert np.mean(corrs) < 0.5, corrs
    assert TARGET_LAYER == "features.18"


def test_frames_at_matches_the_sampled_frames(clip_faces_speech: Path) -> None:
    """The deep pass re-reads its frames by seeking; they are the very frames the verdict pass scored."""
    from framesentry.media import iter_sampled_frames
    from framesentry.media.decode import frames_at

    sampled = {f.t_s: f.rgb for f in iter_sampled_frames(clip_faces_speech, 2.0)}
    times = sorted(sampled)[1::3]
    found = frames_at(clip_faces_speech, times)
    assert sorted(found) == times
    assert all(np.array_equal(found[t], sampled[t]) for t in times)
    assert not np.array_equal(found[times[0]], found[times[-1]])  # the clip moves: distinct frames
