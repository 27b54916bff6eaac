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
    to_photo: np.ndarray = None  # 2x3 affine from the crop's pixel coordinates to the photo's


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
            rotated, points, rotation = rotate_level_eyes(image, face.landmarks)
            self.timings['rotate'] += clock.lap()
            crop, origin = crop_face(rotated, points)
            self.timings['crop'] += clock.lap()
            mask = self.segmenter(crop)
            self.timings['segment'] += clock.lap()
            crop_to_rotated = np.array([[1, 0, origin[0]], [0, 1, origin[1]], [0, 0, 1]], np.float64)
            to_photo = (np.linalg.inv(np.vstack([rotation, [0, 0, 1]])) @ crop_to_rotated)[:2]
            aligned.append(AlignedFace(np.dstack([crop, mask]), points - origin,
                                       float(np.degrees(eye_angle(face.landmarks))), to_photo))
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


FEATHER = 0.06  # of the crop's side: the pasted face fades out over this much towards the crop's edge
MASK_BLUR = 2.0  # pixels at 256: the segmentation mask's edge softened


def paste_back(photo, faces, cartoons, masks):
    """(the photo with each cartoon warped back through the inverse of its alignment and blended in with
    its feathered mask, the blend weight per pixel): pixels no face reaches keep their exact values."""
    height, width = photo.shape[:2]
    out = photo.astype(np.float32)
    weight = np.zeros((height, width), np.float32)
    for face, cartoon, mask in zip(faces, cartoons, masks):
        size = cartoon.shape[0]
        scale = face.rgba.shape[0] / size  # the cartoon is the crop resized: pixel centres map as cv2.resize's
        to_crop = np.array([[scale, 0, 0.5 * scale - 0.5], [0, scale, 0.5 * scale - 0.5], [0, 0, 1]])
        matrix = (np.vstack([face.to_photo, [0, 0, 1]]) @ to_crop)[:2]
        alpha = cv2.GaussianBlur(mask[:, :, 0].astype(np.float32), (0, 0), MASK_BLUR) * _edge_ramp(size)
        warped = cv2.warpAffine(cartoon.astype(np.float32), matrix, (width, height), flags=cv2.INTER_LINEAR)
        alpha = cv2.warpAffine(alpha, matrix, (width, height), flags=cv2.INTER_LINEAR)
        out = out * (1 - alpha[:, :, None]) + warped * alpha[:, :, None]
        weight = np.maximum(weight, alpha)
    return np.clip(np.round(out), 0, 255).astype(np.uint8), weight


def _edge_ramp(size):
    """1 inside, falling linearly to 0 over FEATHER of the side at the square's edges."""
    distance = np.minimum(np.arange(size), np.arange(size)[::-1]).astype(np.float32) + 0.5
    ramp = np.clip(distance / (FEATHER * size), 0, 1)
    return np.minimum(ramp[:, None], ramp[None, :])


class Cartoonizer:
    """Photo -> {'': cartoon 256x256 RGB} (and '_aligned', '_mask' when asked; one set per face with all_faces).
    With paste_back, {'': the photo with every cartoon face pasted back} (and the aligned sets when asked)."""

    def __init__(self, predict, preprocessor, all_faces=False, save_aligned=False, paste_back=False):
        self.predict = predict
        self.preprocessor = preprocessor
        self.all_faces = all_faces
        self.save_aligned = save_aligned
        self.paste_back = paste_back
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
        elif found > 1:
            logger.info('found %d faces, drew all %d', found, found)
        cartoons, masks = [], []
        for i, face in enumerate(faces, start=1):
            prefix = f'_face{i}' if self.all_faces else ''
            x, mask = generator_input(face.rgba)
            cartoons.append(cartoon_output(self.predict(x)[0][0], mask))
            masks.append(mask)
            if not self.paste_back:
                results[prefix] = cartoons[-1]
            if self.save_aligned:
                results[prefix + '_aligned'] = np.ascontiguousarray(face.rgba[:, :, :3])
                results[prefix + '_mask'] = np.ascontiguousarray(face.rgba[:, :, 3])
        if self.paste_back:
            results[''] = paste_back(image, faces, cartoons, masks)[0]
        return results


class AlignedCartoonizer:
    """An already aligned face (RGBA, alpha = its mask, as --save_aligned's crop and mask together; opaque =
    all face) -> {'': cartoon RGB}: the generator and compositing of `Cartoonizer`, without detection."""

    def __init__(self, predict):
        self.predict = predict

    def __call__(self, face_rgba):
        x, mask = generator_input(face_rgba)
        return {'': cartoon_output(self.predict(x)[0][0], mask)}
