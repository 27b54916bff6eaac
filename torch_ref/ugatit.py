"""U-GAT-IT (Kim et al., ICLR 2020), PyTorch reference.

Same classes, constructor signatures and state-dict keys as znxlwm/UGATIT-pytorch `networks.py`.
`ms_models/ugatit.py` is the MindSpore twin of this file, line for line.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class ResnetGenerator(nn.Module):
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

        DownBlock = [nn.ReflectionPad2d(3),
                     nn.Conv2d(input_nc, ngf, kernel_size=7, stride=1, padding=0, bias=False),
                     nn.InstanceNorm2d(ngf),
                     nn.ReLU(True)]

        # Down-sampling
        n_downsampling = 2
        for i in range(n_downsampling):
            mult = 2 ** i
            DownBlock += [nn.ReflectionPad2d(1),
                          nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=0, bias=False),
                          nn.InstanceNorm2d(ngf * mult * 2),
                          nn.ReLU(True)]

        # Down-sampling bottleneck
        mult = 2 ** n_downsampling
        for i in range(n_blocks):
            DownBlock += [ResnetBlock(ngf * mult, use_bias=False)]

        # Class activation map
        self.gap_fc = nn.Linear(ngf * mult, 1, bias=False)
        self.gmp_fc = nn.Linear(ngf * mult, 1, bias=False)
        self.conv1x1 = nn.Conv2d(ngf * mult * 2, ngf * mult, kernel_size=1, stride=1, bias=True)
        self.relu = nn.ReLU(True)

        # Gamma, beta block: the light model pools the features first, the full one flattens them
        fc_in = ngf * mult if light else img_size // mult * img_size // mult * ngf * mult
        FC = [nn.Linear(fc_in, ngf * mult, bias=False),
              nn.ReLU(True),
              nn.Linear(ngf * mult, ngf * mult, bias=False),
              nn.ReLU(True)]
        self.gamma = nn.Linear(ngf * mult, ngf * mult, bias=False)
        self.beta = nn.Linear(ngf * mult, ngf * mult, bias=False)

        # Up-sampling bottleneck
        for i in range(n_blocks):
            setattr(self, 'UpBlock1_' + str(i + 1), ResnetAdaILNBlock(ngf * mult, use_bias=False))

        # Up-sampling
        UpBlock2 = []
        for i in range(n_downsampling):
            mult = 2 ** (n_downsampling - i)
            UpBlock2 += [nn.Upsample(scale_factor=2, mode='nearest'),
                         nn.ReflectionPad2d(1),
                         nn.Conv2d(ngf * mult, ngf * mult // 2, kernel_size=3, stride=1, padding=0, bias=False),
                         ILN(ngf * mult // 2),
                         nn.ReLU(True)]

        UpBlock2 += [nn.ReflectionPad2d(3),
                     nn.Conv2d(ngf, output_nc, kernel_size=7, stride=1, padding=0, bias=False),
                     nn.Tanh()]

        self.DownBlock = nn.Sequential(*DownBlock)
        self.FC = nn.Sequential(*FC)
        self.UpBlock2 = nn.Sequential(*UpBlock2)

    def forward(self, input):
        x = self.DownBlock(input)

        x, cam_logit = class_activation_map(x, self.gap_fc, self.gmp_fc, self.gap_fc.weight, self.gmp_fc.weight)
        x = self.relu(self.conv1x1(x))
        heatmap = torch.sum(x, dim=1, keepdim=True)

        if self.light:
            x_ = self.FC(F.adaptive_avg_pool2d(x, 1).flatten(1))
        else:
            x_ = self.FC(x.flatten(1))
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
    gap_logit = gap_fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
    gap = x * gap_weight.unsqueeze(2).unsqueeze(3)

    gmp_logit = gmp_fc(F.adaptive_max_pool2d(x, 1).flatten(1))
    gmp = x * gmp_weight.unsqueeze(2).unsqueeze(3)

    return torch.cat([gap, gmp], 1), torch.cat([gap_logit, gmp_logit], 1)


class ResnetBlock(nn.Module):
    def __init__(self, dim, use_bias):
        super().__init__()
        self.conv_block = nn.Sequential(nn.ReflectionPad2d(1),
                                        nn.Conv2d(dim, dim, kernel_size=3, stride=1, padding=0, bias=use_bias),
                                        nn.InstanceNorm2d(dim),
                                        nn.ReLU(True),
                                        nn.ReflectionPad2d(1),
                                        nn.Conv2d(dim, dim, kernel_size=3, stride=1, padding=0, bias=use_bias),
                                        nn.InstanceNorm2d(dim))

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetAdaILNBlock(nn.Module):
    def __init__(self, dim, use_bias):
        super().__init__()
        self.pad1 = nn.ReflectionPad2d(1)
        self.conv1 = nn.Conv2d(dim, dim, kernel_size=3, stride=1, padding=0, bias=use_bias)
        self.norm1 = adaILN(dim)
        self.relu1 = nn.ReLU(True)

        self.pad2 = nn.ReflectionPad2d(1)
        self.conv2 = nn.Conv2d(dim, dim, kernel_size=3, stride=1, padding=0, bias=use_bias)
        self.norm2 = adaILN(dim)

    def forward(self, x, gamma, beta):
        out = self.relu1(self.norm1(self.conv1(self.pad1(x)), gamma, beta))
        out = self.norm2(self.conv2(self.pad2(out)), gamma, beta)
        return out + x


def instance_layer_norm(x, rho, gamma, beta, eps):
    """gamma * (rho * instance-norm(x) + (1 - rho) * layer-norm(x)) + beta, both with UNBIASED variances.

    Upstream computes these statistics with `torch.var`, which divides by n - 1, unlike nn.InstanceNorm2d;
    we keep that on purpose, since trained weights depend on it.
    """
    in_mean, in_var = torch.mean(x, dim=[2, 3], keepdim=True), torch.var(x, dim=[2, 3], keepdim=True)
    out_in = (x - in_mean) / torch.sqrt(in_var + eps)
    ln_mean, ln_var = torch.mean(x, dim=[1, 2, 3], keepdim=True), torch.var(x, dim=[1, 2, 3], keepdim=True)
    out_ln = (x - ln_mean) / torch.sqrt(ln_var + eps)
    return (rho * out_in + (1 - rho) * out_ln) * gamma + beta


class adaILN(nn.Module):
    """Adaptive instance-layer norm: gamma and beta come from the style branch."""

    def __init__(self, num_features, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.rho = nn.Parameter(torch.full((1, num_features, 1, 1), 0.9))

    def forward(self, input, gamma, beta):
        return instance_layer_norm(input, self.rho, gamma.unsqueeze(2).unsqueeze(3), beta.unsqueeze(2).unsqueeze(3),
                                   self.eps)


class ILN(nn.Module):
    """Instance-layer norm with learned gamma and beta."""

    def __init__(self, num_features, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.rho = nn.Parameter(torch.zeros(1, num_features, 1, 1))
        self.gamma = nn.Parameter(torch.ones(1, num_features, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, num_features, 1, 1))

    def forward(self, input):
        return instance_layer_norm(input, self.rho, self.gamma, self.beta, self.eps)


class Discriminator(nn.Module):
    """PatchGAN with CAM, every conv spectrally normalised. n_layers=7 is the global, 5 the local one.

    Input: (N, input_nc, H, W) in [-1, 1], H and W at least 3 * 2 ** (n_layers - 2).
    Outputs: (logit map (N, 1, h - 1, w - 1), cam_logit (N, 2), heatmap (N, 1, h, w)) with
    h = H / 2 ** (n_layers - 2) - 1 (7 x 7 heatmap for the global discriminator at 256).
    """

    def __init__(self, input_nc, ndf=64, n_layers=5):
        super().__init__()
        model = [nn.ReflectionPad2d(1),
                 nn.utils.spectral_norm(nn.Conv2d(input_nc, ndf, kernel_size=4, stride=2, padding=0, bias=True)),
                 nn.LeakyReLU(0.2, True)]

        for i in range(1, n_layers - 2):
            mult = 2 ** (i - 1)
            model += [nn.ReflectionPad2d(1),
                      nn.utils.spectral_norm(
                          nn.Conv2d(ndf * mult, ndf * mult * 2, kernel_size=4, stride=2, padding=0, bias=True)),
                      nn.LeakyReLU(0.2, True)]

        mult = 2 ** (n_layers - 2 - 1)
        model += [nn.ReflectionPad2d(1),
                  nn.utils.spectral_norm(
                      nn.Conv2d(ndf * mult, ndf * mult * 2, kernel_size=4, stride=1, padding=0, bias=True)),
                  nn.LeakyReLU(0.2, True)]

        # Class activation map
        mult = 2 ** (n_layers - 2)
        self.gap_fc = nn.utils.spectral_norm(nn.Linear(ndf * mult, 1, bias=False))
        self.gmp_fc = nn.utils.spectral_norm(nn.Linear(ndf * mult, 1, bias=False))
        self.conv1x1 = nn.Conv2d(ndf * mult * 2, ndf * mult, kernel_size=1, stride=1, bias=True)
        self.leaky_relu = nn.LeakyReLU(0.2, True)

        self.pad = nn.ReflectionPad2d(1)
        self.conv = nn.utils.spectral_norm(nn.Conv2d(ndf * mult, 1, kernel_size=4, stride=1, padding=0, bias=False))

        self.model = nn.Sequential(*model)

    def forward(self, input):
        x = self.model(input)
        # Upstream weights the features with `list(gap_fc.parameters())[0]`, which is the raw `weight_orig`,
        # while the logits use the spectrally normalised weight. Reproduced on purpose.
        x, cam_logit = class_activation_map(x, self.gap_fc, self.gmp_fc, self.gap_fc.weight_orig,
                                            self.gmp_fc.weight_orig)
        x = self.leaky_relu(self.conv1x1(x))
        heatmap = torch.sum(x, dim=1, keepdim=True)

        out = self.conv(self.pad(x))
        return out, cam_logit, heatmap
