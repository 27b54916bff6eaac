"""DeepFaceDrawing's pipeline: a face sketch (black lines on white) -> a 512x512 RGB face, as upstream computes it.

Each part (eyes, nose, mouth; then the face with those windows whitened) of the 512x512 sketch is encoded,
projected onto the latent bank of real faces (core.manifold), decoded to a 32-channel feature map; the maps are
pasted into the face's, and the generator turns that into the picture. The networks come as `predict(x) ->
list of arrays` functions, so the same code runs the MindSpore ports and the PyTorch reference.
"""
import logging

import cv2
import numpy as np

from core.manifold import project
from core.registry import DFD_GENDERS, DFD_PARTS, DFD_SKETCH_SIZE, dfd_bank_name

from .images import InputError

logger = logging.getLogger(__name__)

PARTS = {part.name: part for part in DFD_PARTS}
# Pasted over the face's map in this order, later parts winning where windows overlap (upstream's).
PASTE_ORDER = ('mouth', 'nose', 'eye1', 'eye2')
NOSE_ROWS = 124  # upstream pastes only the nose map's first 124 of 160 rows (its literal window is 36 short)
MIN_SIDE = 128
COLOUR_SPREAD = 32  # a pixel whose channels differ by more than this is coloured
MAX_COLOURED = 0.05  # a sketch has (almost) no coloured pixels ...
MIN_PAPER = 0.5  # ... and at least this much light paper


def check_sketch(image):
    """An InputError unless `image` (RGB uint8) could be a face sketch: square, not tiny, grey lines on light.
    (The messages follow the file's name.)"""
    height, width = image.shape[:2]
    if abs(height - width) > 0.02 * max(height, width):
        raise InputError(f'{width}x{height}, not square: DeepFaceDrawing takes a square face sketch (upstream draws '
                         f'at {DFD_SKETCH_SIZE}x{DFD_SKETCH_SIZE}); crop it square around the face')
    if min(height, width) < MIN_SIDE:
        raise InputError(f'{width}x{height}, too small for a face sketch: give at least {MIN_SIDE}x{MIN_SIDE} '
                         f'(upstream draws at {DFD_SKETCH_SIZE}x{DFD_SKETCH_SIZE})')
    pixels = image.reshape(-1, 3).astype(np.int16)
    coloured = float(np.mean(pixels.max(1) - pixels.min(1) > COLOUR_SPREAD))
    if coloured > MAX_COLOURED:
        raise InputError(f'not a sketch: {coloured:.0%} of its pixels are coloured; DeepFaceDrawing takes '
                         'black lines on white (a drawing, or the edges of a face photo)')
    paper = float(np.mean(pixels.min(1) >= 160))
    if paper < MIN_PAPER:
        raise InputError(f'not a sketch: only {paper:.0%} of it is light paper; DeepFaceDrawing takes '
                         'black lines on a white background')


def sketch_input(image):
    """The 512x512 uint8 sketch upstream works on: resized with bicubic interpolation (unless it is 512x512
    already), channel 0 (upstream reads BGR and swaps to RGB: red; for a grey sketch any channel)."""
    if image.shape[:2] != (DFD_SKETCH_SIZE, DFD_SKETCH_SIZE):
        image = cv2.resize(image, (DFD_SKETCH_SIZE, DFD_SKETCH_SIZE), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(image[:, :, 0])


def part_crop(sketch, part):
    """A part's window of the sketch; the face is the whole sketch with the other parts' windows whitened."""
    if part.name != 'face':
        return sketch[part.y:part.y + part.size, part.x:part.x + part.size]
    whitened = sketch.copy()
    for other in DFD_PARTS:
        if other.name != 'face':
            whitened[other.y:other.y + other.size, other.x:other.x + other.size] = 255
    return whitened


def encoder_input(crop):
    """(1, 1, S, S) float32 in [-1, 1]: white paper +1, black lines -1 (computed in float64, then cast)."""
    return ((crop - 127.5) / 127.5).astype(np.float32)[None, None]


def paste(features):
    """The generator's input: the face's 32-channel map with the parts' maps pasted over it, in PASTE_ORDER."""
    face_map = features['face'].copy()
    for name in PASTE_ORDER:
        part, rows = PARTS[name], NOSE_ROWS if name == 'nose' else PARTS[name].size
        face_map[:, :, part.y:part.y + rows, part.x:part.x + part.size] = features[name][:, :, :rows]
    return face_map


def to_image(generated):
    """(1, 3, H, W) tanh output -> H x W x 3 uint8, in float32 and truncated, as upstream converts it."""
    rgb = np.transpose((generated[0] + 1) / 2, (1, 2, 0)) * 255.0
    return np.clip(rgb, 0, 255).astype(np.uint8)


def edge_sketch(photo):
    """A quick sketch of a photo (RGB uint8), for tests and benchmarks: its Canny edges, black on white, grey RGB."""
    edges = cv2.Canny(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), 100, 200)
    return np.repeat((255 - edges)[:, :, None], 3, axis=2)


def parse_part_weights(text):
    """'eye1=1,nose=0.5' -> {'eye1': 1.0, ..., 'face': 1.0}: how far each part moves onto the bank (0 to 1)."""
    weights = {name: 1.0 for name in PARTS}
    for item in filter(None, (text or '').split(',')):
        name, _, value = item.partition('=')
        name = name.strip()
        if name not in PARTS:
            raise InputError(f'--part_weights: unknown part {name!r}; the parts are {", ".join(PARTS)}')
        try:
            weights[name] = float(value)
        except ValueError:
            raise InputError(f'--part_weights: {item!r} needs a number, e.g. {name}=0.5') from None
        if not 0.0 <= weights[name] <= 1.0:
            raise InputError(f'--part_weights: {name}={value} is outside 0 to 1 (0: the sketch as drawn, 1: fully '
                             'onto the faces the model knows)')
    return weights


class SketchToFace:
    """The per-image function: a face sketch (RGB uint8, square) -> a 512x512 RGB uint8 face.

    `networks`: {name: predict} with `encoder_<part>`, `feature_decoder_<part>` and `generator`;
    `banks`: {'<gender>_<part>': (rows, 512) float32}. `gender` picks the bank (upstream's sex: 0 male,
    1 female; its default male); `part_weights` the blend per part (upstream's default: 1 each).
    """

    def __init__(self, networks, banks, gender='male', part_weights=None):
        if gender not in DFD_GENDERS:
            raise ValueError(f'gender must be one of {tuple(DFD_GENDERS)}')
        self.networks = networks
        self.banks = banks
        self.gender = gender
        self.part_weights = {**{name: 1.0 for name in PARTS}, **(part_weights or {})}

    def part_features(self, sketch, part):
        latent = self.networks['encoder_' + part.name](encoder_input(part_crop(sketch, part)))[0]
        projected = project(latent, self.banks[dfd_bank_name(self.gender, part)], self.part_weights[part.name])
        return self.networks['feature_decoder_' + part.name](projected[None])[0]

    def __call__(self, image):
        check_sketch(image)
        sketch = sketch_input(image)
        features = {part.name: self.part_features(sketch, part) for part in DFD_PARTS}
        return to_image(self.networks['generator'](paste(features))[0])


def mindspore_task(folder, gender='male', part_weights=None):
    """SketchToFace on the MindSpore ports, from an upstream Params/ folder or a converted one."""
    from ms_models.inference import Predictor
    from weights_convert.deepfacedrawing import mindspore_networks
    networks, banks = mindspore_networks(folder, everything=False)
    for network in networks.values():
        logger.debug('%s', network.describe())
    return SketchToFace({name: Predictor(n.net) for name, n in networks.items()}, banks, gender, part_weights)


def torch_task(folder, gender='male', part_weights=None):
    """SketchToFace on the PyTorch reference, from an upstream Params/ folder (.pkl or .pth files)."""
    import torch

    from core.registry import ARCHS
    from torch_ref.inference import Predictor
    from weights_convert.deepfacedrawing import check_part_size, read_banks, read_upstream_states
    predictors = {}
    for name, (arch, state, path) in read_upstream_states(folder, everything=False).items():
        config = ARCHS[arch].config_from_shapes({k: v.shape for k, v in state.items()})
        check_part_size(name, config, path)
        model = ARCHS[arch].build_torch(config)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
        predictors[name] = Predictor(model)
    return SketchToFace(predictors, read_banks(folder), gender, part_weights)
