"""Unpaired image folders for GAN training (photo2cartoon's trainA/trainB/testA/testB), framework-free.

The transforms are upstream's torchvision pipelines: training flips at random, resizes to
(size + 30)^2 bilinearly and crops size^2 at random; testing resizes to size^2; both scale to [-1, 1].
"""
import logging
import os

import numpy as np
from PIL import Image

from .images import InputError, list_images, read_rgb

logger = logging.getLogger(__name__)


def to_unit_range(image):
    """HxWx3 uint8 -> 3xHxW float32 in [-1, 1] (ToTensor, then Normalize(0.5, 0.5))."""
    return (np.asarray(image, np.float32).transpose(2, 0, 1) / 255.0 - 0.5) / 0.5


def train_transform(image, size, rng):
    if rng.random() < 0.5:
        image = image[:, ::-1]
    resized = np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((size + 30, size + 30), Image.BILINEAR))
    top, left = rng.integers(0, 31), rng.integers(0, 31)
    return to_unit_range(resized[top:top + size, left:left + size])


def test_transform(image, size):
    return to_unit_range(Image.fromarray(image).resize((size, size), Image.BILINEAR))


class ImageFolder:
    """The images under `folder`; unreadable ones are reported once and dropped."""

    def __init__(self, folder, size, train=True):
        if not os.path.isdir(folder):
            raise InputError(f'{folder}: no such folder (expected the dataset layout trainA/, trainB/, testA/, '
                             'testB/)')
        self.folder, self.size, self.train = folder, size, train
        self.paths = list_images(folder)
        if not self.paths:
            raise InputError(f'{folder}: no images in this folder')

    def load(self, index, rng):
        """The transformed image at `index`, or None (after a warning) if it cannot be read."""
        path = self.paths[index]
        try:
            image = read_rgb(path)
        except InputError as error:
            logger.warning('skipping unreadable training image: %s', error)
            return None
        return train_transform(image, self.size, rng) if self.train else test_transform(image, self.size)


class Batches:
    """An endless stream of batches from `dataset`: reshuffled each pass like a DataLoader with
    shuffle=True, and sharded by `rank` of `world` for data-parallel training (each worker sees its share)."""

    def __init__(self, dataset, batch_size, seed=0, rank=0, world=1, shuffle=True):
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.rank, self.world = rank, world
        self.rng = np.random.default_rng(seed + 1000 * rank)
        self.order_rng = np.random.default_rng(seed)  # the same permutation on every worker
        self.bad = set()
        self.queue = []

    def _refill(self):
        indices = np.arange(len(self.dataset.paths))
        if self.shuffle:
            indices = self.order_rng.permutation(indices)
        self.queue = [i for i in indices[self.rank::self.world] if i not in self.bad]
        if not self.queue:
            raise InputError(f'{self.dataset.folder}: no readable images left')

    def __next__(self):
        samples = []
        while len(samples) < self.batch_size:
            if not self.queue:
                self._refill()
            index = self.queue.pop(0)
            sample = self.dataset.load(index, self.rng)
            if sample is None:
                self.bad.add(index)
            else:
                samples.append(sample)
        return np.stack(samples)

    def __iter__(self):
        return self
