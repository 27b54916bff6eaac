"""The parity tool FINDS real faults: each test plants one on the MindSpore side and expects the tool to
name the first layer where it shows. (That every architecture agrees when nothing is planted is
tests/test_models.py.)
"""
import json
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest
import torch
from mindspore import ops

import ms_models.layers
import ms_models.u2net
import ms_models.ugatit
from cli import made_up_weights, save_torch
from parity.compare import run_parity
from parity.report import verdict
from parity.twins import build_twins
from weights_convert import convert

UGATIT_SMALL = {'input_nc': 3, 'output_nc': 3, 'ngf': 8, 'n_blocks': 2, 'img_size': 32, 'light': True}


def _x(shape):
    return np.random.default_rng(3).standard_normal(shape).astype(np.float32)


def _first_failure(report):
    assert not report.ok
    return report.first_failure().name


def test_finds_a_scaled_conv_weight():
    twins = build_twins('u2netp')
    weight = dict(twins.ms.parameters_and_names())['stage2.rebnconv1.conv_s1.weight']
    weight.set_data(weight * 1.01)
    report = run_parity(twins, _x((2, 3, 64, 48)))
    assert _first_failure(report) == 'stage2.rebnconv1.conv_s1'
    assert [d[0] for d in report.weights.differing] == ['stage2.rebnconv1.conv_s1.weight']
    assert all(row.ok for row in report.layers[:report.layers.index(report.first_failure())])


def test_finds_a_biased_variance(monkeypatch):
    monkeypatch.setattr(ms_models.ugatit, '_unbiased_variance', lambda sum_of_squares, count: sum_of_squares / count)
    report = run_parity(build_twins('ugatit_generator', UGATIT_SMALL), _x((2, 3, 32, 32)))
    assert _first_failure(report) == 'UpBlock1_1.norm1'  # the first adaILN


def test_finds_a_biased_variance_in_photo2cartoon(monkeypatch):
    monkeypatch.setattr(ms_models.ugatit, '_unbiased_variance', lambda sum_of_squares, count: sum_of_squares / count)
    report = run_parity(build_twins('p2c_generator', {'ngf': 8, 'img_size': 64, 'light': True}), _x((1, 3, 64, 64)))
    assert _first_failure(report) == 'DecodeBlock1.norm1.norm'  # Soft-AdaLIN's adaLIN


def test_finds_bilinear_where_upstream_upsamples_nearest(monkeypatch):
    def bilinear(x, scale_factor=2):
        return ops.interpolate(x, size=(x.shape[2] * scale_factor, x.shape[3] * scale_factor), mode='bilinear')

    monkeypatch.setattr(ms_models.layers, 'upsample_nearest', bilinear)
    report = run_parity(build_twins('ugatit_generator', UGATIT_SMALL), _x((2, 3, 32, 32)))
    assert _first_failure(report) == 'UpBlock2.0'


def test_finds_a_resize_with_aligned_corners(monkeypatch):
    monkeypatch.setattr(ms_models.u2net, 'resize_bilinear',
                        lambda x, size: ops.interpolate(x, size=tuple(size), mode='bilinear', align_corners=True))
    report = run_parity(build_twins('u2netp'), _x((1, 3, 50, 35)))
    assert _first_failure(report) == 'stage1.rebnconv5d.conv_s1'  # the first layer fed by an upsampling


def test_finds_a_skipped_spectral_norm_update(monkeypatch):
    def without_update(self):
        weight_mat = self.weight_orig.reshape(self.weight_orig.shape[0], -1)
        sigma = (self.weight_u * ops.mv(weight_mat, self.weight_v)).sum()
        return self.weight_orig / sigma

    monkeypatch.setattr(ms_models.layers._SpectralNorm, 'normalized_weight', without_update)
    report = run_parity(build_twins('discriminator', {'input_nc': 3, 'ndf': 8, 'n_layers': 5}),
                        _x((2, 3, 32, 32)), mode='train')
    assert _first_failure(report) == 'model.1'  # the output already uses a stale sigma...
    assert not next(row for row in report.buffers if row.name == 'model.1.weight_u').ok  # ...and u never moves


def test_finds_a_gradient_that_ignores_the_stop_gradient(monkeypatch):
    def leaky(self):  # the training-mode power iteration, u and v left differentiable
        weight_mat = self.weight_orig.reshape(self.weight_orig.shape[0], -1)
        v = ms_models.layers._l2_normalize(ops.mv(weight_mat.T, self.weight_u), self.eps)
        u = ms_models.layers._l2_normalize(ops.mv(weight_mat, v), self.eps)
        u = ops.depend(u, ops.assign(self.weight_u, u))
        v = ops.depend(v, ops.assign(self.weight_v, v))
        return self.weight_orig / (u * ops.mv(weight_mat, v)).sum()

    monkeypatch.setattr(ms_models.layers._SpectralNorm, 'normalized_weight', leaky)
    report = run_parity(build_twins('discriminator', {'input_nc': 3, 'ndf': 8, 'n_layers': 5}),
                        _x((2, 3, 32, 32)), mode='train', grad=True)
    assert report.layers and all(row.ok for row in report.layers + report.outputs + report.buffers)
    assert _first_failure(report).endswith('weight_orig')  # only the backward is wrong


def test_fails_on_a_layer_with_no_torch_twin():
    """A MindSpore layer that torch_ref lacks breaks the mirror, even when it changes no number."""
    twins = build_twins('u2netp')
    net = twins.ms
    net.insert_child_to_cell('extra', ms.nn.Identity())
    forward = net.construct
    net.construct = lambda x: forward(net.extra(x))
    report = run_parity(twins, _x((1, 3, 48, 48)))
    assert report.layers and all(row.ok for row in report.layers + report.outputs)
    assert not report.ok and report.ms_only_layers == ['extra']
    assert 'layers only in MindSpore, first extra' in verdict(report)


def _parity(*args):
    return subprocess.run([sys.executable, '-m', 'parity', *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def test_cli_checks_a_conversion_made_elsewhere(tmp_path):
    state = made_up_weights('u2netp', seed=4)
    save_torch(state, tmp_path / 'u2netp.pth')
    convert(str(tmp_path / 'u2netp.pth'), str(tmp_path / 'good.ckpt'))
    ckpt = ms.load_checkpoint(str(tmp_path / 'good.ckpt'))
    ckpt['stage3.rebnconv2.conv_s1.weight'].set_data(ckpt['stage3.rebnconv2.conv_s1.weight'] * 1.01)
    ms.save_checkpoint([{'name': k, 'data': v} for k, v in ckpt.items()], str(tmp_path / 'bad.ckpt'))

    good = _parity('--torch-weights', tmp_path / 'u2netp.pth', '--ms-weights', tmp_path / 'good.ckpt',
                   '--size', 64, 48, '--quiet', '--plot', tmp_path / 'good.png')
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.startswith('OK    u2netp eval')

    bad = _parity('--torch-weights', tmp_path / 'u2netp.pth', '--ms-weights', tmp_path / 'bad.ckpt',
                  '--size', 64, 48, '--plot', tmp_path / 'bad.png')
    assert bad.returncode == 1
    assert red_pixels(tmp_path / 'good.png') == 0 and red_pixels(tmp_path / 'bad.png') > 100  # failures drawn red
    assert 'first mismatch at stage3.rebnconv2.conv_s1:' in bad.stdout
    assert 'weight differs: stage3.rebnconv2.conv_s1.weight' in bad.stdout
    assert 'stage3.rebnconv2.conv_s1 ' in bad.stdout.split('<-- first mismatch')[0].splitlines()[-1]


def red_pixels(path):
    """How many pixels of a --plot picture are matplotlib's red (the rows over tolerance, the first-failure mark)."""
    from PIL import Image
    with Image.open(path) as image:
        rgb = np.asarray(image.convert('RGB')).astype(int)
    assert rgb.shape[1] == 1200 and rgb.std() > 5
    return int((np.abs(rgb - (214, 39, 40)).sum(axis=2) < 60).sum())


def test_cli_json_train_and_grad(tmp_path):
    result = _parity('--arch', 'discriminator', '--config', 'ndf=8', 'n_layers=5', '--size', 32, 40, '--mode',
                     'train', '--grad', '--json', tmp_path / 'report.json', '--quiet')
    assert result.returncode == 0, result.stdout + result.stderr
    (report,) = json.loads((tmp_path / 'report.json').read_text())
    assert report['ok'] and report['mode'] == 'train' and report['config']['n_layers'] == 5
    assert {row['name'] for row in report['buffers']} >= {'model.1.weight_u', 'model.1.weight_v'}
    assert any(row['name'] == 'model.1.weight_orig' for row in report['grads'])


def test_cli_bad_input(tmp_path):
    (tmp_path / 'x.pth').write_text('not a checkpoint')
    result = _parity('--torch-weights', tmp_path / 'x.pth')
    assert result.returncode == 2 and result.stderr.startswith('error: ') and result.stderr.count('\n') == 1
    assert _parity().returncode == 2  # nothing to compare: usage error


def test_reads_a_photo_as_the_pipeline_does(tmp_path):
    from PIL import Image
    from skimage import data
    Image.fromarray(data.astronaut()).save(tmp_path / 'astronaut.png')
    torch_path = save_torch(made_up_weights('u2netp', seed=2), tmp_path / 'u2netp.pth')
    result = _parity('--torch-weights', torch_path, '--input', tmp_path / 'astronaut.png', '--size', 96, 64,
                     '--batch', 1, '--quiet')
    assert result.returncode == 0 and 'input 1x3x96x64' not in result.stdout  # quiet: verdict only
    assert result.stdout.startswith('OK    u2netp eval')


def test_finds_running_statistics_where_deepfacedrawing_normalises_with_the_batch(monkeypatch):
    """The feature decoders' batch-statistics BatchNorm, on a latent input (make_input's (N, 512) case)."""
    from mindspore import nn
    from parity.twins import make_input
    twins = build_twins('dfd_feature_decoder', {'image_size': 64, 'output_nc': 32, 'latent_dim': 512})
    x = make_input(twins, batch=1)
    assert x.shape == (1, 512) and run_parity(twins, x).ok
    monkeypatch.setattr(ms_models.layers.TrainModeBatchNorm2d, 'construct', nn.BatchNorm2d.construct)
    twins = build_twins('dfd_feature_decoder', {'image_size': 64, 'output_nc': 32, 'latent_dim': 512})
    assert _first_failure(run_parity(twins, x)) == 'conv.0.conv_block.2'
