"""The layers MindSpore lacks, or spells differently from PyTorch, written once for every model here.

Each one computes what its PyTorch namesake computes, so the model files read like their `torch_ref` twins:
- `Conv2d`, `Linear`, `MaxPool2d`: torch's signatures and defaults (MindSpore's Conv2d defaults to 'same'
  padding and no bias; its MaxPool2d needs pad_mode='pad' for ceil mode, which U^2-Net relies on).
- `use_lean_conv_backward`: Conv2d gradients without MindSpore's per-kernel im2col buffers (training).
- `Conv1d`: torch's pointwise (kernel_size 1) Conv1d with its (out, in, 1) weight, as a matrix product.
- `PixelShuffle`, `ReplicationPad2d`, `AvgPool2d`: torch's, by reshapes and slices where MindSpore's own
  have no CPU kernel or no ONNX conversion.
- `resize_nearest`: torch's legacy 'nearest' interpolate to a size (source index floor(dst * in / out)).
- `InstanceNorm2d`: optionally affine, biased variance, eps 1e-5; MindSpore has no CPU kernel for it.
- `TrainModeBatchNorm2d`: a BatchNorm2d normalising with batch statistics in inference mode too.
- `ConvTranspose2d`: torch's signature; unpadded, then cropped (MindSpore's own padding is wrong on CPU).
- `Upsample` / `upsample_nearest`: nearest by an integer factor; MindSpore's scale_factor path rejects
  4-D input.
- `resize_bilinear`: resize to a size, align_corners=False.
- `global_avg_pool` / `global_max_pool`: adaptive pooling to 1x1.
- `spatial_sum` / `spatial_mean`: sums and means over H and W for the instance norms, faster on CPU than
  MindSpore's two-axis reduction.
- `expand_as`: per-channel statistics spread to a feature map's shape before they meet it. MindSpore's CPU
  kernels for broadcasting arithmetic keep index tables four times the size of their output for the life
  of the graph and run at half speed; same-shape arithmetic does neither.
- `Tanh`: MindSpore's CPU tanh kernel is off by up to 1e-4 (torch: 3e-8), enough on its own to break the
  golden tolerance of the generators' output layer.
- `spectral_norm`: torch.nn.utils.spectral_norm, with its parameter names (`weight_orig`, `bias`,
  `weight_u`, `weight_v`) and its power iteration in training mode.

Inside `export_friendly()`, the layers whose MindSpore ops have no ONNX conversion (MirrorPad, 2x2 average
pool, bilinear resize) are compiled from ops that have one, computing the same values (tests/test_export).
"""
import contextlib

import mindspore as ms
import numpy as np
from mindspore import Parameter, Tensor, nn, ops

_EXPORT_FRIENDLY = False


@contextlib.contextmanager
def export_friendly():
    """Compile the models from ONNX-exportable ops while in this block (read when a graph is compiled)."""
    global _EXPORT_FRIENDLY
    _EXPORT_FRIENDLY = True
    try:
        yield
    finally:
        _EXPORT_FRIENDLY = False


def _exporting():
    return _EXPORT_FRIENDLY


class ReflectionPad2d(nn.Cell):
    """torch.nn.ReflectionPad2d(padding) for an integer padding."""

    def __init__(self, padding):
        super().__init__()
        self.padding = padding
        self.pad = nn.ReflectionPad2d(padding)

    def construct(self, x):
        if _exporting():
            return _reflect_by_slices(x, self.padding)
        return self.pad(x)


def _reflect_by_slices(x, p):
    """Reflection padding as slices and concatenations."""
    h, w = x.shape[2], x.shape[3]
    columns = [x[:, :, :, i:i + 1] for i in range(p, 0, -1)] + [x] + \
        [x[:, :, :, w - 1 - i:w - i] for i in range(1, p + 1)]
    x = ops.concat(columns, axis=3)
    rows = [x[:, :, i:i + 1] for i in range(p, 0, -1)] + [x] + [x[:, :, h - 1 - i:h - i] for i in range(1, p + 1)]
    return ops.concat(rows, axis=2)


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


class Conv2d(nn.Conv2d):
    """torch.nn.Conv2d's signature and defaults: explicit zero padding, bias on. `lean_backward`: see
    use_lean_conv_backward."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True):
        pad_h, pad_w = _pair(padding)
        super().__init__(in_channels, out_channels, _pair(kernel_size), stride=_pair(stride), pad_mode='pad',
                         padding=(pad_h, pad_h, pad_w, pad_w), dilation=_pair(dilation), group=groups,
                         has_bias=bias)
        self.lean_backward = None

    def construct(self, x):
        if self.lean_backward is None:
            output = self.conv2d(x, self.weight)
        else:
            output = self.lean_backward(x, self.weight)
        if self.has_bias:
            output = self.bias_add(output, self.bias)
        return output


class LeanBackwardConv2D(nn.Cell):
    """A Conv2d's convolution (stride 1, one group, no dilation, square kernel, padding < kernel size) with
    its gradients computed by a forward convolution (input: the flipped, transposed kernel over the output's
    gradient) and an unfold followed by a matrix product (weight). The unfold is of the input or of the
    output's gradient, whichever has fewer channels (32 -> 16 at 256 px: 30 ms against 17).

    MindSpore's own CPU backward kernels (oneDNN) each keep an im2col scratch buffer for the life of a
    compiled graph: about 157 MiB per 32-channel 3x3 convolution at 256x256, twenty times its output, so a
    photo2cartoon generator's compiled backward held ~5 GB at 256 px. Here the unfolded input comes from
    the graph's memory pool for the moment its product runs (measured: 16 MiB per such convolution, and
    faster: 12 convolutions 692 ms against 815)."""

    def __init__(self, conv):
        super().__init__()
        kernel, padding = conv.kernel_size[0], conv.padding[0]
        self.kernel_size, self.padding = kernel, padding
        self.unfold_gradient = kernel > 1 and conv.out_channels < conv.in_channels
        self.conv2d = conv.conv2d
        self.conv2d_input = ops.Conv2D(conv.in_channels, kernel, pad_mode='pad', pad=kernel - 1 - padding)
        self.matmul = ops.BatchMatMul(transpose_b=True)
        self.reversed_taps = Tensor(np.arange(kernel * kernel - 1, -1, -1, dtype=np.int32))

    def construct(self, x, weight):
        return self.conv2d(x, weight)

    def bprop(self, x, weight, out, dout):
        n, c_out, h, w = dout.shape
        c_in, taps = x.shape[1], self.kernel_size * self.kernel_size
        # both spatial axes flipped, as one gather over the taps (MindSpore's CPU ReverseV2: 4x slower)
        flipped = ops.gather(weight.reshape(c_out, c_in, taps), self.reversed_taps, 2).reshape(weight.shape)
        d_x = self.conv2d_input(dout, ops.transpose(flipped, (1, 0, 2, 3)))
        if self.unfold_gradient:
            # dout's unfold at padding k - 1 - p lines up with x, tap (i, j) holding dout shifted by
            # (k - 1 - i, k - 1 - j): the weight's taps come out reversed
            columns = ops.unfold(dout, self.kernel_size, padding=self.kernel_size - 1 - self.padding)
            d_weight = self.matmul(columns, x.reshape(n, c_in, -1)).sum(0)  # (C_out*k*k, C_in)
            d_weight = ops.gather(d_weight.reshape(c_out, taps, c_in), self.reversed_taps, 1)
            return d_x, ops.transpose(d_weight, (0, 2, 1)).reshape(weight.shape)
        # unfolded only once dout exists: scheduled earlier, every layer's unfolded input lived at once
        x = ops.depend(x, dout)
        # (N, C_in*k*k, H*W); a 1x1 convolution's is its input as it is
        columns = x.reshape(n, c_in, h * w) if taps == 1 else ops.unfold(x, self.kernel_size, padding=self.padding)
        d_weight = self.matmul(columns, dout.reshape(n, c_out, h * w)).sum(0)  # (C_in*k*k, C_out)
        return d_x, ops.transpose(d_weight, (1, 0)).reshape(weight.shape)


def use_lean_conv_backward(cell):
    """Give every Conv2d in `cell` that LeanBackwardConv2D can serve its lean backward (for compiled
    training; inference compiles the same convolution either way). Returns how many."""
    count = 0
    for _, conv in cell.cells_and_names():
        if (isinstance(conv, Conv2d) and conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.group == 1
                and conv.kernel_size[0] == conv.kernel_size[1] and len(set(conv.padding)) == 1
                and conv.padding[0] < conv.kernel_size[0]):
            conv.lean_backward = LeanBackwardConv2D(conv)
            count += 1
    return count


class Linear(nn.Dense):
    """torch.nn.Linear's signature (the weight is (out, in) in both frameworks)."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__(in_features, out_features, has_bias=bias)


class Conv1d(nn.Cell):
    """torch.nn.Conv1d(in_channels, out_channels, 1): a pointwise conv, weight (out, in, 1) as torch keeps it."""

    def __init__(self, in_channels, out_channels, kernel_size=1, padding=0, bias=True):
        super().__init__()
        if kernel_size != 1 or padding != 0:
            raise ValueError('only pointwise Conv1d (kernel_size=1, padding=0) is implemented')
        bound = 1 / np.sqrt(in_channels)  # torch's default initialisation; a checkpoint overwrites it
        rng = np.random  # numpy's global generator, which ms.set_seed seeds
        self.weight = Parameter(Tensor(rng.uniform(-bound, bound, (out_channels, in_channels, 1)).astype(np.float32)),
                                name='weight')
        self.bias = Parameter(Tensor(rng.uniform(-bound, bound, out_channels).astype(np.float32)),
                              name='bias') if bias else None

    def construct(self, x):
        return _pointwise(x, self.weight, self.bias)


def _pointwise(x, weight, bias):
    """A kernel-1 conv1d: (out, in, 1) weight times (N, in, L) input."""
    out = ops.matmul(weight.reshape(weight.shape[0], weight.shape[1]), x)
    return out if bias is None else out + bias.reshape(1, -1, 1)


class MaxPool2d(nn.Cell):
    """torch.nn.MaxPool2d(kernel_size, stride, padding, ceil_mode)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        stride = stride or kernel_size
        if ceil_mode and kernel_size == stride == 2 and padding == 0:
            # U^2-Net's pool. 'same' padding pads an odd edge with -inf, which is ceil mode exactly; MindSpore's
            # ceil-mode kernel (a 3-D pool with argmax) took 9% of U2NET's time at 320 and has no ONNX export.
            self.pool = nn.MaxPool2d(2, 2, pad_mode='same')
        else:  # padding counts as -inf, as torch's
            self.pool = nn.MaxPool2d(kernel_size, stride, pad_mode='pad', padding=padding, ceil_mode=ceil_mode)
        self.padding = padding
        # MindSpore compiles the padded pool to MaxPool3DWithArgmax, which has no ONNX conversion
        self.unpadded_pool = nn.MaxPool2d(kernel_size, stride) if padding and not ceil_mode else None

    def construct(self, x):
        if _exporting() and self.unpadded_pool is not None:
            return self.unpadded_pool(_pad_with(x, self.padding, float('-inf')))
        return self.pool(x)


def _pad_with(x, p, value):
    """x padded by p on every side with a constant, by concatenation."""
    n, c, h, w = x.shape
    x = ops.concat([ops.full((n, c, h, p), value, dtype=x.dtype), x, ops.full((n, c, h, p), value, dtype=x.dtype)], 3)
    edge = ops.full((n, c, p, w + 2 * p), value, dtype=x.dtype)
    return ops.concat([edge, x, edge], 2)


class AvgPool2d(nn.Cell):
    """torch.nn.AvgPool2d(kernel_size, stride) without padding."""

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride or kernel_size
        self.pool = nn.AvgPool2d(kernel_size, self.stride)

    def construct(self, x):
        if _exporting() and self.kernel_size == 2 and self.stride == 1:  # the 2x2 pool has no ONNX conversion
            h, w = x.shape[2], x.shape[3]
            return (x[:, :, :h - 1, :w - 1] + x[:, :, :h - 1, 1:] + x[:, :, 1:, :w - 1] + x[:, :, 1:, 1:]) / 4
        return self.pool(x)


class ReplicationPad2d(nn.Cell):
    """torch.nn.ReplicationPad2d((left, right, top, bottom)): edge rows and columns repeated, by concatenation."""

    def __init__(self, padding):
        super().__init__()
        self.padding = tuple(padding) if isinstance(padding, (tuple, list)) else (padding,) * 4

    def construct(self, x):
        left, right, top, bottom = self.padding
        h, w = x.shape[2], x.shape[3]
        x = ops.concat([x[:, :, :, :1]] * left + [x] + [x[:, :, :, w - 1:]] * right, axis=3)
        return ops.concat([x[:, :, :1]] * top + [x] + [x[:, :, h - 1:]] * bottom, axis=2)


def pixel_shuffle(x, scale):
    """torch.nn.functional.pixel_shuffle: out[c, scale*h + i, scale*w + j] = in[scale**2 * c + scale*i + j, h, w]."""
    n, c, h, w = x.shape
    out_c = c // (scale * scale)
    x = x.reshape(n, out_c, scale, scale, h, w).transpose(0, 1, 4, 2, 5, 3)
    return x.reshape(n, out_c, h * scale, w * scale)


class PixelShuffle(nn.Cell):
    """torch.nn.PixelShuffle(upscale_factor), by a reshape and a transpose (exact, and it exports)."""

    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = upscale_factor

    def construct(self, x):
        return pixel_shuffle(x, self.upscale_factor)


def resize_nearest(x, size):
    """torch.nn.functional.interpolate(x, size, mode='nearest'): rows and columns picked at floor(dst * in / out)."""
    x = ops.gather(x, _nearest_indices(size[0], x.shape[2]), 2)
    return ops.gather(x, _nearest_indices(size[1], x.shape[3]), 3)


@ops.constexpr
def _nearest_indices(out_size, in_size):
    return Tensor(np.minimum(np.floor(np.arange(out_size) * (in_size / out_size)), in_size - 1).astype(np.int32))


def spatial_sum(x):
    """x.sum((2, 3), keepdims=True): row sums as one matrix product, then their sum. MindSpore's CPU
    reduction over two axes runs about 2x slower; two short sums round as finely as its one long one."""
    n, c, h, w = x.shape
    row_sums = ops.matmul(x.reshape(n * c * h, w), _ones_column(w))
    return row_sums.reshape(n, c, h).sum(2).reshape(n, c, 1, 1)


def spatial_mean(x):
    """x.mean((2, 3), keep_dims=True), by `spatial_sum`."""
    return spatial_sum(x) / (x.shape[2] * x.shape[3])


class _ExpandAs(nn.Cell):
    """`expand_as`, whose gradient sums over H and W by `spatial_sum`: MindSpore's CPU ReduceSum over them
    took 10 ms per 32 x 256 x 256 map, a quarter of a photo2cartoon generator's backward."""

    def construct(self, statistic, x):
        return ops.broadcast_to(statistic, x.shape)

    def bprop(self, statistic, x, out, dout):
        d_statistic = spatial_sum(dout)
        if statistic.shape[0] == 1 and dout.shape[0] > 1:
            d_statistic = d_statistic.sum(0, keepdims=True)
        if statistic.shape[1] == 1 and dout.shape[1] > 1:
            d_statistic = d_statistic.sum(1, keepdims=True)
        return d_statistic, ops.zeros_like(x)  # x gives only its shape


_EXPAND_AS = _ExpandAs()


def expand_as(statistic, x):
    """statistic (N or 1) x (C or 1) x 1 x 1 broadcast to x's shape, as its own operation; see the module
    docstring."""
    return _EXPAND_AS(statistic, x)


@ops.constexpr
def _ones_column(size):
    return Tensor(np.ones((size, 1), np.float32))


class InstanceNorm2d(nn.Cell):
    """torch.nn.InstanceNorm2d(num_features, affine=...): no running statistics, biased variance, eps 1e-5."""

    def __init__(self, num_features, eps=1e-5, affine=False):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.affine = affine
        if affine:  # torch's names and initial values
            self.weight = Parameter(Tensor(np.ones(num_features, np.float32)), name='weight')
            self.bias = Parameter(Tensor(np.zeros(num_features, np.float32)), name='bias')

    def construct(self, x):
        centered = x - expand_as(spatial_mean(x), x)
        var = spatial_mean(centered * centered)  # biased, as torch's instance norm
        # Times 1 / sqrt, as torch's kernel; not ops.rsqrt or 1 / x (Reciprocal), neither exports to ONNX, and
        # not a power of -0.5, which rounds differently enough to move the 1x2-map norms of photo2cartoon.
        inverse_std = ops.ones_like(var) / ops.sqrt(var + self.eps)
        if not self.affine:
            return centered * expand_as(inverse_std, x)
        scale = inverse_std * self.weight.reshape(1, -1, 1, 1)
        return centered * expand_as(scale, x) + expand_as(self.bias.reshape(1, -1, 1, 1), x)


class TrainModeBatchNorm2d(nn.BatchNorm2d):
    """A BatchNorm2d that normalises with the statistics of the batch in inference mode too (biased variance,
    over N, H and W) and leaves its moving statistics alone: DeepFaceDrawing's feature decoders at inference.
    Same parameters as nn.BatchNorm2d, so the conversion rules apply."""

    def construct(self, x):
        n, c, h, w = x.shape
        per_channel = x.transpose(1, 0, 2, 3).reshape(1, c, n * h, w)  # (N, H) folded: one spatial_mean
        mean = spatial_mean(per_channel)
        centered = per_channel - expand_as(mean, per_channel)
        var = spatial_mean(centered * centered)
        scale = self.gamma.reshape(1, -1, 1, 1) / ops.sqrt(var + self.eps)
        out = centered * expand_as(scale, per_channel) + expand_as(self.beta.reshape(1, -1, 1, 1), per_channel)
        return out.reshape(c, n, h, w).transpose(1, 0, 2, 3)


class ConvTranspose2d(nn.Conv2dTranspose):
    """torch.nn.ConvTranspose2d(in, out, kernel_size, stride, padding, output_padding, bias), weight (in, out, k, k)
    as torch's. MindSpore's own padded form is wrong on CPU with output_padding 1 (up to 9.4 off in
    DeepFaceDrawing), and its transposed-conv kernel runs 4x slower than torch's on large maps.

    Where the output is exactly `stride` times the input (kernel + output_padding - 2 * padding = stride, e.g.
    DeepFaceDrawing's k3 p1 op1 and k4 p1 op0) and the input is large, it is computed as a sub-pixel
    convolution: output pixel (s*m + a, s*j + b) takes input rows m + d through kernel row a + padding - s*d,
    so one ordinary convolution with each phase's sub-kernel stacked as s*s*out channels, then a pixel shuffle,
    gives every phase at once (2-3x faster from 64x64 inputs up; below, rearranging the weights costs more
    than it saves). Otherwise: computed unpadded, then cropped by `padding` at the start and
    `padding - output_padding` at the end."""

    SUB_PIXEL_MIN_PIXELS = 64 * 64

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, bias=True):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, pad_mode='valid', has_bias=bias)
        self.kernel = kernel_size
        self.step = stride
        self.crop = padding
        self.extra = output_padding
        self.sub_pixel = kernel_size + output_padding - 2 * padding == stride
        if output_padding > padding and not self.sub_pixel:
            raise ValueError('ConvTranspose2d: output_padding above padding is implemented only where the output '
                             'is stride times the input')
        if self.sub_pixel:
            # input offsets d whose kernel row a + padding - s*d lies in the kernel, for some phase a
            low = min(-((kernel_size - 1 - a - padding) // stride) for a in range(stride))
            high = max((a + padding) // stride for a in range(stride))
            self.pads = (-low, high)
            taps = [[a + padding - stride * d for d in range(low, high + 1)] for a in range(stride)]
            # kernel rows to gather per (phase, tap); index `kernel_size` is a zero row
            self.taps = Tensor(np.array([t if 0 <= t < kernel_size else kernel_size for row in taps for t in row],
                                        np.int32))
            self.phase_conv = ops.Conv2D(out_channels * stride * stride, high - low + 1, pad_mode='pad',
                                         pad=(-low, high, -low, high))

    def construct(self, x):
        if self.sub_pixel and x.shape[2] * x.shape[3] >= self.SUB_PIXEL_MIN_PIXELS:
            return self._sub_pixel(x)
        out = super().construct(x)
        h = (x.shape[2] - 1) * self.step - 2 * self.crop + self.kernel + self.extra
        w = (x.shape[3] - 1) * self.step - 2 * self.crop + self.kernel + self.extra
        return out[:, :, self.crop:self.crop + h, self.crop:self.crop + w]

    def _sub_pixel(self, x):
        s, (before, after) = self.step, self.pads
        taps = after + before + 1
        c_in, c_out, k = self.weight.shape[0], self.weight.shape[1], self.kernel
        weight = self.weight.transpose(1, 0, 2, 3)  # (out, in, k, k)
        weight = ops.concat([weight, ops.zeros((c_out, c_in, 1, k), weight.dtype)], 2)
        weight = ops.concat([weight, ops.zeros((c_out, c_in, k + 1, 1), weight.dtype)], 3)
        weight = ops.gather(ops.gather(weight, self.taps, 2), self.taps, 3)  # (out, in, s*taps, s*taps)
        weight = weight.reshape(c_out, c_in, s, taps, s, taps).transpose(0, 2, 4, 1, 3, 5)
        weight = weight.reshape(c_out * s * s, c_in, taps, taps)
        out = pixel_shuffle(self.phase_conv(x, weight), s)
        if self.has_bias:
            out = out + expand_as(self.bias.reshape(1, -1, 1, 1), out)
        return out


class Tanh(nn.Cell):
    """tanh accurate to float32 rounding: evaluated in float64 on CPU, whose float32 kernel approximates."""

    def __init__(self):
        super().__init__()
        self.in_float64 = ms.get_context('device_target') == 'CPU'

    def construct(self, x):
        if self.in_float64:
            return ops.tanh(x.astype(ms.float64)).astype(x.dtype)
        return ops.tanh(x)


class _UpsampleNearest(nn.Cell):
    """`upsample_nearest`, whose gradient (the sums of scale x scale blocks) is an average pool times the
    block's size (exact for a power-of-two scale): MindSpore's CPU ReduceSum over the two block axes took
    twice as long."""

    def construct(self, x, scale_factor):
        n, c, h, w = x.shape
        x = ops.broadcast_to(x.reshape(n, c, h, 1, w, 1), (n, c, h, scale_factor, w, scale_factor))
        return x.reshape(n, c, h * scale_factor, w * scale_factor)

    def bprop(self, x, scale_factor, out, dout):
        return ops.avg_pool2d(dout, scale_factor, scale_factor) * scale_factor ** 2, 0


_UPSAMPLE_NEAREST = _UpsampleNearest()


def upsample_nearest(x, scale_factor=2):
    """Nearest-neighbour upsampling by an integer factor: each pixel repeated scale x scale times."""
    return _UPSAMPLE_NEAREST(x, scale_factor)


class Upsample(nn.Cell):
    """torch.nn.Upsample(scale_factor=k) for integer k, in its default 'nearest' mode."""

    def __init__(self, scale_factor, mode='nearest'):
        super().__init__()
        if mode != 'nearest' or int(scale_factor) != scale_factor:
            raise ValueError('only nearest upsampling by an integer factor is implemented, got '
                             f'mode={mode!r}, scale_factor={scale_factor!r}')
        self.scale_factor = int(scale_factor)

    def construct(self, x):
        return upsample_nearest(x, self.scale_factor)


def resize_bilinear(x, size):
    """torch.nn.functional.interpolate(x, size, mode='bilinear', align_corners=False)."""
    if _exporting():  # the same weights, as two matrix products
        return ops.matmul(ops.matmul(_bilinear_matrix(size[0], x.shape[2]), x),
                          _bilinear_matrix(size[1], x.shape[3]).T)
    return ops.interpolate(x, size=tuple(size), mode='bilinear', align_corners=False)


@ops.constexpr
def _bilinear_matrix(out_size, in_size):
    """(out_size, in_size) weights of 1-D linear interpolation with half-pixel centres, as torch's."""
    source = np.maximum((np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5, 0)
    low = np.minimum(np.floor(source).astype(np.int64), in_size - 1)
    high = np.minimum(low + 1, in_size - 1)
    fraction = source - low
    matrix = np.zeros((out_size, in_size), np.float32)
    matrix[np.arange(out_size), low] += 1 - fraction
    matrix[np.arange(out_size), high] += fraction
    return Tensor(matrix)


def avg_pool2x2(x):
    """torch.nn.functional.avg_pool2d(x, 2): means of 2x2 blocks, an odd last row or column dropped."""
    if _exporting():
        n, c, h, w = x.shape
        x = x[:, :, :h // 2 * 2, :w // 2 * 2]
        return x.reshape(n, c, h // 2, 2, w // 2, 2).mean((3, 5))
    return ops.avg_pool2d(x, 2, 2)


def global_avg_pool(x):
    """adaptive_avg_pool2d(x, 1)."""
    return x.mean((2, 3), keep_dims=True)


def global_max_pool(x):
    """adaptive_max_pool2d(x, 1)."""
    return x.max(axis=(2, 3), keepdims=True)


def _l2_normalize(v, eps):
    """torch.nn.functional.normalize(v, dim=0, eps=eps) for a vector."""
    return v / ops.maximum(ops.sqrt((v * v).sum()), eps)


class _SpectralNorm(nn.Cell):
    """A layer whose weight is `weight_orig / sigma`, sigma its largest singular value (Miyato et al., 2018).

    As torch.nn.utils.spectral_norm (one power iteration, eps 1e-12): in training mode every forward first
    refines `weight_u`, `weight_v` by one power iteration and stores them; in eval mode the stored vectors
    are used as they are. sigma = u . (W v), with u and v treated as constants by autograd.
    """

    def __init__(self, weight, bias, eps=1e-12):
        """`weight`, `bias`: the wrapped layer's parameters (copied; bias may be None)."""
        super().__init__()
        self.eps = eps
        out_features = weight.shape[0]
        in_features = int(np.prod(weight.shape[1:]))
        self.bias = Parameter(Tensor(bias.asnumpy()), name='bias') if bias is not None else None
        self.weight_orig = Parameter(Tensor(weight.asnumpy()), name='weight_orig')
        # torch starts u and v as normalised Gaussian noise; a checkpoint overwrites them. numpy's global
        # generator, which ms.set_seed (train.py's --seed) seeds: a run is repeatable from its seed.
        rng = np.random
        self.weight_u = Parameter(Tensor(_unit(rng.standard_normal(out_features))), name='weight_u',
                                  requires_grad=False)
        self.weight_v = Parameter(Tensor(_unit(rng.standard_normal(in_features))), name='weight_v',
                                  requires_grad=False)

    def normalized_weight(self):
        weight_mat = self.weight_orig.reshape(self.weight_orig.shape[0], -1)
        u = self.weight_u
        v = self.weight_v
        if self.training:
            # u^T W rather than W^T u: the same sums, without MindSpore's slow CPU transpose (73 ms for the
            # 1024 x 8192 matrix of photo2cartoon's global discriminator)
            v = _l2_normalize(ops.matmul(u.reshape(1, -1), weight_mat).reshape(-1), self.eps)
            u = _l2_normalize(ops.mv(weight_mat, v), self.eps)
            u = ops.depend(u, ops.assign(self.weight_u, u))
            v = ops.depend(v, ops.assign(self.weight_v, v))
        u = ops.stop_gradient(u)
        v = ops.stop_gradient(v)
        sigma = (u * ops.mv(weight_mat, v)).sum()
        return _DIVIDE_BY_SCALAR(self.weight_orig, sigma)


class _DivideByScalar(nn.Cell):
    """x / s for a scalar s, whose gradient with respect to s is one dot product: autodiff's form (full-size
    products, a negation and a ReduceSum over all of x) took 190 ms per backward of the 1024 x 512 x 4 x 4
    spectral-norm weight on this CPU."""

    def construct(self, x, s):
        return x / s

    def bprop(self, x, s, out, dout):
        dot = ops.matmul(dout.reshape(1, -1), out.reshape(-1, 1)).reshape(())
        return dout / s, -dot / s


_DIVIDE_BY_SCALAR = _DivideByScalar()


def _unit(vector):
    return (vector / np.linalg.norm(vector)).astype(np.float32)


class SpectralNormConv2d(_SpectralNorm):
    def __init__(self, conv, eps=1e-12):
        super().__init__(conv.weight, conv.bias if conv.has_bias else None, eps)
        self.stride = conv.stride
        top, _, left, _ = conv.padding  # (top, bottom, left, right), symmetric for our Conv2d
        self.padding = (top, left)
        self.dilation = conv.dilation
        self.groups = conv.group

    def construct(self, x):
        return ops.conv2d(x, self.normalized_weight(), self.bias, stride=self.stride, pad_mode='pad',
                          padding=self.padding, dilation=self.dilation, groups=self.groups)


class SpectralNormConv1d(_SpectralNorm):
    def __init__(self, conv, eps=1e-12):
        super().__init__(conv.weight, conv.bias, eps)

    def construct(self, x):
        return _pointwise(x, self.normalized_weight(), self.bias)


class SpectralNormLinear(_SpectralNorm):
    def __init__(self, dense, eps=1e-12):
        super().__init__(dense.weight, dense.bias if dense.has_bias else None, eps)

    def construct(self, x):
        return ops.dense(x, self.normalized_weight(), self.bias)


def spectral_norm(layer, eps=1e-12):
    """torch.nn.utils.spectral_norm(layer) for a `Conv2d`, `Conv1d` or `Linear`: a new cell holding its weights."""
    if isinstance(layer, nn.Conv2d):
        return SpectralNormConv2d(layer, eps)
    if isinstance(layer, Conv1d):
        return SpectralNormConv1d(layer, eps)
    if isinstance(layer, nn.Dense):
        return SpectralNormLinear(layer, eps)
    raise TypeError(f'spectral_norm supports Conv2d and Linear, not {type(layer).__name__}')


__all__ = ['Conv1d', 'Conv2d', 'ConvTranspose2d', 'Linear', 'MaxPool2d', 'AvgPool2d', 'ReflectionPad2d',
           'ReplicationPad2d', 'PixelShuffle', 'pixel_shuffle', 'InstanceNorm2d', 'TrainModeBatchNorm2d', 'Tanh',
           'Upsample', 'upsample_nearest', 'resize_bilinear', 'resize_nearest', 'global_avg_pool', 'global_max_pool',
           'spatial_sum', 'spatial_mean', 'expand_as', 'spectral_norm', 'SpectralNormConv1d', 'SpectralNormConv2d',
           'SpectralNormLinear']
