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

import mindspore as ms
import numpy as np

from .checkpoints import ConversionError, read_mindspore

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


def _load_into(params_by_name, path, prefix=''):
    """Copy a .ckpt into parameters, all or nothing; a missing, extra or misshapen tensor is an error."""
    arrays = read_mindspore(path)
    expected = {_strip(name, prefix) for name in params_by_name}
    if set(arrays) != expected:
        missing, extra = sorted(expected - set(arrays)), sorted(set(arrays) - expected)
        raise ConversionError(f'{path} does not match: missing {missing[:3]}, unexpected {extra[:3]}')
    for name, param in params_by_name.items():
        value = arrays[_strip(name, prefix)]
        if value.shape != tuple(param.shape):
            raise ConversionError(f'{path}: {name} has shape {value.shape}, expected {tuple(param.shape)}')
    for name, param in params_by_name.items():
        param.set_data(ms.Tensor(np.ascontiguousarray(arrays[_strip(name, prefix)]), param.dtype))


def load_latest(model_dir, networks, state_params):
    """Load the newest checkpoint that reads back whole; returns its step, or 0 when there is none."""
    for step in reversed(saved_steps(model_dir)):
        folder = os.path.join(model_dir, f'step_{step:07d}')
        try:
            for name, net in networks.items():
                _load_into({p.name: p for p in net.get_parameters()}, os.path.join(folder, name + '.ckpt'), name + '.')
            _load_into({p.name: p for p in state_params}, os.path.join(folder, STATE_FILE))
            return step
        except ConversionError as error:
            logger.warning('checkpoint %s is unusable (%s); falling back to the one before', folder, error)
    return 0
