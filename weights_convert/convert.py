"""PyTorch checkpoint <-> MindSpore network, by rule, with a completeness gate.

Every MindSpore parameter is assigned exactly once from a checkpoint tensor of the same shape; every
checkpoint tensor is used or on the explicit drop list (rules.DROPPED_LEAVES). Anything else is an error
that names the keys, never a silent skip.
"""
import logging
import os
from dataclasses import dataclass

import numpy as np

from core.files import atomic_outputs
from core.registry import ARCHS, TRAINING_NETWORKS, describe_config, detect_arch

from .checkpoints import (ConversionError, NetworkNotFound, read_mindspore_networks, read_torch, write_mindspore,
                          write_torch)

logger = logging.getLogger(__name__)


@dataclass
class Network:
    """One converted network: its place in the checkpoint layout, architecture, and weights."""
    name: str  # network name in a training checkpoint (genA2B, ...), else the architecture name
    arch: str
    config: dict
    net: object  # the MindSpore cell, weights loaded
    n_tensors: int
    path: str = None  # the file written

    @property
    def n_parameters(self):
        return sum(int(np.prod(p.shape)) for p in self.net.trainable_params())

    def describe(self):
        return (f'{self.name}: {self.arch} ({describe_config(self.config)}), {self.n_tensors} tensors, '
                f'{self.n_parameters:,} trainable parameters')


def _examples(keys, limit=4):
    keys = sorted(keys)
    return ', '.join(keys[:limit]) + (f' (+{len(keys) - limit} more)' if len(keys) > limit else '')


def _check_complete(what, arch, config, expected, given):
    missing, unexpected = set(expected) - set(given), set(given) - set(expected)
    if missing or unexpected:
        problems = [f'missing {_examples(missing)}' if missing else '',
                    f'unexpected {_examples(unexpected)}' if unexpected else '']
        raise ConversionError(f'{what} does not match {arch} ({describe_config(config)}): '
                              + '; '.join(filter(None, problems)))


def _resolve_arch(shapes, arch, what):
    """`arch`: None (any), a name, or a tuple of the names accepted."""
    detected = detect_arch(shapes)
    allowed = (arch,) if isinstance(arch, str) else arch
    for name in allowed or ():
        if name not in ARCHS:
            raise ConversionError(f'unknown --arch {name!r}; choose from {", ".join(ARCHS)}')
    if detected is None:
        expected = f' a {" or ".join(allowed)}' if allowed else ' any known architecture'
        raise ConversionError(f'{what} is not{expected} ({", ".join(ARCHS)}); its keys begin '
                              f'{_examples(shapes, 3)}')
    if allowed and detected not in allowed:
        raise ConversionError(f'{what} holds a {detected} ({ARCHS[detected].summary}), not a {" or ".join(allowed)}')
    try:
        return detected, ARCHS[detected].config_from_shapes(shapes)
    except KeyError as error:
        raise ConversionError(f'{what} looks like a {detected} but lacks {error.args[0]}') from None


def _build(shapes, arch, what):
    """(arch, config, MindSpore net) for the weights whose shapes are `shapes`."""
    arch, config = _resolve_arch(shapes, arch, what)
    return arch, config, ARCHS[arch].build_mindspore(config)


def _load_strict(net, ms_arrays, what, arch, config, label=None):
    """Every parameter of `net` from `ms_arrays` ({MindSpore name: numpy array}), all or nothing: a missing,
    unexpected or misshapen array is an error (naming it by `label[name]`, e.g. its torch key), and nothing
    is loaded then. Leaves `net` in inference mode."""
    import mindspore as ms
    expected = {name: tuple(p.shape) for name, p in net.parameters_and_names()}
    _check_complete(what, arch, config, expected, ms_arrays)
    for name, array in ms_arrays.items():
        if tuple(array.shape) != expected[name]:
            raise ConversionError(f'{what}: {(label or {}).get(name, name)} has shape {tuple(array.shape)}, '
                                  f'{arch} expects {expected[name]}')
    params = {name: ms.Parameter(ms.Tensor(array), name=name) for name, array in ms_arrays.items()}
    not_loaded, _ = ms.load_param_into_net(net, params, strict_load=True)
    if not_loaded:
        raise ConversionError(f'parameters left unloaded: {_examples(not_loaded)}')
    net.set_train(False)


def mindspore_network(state_dict, arch=None, name=None, what='checkpoint'):
    """Build the MindSpore twin of a torch `state_dict` (numpy arrays) and load it, by rule."""
    from .rules import dropped_torch_keys, torch_to_mindspore_names

    arch, config, net = _build({key: tuple(value.shape) for key, value in state_dict.items()}, arch, what)
    mapping = torch_to_mindspore_names(net)
    dropped = set(dropped_torch_keys(net)) & set(state_dict)  # absent from checkpoints older than torch 0.4.1
    _check_complete(what, arch, config, set(mapping) | dropped, state_dict)
    _load_strict(net, {ms_name: state_dict[key] for key, ms_name in mapping.items()}, what, arch, config,
                 label={ms_name: key for key, ms_name in mapping.items()})
    return Network(name or arch, arch, config, net, len(state_dict))


def mindspore_network_from_params(ms_params, arch=None, name=None, what='checkpoint'):
    """Build the MindSpore network that `ms_params` ({parameter name: numpy array}, a .ckpt's) fit, and load it."""
    arch, config, net = _build({key: tuple(value.shape) for key, value in ms_params.items()}, arch, what)
    _load_strict(net, ms_params, what, arch, config)
    return Network(name or arch, arch, config, net, len(ms_params))


def torch_state_dict(ms_params, arch=None, what='checkpoint'):
    """(Network, torch state dict in upstream key order) from MindSpore parameters (numpy arrays)."""
    from .rules import dropped_torch_keys, torch_to_mindspore_names

    network = mindspore_network_from_params(ms_params, arch, what=what)
    mapping = torch_to_mindspore_names(network.net)

    import torch
    reference = ARCHS[network.arch].build_torch(network.config)
    dropped = set(dropped_torch_keys(network.net))
    state = {key: torch.zeros((), dtype=torch.long) if key in dropped else torch.from_numpy(ms_params[mapping[key]])
             for key in reference.state_dict()}
    reference.load_state_dict(state, strict=True)  # the upstream layout, exactly
    network.n_tensors = len(state)
    return network, state


def is_mindspore_path(path):
    return path.endswith('.ckpt') or os.path.isdir(path)


def convert(src, dst, arch=None):
    """Convert `src` to `dst`, the direction given by `src`: .ckpt or folder -> PyTorch, else -> MindSpore;
    a DeepFaceDrawing folder: upstream's Params/ -> a folder of .ckpt files, and back.

    Returns the list of converted `Network`s.
    """
    if os.path.exists(dst) and os.path.exists(src) and os.path.samefile(src, dst):
        raise ConversionError(f'{dst} is the input itself: give another DST (the input is never overwritten)')
    from .deepfacedrawing import convert_folder, is_dfd_folder
    if is_dfd_folder(src):  # DeepFaceDrawing's 16 networks and its latent banks, as one folder
        return convert_folder(src, dst)
    if is_mindspore_path(src):
        if dst.endswith('.ckpt') or os.path.isdir(dst):
            raise ConversionError(f'{src} is MindSpore, so DST is the PyTorch file to write: give a .pt or .pth '
                                  f'name, not {dst}')
        return _mindspore_to_torch(src, dst, arch)
    return _torch_to_mindspore(src, dst, arch)


def _check_arch_for(name, arch):
    """--arch names the generators' family in a training checkpoint; discriminators are always checked."""
    if name is None or name.startswith('gen'):
        return arch
    return 'discriminator'


def _torch_to_mindspore(src, dst, arch):
    networks = read_torch(src)
    converted = [mindspore_network(sd, _check_arch_for(name, arch), name, f'{src}{f" [{name}]" if name else ""}')
                 for name, sd in networks.items()]
    if None in networks:
        if os.path.isdir(dst):
            dst = os.path.join(dst, os.path.splitext(os.path.basename(src))[0] + '.ckpt')
        targets = [dst if dst.endswith('.ckpt') else dst + '.ckpt']
    else:
        if os.path.exists(dst) and not os.path.isdir(dst):
            raise ConversionError(f'{src} holds {len(networks)} networks: DST must be a folder, {dst} is a file')
        targets = [os.path.join(dst, network.name + '.ckpt') for network in converted]
    with atomic_outputs(targets) as temps:
        for network, temp in zip(converted, temps):
            write_mindspore(network.net, temp)
    for network, target in zip(converted, targets):
        network.path = target
    return converted


def _mindspore_to_torch(src, dst, arch):
    networks = read_mindspore_networks(src)
    states, converted = {}, []
    for name, params in networks.items():
        what = f'{src}{f" [{name}.ckpt]" if name else ""}'
        network, states[name] = torch_state_dict(params, _check_arch_for(name, arch), what)
        network.name, network.path = name or network.arch, dst
        converted.append(network)
    obj = states[None] if None in states else {name: states[name] for name in TRAINING_NETWORKS if name in states}
    with atomic_outputs([dst]) as (temp,):
        write_torch(obj, temp)
    return converted


def pick_network(networks, network, path):
    """The key of `networks` (as read_torch / read_mindspore_networks return them) to take."""
    if None in networks:
        return None
    if network is None and len(networks) == 1:
        return next(iter(networks))
    if network not in networks:
        raise NetworkNotFound(f'{path} holds {", ".join(networks)}; choose one'
                              + (f' (no {network} in it)' if network else ''))
    return network
