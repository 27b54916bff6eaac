"""One photo2cartoon training step, MindSpore against PyTorch: every loss term and every gradient.

Both sides start from the same weights and batch (real photos) and take upstream's step: the D step
(losses, gradients, Adam update), then the G step (losses, gradients, update, rho/w clipping). The truth is
the PyTorch step in float64; bounds are set as for the layers (parity.metrics), with two differences that
the measurements forced:
- The G step's gradients are chaotic in float32: they pass through two generators (the cycle loss) and
  dozens of instance norms over small maps, and PyTorch's own float32 gradients differ from float64 by
  about 1% (L2, median over parameters; README). Their noise is therefore sampled three times (the batch as
  given and one float32 step either side), and gradients are compared as L2 relative errors,
  ||g - g64|| / ||g64||, which an isolated kink (a LeakyReLU input crossing zero) does not dominate.
- Post-step weights are shown but not judged: Adam magnifies float noise in parameters whose gradient is
  near zero.
"""
import copy
import functools

import ms_models  # noqa: F401  (before MindSpore: fast oneDNN kernels)
import mindspore as ms
import numpy as np
import torch

from ms_models import ugatit_train as ms_train
from torch_ref import ugatit_train as torch_train
from weights_convert import mindspore_network

from .compare import Report, Row, WeightCheck, _row, _worse, one_ulp_down, one_ulp_up
from .metrics import errors, reference_error, tolerance
from .twins import random_state


class _TorchSide:
    """How the recorder reads torch_ref's trainer (tensors with .grad; parameter names from the module tree)."""
    terms = torch_train

    def __init__(self, nets):
        self.names = {id(p): name for name, p in nets.named_parameters()}

    def name(self, param):
        return self.names[id(param)]

    def train(self, nets):
        nets.train()

    def value(self, tensor):
        return tensor.item()

    def array(self, tensor):
        return tensor.detach().numpy().copy()

    def weights(self, nets):
        return {name: p.detach().numpy().copy() for name, p in nets.named_parameters()}


class _MindSporeSide:
    """How the recorder reads ms_models' trainer (tensors; parameters named '<network>.<upstream key>')."""
    terms = ms_train

    def name(self, param):
        return param.name

    def train(self, nets):
        nets.set_train(True)

    def value(self, tensor):
        return float(tensor)

    def array(self, tensor):
        return tensor.asnumpy()

    def weights(self, nets):
        return {p.name: p.asnumpy().copy() for p in nets.trainable_params()}


def record_step(trainer, side, real_A, real_B):
    """Losses and gradients of one step, in the order they happen: the same code for both twins."""
    record = {}
    trainer.set_learning_rate(1)
    side.train(trainer.nets)
    for kind, gradients, apply, params, term_names in [
            ('D', trainer.d_gradients, trainer.apply_d, trainer.d_params, side.terms.D_TERMS),
            ('G', trainer.g_gradients, trainer.apply_g, trainer.g_params, side.terms.G_TERMS)]:
        # The second call's gradients are recorded, on both sides (the first one's power iterations included):
        # per-network compiled cells once returned zero gradients from their second call on.
        gradients(real_A, real_B)
        loss, terms, grads = gradients(real_A, real_B)
        total = 'Discriminator_loss' if kind == 'D' else 'Generator_loss'
        record.update({f'{kind}/{name}': np.float64(side.value(value))
                       for name, value in zip((total,) + term_names, (loss, *terms))})
        # A parameter the loss never reaches (photo2cartoon's idle ConvBlock4) has no gradient in PyTorch and
        # is not optimised in MindSpore: nothing to compare.
        record.update({f'{kind} grad/{side.name(p)}': side.array(g) for p, g in zip(params, grads) if g is not None})
        apply(grads)
    record.update({f'after step/{name}': array for name, array in side.weights(trainer.nets).items()})
    return record


def photo_batch(domain, batch, size, seed):
    """Real photos in [-1, 1]: domain A crops of scikit-image's astronaut, B of its cat; one crop per sample."""
    import cv2
    from skimage import data
    photo = data.astronaut() if domain == 'A' else data.chelsea()
    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(batch):
        side = int(min(photo.shape[:2]) * rng.uniform(0.6, 0.9))
        top, left = rng.integers(0, photo.shape[0] - side + 1), rng.integers(0, photo.shape[1] - side + 1)
        crop = cv2.resize(photo[top:top + side, left:left + side], (size, size), interpolation=cv2.INTER_AREA)
        crops.append(crop.transpose(2, 0, 1) / 127.5 - 1)
    return np.stack(crops).astype(np.float32)


def _l2(value, truth):
    value, truth = np.asarray(value, np.float64), np.asarray(truth, np.float64)
    norm = np.linalg.norm(truth)
    return float(np.linalg.norm(value - truth) / norm) if norm > 0 else float(np.abs(value).max())


def _l2_row(name, value, truth, references):
    """A gradient row with L2 relative errors; noise only when the float32 samples miss the truth entirely."""
    noise = max(_l2(reference, truth) for reference in references)
    noise_only = noise >= 1.0
    return Row(name, tuple(truth.shape), float(np.abs(value - truth).max()), _l2(value, truth),
               errors(value, truth)[2], noise, tolerance(noise, gradient=True, noise_only=noise_only), noise_only)


def build_training_twins(ch=8, img_size=64, light=True, n_dis=6, faceid=True, seed=0):
    """(torch UGATIT, torch FaceFeatures or None, MindSpore UGATIT, MindSpore FaceFeatures or None), same weights.

    The networks start as upstream's training does, from PyTorch's default initialisation (seeded); the
    golden recipe's larger weights saturate the generators' tanh, where float32 cannot resolve the gradient
    (1 - tanh^2 of 0.9999999) and every framework's G gradients become noise. The frozen MobileFaceNet gets
    random weights with measured BatchNorm statistics, like a trained one.
    """
    torch.manual_seed(seed)
    torch_nets = torch_train.UGATIT(ch, img_size, light, n_dis)
    ms_nets = ms_train.UGATIT(ch, img_size, light, n_dis)
    ms_params = dict(ms_nets.parameters_and_names())
    for key, value in torch_nets.state_dict().items():  # no BatchNorm in these networks: names are upstream's
        ms_params[key].set_data(ms.Tensor(value.numpy()))
    if not faceid:
        return torch_nets, None, ms_nets, None
    from torch_ref.mobilefacenet import MobileFaceNet
    state = random_state('mobilefacenet', {'embedding_size': 512}, seed + 10)
    facenet = MobileFaceNet(512)
    facenet.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    return (torch_nets, torch_train.FaceFeatures(facenet), ms_nets,
            ms_train.FaceFeatures(mindspore_network(state, 'mobilefacenet').net))


def compare_train_step(ch=8, img_size=64, light=True, n_dis=6, batch=1, faceid=True, seed=0, jit=True):
    """A Report whose rows are the loss terms (as outputs), the gradients, and (unjudged) the weights after
    the step. `jit` as train.py's --mode graph (the D and G steps compiled) or pynative."""
    previous = ms.get_context('mode')
    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        torch_nets, torch_face, ms_nets, ms_face = build_training_twins(ch, img_size, light, n_dis, faceid, seed)
        real_A, real_B = photo_batch('A', batch, img_size, seed), photo_batch('B', batch, img_size, seed)
        weights = torch_train.LossWeights(faceid=1.0 if faceid else 0.0)

        def torch_record(dtype, a, b):
            nets = copy.deepcopy(torch_nets).to(dtype)
            face = copy.deepcopy(torch_face).to(dtype) if torch_face else None
            trainer = torch_train.Trainer(nets, face, weights)
            return record_step(trainer, _TorchSide(nets), torch.from_numpy(a).to(dtype), torch.from_numpy(b).to(dtype))

        truth = torch_record(torch.float64, real_A, real_B)
        # The G step's float32 gradients are chaotic (see README): three samples of the reference's noise.
        references = [torch_record(torch.float32, nudge(real_A), nudge(real_B))
                      for nudge in (np.asarray, one_ulp_up, one_ulp_down)]
        ms_trainer = ms_train.Trainer(ms_nets, ms_face, ms_train.LossWeights(faceid=weights.faceid), jit=jit)
        ours = record_step(ms_trainer, _MindSporeSide(), ms.Tensor(real_A), ms.Tensor(real_B))
    finally:
        ms.set_context(mode=previous)

    config = {'ch': ch, 'img_size': img_size, 'light': light, 'n_dis': n_dis, 'faceid': faceid}
    report = Report('photo2cartoon training step', config, f'PyTorch default initialisation (seed {seed})', real_A.shape,
                    'train', WeightCheck(paired=len(truth)))
    for key, true in truth.items():
        if key not in ours:
            report.missing_layers.append(key)
            continue
        if 'grad' in key:
            row = _l2_row(key, np.asarray(ours[key]), np.asarray(true), [reference[key] for reference in references])
        else:
            noise = functools.reduce(_worse, [reference_error(reference[key], true) for reference in references])
            row = _row(key, np.asarray(ours[key]), np.asarray(true), noise)
        (report.unjudged if key.startswith('after step') else report.grads if 'grad' in key
         else report.outputs).append(row)
    return report
