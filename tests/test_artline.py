"""ArtLine: fastai exports read without running them, the converter from an export and from a .pth, the
pipeline (MindSpore against torch_ref), test.py end to end, export, and bad input.

(The golden cases artline_96 / artline_odd run with every other family in test_golden.py, through a plain
.pth; here they also go through fastai-export pickles in both of torch's file formats.)
"""
import os
import pickle
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from apps import export
from cli import load_script, run_script, save_torch
from fastai_like import save_export
from golden import load_case, relative_error
from ms_models.inference import Predictor
from preprocess.line_art import LineArt
from torch_ref.artline import DynamicUnet
from torch_ref.inference import Predictor as TorchPredictor
from weights_convert import ConversionError, convert, load_network
from weights_convert.checkpoints import read_torch
from weights_convert.fastai_export import read_fastai_export


def _golden_model(name='artline_96'):
    """torch_ref's DynamicUnet with a golden case's weights: balanced BatchNorm statistics keep its output
    inside (-3, 3) on photos too, so comparisons of it mean something."""
    model = DynamicUnet().eval()
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in load_case(name).state_dict.items()})
    return model


@pytest.fixture(scope='module')
def model():
    return _golden_model()


@pytest.fixture(scope='module')
def weights(model, tmp_path_factory):
    """The same weights as a fastai export (zip and legacy formats) and as a plain state dict."""
    folder = tmp_path_factory.mktemp('artline')
    return {'export': str(save_export(model, folder / 'ArtLine_650.pkl', size=96)),
            'export_legacy': str(save_export(model, folder / 'legacy.pkl', legacy=True, size=96)),
            'pth': str(save_torch({k: v.numpy() for k, v in model.state_dict().items()}, folder / 'artline.pth'))}


@pytest.fixture(scope='module')
def photo(tmp_path_factory):
    """A real, non-square photo (scikit-image's astronaut, cropped to 300 x 236)."""
    path = tmp_path_factory.mktemp('photo') / 'astronaut.jpg'
    Image.fromarray(data.astronaut()[40:340, 130:366]).save(path, quality=95)
    return str(path)


@pytest.mark.parametrize('source', ['export', 'export_legacy'])
def test_export_is_read_without_fastai_and_equals_the_model(model, weights, source):
    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        torch.load(weights[source], weights_only=True)  # what users hit with plain torch
    found = read_fastai_export(weights[source])
    expected = model.state_dict()
    assert list(found.state_dict) == list(expected) and len(expected) == 323
    assert all(np.array_equal(found.state_dict[k], expected[k].numpy()) for k in expected)
    assert found.model_class == 'fastai.vision.models.unet.DynamicUnet' and found.size == (96, 96)
    np.testing.assert_allclose(found.mean, [0.485, 0.456, 0.406], rtol=1e-6)
    np.testing.assert_allclose(found.std, [0.229, 0.224, 0.225], rtol=1e-6)


@pytest.mark.parametrize('name, source', [('artline_96', 'export'), ('artline_96', 'export_legacy'),
                                          ('artline_odd', 'export'), ('artline_odd', 'pth')])
def test_converted_weights_reproduce_fastai(name, source, tmp_path):
    """Both golden cases (fastai 1.0.61's own outputs) through the converter: export or .pth -> .ckpt -> MindSpore."""
    case = load_case(name)
    src = tmp_path / ('ArtLine.pkl' if source.startswith('export') else 'artline.pth')
    if source.startswith('export'):
        save_export(_golden_model(name), src, legacy=source == 'export_legacy')
    else:
        save_torch(case.state_dict, src)
    (network,) = convert(str(src), str(tmp_path / 'artline.ckpt'))
    assert network.arch == 'artline' and network.n_parameters == 41_405_589
    net = load_network(network.path).net
    err = relative_error(net(ms.Tensor(case.x)).asnumpy(), case.outputs[0])
    assert err <= case.tol, f'{name} from {source}: error {err:.3g} > tol {case.tol:.3g}'


def test_ckpt_converts_back_to_a_pth_that_torch_ref_loads(weights, model, tmp_path):
    convert(weights['export'], str(tmp_path / 'artline.ckpt'))
    convert(str(tmp_path / 'artline.ckpt'), str(tmp_path / 'back.pth'))
    back = torch.load(tmp_path / 'back.pth', weights_only=True)
    fresh = DynamicUnet()
    fresh.load_state_dict(back, strict=True)
    assert all(torch.equal(back[k], v) for k, v in model.state_dict().items() if 'num_batches' not in k)


class _Reduce:
    """An object that pickles as `function(*args)`: what an attack puts in a checkpoint."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _attacks(folder):
    marker = folder / 'CODE_RAN'
    command = f'touch {marker}'
    import builtins
    calls = {'os.system': _Reduce(os.system, command), 'subprocess.Popen': _Reduce(subprocess.Popen, command.split()),
             'eval': _Reduce(builtins.eval, f'__import__("os").system("{command}")'),
             'exec': _Reduce(builtins.exec, f'import os; os.system("{command}")')}
    files = {}
    for name, call in calls.items():
        files[f'{name}, plain pickle'] = folder / f'{name}.pickle'
        with open(files[f'{name}, plain pickle'], 'wb') as f:
            pickle.dump({'model': call}, f)
        files[f'{name}, torch zip'] = folder / f'{name}.zip.pkl'
        torch.save({'model': call, 'data': {}}, files[f'{name}, torch zip'])
        files[f'{name}, torch legacy'] = folder / f'{name}.legacy.pkl'
        torch.save({'model': call}, files[f'{name}, torch legacy'], _use_new_zipfile_serialization=False)
    return marker, files


def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    marker, files = _attacks(tmp_path)
    for what, path in files.items():
        with pytest.raises(ConversionError, match='refused to load') as error:
            read_torch(str(path))
        assert str(path) in str(error.value), what
    assert not marker.exists()


def test_an_unknown_callable_is_never_called(tmp_path):
    """Names off the refusal list become inert placeholders: zipfile.ZipFile would create the file if called."""
    import zipfile
    marker = tmp_path / 'CREATED.zip'
    torch.save({'model': _Reduce(zipfile.ZipFile, str(marker), 'w')}, tmp_path / 'odd.pkl')
    with pytest.raises(ConversionError, match='not a plain PyTorch weights checkpoint'):
        read_torch(str(tmp_path / 'odd.pkl'))
    assert not marker.exists()


def test_converter_cli_refuses_an_attack_in_one_line(tmp_path):
    marker, files = _attacks(tmp_path)
    result = subprocess.run([sys.executable, '-m', 'weights_convert', str(files['os.system, torch zip']),
                             str(tmp_path / 'out.ckpt')], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and result.stderr.startswith('error: ') and result.stderr.count('\n') == 1
    assert 'refused to load' in result.stderr and not (tmp_path / 'out.ckpt').exists() and not marker.exists()


def test_mindspore_pipeline_equals_torch_ref_pipeline(model, weights, photo):
    """test.py's pipeline on a real photo: within 1 grey level on 99.9% of pixels, at the photo's size."""
    image = np.asarray(Image.open(photo).convert('RGB'))
    net = load_network(weights['pth']).net
    ours = LineArt(Predictor(net), size=160)(image)
    theirs = LineArt(TorchPredictor(model), size=160)(image)
    assert ours.shape == theirs.shape == image.shape
    assert np.mean(np.abs(ours.astype(int) - theirs.astype(int)) <= 1) >= 0.999
    assert ours.std() > 5  # a real drawing, not a saturated page


def test_test_py_draws_at_the_photos_size(weights, photo, tmp_path):
    """From the fastai export (converted once, the .ckpt cached beside it), with its size as the default."""
    out = tmp_path / 'lines.png'
    result = run_script('test', '--model', 'artline', '--photo_path', photo, '--save_path', out,
                        '--weights', weights['export'], '--quiet')
    assert result.returncode == 0, result.stderr
    assert Image.open(out).size == Image.open(photo).size
    assert os.path.exists(weights['export'][:-len('.pkl')] + '.ckpt')
    args = load_script('test').parse_args(['--model', 'artline', '--photo_path', photo, '--save_path', str(out),
                                           '--weights', weights['export']])
    assert load_script('test').artline_size(args) == 96  # the export's training size


def test_test_py_on_a_video(weights, tmp_path):
    from preprocess.video import open_video, video_writer
    clip = tmp_path / 'clip.avi'
    with video_writer(str(clip), 10, (72, 54)) as write:
        for i in range(3):
            write(np.roll(data.astronaut()[:54 * 4:4, :72 * 4:4], 5 * i, axis=1))
    result = run_script('test', '--model', 'artline', '--video_path', clip, '--save_path', tmp_path / 'lines.avi',
                        '--weights', weights['pth'], '--size', 64, '--quiet')
    assert result.returncode == 0, result.stderr
    info = open_video(str(tmp_path / 'lines.avi'))
    assert info.size == (72, 54) and info.count == 3


@pytest.mark.parametrize('file_format', ['MINDIR', 'ONNX'])
def test_export_of_real_scale_weights_agrees(weights, tmp_path, file_format):
    net = load_network(weights['pth']).net
    out = tmp_path / f'artline.{file_format.lower()}'
    worst = export.export(net, str(out), file_format, (1, 3, 66, 98), ('lines',))
    assert worst <= 1 and os.listdir(tmp_path) == [out.name]
    x = np.random.default_rng(0).uniform(-2, 2, (1, 3, 66, 98)).astype(np.float32)
    (lines,) = export._run_exported(str(out), file_format, x)
    assert lines.shape == (1, 3, 66, 98) and lines.std() > 0.01  # not saturated: the check compared real values


@pytest.mark.parametrize('args, message', [
    (['--size', '5'], '--size 5: give the longer side'),
    (['--weights', 'U2NETP'], 'holds a u2netp'),
    (['--weights', 'missing.pkl'], 'missing.pkl: no such weights file'),
])
def test_bad_input_is_one_line(weights, photo, tmp_path, args, message):
    u2netp = tmp_path / 'u2netp.pth'
    from cli import made_up_weights
    save_torch(made_up_weights('u2netp', seed=1), u2netp)
    args = [str(u2netp) if a == 'U2NETP' else a for a in args]
    result = run_script('test', '--model', 'artline', '--photo_path', photo, '--save_path', tmp_path / 'x.png',
                        *([] if '--weights' in args else ['--weights', weights['pth']]), *args)
    assert result.returncode == 1 and result.stderr.startswith('error: ') and message in result.stderr, result.stderr
    assert 'Traceback' not in result.stderr and not (tmp_path / 'x.png').exists()
