"""The `portrait-art` entry point (installed by the README set-up) and the project's licence metadata."""
import importlib.metadata
import os
import subprocess
import sys

import pytest

from cli import ROOT

ENTRY_POINT = os.path.join(os.path.dirname(sys.executable), 'portrait-art')


def portrait_art(*args):
    return subprocess.run([ENTRY_POINT, *args], capture_output=True, text=True, timeout=300, cwd='/')


@pytest.mark.parametrize('command, expected', [('test', 'usage: test.py'), ('convert', 'python -m weights_convert'),
                                               ('web', 'python -m web'), ('export', 'python -m apps.export')])
def test_every_command_answers_from_anywhere(command, expected):
    done = portrait_art(command, '--help')
    assert done.returncode == 0 and expected in done.stdout


def test_errors_keep_their_status_and_one_line():
    done = portrait_art('test', '--photo_path', '/no/such.jpg', '--save_path', '/tmp/x.png')
    assert done.returncode == 1 and done.stderr.strip() == 'error: /no/such.jpg: no such file or folder'
    unknown = portrait_art('draw')
    assert unknown.returncode == 2 and "unknown command 'draw'" in unknown.stderr


def test_licence_is_declared():
    assert importlib.metadata.metadata('portrait-art-mindspore')['License'] == 'Apache-2.0'
    assert 'Apache License' in (ROOT / 'LICENSE').read_text()
    notice = (ROOT / 'NOTICE').read_text()
    for upstream in ('minivision-ai/photo2cartoon', 'znxlwm/UGATIT-pytorch', 'xuebinqin/U-2-Net',
                     'vijishmadhavan/ArtLine', 'fastai/fastai1'):
        assert upstream in notice
