"""`python -m web bench`: the page's inference in headless Chromium (wasm) against native onnxruntime on the
same ONNX file and MindSpore GRAPH on the same weights, side by side in one run."""
import contextlib
import logging
import os
import statistics
import tempfile
import threading
import time

logger = logging.getLogger(__name__)


def _median_ms(call, repeat):
    call()  # warm-up (MindSpore: compiles)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench(specs, photo, repeat=3, browser=None):
    """Rows of (model id, browser ms, onnxruntime ms, MindSpore ms) for the models of `specs`; a Playwright
    `browser` is launched when none is given."""
    import onnxruntime
    from playwright.sync_api import sync_playwright

    from core.registry import RELEASES
    from ms_models.inference import Predictor, configure
    from preprocess.cartoon import generator_input
    from preprocess.images import read_rgb, read_rgba
    from preprocess.u2net_io import u2net_input
    from weights_convert import load_network

    from .browser import launch, open_site, run_page
    from .build import build_site
    from .serve import site_server

    configure('CPU', 'graph')
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        site = os.path.join(folder, 'site')
        manifest = build_site(specs, site)
        server = site_server(site, 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with contextlib.ExitStack() as stack:
                if browser is None:
                    browser = launch(stack.enter_context(sync_playwright()))
                    stack.callback(browser.close)
                page = open_site(browser, f'http://127.0.0.1:{server.server_address[1]}/')
                stack.callback(page.close)
                for spec, model in zip(specs, manifest['models']):
                    side = model['size'][0]
                    if model['task'] == 'cartoon':
                        x = generator_input(read_rgba(photo), side)[0]
                    else:
                        x = u2net_input(read_rgb(photo), side)
                    runs = [run_page(page, model['id'], photo)[1]['inference'] for _ in range(repeat + 1)]
                    session = onnxruntime.InferenceSession(os.path.join(site, model['file']),
                                                           providers=['CPUExecutionProvider'])
                    native = _median_ms(lambda: session.run([model['output']], {model['input']: x}), repeat)
                    release = RELEASES[spec.model]
                    predict = Predictor(load_network(spec.weights, release.network, release.archs).net)
                    mindspore = _median_ms(lambda: predict(x), repeat)
                    rows.append((model['id'], statistics.median(runs[1:]), native, mindspore))
                    logger.info('%s: browser %.0f ms, onnxruntime %.0f ms, MindSpore %.0f ms', *rows[-1])
        finally:
            server.shutdown()
    return rows


def table(rows):
    lines = ['| model | browser wasm ms | onnxruntime ms | MindSpore GRAPH ms | browser / onnxruntime |',
             '|---|---|---|---|---|']
    lines += [f'| {name} | {page:.0f} | {native:.0f} | {ms:.0f} | {page / native:.2f} |'
              for name, page, native, ms in rows]
    return '\n'.join(lines)
