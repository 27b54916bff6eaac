"""DeepFaceDrawing's weights: upstream's `Params/` folder <-> one folder of MindSpore checkpoints.

Upstream (core.registry.DFD_ROLES): `AE_whole/latest_net_encoder_<key>.pkl`, `..._decoder_<key>_image.pkl`,
`Combine/latest_net_DE_<key>.pkl`, `Combine/latest_net_G.pkl` (Jittor pickles), and the latent banks
`AE_whole/{man,female}_<key>_feature.bin` (raw float32, 512 per row; upstream hard-codes 6247 and 11456 rows,
any number from 15 up is taken here). The face's key is the empty string (`latest_net_encoder_.pkl`).
Converted: `<role>_<part>.ckpt` per network (`encoder_eye1.ckpt`, ..., `generator.ckpt`) and `banks.npz`
(`male_eye1`, `female_eye1`, ...). The way back writes upstream's layout with `.pth` state dicts and `.bin`
banks. The image decoders only draw upstream's GUI shadows: converted when present, never required.
"""
import logging
import os

import numpy as np

from core.manifold import NEIGHBOURS
from core.registry import (DFD_BANK_FILE, DFD_GENDERS, DFD_LATENT, DFD_OPTIONAL_ROLES, DFD_PARTS, dfd_bank_name,
                           dfd_networks)
from core.files import atomic_outputs

from .checkpoints import ConversionError, read_mindspore, read_torch, write_mindspore

logger = logging.getLogger(__name__)

BANKS = 'banks.npz'
NETWORKS = {network.name: network for network in dfd_networks()}
UPSTREAM_EXTENSIONS = ('.pkl', '.pth')


def is_upstream_folder(path):
    return os.path.isdir(os.path.join(path, 'AE_whole')) or os.path.isdir(os.path.join(path, 'Combine'))


def is_converted_folder(path):
    return os.path.isfile(os.path.join(path, 'generator.ckpt')) or os.path.isfile(os.path.join(path, BANKS))


def is_dfd_folder(path):
    return os.path.isdir(path) and (is_upstream_folder(path) or is_converted_folder(path))


def _required(name):
    return not name.startswith(DFD_OPTIONAL_ROLES)


def _found(folder, stems):
    """{network name: path} of the files present; a ConversionError naming the required ones missing."""
    found = {name: path for name, path in stems.items() if os.path.isfile(path)}
    missing = [path for name, path in stems.items() if name not in found and _required(name)]
    if missing:
        shown = ', '.join(os.path.relpath(p, folder) for p in missing[:4]) + \
            (f' (+{len(missing) - 4} more)' if len(missing) > 4 else '')
        raise ConversionError(f'{folder}: not a complete DeepFaceDrawing folder, missing {shown}')
    return found


def _upstream_paths(folder):
    paths = {}
    for network in NETWORKS.values():
        base = os.path.join(folder, network.stem)
        present = [base + ext for ext in UPSTREAM_EXTENSIONS if os.path.isfile(base + ext)]
        paths[network.name] = present[0] if present else base + '.pkl'
    return paths


def check_bank(array, what):
    """A latent bank as the projection needs it: (rows >= 15, 512) finite float32."""
    if array.ndim != 2 or array.shape[1] != DFD_LATENT or array.shape[0] < NEIGHBOURS:
        raise ConversionError(f'{what}: a latent bank holds rows of {DFD_LATENT} float32 values, at least '
                              f'{NEIGHBOURS} of them; this one is {"x".join(map(str, array.shape))}')
    if not np.isfinite(array).all():
        raise ConversionError(f'{what}: the latent bank holds NaN or infinite values (corrupt file?)')
    return np.ascontiguousarray(array, np.float32)


def _read_bin(path):
    if not os.path.isfile(path):
        raise ConversionError(f'{path}: no such latent bank file')
    size = os.path.getsize(path)
    if size % (4 * DFD_LATENT):
        raise ConversionError(f'{path}: {size} bytes is not a whole number of {DFD_LATENT}-value float32 rows '
                              '(truncated or not a latent bank)')
    return check_bank(np.fromfile(path, '<f4').reshape(-1, DFD_LATENT), path)


def read_banks(folder):
    """{'<gender>_<part>': (rows, 512) float32} from an upstream or a converted folder."""
    if is_converted_folder(folder):
        path = os.path.join(folder, BANKS)
        try:
            with np.load(path, allow_pickle=False) as stored:
                banks = {name: stored[name] for name in stored.files}
        except (OSError, ValueError) as error:
            raise ConversionError(f'{path}: not a readable bank archive ({error})') from None
        expected = [dfd_bank_name(g, p) for g in DFD_GENDERS for p in DFD_PARTS]
        missing = [name for name in expected if name not in banks]
        if missing:
            raise ConversionError(f'{path}: missing the banks {", ".join(missing)}')
        return {name: check_bank(banks[name], f'{path} [{name}]') for name in expected}
    return {dfd_bank_name(gender, part):
            _read_bin(os.path.join(folder, DFD_BANK_FILE.format(prefix=prefix, key=part.key)))
            for gender, prefix in DFD_GENDERS.items() for part in DFD_PARTS}


def _wanted(paths, everything):
    """`paths` without the optional networks unless `everything` (the sketch-to-face pipeline needs 11 of 16)."""
    return paths if everything else {name: path for name, path in paths.items() if _required(name)}


def read_upstream_states(folder, everything=True):
    """{network name: (arch, numpy state dict, path)} of an upstream folder (.pkl, or the .pth the way back
    writes)."""
    found = _found(folder, _wanted(_upstream_paths(folder), everything))
    return {name: (NETWORKS[name].arch, read_torch(path)[None], path) for name, path in found.items()}


def check_part_size(name, config, path):
    """A part network must be built for its part's window (an eye encoder for 128x128, ...)."""
    expected = NETWORKS[name].config.get('image_size')
    if expected is not None and config['image_size'] != expected:
        raise ConversionError(f'{path}: a network for {config["image_size"]}x{config["image_size"]} parts, but '
                              f'{name} works on {expected}x{expected} (a file of another part?)')


def mindspore_networks(folder, everything=True):
    """({network name: Network}, banks) from an upstream or a converted folder, every network loaded strictly."""
    from .convert import mindspore_network, mindspore_network_from_params
    networks = {}
    if is_converted_folder(folder):
        found = _found(folder, _wanted({name: os.path.join(folder, name + '.ckpt') for name in NETWORKS}, everything))
        for name, path in found.items():
            networks[name] = mindspore_network_from_params(read_mindspore(path), NETWORKS[name].arch, name, path)
            check_part_size(name, networks[name].config, path)
    else:
        for name, (arch, state, path) in read_upstream_states(folder, everything).items():
            networks[name] = mindspore_network(state, arch, name, path)
            check_part_size(name, networks[name].config, path)
    return networks, read_banks(folder)


def convert_folder(src, dst):
    """An upstream folder -> a converted one (or back, when `src` is a converted folder); the Networks."""
    if os.path.exists(dst) and not os.path.isdir(dst):
        raise ConversionError(f'{src} is a DeepFaceDrawing folder: DST must be a folder too, {dst} is a file')
    if is_converted_folder(src):
        return _to_upstream(src, dst)
    networks, banks = mindspore_networks(src)
    targets = [os.path.join(dst, name + '.ckpt') for name in networks] + [os.path.join(dst, BANKS)]
    with atomic_outputs(targets) as temps:
        for network, temp in zip(networks.values(), temps):
            write_mindspore(network.net, temp)
        np.savez(temps[-1], **banks)
    for network, target in zip(networks.values(), targets):
        network.path = target
    return list(networks.values())


def _to_upstream(src, dst):
    from .checkpoints import write_torch
    from .convert import torch_state_dict
    found = _found(src, {name: os.path.join(src, name + '.ckpt') for name in NETWORKS})
    banks = read_banks(src)
    converted = [(name,) + torch_state_dict(read_mindspore(path), NETWORKS[name].arch, path)
                 for name, path in found.items()]
    bank_targets = [os.path.join(dst, DFD_BANK_FILE.format(prefix=prefix, key=part.key))
                    for gender, prefix in DFD_GENDERS.items() for part in DFD_PARTS]
    targets = [os.path.join(dst, NETWORKS[name].stem + '.pth') for name, _, _ in converted] + bank_targets
    with atomic_outputs(targets) as temps:
        for (name, _, state), temp in zip(converted, temps):
            write_torch(state, temp)
        for (gender, part), temp in zip([(g, p) for g in DFD_GENDERS for p in DFD_PARTS], temps[len(converted):]):
            banks[dfd_bank_name(gender, part)].tofile(temp)
    for (name, network, _), target in zip(converted, targets):
        network.name, network.path = name, target
    return [network for _, network, _ in converted]
