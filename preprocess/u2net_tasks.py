"""U^2-Net applications: portrait drawing and salient-object / human segmentation of one RGB photo.

Each task takes the model forward as `predict(x) -> list of arrays` (the seven side outputs, d0 first), so
the same code runs MindSpore and the PyTorch reference. The network always sees a fixed-size input (512 or
320): a photo of any size costs the same forward, and only the resizes scale with it.
"""
import logging

import cv2
import numpy as np

from .faces import largest_first
from .u2net_io import normalize_map, to_grey, u2net_input

logger = logging.getLogger(__name__)


def crop_face_for_portrait(image, face):
    """The upstream portrait demo's crop: the face box widened by 0.4w left and right, 0.6h above, 0.2h
    below, padded white where it leaves the photo, padded white to a square, resized to 512x512."""
    left, top, right, bottom = (int(v) for v in face.rect)
    w, h = right - left, bottom - top
    height, width = image.shape[:2]
    x0, x1 = left - int(0.4 * w), right + int(0.4 * w)
    y0, y1 = top - int(0.6 * h), bottom + int(0.2 * h)
    crop = image[max(y0, 0):min(y1, height), max(x0, 0):min(x1, width)]
    crop = np.pad(crop, ((max(-y0, 0), max(y1 - height, 0)), (max(-x0, 0), max(x1 - width, 0)), (0, 0)),
                  constant_values=255)
    hf, wf = crop.shape[:2]
    if hf - 2 > wf:
        pad = (hf - wf) // 2
        crop = np.pad(crop, ((0, 0), (pad, pad), (0, 0)), constant_values=255)
    elif wf - 2 > hf:
        pad = (wf - hf) // 2
        crop = np.pad(crop, ((pad, pad), (0, 0), (0, 0)), constant_values=255)
    return cv2.resize(crop, (512, 512), interpolation=cv2.INTER_AREA)


class PortraitDrawing:
    """u2net_portrait: photo -> pencil-style drawing, 1 - d0 min-max normalised, at the photo's size.

    With a face detector, the largest face is cropped first as in the upstream demo and the drawing is
    512x512; without a face the whole photo is drawn, as the demo does. The network sees `input_size`
    (upstream's portrait script: 512).
    """

    def __init__(self, predict, faces=None, input_size=512):
        self.predict = predict
        self.faces = faces
        self.input_size = input_size
        self.faces_seen = (None, None)  # with a detector: (faces found, drawn) in the last photo

    def __call__(self, image):
        if self.faces is not None:
            found = largest_first(self.faces(image))
            self.faces_seen = (len(found), min(len(found), 1))
            if len(found) > 1:
                logger.info('found %d faces, drew the largest', len(found))
            if found:
                image = crop_face_for_portrait(image, found[0])
        d0 = self.predict(u2net_input(image, self.input_size))[0][0, 0]
        return to_grey(normalize_map(1.0 - d0), (image.shape[1], image.shape[0]))


BACKGROUNDS = ('mask', 'white', 'transparent')


class SalientObject:
    """u2net / u2netp / u2net_human_seg: the d0 mask min-max normalised at the photo's size, as a grey mask,
    the photo on white, or the photo with the mask as alpha. The network sees `input_size` (upstream: 320)."""

    def __init__(self, predict, background='mask', input_size=320):
        if background not in BACKGROUNDS:
            raise ValueError(f'background must be one of {BACKGROUNDS}')
        self.predict = predict
        self.background = background
        self.input_size = input_size

    def __call__(self, image):
        d0 = self.predict(u2net_input(image, self.input_size))[0][0, 0]
        mask = to_grey(normalize_map(d0), (image.shape[1], image.shape[0]))
        if self.background == 'mask':
            return mask
        if self.background == 'transparent':
            return np.dstack([image, mask])
        alpha = mask[:, :, None].astype(np.float32) / 255.0
        return np.round(image * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
