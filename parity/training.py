"""photo2cartoon training steps, MindSpore against PyTorch: every loss term, every gradient, the weights.

Both sides start from the same weights and batches (real photos) and take upstream's step: the D step
(losses, gradients, Adam update), then the G step (losses, gradients, update, rho/w clipping). The truth is
the PyTorch run in float64; bounds are set as for the layers (parity.metrics), with differences that the
measurements forced:
- The G step's gradients are chaotic in float32: they pass through two generators (the cycle loss) and
  dozens of instance norms over small maps, and PyTorch's own float32 gradients differ from float64 by
  about 1% (L2, median over parameters; README). Their noise is therefore sampled five times (the batch as
  given and one and two float32 steps either side), and gradients are compared as L2 relative errors,
  ||g - g64|| / ||g64||, which an isolated kink (a LeakyReLU input crossing zero) does not dominate.
- Over several steps the trajectory itself is chaotic at upstream's learning rate: Adam moves every
  parameter by about lr whatever its gradient's size, so the sign of each gradient float32 cannot resolve
  decides a step, and at lr 1e-4 PyTorch's own float32 loss terms are 10-60% off float64's by step 10. The
  multi-step comparison runs at lr 1e-6 (the same code, schedule and state), where they stay within 2e-4 and
  what each parameter moved is resolved to ~2% (median): it compares each step's loss terms, and what every
  parameter moved over the run (L2 relative, bound 4x PyTorch float32's own error). One element's Adam step
  flipping sign moves a small tensor's result by several percent: with three noise samples, MindSpore's one
  such flip (a 288-element tensor, 4.9% against PyTorch's 0.4%) failed the bound, and the fifth sample
  showed PyTorch float32 flipping the same element (4.9%).
- After a single step the weights are shown but not judged: one Adam step moves each parameter by +-lr,
  its sign decided by float noise wherever the gradient is near zero.
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

from .compare import NUDGES, Report, Row, WeightCheck, _row, _worse
from .metrics import errors, reference_error, tolerance
from .twins import random_state

SN_VECTORS = ('.weight_u', '.weight_v')  # the spectral norms' power-iteration state, named alike on both sides


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

    def power_iteration(self, nets):
        return {name: b.detach().numpy().copy() for name, b in nets.named_buffers() if name.endswith(SN_VECTORS)}


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

    def power_iteration(self, nets):
        return {name: p.asnumpy().copy() for name, p in nets.parameters_and_names() if name.endswith(SN_VECTORS)}


def _loss_record(prefix, side, losses):
    """{prefix + name: value} for the floats (Discriminator_loss, D terms, Generator_loss, G terms)."""
    names = ('D/Discriminator_loss', *(f'D/{n}' for n in side.terms.D_TERMS),
             'G/Generator_loss', *(f'G/{n}' for n in side.terms.G_TERMS))
    return {prefix + name: np.float64(value) for name, value in zip(names, losses)}


def record_step(trainer, side, real_A, real_B):
    """Losses and gradients of one step, in the order they happen: the same code for both twins."""
    record, losses = {}, []
    trainer.set_learning_rate(1)
    side.train(trainer.nets)
    for kind, gradients, apply, params in [('D', trainer.d_gradients, trainer.apply_d, trainer.d_params),
                                           ('G', trainer.g_gradients, trainer.apply_g, trainer.g_params)]:
        # The second call's gradients are recorded, on both sides (the first one's power iterations included):
        # per-network compiled cells once returned zero gradients from their second call on.
        gradients(real_A, real_B)
        loss, terms, grads = gradients(real_A, real_B)
        losses += [side.value(loss), *map(side.value, terms)]
        # A parameter the loss never reaches (photo2cartoon's idle ConvBlock4) has no gradient in PyTorch and
        # is not optimised in MindSpore: nothing to compare.
        record.update({f'{kind} grad/{side.name(p)}': side.array(g) for p, g in zip(params, grads) if g is not None})
        apply(grads)
    record.update(_loss_record('', side, losses))
    record.update({f'after step/{name}': array for name, array in side.weights(trainer.nets).items()})
    return record


def record_steps(trainer, side, batches):
    """Step 1 as record_step records it, then steps 2, 3, ... as train.py takes them (Trainer.step): each
    step's loss terms; at the end what every parameter moved, and the power-iteration vectors."""
    before = side.weights(trainer.nets)
    record = record_step(trainer, side, *batches[0])
    for step, (real_A, real_B) in enumerate(batches[1:], 2):
        d_loss, d_terms, g_loss, g_terms = trainer.step(step, real_A, real_B)
        record.update(_loss_record(f'step {step}/', side, (d_loss, *d_terms, g_loss, *g_terms)))
    if len(batches) > 1:
        last = len(batches)
        record.update({f'moved by step {last}/{name}': value - before[name]
                       for name, value in side.weights(trainer.nets).items()})
        record.update({f'power iteration after step {last}/{name}': value
                       for name, value in side.power_iteration(trainer.nets).items()})
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


def _l2_row(name, value, truth, references, gradient=True):
    """A row with L2 relative errors; noise only when the float32 samples miss the truth entirely. Gradients
    get parity.metrics' gradient factors; what a parameter moved gets 4x, noise or not."""
    noise = max(_l2(reference, truth) for reference in references)
    noise_only = noise >= 1.0
    tol = tolerance(noise, gradient=True, noise_only=noise_only) if gradient else tolerance(noise)
    return Row(name, tuple(truth.shape), float(np.abs(value - truth).max()), _l2(value, truth),
               errors(value, truth)[2], noise, tol, noise_only)


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


def compare_train_step(ch=8, img_size=64, light=True, n_dis=6, batch=1, faceid=True, seed=0, jit=True, steps=1,
                       lr=1e-6, iteration=12):
    """A Report on `steps` consecutive training steps (one batch each, the learning rate scheduled over
    `iteration` steps as train.py's). Rows: step 1's loss terms (as outputs) and gradients, then, over
    several steps, each later step's loss terms (outputs), what every parameter moved (outputs) and the
    power-iteration vectors (buffers) at the end; step 1's weights are unjudged. `jit` as train.py's --mode
    graph (the D and G steps compiled) or pynative. `lr` small: see the module's docstring."""
    previous = ms.get_context('mode')
    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        torch_nets, torch_face, ms_nets, ms_face = build_training_twins(ch, img_size, light, n_dis, faceid, seed)
        batches = [(photo_batch('A', batch, img_size, seed + k), photo_batch('B', batch, img_size, seed + k))
                   for k in range(steps)]
        weights = torch_train.LossWeights(faceid=1.0 if faceid else 0.0)

        def torch_record(dtype, nudge):
            nets = copy.deepcopy(torch_nets).to(dtype)
            face = copy.deepcopy(torch_face).to(dtype) if torch_face else None
            trainer = torch_train.Trainer(nets, face, weights, lr, iteration)
            return record_steps(trainer, _TorchSide(nets), [tuple(torch.from_numpy(nudge(x)).to(dtype) for x in pair)
                                                             for pair in batches])

        truth = torch_record(torch.float64, np.asarray)
        # The G step's float32 gradients and the trajectory are chaotic (above): five samples of the noise.
        references = [torch_record(torch.float32, nudge) for nudge in NUDGES]
        ms_trainer = ms_train.Trainer(ms_nets, ms_face, ms_train.LossWeights(faceid=weights.faceid), lr, iteration,
                                      jit=jit)
        ours = record_steps(ms_trainer, _MindSporeSide(), [tuple(map(ms.Tensor, pair)) for pair in batches])
    finally:
        ms.set_context(mode=previous)

    config = {'ch': ch, 'img_size': img_size, 'light': light, 'n_dis': n_dis, 'faceid': faceid, 'steps': steps,
              'lr': lr, 'iteration': iteration}
    report = Report('photo2cartoon training steps', config, f'PyTorch default initialisation (seed {seed})',
                    batches[0][0].shape, 'train', WeightCheck(paired=len(truth)))
    for key, true in truth.items():
        if key not in ours:
            report.missing_layers.append(key)
            continue
        value, true, samples = np.asarray(ours[key]), np.asarray(true), [reference[key] for reference in references]
        if 'grad' in key or key.startswith('moved by'):
            row = _l2_row(key, value, true, samples, gradient='grad' in key)
        else:
            row = _row(key, value, true, functools.reduce(_worse, [reference_error(s, true) for s in samples]))
        (report.unjudged if key.startswith('after step') else report.grads if 'grad' in key
         else report.buffers if key.startswith('power iteration') else report.outputs).append(row)
    return report
