"""photo2cartoon training in MindSpore: data, steps, checkpoints, samples, progress (train.py's engine).

Upstream's loop (UgatitSadalinHourglass.train): per step one D update and one G update on a batch from
trainA and one from trainB; the learning rate decays linearly over the second half when decay_flag is set;
checkpoints every save_freq steps; sample grids every print_freq steps.
"""
import dataclasses
import glob
import hashlib
import json
import logging
import os
import time

import cv2
import ms_models  # noqa: F401  (before MindSpore: fast oneDNN kernels)
import mindspore as ms
import numpy as np
from tqdm import tqdm

from core.errors import UserError
from core.memory import resident_memory_mib
from core.registry import RELEASES, TRAINING_NETWORKS, find_weights
from ms_models.ugatit_train import D_TERMS, G_TERMS, UGATIT, FaceFeatures, Trainer
from preprocess.dataset import Batches, ImageFolder
from preprocess.images import save_image
from weights_convert import ConversionError, NetworkNotFound, load_network

from . import training_checkpoints as checkpoints
from .plots import LossHistory
from .training_checkpoints import assign_weights

logger = logging.getLogger(__name__)


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


class Training:
    def __init__(self, config, rank=0, world=1, grad_reducer=None):
        self.config, self.rank, self.world = config, rank, world
        config.validate()
        self.model_dir = os.path.join(config.result_dir, 'model')
        self.image_dir = os.path.join(config.result_dir, 'img')
        folders = {name: os.path.join(config.data_root, name) for name in ('trainA', 'trainB', 'testA', 'testB')}
        self.trainA = Batches(ImageFolder(folders['trainA'], config.img_size), config.batch_size, config.seed,
                              rank, world)
        self.trainB = Batches(ImageFolder(folders['trainB'], config.img_size), config.batch_size, config.seed + 1,
                              rank, world)
        if world > 1:
            logger.info('rank %d in a world of %d: a shard of %d trainA and %d trainB images', rank, world,
                        len(self.trainA.dataset.paths[rank::world]), len(self.trainB.dataset.paths[rank::world]))
        self.tests = [Batches(ImageFolder(folders[name], config.img_size, train=False), 1, shuffle=False)
                      if os.path.isdir(folders[name]) else None for name in ('testA', 'testB')]

        self.nets = UGATIT(config.ch, config.img_size, config.light, config.n_dis)
        if config.pretrained_weights:
            self.load_pretrained(config.pretrained_weights)
        facenet = None
        if config.weights.faceid:
            release = RELEASES['mobilefacenet']
            weights = find_weights('mobilefacenet', config.faceid_weights)
            facenet = FaceFeatures(load_network(weights, release.network, release.archs, cache=True).net)
        if config.mode == 'graph' and config.compile_cache:
            ms.set_context(enable_compile_cache=True, compile_cache_path=compile_cache_folder(config, world))
        self.trainer = Trainer(self.nets, facenet, config.weights, config.lr, config.iteration, config.decay_flag,
                               jit=config.mode == 'graph', grad_reducer=grad_reducer)
        self.state = [self.trainer.G_optim, self.trainer.D_optim]

    def state_params(self):
        return [p for optim in self.state for p in optim.state_parameters()]

    def load_pretrained(self, path):
        """Networks from an official .pt (any subset of the six) or a folder of converted .ckpt files."""
        loaded = []
        for name in TRAINING_NETWORKS:
            try:
                network = load_network(path, name)
            except NetworkNotFound:  # not every checkpoint holds all six
                continue
            if network.name != name:
                raise ConversionError(f'{path} holds a single {network.arch}; --pretrained_weights takes a training '
                                      'checkpoint (photo2cartoon_weights.pt) or a folder of <network>.ckpt files')
            config = self.config
            assign_weights(getattr(self.nets, name), network,
                           f'{path} [{name}] (--ch {config.ch}, --img_size {config.img_size}, --light {config.light}, '
                           f'--n_dis {config.n_dis})')
            loaded.append(name)
        if not loaded:
            raise ConversionError(f'{path}: none of {", ".join(TRAINING_NETWORKS)} in it')
        logger.info('pretrained weights: %s from %s', ', '.join(loaded), path)

    def networks(self):
        return {name: getattr(self.nets, name) for name in TRAINING_NETWORKS}

    def run(self):
        config = self.config
        start = checkpoints.load_latest(self.model_dir, self.networks(), self.state_params()) if config.resume else 0
        if start:
            logger.info('resumed from step %d (%s)', start, self.model_dir)
        history = LossHistory(self.image_dir, D_TERMS, G_TERMS)
        history.resume(start)
        steps = range(start + 1, config.iteration + 1)
        bar = tqdm(steps, total=len(steps), unit='step', disable=config.quiet or self.rank != 0,
                   dynamic_ncols=True)
        began = time.perf_counter()
        for step in bar:
            real_A, real_B = ms.Tensor(next(self.trainA)), ms.Tensor(next(self.trainB))
            d_loss, d_terms, g_loss, g_terms = self.trainer.step(step, real_A, real_B)
            if not (np.isfinite(d_loss) and np.isfinite(g_loss)):
                raise TrainingDiverged(f'step {step}: the loss is {d_loss} (D), {g_loss} (G); lower --lr')
            bar.set_postfix_str(f'd_loss {d_loss:.4f} g_loss {g_loss:.4f}', refresh=False)
            if self.rank != 0:
                continue
            history.add(step, d_loss, g_loss, d_terms, g_terms)
            if step % 10 == 0 or step == config.iteration:
                elapsed = time.perf_counter() - began
                logger.info('[%d/%d] %.2f s/step, resident %.0f MiB, d_loss %.6f g_loss %.6f (%s)', step,
                            config.iteration, elapsed / (step - start), resident_memory_mib(), d_loss, g_loss,
                            _terms(d_terms, D_TERMS, g_terms, G_TERMS))
            if step % config.print_freq == 0 or step == config.iteration:
                history.save()  # img/losses.png and .csv, every term
            if step % config.print_freq == 0:
                self.save_samples(step)
            if step % config.save_freq == 0 or step == config.iteration:
                path = checkpoints.save(self.model_dir, step, self.networks(), self.state_params(), config.keep)
                logger.info('saved %s', path)
        return config.iteration

    def save_samples(self, step):
        """Upstream's grids: per sample, a column of real, its CAM and translations (A2A, A2B, A2B2A). Upstream
        switches to eval mode first; photo2cartoon's generators compute the same in either (no batch norm, no
        dropout), and under --mode graph the switch made MindSpore compile the step's graphs again."""
        for direction, sources in {'A2B': (self.trainA, self.tests[0]), 'B2A': (self.trainB, self.tests[1])}.items():
            columns = []
            for batches in sources:
                if batches is not None:
                    columns += [self._column(ms.Tensor(next(batches)[:1]), direction) for _ in range(2)]
            save_image(np.concatenate(columns, axis=1), os.path.join(self.image_dir, f'{direction}_{step:07d}.png'))

    def _column(self, real, direction):
        back = 'B2A' if direction == 'A2B' else 'A2B'
        fake, _, fake_heatmap = self.trainer.generate(direction, real)
        same, _, same_heatmap = self.trainer.generate(back, real)
        cycled, _, cycled_heatmap = self.trainer.generate(back, fake)
        size = self.config.img_size
        return np.concatenate([_image(real), _cam(same_heatmap, size), _image(same), _cam(fake_heatmap, size),
                               _image(fake), _cam(cycled_heatmap, size), _image(cycled)], axis=0)


def compile_cache_folder(config, world):
    """<result_dir>/compile_cache/<key>, the key made of every setting the step's graphs depend on, the
    MindSpore version and the model code: MindSpore loads cached graphs back in the order they were compiled,
    whatever they were compiled for (graphs cached at another --img_size failed in a broadcast; the loss
    weights are constants inside them)."""
    settings = {name: getattr(config, name) for name in ('ch', 'img_size', 'light', 'n_dis', 'batch_size',
                                                         'device_target')}
    settings.update(weights=dataclasses.asdict(config.weights), world=world, mindspore=ms.__version__)
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for path in sorted(glob.glob(os.path.join(os.path.dirname(ms_models.__file__), '*.py'))):
        with open(path, 'rb') as f:
            key.update(f.read())
    return os.path.join(config.result_dir, 'compile_cache', key.hexdigest()[:16])


def _terms(d_terms, d_names, g_terms, g_names):
    return ', '.join(f'{n} {v:.4f}' for n, v in zip(d_names + g_names, d_terms + g_terms))


def _image(tensor):
    return np.clip((tensor.asnumpy()[0].transpose(1, 2, 0) + 1) * 127.5, 0, 255).astype(np.uint8)


def _cam(heatmap, size):
    """Upstream's cam(): min-max normalised, resized, JET colour map (as RGB)."""
    x = heatmap.asnumpy()[0, 0]
    x = x - x.min()
    x = np.uint8(255 * x / max(x.max(), 1e-12))
    return cv2.cvtColor(cv2.applyColorMap(cv2.resize(x, (size, size)), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
