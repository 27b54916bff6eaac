"""photo2cartoon's U-GAT-IT generator (hourglass blocks, Soft-AdaLIN) in MindSpore.

The twin of `torch_ref/photo2cartoon.py`: same classes, constructor signatures, attribute names and forward
structure, so parameter names equal the upstream (minivision-ai/photo2cartoon) state-dict keys.
Its discriminator, ResnetBlock and normalisations are U-GAT-IT's (adaLIN and LIN are adaILN and ILN under
other names), so they are imported from `ugatit` rather than copied.
"""
import numpy as np
from mindspore import Parameter, Tensor, nn, ops

from .layers import (Conv2d, InstanceNorm2d, Linear, ReflectionPad2d, Tanh, Upsample, avg_pool2x2, global_avg_pool,
                     upsample_nearest)
from .ugatit import Discriminator, ResnetBlock, class_activation_map
from .ugatit import ILN as LIN
from .ugatit import adaILN as adaLIN

__all__ = ['ResnetGenerator', 'Discriminator', 'HourGlass', 'HourGlassBlock', 'ConvBlock', 'SoftAdaLIN',
           'ResnetSoftAdaLINBlock', 'adaLIN', 'LIN', 'ResnetBlock']


class ResnetGenerator(nn.Cell):
    """photo2cartoon's generator (U-GAT-IT with hourglass blocks and Soft-AdaLIN), upstream's constructor.

    Input: (N, 3, H, W) RGB in [-1, 1] (x / 127.5 - 1), an aligned face on white; H = W = img_size unless
    `light` (the released model: ngf=32, img_size=256, light=True), which takes any multiple of 4.
    Outputs: (image (N, 3, H, W) in [-1, 1] after tanh, cam_logit (N, 2), heatmap (N, 1, H/4, W/4)).
    """

    def __init__(self, ngf=64, img_size=256, light=False):
        super().__init__()
        self.light = light

        self.ConvBlock1 = nn.SequentialCell([ReflectionPad2d(3),
                                         Conv2d(3, ngf, kernel_size=7, stride=1, padding=0, bias=False),
                                         InstanceNorm2d(ngf),
                                         nn.ReLU()])

        self.HourGlass1 = HourGlass(ngf, ngf)
        self.HourGlass2 = HourGlass(ngf, ngf)

        # Down-sampling
        self.DownBlock1 = nn.SequentialCell([ReflectionPad2d(1),
                                         Conv2d(ngf, ngf * 2, kernel_size=3, stride=2, padding=0, bias=False),
                                         InstanceNorm2d(ngf * 2),
                                         nn.ReLU()])

        self.DownBlock2 = nn.SequentialCell([ReflectionPad2d(1),
                                         Conv2d(ngf * 2, ngf * 4, kernel_size=3, stride=2, padding=0, bias=False),
                                         InstanceNorm2d(ngf * 4),
                                         nn.ReLU()])

        # Encoder bottleneck
        self.EncodeBlock1 = ResnetBlock(ngf * 4, use_bias=False)
        self.EncodeBlock2 = ResnetBlock(ngf * 4, use_bias=False)
        self.EncodeBlock3 = ResnetBlock(ngf * 4, use_bias=False)
        self.EncodeBlock4 = ResnetBlock(ngf * 4, use_bias=False)

        # Class activation map
        self.gap_fc = Linear(ngf * 4, 1)
        self.gmp_fc = Linear(ngf * 4, 1)
        self.conv1x1 = Conv2d(ngf * 8, ngf * 4, kernel_size=1, stride=1)
        self.relu = nn.ReLU()

        # Style features: the light model pools the features first, the full one flattens them
        fc_in = ngf * 4 if light else img_size // 4 * img_size // 4 * ngf * 4
        self.FC = nn.SequentialCell([Linear(fc_in, ngf * 4),
                                 nn.ReLU(),
                                 Linear(ngf * 4, ngf * 4),
                                 nn.ReLU()])

        # Decoder bottleneck
        self.DecodeBlock1 = ResnetSoftAdaLINBlock(ngf * 4)
        self.DecodeBlock2 = ResnetSoftAdaLINBlock(ngf * 4)
        self.DecodeBlock3 = ResnetSoftAdaLINBlock(ngf * 4)
        self.DecodeBlock4 = ResnetSoftAdaLINBlock(ngf * 4)

        # Up-sampling
        self.UpBlock1 = nn.SequentialCell([Upsample(scale_factor=2),
                                       ReflectionPad2d(1),
                                       Conv2d(ngf * 4, ngf * 2, kernel_size=3, stride=1, padding=0, bias=False),
                                       LIN(ngf * 2),
                                       nn.ReLU()])

        self.UpBlock2 = nn.SequentialCell([Upsample(scale_factor=2),
                                       ReflectionPad2d(1),
                                       Conv2d(ngf * 2, ngf, kernel_size=3, stride=1, padding=0, bias=False),
                                       LIN(ngf),
                                       nn.ReLU()])

        self.HourGlass3 = HourGlass(ngf, ngf)
        self.HourGlass4 = HourGlass(ngf, ngf, False)

        # Upstream's last conv takes 3 channels: HourGlass4 (use_res=False) returns its 3-channel side output.
        self.ConvBlock2 = nn.SequentialCell([ReflectionPad2d(3),
                                         Conv2d(3, 3, kernel_size=7, stride=1, padding=0, bias=False),
                                         Tanh()])

    def construct(self, x):
        x = self.ConvBlock1(x)
        x = self.HourGlass1(x)
        x = self.HourGlass2(x)

        x = self.DownBlock1(x)
        x = self.DownBlock2(x)

        # Content features for the Soft-AdaLIN decoder, taken after each encoder block.
        x = self.EncodeBlock1(x)
        content_features1 = ops.flatten(global_avg_pool(x))
        x = self.EncodeBlock2(x)
        content_features2 = ops.flatten(global_avg_pool(x))
        x = self.EncodeBlock3(x)
        content_features3 = ops.flatten(global_avg_pool(x))
        x = self.EncodeBlock4(x)
        content_features4 = ops.flatten(global_avg_pool(x))

        x, cam_logit = class_activation_map(x, self.gap_fc, self.gmp_fc, self.gap_fc.weight, self.gmp_fc.weight)
        x = self.relu(self.conv1x1(x))
        heatmap = x.sum(axis=1, keepdims=True)

        if self.light:
            style_features = self.FC(ops.flatten(global_avg_pool(x)))
        else:
            style_features = self.FC(ops.flatten(x))

        x = self.DecodeBlock1(x, content_features4, style_features)
        x = self.DecodeBlock2(x, content_features3, style_features)
        x = self.DecodeBlock3(x, content_features2, style_features)
        x = self.DecodeBlock4(x, content_features1, style_features)

        x = self.UpBlock1(x)
        x = self.UpBlock2(x)

        x = self.HourGlass3(x)
        x = self.HourGlass4(x)
        out = self.ConvBlock2(x)

        return out, cam_logit, heatmap


class ConvBlock(nn.Cell):
    """Pre-activation residual block whose three 3x3 convs (dim_out/2, /4, /4 channels) are concatenated."""

    def __init__(self, dim_in, dim_out):
        super().__init__()
        self.dim_out = dim_out

        self.ConvBlock1 = nn.SequentialCell([InstanceNorm2d(dim_in),
                                         nn.ReLU(),
                                         ReflectionPad2d(1),
                                         Conv2d(dim_in, dim_out // 2, kernel_size=3, stride=1, bias=False)])

        self.ConvBlock2 = nn.SequentialCell([InstanceNorm2d(dim_out // 2),
                                         nn.ReLU(),
                                         ReflectionPad2d(1),
                                         Conv2d(dim_out // 2, dim_out // 4, kernel_size=3, stride=1, bias=False)])

        self.ConvBlock3 = nn.SequentialCell([InstanceNorm2d(dim_out // 4),
                                         nn.ReLU(),
                                         ReflectionPad2d(1),
                                         Conv2d(dim_out // 4, dim_out // 4, kernel_size=3, stride=1, bias=False)])

        # Upstream always builds the projection shortcut, even where dim_in == dim_out leaves it unused.
        self.ConvBlock4 = nn.SequentialCell([InstanceNorm2d(dim_in),
                                         nn.ReLU(),
                                         Conv2d(dim_in, dim_out, kernel_size=1, stride=1, bias=False)])

    def construct(self, x):
        residual = x

        x1 = self.ConvBlock1(x)
        x2 = self.ConvBlock2(x1)
        x3 = self.ConvBlock3(x2)
        out = ops.cat((x1, x2, x3), 1)

        if residual.shape[1] != self.dim_out:
            residual = self.ConvBlock4(residual)

        return residual + out


class HourGlass(nn.Cell):
    def __init__(self, dim_in, dim_out, use_res=True):
        super().__init__()
        self.use_res = use_res

        self.HG = nn.SequentialCell([HourGlassBlock(dim_in, dim_out),
                                 ConvBlock(dim_out, dim_out),
                                 Conv2d(dim_out, dim_out, kernel_size=1, stride=1, bias=False),
                                 InstanceNorm2d(dim_out),
                                 nn.ReLU()])

        self.Conv1 = Conv2d(dim_out, 3, kernel_size=1, stride=1)

        if self.use_res:
            self.Conv2 = Conv2d(dim_out, dim_out, kernel_size=1, stride=1)
            self.Conv3 = Conv2d(3, dim_out, kernel_size=1, stride=1)

    def construct(self, x):
        ll = self.HG(x)
        tmp_out = self.Conv1(ll)

        if self.use_res:
            return x + self.Conv2(ll) + self.Conv3(tmp_out)
        return tmp_out


class HourGlassBlock(nn.Cell):
    """Four-level hourglass: average-pool down, nearest-upsample back, skip branches added."""

    def __init__(self, dim_in, dim_out):
        super().__init__()

        self.ConvBlock1_1 = ConvBlock(dim_in, dim_out)
        self.ConvBlock1_2 = ConvBlock(dim_out, dim_out)
        self.ConvBlock2_1 = ConvBlock(dim_out, dim_out)
        self.ConvBlock2_2 = ConvBlock(dim_out, dim_out)
        self.ConvBlock3_1 = ConvBlock(dim_out, dim_out)
        self.ConvBlock3_2 = ConvBlock(dim_out, dim_out)
        self.ConvBlock4_1 = ConvBlock(dim_out, dim_out)
        self.ConvBlock4_2 = ConvBlock(dim_out, dim_out)

        self.ConvBlock5 = ConvBlock(dim_out, dim_out)

        self.ConvBlock6 = ConvBlock(dim_out, dim_out)
        self.ConvBlock7 = ConvBlock(dim_out, dim_out)
        self.ConvBlock8 = ConvBlock(dim_out, dim_out)
        self.ConvBlock9 = ConvBlock(dim_out, dim_out)

    def construct(self, x):
        skip1 = self.ConvBlock1_1(x)
        down1 = self.ConvBlock1_2(avg_pool2x2(x))

        skip2 = self.ConvBlock2_1(down1)
        down2 = self.ConvBlock2_2(avg_pool2x2(down1))

        skip3 = self.ConvBlock3_1(down2)
        down3 = self.ConvBlock3_2(avg_pool2x2(down2))

        skip4 = self.ConvBlock4_1(down3)
        down4 = self.ConvBlock4_2(avg_pool2x2(down3))

        center = self.ConvBlock5(down4)

        up4 = skip4 + upsample_nearest(self.ConvBlock6(center), 2)
        up3 = skip3 + upsample_nearest(self.ConvBlock7(up4), 2)
        up2 = skip2 + upsample_nearest(self.ConvBlock8(up3), 2)
        up1 = skip1 + upsample_nearest(self.ConvBlock9(up2), 2)
        return up1


class ResnetSoftAdaLINBlock(nn.Cell):
    def __init__(self, dim, use_bias=False):
        super().__init__()
        self.pad1 = ReflectionPad2d(1)
        self.conv1 = Conv2d(dim, dim, kernel_size=3, stride=1, padding=0, bias=use_bias)
        self.norm1 = SoftAdaLIN(dim)
        self.relu1 = nn.ReLU()

        self.pad2 = ReflectionPad2d(1)
        self.conv2 = Conv2d(dim, dim, kernel_size=3, stride=1, padding=0, bias=use_bias)
        self.norm2 = SoftAdaLIN(dim)

    def construct(self, x, content_features, style_features):
        out = self.relu1(self.norm1(self.conv1(self.pad1(x)), content_features, style_features))
        out = self.norm2(self.conv2(self.pad2(out)), content_features, style_features)
        return out + x


class SoftAdaLIN(nn.Cell):
    """adaLIN whose gamma and beta blend content- and style-derived values with learned weights w_*."""

    def __init__(self, num_features, eps=1e-5):
        super().__init__()
        self.norm = adaLIN(num_features, eps)

        self.w_gamma = Parameter(Tensor(np.zeros((1, num_features), np.float32)), name='w_gamma')
        self.w_beta = Parameter(Tensor(np.zeros((1, num_features), np.float32)), name='w_beta')

        self.c_gamma = nn.SequentialCell([Linear(num_features, num_features),
                                      nn.ReLU(),
                                      Linear(num_features, num_features)])
        self.c_beta = nn.SequentialCell([Linear(num_features, num_features),
                                     nn.ReLU(),
                                     Linear(num_features, num_features)])
        self.s_gamma = Linear(num_features, num_features)
        self.s_beta = Linear(num_features, num_features)

    def construct(self, x, content_features, style_features):
        content_gamma, content_beta = self.c_gamma(content_features), self.c_beta(content_features)
        style_gamma, style_beta = self.s_gamma(style_features), self.s_beta(style_features)

        soft_gamma = (1. - self.w_gamma) * style_gamma + self.w_gamma * content_gamma
        soft_beta = (1. - self.w_beta) * style_beta + self.w_beta * content_beta
        return self.norm(x, soft_gamma, soft_beta)
