"""ArtLine's network in plain PyTorch: fastai 1.0.61's DynamicUnet on a ResNet-34, with fastai's state-dict keys.

ArtLine (vijishmadhavan/ArtLine, `Model/Train.ipynb`) builds it with
`unet_learner(data, models.resnet34, blur=True, norm_type=NormType.Spectral, self_attention=True, y_range=(-3., 3.))`,
i.e. `DynamicUnet(create_body(resnet34, cut=-2), n_classes=3, blur=True, blur_final=True, self_attention=True,
y_range=(-3., 3.), last_cross=True, bottle=False, norm_type=NormType.Spectral)`. fastai is not needed: the classes
below build the same modules under the same names (`layers.0.*` the ResNet-34 body, `layers.4.shuf.conv.0.weight_orig`,
`layers.10.layers.0.0.weight_orig`, ...), so `load_state_dict(strict=True)` takes the weights of an ArtLine export.

Where fastai wires things implicitly, this file says it explicitly: the UnetBlocks' skips come from hooks on
encoder stages (here: the body returns them), and fastai's SequentialEx hands the model input to the
MergeLayer as `x.orig` (here: an argument). fastai 2.x is not key-compatible; this follows v1.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def spectral_conv(ni, nf, ks, bias=True, conv=nn.Conv2d):
    """fastai's conv with NormType.Spectral: torch's spectral_norm (weight_orig, weight_u, weight_v; one power
    iteration per training forward, none in eval)."""
    return nn.utils.spectral_norm(conv(ni, nf, kernel_size=ks, padding=(ks - 1) // 2, bias=bias))


def conv_layer(ni, nf, ks=3, use_activ=True, self_attention=False):
    """fastai's conv_layer for NormType.Spectral: spectral conv with bias, ReLU, optional SelfAttention; no norm."""
    layers = [spectral_conv(ni, nf, ks)]
    if use_activ:
        layers.append(nn.ReLU())
    if self_attention:
        layers.append(SelfAttention(nf))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock (the keys of resnet34's layer1..layer4)."""

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


def resnet_stage(inplanes, planes, blocks, stride):
    return nn.Sequential(BasicBlock(inplanes, planes, stride),
                         *[BasicBlock(planes, planes) for _ in range(blocks - 1)])


class ResNetBody(nn.Sequential):
    """resnet34's children[:-2] (fastai's create_body(resnet34, cut=-2)). Returns the last stage's output and the
    features the UnetBlocks take, deepest first: layer3, layer2, layer1 and the stem's ReLU (children 6, 5, 4, 2:
    fastai's hooks, whose sizes change at each stride)."""

    def __init__(self):
        super().__init__(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                         nn.MaxPool2d(3, 2, 1),
                         resnet_stage(64, 64, 3, 1), resnet_stage(64, 128, 4, 2),
                         resnet_stage(128, 256, 6, 2), resnet_stage(256, 512, 3, 2))

    def forward(self, x):
        stem = self[2](self[1](self[0](x)))
        layer1 = self[4](self[3](stem))
        layer2 = self[5](layer1)
        layer3 = self[6](layer2)
        return self[7](layer3), (layer3, layer2, layer1, stem)


class SelfAttention(nn.Module):
    """fastai v1's SelfAttention: no 1/sqrt(d) scaling, softmax over dim=1 (the query positions), gamma scales
    the attended values before the residual."""

    def __init__(self, n_channels):
        super().__init__()
        self.query = spectral_conv(n_channels, n_channels // 8, 1, bias=False, conv=nn.Conv1d)
        self.key = spectral_conv(n_channels, n_channels // 8, 1, bias=False, conv=nn.Conv1d)
        self.value = spectral_conv(n_channels, n_channels, 1, bias=False, conv=nn.Conv1d)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        size = x.shape
        x = x.reshape(size[0], size[1], -1)
        f, g, h = self.query(x), self.key(x), self.value(x)
        beta = F.softmax(torch.bmm(f.transpose(1, 2), g), dim=1)
        o = self.gamma * torch.bmm(h, beta) + x
        return o.reshape(size)


class PixelShuffle_ICNR(nn.Module):
    """1x1 spectral conv to 4x the channels, ReLU, PixelShuffle(2); with `blur`, then ReplicationPad2d((1, 0, 1, 0))
    and AvgPool2d(2, stride=1) (one row on top, one column on the left: the size is kept). `pad` and `blur`
    exist either way, as in fastai."""

    def __init__(self, ni, nf=None, scale=2, blur=False):
        super().__init__()
        nf = ni if nf is None else nf
        self.conv = conv_layer(ni, nf * scale ** 2, ks=1, use_activ=False)
        self.shuf = nn.PixelShuffle(scale)
        self.pad = nn.ReplicationPad2d((1, 0, 1, 0))
        self.blur = nn.AvgPool2d(2, stride=1)
        self.relu = nn.ReLU()
        self.do_blur = blur

    def forward(self, x):
        x = self.shuf(self.relu(self.conv(x)))
        return self.blur(self.pad(x)) if self.do_blur else x


class UnetBlock(nn.Module):
    """Upsample `up_in` (PixelShuffle_ICNR), resize it to the skip's size if it differs (nearest: at odd sizes
    the last row/column goes), concatenate with the BatchNorm'd skip (upsampled path first), ReLU, two convs."""

    def __init__(self, up_in_c, x_in_c, final_div=True, blur=False, self_attention=False):
        super().__init__()
        self.shuf = PixelShuffle_ICNR(up_in_c, up_in_c // 2, blur=blur)
        self.bn = nn.BatchNorm2d(x_in_c)
        ni = up_in_c // 2 + x_in_c
        nf = ni if final_div else ni // 2
        self.conv1 = conv_layer(ni, nf)
        self.conv2 = conv_layer(nf, nf, self_attention=self_attention)
        self.relu = nn.ReLU()

    def forward(self, up_in, s):
        up_out = self.shuf(up_in)
        if s.shape[-2:] != up_out.shape[-2:]:
            up_out = F.interpolate(up_out, s.shape[-2:], mode='nearest')
        cat_x = self.relu(torch.cat([up_out, self.bn(s)], dim=1))
        return self.conv2(self.conv1(cat_x))


class MergeLayer(nn.Module):
    """fastai's MergeLayer: concatenate (dense) or add the input of the block it closes (`orig`)."""

    def __init__(self, dense=False):
        super().__init__()
        self.dense = dense

    def forward(self, x, orig):
        return torch.cat([x, orig], dim=1) if self.dense else x + orig


class ResBlock(nn.Module):
    """fastai's res_block(nf) for NormType.Spectral: x + relu(conv(relu(conv(x)))), as a SequentialEx (`layers`)."""

    def __init__(self, nf):
        super().__init__()
        self.layers = nn.ModuleList([conv_layer(nf, nf), conv_layer(nf, nf), MergeLayer(dense=False)])

    def forward(self, x):
        return self.layers[2](self.layers[1](self.layers[0](x)), x)


class SigmoidRange(nn.Module):
    def __init__(self, low, high):
        super().__init__()
        self.low, self.high = low, high

    def forward(self, x):
        return torch.sigmoid(x) * (self.high - self.low) + self.low


class DynamicUnet(nn.Module):
    """ArtLine's U-Net (fastai v1 DynamicUnet, ResNet-34, blur, self-attention, spectral norm, y_range (-3, 3)).

    Input: (N, 3, H, W), H and W even (odd sizes fail upstream too): an RGB photo in [0, 1], normalised with
    ImageNet's mean and std. Output: (N, n_classes, H, W) in (y_range), the line drawing in the same
    normalised space (fastai's predict then computes out * std + mean and clips to [0, 1]).
    """

    def __init__(self, n_classes=3, blur=True, blur_final=True, self_attention=True, y_range=(-3.0, 3.0)):
        super().__init__()
        self.layers = nn.ModuleList([
            ResNetBody(), nn.BatchNorm2d(512), nn.ReLU(),
            nn.Sequential(conv_layer(512, 1024), conv_layer(1024, 512)),
            # (up_in_c, x_in_c) from the encoder's widths; the self-attention sits in the third-to-last block
            UnetBlock(512, 256, blur=blur),
            UnetBlock(512, 128, blur=blur, self_attention=self_attention),
            UnetBlock(384, 64, blur=blur),
            UnetBlock(256, 64, final_div=False, blur=blur and blur_final),
            PixelShuffle_ICNR(96),
            MergeLayer(dense=True),
            ResBlock(99),
            conv_layer(99, n_classes, ks=1, use_activ=False),
            SigmoidRange(*y_range)])

    def forward(self, x):
        features, skips = self.layers[0](x)
        out = self.layers[3](self.layers[2](self.layers[1](features)))
        out = self.layers[4](out, skips[0])
        out = self.layers[5](out, skips[1])
        out = self.layers[6](out, skips[2])
        out = self.layers[7](out, skips[3])
        out = self.layers[9](self.layers[8](out), x)
        return self.layers[12](self.layers[11](self.layers[10](out)))
