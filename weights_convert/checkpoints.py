"""Checkpoint files: reading them safely, the layouts upstream saves, and writing them atomically.

Layouts:
- a plain state dict (U^2-Net's `u2net.pth`, photo2cartoon's `model_mobilefacenet.pth`, DeepFaceDrawing's
  Jittor `latest_net_G.pkl`): one network;
- U-GAT-IT / photo2cartoon training checkpoints (`photo2cartoon_weights.pt`, `*_params_latest.pt`): a dict of
  state dicts under some of core.registry.TRAINING_NETWORKS;
- on the MindSpore side, one `.ckpt` per network: a file, or a folder of `<network>.ckpt` files.
"""
import logging
import os
import pickle
import warnings
import zipfile
from contextlib import contextmanager

import numpy as np

from core.errors import UserError
from core.memory import available_memory_bytes
from core.registry import TRAINING_NETWORKS

logger = logging.getLogger(__name__)


class ConversionError(UserError):
    """A checkpoint that cannot be read, does not fit its architecture, or cannot be written."""


class NetworkNotFound(ConversionError):
    """A training checkpoint lacks the network asked for, or holds several and none was named."""


def _require_file(path):
    if not os.path.exists(path):
        raise ConversionError(f'{path}: no such file')
    if os.path.isdir(path):
        raise ConversionError(f'{path} is a folder, not a checkpoint file')


def read_torch(path):
    """{network name: {key: float32/int64 numpy array}} from a PyTorch checkpoint (or a fastai export, or a
    Jittor .pkl), never running its code.

    A plain state dict comes back as {None: state_dict}.
    """
    _require_file(path)
    from .jittor_pickle import is_jittor_pickle, read_jittor
    if is_jittor_pickle(path):  # DeepFaceDrawing's Params/*.pkl
        return {None: read_jittor(path)}
    import torch
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # e.g. torch's notes on unusual pickle protocols
            obj = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as error:
        if 'Weights only load failed' not in str(error):
            raise ConversionError(f'{path} is not a PyTorch weights checkpoint ({_first_line(error)})') from None
        export = _fastai_export_or_none(path)
        if export is not None:
            return {None: {key: _as_array(value) for key, value in export.state_dict.items()}}
        raise ConversionError(f'{path}: refused to load, not a plain PyTorch weights checkpoint '
                              f'({_unpickler_complaint(error)}); only tensors and containers are read, since other '
                              'objects could run code') from None
    except (RuntimeError, EOFError, zipfile.BadZipFile) as error:
        raise ConversionError(f'{path} is corrupt or truncated ({_first_line(error)})') from None
    except OSError as error:
        raise ConversionError(f'cannot read {path}: {error.strerror or error}') from None
    except Exception as error:  # the unpickler fails in many ways on bytes that are not a checkpoint
        raise ConversionError(f'{path} is not a PyTorch weights checkpoint, or is corrupt '
                              f'({type(error).__name__}: {_first_line(error)})') from None
    return split_networks(obj, path)


def _fastai_export_or_none(path):
    """The fastai export in `path` (ArtLine_650.pkl), read without running it; None if it is not one.
    A pickle that names code to run is refused here (RefusedPickle), whatever else it is."""
    from .fastai_export import RefusedPickle, read_fastai_export
    try:
        return read_fastai_export(path)
    except RefusedPickle:
        raise
    except ConversionError:
        return None


def _as_array(value):
    array = np.asarray(value)
    return array.astype(np.float32) if array.dtype.kind == 'f' else array


def _unpickler_complaint(error):
    lines = [line.strip() for line in str(error).splitlines()]
    return next((line for line in lines if 'nsupported' in line), 'objects other than tensors')


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0].split('. ')[0] if text else type(error).__name__


def _is_state_dict(obj):
    import torch
    return isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values())


def split_networks(obj, path):
    if _is_state_dict(obj):
        return {None: _to_numpy(obj)}
    if isinstance(obj, dict) and obj and set(obj) <= set(TRAINING_NETWORKS) and all(map(_is_state_dict, obj.values())):
        return {name: _to_numpy(obj[name]) for name in TRAINING_NETWORKS if name in obj}
    keys = ', '.join(map(str, list(obj)[:6])) if isinstance(obj, dict) else type(obj).__name__
    raise ConversionError(f'{path}: not a state dict nor a U-GAT-IT checkpoint of {"/".join(TRAINING_NETWORKS)} '
                          f'(found: {keys or "an empty dict"})')


def _to_numpy(state_dict):
    arrays = {}
    for key, tensor in state_dict.items():
        array = tensor.detach().cpu().numpy()
        arrays[key] = array.astype(np.float32) if array.dtype.kind == 'f' else array
    return arrays


def read_mindspore(path):
    """{parameter name: numpy array} from a MindSpore .ckpt."""
    import ms_models  # noqa: F401  (oneDNN settings before MindSpore loads)
    import mindspore as ms
    _require_file(path)
    try:
        with _memory_check_counting_page_cache():
            params = ms.load_checkpoint(path)
    except (ValueError, RuntimeError, TypeError, OSError) as error:
        raise ConversionError(f'{path} is not a readable MindSpore checkpoint ({_first_line(error)})') from None
    if not params:
        raise ConversionError(f'{path}: the checkpoint holds no parameters')
    return {name: param.asnumpy() for name, param in params.items()}


@contextmanager
def _memory_check_counting_page_cache():
    """MindSpore refuses a .ckpt larger than the *free* memory (sysconf's SC_AVPHYS_PAGES, Linux's MemFree),
    which leaves out the page cache the kernel hands back on demand: after some file I/O a 24 GB machine shows
    300 MB free and 20 GB available. Judge the file against MemAvailable instead (a real shortage still fails)."""
    from mindspore.train import serialization
    available = available_memory_bytes()
    if available is None or not hasattr(serialization, '_get_available_memory'):
        yield
        return
    check = serialization._get_available_memory
    serialization._get_available_memory = lambda: available
    try:
        yield
    finally:
        serialization._get_available_memory = check


def read_mindspore_networks(path):
    """Like read_torch, for a `.ckpt` file ({None: params}) or a folder of `<network>.ckpt` files."""
    if not os.path.isdir(path):
        return {None: read_mindspore(path)}
    files = sorted(f for f in os.listdir(path) if f.endswith('.ckpt'))
    if 'train_state.ckpt' in files:  # optimizer state of a training checkpoint folder: not a network
        logger.info('%s: leaving out train_state.ckpt (optimizer state, not a network)', path)
        files.remove('train_state.ckpt')
    unknown = [f for f in files if f[:-len('.ckpt')] not in TRAINING_NETWORKS]
    if unknown or not files:
        raise ConversionError(f'{path}: expected a folder of {", ".join(n + ".ckpt" for n in TRAINING_NETWORKS)}; '
                              f'found {", ".join(files) or "no .ckpt file"}')
    return {name: read_mindspore(os.path.join(path, name + '.ckpt')) for name in TRAINING_NETWORKS
            if name + '.ckpt' in files}


def write_mindspore(net, path):
    """Save `net`'s parameters to `path` (a temporary file), then check what was written reads back equal."""
    import mindspore as ms
    with _mindspore_log_silenced():  # a failed write is reported by the caller, in one line
        ms.save_checkpoint(net, path)
    written = read_mindspore(path)
    expected = {name: param.asnumpy() for name, param in net.parameters_and_names()}
    _check_equal(written, expected, path)


@contextmanager
def _mindspore_log_silenced():
    """MindSpore logs its own [CRITICAL] line when a checkpoint cannot be written (full disk, no permission)."""
    from mindspore import log
    logger = log._get_logger()  # MindSpore's one logger; its level is otherwise set only through GLOG_v
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def write_torch(obj, path):
    """torch.save `obj` (a state dict or a dict of them) to `path`, then check it reads back equal."""
    import torch
    torch.save(obj, path)
    written = read_torch(path)
    expected = split_networks(obj, path)
    for name in expected:
        _check_equal(written[name], expected[name], path)


def _check_equal(written, expected, path):
    if set(written) != set(expected) or any(not np.array_equal(written[k], expected[k]) for k in expected):
        raise ConversionError(f'{path}: the file written does not read back equal to the converted weights')
