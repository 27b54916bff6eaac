"""A servable site from a user's weights: the page, onnxruntime-web, each model exported to ONNX (verified
by apps.export), and manifest.json, which tells the page what each model takes and returns.

The site is assembled in a folder beside --out and moved into place only when complete; an existing site
there is replaced, any other folder is refused.
"""
import json
import logging
import os
import shutil
from dataclasses import dataclass
from typing import Optional

from core.errors import UserError
from core.files import check_writable, sha256_of, staging_folder
from core.registry import ARCHS, NORMALIZATIONS, RELEASES, find_weights

from .runtime import ORT_WEB_VERSION, copy_runtime, find_runtime

logger = logging.getLogger(__name__)

SITE_FILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'site')
TASK_LABELS = {'portrait': 'Portrait drawing', 'mask': 'Cut-out', 'cartoon': 'Cartoon (aligned 256x256 face)'}
NOT_IN_BROWSER = {
    'artline': 'ArtLine draws each photo at its own size and aspect ratio, and ONNX exports are static-size',
    'deepfacedrawing': 'DeepFaceDrawing runs 11 networks (1.7 GB) and a nearest-neighbour search per sketch; '
                       'use test.py, or export its networks with python -m apps.export',
}


class BuildError(UserError):
    """A site that cannot be built from what was given."""


@dataclass
class ModelSpec:
    model: str  # a test.py --model
    weights: Optional[str] = None
    size: Optional[int] = None  # the network's input side; default: test.py's for this model and network


def check_specs(specs, out):
    """Before anything heavy: models the page can run, weights that exist, an output it may write."""
    if not specs:
        raise BuildError('give at least one --model (and its --weights)')
    for spec in specs:
        if spec.model in NOT_IN_BROWSER:
            raise BuildError(f'--model {spec.model} is not available in the browser: {NOT_IN_BROWSER[spec.model]}')
        if RELEASES[spec.model].task not in TASK_LABELS:
            raise BuildError(f'--model {spec.model}: the page runs {", ".join(TASK_LABELS)} models')
        if spec.size is not None and not 32 <= spec.size <= 2048:
            raise BuildError(f'--size {spec.size}: give the input side in pixels, 32 to 2048')
        spec.weights = find_weights(spec.model, spec.weights)
    if os.path.exists(out) and not os.path.isfile(os.path.join(out, 'manifest.json')) and \
            (not os.path.isdir(out) or os.listdir(out)):
        raise BuildError(f'{out} exists and is not a site built here: choose another --out (nothing is overwritten)')
    check_writable(os.path.join(out, 'manifest.json'))
    find_runtime()


def build_site(specs, out):
    """Write the site for `specs` (the first is the page's default) to `out`; returns the manifest."""
    check_specs(specs, out)
    from weights_convert import load_network

    from apps.export import INPUT_NAME, export

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with staging_folder(out) as staging:
        shutil.copytree(SITE_FILES, staging, dirs_exist_ok=True)
        copy_runtime(os.path.join(staging, 'ort'))
        os.makedirs(os.path.join(staging, 'models'))
        entries = []
        for spec in specs:
            release = RELEASES[spec.model]
            network = load_network(spec.weights, release.network, release.archs)
            arch = ARCHS[network.arch]
            side = spec.size or release.input_side(network.arch)
            entry = {'id': f'{spec.model}_{network.arch}_{side}', 'model': spec.model, 'task': release.task,
                     'arch': network.arch, 'label': f'{TASK_LABELS[release.task]}: {arch.cls} at {side}',
                     'input': INPUT_NAME, 'outputs': list(arch.outputs), 'output': arch.outputs[0],
                     'size': [side, side], 'normalization': arch.normalization,
                     'normalization_steps': NORMALIZATIONS[arch.normalization]}
            if entry['id'] in {e['id'] for e in entries}:
                raise BuildError(f'{spec.model} at {side} is on the page twice: give each model once')
            entry['file'] = f'models/{entry["id"]}.onnx'
            path = os.path.join(staging, entry['file'])
            logger.info('exporting %s (%s) at %dx%d ...', spec.weights, network.describe(), side, side)
            export(network.net, path, 'ONNX', arch.input_shape(network.config, 1, (side, side)), arch.outputs)
            entry['bytes'] = os.path.getsize(path)
            entry['sha256'] = sha256_of(path)
            entries.append(entry)
        manifest = {'runtime': f'onnxruntime-web {ORT_WEB_VERSION}', 'models': entries}
        with open(os.path.join(staging, 'manifest.json'), 'w') as f:
            json.dump(manifest, f, indent=1)
        _replace_folder(staging, out)
    return manifest


def _replace_folder(staging, out):
    """`staging` becomes `out`; an earlier site there is removed only once the new one is in place."""
    os.chmod(staging, 0o755)  # mkdtemp's is 0700
    old = None
    if os.path.exists(out):
        old = staging + '.old'
        os.replace(out, old)
    os.replace(staging, out)
    if old:
        shutil.rmtree(old, ignore_errors=True)
