"""The ports reproduce the ORIGINAL upstream code's outputs (tests/golden), through the upstream checkpoint.

For every case: the weights are saved in the upstream layout and format (torch.save; Jittor's .pkl for
DeepFaceDrawing), torch_ref loads what weights_convert reads of that file with strict=True, and
weights_convert turns it into a .ckpt that MindSpore loads with nothing left over; both must meet the case's
tolerance (4x the upstream code's own float32 noise) on every output.
"""
import mindspore as ms
import numpy as np
import pytest
import torch

from golden import CASES, load_case, relative_error
from core.registry import ARCHS
from weights_convert import convert
from weights_convert.checkpoints import read_mindspore, read_torch
from weights_convert.convert import pick_network


def _outputs(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


def _upstream_keys(model, case):
    """torch_ref's state-dict layout, less BatchNorm's batch counters where upstream (Jittor) has none."""
    return [[k, list(v.shape)] for k, v in model.state_dict().items()
            if case.framework != 'jittor' or not k.endswith('num_batches_tracked')]


@pytest.mark.parametrize('name', list(CASES))
def test_torch_ref_reproduces_upstream(name, tmp_path):
    case = load_case(name)
    model = ARCHS[case.arch].build_torch(case.config).eval()
    assert _upstream_keys(model, case) == [s[:2] for s in case.spec]
    path = case.save_upstream(tmp_path)
    networks = read_torch(str(path))
    state = networks[pick_network(networks, case.network, path)]
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}, strict=True)
    with torch.no_grad():
        outputs = _outputs(model(torch.from_numpy(case.x)))
    assert len(outputs) == len(case.outputs)
    for i, (out, ref) in enumerate(zip(outputs, case.outputs)):
        err = relative_error(out.numpy(), ref)
        assert err <= case.tol, f'{name} output {i}: error {err:.3g} > tol {case.tol:.3g}'


@pytest.mark.parametrize('name', list(CASES))
def test_ms_models_reproduce_upstream(name, ms_mode, tmp_path):
    case = load_case(name)
    source = case.save_upstream(tmp_path)
    (network,) = convert(str(source), str(tmp_path / 'converted'))
    assert network.arch == case.arch and network.config == {**network.config, **case.config}

    net = ARCHS[case.arch].build_mindspore(case.config)
    ckpt = {name: ms.Parameter(ms.Tensor(array), name=name) for name, array in read_mindspore(network.path).items()}
    params_not_loaded, ckpt_not_loaded = ms.load_param_into_net(net, ckpt)
    assert params_not_loaded == [] and ckpt_not_loaded == []
    net.set_train(False)

    outputs = _outputs(net(ms.Tensor(case.x)))
    assert len(outputs) == len(case.outputs)
    for i, (out, ref) in enumerate(zip(outputs, case.outputs)):
        err = relative_error(out.asnumpy(), ref)
        assert err <= case.tol, f'{name} output {i} ({ms_mode}): error {err:.3g} > tol {case.tol:.3g}'
