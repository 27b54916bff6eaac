"""Head-and-shoulders masks for the white background photo2cartoon expects.

photo2cartoon segments with a TensorFlow model of its own (seg_model_384.pb). Two backends stand in:
- 'selfie' (default): MediaPipe's selfie-segmentation model run by LiteRT, fetched at set-up time
  (`python -m preprocess.fetch_models`), ~10 ms, no internet at run time;
- 'u2net_human_seg': the U^2-Net human-segmentation weights, run through this project's U^2-Net (a
  `predict` callable, MindSpore or PyTorch), when you have `u2net_human_seg.pth`.
Both give a soft uint8 mask (255 = person) the size of the image.
"""
import os
import sys
from contextlib import contextmanager

import cv2
import numpy as np

from .images import InputError
from .u2net_tasks import SalientObject

SELFIE_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'models', 'selfie_segmentation.tflite')
SELFIE_SHA256 = '9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c'


class SelfieSegmenter:
    """MediaPipe selfie segmentation: RGB/255 at 256x256 in, person confidence out."""

    size = 256

    def __init__(self, model_path=SELFIE_MODEL):
        if not os.path.exists(model_path):
            raise InputError(f'the selfie segmentation model is missing ({model_path}): run '
                             '`python -m preprocess.fetch_models` once (set-up), or use --segmenter u2net_human_seg')
        from ai_edge_litert.interpreter import Interpreter
        # The model has one custom op (Convolution2DTransposeBias) that only the default XNNPACK delegate
        # implements, so the default delegates stay on.
        self.interpreter = Interpreter(model_path=model_path)
        with _native_stderr_silenced():  # LiteRT's C++ logs "INFO: Created ... XNNPACK delegate" here
            self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]['index']
        self.output = self.interpreter.get_output_details()[0]['index']

    def __call__(self, image_rgb):
        x = cv2.resize(image_rgb, (self.size, self.size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        self.interpreter.set_tensor(self.input, x[None])
        self.interpreter.invoke()
        confidence = self.interpreter.get_tensor(self.output)[0, :, :, 0]
        mask = cv2.resize(confidence, (image_rgb.shape[1], image_rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
        return np.round(np.clip(mask, 0.0, 1.0) * 255.0).astype(np.uint8)


@contextmanager
def _native_stderr_silenced():
    """Send file descriptor 2 (where C++ libraries log) to /dev/null for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, 'w') as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class U2NetHumanSegmenter:
    """U^2-Net human segmentation (upstream u2net_human_seg_test.py transforms) through any `predict`."""

    def __init__(self, predict):
        self.task = SalientObject(predict, background='mask')

    def __call__(self, image_rgb):
        return self.task(image_rgb)
