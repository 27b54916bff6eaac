"""Deterministic made-up weights in an upstream checkpoint layout.

No pretrained weights can be downloaded here, so tests, the parity tool and the benchmarks run on weights
made from a layout and a seed. The recipe is the one shared/golden/README.md describes for the golden
data, so that the same (spec, seed) gives the very weights the upstream code was run with:
He-normal conv/linear weights, norms near identity, PReLU slopes near 0.25, rho and w_* in [0, 1), and
spectral-norm vectors set to the converged top singular pair of `weight_orig`.
"""
import numpy as np


def spec_of(state_dict):
    """The layout of a state dict: a list of [key, shape, dtype name] in its own order."""
    return [[key, list(value.shape), str(value.dtype).replace('torch.', '')] for key, value in state_dict.items()]


def _init(key, shape, normal, rng):
    leaf = key.rsplit('.', 1)[-1]
    if leaf in ('weight', 'weight_orig') and len(shape) > 1:
        return normal * np.sqrt(2.0 / int(np.prod(shape[1:])))
    if leaf in ('rho', 'w_gamma', 'w_beta'):
        return rng.uniform(0.0, 1.0, shape)
    if leaf == 'gamma' and len(shape) == 4:  # ILN / LIN
        return 1.0 + 0.2 * normal
    if leaf == 'beta' and len(shape) == 4:
        return 0.2 * normal
    if leaf in ('weight_u', 'weight_v'):
        return normal / np.linalg.norm(normal)
    if leaf == 'weight' and len(shape) == 1:  # BatchNorm or PReLU
        return 0.25 + 0.05 * normal if 'prelu' in key.lower() else 1.0 + 0.2 * normal
    if leaf == 'running_var':
        return rng.uniform(0.5, 1.5, shape)
    return 0.1 * normal  # biases, running_mean


def synthetic_state_dict(spec, seed):
    """numpy arrays for every [key, shape, dtype] of `spec`, drawn in spec order from `seed`."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, shape, dtype in spec:
        if dtype.startswith('int'):  # num_batches_tracked: draws nothing
            out[key] = np.zeros(shape, np.int64)
            continue
        normal = rng.standard_normal(shape)
        out[key] = _init(key, shape, normal, rng).astype(np.float32)
    # Spectral norm: u and v as a converged power iteration leaves them.
    for key in [k for k in out if k.endswith('.weight_orig')]:
        base = key[:-len('weight_orig')]
        matrix = out[key].reshape(out[key].shape[0], -1).astype(np.float64)
        u, _, vt = np.linalg.svd(matrix, full_matrices=False)
        out[base + 'weight_u'] = u[:, 0].astype(np.float32)
        out[base + 'weight_v'] = vt[0].astype(np.float32)
    return out
