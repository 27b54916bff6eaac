"""The two sides of a parity check: torch_ref (float32, and float64 as the truth) and ms_models, same weights."""
import copy
import logging
from dataclasses import dataclass

import numpy as np
import torch

from core.errors import UserError
from core.registry import ARCHS
from core.synthetic import spec_of, synthetic_state_dict
from weights_convert import ConversionError, load_network, mindspore_network, torch_state_dict
from weights_convert.checkpoints import read_torch
from weights_convert.convert import pick_network
from weights_convert.rules import dropped_torch_keys, torch_to_mindspore_names

logger = logging.getLogger(__name__)


@dataclass
class Twins:
    arch: str
    config: dict
    source: str  # where the weights came from, in words
    torch32: torch.nn.Module
    torch64: torch.nn.Module
    ms: object  # the MindSpore cell
    torch_state: dict  # torch key -> numpy array, as loaded into torch32
    mapping: dict  # torch key -> MindSpore parameter name
    dropped: list  # torch keys with no MindSpore counterpart, by rule

    def set_train(self, training):
        for model in (self.torch32, self.torch64):
            model.train(training)
        self.ms.set_train(training)


def random_state(arch, config, seed):
    """Upstream-layout weights from `seed` (the golden recipe).

    Spectral-norm vectors are left unconverged, as torch's spectral_norm leaves them on a fresh model, so
    that a power iteration visibly moves them. BatchNorm statistics are measured on a random batch, as the
    golden data's are: made-up statistics let activations grow to 1e4 through MobileFaceNet, where float32
    noise flips the sign of values near zero and sends PReLU's gradient down the other branch.
    """
    model = ARCHS[arch].build_torch(config)
    state = synthetic_state_dict(spec_of(model.state_dict()), seed)
    rng = np.random.default_rng(seed + 1)
    for key in [k for k in state if k.endswith(('.weight_u', '.weight_v'))]:
        vector = rng.standard_normal(state[key].shape)
        state[key] = (vector / np.linalg.norm(vector)).astype(np.float32)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return state
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: after one batch, exactly that batch's statistics
    # statistics of a smaller batch are sane enough, and cheaper (unless the network takes one size only)
    size = ARCHS[arch].input_size(config) if ARCHS[arch].fixed_size else (ARCHS[arch].quick_size,) * 2
    calibration = rng.standard_normal(ARCHS[arch].input_shape(config, 2, size)).astype(np.float32)
    with torch.no_grad():
        model.train()(torch.from_numpy(calibration))
    measured = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    return {key: measured[key] if 'running_' in key else value for key, value in state.items()}


def build_twins(arch=None, config=None, torch_weights=None, ms_weights=None, network=None, seed=0):
    """torch_ref and ms_models twins.

    No weights: random ones (seeded) in the upstream layout, converted by weights_convert. Only
    `torch_weights`: converted here. Only `ms_weights`: converted back to torch here. Both: each side
    loads its own file as given, so that a conversion made elsewhere can be checked.
    """
    net = None
    if ms_weights:
        found = load_network(ms_weights, network, arch)
        arch, config, net = found.arch, found.config, found.net
    if torch_weights:
        networks = read_torch(torch_weights)
        state = networks[pick_network(networks, network, torch_weights)]
        source = torch_weights if not ms_weights else f'{torch_weights} and {ms_weights}'
    elif ms_weights:
        params = {name: p.asnumpy() for name, p in net.parameters_and_names()}
        _, tensors = torch_state_dict(params, arch, ms_weights)
        state = {key: value.numpy() for key, value in tensors.items()}
        source = ms_weights
    else:
        if arch is None:
            raise UserError('give --arch, or weights to read it from')
        config = {**ARCHS[arch].default_config, **(config or {})}
        try:
            state = random_state(arch, config, seed)
        except TypeError as error:  # a --config key the constructor does not take
            raise UserError(f'--config: {error}') from None
        source = f'random weights (seed {seed})'
    if net is None:
        converted = mindspore_network(state, arch, what=source)
        arch, config, net = converted.arch, converted.config, converted.net

    reference = ARCHS[arch].build_torch(config)
    tensors = {k: torch.from_numpy(np.array(v)) for k, v in state.items()}
    try:
        reference.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        raise ConversionError(f'{source}: the PyTorch weights do not load into torch_ref {arch}: '
                              f'{str(error).splitlines()[0]}') from None
    return Twins(arch, config, source, reference, copy.deepcopy(reference).double(), net, state,
                 torch_to_mindspore_names(net), dropped_torch_keys(net))


def make_input(twins, size=None, batch=2, image=None, seed=0):
    """A float32 NCHW batch: random normal, or a photo prepared as the architecture's pipeline does."""
    arch = ARCHS[twins.arch]
    if image is None:
        rng = np.random.default_rng(seed)
        return rng.standard_normal(arch.input_shape(twins.config, batch, size)).astype(np.float32)
    if arch.latent_input:
        raise UserError(f'--input: {twins.arch} takes a latent vector, not an image')
    height, width = size or arch.input_size(twins.config)
    import cv2
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    if arch.normalization == 'u2net':
        from preprocess.u2net_io import u2net_normalize
        x = u2net_normalize(resized / 255.0)
    else:  # 'signed': the GAN models, MobileFaceNet and DeepFaceDrawing's sketch encoders take [-1, 1]
        x = resized / 127.5 - 1.0
    x = x[:, :, :arch.input_channels(twins.config)]  # a sketch encoder sees one channel
    return np.repeat(x.transpose(2, 0, 1)[None], batch, axis=0).astype(np.float32)
