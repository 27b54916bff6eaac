"""Each layer of ms_models.layers against its PyTorch namesake, on awkward sizes."""
import mindspore as ms
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mindspore import Tensor, ops

from ms_models import layers


def close(ms_out, torch_out, tol=1e-6):
    ms_out = ms_out.asnumpy() if isinstance(ms_out, Tensor) else ms_out
    torch_out = torch_out.detach().numpy()
    assert ms_out.shape == torch_out.shape
    err = np.abs(ms_out - torch_out).max() / max(1.0, np.abs(torch_out).max())
    assert err <= tol, err


def randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize('kwargs', [
    dict(kernel_size=3, stride=1, padding=0, bias=True),
    dict(kernel_size=4, stride=2, padding=1, bias=False),
    dict(kernel_size=3, stride=1, padding=4, dilation=4, bias=True),
    dict(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), groups=4, bias=False),
    dict(kernel_size=7, stride=1, padding=(0, 0), bias=False),
])
def test_conv2d_has_torch_semantics(kwargs, rng):
    x = randn(rng, 2, 4, 11, 9)
    ours, theirs = _conv_pair(4, 8, kwargs)
    close(ours(Tensor(x)), theirs(torch.from_numpy(x)))


def _conv_pair(in_channels, out_channels, kwargs):
    """layers.Conv2d and torch.nn.Conv2d with the same (torch-initialised) weights."""
    ours = layers.Conv2d(in_channels, out_channels, **kwargs)
    theirs = torch.nn.Conv2d(in_channels, out_channels, **kwargs)
    ours.weight.set_data(Tensor(theirs.weight.detach().numpy()))
    if kwargs['bias']:
        ours.bias.set_data(Tensor(theirs.bias.detach().numpy()))
    return ours, theirs


@pytest.mark.parametrize('kwargs, lean', [
    (dict(kernel_size=7, stride=1, padding=0, bias=False), True),
    (dict(kernel_size=3, stride=1, padding=1, bias=True), True),
    (dict(kernel_size=1, stride=1, padding=0, bias=True), True),
    (dict(kernel_size=4, stride=1, padding=2, bias=True), True),
    (dict(kernel_size=3, stride=2, padding=1, bias=False), False),  # strided: MindSpore's own backward
    (dict(kernel_size=3, stride=1, padding=1, groups=2, bias=False), False),
])
@pytest.mark.parametrize('in_channels, out_channels', [(4, 6), (6, 4)])  # the weight's gradient from either unfold
def test_lean_conv_backward_gives_torchs_gradients(kwargs, lean, in_channels, out_channels, rng):
    """Compiled, as training uses it; batch 2, a non-square map."""
    x = randn(rng, 2, in_channels, 11, 9)
    ours, theirs = _conv_pair(in_channels, out_channels, kwargs)
    assert layers.use_lean_conv_backward(ours) == int(lean)
    x_torch = torch.from_numpy(x).requires_grad_()
    theirs(x_torch).square().sum().backward()
    params = ms.ParameterTuple(ours.trainable_params())

    def loss(inp):
        return ours(inp).square().sum()
    d_x, d_params = ms.jit(ms.grad(loss, grad_position=0, weights=params))(Tensor(x))
    close(d_x, x_torch.grad, 1e-5)
    close(d_params[0], theirs.weight.grad, 1e-5)
    if kwargs['bias']:
        close(d_params[1], theirs.bias.grad, 1e-5)


def test_linear(rng):
    x = randn(rng, 3, 7)
    theirs = torch.nn.Linear(7, 5)
    ours = layers.Linear(7, 5)
    ours.weight.set_data(Tensor(theirs.weight.detach().numpy()))
    ours.bias.set_data(Tensor(theirs.bias.detach().numpy()))
    close(ours(Tensor(x)), theirs(torch.from_numpy(x)))
    assert not layers.Linear(7, 5, bias=False).has_bias


def test_instance_norm_matches_torch_biased_variance(rng):
    x = randn(rng, 2, 3, 7, 5) * 3 + 2
    close(layers.InstanceNorm2d(3)(Tensor(x)), torch.nn.InstanceNorm2d(3)(torch.from_numpy(x)), 2e-6)


def test_affine_instance_norm(rng):
    x = randn(rng, 2, 3, 7, 5) * 3 + 2
    theirs = torch.nn.InstanceNorm2d(3, affine=True)
    theirs.weight.data, theirs.bias.data = torch.from_numpy(randn(rng, 3)), torch.from_numpy(randn(rng, 3))
    ours = layers.InstanceNorm2d(3, affine=True)
    ours.weight.set_data(Tensor(theirs.weight.detach().numpy()))
    ours.bias.set_data(Tensor(theirs.bias.detach().numpy()))
    close(ours(Tensor(x)), theirs(torch.from_numpy(x)), 2e-6)


def test_train_mode_batch_norm_uses_batch_statistics_in_eval(rng):
    x = randn(rng, 2, 3, 7, 5) * 3 + 2
    ours = layers.TrainModeBatchNorm2d(3)
    ours.gamma.set_data(Tensor(randn(rng, 3)))
    ours.beta.set_data(Tensor(randn(rng, 3)))
    ours.set_train(False)
    theirs = F.batch_norm(torch.from_numpy(x), None, None, torch.from_numpy(ours.gamma.asnumpy()),
                          torch.from_numpy(ours.beta.asnumpy()), True, 0.0, 1e-5)
    close(ours(Tensor(x)), theirs, 2e-6)
    assert np.array_equal(ours.moving_mean.asnumpy(), np.zeros(3, np.float32))  # never updated


@pytest.mark.parametrize('kwargs, size', [
    (dict(kernel_size=3, stride=2, padding=1, output_padding=1), (9, 7)),  # DeepFaceDrawing's generator, small
    (dict(kernel_size=3, stride=2, padding=1, output_padding=1), (64, 72)),  # ... large: as a sub-pixel conv
    (dict(kernel_size=4, stride=2, padding=1), (66, 64)),  # its decoders
    (dict(kernel_size=4, stride=2, padding=1, bias=False), (5, 6)),
    (dict(kernel_size=3, stride=2), (5, 4)),  # no padding: the crop path only
    (dict(kernel_size=5, stride=3, padding=1), (64, 64)),  # 3x: a sub-pixel conv
])
def test_conv_transpose2d_has_torch_semantics(kwargs, size, rng):
    x = randn(rng, 2, 6, *size)
    theirs = torch.nn.ConvTranspose2d(6, 5, **kwargs)
    ours = layers.ConvTranspose2d(6, 5, **kwargs)
    ours.weight.set_data(Tensor(theirs.weight.detach().numpy()))
    if kwargs.get('bias', True):
        ours.bias.set_data(Tensor(theirs.bias.detach().numpy()))
    close(ours(Tensor(x)), theirs(torch.from_numpy(x)), 2e-6)


def test_conv_transpose2d_refuses_what_it_cannot_compute():
    with pytest.raises(ValueError, match='output_padding above padding'):
        layers.ConvTranspose2d(6, 5, 5, stride=3, padding=1, output_padding=2)


@pytest.mark.parametrize('size', [(8, 8), (9, 7), (5, 3), (1, 1)])
def test_ceil_mode_max_pool_on_odd_sizes(size, rng):
    x = randn(rng, 2, 3, *size)
    close(layers.MaxPool2d(2, stride=2, ceil_mode=True)(Tensor(x)),
          torch.nn.MaxPool2d(2, stride=2, ceil_mode=True)(torch.from_numpy(x)), 0)


@pytest.mark.parametrize('size', [(4, 4), (5, 3)])
def test_nearest_upsample(size, rng):
    x = randn(rng, 2, 3, *size)
    close(layers.Upsample(scale_factor=2)(Tensor(x)), torch.nn.Upsample(scale_factor=2)(torch.from_numpy(x)), 0)
    close(layers.upsample_nearest(Tensor(x), 3), F.interpolate(torch.from_numpy(x), scale_factor=3), 0)
    with pytest.raises(ValueError):
        layers.Upsample(scale_factor=2, mode='bilinear')


@pytest.mark.parametrize('src, dst', [((4, 4), (8, 8)), ((5, 3), (9, 7)), ((13, 11), (25, 22)), ((7, 7), (3, 5))])
def test_bilinear_resize_to_size(src, dst, rng):
    x = randn(rng, 2, 3, *src)
    close(layers.resize_bilinear(Tensor(x), dst),
          F.interpolate(torch.from_numpy(x), size=dst, mode='bilinear', align_corners=False), 1e-6)


def test_global_pools(rng):
    x = randn(rng, 2, 3, 5, 4)
    close(layers.global_avg_pool(Tensor(x)), F.adaptive_avg_pool2d(torch.from_numpy(x), 1))
    close(layers.global_max_pool(Tensor(x)), F.adaptive_max_pool2d(torch.from_numpy(x), 1), 0)


def test_tanh_is_accurate_where_mindspore_cpu_kernel_is_not():
    x = np.linspace(-12, 12, 100001).astype(np.float32)
    exact = np.tanh(x.astype(np.float64))
    assert np.abs(layers.Tanh()(Tensor(x)).asnumpy() - exact).max() < 1e-6
    # the reason the layer exists: the stock kernel is ~100x further off than float32 rounding
    if ms.get_context('device_target') == 'CPU':
        assert np.abs(ops.tanh(Tensor(x)).asnumpy() - exact).max() > 1e-5


def _spectral_pair(kind, rng):
    if kind == 'conv':
        theirs = torch.nn.Conv2d(3, 6, kernel_size=4, stride=2, padding=0, bias=True)
        ours = layers.spectral_norm(layers.Conv2d(3, 6, kernel_size=4, stride=2, padding=0, bias=True))
        x = randn(rng, 2, 3, 9, 8)
    else:
        theirs = torch.nn.Linear(10, 1, bias=False)
        ours = layers.spectral_norm(layers.Linear(10, 1, bias=False))
        x = randn(rng, 2, 10)
    theirs = torch.nn.utils.spectral_norm(theirs)
    for name, param in ours.parameters_and_names():
        param.set_data(Tensor(theirs.state_dict()[name.rsplit('.', 1)[-1]].numpy()))
    return ours, theirs, x


@pytest.mark.parametrize('kind', ['conv', 'linear'])
def test_spectral_norm_names_and_eval(kind, rng):
    ours, theirs, x = _spectral_pair(kind, rng)
    assert sorted(n.rsplit('.', 1)[-1] for n, _ in ours.parameters_and_names()) == sorted(theirs.state_dict())
    theirs.eval()
    ours.set_train(False)
    u_before = ours.weight_u.asnumpy().copy()
    close(ours(Tensor(x)), theirs(torch.from_numpy(x)), 2e-6)
    assert np.array_equal(ours.weight_u.asnumpy(), u_before)  # eval never updates u


@pytest.mark.parametrize('kind', ['conv', 'linear'])
def test_spectral_norm_power_iteration_in_training(kind, rng, ms_mode):
    ours, theirs, x = _spectral_pair(kind, rng)
    theirs.train()
    ours.set_train(True)
    for step in range(3):  # every forward in training mode refines u and v
        close(ours(Tensor(x)), theirs(torch.from_numpy(x)), 2e-6)
        close(ours.weight_u, theirs.weight_u, 1e-6)
        close(ours.weight_v, theirs.weight_v, 1e-6)


def test_spectral_norm_gradient(rng):
    ours, theirs, x = _spectral_pair('conv', rng)
    theirs.train()
    ours.set_train(True)
    theirs(torch.from_numpy(x)).square().sum().backward()
    grad = ms.grad(lambda inp: ours(inp).square().sum(), grad_position=None, weights=ours.trainable_params())
    grads = dict(zip([p.name.rsplit('.', 1)[-1] for p in ours.trainable_params()], grad(Tensor(x))))
    close(grads['weight_orig'], theirs.weight_orig.grad, 1e-5)
    close(grads['bias'], theirs.bias.grad, 1e-5)
