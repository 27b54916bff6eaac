"""A write that pauses half-way, for the signal tests: python tests/interrupt_harness.py KIND FOLDER

Runs the project's real writer for KIND (image, video, conversion, checkpoint) under core.cli.run_cli, as
every CLI does, with one hook: at the point where the output is half written, it prints PAUSED and
sleeps, so that the test can send SIGINT or SIGTERM exactly there.
"""
import os
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import ms_models  # noqa: E402,F401  (before MindSpore)
import numpy as np  # noqa: E402

from core.cli import run_cli  # noqa: E402


def pause():
    print('PAUSED', flush=True)
    time.sleep(120)


def image(folder):
    from PIL import Image

    from preprocess.images import save_image
    save = Image.Image.save

    def half_then_pause(self, fp, *args, **kwargs):
        save(self, fp, *args, **kwargs)
        pause()

    Image.Image.save = half_then_pause
    save_image(np.zeros((64, 64, 3), np.uint8), str(folder / 'out.png'))


def video(folder):
    from preprocess.video import video_writer
    with video_writer(str(folder / 'out.avi'), 10, (32, 24)) as write:
        for i in range(4):
            write(np.full((24, 32, 3), 40 * i, np.uint8))
            if i == 1:
                pause()


def conversion(folder):
    """The converter with MindSpore's own temporary on disk, as save_checkpoint leaves it while writing."""
    import mindspore as ms

    from weights_convert import convert
    save = ms.save_checkpoint

    def save_then_pause(net, path, *args, **kwargs):
        save(net, path, *args, **kwargs)
        Path(os.path.splitext(path)[0] + '.tmp').write_bytes(b'partial')  # where MindSpore's writer stages
        pause()

    ms.save_checkpoint = save_then_pause
    convert(str(folder / 'u2netp.pth'), str(folder / 'out.ckpt'))


def checkpoint(folder):
    """Step 1 saved whole, then step 2 interrupted after its first network file."""
    import mindspore as ms

    from apps import training_checkpoints
    from ms_models.ugatit_train import UGATIT
    nets = UGATIT(ch=4, img_size=64, light=True, n_dis=5)
    networks = {name: getattr(nets, name) for name in ('genA2B', 'disGA')}
    state = [ms.Parameter(ms.Tensor(np.ones(2, np.float32)), name='step')]
    training_checkpoints.save(str(folder / 'model'), 1, networks, state)
    save, calls = ms.save_checkpoint, []

    def save_then_pause(*args, **kwargs):
        save(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            pause()

    ms.save_checkpoint = save_then_pause
    training_checkpoints.save(str(folder / 'model'), 2, networks, state)


def main(argv):
    kind, folder = argv
    globals()[kind](Path(folder))
    return 0


if __name__ == '__main__':
    sys.exit(run_cli(main, sys.argv[1:]))
