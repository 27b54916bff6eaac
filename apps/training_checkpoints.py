"""MindSpore training checkpoints of photo2cartoon / U-GAT-IT: one folder per saved step.

    <model_dir>/step_0001000/genA2B.ckpt ... disLB.ckpt   each network under its upstream key names, so the
                                                         folder converts back as it is:
                                                         python -m weights_convert step_0001000 out.pt
    <model_dir>/step_0001000/train_state.ckpt            step, learning rates, Adam moments

A folder is written under a temporary name and renamed when complete, so a killed run never leaves a
half-written checkpoint; resuming takes the newest folder that loads, and says so when it has to fall back.
"""
import logging
import os
import re
import shutil

import ms_models  # noqa: F401  (before MindSpore: fast oneDNN kernels)
import mindspore as ms
import numpy as np

from weights_convert import ConversionError, load_network
from weights_convert.checkpoints import read_mindspore

logger = logging.getLogger(__name__)
STATE_FILE = 'train_state.ckpt'
_STEP = re.compile(r'step_(\d{7,})$')


def _strip(name, prefix):
    return name[len(prefix):] if name.startswith(prefix) else name


def save(model_dir, step, networks, state_params, keep=3):
    """Write `networks` ({name: cell whose parameters are named '<name>.<key>'}) and `state_params`."""
    final = os.path.join(model_dir, f'step_{step:07d}')
    partial = os.path.join(model_dir, f'.step_{step:07d}.partial')
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    try:
        for name, net in networks.items():
            params = [{'name': _strip(p.name, name + '.'), 'data': p} for p in net.get_parameters()]
            ms.save_checkpoint(params, os.path.join(partial, name + '.ckpt'))
        ms.save_checkpoint([{'name': p.name, 'data': p} for p in state_params], os.path.join(partial, STATE_FILE))
        shutil.rmtree(final, ignore_errors=True)
        os.rename(partial, final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    for old in sorted(saved_steps(model_dir))[:-keep] if keep else []:
        shutil.rmtree(os.path.join(model_dir, f'step_{old:07d}'), ignore_errors=True)
    return final


def saved_steps(model_dir):
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(m.group(1)) for m in map(_STEP.match, os.listdir(model_dir)) if m)


def assign_weights(cell, network, what):
    """Copy the weights of a loaded `network` (weights_convert.Network) into the training `cell`, all or
    nothing: the two must have the same parameter names and shapes."""
    target, source = dict(cell.parameters_and_names()), dict(network.net.parameters_and_names())
    for key in sorted(set(target) | set(source)):
        if key not in target or key not in source or tuple(target[key].shape) != tuple(source[key].shape):
            raise ConversionError(f'{what}: {key} does not fit this model')
    for key, param in source.items():
        target[key].set_data(param)


def _load_state(params, path):
    """The optimizer state of a checkpoint into `params`, all or nothing."""
    arrays = read_mindspore(path)
    if set(arrays) != {p.name for p in params}:
        missing, extra = sorted({p.name for p in params} - set(arrays)), sorted(set(arrays) - {p.name for p in params})
        raise ConversionError(f'{path} does not match: missing {missing[:3]}, unexpected {extra[:3]}')
    for param in params:
        if arrays[param.name].shape != tuple(param.shape):
            raise ConversionError(f'{path}: {param.name} has shape {arrays[param.name].shape}, '
                                  f'expected {tuple(param.shape)}')
    for param in params:
        # asarray, not ascontiguousarray: that makes a scalar (step, learning rate) a 1-element vector
        param.set_data(ms.Tensor(np.asarray(arrays[param.name], order='C'), param.dtype))


def load_latest(model_dir, networks, state_params):
    """Load the newest checkpoint that reads back whole; returns its step, or 0 when there is none."""
    for step in reversed(saved_steps(model_dir)):
        folder = os.path.join(model_dir, f'step_{step:07d}')
        try:
            loaded = {name: load_network(folder, name) for name in networks}
            for name, cell in networks.items():
                assign_weights(cell, loaded[name], f'{folder} [{name}]')
            _load_state(state_params, os.path.join(folder, STATE_FILE))
            return step
        except ConversionError as error:
            logger.warning('checkpoint %s is unusable (%s); falling back to the one before', folder, error)
    return 0
