"""onnxruntime-web, pinned: fetched once from the npm registry (the set-up does it), copied into each site.

Only the files a site loads are kept: the WebAssembly build (ort.wasm.min.mjs and its wasm) and the WebGPU
build (ort.webgpu.min.mjs, which loads the asyncify wasm).
"""
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

from core.errors import UserError

logger = logging.getLogger(__name__)

ORT_WEB_VERSION = '1.30.0'
FILES = ('ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm',
         'ort.webgpu.min.mjs', 'ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm')
NPM_TIMEOUT_S = 600


class RuntimeMissing(UserError):
    """onnxruntime-web's files are not where the build looks, or cannot be fetched."""


def default_folder():
    """Where the set-up puts them: inside the environment (override: PORTRAIT_ART_ORT_WEB)."""
    return os.environ.get('PORTRAIT_ART_ORT_WEB') or os.path.join(sys.prefix, 'share',
                                                                   f'onnxruntime-web-{ORT_WEB_VERSION}')


def find_runtime(folder=None):
    """The folder holding every file of FILES; a RuntimeMissing that says how to get them otherwise."""
    folder = folder or default_folder()
    missing = [name for name in FILES if not os.path.isfile(os.path.join(folder, name))]
    if missing:
        raise RuntimeMissing(f'onnxruntime-web {ORT_WEB_VERSION} is not in {folder} (missing {missing[0]}): run '
                             'python -m web fetch-runtime (it needs npm and the npm registry)')
    return folder


def fetch_runtime(folder=None):
    """`npm pack onnxruntime-web@ORT_WEB_VERSION`, its FILES extracted to `folder`; returns the folder."""
    folder = folder or default_folder()
    if shutil.which('npm') is None:
        raise RuntimeMissing('npm is not installed (Debian: apt-get install npm); it fetches onnxruntime-web')
    os.makedirs(os.path.dirname(os.path.abspath(folder)), exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        try:
            done = subprocess.run(['npm', 'pack', f'onnxruntime-web@{ORT_WEB_VERSION}', '--silent'], cwd=work,
                                  capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise RuntimeMissing(f'npm pack did not finish in {NPM_TIMEOUT_S} s: is the npm registry reachable?') from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ['no message'])[-1]
            raise RuntimeMissing(f'npm pack onnxruntime-web@{ORT_WEB_VERSION} failed: {last}')
        staging = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(folder)), prefix='.onnxruntime-web.')
        try:
            _extract(os.path.join(work, done.stdout.strip().splitlines()[-1]), staging)
            if os.path.isdir(folder):
                shutil.rmtree(folder)
            os.chmod(staging, 0o755)  # mkdtemp's is 0700
            os.replace(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    logger.info('onnxruntime-web %s -> %s', ORT_WEB_VERSION, folder)
    return folder


def _extract(tarball, folder):
    """Only FILES, only as regular files, by their own names: nothing else of the package lands anywhere."""
    with tarfile.open(tarball) as archive:
        members = {os.path.basename(m.name): m for m in archive.getmembers()
                   if m.isfile() and m.name.startswith('package/dist/')}
        for name in FILES:
            if name not in members:
                raise RuntimeMissing(f'onnxruntime-web {ORT_WEB_VERSION} has no dist/{name}')
            with archive.extractfile(members[name]) as source, open(os.path.join(folder, name), 'wb') as target:
                shutil.copyfileobj(source, target)


def copy_runtime(destination, folder=None):
    os.makedirs(destination, exist_ok=True)
    source = find_runtime(folder)
    for name in FILES:
        shutil.copyfile(os.path.join(source, name), os.path.join(destination, name))
