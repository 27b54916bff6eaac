"""Faces and their 68 landmarks (iBUG 300-W numbering: 36 and 45 are the outer eye corners).

Backends:
- 'dlib' (default): dlib's HOG detector and the 68-point shape predictor shipped by the
  `face-recognition-models` package; works on a fresh machine with no download.
- 'fan': the face-alignment package (FAN + S3FD, PyTorch), as photo2cartoon uses; it downloads its weights
  on first use, so we check they are in torch's hub cache first and fail at once with instructions instead
  of hanging on a network that is not there.
"""
import importlib.util
import logging
import os
from dataclasses import dataclass

import cv2
import numpy as np

from .images import InputError

logger = logging.getLogger(__name__)

# Detection runs on a copy whose long side is at most this: HOG on a 48-megapixel photo upsampled 2x would
# take minutes and gigabytes, and faces small enough to vanish at this size are too small to cartoonise.
DETECTION_MAX_SIDE = 1280


@dataclass
class Face:
    landmarks: np.ndarray  # (68, 2) float64, x then y, in the coordinates of the image given
    rect: tuple  # (left, top, right, bottom) of the detector's box, which takes in the forehead

    @property
    def box(self):
        """(left, top, right, bottom) of the landmarks."""
        (left, top), (right, bottom) = self.landmarks.min(0), self.landmarks.max(0)
        return left, top, right, bottom

    @property
    def area(self):
        left, top, right, bottom = self.box
        return (right - left) * (bottom - top)


def _models_dir():
    # Importing face_recognition_models fails on recent setuptools (it needs pkg_resources); locating it
    # does not.
    spec = importlib.util.find_spec('face_recognition_models')
    if spec is None:
        raise InputError('the dlib face backend needs the face-recognition-models package: '
                         'pip install face-recognition-models==0.3.0')
    return os.path.join(list(spec.submodule_search_locations)[0], 'models')


class DlibLandmarks:
    """dlib HOG face detector + 68-point shape predictor."""

    def __init__(self, upsample=1):
        import dlib
        self.upsample = upsample
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(os.path.join(_models_dir(), 'shape_predictor_68_face_landmarks.dat'))
        self._rectangle = dlib.rectangle

    def __call__(self, image_rgb):
        scale = min(1.0, DETECTION_MAX_SIDE / max(image_rgb.shape[:2]))
        small = image_rgb if scale == 1.0 else cv2.resize(image_rgb, None, fx=scale, fy=scale,
                                                           interpolation=cv2.INTER_AREA)
        faces = []
        for box in self.detector(small, self.upsample):
            full = self._rectangle(*(int(round(v / scale)) for v in (box.left(), box.top(), box.right(), box.bottom())))
            shape = self.predictor(image_rgb, full)
            faces.append(Face(np.array([[p.x, p.y] for p in shape.parts()], np.float64),
                              (full.left(), full.top(), full.right(), full.bottom())))
        return faces


class FanLandmarks:
    """face-alignment's 2D FAN landmarks with its S3FD detector (photo2cartoon's own choice), on CPU."""

    def __init__(self, device='cpu'):
        try:
            import face_alignment
            from face_alignment.detection.sfd import sfd_detector
        except ImportError:
            raise InputError("the 'fan' face backend needs the face-alignment package (pip install "
                             "face-alignment), or use --detector dlib") from None
        import torch
        cache = os.path.join(torch.hub.get_dir(), 'checkpoints')
        urls = [face_alignment.api.models_urls['2DFAN-4'], sfd_detector.models_urls['s3fd']]
        missing = [url for url in urls if not os.path.exists(os.path.join(cache, os.path.basename(url)))]
        if missing:
            raise InputError(f"the 'fan' face backend needs its weights, which cannot be downloaded here: fetch "
                             f"{' and '.join(missing)} into {cache} on a connected machine, or use --detector dlib")
        self.model = face_alignment.FaceAlignment(face_alignment.LandmarksType.TWO_D, device=device,
                                                  face_detector='sfd')

    def __call__(self, image_rgb):
        faces = []
        for points in self.model.get_landmarks(image_rgb) or []:
            points = np.asarray(points, np.float64)
            faces.append(Face(points, (*points.min(0), *points.max(0))))
        return faces


def landmark_detector(backend='dlib'):
    if backend == 'dlib':
        return DlibLandmarks()
    if backend == 'fan':
        return FanLandmarks()
    raise InputError(f'unknown face backend {backend!r}: choose dlib or fan')


def largest_first(faces):
    """Faces by landmark-box area, largest first (upstream keeps the largest)."""
    return sorted(faces, key=lambda face: face.area, reverse=True)
