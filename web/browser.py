"""Driving the page in headless Chromium (Debian's, through Playwright, which never downloads a browser
here): used by the tests and by `python -m web bench`."""
import base64
import io
import json
import shutil

import numpy as np

from core.errors import UserError

RESULT_TIMEOUT_MS = 600_000

# A page result's PNG, read back from the img[data-result] element (the bytes the download link gives).
READ_RESULT_JS = """async () => {
    const bytes = new Uint8Array(await (await fetch(document.getElementById('result').src)).arrayBuffer());
    let text = '';
    for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode(...bytes.subarray(i, i + 8192));
    return btoa(text);
}"""


def chromium_executable():
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        if shutil.which(name):
            return shutil.which(name)
    raise UserError('no Chromium found: install it (Debian: apt-get install chromium); the README set-up does')


def launch(playwright):
    return playwright.chromium.launch(executable_path=chromium_executable())


def open_site(browser, url):
    """A page on the site at `url`, ready; every request it makes is recorded in page.requests."""
    page = browser.new_page()
    page.requests = []
    page.on('request', lambda request: page.requests.append(request.url))
    page.goto(url)
    page.wait_for_selector('body[data-ready]')
    return page


def run_page(page, model_id, photo, background=None):
    """(result as a numpy image, the worker's timings in ms) for `photo` with model `model_id`."""
    from PIL import Image
    page.select_option('#model', model_id)
    if background:
        page.select_option('#background', background)
    page.set_input_files('#photo', [])  # the same file twice is a change too
    page.set_input_files('#photo', str(photo))
    page.wait_for_selector(f'img[data-result="{model_id}"]', timeout=RESULT_TIMEOUT_MS)
    png = base64.b64decode(page.evaluate(READ_RESULT_JS))
    return np.asarray(Image.open(io.BytesIO(png))), json.loads(page.get_attribute('#result', 'data-timings'))
