"""The architectures the project ports: how to recognise each from a checkpoint and how to build it.

Recognition reads only the shapes of conv and linear weights, whose names are the same in PyTorch and
MindSpore, so it works on a `.pt` and a `.ckpt` alike. The constructor arguments are read off the same
shapes. Builders import torch or MindSpore only when called, so a MindSpore-only install can use this.
"""
import importlib
import math
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, Tuple

Shapes = Dict[str, Tuple[int, ...]]


@dataclass(frozen=True)
class Arch:
    name: str
    module: str  # file name shared by torch_ref/ and ms_models/
    cls: str
    summary: str
    signature_key: str  # a key only this family has
    config_from_shapes: Callable[[Shapes], dict]
    default_config: dict = field(default_factory=dict)

    def build_mindspore(self, config=None):
        import ms_models  # noqa: F401  (selects the fast oneDNN kernels before MindSpore loads)
        module = importlib.import_module('ms_models.' + self.module)
        return getattr(module, self.cls)(**(self.default_config if config is None else config))

    def build_torch(self, config=None):
        module = importlib.import_module('torch_ref.' + self.module)
        return getattr(module, self.cls)(**(self.default_config if config is None else config))


def _fc_config(shapes, fc_key, width):
    """light, img_size from the first FC layer: the light model pools (width inputs), the full one flattens."""
    fc_in = shapes[fc_key][1]
    if fc_in == width:
        return {'light': True, 'img_size': 256}
    return {'light': False, 'img_size': 4 * math.isqrt(fc_in // width)}


def _p2c_generator_config(shapes):
    ngf = shapes['ConvBlock1.1.weight'][0]
    return {'ngf': ngf, **_fc_config(shapes, 'FC.0.weight', ngf * 4)}


def _ugatit_generator_config(shapes):
    ngf, input_nc = shapes['DownBlock.1.weight'][:2]
    n_blocks = len([k for k in shapes if re.fullmatch(r'UpBlock1_\d+\.conv1\.weight', k)])
    last_conv = max((k for k in shapes if re.fullmatch(r'UpBlock2\.\d+\.weight', k)),
                    key=lambda k: int(k.split('.')[1]))
    return {'input_nc': input_nc, 'output_nc': shapes[last_conv][0], 'ngf': ngf, 'n_blocks': n_blocks,
            **_fc_config(shapes, 'FC.0.weight', ngf * 4)}


def _discriminator_config(shapes):
    ndf, input_nc = shapes['model.1.weight_orig'][:2]
    n_convs = len([k for k in shapes if re.fullmatch(r'model\.\d+\.weight_orig', k)])
    return {'input_nc': input_nc, 'ndf': ndf, 'n_layers': n_convs + 1}


def _u2net_config(shapes):
    return {'in_ch': shapes['stage1.rebnconvin.conv_s1.weight'][1], 'out_ch': shapes['outconv.weight'][0]}


ARCHS = {arch.name: arch for arch in [
    Arch('p2c_generator', 'photo2cartoon', 'ResnetGenerator',
         'photo2cartoon generator (U-GAT-IT with hourglass blocks and Soft-AdaLIN)',
         'HourGlass1.Conv1.weight', _p2c_generator_config,
         default_config={'ngf': 32, 'img_size': 256, 'light': True}),
    Arch('ugatit_generator', 'ugatit', 'ResnetGenerator', 'U-GAT-IT generator (adaILN)',
         'UpBlock1_1.conv1.weight', _ugatit_generator_config,
         default_config={'input_nc': 3, 'output_nc': 3, 'ngf': 64, 'n_blocks': 4, 'img_size': 256, 'light': True}),
    # photo2cartoon's Discriminator is U-GAT-IT's, line for line: one arch serves both.
    Arch('discriminator', 'ugatit', 'Discriminator',
         'U-GAT-IT / photo2cartoon discriminator (spectral norm, CAM)',
         'model.1.weight_orig', _discriminator_config,
         default_config={'input_nc': 3, 'ndf': 32, 'n_layers': 7}),
    Arch('mobilefacenet', 'mobilefacenet', 'MobileFaceNet', 'MobileFaceNet face-ID network',
         'conv_6_dw.conv.weight', lambda shapes: {'embedding_size': shapes['linear.weight'][0]},
         default_config={'embedding_size': 512}),
    Arch('u2net', 'u2net', 'U2NET', 'U^2-Net (176 MB: salient object, portrait, human segmentation)',
         'stage1.rebnconvin.conv_s1.weight', _u2net_config, default_config={'in_ch': 3, 'out_ch': 1}),
    Arch('u2netp', 'u2net', 'U2NETP', 'U^2-Net small (4.7 MB)',
         'stage1.rebnconvin.conv_s1.weight', _u2net_config, default_config={'in_ch': 3, 'out_ch': 1}),
]}


def _is_u2netp(shapes):
    # U2NETP's stages are all 64 channels wide; U2NET's stage2 already has 128.
    return shapes['stage2.rebnconvin.conv_s1.weight'][0] == 64


def detect_arch(shapes):
    """The name of the architecture whose signature key `shapes` has, or None."""
    for arch in ARCHS.values():
        if arch.signature_key in shapes:
            if arch.module == 'u2net':
                return 'u2netp' if _is_u2netp(shapes) else 'u2net'
            return arch.name
    return None


def describe_config(config):
    return ', '.join(f'{key}={value}' for key, value in config.items())
