"""python -m preprocess.prepare_data: a folder of photos -> photo2cartoon training faces (photo2cartoon's
data_process.py).

Each photo's largest face is found (68 landmarks), its eyes levelled, cropped square as test.py crops it,
segmented, resized and put on a white background: the trainA images train.py reads. Photos without a usable
face are reported and skipped; the rest go on. The folder's tree is mirrored, each output a .png.
"""
import argparse
import logging
import os
import sys

from core.cli import run_cli

EXAMPLES = """
examples:
  python -m preprocess.prepare_data --data_path raw_photos/ --save_path dataset/trainA
  python -m preprocess.prepare_data --data_path raw_photos/ --save_path dataset/trainA --detector fan --size 512

Exit status: 0 every photo prepared, 1 none, 3 some had no usable face (they are listed).
"""


def white_background(face_rgba, size):
    """The aligned RGBA face at size x size (area resampling), composited on white and truncated (upstream's)."""
    import cv2
    import numpy as np
    face_rgba = cv2.resize(face_rgba, (size, size), interpolation=cv2.INTER_AREA)
    mask = face_rgba[:, :, 3:].astype(np.float64) / 255.0
    return (face_rgba[:, :, :3] * mask + (1 - mask) * 255).astype(np.uint8)


class TrainingFace:
    """The per-photo function: RGB photo -> its largest face, aligned, on white (InputError if none)."""

    def __init__(self, preprocessor, size=256):
        self.preprocessor = preprocessor
        self.size = size

    def __call__(self, image):
        (face,) = self.preprocessor(image)
        return white_background(face.rgba, self.size)

    @property
    def faces_seen(self):
        found = self.preprocessor.faces_found
        return found, min(found, 1)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog='python -m preprocess.prepare_data',
                                     description=__doc__.split(':', 1)[1].strip(), epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data_path', required=True, help='a folder of photos (searched recursively)')
    parser.add_argument('--save_path', required=True, help='the folder for the faces (created)')
    parser.add_argument('--detector', choices=('dlib', 'fan'), default='dlib', help='face landmarks backend')
    parser.add_argument('--size', type=int, default=256, help='side of the square faces written (default: 256)')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv=None):
    return run_cli(_prepare, argv)


def _prepare(argv):
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format='%(message)s')
    from core.files import check_writable
    from .batch import check_jobs, folder_jobs, run_on_images
    from .images import InputError
    if not os.path.isdir(args.data_path):
        raise InputError(f'--data_path {args.data_path}: not a folder of photos')
    if not 32 <= args.size <= 4096:
        raise InputError(f'--size {args.size}: give the side of the faces in pixels, 32 to 4096')
    jobs = folder_jobs(args.data_path, args.save_path)
    check_jobs(jobs)
    check_writable(jobs[0][1])

    from .cartoon import FacePreprocessor
    from .faces import landmark_detector
    from .segment import SelfieSegmenter
    task = TrainingFace(FacePreprocessor(landmark_detector(args.detector), SelfieSegmenter()), args.size)
    summary = run_on_images(task, jobs, progress=not args.quiet)
    logging.info('%d of %d photos prepared in %.1f s -> %s', summary.done, len(jobs), summary.seconds,
                 args.save_path)
    for _, message in summary.failed:
        logging.info('  skipped: %s', message)
    if summary.failed:
        return 1 if summary.done == 0 else 3
    return 0


if __name__ == '__main__':
    sys.exit(main())
