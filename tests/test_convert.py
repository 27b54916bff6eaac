"""weights_convert: layouts, detection, the completeness gate, the way back, and bad input."""
import os
import pickle
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest
import torch

from core.registry import ARCHS, detect_arch
from core.synthetic import spec_of, synthetic_state_dict
from weights_convert import ConversionError, checkpoints, convert, load_network
from weights_convert.__main__ import main

SMALL = {
    'p2c_generator': {'ngf': 8, 'img_size': 32, 'light': True},
    'p2c_generator_full': {'ngf': 8, 'img_size': 32, 'light': False},
    'ugatit_generator': {'input_nc': 3, 'output_nc': 3, 'ngf': 8, 'n_blocks': 3, 'img_size': 32, 'light': True},
    'ugatit_generator_full': {'input_nc': 1, 'output_nc': 2, 'ngf': 4, 'n_blocks': 1, 'img_size': 32,
                              'light': False},
    'discriminator': {'input_nc': 3, 'ndf': 4, 'n_layers': 7},
    'discriminator_local': {'input_nc': 3, 'ndf': 4, 'n_layers': 5},
    'mobilefacenet': {'embedding_size': 128},
    'u2netp': {'in_ch': 3, 'out_ch': 1},
    'u2net': {'in_ch': 3, 'out_ch': 2},
    'dfd_encoder': {'image_size': 64, 'input_nc': 1, 'latent_dim': 512},
    'dfd_image_decoder': {'image_size': 64, 'output_nc': 1, 'latent_dim': 512},
    'dfd_feature_decoder': {'image_size': 96, 'output_nc': 32, 'latent_dim': 512},
    'dfd_generator': {'input_nc': 32, 'output_nc': 3, 'ngf': 4, 'n_downsampling': 3, 'n_blocks': 2},
}


def _arch(case):
    return case.replace('_full', '').replace('_local', '')


def torch_weights(arch, config, seed=0):
    """A state dict in the upstream layout (torch_ref's keys are upstream's; the golden tests check that)."""
    spec = spec_of(ARCHS[arch].build_torch(config).state_dict())
    return {k: torch.from_numpy(np.asarray(v)) for k, v in synthetic_state_dict(spec, seed).items()}


def assert_same_state(a, b):
    assert list(a) == list(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize('case', list(SMALL))
def test_detects_arch_and_config_and_round_trips(case, tmp_path):
    arch, config = _arch(case), SMALL[case]
    state = torch_weights(arch, config)
    assert detect_arch({k: tuple(v.shape) for k, v in state.items()}) == arch
    torch.save(state, tmp_path / 'w.pth')

    (network,) = convert(str(tmp_path / 'w.pth'), str(tmp_path / 'w.ckpt'))
    assert (network.arch, network.config) == (arch, {**config, **({'img_size': 256} if config.get('light') else {})})
    ckpt = ms.load_checkpoint(str(tmp_path / 'w.ckpt'))
    net = ARCHS[arch].build_mindspore(network.config)
    assert ms.load_param_into_net(net, ckpt) == ([], [])

    convert(str(tmp_path / 'w.ckpt'), str(tmp_path / 'back.pth'))
    back = torch.load(tmp_path / 'back.pth', weights_only=True)
    assert_same_state(back, state)
    ARCHS[arch].build_torch(network.config).load_state_dict(back, strict=True)


def test_batchnorm_and_prelu_are_renamed_by_cell_type(tmp_path):
    state = torch_weights('mobilefacenet', SMALL['mobilefacenet'])
    torch.save(state, tmp_path / 'm.pth')
    convert(str(tmp_path / 'm.pth'), str(tmp_path / 'm.ckpt'))
    ckpt = ms.load_checkpoint(str(tmp_path / 'm.ckpt'))
    assert np.array_equal(ckpt['conv1.bn.gamma'].asnumpy(), state['conv1.bn.weight'].numpy())
    assert np.array_equal(ckpt['conv1.bn.moving_variance'].asnumpy(), state['conv1.bn.running_var'].numpy())
    assert np.array_equal(ckpt['conv1.prelu.w'].asnumpy(), state['conv1.prelu.weight'].numpy())
    assert np.array_equal(ckpt['bn.beta'].asnumpy(), state['bn.bias'].numpy())  # BatchNorm1d
    assert not any('num_batches_tracked' in name for name in ckpt)


def test_lin_gamma_beta_keep_their_names(tmp_path):
    # photo2cartoon's LIN has parameters named gamma/beta that are NOT BatchNorm's.
    state = torch_weights('p2c_generator', SMALL['p2c_generator'])
    torch.save({'genA2B': state}, tmp_path / 'p.pt')
    convert(str(tmp_path / 'p.pt'), str(tmp_path / 'out'))
    ckpt = ms.load_checkpoint(str(tmp_path / 'out' / 'genA2B.ckpt'))
    assert np.array_equal(ckpt['UpBlock1.3.gamma'].asnumpy(), state['UpBlock1.3.gamma'].numpy())


def test_training_checkpoint_layout_both_ways(tmp_path):
    gen = SMALL['p2c_generator']
    full = {'genA2B': torch_weights('p2c_generator', gen, 1), 'genB2A': torch_weights('p2c_generator', gen, 2),
            'disGA': torch_weights('discriminator', SMALL['discriminator'], 3),
            'disLB': torch_weights('discriminator', SMALL['discriminator_local'], 4)}
    torch.save(full, tmp_path / 'photo2cartoon_weights.pt')
    networks = convert(str(tmp_path / 'photo2cartoon_weights.pt'), str(tmp_path / 'ckpts'))
    assert [n.name for n in networks] == ['genA2B', 'genB2A', 'disGA', 'disLB']
    assert sorted(os.listdir(tmp_path / 'ckpts')) == ['disGA.ckpt', 'disLB.ckpt', 'genA2B.ckpt', 'genB2A.ckpt']

    convert(str(tmp_path / 'ckpts'), str(tmp_path / 'back.pt'))
    back = torch.load(tmp_path / 'back.pt', weights_only=True)
    assert list(back) == list(full)
    for name in full:
        assert_same_state(back[name], full[name])


def test_load_network_from_each_source(tmp_path):
    gen = SMALL['p2c_generator']
    torch.save({'genA2B': torch_weights('p2c_generator', gen, 1), 'genB2A': torch_weights('p2c_generator', gen, 2)},
               tmp_path / 'p.pt')
    convert(str(tmp_path / 'p.pt'), str(tmp_path / 'ckpts'))
    x = ms.Tensor(np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32))

    outputs = [load_network(str(tmp_path / 'p.pt'), 'genB2A').net(x)[0].asnumpy(),
               load_network(str(tmp_path / 'ckpts'), 'genB2A').net(x)[0].asnumpy(),
               load_network(str(tmp_path / 'ckpts' / 'genB2A.ckpt')).net(x)[0].asnumpy()]
    assert np.array_equal(outputs[0], outputs[1]) and np.array_equal(outputs[0], outputs[2])
    with pytest.raises(ConversionError, match='holds genA2B, genB2A; choose one'):
        load_network(str(tmp_path / 'p.pt'))


def test_mindspore_checkpoint_reads_when_page_cache_fills_memory(tmp_path, monkeypatch):
    # CI's 24 GB machine, after GBs of test files: 285 MB "free" (the rest page cache), 20 GB available.
    # MindSpore judges a .ckpt against the free memory and refused the DFD generator's 560 MB.
    state = torch_weights('u2netp', SMALL['u2netp'])
    torch.save(state, tmp_path / 'w.pth')
    (network,) = convert(str(tmp_path / 'w.pth'), str(tmp_path / 'w.ckpt'))
    size = os.path.getsize(network.path)
    sysconf = os.sysconf
    monkeypatch.setattr(os, 'sysconf', lambda name: size // 8192 if name == 'SC_AVPHYS_PAGES' else sysconf(name))
    with pytest.raises(ValueError, match='exceeds current available memory'):
        ms.load_checkpoint(network.path)  # the refusal, reproduced

    assert load_network(network.path).arch == 'u2netp'  # strict: every parameter read

    monkeypatch.setattr(checkpoints, 'available_memory_bytes', lambda: size // 2)  # a real shortage still fails
    with pytest.raises(ConversionError, match='exceeds current available memory'):
        checkpoints.read_mindspore(network.path)


def test_checkpoint_without_batchnorm_counters_is_accepted(tmp_path):
    # checkpoints written before torch 0.4.1 have no num_batches_tracked
    state = {k: v for k, v in torch_weights('u2netp', SMALL['u2netp']).items() if 'num_batches' not in k}
    torch.save(state, tmp_path / 'old.pth')
    (network,) = convert(str(tmp_path / 'old.pth'), str(tmp_path / 'old.ckpt'))
    assert network.arch == 'u2netp'


@pytest.mark.parametrize('edit, message', [
    (lambda s: s.pop('stage1.rebnconvin.bn_s1.running_mean'), 'missing stage1.rebnconvin.bn_s1.running_mean'),
    (lambda s: s.__setitem__('extra.weight', torch.zeros(1)), 'unexpected extra.weight'),
    (lambda s: s.__setitem__('side1.bias', torch.zeros(2)), r'side1.bias has shape \(2,\), u2netp expects \(1,\)'),
])
def test_completeness_gate_names_the_key(edit, message, tmp_path):
    state = torch_weights('u2netp', SMALL['u2netp'])
    edit(state)
    torch.save(state, tmp_path / 'bad.pth')
    with pytest.raises(ConversionError, match=message):
        convert(str(tmp_path / 'bad.pth'), str(tmp_path / 'bad.ckpt'))
    assert not (tmp_path / 'bad.ckpt').exists()


class _RunsCode:
    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


def _bad_inputs(folder):
    """name -> (src file, extra args, expected message)."""
    torch.save(torch_weights('u2netp', SMALL['u2netp']), folder / 'u2netp.pth')
    good = (folder / 'u2netp.pth').read_bytes()
    (folder / 'truncated.pth').write_bytes(good[:len(good) // 2])
    (folder / 'text.pth').write_text('not a checkpoint')
    _RunsCode.marker = str(folder / 'CODE_RAN')
    with open(folder / 'evil.pth', 'wb') as f:
        pickle.dump({'weight': _RunsCode()}, f)
    torch.save({'conv1.weight': torch.zeros(8, 3, 7, 7), 'fc.weight': torch.zeros(10, 8)}, folder / 'resnet.pth')
    torch.save({'genA2B': torch_weights('p2c_generator', SMALL['p2c_generator'])}, folder / 'p2c.pt')
    return {
        'missing': ('nothing_here.pth', [], 'no such file'),
        'not a checkpoint': ('text.pth', [], 'not a plain PyTorch weights checkpoint'),
        'pickle that runs code': ('evil.pth', [], 'refused to load'),
        'another architecture': ('resnet.pth', [], 'is not any known architecture'),
        'truncated': ('truncated.pth', [], 'corrupt or truncated'),
        'wrong --arch': ('u2netp.pth', ['--arch', 'u2net'], 'holds a u2netp'),
        'wrong --arch, training checkpoint': ('p2c.pt', ['--arch', 'ugatit_generator'], 'holds a p2c_generator'),
        'unwritable output': ('u2netp.pth', ['DST=/proc/no/such.ckpt'], 'cannot write /proc/no/such.ckpt'),
    }


def test_bad_input_gives_one_line_and_no_output(tmp_path, capsys):
    inputs = tmp_path / 'in'
    inputs.mkdir()
    for name, (src, extra, message) in _bad_inputs(inputs).items():
        out = tmp_path / 'out'
        dst = next((a[4:] for a in extra if a.startswith('DST=')), str(out / 'result.ckpt'))
        args = [str(inputs / src), dst] + [a for a in extra if not a.startswith('DST=')]
        assert main(args) == 1, name
        err = capsys.readouterr().err
        assert err.startswith('error: ') and err.count('\n') == 1 and message in err, (name, err)
        assert not out.exists() or os.listdir(out) == [], (name, os.listdir(out))
    assert not (inputs / 'CODE_RAN').exists()


def test_cli_end_to_end_in_a_fresh_process(tmp_path):
    torch.save(torch_weights('mobilefacenet', SMALL['mobilefacenet']), tmp_path / 'model_mobilefacenet.pth')
    (tmp_path / 'broken.pth').write_bytes(b'\x80\x04garbage')
    ok = subprocess.run([sys.executable, '-m', 'weights_convert', str(tmp_path / 'model_mobilefacenet.pth'),
                         str(tmp_path / 'mfn.ckpt')], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert 'mobilefacenet (embedding_size=128)' in ok.stdout and (tmp_path / 'mfn.ckpt').exists()

    bad = subprocess.run([sys.executable, '-m', 'weights_convert', str(tmp_path / 'broken.pth'),
                          str(tmp_path / 'x.ckpt')], capture_output=True, text=True)
    assert bad.returncode == 1 and 'Traceback' not in bad.stderr and bad.stderr.startswith('error: ')
    assert not (tmp_path / 'x.ckpt').exists()

    helped = subprocess.run([sys.executable, '-m', 'weights_convert', '--help'], capture_output=True, text=True)
    assert helped.returncode == 0 and 'examples:' in helped.stdout
