"""U^2-Net's input and output transforms, as upstream's test scripts (`u2net_test.py`,
`u2net_portrait_test.py`, `u2net_human_seg_test.py`) do them.

Input (`RescaleT` + `ToTensorLab(flag=0)`): scikit-image resize to size x size (bilinear, anti-aliased
when shrinking, mode='constant'), division by the resized image's own maximum, ImageNet mean and std in
RGB order. NOT the portrait *demo* script's normalisation, which swaps the R and B statistics (a known
upstream bug).
Output: min-max normalisation of the map, to 8 bits as PIL truncates a float image, bilinear resize back.

Photos whose long side exceeds LARGE_SIDE are first shrunk to it by area averaging: scikit-image's
anti-aliased resize works in float64 and would take gigabytes on a 50-megapixel photo. Below that size the
transform is upstream's exactly.
"""
import cv2
import numpy as np
from PIL import Image
from skimage import transform

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


LARGE_SIDE = 4096


def u2net_input(image_rgb, size):
    """(1, 3, size, size) float32 network input from an RGB uint8 image of any size."""
    scale = LARGE_SIDE / max(image_rgb.shape[:2])
    if scale < 1:
        image_rgb = cv2.resize(image_rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    image = u2net_normalize(transform.resize(image_rgb, (size, size), mode='constant'))
    return image.transpose(2, 0, 1)[None].astype(np.float32)


def u2net_normalize(image):
    """An HxWx3 float image divided by its own maximum, then ImageNet mean/std per RGB channel."""
    peak = image.max()
    if peak > 0:  # upstream divides unconditionally; an all-black photo would give NaN
        image = image / peak
    return (image - IMAGENET_MEAN) / IMAGENET_STD


def normalize_map(prediction):
    """Upstream's normPRED: (d - min) / (max - min); a constant map becomes zeros instead of NaN."""
    low, high = prediction.min(), prediction.max()
    return (prediction - low) / (high - low) if high > low else np.zeros_like(prediction)


def to_grey(map01, size_wh):
    """A [0, 1] map as a grey uint8 image of size (width, height), as upstream's save_output makes it."""
    image = Image.fromarray((map01 * 255).astype(np.float32)).convert('L')  # truncates, as upstream
    return np.asarray(image.resize(tuple(size_wh), resample=Image.BILINEAR))
