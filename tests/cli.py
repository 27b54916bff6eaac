"""Helpers for running the top-level CLIs (test.py, train.py) in-process and in a fresh process."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from core.registry import ARCHS
from core.synthetic import spec_of, synthetic_state_dict

ROOT = Path(__file__).resolve().parents[1]


def load_script(name):
    """The module of a top-level script (test.py shadows the stdlib's `test` package, so load it by path)."""
    spec = importlib.util.spec_from_file_location(f'_cli_{name}', ROOT / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(name, *args, timeout=900):
    """Run `python <name>.py args...` in a fresh process from the repository root."""
    return subprocess.run([sys.executable, str(ROOT / f'{name}.py'), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def run_msrun(tmp_path, script, *args, port_base):
    """`python script args...` as two CPU workers under MindSpore's launcher, in tmp_path; asserts the job
    succeeded (the workers' log tails otherwise) and returns {worker log name: its text}."""
    msrun = os.path.join(os.path.dirname(sys.executable), 'msrun')
    logs = tmp_path / 'logs'
    # msrun starts each worker with the `python` on PATH: this environment's, as an activated venv would give.
    env = {**os.environ, 'PATH': os.path.dirname(sys.executable) + os.pathsep + os.environ.get('PATH', '')}
    result = subprocess.run(
        [msrun, '--worker_num=2', '--local_worker_num=2', f'--master_port={port_base + os.getpid() % 1000}',
         f'--log_dir={logs}', '--join=True', str(script), *map(str, args)],
        capture_output=True, text=True, timeout=1200, cwd=tmp_path, env=env)
    worker_logs = {name: (logs / name).read_text() for name in os.listdir(logs) if name.startswith('worker_')}
    assert result.returncode == 0, '\n'.join(log[-2000:] for log in worker_logs.values())
    assert len(worker_logs) == 2
    return worker_logs


def made_up_weights(arch, seed, config=None, gentle_head=False):
    """Upstream-layout weights (numpy) for `arch`.

    `gentle_head` shrinks U^2-Net's side and fusion convs so the sigmoid maps are not saturated by random
    weights: the outputs then spread over the grey range and comparisons of them mean something.
    """
    state = synthetic_state_dict(spec_of(ARCHS[arch].build_torch(config).state_dict()), seed)
    if gentle_head:
        for key in state:
            if key.startswith(('side', 'outconv')) and key.endswith('weight'):
                state[key] = state[key] * 0.02
    return state


def save_torch(state, path, network=None):
    tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}
    torch.save({network: tensors} if network else tensors, path)
    return path
