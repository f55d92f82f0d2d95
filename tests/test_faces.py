"""Face stage: MTCNN detection on frames built from real shared face crops, training-like crops, tracking."""

from __future__ import annotations

import numpy as np
import pytest

from framesentry.config import Settings
from framesentry.errors import MediaError
from framesentry.inference.faces import (
    CROP_SIZE,
    FaceBox,
    FaceDetector,
    FaceTracker,
    crop_face,
    crop_square,
    iou,
)
from framesentry.lab.samples import background, compose_frame, load_rgb, shared_face_paths

SIZE = (1280, 720)


@pytest.fixture(scope="module")
def faces(settings: Settings) -> list[np.ndarray]:
    """Three real 224x224 crops (two real, one fake) from the dfdc-faces test split."""
    paths = shared_face_paths(settings, "real", split="test", n=2) + shared_face_paths(settings, "fake", split="test")
    return [load_rgb(p) for p in paths]


@pytest.fixture(scope="module")
def detector(settings: Settings) -> FaceDetector:
    return FaceDetector(settings)


def _square(x: float, y: float, w: float) -> FaceBox:
    return FaceBox(x, y, x + w, y + w, 1.0)


def _matches(box: FaceBox, x: int, y: int, w: int) -> bool:
    """Detected box corresponds to a crop pasted at (x, y) with width w: the crop square we would cut from
    it overlaps the pasted square well (the framing constants were measured this way)."""
    cx, cy, side = crop_square(box, Settings())
    return iou(_square(cx - side / 2, cy - side / 2, side), _square(x, y, w)) > 0.6


def test_one_face_found_in_the_right_place(detector: FaceDetector, faces: list[np.ndarray]) -> None:
    """A single real face (200 px) on a textured 1280x720 scene gives exactly one confident box whose crop
    square overlaps where the face was pasted, in ORIGINAL pixels (the 640-px downscale is undone)."""
    frame = compose_frame(SIZE, [(faces[0], (700, 300, 200))], bg=background(SIZE, seed=3))
    boxes = detector.detect(frame)
    assert len(boxes) == 1
    box = boxes[0]
    assert box.score >= 0.92 and box.landmarks is not None and len(box.landmarks) == 5
    assert _matches(box, 700, 300, 200), box


def test_two_faces_two_boxes_largest_first(detector: FaceDetector, faces: list[np.ndarray]) -> None:
    """Two different faces of different sizes -> two boxes, each on its own face, the larger one first."""
    frame = compose_frame(SIZE, [(faces[1], (100, 200, 150)), (faces[2], (800, 150, 300))], bg=background(SIZE, 4))
    boxes = detector.detect(frame)
    assert len(boxes) == 2
    assert _matches(boxes[0], 800, 150, 300) and _matches(boxes[1], 100, 200, 150)


def test_background_only_has_no_faces(detector: FaceDetector) -> None:
    """Scenes without faces give empty lists (no error, no false positives), in a batch as well."""
    frames = [background(SIZE, seed=s) for s in (10, 11, 12)]
    assert detector.detect_batch(frames) == [[], [], []]


def _numbers(box: FaceBox) -> list[float]:
    return [box.x1, box.y1, box.x2, box.y2, box.score, *(c for p in box.landmarks or () for c in p)]


def _same_boxes(a: list[FaceBox], b: list[FaceBox], atol: float = 1e-2) -> bool:
    return len(a) == len(b) and all(np.allclose(_numbers(x), _numbers(y), atol=atol) for x, y in zip(a, b, strict=True))


def test_batch_matches_single_and_mixed_sizes(detector: FaceDetector, faces: list[np.ndarray]) -> None:
    """detect_batch with frames of two sizes equals per-frame detect, and boxes scale with the frame: the same
    scene at half size (not downscaled before detection) gives boxes at about half the coordinates."""
    big = compose_frame(SIZE, [(faces[0], (400, 200, 240))], bg=background(SIZE, 5))
    small = compose_frame((640, 360), [(faces[0], (200, 100, 120))], bg=background((640, 360), 5))
    batch = detector.detect_batch([big, small, big])
    # The same boxes to float rounding: a batch of another shape may take other CPU kernels (seen on AVX-512).
    assert _same_boxes(batch[0], detector.detect(big)) and _same_boxes(batch[2], batch[0])
    assert _same_boxes(batch[1], detector.detect(small))
    (b_big,), (b_small,) = batch[0], batch[1]
    assert abs(b_big.centre[0] / 2 - b_small.centre[0]) < 6 and abs(b_big.centre[1] / 2 - b_small.centre[1]) < 6
    assert 0.9 < b_big.size / (2 * b_small.size) < 1.1


def test_concurrent_detection_equals_serial(detector: FaceDetector, faces: list[np.ndarray]) -> None:
    """The batcher's live and bulk lanes call the detector from two threads at once (it takes no lock around
    detection): four threads detecting at the same time get the serial answers (to float rounding: a new
    thread's torch may split a reduction differently)."""
    from concurrent.futures import ThreadPoolExecutor

    frames = [compose_frame(SIZE, [(faces[i % 3], (100 + 150 * i, 150, 200))], bg=background(SIZE, i))
              for i in range(4)]
    serial = [detector.detect_batch([f], min_size_px=40 + 10 * i) for i, f in enumerate(frames)]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(2):
            parallel = list(pool.map(lambda i: detector.detect_batch([frames[i]], min_size_px=40 + 10 * i), range(4)))
            for got, want in zip(parallel, serial, strict=True):
                assert len(got[0]) == len(want[0]) == 1
                (g,), (w,) = got[0], want[0]
                assert np.allclose([g.x1, g.y1, g.x2, g.y2, g.score], [w.x1, w.y1, w.x2, w.y2, w.score],
                                   atol=0.05), (got, want)


def test_small_faces_and_bad_frames_are_refused(settings: Settings, faces: list[np.ndarray]) -> None:
    """Faces under face_min_size_px are dropped; max_faces_per_frame caps the list; a non-RGB frame is a
    MediaError rather than a crash inside torch."""
    frame = compose_frame(SIZE, [(faces[0], (100, 100, 120)), (faces[1], (700, 200, 260))], bg=background(SIZE, 6))
    assert len(FaceDetector(settings).detect(frame)) == 2
    only_big = FaceDetector(settings.model_copy(update={"face_min_size_px": 200})).detect(frame)
    assert len(only_big) == 1 and _matches(only_big[0], 700, 200, 260)
    capped = FaceDetector(settings.model_copy(update={"max_faces_per_frame": 1})).detect(frame)
    assert len(capped) == 1 and _matches(capped[0], 700, 200, 260)
    with pytest.raises(MediaError):
        FaceDetector(settings).detect(np.zeros((720, 1280), dtype=np.uint8))


def test_recrop_reproduces_training_framing(detector: FaceDetector, faces: list[np.ndarray]) -> None:
    """A shared crop pasted (unblended) into a larger frame at 1.5x, detected and cut again, comes back with
    nearly the same framing: the crop square overlaps the pasted square (IoU > 0.75; 500 crops measured:
    median 0.84) and the pixels correlate with the original crop far better than with the old framing
    (box + 30 % margin), which shows the measured framing constants are what makes the match."""
    from PIL import Image

    settings = Settings()
    old = settings.model_copy(update={"face_crop_margin": 0.3})
    pasted = _square(500, 200, 336)
    for face in faces:
        frame = background(SIZE, seed=7).copy()
        frame[200:536, 500:836] = np.asarray(Image.fromarray(face).resize((336, 336), Image.Resampling.BILINEAR))
        (box,) = detector.detect(frame)
        cx, cy, side = crop_square(box, settings)
        assert iou(_square(cx - side / 2, cy - side / 2, side), pasted) > 0.75
        crop = crop_face(frame, box, settings)
        assert crop.shape == (CROP_SIZE, CROP_SIZE, 3) and crop.dtype == np.uint8
        ref = face.astype(np.float64).ravel()
        corr = np.corrcoef(crop.astype(np.float64).ravel(), ref)[0, 1]
        corr_old = np.corrcoef(crop_face(frame, box, old).astype(np.float64).ravel(), ref)[0, 1]
        assert corr > 0.3 and corr > corr_old + 0.25, (corr, corr_old)


def test_face_at_border_is_cropped_and_stays_centred(detector: FaceDetector, faces: list[np.ndarray]) -> None:
    """A face partly outside the frame (left edge) is still cropped to 224x224 without error, with the
    missing part filled from the border so the face stays centred (crop centre = box centre region)."""
    frame = compose_frame(SIZE, [(faces[1], (-50, 250, 260))], bg=background(SIZE, 8))
    boxes = detector.detect(frame)
    assert len(boxes) == 1 and boxes[0].x1 < 10
    crop = crop_face(frame, boxes[0], Settings())
    assert crop.shape == (CROP_SIZE, CROP_SIZE, 3) and crop.dtype == np.uint8
    # A box hanging off the bottom-right corner: shape is right and the padding repeats edge pixels.
    corner = crop_face(frame, _square(1200, 650, 150), Settings())
    assert corner.shape == (CROP_SIZE, CROP_SIZE, 3)
    assert np.all(corner[-5:, :, :] == corner[-6, :, :]) and np.all(corner[:, -5:, :] == corner[:, -6:-5, :])
    assert corner[-5:, -5:].min() > 0 and abs(corner[-1, -1].astype(int) - frame[-1, -1].astype(int)).max() <= 2
    with pytest.raises(MediaError):
        crop_face(frame, _square(5000, 5000, 100), Settings())


def test_tracker_keeps_ids_for_drifting_faces(detector: FaceDetector, faces: list[np.ndarray]) -> None:
    """Two real faces drifting across 10 detected frames (0.5 s apart) keep their ids; a third face that
    appears at frame 6 gets a new id; tracks report first/last seen times."""
    tracker = FaceTracker()
    frames, third_from = [], 6
    for k in range(10):
        spec = [(faces[0], (150 + 30 * k, 200 + 5 * k, 180)), (faces[1], (850 - 25 * k, 250, 200))]
        if k >= third_from:
            spec.append((faces[2], (560, 420, 140)))
        frames.append(compose_frame(SIZE, spec, bg=background(SIZE, 9)))
    id_runs: list[dict[str, int]] = []
    for k, boxes in enumerate(detector.detect_batch(frames)):
        ids = tracker.update(0.5 * k, boxes)
        assert len(set(ids)) == len(ids)
        named = {}
        for box, tid in zip(boxes, ids, strict=True):
            cx = box.centre[0]
            named["third" if box.centre[1] > 420 else ("left" if cx < 640 else "right")] = tid
        id_runs.append(named)
    assert all(set(r) == {"left", "right"} for r in id_runs[:third_from])
    assert all(set(r) == {"left", "right", "third"} for r in id_runs[third_from:])
    for name in ("left", "right", "third"):
        assert len({r[name] for r in id_runs if name in r}) == 1, name
    third = id_runs[-1]["third"]
    assert third not in (id_runs[0]["left"], id_runs[0]["right"])
    info = {t.track_id: t for t in tracker.tracks()}
    assert info[third].first_seen_s == 0.5 * third_from and info[third].last_seen_s == 4.5
    assert info[id_runs[0]["left"]].hits == 10


def test_tracker_hungarian_gates_and_expiry() -> None:
    """Pure tracker logic: assignment is global (input order does not matter), a jump of many face sizes or
    a big size change is a new person, and a track missed more than max_missed frames ends."""
    tracker = FaceTracker(max_missed=2)
    a, b = _square(100, 100, 100), _square(400, 100, 100)
    first = tracker.update(0.0, [a, b])
    assert tracker.update(0.5, [_square(420, 110, 100), _square(130, 90, 100)]) == first[::-1]
    jumped = tracker.update(1.0, [_square(1000, 500, 100), _square(420, 110, 30)])
    assert set(jumped).isdisjoint(first)
    for t in (1.5, 2.0, 2.5):
        tracker.update(t, [])
    assert all(not t.active for t in tracker.tracks()) and len(tracker.tracks()) == 4
    assert tracker.update(3.0, [a])[0] not in {*first, *jumped}
    assert [t.track_id for t in tracker.tracks(include_ended=False)] == [4]
