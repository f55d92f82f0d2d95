"""Face stage: find faces (MTCNN), crop them like the training data, keep one id per person across frames.

Importing this package is cheap: torch, facenet-pytorch and scipy load on first detection / tracking update.
"""

from framesentry.inference.faces.crops import CROP_SIZE, crop_face, crop_faces, crop_sharpness, crop_square
from framesentry.inference.faces.detector import FaceBox, FaceDetector
from framesentry.inference.faces.tracker import FaceTracker, TrackInfo, iou

__all__ = [
    "CROP_SIZE",
    "FaceBox",
    "FaceDetector",
    "FaceTracker",
    "TrackInfo",
    "crop_face",
    "crop_faces",
    "crop_sharpness",
    "crop_square",
    "iou",
]
