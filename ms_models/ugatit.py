"""U-GAT-IT (Kim et al., ICLR 2020) in MindSpore.

The twin of `torch_ref/ugatit.py`: same classes, constructor signatures, attribute names and forward
structure, so parameter names equal the upstream (znxlwm/UGATIT-pytorch) state-dict keys.
"""
from mindspore import Parameter, Tensor, nn, ops
import numpy as np

from .layers import (Conv2d, InstanceNorm2d, Linear, ReflectionPad2d, Tanh, Upsample, expand_as, global_avg_pool,
                     global_max_pool, spatial_mean, spatial_sum, spectral_norm)


class ResnetGenerator(nn.Cell):
    """U-GAT-IT's generator (adaILN residual blocks, LIN up-sampling), upstream's constructor.

    Input: (N, input_nc, H, W) in [-1, 1]; H = W = img_size unless `light`, which takes any multiple of 4.
    Outputs: (image (N, output_nc, H, W) in [-1, 1] after tanh, cam_logit (N, 2), heatmap (N, 1, H/4, W/4)).
    """

    def __init__(self, input_nc, output_nc, ngf=64, n_blocks=6, img_size=256, light=False):
        assert n_blocks >= 0
        super().__init__()
        self.input_nc = input_nc
        self.output_nc = output_nc
        self.ngf = ngf
        self.n_blocks = n_blocks
        self.img_size = img_size
        self.light = light

        DownBlock = [ReflectionPad2d(3),
                     Conv2d(input_nc, ngf, kernel_size=7, stride=1, padding=0, bias=False),
                     InstanceNorm2d(ngf),
                     nn.ReLU()]

        # Down-sampling
        n_downsampling = 2
        for i in range(n_downsampling):
            mult = 2 ** i
            DownBlock += [ReflectionPad2d(1),
                          Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=0, bias=False),
                          InstanceNorm2d(ngf * mult * 2),
                          nn.ReLU()]

        # Down-sampling bottleneck
        mult = 2 ** n_downsampling
        for i in range(n_blocks):
            DownBlock += [ResnetBlock(ngf * mult, use_bias=False)]

        # Class activation map
        self.gap_fc = Linear(ngf * mult, 1, bias=False)
        self.gmp_fc = Linear(ngf * mult, 1, bias=False)
        self.conv1x1 = Conv2d(ngf * mult * 2, ngf * mult, kernel_size=1, stride=1, bias=True)
        self.relu = nn.ReLU()

        # Gamma, beta block: the light model pools the features first, the full one flattens them
        fc_in = ngf * mult if light else img_size // mult * img_size // mult * ngf * mult
        FC = [Linear(fc_in, ngf * mult, bias=False),
              nn.ReLU(),
              Linear(ngf * mult, ngf * mult, bias=False),
              nn.ReLU()]
        self.gamma = Linear(ngf * mult, ngf * mult, bias=False)
        self.beta = Linear(ngf * mult, ngf * mult, bias=False)

        # Up-sampling bottleneck
        for i in range(n_blocks):
            setattr(self, 'UpBlock1_' + str(i + 1), ResnetAdaILNBlock(ngf * mult, use_bias=False))

        # Up-sampling
        UpBlock2 = []
        for i in range(n_downsampling):
            mult = 2 ** (n_downsampling - i)
            UpBlock2 += [Upsample(scale_factor=2, mode='nearest'),
                         ReflectionPad2d(1),
                         Conv2d(ngf * mult, ngf * mult // 2, kernel_size=3, stride=1, padding=0, bias=False),
                         ILN(ngf * mult // 2),
                         nn.ReLU()]

        UpBlock2 += [ReflectionPad2d(3),
                     Conv2d(ngf, output_nc, kernel_size=7, stride=1, padding=0, bias=False),
                     Tanh()]

        self.DownBlock = nn.SequentialCell(DownBlock)
        self.FC = nn.SequentialCell(FC)
        self.UpBlock2 = nn.SequentialCell(UpBlock2)

    def construct(self, input):
        x = self.DownBlock(input)

        x, cam_logit = class_activation_map(x, self.gap_fc, self.gmp_fc, self.gap_fc.weight, self.gmp_fc.weight)
        x = self.relu(self.conv1x1(x))
        heatmap = x.sum(axis=1, keepdims=True)

        if self.light:
            x_ = self.FC(ops.flatten(global_avg_pool(x)))
        else:
            x_ = self.FC(ops.flatten(x))
        gamma, beta = self.gamma(x_), self.beta(x_)

        for i in range(self.n_blocks):
            x = getattr(self, 'UpBlock1_' + str(i + 1))(x, gamma, beta)
        out = self.UpBlock2(x)

        return out, cam_logit, heatmap


def class_activation_map(x, gap_fc, gmp_fc, gap_weight, gmp_weight):
    """The CAM attention of generators and discriminators, up to the 1x1 fusion conv.

    Global average and max pooling each feed a one-logit classifier (`cam_logit`); the features are weighted
    channel-wise by each classifier's weights and concatenated. Returns (weighted features, cam_logit).
    """
    gap_logit = gap_fc(ops.flatten(global_avg_pool(x)))
    gap = x * expand_as(gap_weight.unsqueeze(2).unsqueeze(3), x)

    gmp_logit = gmp_fc(ops.flatten(global_max_pool(x)))
    gmp = x * expand_as(gmp_weight.unsqueeze(2).unsqueeze(3), x)

    return ops.cat([gap, gmp], 1), ops.cat([gap_logit, gmp_logit], 1)


class ResnetBlock(nn.Cell):
    def __init__(self, dim, use_bias):
        super().__init__()
        self.conv_block = nn.SequentialCell([ReflectionPad2d(1),
                                             Conv2d(dim, dim, kernel_size=3, stride=1, padding=0, bias=use_bias),
                                             InstanceNorm2d(dim),
                                             nn.ReLU(),
                                             ReflectionPad2d(1),
                                             Conv2d(dim, dim, kernel_size=3, stride=1, padding=0, bias=use_bias),
                                             InstanceNorm2d(dim)])

    def construct(self, x):
        return x + self.conv_block(x)


class ResnetAdaILNBlock(nn.Cell):
    def __init__(self, dim, use_bias):
        super().__init__()
        self.pad1 = ReflectionPad2d(1)
        self.conv1 = Conv2d(dim, dim, kernel_size=3, stride=1, padding=0, bias=use_bias)
        self.norm1 = adaILN(dim)
        self.relu1 = nn.ReLU()

        self.pad2 = ReflectionPad2d(1)
        self.conv2 = Conv2d(dim, dim, kernel_size=3, stride=1, padding=0, bias=use_bias)
        self.norm2 = adaILN(dim)

    def construct(self, x, gamma, beta):
        out = self.relu1(self.norm1(self.conv1(self.pad1(x)), gamma, beta))
        out = self.norm2(self.conv2(self.pad2(out)), gamma, beta)
        return out + x


def _unbiased_variance(sum_of_squares, count):
    """torch.var's default: the sum of squared deviations over n - 1."""
    return sum_of_squares / (count - 1)


def instance_layer_norm(x, rho, gamma, beta, eps):
    """gamma * (rho * instance-norm(x) + (1 - rho) * layer-norm(x)) + beta, both with UNBIASED variances.

    Upstream computes these statistics with `torch.var`, which divides by n - 1, unlike nn.InstanceNorm2d;
    we keep that on purpose, since trained weights depend on it. Both norms are computed from one pass of
    per-channel statistics (the layer's follow exactly from the channels', Chan et al.'s pairwise
    formula), and the blend is folded into one scale and shift per channel: two full-size operations
    instead of a dozen, the same values up to float32 rounding.
    """
    channels, pixels = x.shape[1], x.shape[2] * x.shape[3]
    in_mean = spatial_mean(x)
    centered = x - expand_as(in_mean, x)
    in_squares = spatial_sum(centered * centered)
    ln_mean = in_mean.mean(1, keep_dims=True)
    ln_squares = (in_squares + pixels * ops.square(in_mean - ln_mean)).sum(1, keepdims=True)
    in_scale = rho / ops.sqrt(_unbiased_variance(in_squares, pixels) + eps)
    ln_scale = (1 - rho) / ops.sqrt(_unbiased_variance(ln_squares, channels * pixels) + eps)
    # (x - ln_mean) = centered + (in_mean - ln_mean)
    scale = (in_scale + ln_scale) * gamma
    shift = (in_mean - ln_mean) * ln_scale * gamma + beta
    return centered * expand_as(scale, x) + expand_as(shift, x)


def _filled(num_features, value):
    return Tensor(np.full((1, num_features, 1, 1), value, np.float32))


class adaILN(nn.Cell):
    """Adaptive instance-layer norm: gamma and beta come from the style branch."""

    def __init__(self, num_features, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.rho = Parameter(_filled(num_features, 0.9), name='rho')

    def construct(self, input, gamma, beta):
        return instance_layer_norm(input, self.rho, gamma.unsqueeze(2).unsqueeze(3), beta.unsqueeze(2).unsqueeze(3),
                                   self.eps)


class ILN(nn.Cell):
    """Instance-layer norm with learned gamma and beta."""

    def __init__(self, num_features, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.rho = Parameter(_filled(num_features, 0.0), name='rho')
        self.gamma = Parameter(_filled(num_features, 1.0), name='gamma')
        self.beta = Parameter(_filled(num_features, 0.0), name='beta')

    def construct(self, input):
        return instance_layer_norm(input, self.rho, self.gamma, self.beta, self.eps)


class Discriminator(nn.Cell):
    """PatchGAN with CAM, every conv spectrally normalised. n_layers=7 is the global, 5 the local one.

    Input: (N, input_nc, H, W) in [-1, 1], H and W at least 3 * 2 ** (n_layers - 2).
    Outputs: (logit map (N, 1, h - 1, w - 1), cam_logit (N, 2), heatmap (N, 1, h, w)) with
    h = H / 2 ** (n_layers - 2) - 1 (7 x 7 heatmap for the global discriminator at 256).
    """

    def __init__(self, input_nc, ndf=64, n_layers=5):
        super().__init__()
        model = [ReflectionPad2d(1),
                 spectral_norm(Conv2d(input_nc, ndf, kernel_size=4, stride=2, padding=0, bias=True)),
                 nn.LeakyReLU(0.2)]

        for i in range(1, n_layers - 2):
            mult = 2 ** (i - 1)
            model += [ReflectionPad2d(1),
                      spectral_norm(
                          Conv2d(ndf * mult, ndf * mult * 2, kernel_size=4, stride=2, padding=0, bias=True)),
                      nn.LeakyReLU(0.2)]

        mult = 2 ** (n_layers - 2 - 1)
        model += [ReflectionPad2d(1),
                  spectral_norm(
                      Conv2d(ndf * mult, ndf * mult * 2, kernel_size=4, stride=1, padding=0, bias=True)),
                  nn.LeakyReLU(0.2)]

        # Class activation map
        mult = 2 ** (n_layers - 2)
        self.gap_fc = spectral_norm(Linear(ndf * mult, 1, bias=False))
        self.gmp_fc = spectral_norm(Linear(ndf * mult, 1, bias=False))
        self.conv1x1 = Conv2d(ndf * mult * 2, ndf * mult, kernel_size=1, stride=1, bias=True)
        self.leaky_relu = nn.LeakyReLU(0.2)

        self.pad = ReflectionPad2d(1)
        self.conv = spectral_norm(Conv2d(ndf * mult, 1, kernel_size=4, stride=1, padding=0, bias=False))

        self.model = nn.SequentialCell(model)

    def construct(self, input):
        x = self.model(input)
        # Upstream weights the features with `list(gap_fc.parameters())[0]`, which is the raw `weight_orig`,
        # while the logits use the spectrally normalised weight. Reproduced on purpose.
        x, cam_logit = class_activation_map(x, self.gap_fc, self.gmp_fc, self.gap_fc.weight_orig,
                                            self.gmp_fc.weight_orig)
        x = self.leaky_relu(self.conv1x1(x))
        heatmap = x.sum(axis=1, keepdims=True)

        out = self.conv(self.pad(x))
        return out, cam_logit, heatmap
