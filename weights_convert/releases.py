"""The officially released weights: their file names, where they come from, and a cached conversion.

No weights can be downloaded at run time (and none are shipped): a missing file is an error that says
where the official one is published and which flag takes it.
"""
import logging
import os
from dataclasses import dataclass

from .checkpoints import ConversionError, staged, write_mindspore
from .convert import load_mindspore_network

logger = logging.getLogger(__name__)

P2C_SOURCE = ('the photo2cartoon README, https://github.com/minivision-ai/photo2cartoon '
              '("pretrained models": Google Drive or Baidu)')
U2NET_SOURCE = 'the U-2-Net README, https://github.com/xuebinqin/U-2-Net (Google Drive links)'


@dataclass(frozen=True)
class Release:
    arch: str
    network: str  # the network to take from a training checkpoint, or None
    files: tuple  # upstream file names, looked for in ./models and ./saved_models/<name>/
    source: str


RELEASES = {
    'photo2cartoon': Release('p2c_generator', 'genA2B', ('photo2cartoon_weights.pt', 'genA2B.ckpt'), P2C_SOURCE),
    'mobilefacenet': Release('mobilefacenet', None, ('model_mobilefacenet.pth',), P2C_SOURCE),
    'u2net_portrait': Release('u2net', None, ('u2net_portrait.pth', 'u2net_portrait.ckpt'), U2NET_SOURCE),
    'u2net': Release('u2net', None, ('u2net.pth', 'u2net.ckpt'), U2NET_SOURCE),
    'u2netp': Release('u2netp', None, ('u2netp.pth', 'u2netp.ckpt'), U2NET_SOURCE),
    'u2net_human_seg': Release('u2net', None, ('u2net_human_seg.pth', 'u2net_human_seg.ckpt'), U2NET_SOURCE),
}


def find_weights(name, explicit=None):
    """The weights file for release `name`: `explicit` if given, else the first upstream file name found."""
    if explicit:
        if not os.path.exists(explicit):
            raise ConversionError(f'{explicit}: no such weights file')
        return explicit
    release = RELEASES[name]
    for folder in ('models', os.path.join('saved_models', name)):
        for file_name in release.files:
            if os.path.exists(os.path.join(folder, file_name)):
                return os.path.join(folder, file_name)
    raise ConversionError(f'no {name} weights: download {release.files[0]} from {release.source}, then pass '
                          f'--weights PATH (or put it in ./models/)')


def _cache_path(path, network):
    stem = os.path.splitext(path)[0]
    return f'{stem}.{network}.ckpt' if network else f'{stem}.ckpt'


def load_release(name, path):
    """The MindSpore network of release `name` from `path` (.pt/.pth, .ckpt or a folder of them).

    A PyTorch file is converted once and the .ckpt kept beside it (when that folder is writable), so later
    runs need no PyTorch. A cache older than its source is redone.
    """
    release = RELEASES[name]
    if path.endswith('.ckpt') or os.path.isdir(path):
        return load_mindspore_network(path, release.network, release.arch)
    cache = _cache_path(path, release.network)
    if os.path.exists(cache) and os.path.getmtime(cache) >= os.path.getmtime(path):
        try:
            return load_mindspore_network(cache, None, release.arch)
        except ConversionError as error:
            logger.warning('ignoring the cached conversion: %s', error)
    network = load_mindspore_network(path, release.network, release.arch)
    try:
        with staged([cache]) as (temp,):
            write_mindspore(network.net, temp)
        logger.info('converted %s once; later runs read %s', path, cache)
    except ConversionError as error:
        logger.info('not caching the conversion (%s)', error)
    return network
