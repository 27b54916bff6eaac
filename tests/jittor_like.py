"""DeepFaceDrawing weights in upstream's Jittor layout, for the tests, written without Jittor.

`save_jittor` writes what Jittor 1.3's `Module.save` writes: a protocol-4 pickle of name -> jittor_core.Var (each
reduced to Var(ndarray)), then the SHA-1 of the pickle and the magic HCAJSLHD. `write_params` fills a Params/
folder with deterministic weights (core.synthetic, the golden recipe) and small latent banks.
"""
import contextlib
import hashlib
import os
import pickle
import sys
import types

import numpy as np

from core.registry import ARCHS, DFD_BANK_FILE, DFD_GENDERS, DFD_PARTS, dfd_networks
from core.synthetic import spec_of, synthetic_state_dict

MAGIC = b'HCAJSLHD'
SMALL_GENERATOR = {'input_nc': 32, 'output_nc': 3, 'ngf': 8, 'n_downsampling': 4, 'n_blocks': 2}


def _var(array):
    return array


_var.__module__, _var.__qualname__ = 'jittor', 'jittor_core.Var'  # the global a Jittor pickle names


class _Var:
    def __init__(self, array):
        self.array = array

    def __reduce__(self):
        return _var, (self.array,)


@contextlib.contextmanager
def _jittor_module():
    """A stand-in `jittor` module, so that pickle can name jittor.jittor_core.Var."""
    saved = sys.modules.get('jittor')
    sys.modules['jittor'] = types.ModuleType('jittor')
    sys.modules['jittor'].jittor_core = types.SimpleNamespace(Var=_var)
    try:
        yield
    finally:
        if saved is None:
            del sys.modules['jittor']
        else:
            sys.modules['jittor'] = saved


def _pickled(state):
    with _jittor_module():
        return pickle.dumps({key: _Var(np.asarray(value, np.float32)) for key, value in state.items()}, protocol=4)


def jittor_bytes(state, trailer=True):
    data = _pickled(state)
    return data + hashlib.sha1(data).digest() + MAGIC if trailer else data


def save_jittor(state, path, trailer=True):
    data = _pickled(state)
    with open(path, 'wb') as f:  # the trailer written after, not concatenated: a generator's pickle is 560 MB
        f.write(data)
        if trailer:
            f.write(hashlib.sha1(data).digest() + MAGIC)


def upstream_state(arch, config, seed):
    """Upstream-layout weights (no BatchNorm batch counters: Jittor has none)."""
    spec = spec_of(ARCHS[arch].build_torch(config).state_dict())
    return synthetic_state_dict([s for s in spec if not s[0].endswith('num_batches_tracked')], seed)


def write_params(folder, seed=0, bank_rows=40, image_decoders=(), generator=SMALL_GENERATOR):
    """A Params/ folder as upstream's, with made-up weights (the image decoders of the parts named in
    `image_decoders` only: the pipeline never needs them); returns its path."""
    for offset, network in enumerate(dfd_networks()):
        if network.name.startswith('image_decoder') and network.name[len('image_decoder_'):] not in image_decoders:
            continue
        config = generator if network.arch == 'dfd_generator' else network.config
        path = os.path.join(folder, network.stem + '.pkl')
        os.makedirs(os.path.dirname(path), exist_ok=True)
        save_jittor(upstream_state(network.arch, config, seed + offset), path)
    rng = np.random.default_rng(seed)
    for gender, prefix in DFD_GENDERS.items():
        for part in DFD_PARTS:
            rows = bank_rows + (7 if gender == 'female' else 0)
            bank = (100 * rng.standard_normal((rows, 512))).astype(np.float32)  # near the encoders' scale
            bank.tofile(os.path.join(folder, DFD_BANK_FILE.format(prefix=prefix, key=part.key)))
    return folder
