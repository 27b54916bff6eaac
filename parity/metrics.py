"""How far one array is from another, and how far it may be.

The truth is the PyTorch reference run in float64. A MindSpore float32 result may be as far from it as
4x the reference's own float32 result is (at least FLOOR): the rule the golden data uses, applied to each
layer. Deep random networks amplify rounding (instance norm over a 2x2 map, a flipped max-pool choice),
and the bound grows with it where it must, while real porting mistakes (a wrong variance, eps, resize
mode, padding, a missed rename) land 10x to 1000x above it.

Two cases get a wider factor, each for a measured reason:
- gradients (GRADIENT_FACTOR): MindSpore's CPU BatchNorm backward accumulates in a plainer order than
  PyTorch's, so its gradients carry up to ~11x PyTorch's rounding (MobileFaceNet, training mode);
- values that are nothing but rounding (NOISE_ONLY_FACTOR): the gradient of a conv bias feeding a
  training-mode BatchNorm is exactly zero and float32 returns noise in its place, whose size depends on the
  order of a sum over batch x height x width terms; two orders differed by up to 16x at 2x160x160.
A wrong backward (a missing stop-gradient, a wrong normalisation) lands orders of magnitude above either:
a value that should be zero comes out at the size of real gradients, 1e4x the noise.
"""
import numpy as np

NOISE_FACTOR = 4.0
GRADIENT_FACTOR = 16.0
NOISE_ONLY_FACTOR = 100.0
FLOOR = 1e-5


def errors(value, truth):
    """(max abs error, relative error, cosine) of `value` against `truth`, in one pass.

    The relative error is max|value - truth| / max(1, max|truth|); a shape mismatch gives inf, and NaN stays
    NaN (so it fails `<=`). float32 arithmetic is enough: differences of nearby floats are exact, and these
    numbers are read to two or three digits.
    """
    value, truth = np.asarray(value), np.asarray(truth)
    if value.shape != truth.shape:
        return float('inf'), float('inf'), float('nan')
    if truth.size == 0:
        return 0.0, 0.0, 1.0
    value, truth = value.astype(np.float32, copy=False), truth.astype(np.float32, copy=False)
    max_abs = float(np.abs(value - truth).max())
    rel = max_abs / max(1.0, float(np.abs(truth).max()))
    flat_value, flat_truth = value.ravel(), truth.ravel()
    norms = float(np.linalg.norm(flat_value)) * float(np.linalg.norm(flat_truth))
    cos = float(np.dot(flat_value, flat_truth)) / norms if norms > 0 else float(np.array_equal(value, truth))
    return max_abs, rel, cos


def relative_error(value, truth):
    return errors(value, truth)[1]


def reference_error(reference, truth):
    """(relative error, noise only) of the float32 reference against the float64 truth.

    Noise only: the reference's error is as large as the true values themselves.
    """
    max_abs, rel, _ = errors(reference, truth)
    return rel, bool(np.asarray(truth).size) and max_abs >= float(np.abs(np.asarray(truth)).max())


def tolerance(reference_error, gradient=False, noise_only=False):
    """The bound for MindSpore given the float32 reference's own error against float64."""
    factor = NOISE_ONLY_FACTOR if noise_only else GRADIENT_FACTOR if gradient else NOISE_FACTOR
    return max(factor * reference_error, FLOOR)
