"""Reader for tests/golden: outputs of the ORIGINAL upstream code on deterministic weights.

The data is copied from shared/golden (tests/golden/README.md says where each case came from); the
weights are not stored but regenerated from each case's layout and seed by `core.synthetic`.
`tests/golden/cases.json` names, per case, the architecture, its place in a training checkpoint and the
upstream constructor's arguments.
"""
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.synthetic import synthetic_state_dict
from parity.metrics import relative_error  # noqa: F401  (max|out - ref| / max(1, max|ref|), as the README)

GOLDEN_DIR = Path(__file__).parent / 'golden'

CASES = json.loads((GOLDEN_DIR / 'cases.json').read_text())


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
    framework: str  # upstream's: 'torch', or 'jittor' (DeepFaceDrawing)

    def checkpoint(self):
        """The weights as upstream PyTorch saves them: a training checkpoint dict, or a plain state dict."""
        import torch
        state = {key: torch.from_numpy(np.asarray(value)) for key, value in self.state_dict.items()}
        return {self.network: state} if self.network else state

    def save_upstream(self, folder):
        """The weights written to `folder` as upstream saves them (torch.save, or Jittor's .pkl); the path."""
        if self.framework == 'jittor':
            from jittor_like import save_jittor
            path = Path(folder) / 'upstream.pkl'
            save_jittor(self.state_dict, path)
            return path
        import torch
        path = Path(folder) / 'upstream.pt'
        torch.save(self.checkpoint(), path)
        return path


def load_case(name):
    meta = json.loads((GOLDEN_DIR / f'{name}.json').read_text())
    data = np.load(GOLDEN_DIR / f'{name}.npz')
    state = synthetic_state_dict(meta['spec'], meta['seed'])
    for key in data.files:
        if key.startswith('bn::'):  # measured BatchNorm statistics replace the made-up ones
            state[key[len('bn::'):]] = data[key]
    case = CASES[name]
    return GoldenCase(name, case['arch'], case['network'], case['config'], meta['spec'], state, data['x'],
                      [data[f'out{i}'] for i in range(meta['nouts'])], meta['tol'], meta['fp32_noise'],
                      case.get('framework', 'torch'))
