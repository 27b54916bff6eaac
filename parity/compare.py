"""Layer-by-layer comparison of torch_ref and ms_models: weights, every layer's output, buffers, gradients.

Forward hooks on both sides record each layer's output in execution order; the two trees mirror each other,
so layer names line up (a layer called twice gets `name#2`). The float64 reference's outputs are kept (as
float32, ample for tolerances of 1e-5 and up); the float32 reference and MindSpore are compared with them
as they run, so memory holds one copy of the activations.
"""
import copy
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field

import ms_models  # noqa: F401  (before MindSpore: fast oneDNN kernels)
import mindspore as ms
import numpy as np
import torch

from .metrics import errors, reference_error, relative_error, tolerance

WEIGHT_TOLERANCE = 1e-6  # a conversion is exact; anything above rounding is a different weight


@dataclass
class Row:
    """One compared tensor: a layer output, a model output, a buffer or a gradient."""
    name: str
    shape: tuple
    max_abs: float
    rel_err: float
    cosine: float
    ref_err: float  # the float32 reference's own error against float64
    tol: float
    noise_only: bool = False  # the true values are below float32 resolution (see metrics)

    @property
    def ok(self):
        return self.rel_err <= self.tol  # NaN is not ok


@dataclass
class WeightCheck:
    paired: int = 0
    differing: list = field(default_factory=list)  # (torch key, mindspore name, why)
    torch_only: list = field(default_factory=list)
    ms_only: list = field(default_factory=list)

    @property
    def ok(self):
        return not (self.differing or self.torch_only or self.ms_only)


@dataclass
class Report:
    arch: str
    config: dict
    source: str
    input_shape: tuple
    mode: str
    weights: WeightCheck
    layers: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    buffers: list = field(default_factory=list)
    grads: list = field(default_factory=list)
    missing_layers: list = field(default_factory=list)  # torch layers MindSpore never ran
    ms_only_layers: list = field(default_factory=list)  # MindSpore layers with no torch twin: a broken mirror
    unjudged: list = field(default_factory=list)  # rows shown for information only

    def failures(self):
        rows = self.layers + self.outputs + self.buffers + self.grads
        return [row for row in rows if not row.ok]

    @property
    def ok(self):
        return self.weights.ok and not self.failures() and not self.missing_layers and not self.ms_only_layers

    def first_failure(self):
        """The first failing layer in execution order, else the first failing output, buffer or gradient."""
        failures = self.failures()
        return failures[0] if failures else None

    def to_dict(self):
        return {**asdict(self), 'ok': self.ok,
                'first_failure': self.first_failure().name if self.first_failure() else None}


def compare_weights(twins):
    check = WeightCheck()
    ms_params = {name: p.asnumpy() for name, p in twins.ms.parameters_and_names()}
    for key, value in twins.torch_state.items():
        if key in twins.dropped:
            continue
        ms_name = twins.mapping.get(key)
        if ms_name is None or ms_name not in ms_params:
            check.torch_only.append(key)
            continue
        check.paired += 1
        if ms_params[ms_name].shape != value.shape:
            check.differing.append((key, ms_name, f'shape {value.shape} vs {ms_params[ms_name].shape}'))
        elif relative_error(ms_params[ms_name], value) > WEIGHT_TOLERANCE:
            check.differing.append((key, ms_name, f'max abs difference {errors(ms_params[ms_name], value)[0]:.3g}'))
    check.ms_only = sorted(set(ms_params) - set(twins.mapping.values()))
    return check


def _flat(output):
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in _flat(item)]
    return [output]


class _Recorder:
    """Calls `sink(name, arrays)` for every layer output, naming repeated calls name#2, name#3, ..."""

    def __init__(self, sink):
        self.sink = sink
        self.calls = {}

    def __call__(self, name, arrays):
        self.calls[name] = self.calls.get(name, 0) + 1
        self.sink(name if self.calls[name] == 1 else f'{name}#{self.calls[name]}', arrays)


def _run_torch(model, x, sink):
    recorder = _Recorder(sink)

    def hook(name):
        # outputs are copied at once: a following in-place ReLU would otherwise rewrite them
        return lambda module, inputs, output: recorder(name, [t.detach().numpy().copy() for t in _flat(output)])

    handles = [m.register_forward_hook(hook(name)) for name, m in model.named_modules() if name]
    try:
        with torch.no_grad():
            dtype = next(model.parameters()).dtype
            outputs = _flat(model(torch.from_numpy(x).to(dtype)))
    finally:
        for handle in handles:
            handle.remove()
    return [o.numpy() for o in outputs]


def _mirrored_cells(net):
    """(name, cell) of every cell that should have a torch twin: all but the inner cells of the shared
    layers in ms_models/layers.py, which build in several cells what torch does in one."""
    internal = tuple(f'{name}.' for name, cell in net.cells_and_names()
                     if name and type(cell).__module__ == 'ms_models.layers')
    return [(name, cell) for name, cell in net.cells_and_names() if name and not name.startswith(internal)]


def _run_mindspore(net, x, sink):
    recorder = _Recorder(sink)

    def hook(name):
        return lambda cell, inputs, output: recorder(name, [t.asnumpy() for t in _flat(output)])

    handles = [cell.register_forward_hook(hook(name)) for name, cell in _mirrored_cells(net)]
    try:
        outputs = _flat(net(ms.Tensor(x)))
    finally:
        for handle in handles:
            handle.remove()
    return [o.asnumpy() for o in outputs]


def _row(name, value, truth, reference_error, gradient=False):
    """MindSpore's `value` against the float64 `truth`, bounded by the float32 reference's own error."""
    ref_err, noise_only = reference_error
    max_abs, rel, cos = errors(value, truth)
    return Row(name, tuple(truth.shape), max_abs, rel, cos, ref_err, tolerance(ref_err, gradient, noise_only),
               noise_only)


def one_ulp_up(x):
    """`x` moved by one float32 step: a second, equally valid float32 input, for a second noise sample."""
    return np.nextafter(x, np.float32(np.inf)).astype(np.float32)


def one_ulp_down(x):
    return np.nextafter(x, np.float32(-np.inf)).astype(np.float32)


# Five equally valid float32 inputs: as given, and moved by one and two float32 steps either side.
NUDGES = (np.asarray, one_ulp_up, one_ulp_down, lambda x: one_ulp_up(one_ulp_up(x)),
          lambda x: one_ulp_down(one_ulp_down(x)))


def _worse(a, b):
    """The larger of two (relative error, noise only) reference errors."""
    return max(a[0], b[0]), a[1] or b[1]


@contextmanager
def _unchanged(model):
    """Run `model` without keeping what the run does to its buffers (BatchNorm, spectral norm)."""
    state = copy.deepcopy(model.state_dict())
    try:
        yield
    finally:
        model.load_state_dict(state)


def compare_forward(twins, x, report):
    """Every layer's output, the model outputs and (training mode) the updated buffers, against float64."""
    truth = {}
    truth_outputs = _run_torch(twins.torch64, x.astype(np.float64),
                               lambda name, arrays: truth.__setitem__(name, [a.astype(np.float32) for a in arrays]))
    references = {}  # the float32 reference's noise: its largest error over the NUDGES of x

    def reference_sink(name, arrays):
        if name in truth:
            samples = [reference_error(a, t) for a, t in zip(arrays, truth[name])]
            references[name] = list(map(_worse, references[name], samples)) if name in references else samples

    output_noise = None
    for nudge in NUDGES[::-1]:  # x itself last: its run leaves the buffers compare_buffers reads
        with _unchanged(twins.torch32) if nudge is not np.asarray else nullcontext():
            samples = [reference_error(ref, t) for ref, t in
                       zip(_run_torch(twins.torch32, nudge(x), reference_sink), truth_outputs)]
        output_noise = list(map(_worse, output_noise, samples)) if output_noise else samples
    ms_layers = {}

    def ms_sink(name, arrays):
        if name in truth:
            ms_layers[name] = [_row(name, a, t, r) for a, t, r in zip(arrays, truth[name], references[name])]
        else:
            report.ms_only_layers.append(name)

    ms_outputs = _run_mindspore(twins.ms, x, ms_sink)
    for name in truth:
        if name not in ms_layers:
            report.missing_layers.append(name)
            continue
        report.layers.extend(ms_layers[name])
    for i, (value, t, noise) in enumerate(zip(ms_outputs, truth_outputs, output_noise)):
        report.outputs.append(_row(f'output[{i}]', value, t, noise))
    if len(ms_outputs) != len(truth_outputs):
        report.missing_layers.append(f'outputs: MindSpore gives {len(ms_outputs)}, torch {len(truth_outputs)}')
    report.buffers = compare_buffers(twins) if report.mode == 'train' else []


def compare_buffers(twins):
    """BatchNorm running statistics and spectral-norm vectors as the last forward left them."""
    ms_params = {name: p for name, p in twins.ms.parameters_and_names()}
    buffers32, buffers64 = dict(twins.torch32.named_buffers()), dict(twins.torch64.named_buffers())
    return [_row(key, ms_params[twins.mapping[key]].asnumpy(), buffers64[key].numpy(),
                 reference_error(buffers32[key].numpy(), buffers64[key].numpy()))
            for key in buffers64 if key in twins.mapping]


def compare_grads(twins, x):
    """Gradients of sum(every output) w.r.t. every trainable parameter.

    The float32 reference runs on each of the five NUDGES of `x`, and its largest error is its noise:
    backward passes through instance norms of small maps amplify rounding chaotically, and one sample of
    that noise can be luckily small (measured: 7e-5 against 7e-3 one step away; photo2cartoon's light
    generator on an AMD EPYC: 0.0036 and 0.0024 on x and one step up, 0.16 one step down, MindSpore 0.16).
    """
    def torch_grads(model, inputs):
        model.zero_grad()
        sum(o.sum() for o in _flat(model(inputs))).backward()
        # a parameter the forward never used (photo2cartoon's idle ConvBlock4) gets no gradient: zero
        return {name: (p.grad.numpy().copy() if p.grad is not None else np.zeros(tuple(p.shape)))
                for name, p in model.named_parameters()}

    grads64 = torch_grads(twins.torch64, torch.from_numpy(x).double())
    noise = {}
    for nudge in NUDGES:
        with _unchanged(twins.torch32):
            grads32 = torch_grads(twins.torch32, torch.from_numpy(nudge(x)))
        for key, truth in grads64.items():
            sample = reference_error(grads32[key], truth)
            noise[key] = _worse(noise[key], sample) if key in noise else sample

    params = twins.ms.trainable_params()
    grad_fn = ms.value_and_grad(lambda inputs: sum(o.sum() for o in _flat(twins.ms(inputs))), None, params)
    _, ms_grads = grad_fn(ms.Tensor(x))
    ms_by_name = {p.name: g.asnumpy() for p, g in zip(params, ms_grads)}
    return [_row(key, ms_by_name[twins.mapping[key]], grads64[key], noise[key], gradient=True) for key in grads64]


class _State:
    """A snapshot of both sides' weights and buffers, to run the gradient pass from the same start."""

    def __init__(self, twins):
        self.twins = twins
        self.torch32 = copy.deepcopy(twins.torch32.state_dict())
        self.torch64 = copy.deepcopy(twins.torch64.state_dict())
        self.ms = {name: p.asnumpy().copy() for name, p in twins.ms.parameters_and_names()}

    def restore(self):
        self.twins.torch32.load_state_dict(self.torch32)
        self.twins.torch64.load_state_dict(self.torch64)
        for name, p in self.twins.ms.parameters_and_names():
            p.set_data(ms.Tensor(self.ms[name]))


def run_parity(twins, x, mode='eval', grad=False):
    """The full comparison; MindSpore runs in PyNative mode, where its forward hooks work."""
    previous = ms.get_context('mode')
    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        twins.set_train(mode == 'train')
        report = Report(twins.arch, twins.config, twins.source, tuple(x.shape), mode, compare_weights(twins))
        start = _State(twins) if grad else None
        compare_forward(twins, x, report)
        if grad:
            start.restore()
            report.grads = compare_grads(twins, x)
        return report
    finally:
        ms.set_context(mode=previous)
