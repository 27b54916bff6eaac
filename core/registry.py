"""Every architecture the project ports, and every official release of weights: one entry each.

Everything else (the converter, test.py, parity, export, bench, training, the tests) reads its facts from
here and keeps no table of its own. Adding a model family is: an `Arch` entry below, `torch_ref/<module>.py`,
`ms_models/<module>.py`, its tests, and a `Release` if upstream publishes weights (README, "Adding a model").

Recognition reads only the shapes of conv and linear weights, whose names are the same in PyTorch and
MindSpore, so it works on a `.pt` and a `.ckpt` alike. The constructor arguments are read off the same
shapes. Builders import torch or MindSpore only when called, so a MindSpore-only install can use this.
"""
import importlib
import math
import os
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, Tuple

from .errors import UserError

Shapes = Dict[str, Tuple[int, ...]]

# The networks of a U-GAT-IT / photo2cartoon training checkpoint, under upstream's keys, in upstream's order.
TRAINING_NETWORKS = ('genA2B', 'genB2A', 'disGA', 'disGB', 'disLA', 'disLB')

# How a photo becomes the network's input (RGB, HxWx3, uint8), by name:
NORMALIZATIONS = {
    'signed': 'x / 127.5 - 1, range [-1, 1] (the GAN models and MobileFaceNet)',
    'u2net': "divide by the image's max, then ImageNet mean/std in RGB order (U-2-Net's RescaleT/ToTensorLab)",
    'imagenet': 'x / 255, then ImageNet mean/std in RGB order (fastai\'s imagenet_stats)',
}


@dataclass(frozen=True)
class Arch:
    name: str
    module: str  # file name shared by torch_ref/ and ms_models/
    cls: str
    summary: str
    signature_key: str  # a key only this family has
    config_from_shapes: Callable[[Shapes], dict]
    matches: Callable[[Shapes], bool] = None  # tells apart archs that share the signature key
    default_config: dict = field(default_factory=dict)
    networks: tuple = ()  # its names in a training checkpoint; () = saved as a plain state dict
    size: int = 256  # the input size it works at (H = W); generators: their img_size
    quick_size: int = 128  # a cheaper size that still exercises every layer (parity --all, calibration)
    normalization: str = 'signed'  # a NORMALIZATIONS key
    outputs: tuple = ()  # what forward returns, in order (also the names of exported ONNX outputs)
    exportable: bool = False  # python -m apps.export takes it
    bench_sizes: tuple = ()  # bench.py cases at these sizes
    latent_input: bool = False  # it takes a latent vector (N, latent_dim), not an image
    fixed_size: bool = False  # it takes input_size(config) only (a linear layer on the flattened map)

    def input_size(self, config=None):
        """(H, W) the network works at with `config` (a generator's img_size, a part's image_size, else `size`)."""
        config = config or self.default_config
        side = config.get('img_size', config.get('image_size', self.size))
        return side, side

    def input_channels(self, config=None):
        config = config or self.default_config
        return config.get('input_nc', config.get('in_ch', 3))

    def input_shape(self, config=None, batch=1, size=None):
        """The shape of its input: (batch, latent_dim), or (batch, channels, H, W) at `size` (default: input_size)."""
        config = config or self.default_config
        if self.latent_input:
            return batch, config.get('latent_dim', 512)
        return (batch, self.input_channels(config), *(size or self.input_size(config)))

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


def _artline_config(shapes):
    return {'n_classes': shapes['layers.11.0.weight_orig'][0],
            'self_attention': 'layers.5.conv2.2.gamma' in shapes}


def _is_u2netp(shapes):
    # U2NETP's stages are all 64 channels wide; U2NET's stage2 already has 128.
    return shapes['stage2.rebnconvin.conv_s1.weight'][0] == 64


def _dfd_part_size(fc_features):
    """A DeepFaceDrawing part's side S from its linear layer's width, 512 * (S/32)**2."""
    return 32 * math.isqrt(fc_features // 512)


def _dfd_encoder_config(shapes):
    latent_dim, fc_in = shapes['fc_mu.0.weight']
    return {'image_size': _dfd_part_size(fc_in), 'input_nc': shapes['conv.0.conv.weight'][1], 'latent_dim': latent_dim}


def _dfd_decoder_config(shapes):
    fc_out, latent_dim = shapes['fc.0.weight']
    return {'image_size': _dfd_part_size(fc_out), 'output_nc': shapes['conv.12.weight'][0], 'latent_dim': latent_dim}


def _is_dfd_feature_decoder(shapes):
    # The feature decoders end in a 64 -> 32 conv, the image decoders in 32 -> 1.
    return shapes.get('conv.12.weight', (0, 0))[1] == 64


def _dfd_generator_config(shapes):
    ngf, input_nc = shapes['model.1.weight'][:2]
    blocks = [k for k in shapes if re.fullmatch(r'model\.\d+\.conv_block\.1\.weight', k)]
    last_conv = max((k for k in shapes if re.fullmatch(r'model\.\d+\.weight', k) and len(shapes[k]) == 4),
                    key=lambda k: int(k.split('.')[1]))
    return {'input_nc': input_nc, 'output_nc': shapes[last_conv][0], 'ngf': ngf,
            'n_downsampling': int(math.log2(shapes[blocks[0]][0] // ngf)), 'n_blocks': len(blocks)}


def _u2net_config(shapes):
    return {'in_ch': shapes['stage1.rebnconvin.conv_s1.weight'][1], 'out_ch': shapes['outconv.weight'][0]}


GENERATOR_OUTPUTS = ('image', 'cam_logit', 'heatmap')
U2NET_OUTPUTS = tuple(f'd{i}' for i in range(7))  # d0 (the fused map) first, each after its sigmoid

ARCHS = {arch.name: arch for arch in [
    Arch('p2c_generator', 'photo2cartoon', 'ResnetGenerator',
         'photo2cartoon generator (U-GAT-IT with hourglass blocks and Soft-AdaLIN)',
         'HourGlass1.Conv1.weight', _p2c_generator_config,
         default_config={'ngf': 32, 'img_size': 256, 'light': True}, networks=('genA2B', 'genB2A'),
         outputs=GENERATOR_OUTPUTS, exportable=True, bench_sizes=(256,)),
    Arch('ugatit_generator', 'ugatit', 'ResnetGenerator', 'U-GAT-IT generator (adaILN)',
         'UpBlock1_1.conv1.weight', _ugatit_generator_config,
         default_config={'input_nc': 3, 'output_nc': 3, 'ngf': 64, 'n_blocks': 4, 'img_size': 256, 'light': True},
         networks=('genA2B', 'genB2A'), outputs=GENERATOR_OUTPUTS, exportable=True, bench_sizes=(256,)),
    # photo2cartoon's Discriminator is U-GAT-IT's, line for line: one arch serves both.
    Arch('discriminator', 'ugatit', 'Discriminator',
         'U-GAT-IT / photo2cartoon discriminator (spectral norm, CAM)',
         'model.1.weight_orig', _discriminator_config,
         default_config={'input_nc': 3, 'ndf': 32, 'n_layers': 7}, networks=('disGA', 'disGB', 'disLA', 'disLB'),
         outputs=('logit', 'cam_logit', 'heatmap')),
    Arch('mobilefacenet', 'mobilefacenet', 'MobileFaceNet', 'MobileFaceNet face-ID network',
         'conv_6_dw.conv.weight', lambda shapes: {'embedding_size': shapes['linear.weight'][0]},
         default_config={'embedding_size': 512}, size=112, quick_size=112, outputs=('embedding',)),
    Arch('u2net', 'u2net', 'U2NET', 'U^2-Net (176 MB: salient object, portrait, human segmentation)',
         'stage1.rebnconvin.conv_s1.weight', _u2net_config, lambda shapes: not _is_u2netp(shapes),
         default_config={'in_ch': 3, 'out_ch': 1}, size=320, quick_size=160, normalization='u2net',
         outputs=U2NET_OUTPUTS, exportable=True, bench_sizes=(320, 512, 1024)),
    Arch('u2netp', 'u2net', 'U2NETP', 'U^2-Net small (4.7 MB)',
         'stage1.rebnconvin.conv_s1.weight', _u2net_config, _is_u2netp, default_config={'in_ch': 3, 'out_ch': 1},
         size=320, quick_size=160, normalization='u2net', outputs=U2NET_OUTPUTS, exportable=True,
         bench_sizes=(320,)),
    Arch('artline', 'artline', 'DynamicUnet',
         'ArtLine line-art portraits (fastai v1 DynamicUnet, ResNet-34, self-attention, spectral norm)',
         'layers.10.layers.0.0.weight_orig', _artline_config, default_config={}, size=512, quick_size=96,
         normalization='imagenet', outputs=('lines',), exportable=True, bench_sizes=(512,)),
    # DeepFaceDrawing: one encoder and two decoders per face part (image_size 128 eyes, 160 nose, 192 mouth,
    # 512 face; defaults: an eye), and one generator. Sketches are normalised as (v - 127.5) / 127.5.
    Arch('dfd_encoder', 'deepfacedrawing', 'EncoderGenerator_Res',
         'DeepFaceDrawing part encoder (sketch crop -> 512-d latent)', 'fc_mu.0.weight', _dfd_encoder_config,
         default_config={'image_size': 128, 'input_nc': 1, 'latent_dim': 512}, size=128, quick_size=128,
         outputs=('latent',), exportable=True, fixed_size=True),
    Arch('dfd_image_decoder', 'deepfacedrawing', 'DecoderGenerator_image_Res',
         'DeepFaceDrawing part image decoder (latent -> sketch; GUI shadows only)', 'fc.0.weight',
         _dfd_decoder_config, lambda shapes: not _is_dfd_feature_decoder(shapes),
         default_config={'image_size': 128, 'output_nc': 1, 'latent_dim': 512}, size=128, quick_size=128,
         outputs=('sketch',), exportable=True, latent_input=True),
    Arch('dfd_feature_decoder', 'deepfacedrawing', 'DecoderGenerator_feature_Res',
         'DeepFaceDrawing part feature decoder (latent -> 32-channel map)', 'fc.0.weight', _dfd_decoder_config,
         _is_dfd_feature_decoder, default_config={'image_size': 128, 'output_nc': 32, 'latent_dim': 512}, size=128,
         quick_size=128, outputs=('features',), exportable=True, latent_input=True),
    Arch('dfd_generator', 'deepfacedrawing', 'GlobalGenerator',
         'DeepFaceDrawing image synthesis (pix2pixHD global generator, 32-channel map -> RGB)',
         'model.1.weight', _dfd_generator_config,
         default_config={'input_nc': 32, 'output_nc': 3, 'ngf': 56, 'n_downsampling': 4, 'n_blocks': 9}, size=512,
         quick_size=64, outputs=('face',), exportable=True, bench_sizes=(512,)),
]}


def detect_arch(shapes):
    """The name of the architecture whose signature key `shapes` has (and that `matches` them), or None."""
    for arch in ARCHS.values():
        if arch.signature_key in shapes and (arch.matches is None or arch.matches(shapes)):
            return arch.name
    return None


def describe_config(config):
    return ', '.join(f'{key}={value}' for key, value in config.items())


# ---- official releases: the weights files upstream publishes ----

P2C_SOURCE = ('the photo2cartoon README, https://github.com/minivision-ai/photo2cartoon '
              '("pretrained models": Google Drive or Baidu)')
U2NET_SOURCE = 'the U-2-Net README, https://github.com/xuebinqin/U-2-Net (Google Drive links)'
ARTLINE_SOURCE = 'the ArtLine README, https://github.com/vijishmadhavan/ArtLine (ArtLine_650.pkl / ArtLine_920.pkl)'
DFD_SOURCE = ('the DeepFaceDrawing-Jittor README, https://github.com/IGLICT/DeepFaceDrawing-Jittor (the Params '
              'folder: Google Drive or Baidu)')


@dataclass(frozen=True)
class Release:
    archs: tuple  # the architectures its file may hold, upstream's first
    network: str  # the network to take from a training checkpoint, or None
    files: tuple  # upstream file names (then our converted ones), looked for in ./models and ./saved_models/<name>/
    source: str
    flag: str = '--weights'  # the command-line flag that takes the file
    hint: str = ''  # what else the user can do without it
    task: str = ''  # what test.py and the web page do with it: cartoon, portrait, mask, line_art, face_id
    sizes: dict = field(default_factory=dict)  # arch -> the input side its task runs at (default: Arch.size)

    def input_side(self, arch):
        return self.sizes.get(arch, ARCHS[arch].size)


U2NET_FAMILY = ('u2net', 'u2netp')  # a U^2-Net release's file may hold either (a retrained small model, say)


RELEASES = {
    'photo2cartoon': Release(('p2c_generator',), 'genA2B', ('photo2cartoon_weights.pt', 'genA2B.ckpt'), P2C_SOURCE,
                             task='cartoon'),
    'mobilefacenet': Release(('mobilefacenet',), None, ('model_mobilefacenet.pth',), P2C_SOURCE, '--faceid_weights',
                             '; or train without the face-ID loss: --faceid_weight 0', task='face_id'),
    # The portrait test script works at 512; a small U2NETP portrait model at U^2-Net's usual 320.
    'u2net_portrait': Release(U2NET_FAMILY, None, ('u2net_portrait.pth', 'u2net_portrait.ckpt'), U2NET_SOURCE,
                              task='portrait', sizes={'u2net': 512}),
    'u2net': Release(U2NET_FAMILY, None, ('u2net.pth', 'u2net.ckpt'), U2NET_SOURCE, task='mask'),
    'u2netp': Release(('u2netp',), None, ('u2netp.pth', 'u2netp.ckpt'), U2NET_SOURCE, task='mask'),
    'u2net_human_seg': Release(U2NET_FAMILY, None, ('u2net_human_seg.pth', 'u2net_human_seg.ckpt'), U2NET_SOURCE,
                               '--segmenter_weights', task='mask'),
    'artline': Release(('artline',), None, ('ArtLine_650.pkl', 'ArtLine_920.pkl', 'artline.ckpt'), ARTLINE_SOURCE,
                       task='line_art'),
    # A folder: upstream's Params/ (or what `python -m weights_convert Params/ deepfacedrawing/` makes of it).
    'deepfacedrawing': Release(('dfd_encoder', 'dfd_feature_decoder', 'dfd_generator'), None,
                               ('Params', 'deepfacedrawing'), DFD_SOURCE, task='sketch_face'),
}

# test.py --model (and python -m web build --model): every release but the training-only face-ID network
TEST_MODELS = tuple(name for name, release in RELEASES.items() if release.task != 'face_id')


# ---- DeepFaceDrawing: its face parts and the files of upstream's Params/ folder ----

@dataclass(frozen=True)
class FacePart:
    name: str  # ours, in the names of a converted folder's files
    key: str  # upstream's, in Params/ file names ('' for the face)
    x: int  # its window in the 512x512 sketch: columns x:x+size, rows y:y+size
    y: int
    size: int


DFD_SKETCH_SIZE = 512
# Upstream's order, which is also the order the parts are encoded in (the face last, its windows whitened).
DFD_PARTS = (FacePart('eye1', 'eye1', 108, 156, 128), FacePart('eye2', 'eye2', 255, 156, 128),
             FacePart('nose', 'nose', 182, 232, 160), FacePart('mouth', 'mouth', 169, 301, 192),
             FacePart('face', '', 0, 0, 512))
DFD_GENDERS = {'male': 'man', 'female': 'female'}  # upstream's sex 0 and 1, and their bank files' prefixes
DFD_LATENT = 512
# role -> (arch, upstream file without extension: .pkl as released, .pth as the way back writes it)
DFD_ROLES = {
    'encoder': ('dfd_encoder', 'AE_whole/latest_net_encoder_{key}'),
    'image_decoder': ('dfd_image_decoder', 'AE_whole/latest_net_decoder_{key}_image'),
    'feature_decoder': ('dfd_feature_decoder', 'Combine/latest_net_DE_{key}'),
}
DFD_GENERATOR = ('generator', 'dfd_generator', 'Combine/latest_net_G')
DFD_BANK_FILE = 'AE_whole/{prefix}_{key}_feature.bin'  # raw float32, (rows, 512)
DFD_OPTIONAL_ROLES = ('image_decoder',)  # only upstream's GUI shadows need them


def dfd_bank_name(gender, part):
    """The key of a part's latent bank (a converted folder's banks.npz, the pipeline's banks): 'female_eye1'."""
    return f'{gender}_{part.name}'


@dataclass(frozen=True)
class DfdNetwork:
    name: str  # '<role>_<part>' or 'generator': a converted folder's file name
    arch: str
    stem: str  # its upstream file, without extension
    config: dict  # its constructor's arguments as released


def dfd_networks(everything=True):
    """Each of DeepFaceDrawing's 16 networks, in upstream's order (or the 11 a sketch -> face run needs)."""
    parts = [DfdNetwork(f'{role}_{part.name}', arch, stem.format(key=part.key),
                        {**ARCHS[arch].default_config, 'image_size': part.size})
             for role, (arch, stem) in DFD_ROLES.items() for part in DFD_PARTS
             if everything or role not in DFD_OPTIONAL_ROLES]
    name, arch, stem = DFD_GENERATOR
    return parts + [DfdNetwork(name, arch, stem, ARCHS[arch].default_config)]


class WeightsNotFound(UserError):
    """No weights file for a release: none given, none in the folders searched."""


def find_weights(name, explicit=None):
    """The weights file for release `name`: `explicit` if given, else the first upstream file name found.

    No weights can be downloaded at run time: a missing file is an error that says where the official one
    is published and which flag takes it.
    """
    if explicit:
        if not os.path.exists(explicit):
            raise WeightsNotFound(f'{explicit}: no such weights file')
        return explicit
    release = RELEASES[name]
    for folder in ('models', os.path.join('saved_models', name)):
        for file_name in release.files:
            if os.path.exists(os.path.join(folder, file_name)):
                return os.path.join(folder, file_name)
    raise WeightsNotFound(f'no {name} weights: download {release.files[0]} from {release.source}, then pass '
                          f'{release.flag} PATH (or put it in ./models/){release.hint}')
