"""Reading photos of any mode into RGB uint8, and writing results without ever leaving half a file."""
import os

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import UserError
from core.files import atomic_outputs

# Far beyond any camera (200 MP phones included), yet it stops a crafted header from claiming gigabytes.
MAX_PIXELS = 250_000_000
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


class InputError(UserError):
    """A photo, video or folder that cannot be used, said in one line: what is wrong and what to do."""


def read_rgb(path, background=255):
    """The image at `path` as an RGB uint8 array, whatever its mode.

    EXIF rotation is applied; grayscale, palette and CMYK are converted; 16-bit and float images are
    scaled to 8 bits; transparency is composited onto `background` (white by default).
    """
    return to_rgb(_open(path), background)


def read_rgba(path):
    """The image at `path` as an RGBA uint8 array: its own alpha, or 255 where it has none."""
    image = _open(path)
    if _has_alpha(image):
        return np.asarray(image.convert('RGBA'))
    rgb = to_rgb(image)
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


def _open(path):
    """The decoded PIL image at `path`, EXIF rotation applied; InputError if it is missing or unreadable."""
    if not os.path.isfile(path):
        raise InputError(f'{path}: no such file')
    Image.MAX_IMAGE_PIXELS = None  # checked below, against the header, before decoding
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise InputError(f'{path}: {image.width}x{image.height} is over {MAX_PIXELS // 10**6} megapixels; '
                                 'downscale it first')
            image = ImageOps.exif_transpose(image)
            image.load()
            return image
    except UnidentifiedImageError as error:
        raise InputError(f'{path}: not a readable image ({error})') from None
    except (OSError, ValueError, SyntaxError) as error:
        raise InputError(f'{path}: corrupt or truncated image ({error})') from None


def _has_alpha(image):
    return image.mode in ('RGBA', 'LA', 'PA') or (image.mode == 'P' and 'transparency' in image.info)


def to_rgb(image, background=255):
    """A PIL image of any mode as an RGB uint8 array."""
    if image.mode in ('I;16', 'I;16L', 'I;16B', 'I;16N', 'I', 'F'):
        values = np.asarray(image, np.float64)
        top = 65535.0 if image.mode.startswith('I;16') or values.max() > 255 else 255.0
        grey = np.clip(np.round(values / top * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if _has_alpha(image):
        rgba = np.asarray(image.convert('RGBA'), np.float32)
        alpha = rgba[:, :, 3:] / 255.0
        return np.round(rgba[:, :, :3] * alpha + background * (1 - alpha)).astype(np.uint8)
    return np.asarray(image.convert('RGB'))


def list_images(folder):
    """Image files under `folder`, recursively, in a stable order."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found += [os.path.join(root, f) for f in sorted(files)
                  if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith('.')]
    return found


def save_image(array, path):
    """Write an RGB, RGBA or grey uint8 array atomically; the format follows the extension."""
    image = Image.fromarray(array)
    if image.mode == 'RGBA' and not path.lower().endswith(('.png', '.webp', '.tif', '.tiff')):
        raise InputError(f'{path}: a transparent result needs a .png (or .webp/.tif) file name')
    with atomic_outputs([path]) as (temp,):
        try:
            image.save(temp, format=Image.registered_extensions().get(os.path.splitext(path)[1].lower()))
        except (KeyError, ValueError) as error:
            raise InputError(f'{path}: cannot save an image under this name ({error})') from None
        with Image.open(temp) as written:  # a file that does not decode is never published
            written.verify()
