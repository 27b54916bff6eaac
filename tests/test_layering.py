"""The packages are layered without cycles (README, Layout): each one imports only the layers below it.

Every module of a package is imported in a fresh interpreter, and what that pulled into sys.modules is
checked: a MindSpore-only install runs ms_models, a PyTorch-only one torch_ref, and the converter never
reaches up into the applications.
"""
import json
import subprocess
import sys

import pytest

from cli import ROOT

APPLICATIONS = {'apps', 'parity', 'preprocess'}
FORBIDDEN = {  # package -> top-level modules that importing all of it must not load
    'core': {'torch', 'mindspore', 'torch_ref', 'ms_models', 'weights_convert'} | APPLICATIONS,
    'torch_ref': {'mindspore', 'ms_models', 'weights_convert'} | APPLICATIONS,
    'ms_models': {'torch', 'torch_ref', 'weights_convert'} | APPLICATIONS,
    'weights_convert': APPLICATIONS,
}

PROBE = """
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
for module in pkgutil.iter_modules(package.__path__, sys.argv[1] + '.'):
    importlib.import_module(module.name)
print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))
"""


def loaded_by(package):
    result = subprocess.run([sys.executable, '-c', PROBE, package], capture_output=True, text=True, cwd=ROOT,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize('package', list(FORBIDDEN))
def test_package_imports_only_the_layers_below(package):
    loaded = loaded_by(package)
    assert package in loaded
    assert not loaded & FORBIDDEN[package], f'{package} pulls in {sorted(loaded & FORBIDDEN[package])}'


def test_the_probe_sees_a_forbidden_import():
    """The check itself can fail: torch_ref's trainer loads core (allowed), parity loads both frameworks."""
    assert 'core' in loaded_by('torch_ref')
    assert {'torch', 'mindspore'} <= loaded_by('parity')
