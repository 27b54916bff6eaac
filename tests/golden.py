"""Reader for tests/golden: outputs of the ORIGINAL upstream code on deterministic weights.

The data is copied from shared/golden (its README there explains the format); the weights are not stored
but regenerated from each case's layout and seed by `weights_convert.synthetic`.
"""
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from parity.metrics import relative_error  # noqa: F401  (max|out - ref| / max(1, max|ref|), as the README)
from weights_convert import synthetic_state_dict

GOLDEN_DIR = Path(__file__).parent / 'golden'

# case -> (architecture, network name in a training checkpoint or None for a plain state dict, constructor)
CASES = {
    'p2c_genA2B': ('p2c_generator', 'genA2B', {'ngf': 32, 'img_size': 256, 'light': True}),
    'p2c_genA2B_full_small': ('p2c_generator', 'genA2B', {'ngf': 8, 'img_size': 64, 'light': False}),
    'p2c_disGA': ('discriminator', 'disGA', {'input_nc': 3, 'ndf': 32, 'n_layers': 7}),
    'p2c_disLA': ('discriminator', 'disLA', {'input_nc': 3, 'ndf': 32, 'n_layers': 5}),
    'ugatit_light_genA2B': ('ugatit_generator', 'genA2B', {'input_nc': 3, 'output_nc': 3, 'ngf': 64, 'n_blocks': 4,
                                                           'img_size': 256, 'light': True}),
    'ugatit_genA2B_full_small': ('ugatit_generator', 'genA2B', {'input_nc': 3, 'output_nc': 3, 'ngf': 8,
                                                                'n_blocks': 2, 'img_size': 64, 'light': False}),
    'ugatit_disGA': ('discriminator', 'disGA', {'input_nc': 3, 'ndf': 16, 'n_layers': 7}),
    'ugatit_disLA': ('discriminator', 'disLA', {'input_nc': 3, 'ndf': 16, 'n_layers': 5}),
    'mobilefacenet': ('mobilefacenet', None, {'embedding_size': 512}),
    'u2net_192': ('u2net', None, {'in_ch': 3, 'out_ch': 1}),
    'u2netp_320': ('u2netp', None, {'in_ch': 3, 'out_ch': 1}),
}


@dataclass
class GoldenCase:
    name: str
    arch: str
    network: str  # key in a training checkpoint, or None
    config: dict
    spec: list  # the upstream state_dict layout: [key, shape, dtype]
    state_dict: dict  # numpy arrays, in spec order
    x: np.ndarray
    outputs: list
    tol: float
    fp32_noise: float

    def checkpoint(self):
        """The weights as upstream saves them: a training checkpoint dict, or a plain state dict."""
        import torch
        state = {key: torch.from_numpy(np.asarray(value)) for key, value in self.state_dict.items()}
        return {self.network: state} if self.network else state


def load_case(name):
    meta = json.loads((GOLDEN_DIR / f'{name}.json').read_text())
    data = np.load(GOLDEN_DIR / f'{name}.npz')
    state = synthetic_state_dict(meta['spec'], meta['seed'])
    for key in data.files:
        if key.startswith('bn::'):  # measured BatchNorm statistics replace the made-up ones
            state[key[len('bn::'):]] = data[key]
    arch, network, config = CASES[name]
    return GoldenCase(name, arch, network, config, meta['spec'], state, data['x'],
                      [data[f'out{i}'] for i in range(meta['nouts'])], meta['tol'], meta['fp32_noise'])
