"""DeepFaceDrawing (Chen et al., SIGGRAPH 2020): the part encoders and decoders and the image generator, MindSpore.

The twin of `torch_ref/deepfacedrawing.py`: same classes, constructor signatures, attribute names and forward
structure, so parameter names equal the official Jittor checkpoints' keys except for BatchNorm (gamma, beta,
moving_mean, moving_variance), which `weights_convert` maps.

Quirks of upstream reproduced on purpose:
- every EncoderBlock / DecoderBlock ends in LeakyReLU(1), i.e. the identity;
- the feature decoders normalise with the batch's statistics at inference (upstream never switches them to
  eval): `TrainModeBatchNorm2d`;
- the generator's instance norms are affine (Jittor's default, unlike torch's).
"""
from mindspore import nn

from .layers import Conv2d, ConvTranspose2d, InstanceNorm2d, Linear, ReflectionPad2d, Tanh, TrainModeBatchNorm2d


def batch_norm(channels, momentum=0.1):
    """nn.BatchNorm2d with torch's momentum convention (the weight of the new batch; MindSpore's is the old's)."""
    return nn.BatchNorm2d(channels, momentum=1 - momentum)


class ResnetBlock(nn.Cell):
    """x + [reflect pad 1, conv 3x3, norm, ReLU, reflect pad 1, conv 3x3, norm](x)."""

    def __init__(self, dim, norm_layer=batch_norm):
        super().__init__()
        self.conv_block = nn.SequentialCell(ReflectionPad2d(1), Conv2d(dim, dim, 3), norm_layer(dim), nn.ReLU(),
                                            ReflectionPad2d(1), Conv2d(dim, dim, 3), norm_layer(dim))

    def construct(self, x):
        return x + self.conv_block(x)


class EncoderBlock(nn.Cell):
    """Conv 4x4 stride 2 (halves the size), BatchNorm, LeakyReLU(1)."""

    def __init__(self, channel_in, channel_out):
        super().__init__()
        self.conv = Conv2d(channel_in, channel_out, 4, stride=2, padding=1)
        self.bn = batch_norm(channel_out, momentum=0.9)  # Jittor's 0.9: the weight of the new batch, as torch's
        self.relu = nn.LeakyReLU(1.0)

    def construct(self, x):
        return self.relu(self.bn(self.conv(x)))


def train_mode_batch_norm(channels, momentum=0.1):
    return TrainModeBatchNorm2d(channels, momentum=1 - momentum)


class DecoderBlock(nn.Cell):
    """Transposed conv 4x4 stride 2 (doubles the size), BatchNorm, LeakyReLU(1)."""

    def __init__(self, channel_in, channel_out, norm_layer=batch_norm):
        super().__init__()
        self.conv = nn.SequentialCell(ConvTranspose2d(channel_in, channel_out, 4, stride=2, padding=1),
                                      norm_layer(channel_out, momentum=0.9), nn.LeakyReLU(1.0))

    def construct(self, x):
        return self.conv(x)


class EncoderGenerator_Res(nn.Cell):
    """Sketch crop (N, input_nc, S, S) in [-1, 1] -> latent (N, latent_dim); S = image_size, a multiple of 32.

    Five EncoderBlocks (32 ... 512 channels), each followed by a ResnetBlock, then a linear layer on the
    (N, 512 * (S/32)**2) flatten in NCHW order.
    """

    def __init__(self, image_size, input_nc=1, latent_dim=512):
        super().__init__()
        latent_size = image_size // 32
        layers = [EncoderBlock(input_nc, 32)]
        dim = 32
        for _ in range(4):
            layers += [ResnetBlock(dim), EncoderBlock(dim, dim * 2)]
            dim *= 2
        layers.append(ResnetBlock(512))
        self.conv = nn.SequentialCell(*layers)
        self.fc_mu = nn.SequentialCell(Linear(512 * latent_size * latent_size, latent_dim))

    def construct(self, x):
        x = self.conv(x)
        return self.fc_mu(x.reshape(x.shape[0], -1))


class _Decoder(nn.Cell):
    """Latent (N, latent_dim) -> linear -> (N, 512, S/32, S/32) -> ResnetBlock -> five DecoderBlocks (each with
    a ResnetBlock) -> reflect pad 2, conv 5x5 -> (N, output_nc, S, S). No output activation."""

    widths = ()  # channels after each DecoderBlock

    def __init__(self, image_size, output_nc, latent_dim=512, norm_layer=batch_norm):
        super().__init__()
        self.latent_size = image_size // 32
        self.fc = nn.SequentialCell(Linear(latent_dim, 512 * self.latent_size * self.latent_size))
        layers = [ResnetBlock(512, norm_layer)]
        dim = 512
        for width in self.widths:
            layers += [DecoderBlock(dim, width, norm_layer), ResnetBlock(width, norm_layer)]
            dim = width
        layers += [ReflectionPad2d(2), Conv2d(dim, output_nc, 5)]
        self.conv = nn.SequentialCell(*layers)

    def construct(self, latent):
        x = self.fc(latent)
        return self.conv(x.reshape(x.shape[0], 512, self.latent_size, self.latent_size))


class DecoderGenerator_image_Res(_Decoder):
    """A part's latent -> its sketch (N, output_nc, S, S); only upstream's GUI uses it (the sketch 'shadow')."""

    widths = (256, 128, 64, 32, 32)

    def __init__(self, image_size, output_nc=1, latent_dim=512):
        super().__init__(image_size, output_nc, latent_dim)


class DecoderGenerator_feature_Res(_Decoder):
    """A part's latent -> its 32-channel feature map (N, output_nc, S, S), normalised with batch statistics."""

    widths = (256, 256, 128, 64, 64)

    def __init__(self, image_size, output_nc=32, latent_dim=512):
        super().__init__(image_size, output_nc, latent_dim, train_mode_batch_norm)


def instance_norm(channels):
    return InstanceNorm2d(channels, affine=True)  # Jittor's InstanceNorm2d is affine by default


class GlobalGenerator(nn.Cell):
    """pix2pixHD's global generator as DeepFaceDrawing uses it: the 32-channel feature map (N, 32, H, W) ->
    RGB (N, 3, H, W) in (-1, 1); H and W multiples of 2**n_downsampling.

    Reflect pad 3, conv 7x7, then n_downsampling stride-2 convs, n_blocks ResnetBlocks, n_downsampling
    transposed convs (kernel 3, output_padding 1: exact doubling), reflect pad 3, conv 7x7, tanh; every
    conv but the last followed by an affine instance norm and ReLU.
    """

    def __init__(self, input_nc=32, output_nc=3, ngf=56, n_downsampling=4, n_blocks=9):
        super().__init__()
        model = [ReflectionPad2d(3), Conv2d(input_nc, ngf, 7), instance_norm(ngf), nn.ReLU()]
        for i in range(n_downsampling):
            mult = 2 ** i
            model += [Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1), instance_norm(ngf * mult * 2),
                      nn.ReLU()]
        mult = 2 ** n_downsampling
        model += [ResnetBlock(ngf * mult, instance_norm) for _ in range(n_blocks)]
        for i in range(n_downsampling):
            mult = 2 ** (n_downsampling - i)
            model += [ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1),
                      instance_norm(ngf * mult // 2), nn.ReLU()]
        model += [ReflectionPad2d(3), Conv2d(ngf, output_nc, 7), Tanh()]
        self.model = nn.SequentialCell(*model)

    def construct(self, x):
        return self.model(x)
