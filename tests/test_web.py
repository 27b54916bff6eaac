"""The browser page, in a real headless Chromium (Debian's, driven by Playwright): its input tensors and
results equal test.py's for the same weights and photo, it works from `python -m web serve` with no request
leaving 127.0.0.1, and it says what is wrong in words.

One site is built for the module (python -m web build, four models); each test opens a fresh page on it.
"""
import base64
import json
import os
import shutil
import threading
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from cli import ROOT, load_script, made_up_weights, save_torch
from core.registry import ARCHS
from preprocess.u2net_io import normalize_map, to_grey, u2net_input
from web.__main__ import main as web_main
from web.browser import RESULT_TIMEOUT_MS, launch, open_site, run_page
from web.serve import site_server

ARTIFACTS = ROOT / 'tests' / 'artifacts'
test_py = load_script('test')


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp('photos')
    Image.fromarray(data.astronaut()).save(folder / 'astronaut.png')
    Image.fromarray(np.ascontiguousarray(data.astronaut()[60:460, 30:330])).save(folder / 'tall.png')
    face = data.astronaut()[10:266, 120:376]  # an aligned-face-sized crop of a real face
    yy, xx = np.mgrid[:256, :256]
    alpha = np.clip((1.15 - np.hypot((yy - 128) / 120, (xx - 128) / 100)) * 4, 0, 1)  # soft-edged mask
    Image.fromarray(np.dstack([face, np.round(alpha * 255).astype(np.uint8)])).save(folder / 'face.png')
    (folder / 'notes.png').write_text('not an image')
    return folder


@pytest.fixture(scope='module')
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp('weights')
    paths = {name: folder / f'{name}.pth' for name in ('u2netp_portrait', 'u2net_portrait', 'u2netp', 'p2c')}
    save_torch(made_up_weights('u2netp', seed=5, gentle_head=True), paths['u2netp_portrait'])
    save_torch(made_up_weights('u2net', seed=5, gentle_head=True), paths['u2net_portrait'])
    save_torch(made_up_weights('u2netp', seed=7, gentle_head=True), paths['u2netp'])
    torch.manual_seed(0)  # PyTorch's own initialisation: the golden recipe's scale saturates the tanh
    generator = ARCHS['p2c_generator'].build_torch().state_dict()
    save_torch({k: v.numpy() for k, v in generator.items()}, paths['p2c'], network='genA2B')
    return {name: str(path) for name, path in paths.items()}


MODELS = [  # (page id, test.py --model, weights key, extra test.py flags)
    ('u2net_portrait_u2netp_320', 'u2net_portrait', 'u2netp_portrait', ()),
    ('u2net_portrait_u2net_512', 'u2net_portrait', 'u2net_portrait', ()),
    ('u2netp_u2netp_320', 'u2netp', 'u2netp', ()),
    ('photo2cartoon_p2c_generator_256', 'photo2cartoon', 'p2c', ('--aligned',)),
]


@pytest.fixture(scope='module')
def site(weights, tmp_path_factory):
    out = tmp_path_factory.mktemp('site') / 'site'
    argv = ['build']
    for _, model, key, _ in MODELS:
        argv += ['--model', model, '--weights', weights[key]]
    assert web_main(argv + ['--out', str(out)]) == 0
    return out


def serving(folder):
    server = site_server(str(folder), 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope='module')
def server(site):
    server = serving(site)
    yield f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()


@pytest.fixture(scope='module')
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    """A fresh page on the site; every request it makes is recorded in page.requests."""
    page = open_site(browser, server + '/')
    yield page
    page.close()


def assert_local(page, server):
    outside = [url for url in page.requests if not url.startswith((server + '/', 'blob:', 'data:'))]
    assert page.requests and not outside, f'requests left 127.0.0.1: {outside}'


def python_run(tmp_path, model, weights, photo, *flags):
    out = tmp_path / f'{model}.png'
    assert test_py.main(['--model', model, '--weights', weights, '--photo_path', str(photo), '--save_path',
                         str(out), '--mode', 'pynative', '--quiet', *flags]) == 0
    return np.asarray(Image.open(out))


def assert_same_picture(ours, theirs):
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype == np.uint8
    assert theirs.std() > 10, 'too little contrast for the comparison to mean anything'
    diff = np.abs(ours.astype(int) - theirs)
    print(f'{(diff <= 1).mean():.4%} within 1 grey level, {(diff == 0).mean():.4%} equal, max {diff.max()}')
    assert (diff <= 1).mean() >= 0.999, f'{(diff <= 1).mean():.4%} within 1 grey level, max {diff.max()}'


# ---- the page's pre- and post-processing alone ----

def page_module_call(page, photo, expression):
    """Evaluate `expression` (over `image`, the page's decoding of `photo`, and `pipeline`) in the page."""
    encoded = base64.b64encode(photo.read_bytes()).decode()
    return page.evaluate(f"""async (encoded) => {{
        const pipeline = await import('./pipeline.mjs');
        const {{ decodeImage }} = await import('./image.mjs');
        const bytes = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
        const image = await decodeImage(new Blob([bytes], {{ type: 'image/png' }}));
        const out = {expression};
        const raw = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
        let text = '';
        for (let i = 0; i < raw.length; i += 8192) text += String.fromCharCode(...raw.subarray(i, i + 8192));
        return btoa(text);
    }}""", encoded)


@pytest.mark.parametrize('name, size', [('astronaut', 320), ('astronaut', 512), ('tall', 320), ('face', 320)])
def test_page_input_tensor_equals_python(page, photos, name, size):
    """The network input the page makes from a photo (decode, skimage's anti-aliased resize, divide by the
    max, ImageNet mean/std) is the Python pipeline's, bit for bit."""
    ours = np.frombuffer(base64.b64decode(page_module_call(page, photos / f'{name}.png',
                                                           f'pipeline.u2netInput(image, {size})')), np.float32)
    from preprocess.images import read_rgb
    theirs = u2net_input(read_rgb(str(photos / f'{name}.png')), size).ravel()
    assert np.array_equal(ours, theirs), f'max difference {np.abs(ours - theirs).max():.3g}'


def png_forms(folder):
    """The same photo as PNGs of every form Pillow and the page may meet; name -> path."""
    import cv2
    rgb = data.astronaut()[100:160, 200:290]
    yy, xx = np.mgrid[:60, :90]
    alpha = ((xx * 3 + yy) % 256).astype(np.uint8)  # every level of transparency
    forms = {'rgba': Image.fromarray(np.dstack([rgb, alpha])), 'la': Image.fromarray(np.dstack([rgb[..., 0], alpha])),
             'grey_1bit': Image.fromarray(rgb[..., 0]).convert('1'),
             'palette_4bit': Image.fromarray(rgb).quantize(16)}
    with_trns = Image.fromarray(rgb).quantize(64)
    with_trns.info['transparency'] = 3
    forms['palette_trns'] = with_trns
    rgb_trns = Image.fromarray(rgb)
    forms['rgb_trns'] = rgb_trns
    paths = {}
    for name, image in forms.items():
        paths[name] = folder / f'{name}.png'
        extra = {'bits': 4} if name == 'palette_4bit' else {'transparency': tuple(int(v) for v in rgb[0, 0])} \
            if name == 'rgb_trns' else {}
        image.save(paths[name], **extra)
    paths['rgb_16bit'] = folder / 'rgb_16bit.png'
    cv2.imwrite(str(paths['rgb_16bit']), (rgb[..., ::-1].astype(np.uint16) * 257 + 100))
    return paths


def test_page_decodes_pngs_as_pillow(page, tmp_path):
    """Soft alpha, palettes with transparency, low and high bit depths: the page's pixels are Pillow's (the
    canvas alone would round semi-transparent colours), and a transparent colour of an RGB image is ignored
    as images.read_rgba ignores it."""
    from preprocess.images import read_rgba
    for name, path in png_forms(tmp_path).items():
        ours = np.frombuffer(base64.b64decode(page_module_call(page, path, 'image.data')), np.uint8)
        assert np.array_equal(ours.reshape(60, 90, 4), read_rgba(str(path))), name


@pytest.mark.parametrize('width, height', [(512, 512), (300, 400), (700, 300), (200, 100), (320, 320)])
def test_page_output_resize_equals_pillow(page, photos, width, height):
    """Map -> 8 bits -> PIL's bilinear resize back to the photo's size, on a random map: byte for byte,
    for growing, shrinking and mixed resizes (Pillow picks its pass order by them)."""
    prediction = np.random.default_rng(width * height).random((320, 320)).astype(np.float32)
    encoded = base64.b64encode(prediction.tobytes()).decode()
    ours = np.frombuffer(base64.b64decode(page.evaluate(f"""async (encoded) => {{
        const pipeline = await import('./pipeline.mjs');
        const map = new Float32Array(Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0)).buffer);
        const grey = pipeline.portraitOutput(map, 320, {{ width: {width}, height: {height} }});
        let text = '';
        for (let i = 0; i < grey.data.length; i += 8192) text += String.fromCharCode(...grey.data.subarray(i, i + 8192));
        return btoa(text);
    }}""", encoded)), np.uint8)
    theirs = to_grey(normalize_map(1.0 - prediction), (width, height))
    assert np.array_equal(ours.reshape(height, width), theirs)


# ---- the page end to end, against test.py ----

@pytest.mark.parametrize('model_id, model, key, flags', MODELS, ids=[m[0] for m in MODELS])
def test_page_equals_test_py(page, server, photos, weights, tmp_path, model_id, model, key, flags):
    photo = photos / ('face.png' if model == 'photo2cartoon' else 'astronaut.png')
    ours, timings = run_page(page, model_id, photo)
    theirs = python_run(tmp_path, model, weights[key], photo, *flags)
    assert_same_picture(ours, theirs)
    assert_local(page, server)
    print(f'{model_id}: browser wasm inference {timings["inference"] / 1000:.2f} s')
    if model_id == MODELS[0][0]:
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / 'web_page.png'
        page.screenshot(path=str(shot), full_page=True)
        with Image.open(shot) as image:
            assert image.width >= 800 and np.asarray(image.convert('L')).std() > 20  # a page, not a blank


@pytest.mark.parametrize('background', ['white', 'transparent'])
def test_cut_out_backgrounds_equal_test_py(page, server, photos, weights, tmp_path, background):
    photo = photos / 'tall.png'
    ours, _ = run_page(page, 'u2netp_u2netp_320', photo, background)
    theirs = python_run(tmp_path, 'u2netp', weights['u2netp'], photo, '--background', background)
    assert ours.shape[2] == (4 if background == 'transparent' else 3)
    assert_same_picture(ours, theirs)
    assert_local(page, server)


# ---- words, not traces ----

def assert_page_error(page, model_id, photo, expected):
    """The page shows `expected` as its error message, and no result."""
    page.select_option('#model', model_id)
    page.set_input_files('#photo', str(photo))
    page.wait_for_function("""expected => {
        const status = document.querySelector('#status.error');
        return status && status.textContent.includes(expected);
    }""", arg=expected, timeout=RESULT_TIMEOUT_MS)
    assert page.get_attribute('#result', 'data-result') is None


def test_page_says_what_is_wrong(page, photos):
    assert_page_error(page, 'u2netp_u2netp_320', photos / 'notes.png', 'notes.png: this file is not an image')
    assert_page_error(page, 'photo2cartoon_p2c_generator_256', photos / 'astronaut.png',
                      'takes an aligned 256x256 face')


def test_page_says_a_model_is_missing(browser, site, photos, tmp_path):
    broken = tmp_path / 'site'
    shutil.copytree(site, broken, ignore=shutil.ignore_patterns('*.onnx'))
    server = serving(broken)
    try:
        page = open_site(browser, f'http://127.0.0.1:{server.server_address[1]}/')
        assert_page_error(page, 'u2netp_u2netp_320', photos / 'astronaut.png', 'missing from the site')
        page.close()
    finally:
        server.shutdown()


# ---- the server and the build command ----

def test_server_sends_isolation_headers_and_types(server, page):
    assert page.evaluate('self.crossOriginIsolated')  # wasm threads are available
    for path, mime in [('/', 'text/html'), ('/app.mjs', 'text/javascript'), ('/ort/ort-wasm-simd-threaded.wasm',
                       'application/wasm'), ('/models/u2netp_u2netp_320.onnx', 'application/octet-stream')]:
        with urllib.request.urlopen(server + path) as response:
            assert response.headers['Content-Type'].startswith(mime), path
            assert response.headers['Cross-Origin-Opener-Policy'] == 'same-origin'
            assert response.headers['Cross-Origin-Embedder-Policy'] == 'require-corp'


def test_manifest_describes_each_model(site):
    manifest = json.loads((site / 'manifest.json').read_text())
    assert [m['id'] for m in manifest['models']] == [m[0] for m in MODELS]  # the first is the page's default
    portrait = manifest['models'][0]
    assert portrait['size'] == [320, 320] and portrait['output'] == 'd0' and portrait['normalization'] == 'u2net'
    from core.files import sha256_of
    assert portrait['sha256'] == sha256_of(site / portrait['file'])
    assert os.stat(site / portrait['file']).st_mode & 0o444 == 0o444  # any web server's user may read it
    from apps.export import onnx_names
    assert onnx_names(str(site / portrait['file'])) == (['input'], list(ARCHS['u2netp'].outputs))


@pytest.mark.parametrize('argv, message', [
    (['--model', 'artline', '--weights', 'x.pkl'], 'not available in the browser'),
    (['--model', 'u2netp', '--weights', 'missing.pth'], 'no such weights file'),
    (['--model', 'u2netp', '--size', '4'], 'input side'),
])
def test_build_refuses_in_one_line(tmp_path, capsys, argv, message):
    assert web_main(['build', *argv, '--out', str(tmp_path / 'site')]) == 1
    error = capsys.readouterr().err
    assert message in error and error.count('\n') == 1
    assert not (tmp_path / 'site').exists()


def test_build_never_overwrites_a_folder_that_is_not_a_site(tmp_path, weights, capsys):
    folder = tmp_path / 'photos'
    folder.mkdir()
    (folder / 'keep.jpg').write_bytes(b'x')
    assert web_main(['build', '--model', 'u2netp', '--weights', weights['u2netp'], '--out', str(folder)]) == 1
    assert 'not a site built here' in capsys.readouterr().err
    assert os.listdir(folder) == ['keep.jpg']


def test_serve_command_serves_until_stopped(site):
    """python -m web serve as a user runs it: the page on 127.0.0.1, and Ctrl-C/SIGTERM ends it cleanly."""
    import signal
    import socket
    import subprocess
    import sys
    import time
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, '-m', 'web', 'serve', str(site), '--port', str(port)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f'http://127.0.0.1:{port}/manifest.json') as response:
                    assert json.load(response)['models']
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail('the server did not answer')
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=30)
    assert server.returncode == 143 and f'http://127.0.0.1:{port}/' in err and 'Traceback' not in err


def test_serve_refuses_a_folder_without_a_site(tmp_path, capsys):
    assert web_main(['serve', str(tmp_path)]) == 1
    assert 'not a built site' in capsys.readouterr().err


def test_model_flags_pair_in_order():
    from web.__main__ import parse_args
    specs = parse_args(['build', '--model', 'u2netp', '--weights', 'a.pth', '--size', '256',
                        '--model', 'photo2cartoon', '--out', 'site']).specs
    assert [(s.model, s.weights, s.size) for s in specs] == [('u2netp', 'a.pth', 256), ('photo2cartoon', None, None)]
    with pytest.raises(SystemExit):
        parse_args(['build', '--weights', 'a.pth', '--model', 'u2netp', '--out', 'site'])


def test_bench_times_browser_onnxruntime_and_mindspore(weights, photos, browser):
    from web.bench import bench, table
    from web.build import ModelSpec
    import mindspore as ms
    try:
        rows = bench([ModelSpec('u2netp', weights['u2netp'])], str(photos / 'tall.png'), repeat=1, browser=browser)
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)  # bench runs MindSpore in GRAPH mode; the other tests expect PyNative
    assert len(rows) == 1 and rows[0][0] == 'u2netp_u2netp_320' and all(t > 0 for t in rows[0][1:])
    assert 'u2netp_u2netp_320 |' in table(rows)
