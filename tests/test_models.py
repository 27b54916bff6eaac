"""Every model, small: ms_models against torch_ref on the same weights, in eval and training mode.

The truth is torch_ref run in float64. As for the golden data, MindSpore in float32 must stay within 4x
torch_ref's own float32 error (at least 1e-5): deep random networks amplify rounding (instance norm over a
2x2 map, say), and the bound scales with it, while real porting mistakes land far above it.
Training mode is where BatchNorm switches to batch statistics and spectral norm runs its power iteration:
the outputs and the buffers they update must agree too. Batch 2 and non-square inputs catch code that
mixes samples or swaps height and width.
"""
import copy

import mindspore as ms
import numpy as np
import pytest
import torch

from weights_convert import ARCHS, mindspore_network, spec_of, synthetic_state_dict
from weights_convert.rules import torch_to_mindspore_names

CASES = {
    # name: (arch, config, input shape)
    'p2c_generator_light': ('p2c_generator', {'ngf': 8, 'img_size': 32, 'light': True}, (2, 3, 32, 48)),
    'p2c_generator_full': ('p2c_generator', {'ngf': 8, 'img_size': 32, 'light': False}, (2, 3, 32, 32)),
    'ugatit_generator_light': ('ugatit_generator', {'input_nc': 3, 'output_nc': 3, 'ngf': 8, 'n_blocks': 2,
                                                    'img_size': 32, 'light': True}, (2, 3, 24, 40)),
    'ugatit_generator_full': ('ugatit_generator', {'input_nc': 3, 'output_nc': 1, 'ngf': 8, 'n_blocks': 3,
                                                   'img_size': 32, 'light': False}, (2, 3, 32, 32)),
    'discriminator_global': ('discriminator', {'input_nc': 3, 'ndf': 8, 'n_layers': 7}, (2, 3, 128, 96)),
    'discriminator_local': ('discriminator', {'input_nc': 3, 'ndf': 8, 'n_layers': 5}, (2, 3, 32, 48)),
    'mobilefacenet': ('mobilefacenet', {'embedding_size': 64}, (2, 3, 112, 112)),
    'u2netp': ('u2netp', {'in_ch': 3, 'out_ch': 1}, (2, 3, 50, 35)),
}


def _pair(arch, config, seed=0):
    """torch_ref and ms_models twins holding the same made-up weights.

    Spectral-norm vectors start as random unit vectors, not converged ones, so that a power iteration
    visibly moves them.
    """
    reference = ARCHS[arch].build_torch(config)
    state = synthetic_state_dict(spec_of(reference.state_dict()), seed)
    rng = np.random.default_rng(seed)
    for key in [k for k in state if k.endswith(('.weight_u', '.weight_v'))]:
        vector = rng.standard_normal(state[key].shape)
        state[key] = (vector / np.linalg.norm(vector)).astype(np.float32)
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    return reference, mindspore_network(state, arch).net


def _as_list(outputs):
    return list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]


def _error(value, truth):
    value, truth = np.asarray(value, np.float64), truth.detach().numpy()
    assert value.shape == truth.shape
    return np.abs(value - truth).max() / max(1.0, np.abs(truth).max())


def assert_faithful(ms_value, torch32_value, truth, what):
    """MindSpore's error against float64 within 4x torch_ref's own float32 error, at least 1e-5."""
    tol = max(4 * _error(torch32_value.detach().numpy(), truth), 1e-5)
    err = _error(ms_value.asnumpy(), truth)
    assert err <= tol, f'{what}: {err:.3g} > {tol:.3g}'


@pytest.mark.parametrize('training', [False, True], ids=['eval', 'train'])
@pytest.mark.parametrize('case', list(CASES))
def test_ms_model_matches_torch_ref(case, training):
    arch, config, shape = CASES[case]
    reference, net = _pair(arch, config)
    reference64 = copy.deepcopy(reference).double()
    for model in (reference, reference64):
        model.train(training)
    net.set_train(training)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)

    with torch.set_grad_enabled(training):
        expected = _as_list(reference(torch.from_numpy(x)))
        truth = _as_list(reference64(torch.from_numpy(x).double()))
    got = _as_list(net(ms.Tensor(x)))
    assert len(got) == len(expected)
    for i, (ours, theirs, true) in enumerate(zip(got, expected, truth)):
        assert_faithful(ours, theirs, true, f'{case} output {i}')

    # BatchNorm running statistics and spectral-norm vectors, as updated (or not) by that forward
    buffers, buffers64 = dict(reference.named_buffers()), dict(reference64.named_buffers())
    params = dict(net.parameters_and_names())
    for torch_key, ms_name in torch_to_mindspore_names(net).items():
        if torch_key in buffers:
            assert_faithful(params[ms_name], buffers[torch_key], buffers64[torch_key], f'{case} {torch_key}')


@pytest.mark.parametrize('case', ['p2c_generator_light', 'ugatit_generator_light', 'discriminator_local',
                                  'mobilefacenet', 'u2netp'])
def test_graph_mode_matches_pynative(case):
    arch, config, shape = CASES[case]
    _, net = _pair(arch, config)
    x = ms.Tensor(np.random.default_rng(1).standard_normal(shape).astype(np.float32))
    eager = _as_list(net(x))
    ms.set_context(mode=ms.GRAPH_MODE)
    try:
        compiled = _as_list(net(x))
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)
    for a, b in zip(eager, compiled):
        assert np.allclose(a.asnumpy(), b.asnumpy(), rtol=0, atol=1e-6)


def test_u2net_odd_size_shapes_follow_ceil_mode():
    # 250x170 halves to 125x85, 63x43, 32x22, 16x11, 8x6: floor-mode pooling would lose rows and fail to add
    _, net = _pair('u2netp', {'in_ch': 3, 'out_ch': 1})
    outputs = net(ms.Tensor(np.zeros((1, 3, 250, 170), np.float32)))
    assert [tuple(o.shape) for o in outputs] == [(1, 1, 250, 170)] * 7
