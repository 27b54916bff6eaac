"""ArtLine: photo -> line-art portrait, at the photo's own size and aspect ratio.

Upstream (ArtLine's notebooks and app, fastai's `predict`): the photo as RGB in [0, 1], ImageNet mean/std
(the export's normalisation), the network, then `out * std + mean`, clipped to [0, 1], to 8 bits by
truncation. fastai also resizes every photo to the export's training size, which is why upstream's
results come out at the wrong size and aspect ratio (ArtLine #1). Here the photo is scaled so that its
longer side is `size` (the aspect ratio kept), padded with white on the right and bottom to even sides
(the network needs them: its first convolution halves the size and the last upsampling doubles it), and
the drawing is cropped back and resized to the photo's resolution.

The model forward comes in as `predict(x) -> [lines]`, so the same code runs MindSpore and the PyTorch
reference.
"""
import cv2
import numpy as np

from .u2net_io import IMAGENET_MEAN, IMAGENET_STD

DEFAULT_SIZE = 650  # ArtLine_650's training size, used when neither --size nor the export says otherwise


def scaled_size(height, width, size):
    """(h, w) with the longer side `size`, the aspect ratio kept."""
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _resize(image, height, width):
    shrinking = height * width < image.shape[0] * image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def artline_input(image_rgb, size, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """((1, 3, H, W) float32 network input, (h, w) of the photo inside it) for an RGB uint8 photo."""
    h, w = scaled_size(*image_rgb.shape[:2], size)
    resized = _resize(image_rgb, h, w)
    padded = np.pad(resized, ((0, h % 2), (0, w % 2), (0, 0)), constant_values=255)  # white, as ArtLine pads
    x = (padded / 255.0 - np.asarray(mean)) / np.asarray(std)
    return x.transpose(2, 0, 1)[None].astype(np.float32), (h, w)


def artline_output(lines, inside, size_hw, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """An RGB uint8 drawing of size `size_hw` from the network's (3, H, W) output, as fastai's predict
    denormalises it (out * std + mean, clipped to [0, 1]) and ArtLine's app truncates it to 8 bits."""
    rgb = lines.transpose(1, 2, 0).astype(np.float64) * np.asarray(std) + np.asarray(mean)
    rgb = (np.clip(rgb, 0.0, 1.0) * 255).astype(np.uint8)
    rgb = rgb[:inside[0], :inside[1]]
    return _resize(rgb, *size_hw) if rgb.shape[:2] != tuple(size_hw) else rgb


class LineArt:
    """artline: the line drawing of a photo, at the photo's size (see the module docstring)."""

    def __init__(self, predict, size=DEFAULT_SIZE, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        self.predict = predict
        self.size = size
        self.mean, self.std = mean, std

    def __call__(self, image):
        x, inside = artline_input(image, self.size, self.mean, self.std)
        lines = self.predict(x)[0][0]
        return artline_output(lines, inside, image.shape[:2], self.mean, self.std)
