"""DeepFaceDrawing: the projection against compiled libstdc++, the Jittor checkpoint reader, the Params/ converter
both ways, and the sketch -> face pipeline (MindSpore vs torch_ref) with its bad input.

The golden cases (tests/test_golden.py) prove the networks equal the Jittor originals; here the rest of
upstream's inference path is checked, on made-up weights in upstream's layout (tests/jittor_like.py).
"""
import hashlib
import os
import pickle
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from cli import ROOT, load_script, run_script
from core import manifold
from core.registry import DFD_GENDERS, DFD_PARTS
from jittor_like import jittor_bytes, save_jittor, write_params
from weights_convert import ConversionError, convert
from weights_convert.checkpoints import read_mindspore, read_torch
from weights_convert.deepfacedrawing import read_banks
from weights_convert.jittor_pickle import read_jittor

# ---- the projection: libstdc++'s nth_element and upstream's distance kernel, compiled here ----

UPSTREAM_KERNEL = r"""
#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>
// Reads n, d, k, a latent z (d floats) and a bank (n x d floats); writes the distances and the order in which
// std::nth_element leaves the (distance, index) pairs, computed as DeepFaceDrawing's get_inter kernel does.
int main() {
    int n, d, k;
    while (scanf("%d %d %d", &n, &d, &k) == 3) {
        std::vector<float> z(d), bank((size_t)n * d);
        for (auto &v : z) scanf("%a", &v);
        for (auto &v : bank) scanf("%a", &v);
        std::vector<std::pair<float, int>> id(n);
        for (int j = 0; j < n; j++) {
            auto dis = 0.0;
            for (int i = 0; i < d; i++) { auto dx = z[i] - bank[(size_t)j * d + i]; dis = dis + dx * dx; }
            id[j] = {dis, j};
        }
        std::nth_element(id.begin(), id.begin() + k, id.end());
        for (auto &p : id) printf("%a %d ", p.first, p.second);
        printf("\n");
    }
}
"""


@pytest.fixture(scope='module')
def upstream_kernel(tmp_path_factory):
    if shutil.which('g++') is None:
        pytest.skip('no g++ to compile the reference nth_element')
    folder = tmp_path_factory.mktemp('kernel')
    (folder / 'kernel.cpp').write_text(UPSTREAM_KERNEL)
    subprocess.run(['g++', '-O2', '-o', str(folder / 'kernel'), str(folder / 'kernel.cpp')], check=True)

    def run(cases):
        """[(z, bank, k)] -> [(distances by bank row, the order nth_element leaves the rows in)]."""
        text = ''.join(f'{len(bank)} {bank.shape[1]} {k}\n' + ' '.join(float(v).hex() for v in z) + '\n'
                       + ' '.join(float(v).hex() for v in bank.reshape(-1)) + '\n' for z, bank, k in cases)
        out = subprocess.run([str(folder / 'kernel')], input=text, capture_output=True, text=True, check=True)
        results = []
        for line in out.stdout.splitlines():
            fields = line.split()
            order = [int(v) for v in fields[1::2]]
            distances = np.empty(len(order), np.float32)
            distances[order] = [float.fromhex(v) for v in fields[0::2]]
            results.append((distances, order))
        return results
    return run


def _killer(n):
    """Musser's median-of-3 killer: drives introselect into its heap-select fallback."""
    a = np.zeros(n)
    half = n // 2
    for i in range(1, half + 1):
        if i % 2:
            a[i - 1], a[i] = i, half + i
        a[half + i - 1] = 2 * i
    return a


def _distance_cases(rng):
    """(z, bank, k): random banks, ties (repeated rows), few distinct values, sorted and adversarial orders."""
    cases = [(rng.standard_normal(512).astype(np.float32), (100 * rng.standard_normal((n, 512))).astype(np.float32),
              15) for n in (15, 16, 40, 1000)]
    tied = rng.standard_normal((30, 8)).astype(np.float32)
    cases.append((tied[0], np.repeat(tied, 7, axis=0), 15))
    for n in (4, 17, 64, 255, 1024):  # one-dimensional banks: the distances are the squares of these values
        for values in (rng.integers(0, 4, n), np.arange(n), np.arange(n)[::-1], _killer(n)):
            cases.append((np.zeros(1, np.float32), np.sqrt(values).astype(np.float32)[:, None], min(15, n - 1)))
    return cases


def test_distances_and_neighbour_order_are_upstream_kernels(upstream_kernel, rng):
    cases = _distance_cases(rng)
    for (z, bank, k), (distances, order) in zip(cases, upstream_kernel(cases)):
        assert np.array_equal(manifold.bank_distances(z, bank), distances)  # bit for bit
        pairs = list(zip(distances.tolist(), range(len(bank))))
        assert [i for _, i in manifold.nth_element(pairs, k)] == order, (len(bank), k)
        if bank.shape[1] == 512:
            assert manifold.neighbours(z, bank, k) == order[:k]


def test_the_heap_select_fallback_is_exercised(monkeypatch, rng):
    """The killer sequences above reach introselect's depth limit (so its heap path is compared too)."""
    calls = []
    real = manifold._heap_select
    monkeypatch.setattr(manifold, '_heap_select', lambda *args: calls.append(1) or real(*args))
    for _, bank, k in _distance_cases(rng):
        manifold.nth_element(list(zip(manifold.bank_distances(np.zeros(bank.shape[1], np.float32), bank).tolist(),
                                      range(len(bank)))), k)
    assert calls


def test_blend_weights_solve_the_penalised_least_squares(rng):
    """Upstream's normal equations = the least squares of z - A_0 on A_i - A_0 with a penalty row of tens."""
    bank = (100 * rng.standard_normal((60, 512))).astype(np.float32)
    z = (100 * rng.standard_normal(512)).astype(np.float32)
    idx = manifold.neighbours(z, bank)
    weights = manifold.blend_weights(z, bank, idx)
    rows = bank[idx].astype(np.float64)
    system = np.vstack([(rows[1:] - rows[0]).T, np.full((1, 14), 10.0)])
    target = np.concatenate([z - rows[0], [0.0]])
    expected = np.linalg.lstsq(system, target, rcond=None)[0]
    assert abs(weights.sum() - 1) < 1e-12
    np.testing.assert_allclose(weights[1:], expected, rtol=1e-6, atol=1e-9)
    # The first neighbour is special: the same neighbours in another order give another blend.
    other = manifold.blend_weights(z, bank, idx[::-1])
    assert np.abs(rows.T @ weights - rows[::-1].T @ other).max() > 1e-3


def test_project_blends_by_the_part_weight(rng):
    bank = (100 * rng.standard_normal((60, 512))).astype(np.float32)
    z = (100 * rng.standard_normal(512)).astype(np.float32)
    assert np.array_equal(manifold.project(z, bank, 0.0), z)
    full, half = manifold.project(z, bank, 1.0), manifold.project(z, bank, 0.5)
    np.testing.assert_allclose(half, (full.astype(np.float64) + z) / 2, rtol=1e-5, atol=1e-3)
    assert full.dtype == np.float32 and np.abs(full - z).max() > 1


# ---- Jittor checkpoints ----

def test_jittor_pickles_read_back_without_jittor(tmp_path, rng):
    state = {'conv.0.conv.weight': rng.standard_normal((4, 1, 3, 3)).astype(np.float32),
             'conv.0.bn.running_var': rng.uniform(0.5, 1.5, 4).astype(np.float32)}
    for trailer in (True, False):  # Jittor 1.3 appends a SHA-1 and a magic; older Jittor did not
        save_jittor(state, tmp_path / 'net.pkl', trailer)
        read = read_torch(str(tmp_path / 'net.pkl'))[None]
        assert list(read) == list(state) and all(np.array_equal(read[k], state[k]) for k in state)


def test_a_corrupt_jittor_file_is_one_error(tmp_path, rng):
    data = bytearray(jittor_bytes({'w': rng.standard_normal(64).astype(np.float32)}))
    data[100] ^= 0xFF
    (tmp_path / 'flipped.pkl').write_bytes(bytes(data))
    with pytest.raises(ConversionError, match='checksum'):
        read_jittor(str(tmp_path / 'flipped.pkl'))
    (tmp_path / 'cut.pkl').write_bytes(jittor_bytes({'w': np.ones(64, np.float32)}, trailer=False)[:50])
    with pytest.raises(ConversionError, match='not a readable Jittor checkpoint'):
        read_torch(str(tmp_path / 'cut.pkl'))


class _System:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_a_jittor_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / 'RAN'
    evil = pickle.dumps({'w': _System(f'touch {marker}')}, protocol=4)
    (tmp_path / 'latest_net_G.pkl').write_bytes(evil + hashlib.sha1(evil).digest() + b'HCAJSLHD')
    with pytest.raises(ConversionError, match='refused to load, the pickle names (posix|os).system'):
        read_torch(str(tmp_path / 'latest_net_G.pkl'))
    assert not marker.exists()


# ---- the Params/ folder ----

@pytest.fixture(scope='module')
def params(tmp_path_factory):
    """Upstream's Params/: made-up weights (a small generator), small banks, the eye1 image decoder only."""
    return write_params(str(tmp_path_factory.mktemp('dfd') / 'Params'), image_decoders=('eye1',))


@pytest.fixture(scope='module')
def converted(params):
    dst = os.path.join(os.path.dirname(params), 'deepfacedrawing')
    result = subprocess.run([sys.executable, '-m', 'weights_convert', params, dst], capture_output=True, text=True,
                            timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].endswith(': 12 networks')
    return dst


def test_params_convert_to_checkpoints_and_banks(params, converted):
    files = sorted(os.listdir(converted))
    assert files == sorted([f'{role}_{part.name}.ckpt' for role in ('encoder', 'feature_decoder')
                            for part in DFD_PARTS] + ['generator.ckpt', 'image_decoder_eye1.ckpt', 'banks.npz'])
    encoder = read_mindspore(os.path.join(converted, 'encoder_face.ckpt'))
    upstream = read_torch(os.path.join(params, 'AE_whole', 'latest_net_encoder_.pkl'))[None]
    assert np.array_equal(encoder['conv.0.bn.moving_variance'], upstream['conv.0.bn.running_var'])
    assert np.array_equal(encoder['fc_mu.0.weight'], upstream['fc_mu.0.weight'])
    banks = read_banks(converted)
    raw = np.fromfile(os.path.join(params, 'AE_whole', 'female_mouth_feature.bin'), np.float32).reshape(-1, 512)
    assert np.array_equal(banks['female_mouth'], raw) and len(banks) == 2 * len(DFD_PARTS)


def _convert(src, dst):
    """python -m weights_convert SRC DST, in its own process (its networks do not stay in this one's memory)."""
    result = subprocess.run([sys.executable, '-m', 'weights_convert', str(src), str(dst)], capture_output=True,
                            text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_converted_folder_goes_back_to_upstreams_layout(params, converted, tmp_path):
    back = tmp_path / 'Params_torch'
    _convert(converted, back)
    assert (back / 'Combine' / 'latest_net_G.pth').exists() and (back / 'AE_whole' / 'latest_net_encoder_.pth').exists()
    for gender, prefix in DFD_GENDERS.items():
        assert (back / 'AE_whole' / f'{prefix}_eye2_feature.bin').read_bytes() == \
            open(os.path.join(params, 'AE_whole', f'{prefix}_eye2_feature.bin'), 'rb').read()
    theirs = read_torch(os.path.join(params, 'Combine', 'latest_net_DE_nose.pkl'))[None]
    ours = read_torch(str(back / 'Combine' / 'latest_net_DE_nose.pth'))[None]
    assert all(np.array_equal(ours[k], theirs[k]) for k in theirs)
    again = tmp_path / 'again'
    _convert(back, again)  # and forward once more: the same checkpoints
    for name in ('generator.ckpt', 'encoder_eye1.ckpt'):
        first, second = read_mindspore(os.path.join(converted, name)), read_mindspore(str(again / name))
        assert all(np.array_equal(first[k], second[k]) for k in first)


def test_one_pkl_converts_on_its_own(params, tmp_path):
    (network,) = convert(os.path.join(params, 'Combine', 'latest_net_G.pkl'), str(tmp_path / 'G.ckpt'))
    assert network.arch == 'dfd_generator' and network.config['ngf'] == 8 and (tmp_path / 'G.ckpt').exists()


def _linked_copy(params, folder):
    """A Params/ folder of symbolic links to `params`' files (cheap to break one of)."""
    for root, _, files in os.walk(params):
        target = os.path.join(folder, os.path.relpath(root, params))
        os.makedirs(target, exist_ok=True)
        for name in files:
            os.symlink(os.path.join(root, name), os.path.join(target, name))
    return folder


@pytest.mark.parametrize('damage, message', [
    ('missing', 'not a complete DeepFaceDrawing folder, missing AE_whole/latest_net_encoder_nose.pkl'),
    ('short_bank', 'not a whole number of 512-value float32 rows'),
    ('tiny_bank', 'at least 15 of them; this one is 3x512'),
    ('code', 'refused to load'),
    ('swapped', 'a network for 160x160 parts, but encoder_eye1 works on 128x128'),
])
def test_a_broken_params_folder_is_one_line_and_nothing_is_written(params, tmp_path, damage, message):
    broken = _linked_copy(params, str(tmp_path / 'Params'))
    if damage == 'missing':
        os.remove(os.path.join(broken, 'AE_whole', 'latest_net_encoder_nose.pkl'))
    elif damage in ('short_bank', 'tiny_bank'):
        bank = os.path.join(broken, 'AE_whole', 'female__feature.bin')  # the face's: the last one read
        os.remove(bank)
        np.zeros(3 * 512 + (1 if damage == 'short_bank' else 0), np.float32).tofile(bank)
    elif damage == 'swapped':  # the nose's encoder where the eye's belongs
        eye = os.path.join(broken, 'AE_whole', 'latest_net_encoder_eye1.pkl')
        os.remove(eye)
        os.symlink(os.path.join(params, 'AE_whole', 'latest_net_encoder_nose.pkl'), eye)
    else:
        path = os.path.join(broken, 'Combine', 'latest_net_DE_mouth.pkl')
        os.remove(path)
        with open(path, 'wb') as f:
            pickle.dump({'w': _System('true')}, f, protocol=4)
    out = tmp_path / 'out'
    result = subprocess.run([sys.executable, '-m', 'weights_convert', broken, str(out)], capture_output=True,
                            text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 1 and result.stderr.startswith('error: ') and result.stderr.count('\n') == 1
    assert message in result.stderr and 'Traceback' not in result.stderr
    assert not out.exists() or os.listdir(out) == []


# ---- the pipeline ----

def face_sketch():
    """Black edges on white of a real face: the astronaut's head, 512x512, as a grey RGB image."""
    from preprocess.sketch_face import edge_sketch
    return edge_sketch(cv2.resize(data.astronaut()[20:300, 110:390], (512, 512), interpolation=cv2.INTER_AREA))


@pytest.fixture(scope='module')
def sketch(tmp_path_factory):
    path = tmp_path_factory.mktemp('sketch') / 'sketch.png'
    Image.fromarray(face_sketch()).save(path)
    return str(path)


TEST_MODEL_WEIGHTS = {'eye1': 0.8, 'eye2': 0.63, 'nose': 1.0, 'mouth': 0.88, 'face': 0.93}  # its params row 0
SETTINGS = {  # name: (gender, part weights)
    'test_model': ('female', TEST_MODEL_WEIGHTS),
    'male': ('male', None),
    'female': ('female', None),
    'no_mouth': ('male', {'mouth': 0.0}),
}

RUN_MINDSPORE = """
import json, sys
import numpy as np
import ms_models, mindspore as ms
sys.path.insert(0, 'tests')
from preprocess.sketch_face import mindspore_task
from test_deepfacedrawing import face_sketch
folder, settings, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
ms.set_context(mode=ms.GRAPH_MODE)
task = mindspore_task(folder)
faces = {}
for name, (gender, weights) in settings.items():
    task.gender, task.part_weights = gender, {**{part: 1.0 for part in task.part_weights}, **(weights or {})}
    faces[name] = task(face_sketch())
np.savez(out, **faces)
"""


@pytest.fixture(scope='module')
def mindspore_faces(converted, tmp_path_factory):
    """The MindSpore pipeline's faces for SETTINGS: one SketchToFace (GRAPH mode, compiled once), in its own
    process, so that its 11 compiled networks do not stay in this one's memory."""
    out = tmp_path_factory.mktemp('faces') / 'faces.npz'
    import json
    result = subprocess.run([sys.executable, '-c', RUN_MINDSPORE, converted, json.dumps(SETTINGS), str(out)],
                            capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    with np.load(out) as faces:
        return {name: faces[name] for name in faces.files}


def test_mindspore_pipeline_equals_torch_ref_pipeline(params, mindspore_faces):
    """On a real sketch, female bank, upstream's test_model.py part weights: within 1 grey level on 99.9%."""
    from preprocess.sketch_face import torch_task
    ours = mindspore_faces['test_model']
    theirs = torch_task(params, 'female', TEST_MODEL_WEIGHTS)(face_sketch())
    assert ours.shape == theirs.shape == (512, 512, 3) and ours.dtype == np.uint8
    assert np.mean(np.abs(ours.astype(int) - theirs.astype(int)) <= 1) >= 0.999
    assert ours.std() > 10  # a picture, not a saturated page


def test_gender_and_part_weights_change_the_face(mindspore_faces):
    base, female, mouth = (mindspore_faces[name].astype(int) for name in ('male', 'female', 'no_mouth'))
    assert np.abs(female - base).mean() > 2
    changed = np.abs(mouth - base).max(axis=2) > 8
    mouth_window = np.zeros_like(changed)
    mouth_window[301:493, 169:361] = True
    # the generator spreads any change (4 downsamplings, 9 residual blocks), but most of it stays in the window
    assert changed[mouth_window].mean() > 0.5 and changed[mouth_window].mean() > 2 * changed[~mouth_window].mean()


def test_test_py_draws_a_folder_of_sketches_and_reports_the_bad_ones(converted, sketch, tmp_path):
    folder = tmp_path / 'sketches'
    folder.mkdir()
    shutil.copy(sketch, folder / 'a_sketch.png')
    Image.fromarray(data.astronaut()).save(folder / 'b_photo.png')
    Image.fromarray(face_sketch()[:, :300]).save(folder / 'c_wide.png')
    Image.fromarray(face_sketch()[::8, ::8]).save(folder / 'd_small.png')
    (folder / 'e_broken.png').write_bytes(b'not a png')
    out = tmp_path / 'faces'
    result = run_script('test', '--model', 'deepfacedrawing', '--photo_path', folder, '--save_path', out,
                        '--weights', converted, '--gender', 'female', '--quiet')
    assert result.returncode == 3, result.stderr
    assert sorted(os.listdir(out)) == ['a_sketch.png']
    assert Image.open(out / 'a_sketch.png').size == (512, 512)
    for name, why in [('b_photo', 'not a sketch'), ('c_wide', '300x512, not square'), ('d_small', 'too small'),
                      ('e_broken', 'not a readable image')]:
        assert name in result.stderr + result.stdout and why in result.stderr + result.stdout, name


@pytest.mark.parametrize('args, message', [
    (['--weights', 'FILE'], 'deepfacedrawing takes a folder'),
    (['--weights', 'missing_folder'], 'missing_folder: no such weights file'),
    (['--part_weights', 'eye1=2'], 'eye1=2 is outside 0 to 1'),
    (['--part_weights', 'ear=1'], "unknown part 'ear'"),
    (['--size', '256'], 'no --video_path, no --size'),
    (['--weights', 'BROKEN'], 'not a complete DeepFaceDrawing folder, missing Combine/latest_net_G.pkl'),
])
def test_bad_input_is_one_line(params, converted, sketch, tmp_path, args, message):
    if 'BROKEN' in args:
        broken = _linked_copy(params, str(tmp_path / 'Params'))
        os.remove(os.path.join(broken, 'Combine', 'latest_net_G.pkl'))
    args = [{'FILE': os.path.join(converted, 'generator.ckpt'), 'BROKEN': str(tmp_path / 'Params')}.get(a, a)
            for a in args]
    result = run_script('test', '--model', 'deepfacedrawing', '--photo_path', sketch, '--save_path',
                        tmp_path / 'face.png', *([] if '--weights' in args else ['--weights', converted]), *args)
    assert result.returncode == 1 and result.stderr.startswith('error: ') and message in result.stderr, result.stderr
    assert 'Traceback' not in result.stderr and not (tmp_path / 'face.png').exists()


def test_gender_is_only_for_deepfacedrawing(sketch, tmp_path):
    args = load_script('test').parse_args(['--photo_path', sketch, '--save_path', str(tmp_path / 'x.png'),
                                           '--gender', 'female'])
    with pytest.raises(Exception, match='--gender and --part_weights are for --model deepfacedrawing'):
        load_script('test').check_inputs(args)


def test_the_parts_are_pasted_in_upstreams_order_without_the_noses_last_rows():
    from preprocess.sketch_face import paste
    features = {part.name: np.full((1, 32, part.size, part.size), i, np.float32) for i, part in enumerate(DFD_PARTS)}
    features['nose'][:, :, 124:] = -1  # upstream never pastes these rows
    face_map = paste(features)
    eye1, eye2, nose, mouth, face = range(5)
    assert face_map[0, 0, 160, 120] == eye1 and face_map[0, 0, 260, 300] == eye2  # eye2 over the nose
    assert face_map[0, 0, 270, 200] == eye1 and face_map[0, 0, 300, 200] == nose  # eye1 over the nose
    assert face_map[0, 0, 320, 200] == nose and face_map[0, 0, 356, 200] == mouth  # nose over the mouth, 124 rows
    assert face_map[0, 0, 490, 170] == mouth and face_map[0, 0, 10, 10] == face and -1 not in face_map


def test_the_face_is_encoded_with_the_parts_whitened():
    from preprocess.sketch_face import part_crop
    sketch = np.zeros((512, 512), np.uint8)
    face = part_crop(sketch, DFD_PARTS[-1])
    assert face[156:284, 108:236].min() == 255 and face[301:493, 169:361].min() == 255 and face[0, 0] == 0
    assert sketch.max() == 0  # the caller's sketch is left alone
    assert part_crop(sketch, DFD_PARTS[2]).shape == (160, 160)
