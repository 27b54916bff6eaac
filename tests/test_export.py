"""python -m apps.export: every architecture to MindIR and ONNX, loaded back and verified."""
import contextlib
import os

import numpy as np
import pytest
import torch

from cli import save_torch
from apps import export
from core.registry import ARCHS

SMALL = {  # architecture: (config of the made-up weights, export size or None, the first output's shape)
    'p2c_generator': ({'ngf': 8, 'img_size': 64, 'light': True}, (64, 64), (1, 3, 64, 64)),
    'ugatit_generator': ({'input_nc': 3, 'output_nc': 3, 'ngf': 8, 'n_blocks': 2, 'img_size': 64, 'light': True},
                         (64, 64), (1, 3, 64, 64)),
    'u2netp': (None, (75, 61), (1, 1, 75, 61)),  # odd: ceil-mode pools and resizes to odd skip sizes
    'u2net': (None, (64, 64), (1, 1, 64, 64)),
    'artline': (None, (66, 98), (1, 3, 66, 98)),  # not multiples of 32: the UnetBlocks' nearest resizes too
    'dfd_encoder': ({'image_size': 64, 'input_nc': 1, 'latent_dim': 512}, None, (1, 512)),
    'dfd_feature_decoder': ({'image_size': 64, 'output_nc': 32, 'latent_dim': 512}, None, (1, 32, 64, 64)),
    'dfd_generator': ({'input_nc': 32, 'output_nc': 3, 'ngf': 8, 'n_downsampling': 4, 'n_blocks': 2}, (48, 80),
                      (1, 3, 48, 80)),  # transposed convs with output_padding 1, cropped
}


@pytest.fixture(scope='module')
def weights(tmp_path_factory):
    """PyTorch's default initialisation, as a trained network's scale: the golden recipe's larger weights
    saturate the generators' tanh, where any two float32 backends differ by about the bound."""
    folder = tmp_path_factory.mktemp('weights')
    paths = {}
    for arch, (config, _, _) in SMALL.items():
        torch.manual_seed(0)
        state = ARCHS[arch].build_torch(config).state_dict()
        paths[arch] = str(save_torch({k: v.numpy() for k, v in state.items()}, folder / f'{arch}.pth'))
    return paths


@pytest.mark.parametrize('file_format', ['MINDIR', 'ONNX'])
@pytest.mark.parametrize('arch', list(SMALL))
def test_export_loads_back_and_agrees(weights, tmp_path, arch, file_format, caplog):
    caplog.set_level('INFO')
    config, size, out_shape = SMALL[arch]
    out = tmp_path / f'model.{file_format.lower()}'
    status = export.main(['--arch', arch, '--weights', weights[arch], '--format', file_format, '--out', str(out),
                          *(['--size', *map(str, size)] if size else [])])
    assert status == 0
    assert os.listdir(tmp_path) == [out.name]  # no staging left behind
    assert 'verified' in caplog.text
    outputs = export._run_exported(str(out), file_format,
                                   np.zeros(ARCHS[arch].input_shape(config, 1, size), np.float32))
    if file_format == 'ONNX':
        assert export.onnx_names(str(out)) == (['input'], list(ARCHS[arch].outputs))
        assert_pools_portable(out)
    assert len(outputs) == len(ARCHS[arch].outputs)
    assert outputs[0].shape == out_shape


def assert_pools_portable(path):
    """No auto_pad and no ceil mode in any pool: onnxruntime-web's WebGPU and WebGL backends refuse both."""
    import onnx
    for node in onnx.load(str(path)).graph.node:
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attributes.get('auto_pad', b'NOTSET') == b'NOTSET' and not attributes.get('ceil_mode'), node.name


def test_a_wrong_export_is_refused_and_not_kept(weights, tmp_path, monkeypatch):
    """Plant a fault in what the exported file returns: the verification must catch it."""
    run = export._run_exported
    monkeypatch.setattr(export, '_run_exported', lambda *a: [o * 1.001 for o in run(*a)])
    out = tmp_path / 'bad.mindir'
    with pytest.raises(export.ExportError, match='differs from the model'):
        export.export(__import__('weights_convert').load_network(weights['u2netp']).net, str(out),
                      'MINDIR', (1, 3, 64, 64))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('args, message', [
    (['--arch', 'resnet50'], 'invalid choice'),
    (['--arch', 'u2net', '--weights', 'missing.pth'], 'missing.pth'),
    (['--arch', 'u2net', '--weights', 'WRONG'], 'holds a p2c_generator'),
    (['--arch', 'u2netp', '--weights', 'U2NETP', '--out', '/nonexistent/dir/x.onnx'], 'cannot write there'),
    (['--arch', 'u2netp', '--weights', 'U2NETP', '--dynamic'], 'static shapes only'),
    (['--arch', 'dfd_feature_decoder', '--weights', 'DECODER', '--size', '64', '64'], 'takes a latent vector'),
    (['--arch', 'dfd_encoder', '--weights', 'ENCODER', '--size', '96', '96'], 'does not run on a 1x1x96x96 input'),
])
def test_bad_input(weights, tmp_path, capsys, args, message):
    args = [{'WRONG': weights['p2c_generator'], 'U2NETP': weights['u2netp'], 'DECODER': weights['dfd_feature_decoder'],
             'ENCODER': weights['dfd_encoder']}.get(a, a) for a in args]
    defaults = {'--weights': weights['u2netp'], '--format': 'ONNX', '--out': str(tmp_path / 'x.onnx')}
    for flag, value in defaults.items():
        if flag not in args:
            args += [flag, value]
    with pytest.raises(SystemExit) if 'invalid choice' in message else contextlib.nullcontext():
        assert export.main(args) == 1
    assert message in capsys.readouterr().err
    assert os.listdir(tmp_path) == []

