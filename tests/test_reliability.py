"""Nothing lost, nothing half-written: inputs never overwritten, Ctrl-C and SIGTERM mid-write, full disks,
a replaced source under a stale cache, and every bad argument said in one line before the frameworks load.
"""
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest
from PIL import Image
from skimage import data

from cli import ROOT, made_up_weights, run_script, save_torch
from core.files import OutputError
from weights_convert import convert, load_network


@pytest.fixture(scope='module')
def u2netp(tmp_path_factory):
    return str(save_torch(made_up_weights('u2netp', seed=3), tmp_path_factory.mktemp('w') / 'u2netp.pth'))


def _photo(path, size=(96, 80)):
    Image.fromarray(data.astronaut()[::4, ::4][:size[1], :size[0]]).save(path)
    return path


def _one_line_error(result, message, status=1):
    assert result.returncode == status, result.stdout + result.stderr
    assert result.stderr.startswith('error: ') and result.stderr.count('\n') == 1, result.stderr
    assert message in result.stderr and 'Traceback' not in result.stderr, result.stderr


# ---- outputs never overwrite inputs, nor each other ----

def test_conversion_onto_its_own_source_is_refused(u2netp, tmp_path):
    convert(u2netp, str(tmp_path / 'u.ckpt'))
    before = (tmp_path / 'u.ckpt').read_bytes()
    result = subprocess.run([sys.executable, '-m', 'weights_convert', str(tmp_path / 'u.ckpt'), str(tmp_path / 'u.ckpt')],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    _one_line_error(result, 'is the input itself')
    result = subprocess.run([sys.executable, '-m', 'weights_convert', str(tmp_path / 'u.ckpt'),
                             str(tmp_path / 'other.ckpt')], capture_output=True, text=True, cwd=ROOT, timeout=300)
    _one_line_error(result, 'give a .pt or .pth name')
    assert (tmp_path / 'u.ckpt').read_bytes() == before and not (tmp_path / 'other.ckpt').exists()


@pytest.mark.parametrize('where', ['same file', 'same folder'])
def test_test_py_never_overwrites_its_input(u2netp, tmp_path, where):
    photos = tmp_path / 'photos'
    photos.mkdir()
    photo = _photo(photos / 'a.png')
    before = photo.read_bytes()
    target = photo if where == 'same file' else photos
    result = run_script('test', '--model', 'u2netp', '--photo_path', target, '--save_path', target,
                        '--weights', u2netp)
    _one_line_error(result, 'would overwrite the input')
    assert photo.read_bytes() == before and os.listdir(photos) == ['a.png']


def test_two_inputs_for_one_output_name_are_refused(u2netp, tmp_path):
    photos = tmp_path / 'photos'
    photos.mkdir()
    _photo(photos / 'a.jpg')
    _photo(photos / 'a.png')
    result = run_script('test', '--model', 'u2netp', '--photo_path', photos, '--save_path', tmp_path / 'out',
                        '--weights', u2netp)
    _one_line_error(result, 'would both be written to')
    assert 'a.jpg' in result.stderr and 'a.png' in result.stderr and not (tmp_path / 'out').exists()


def test_skip_existing_continues_a_folder_run(u2netp, tmp_path):
    photos, out = tmp_path / 'photos', tmp_path / 'out'
    photos.mkdir()
    for name in ('a', 'b', 'c'):
        _photo(photos / f'{name}.png')
    out.mkdir()
    (out / 'a.png').write_bytes(b'kept as it is')
    result = run_script('test', '--model', 'u2netp', '--photo_path', photos, '--save_path', out, '--weights', u2netp,
                        '--skip_existing', '--quiet')
    assert result.returncode == 0, result.stderr
    assert (out / 'a.png').read_bytes() == b'kept as it is'
    assert Image.open(out / 'b.png').size == (96, 80) and (out / 'c.png').exists()


# ---- Ctrl-C and SIGTERM in the middle of a write ----

def _interrupt(kind, folder, signum):
    """Run the harness's paused write, signal it there; (status, stderr)."""
    process = subprocess.Popen([sys.executable, str(ROOT / 'tests' / 'interrupt_harness.py'), kind, str(folder)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        for line in process.stdout:
            if line.strip() == 'PAUSED':
                break
        process.send_signal(signum)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    return process.returncode, err


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize('kind', ['image', 'video', 'conversion', 'checkpoint'])
def test_a_signal_mid_write_leaves_nothing_behind(kind, signum, u2netp, tmp_path):
    shutil.copy(u2netp, tmp_path / 'u2netp.pth')
    status, err = _interrupt(kind, tmp_path, signum)
    assert status == 128 + signum, err
    assert err.strip().splitlines()[-1] == ('interrupted' if signum == signal.SIGINT else 'terminated'), err
    assert 'Traceback' not in err
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob('*'))
    if kind == 'checkpoint':  # the step before is whole and is what --resume takes
        assert left == ['model', 'model/step_0000001', 'model/step_0000001/disGA.ckpt',
                        'model/step_0000001/genA2B.ckpt', 'model/step_0000001/train_state.ckpt', 'u2netp.pth'], left
        import mindspore as ms

        from apps.training_checkpoints import load_latest, saved_steps
        from ms_models.ugatit_train import UGATIT
        assert saved_steps(str(tmp_path / 'model')) == [1]
        nets = UGATIT(ch=4, img_size=64, light=True, n_dis=5)
        state = [ms.Parameter(ms.Tensor(np.zeros(2, np.float32)), name='step')]
        assert load_latest(str(tmp_path / 'model'), {n: getattr(nets, n) for n in ('genA2B', 'disGA')}, state) == 1
    else:
        assert left == ['u2netp.pth'], left


def test_train_py_says_how_to_resume_when_interrupted(monkeypatch, capsys):
    train = __import__('cli').load_script('train')

    def interrupted(argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, '_train', interrupted)
    assert train.main([]) == 130
    assert capsys.readouterr().err == ('interrupted: the last complete checkpoint is intact; --resume True '
                                       'continues from it\n')


# ---- a full disk: one line, nothing left, non-zero ----

@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs (root only: mount needs it)."""
    folder = tmp_path / 'disk'
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip('mounting a small tmpfs needs root')
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', f'tmpfs-{uuid.uuid4().hex[:8]}', str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f'cannot mount a tmpfs here: {mounted.stderr.strip()}')
    try:
        yield folder
    finally:
        subprocess.run(['umount', str(folder)], check=True)


def _fill(folder, leave=0):
    with open(folder / 'filler', 'wb') as f:
        f.write(b'\0' * (shutil.disk_usage(folder).free - leave))


def test_full_disk_image(small_disk):
    from preprocess.images import save_image
    noise = np.random.default_rng(0).integers(0, 256, (800, 800, 3), dtype=np.uint8)  # ~1.9 MB as PNG
    with pytest.raises(OutputError, match=f'no space left on {small_disk}'):
        save_image(noise, str(small_disk / 'out.png'))
    assert os.listdir(small_disk) == []


def test_full_disk_video(small_disk):
    from preprocess.video import video_writer
    _fill(small_disk, leave=20_000)
    rng = np.random.default_rng(0)
    with pytest.raises(OutputError, match='no space left on'):
        with video_writer(str(small_disk / 'out.avi'), 10, (160, 120)) as write:
            for _ in range(30):
                write(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
    assert os.listdir(small_disk) == ['filler']


def test_full_disk_checkpoint(small_disk, u2netp):
    result = subprocess.run([sys.executable, '-m', 'weights_convert', u2netp, str(small_disk / 'u.ckpt')],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    _one_line_error(result, 'no space left on')
    assert os.listdir(small_disk) == []
    back = small_disk.parent / 'u.ckpt'
    convert(u2netp, str(back))
    result = subprocess.run([sys.executable, '-m', 'weights_convert', str(back), str(small_disk / 'u.pth')],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    _one_line_error(result, 'no space left on')
    assert os.listdir(small_disk) == []


@pytest.mark.parametrize('file_format', ['MINDIR', 'ONNX'])
def test_full_disk_export(small_disk, u2netp, file_format, capsys):
    from apps import export
    status = export.main(['--arch', 'u2netp', '--weights', u2netp, '--format', file_format, '--size', '32', '32',
                          '--out', str(small_disk / f'u.{file_format.lower()}')])
    err = capsys.readouterr().err
    assert status == 1 and err.startswith('error: no space left on') and err.count('\n') == 1, err
    assert os.listdir(small_disk) == []


# ---- a replaced source is never served from a stale cache ----

def test_cache_follows_the_contents_not_the_modification_time(tmp_path, caplog):
    source = tmp_path / 'u2netp.pth'
    save_torch(made_up_weights('u2netp', seed=1), source)
    first = load_network(str(source), cache=True)
    assert (tmp_path / 'u2netp.ckpt').exists()
    save_torch(made_up_weights('u2netp', seed=2), source)
    os.utime(source, (time.time() - 3600, time.time() - 3600))  # older than the cache, as cp -p leaves it
    caplog.set_level('WARNING')
    second = load_network(str(source), cache=True)
    name = 'stage1.rebnconvin.conv_s1.weight'
    expected = made_up_weights('u2netp', seed=2)[name]
    got = dict(second.net.parameters_and_names())[name].asnumpy()
    assert np.array_equal(got, expected) and not np.array_equal(dict(first.net.parameters_and_names())[name].asnumpy(),
                                                                expected)
    assert 'converted from other weights' in caplog.text
    third = load_network(str(source), cache=True)  # now from the refreshed cache
    assert np.array_equal(dict(third.net.parameters_and_names())[name].asnumpy(), expected)


# ---- bad arguments: one line each, naming the flag, before the frameworks load ----

@pytest.mark.parametrize('args, message', [
    (['--n_dis', '4'], '--n_dis 4: give 5 to 8'),
    (['--n_dis', '0'], '--n_dis 0: give 5 to 8'),
    (['--img_size', '24'], '--img_size 24: give a multiple of 16'),
    (['--batch_size', '0'], '--batch_size 0: give 1 or more'),
    (['--ch', '0'], '--ch 0: give 1 or more'),
    (['--save_freq', '0'], '--save_freq 0: give 1 or more'),
    (['--print_freq', '0'], '--print_freq 0: give 1 or more'),
    (['--iteration', '0'], '--iteration 0: give 1 or more'),
    (['--data_root', 'NOWHERE'], 'NOWHERE/trainA: no such folder'),
    (['--faceid_weights', 'missing.pth'], '--faceid_weights missing.pth: no such file'),
    (['--faceid_weight', '1'], 'pass --faceid_weights PATH (or put it in ./models/); or train without the face-ID'),
])
def test_train_py_bad_value_is_one_line_and_fast(tmp_path, args, message):
    for folder in ('trainA', 'trainB'):
        (tmp_path / 'data' / folder).mkdir(parents=True)
    args = ['--data_root', tmp_path / 'data', '--result_dir', tmp_path / 'results'] + \
        [tmp_path / 'nowhere' if a == 'NOWHERE' else a for a in args]
    message = message.replace('NOWHERE', str(tmp_path / 'nowhere'))
    start = time.perf_counter()
    result = run_script('train', *args)
    assert time.perf_counter() - start < 2.0, 'a bad value must be rejected before MindSpore loads'
    _one_line_error(result, message)
    assert not (tmp_path / 'results').exists()


@pytest.mark.parametrize('case', ['parity json', 'segmenter weights', 'empty folder', 'unwritable output', 'transparent jpg',
                                  'image as video', 'folder to one file', 'export extension'])
def test_misleading_or_late_messages(case, u2netp, tmp_path):
    photo = _photo(tmp_path / 'face.png')
    (tmp_path / 'empty').mkdir()
    cases = {
        'parity json': (None, 'is not a writable folder'),
        'segmenter weights': (['--photo_path', photo, '--save_path', tmp_path / 'o.png', '--weights', u2netp,
                               '--segmenter', 'u2net_human_seg'], 'pass --segmenter_weights PATH'),
        'empty folder': (['--model', 'u2netp', '--photo_path', tmp_path / 'empty', '--save_path', tmp_path / 'o',
                          '--weights', u2netp], 'no images in this folder'),
        'unwritable output': (['--model', 'u2netp', '--photo_path', photo, '--save_path', photo / 'sub' / 'o.png',
                               '--weights', u2netp], 'is not a writable folder'),
        'transparent jpg': (['--model', 'u2netp', '--photo_path', photo, '--save_path', tmp_path / 'o.jpg',
                             '--background', 'transparent', '--weights', u2netp], 'needs a .png'),
        'image as video': (['--model', 'u2netp', '--video_path', photo, '--save_path', tmp_path / 'o.mp4',
                            '--weights', u2netp], 'is an image: pass it as --photo_path'),
        'folder to one file': (['--model', 'u2netp', '--photo_path', tmp_path, '--save_path', tmp_path / 'one.png',
                                '--weights', u2netp], 'must be a folder too'),
    }
    start = time.perf_counter()
    if case == 'parity json':
        result = subprocess.run([sys.executable, '-m', 'parity', '--arch', 'u2netp', '--json',
                                 str(photo / 'report.json')], capture_output=True, text=True, cwd=ROOT, timeout=300)
        message = cases[case][1]
    elif case == 'export extension':
        result = subprocess.run([sys.executable, '-m', 'apps.export', '--arch', 'u2netp', '--weights', u2netp,
                                 '--format', 'ONNX', '--out', str(tmp_path / 'u.mindir')], capture_output=True,
                                text=True, cwd=ROOT, timeout=300)
        message = 'a ONNX file is named *.onnx'
    else:
        args, message = cases[case]
        result = run_script('test', *args)
    elapsed = time.perf_counter() - start
    _one_line_error(result, message, status=2 if case == 'parity json' else 1)  # parity: 2 for bad input
    assert elapsed < 2.0, f'{case}: reported after {elapsed:.1f} s, not before the models load'
    assert not (tmp_path / 'one.png').exists() and not (tmp_path / 'o').exists()


def test_a_single_photo_failure_is_said_once(u2netp, tmp_path):
    (tmp_path / 'bad.png').write_bytes(b'not an image')
    result = run_script('test', '--model', 'u2netp', '--photo_path', tmp_path / 'bad.png', '--save_path',
                        tmp_path / 'o.png', '--weights', u2netp)
    assert result.returncode == 1 and result.stderr.count('not a readable image') == 1, result.stderr


def test_faces_found_but_not_drawn_are_said(caplog):
    from preprocess.cartoon import AlignedFace, Cartoonizer

    class TwoFacesOneDrawn:
        faces_found = 2

        def __call__(self, image, all_faces=False):
            return [AlignedFace(np.full((64, 64, 4), 255, np.uint8), np.zeros((68, 2)), 0.0)]

    caplog.set_level('INFO')
    Cartoonizer(lambda x: [np.zeros((1, 3, 256, 256), np.float32)], TwoFacesOneDrawn())(np.zeros((8, 8, 3), np.uint8))
    assert 'found 2 faces, drew 1: the largest; --all_faces draws every one' in caplog.text
