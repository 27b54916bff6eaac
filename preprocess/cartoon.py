"""photo2cartoon end to end: face landmarks -> level eyes -> square crop -> mask -> generator -> white.

`FacePreprocessor` is upstream's `Preprocess.process` (the aligned RGBA face); `Cartoonizer` is upstream
test.py's `Photo2Cartoon.inference`, with the generator passed in as `predict(x) -> [image, ...]`.
"""
import logging
import time
from dataclasses import dataclass

import cv2
import numpy as np

from .align import crop_face, eye_angle, rotate_level_eyes
from .faces import largest_first
from .images import InputError

logger = logging.getLogger(__name__)

# Below this the face is a smudge the generator cannot draw; upstream would silently upscale it.
MIN_FACE_SIDE = 32


@dataclass
class AlignedFace:
    rgba: np.ndarray  # square crop, alpha = segmentation mask
    landmarks: np.ndarray  # in the crop's coordinates
    angle_degrees: float  # how far the eyes were from level in the photo


class FacePreprocessor:
    """Photo -> aligned RGBA faces, largest first. `timings` holds the seconds of each step of the last call."""

    def __init__(self, landmarks, segmenter):
        self.landmarks = landmarks
        self.segmenter = segmenter
        self.timings = {}
        self.faces_found = 0

    def __call__(self, image, all_faces=False):
        clock = _Clock()
        faces = largest_first(self.landmarks(image))
        self.faces_found = len(faces)
        self.timings = {'landmarks': clock.lap(), 'rotate': 0.0, 'crop': 0.0, 'segment': 0.0}
        if not faces:
            raise InputError('no face found')
        if min(np.ptp(faces[0].landmarks, axis=0)) < MIN_FACE_SIDE:
            raise InputError(f'the face is too small ({"x".join(f"{v:.0f}" for v in np.ptp(faces[0].landmarks, 0))} '
                             f'pixels); use a photo where it spans at least {MIN_FACE_SIDE} pixels')
        aligned = []
        for face in faces if all_faces else faces[:1]:
            if min(np.ptp(face.landmarks, axis=0)) < MIN_FACE_SIDE:
                continue
            rotated, points = rotate_level_eyes(image, face.landmarks)
            self.timings['rotate'] += clock.lap()
            crop, origin = crop_face(rotated, points)
            self.timings['crop'] += clock.lap()
            mask = self.segmenter(crop)
            self.timings['segment'] += clock.lap()
            aligned.append(AlignedFace(np.dstack([crop, mask]), points - origin,
                                       float(np.degrees(eye_angle(face.landmarks)))))
        return aligned


class _Clock:
    def __init__(self):
        self.last = time.perf_counter()

    def lap(self):
        now = time.perf_counter()
        elapsed, self.last = now - self.last, now
        return elapsed


def generator_input(face_rgba, size=256):
    """(input (1,3,size,size) in [-1,1] with the background white, mask (size,size,1) in [0,1])."""
    face_rgba = cv2.resize(face_rgba, (size, size), interpolation=cv2.INTER_AREA)
    face = face_rgba[:, :, :3].astype(np.float64)
    mask = face_rgba[:, :, 3:].astype(np.float64) / 255.0
    face = (face * mask + (1 - mask) * 255) / 127.5 - 1
    return face.transpose(2, 0, 1)[None].astype(np.float32), mask


def cartoon_output(generated, mask):
    """The generator's [-1,1] image as RGB uint8, composited on white with the mask (truncating, as upstream)."""
    cartoon = (generated.transpose(1, 2, 0) + 1) * 127.5
    return (cartoon * mask + 255 * (1 - mask)).astype(np.uint8)


class Cartoonizer:
    """Photo -> {'': cartoon 256x256 RGB} (and '_aligned', '_mask' when asked; one set per face with all_faces)."""

    def __init__(self, predict, preprocessor, all_faces=False, save_aligned=False):
        self.predict = predict
        self.preprocessor = preprocessor
        self.all_faces = all_faces
        self.save_aligned = save_aligned
        self.faces_seen = (None, None)  # (found, drawn) in the last photo

    def __call__(self, image):
        results = {}
        faces = []
        try:
            faces = self.preprocessor(image, self.all_faces)
        finally:  # a photo without a face is reported too
            self.faces_seen = (self.preprocessor.faces_found, len(faces))
        found = self.preprocessor.faces_found
        if found > len(faces):
            logger.info('found %d faces, drew %d: %s', found, len(faces),
                        'the others are under %d pixels' % MIN_FACE_SIDE if self.all_faces
                        else 'the largest; --all_faces draws every one')
        for i, face in enumerate(faces, start=1):
            prefix = f'_face{i}' if self.all_faces else ''
            x, mask = generator_input(face.rgba)
            results[prefix] = cartoon_output(self.predict(x)[0][0], mask)
            if self.save_aligned:
                results[prefix + '_aligned'] = np.ascontiguousarray(face.rgba[:, :, :3])
                results[prefix + '_mask'] = np.ascontiguousarray(face.rgba[:, :, 3])
        return results


class AlignedCartoonizer:
    """An already aligned face (RGBA, alpha = its mask, as --save_aligned's crop and mask together; opaque =
    all face) -> {'': cartoon RGB}: the generator and compositing of `Cartoonizer`, without detection."""

    def __init__(self, predict):
        self.predict = predict

    def __call__(self, face_rgba):
        x, mask = generator_input(face_rgba)
        return {'': cartoon_output(self.predict(x)[0][0], mask)}
