"""DeepFaceDrawing (Chen et al., SIGGRAPH 2020): the part encoders and decoders and the image generator, PyTorch.

Written from the paper and the layout of the official Jittor checkpoints (IGLICT/DeepFaceDrawing-Jittor,
`Params/AE_whole/latest_net_encoder_<part>.pkl`, `Params/Combine/latest_net_{G,DE_<part>}.pkl`): the class
and attribute names are upstream's, so the state-dict keys are the checkpoints' and they load strictly. The
constructors drop upstream's `norm_layer` argument, which the part networks ignore (BatchNorm is hard-wired)
and the generator is always given as the affine instance norm.
`ms_models/deepfacedrawing.py` is the MindSpore twin of this file, line for line.

Quirks of upstream reproduced on purpose:
- every EncoderBlock / DecoderBlock ends in LeakyReLU(1), i.e. the identity;
- the feature decoders normalise with the batch's statistics at inference (upstream never switches them to
  eval): `TrainModeBatchNorm2d`;
- the generator's instance norms are affine (Jittor's default, unlike torch's).
"""
import torch.nn as nn
import torch.nn.functional as F


class TrainModeBatchNorm2d(nn.BatchNorm2d):
    """A BatchNorm2d that normalises with the statistics of the batch in eval mode too (biased variance) and
    leaves its running statistics alone: what upstream's feature decoders do at inference."""

    def forward(self, x):
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


def batch_norm(channels, momentum=0.1):
    return nn.BatchNorm2d(channels, momentum=momentum)


class ResnetBlock(nn.Module):
    """x + [reflect pad 1, conv 3x3, norm, ReLU, reflect pad 1, conv 3x3, norm](x)."""

    def __init__(self, dim, norm_layer=batch_norm):
        super().__init__()
        self.conv_block = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm_layer(dim), nn.ReLU(),
                                        nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm_layer(dim))

    def forward(self, x):
        return x + self.conv_block(x)


class EncoderBlock(nn.Module):
    """Conv 4x4 stride 2 (halves the size), BatchNorm, LeakyReLU(1)."""

    def __init__(self, channel_in, channel_out):
        super().__init__()
        self.conv = nn.Conv2d(channel_in, channel_out, 4, stride=2, padding=1)
        self.bn = batch_norm(channel_out, momentum=0.9)  # Jittor's 0.9: the weight of the new batch, as torch's
        self.relu = nn.LeakyReLU(1)

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


def train_mode_batch_norm(channels, momentum=0.1):
    return TrainModeBatchNorm2d(channels, momentum=momentum)


class DecoderBlock(nn.Module):
    """Transposed conv 4x4 stride 2 (doubles the size), BatchNorm, LeakyReLU(1)."""

    def __init__(self, channel_in, channel_out, norm_layer=batch_norm):
        super().__init__()
        self.conv = nn.Sequential(nn.ConvTranspose2d(channel_in, channel_out, 4, stride=2, padding=1),
                                  norm_layer(channel_out, momentum=0.9), nn.LeakyReLU(1))

    def forward(self, x):
        return self.conv(x)


class EncoderGenerator_Res(nn.Module):
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
        self.conv = nn.Sequential(*layers)
        self.fc_mu = nn.Sequential(nn.Linear(512 * latent_size * latent_size, latent_dim))

    def forward(self, x):
        x = self.conv(x)
        return self.fc_mu(x.reshape(x.shape[0], -1))


class _Decoder(nn.Module):
    """Latent (N, latent_dim) -> linear -> (N, 512, S/32, S/32) -> ResnetBlock -> five DecoderBlocks (each with
    a ResnetBlock) -> reflect pad 2, conv 5x5 -> (N, output_nc, S, S). No output activation."""

    widths = ()  # channels after each DecoderBlock

    def __init__(self, image_size, output_nc, latent_dim=512, norm_layer=batch_norm):
        super().__init__()
        self.latent_size = image_size // 32
        self.fc = nn.Sequential(nn.Linear(latent_dim, 512 * self.latent_size * self.latent_size))
        layers = [ResnetBlock(512, norm_layer)]
        dim = 512
        for width in self.widths:
            layers += [DecoderBlock(dim, width, norm_layer), ResnetBlock(width, norm_layer)]
            dim = width
        layers += [nn.ReflectionPad2d(2), nn.Conv2d(dim, output_nc, 5)]
        self.conv = nn.Sequential(*layers)

    def forward(self, latent):
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
    return nn.InstanceNorm2d(channels, affine=True)  # Jittor's InstanceNorm2d is affine by default


class GlobalGenerator(nn.Module):
    """pix2pixHD's global generator as DeepFaceDrawing uses it: the 32-channel feature map (N, 32, H, W) ->
    RGB (N, 3, H, W) in (-1, 1); H and W multiples of 2**n_downsampling.

    Reflect pad 3, conv 7x7, then n_downsampling stride-2 convs, n_blocks ResnetBlocks, n_downsampling
    transposed convs (kernel 3, output_padding 1: exact doubling), reflect pad 3, conv 7x7, tanh; every
    conv but the last followed by an affine instance norm and ReLU.
    """

    def __init__(self, input_nc=32, output_nc=3, ngf=56, n_downsampling=4, n_blocks=9):
        super().__init__()
        model = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7), instance_norm(ngf), nn.ReLU()]
        for i in range(n_downsampling):
            mult = 2 ** i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1), instance_norm(ngf * mult * 2),
                      nn.ReLU()]
        mult = 2 ** n_downsampling
        model += [ResnetBlock(ngf * mult, instance_norm) for _ in range(n_blocks)]
        for i in range(n_downsampling):
            mult = 2 ** (n_downsampling - i)
            model += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1),
                      instance_norm(ngf * mult // 2), nn.ReLU()]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)
