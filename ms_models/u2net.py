"""U^2-Net (Qin et al., Pattern Recognition 2020): U2NET and U2NETP, in MindSpore.

The twin of `torch_ref/u2net.py`: same classes, constructor signatures, attribute names and forward
structure. Parameter names equal the upstream (xuebinqin/U-2-Net) state-dict keys except for BatchNorm
(gamma, beta, moving_mean, moving_variance), which `weights_convert` maps.
"""
from mindspore import nn, ops

from .layers import Conv2d, MaxPool2d, resize_bilinear


class REBNCONV(nn.Cell):
    """3x3 conv (dilated by `dirate`), BatchNorm, ReLU."""

    def __init__(self, in_ch=3, out_ch=3, dirate=1):
        super().__init__()
        self.conv_s1 = Conv2d(in_ch, out_ch, 3, padding=1 * dirate, dilation=1 * dirate)
        self.bn_s1 = nn.BatchNorm2d(out_ch)
        self.relu_s1 = nn.ReLU()

    def construct(self, x):
        return self.relu_s1(self.bn_s1(self.conv_s1(x)))


def _upsample_like(src, tar):
    """Bilinear resize of `src` to the spatial size of `tar` (align_corners=False, as upstream's F.upsample)."""
    return resize_bilinear(src, tar.shape[2:])


class RSU(nn.Cell):
    """Residual U-block RSU-`height`: an input conv, then a small U-Net whose output is added to it.

    Levels 1..height-1 go down through 2x2 ceil-mode max-pools, level `height` is a dilation-2 conv, and
    the decoder convs `rebnconv{i}d` come back up with bilinear resizes to each skip's size. With
    `dilated=True` (RSU-4F) there is no pooling: level i is dilated by 2**(i-1) instead.
    """

    def __init__(self, height, in_ch, mid_ch, out_ch, dilated=False):
        super().__init__()
        self.height = height
        self.dilated = dilated

        self.rebnconvin = REBNCONV(in_ch, out_ch, dirate=1)
        for i in range(1, height):
            if i > 1 and not dilated:
                setattr(self, 'pool' + str(i - 1), MaxPool2d(2, stride=2, ceil_mode=True))
            setattr(self, 'rebnconv' + str(i),
                    REBNCONV(out_ch if i == 1 else mid_ch, mid_ch, dirate=self._dirate(i)))
        setattr(self, 'rebnconv' + str(height), REBNCONV(mid_ch, mid_ch, dirate=self._dirate(height)))
        for i in range(height - 1, 0, -1):
            setattr(self, 'rebnconv' + str(i) + 'd',
                    REBNCONV(mid_ch * 2, out_ch if i == 1 else mid_ch, dirate=self._dirate(i)))

    def _dirate(self, level):
        if self.dilated:
            return 2 ** (level - 1)
        return 2 if level == self.height else 1

    def construct(self, x):
        hxin = self.rebnconvin(x)

        skips = []
        hx = hxin
        for i in range(1, self.height):
            if i > 1 and not self.dilated:
                hx = getattr(self, 'pool' + str(i - 1))(hx)
            hx = getattr(self, 'rebnconv' + str(i))(hx)
            skips.append(hx)
        hx = getattr(self, 'rebnconv' + str(self.height))(hx)

        for i in range(self.height - 1, 0, -1):
            hx = getattr(self, 'rebnconv' + str(i) + 'd')(ops.cat((hx, skips[i - 1]), 1))
            if i > 1 and not self.dilated:
                hx = _upsample_like(hx, skips[i - 2])

        return hx + hxin


class RSU7(RSU):
    def __init__(self, in_ch=3, mid_ch=12, out_ch=3):
        super().__init__(7, in_ch, mid_ch, out_ch)


class RSU6(RSU):
    def __init__(self, in_ch=3, mid_ch=12, out_ch=3):
        super().__init__(6, in_ch, mid_ch, out_ch)


class RSU5(RSU):
    def __init__(self, in_ch=3, mid_ch=12, out_ch=3):
        super().__init__(5, in_ch, mid_ch, out_ch)


class RSU4(RSU):
    def __init__(self, in_ch=3, mid_ch=12, out_ch=3):
        super().__init__(4, in_ch, mid_ch, out_ch)


class RSU4F(RSU):
    def __init__(self, in_ch=3, mid_ch=12, out_ch=3):
        super().__init__(4, in_ch, mid_ch, out_ch, dilated=True)


class _U2NetBase(nn.Cell):
    """Six encoder stages, five decoder stages, six side outputs fused by a 1x1 conv.

    `encoder` and `decoder` list (RSU class, in_ch, mid_ch, out_ch) for stage1..6 and stage5d..1d.
    forward returns seven sigmoid maps at the input size: the fused d0 first, then d1..d6.
    """

    def __init__(self, encoder, decoder, out_ch):
        super().__init__()
        for i, (block, in_ch, mid_ch, block_out) in enumerate(encoder, start=1):
            setattr(self, 'stage' + str(i), block(in_ch, mid_ch, block_out))
            if i < 6:
                setattr(self, 'pool' + str(i) + str(i + 1), MaxPool2d(2, stride=2, ceil_mode=True))
        for i, (block, in_ch, mid_ch, block_out) in zip(range(5, 0, -1), decoder):
            setattr(self, 'stage' + str(i) + 'd', block(in_ch, mid_ch, block_out))
        side_in = [decoder[-1][3]] + [d[3] for d in reversed(decoder[:-1])] + [encoder[-1][3]]
        for i, channels in enumerate(side_in, start=1):
            setattr(self, 'side' + str(i), Conv2d(channels, out_ch, 3, padding=1))
        self.outconv = Conv2d(6 * out_ch, out_ch, 1)

    def construct(self, x):
        skips = []
        hx = x
        for i in range(1, 6):
            skip = getattr(self, 'stage' + str(i))(hx)
            skips.append(skip)
            hx = getattr(self, 'pool' + str(i) + str(i + 1))(skip)
        hx6 = self.stage6(hx)

        decoded = [hx6]  # hx6, hx5d, ..., hx1d
        hx = hx6
        for i in range(5, 0, -1):
            hx = getattr(self, 'stage' + str(i) + 'd')(ops.cat((_upsample_like(hx, skips[i - 1]), skips[i - 1]), 1))
            decoded.append(hx)

        d1 = self.side1(decoded[5])
        sides = [d1]
        for i in range(2, 7):
            sides.append(_upsample_like(getattr(self, 'side' + str(i))(decoded[6 - i]), d1))
        d0 = self.outconv(ops.cat(sides, 1))

        return tuple(ops.sigmoid(d) for d in [d0] + sides)


class U2NET(_U2NetBase):
    """U^2-Net (176 MB: salient object, portrait drawing, human segmentation), upstream's constructor.

    Input: (N, in_ch, H, W), any size: an RGB photo divided by its max, then ImageNet mean/std in RGB order.
    Outputs: d0 ... d6, each (N, out_ch, H, W) after its sigmoid; d0 (the fused map) is the result.
    """

    def __init__(self, in_ch=3, out_ch=1):
        super().__init__(encoder=[(RSU7, in_ch, 32, 64), (RSU6, 64, 32, 128), (RSU5, 128, 64, 256),
                                  (RSU4, 256, 128, 512), (RSU4F, 512, 256, 512), (RSU4F, 512, 256, 512)],
                         decoder=[(RSU4F, 1024, 256, 512), (RSU4, 1024, 128, 256), (RSU5, 512, 64, 128),
                                  (RSU6, 256, 32, 64), (RSU7, 128, 16, 64)],
                         out_ch=out_ch)


class U2NETP(_U2NetBase):
    """U^2-Net small (4.7 MB), upstream's constructor.

    Input: (N, in_ch, H, W), any size: an RGB photo divided by its max, then ImageNet mean/std in RGB order.
    Outputs: d0 ... d6, each (N, out_ch, H, W) after its sigmoid; d0 (the fused map) is the result.
    """

    def __init__(self, in_ch=3, out_ch=1):
        super().__init__(encoder=[(RSU7, in_ch, 16, 64), (RSU6, 64, 16, 64), (RSU5, 64, 16, 64),
                                  (RSU4, 64, 16, 64), (RSU4F, 64, 16, 64), (RSU4F, 64, 16, 64)],
                         decoder=[(RSU4F, 128, 16, 64), (RSU4, 128, 16, 64), (RSU5, 128, 16, 64),
                                  (RSU6, 128, 16, 64), (RSU7, 128, 16, 64)],
                         out_ch=out_ch)
