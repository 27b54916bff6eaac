"""Reading and writing videos with OpenCV, frame by frame, as RGB arrays."""
import errno
import os
from contextlib import contextmanager

import cv2
import numpy as np

from core.files import atomic_outputs

from .images import InputError

# Codecs that OpenCV's wheels write without extra libraries (checked headless): MPEG-4 in .mp4, MJPEG in .avi.
FOURCC_BY_EXTENSION = {'.mp4': 'mp4v', '.m4v': 'mp4v', '.mov': 'mp4v', '.avi': 'MJPG'}


def open_video(path):
    """(capture, fps, (width, height), frame count) of a readable video, else InputError."""
    if not os.path.isfile(path):
        raise InputError(f'{path}: no such file')
    # FFmpeg would print its own complaints about a bad file; our InputError says it in one line.
    os.environ.setdefault('OPENCV_FFMPEG_LOGLEVEL', '-8')
    capture = cv2.VideoCapture(path)
    ok = capture.isOpened()
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if ok else 0
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if not ok or count <= 0 or width <= 0 or height <= 0:
        capture.release()
        raise InputError(f'{path}: not a readable video')
    fps = capture.get(cv2.CAP_PROP_FPS)
    return capture, fps if fps > 0 else 25.0, (width, height), count


def frames(capture):
    """RGB frames until the video ends, or stops being readable (a truncated file ends early, cleanly)."""
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def check_video_name(path):
    extension = os.path.splitext(path)[1].lower()
    if extension not in FOURCC_BY_EXTENSION:
        raise InputError(f'{path}: write videos as {", ".join(FOURCC_BY_EXTENSION)}')
    return FOURCC_BY_EXTENSION[extension]


@contextmanager
def video_writer(path, fps, size_wh):
    """A `write(rgb_or_grey_frame)` function; the file appears at `path` only once the block completes."""
    fourcc = check_video_name(path)
    with atomic_outputs([path]) as (temp,):
        writer = cv2.VideoWriter(temp, cv2.VideoWriter_fourcc(*fourcc), fps, tuple(size_wh))
        if not writer.isOpened():
            raise InputError(f'{path}: OpenCV cannot write this video format here')

        written = 0

        def write(frame):
            nonlocal written
            if frame.ndim == 2:
                frame = np.repeat(frame[:, :, None], 3, axis=2)
            writer.write(cv2.cvtColor(np.ascontiguousarray(frame[:, :, :3]), cv2.COLOR_RGB2BGR))
            written += 1

        try:
            yield write
        finally:
            writer.release()
        _check_written(temp, written)


def _check_written(path, frames_written):
    """OpenCV's writer reports no failure (a full disk gives an unplayable file and no error): read it back."""
    capture = cv2.VideoCapture(path)
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
    capture.release()
    if count != frames_written:
        raise OSError(errno.EIO, f'the video written reads back with {count} of {frames_written} frames')
