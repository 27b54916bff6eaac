"""The one way to get a MindSpore network from a weights file: convert if needed, build, load strictly.

test.py, parity, export, training (pretrained weights, face-ID network, resume) all come through
`load_network`, so every one of them gets the same checks: the architecture read off the shapes (and
checked against the one asked for), every parameter loaded exactly once, nothing left over.
"""
import logging
import os

from core.errors import UserError
from core.files import atomic_outputs, sha256_of

from .checkpoints import ConversionError, read_mindspore_networks, read_torch, write_mindspore
from .convert import is_mindspore_path, mindspore_network, mindspore_network_from_params, pick_network

logger = logging.getLogger(__name__)


def load_network(path, network=None, arch=None, cache=False):
    """A `Network` (its MindSpore cell in inference mode) with the weights of `path`: a .pt/.pth (converted
    in memory), a .ckpt, or a folder of <network>.ckpt files.

    `network` picks one from a training checkpoint (e.g. 'genA2B'); it may be omitted when there is one.
    `arch` checks the architecture. With `cache`, a PyTorch file is converted once and the .ckpt kept
    beside it (when that folder is writable), with the SHA-256 of the file it came from: later runs need no
    PyTorch, and a cache of other weights (the source replaced, whatever its modification time) is redone.
    """
    if is_mindspore_path(path):
        networks = read_mindspore_networks(path)
        name = pick_network(networks, network, path)
        return mindspore_network_from_params(networks[name], arch, name, path)
    cached = _cache_path(path, network) if cache else None
    digest = sha256_of(path) if cache else None
    if cached and os.path.exists(cached):
        if _read_text(cached + DIGEST_SUFFIX) == digest:
            try:
                return load_network(cached, None, arch)
            except ConversionError as error:
                logger.warning('ignoring the cached conversion: %s', error)
        else:
            logger.warning('%s was converted from other weights than %s has now: converting again', cached, path)
    networks = read_torch(path)
    name = pick_network(networks, network, path)
    loaded = mindspore_network(networks[name], arch, name, path)
    if cached:
        _write_cache(loaded, path, cached, digest)
    return loaded


DIGEST_SUFFIX = '.sha256'  # beside a cached .ckpt: the SHA-256 of the file it was converted from


def _cache_path(path, network):
    stem = os.path.splitext(path)[0]
    return f'{stem}.{network}.ckpt' if network else f'{stem}.ckpt'


def _read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _write_cache(loaded, path, cached, digest):
    try:
        with atomic_outputs([cached, cached + DIGEST_SUFFIX]) as (temp, temp_digest):
            write_mindspore(loaded.net, temp)
            with open(temp_digest, 'w') as f:
                f.write(digest + '\n')
        logger.info('converted %s once; later runs read %s', path, cached)
    except UserError as error:  # a read-only folder, say: the conversion in memory is all that is needed
        logger.info('not caching the conversion (%s)', error)
