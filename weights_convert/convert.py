"""PyTorch checkpoint <-> MindSpore network, by rule, with a completeness gate.

Every MindSpore parameter is assigned exactly once from a checkpoint tensor of the same shape; every
checkpoint tensor is used or on the explicit drop list (rules.DROPPED_LEAVES). Anything else is an error
that names the keys, never a silent skip.
"""
import logging
import os
from dataclasses import dataclass

import numpy as np

from .archs import ARCHS, describe_config, detect_arch
from .checkpoints import (NETWORK_NAMES, ConversionError, read_mindspore_networks, read_torch, staged,
                          write_mindspore, write_torch)

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
    detected = detect_arch(shapes)
    if arch is not None and arch not in ARCHS:
        raise ConversionError(f'unknown --arch {arch!r}; choose from {", ".join(ARCHS)}')
    if detected is None:
        expected = f' a {arch}' if arch else ' any known architecture'
        raise ConversionError(f'{what} is not{expected} ({", ".join(ARCHS)}); its keys begin '
                              f'{_examples(shapes, 3)}')
    if arch is not None and arch != detected:
        raise ConversionError(f'{what} holds a {detected} ({ARCHS[detected].summary}), not a {arch}')
    try:
        return detected, ARCHS[detected].config_from_shapes(shapes)
    except KeyError as error:
        raise ConversionError(f'{what} looks like a {detected} but lacks {error.args[0]}') from None


def _load(net, ms_arrays):
    import mindspore as ms
    params = {name: ms.Parameter(ms.Tensor(array), name=name) for name, array in ms_arrays.items()}
    not_loaded, _ = ms.load_param_into_net(net, params, strict_load=True)
    if not_loaded:
        raise ConversionError(f'parameters left unloaded: {_examples(not_loaded)}')


def mindspore_network(state_dict, arch=None, name=None, what='checkpoint'):
    """Build the MindSpore twin of a torch `state_dict` (numpy arrays) and load it, by rule."""
    from .rules import dropped_torch_keys, torch_to_mindspore_names

    shapes = {key: tuple(value.shape) for key, value in state_dict.items()}
    arch, config = _resolve_arch(shapes, arch, what)
    net = ARCHS[arch].build_mindspore(config)
    mapping = torch_to_mindspore_names(net)
    expected_shapes = {name: tuple(p.shape) for name, p in net.parameters_and_names()}

    dropped = set(dropped_torch_keys(net)) & set(state_dict)  # absent from checkpoints older than torch 0.4.1
    _check_complete(what, arch, config, set(mapping) | dropped, state_dict)
    for key, ms_name in mapping.items():
        if shapes[key] != expected_shapes[ms_name]:
            raise ConversionError(f'{what}: {key} has shape {shapes[key]}, {arch} expects '
                                  f'{expected_shapes[ms_name]}')
    _load(net, {ms_name: state_dict[key] for key, ms_name in mapping.items()})
    net.set_train(False)
    return Network(name or arch, arch, config, net, len(state_dict))


def torch_state_dict(ms_params, arch=None, what='checkpoint'):
    """(Network, torch state dict in upstream key order) from MindSpore parameters (numpy arrays)."""
    from .rules import dropped_torch_keys, torch_to_mindspore_names

    shapes = {name: tuple(value.shape) for name, value in ms_params.items()}
    arch, config = _resolve_arch(shapes, arch, what)
    net = ARCHS[arch].build_mindspore(config)
    mapping = torch_to_mindspore_names(net)
    _check_complete(what, arch, config, mapping.values(), ms_params)
    _load(net, ms_params)  # checks shapes against the MindSpore model

    import torch
    reference = ARCHS[arch].build_torch(config)
    dropped = set(dropped_torch_keys(net))
    state = {key: torch.zeros((), dtype=torch.long) if key in dropped else torch.from_numpy(ms_params[mapping[key]])
             for key in reference.state_dict()}
    reference.load_state_dict(state, strict=True)  # the upstream layout, exactly
    return Network(arch, arch, config, net, len(state)), state


def _is_mindspore_path(path):
    return path.endswith('.ckpt') or os.path.isdir(path)


def convert(src, dst, arch=None):
    """Convert `src` to `dst`, the direction given by `src`: .ckpt or folder -> PyTorch, else -> MindSpore.

    Returns the list of converted `Network`s.
    """
    if _is_mindspore_path(src):
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
    with staged(targets) as temps:
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
    obj = states[None] if None in states else {name: states[name] for name in NETWORK_NAMES if name in states}
    with staged([dst]) as (temp,):
        write_torch(obj, temp)
    return converted


def load_mindspore_network(path, network=None, arch=None):
    """A MindSpore model with the weights of `path` (.pt/.pth converted in memory, .ckpt, or a folder).

    `network` picks one from a training checkpoint (e.g. 'genA2B'); it may be omitted when there is one.
    """
    if _is_mindspore_path(path):
        networks = read_mindspore_networks(path)
        name = pick_network(networks, network, path)
        params = networks[name]
        found_arch, config = _resolve_arch({key: value.shape for key, value in params.items()}, arch, path)
        net = ARCHS[found_arch].build_mindspore(config)
        _check_complete(path, found_arch, config, [n for n, _ in net.parameters_and_names()], params)
        _load(net, params)
        net.set_train(False)
        return Network(name or found_arch, found_arch, config, net, len(params))
    networks = read_torch(path)
    name = pick_network(networks, network, path)
    return mindspore_network(networks[name], arch, name, path)


def pick_network(networks, network, path):
    if None in networks:
        return None
    if network is None and len(networks) == 1:
        return next(iter(networks))
    if network not in networks:
        raise ConversionError(f'{path} holds {", ".join(networks)}; choose one'
                              + (f' (no {network} in it)' if network else ''))
    return network
