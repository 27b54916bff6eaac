"""Running a per-image task over a photo, a folder of photos, or the frames of a video.

One bad photo is reported and skipped, never stopping the rest; every output is written atomically; long
runs show a progress bar with rate and ETA.
"""
import itertools
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from tqdm import tqdm

from core.errors import UserError
from core.files import atomic_outputs

from .images import IMAGE_EXTENSIONS, InputError, list_images, read_rgb, save_image
from .video import VideoReader, check_video_name, join_segments, video_writer

logger = logging.getLogger(__name__)


@dataclass
class Item:
    """One input of a run, as the report (--report) gives it."""
    input: str
    output: str
    status: str  # done, failed, skipped
    seconds: float = 0.0
    error: str = None
    faces_found: int = None  # tasks that look for faces
    faces_drawn: int = None


@dataclass
class Summary:
    done: int = 0
    failed: list = field(default_factory=list)  # (input, message)
    seconds: float = 0.0
    flicker: object = None  # videos: a Flicker
    items: list = field(default_factory=list)  # photos: an Item each, in input order


def folder_jobs(src_folder, dst_folder, extension='.png'):
    """(input, output) pairs for every image under `src_folder`, the tree mirrored under `dst_folder`."""
    images = list_images(src_folder)
    if not images:
        raise InputError(f'{src_folder}: no images in this folder ({", ".join(IMAGE_EXTENSIONS)})')
    return [(path, os.path.join(dst_folder, os.path.splitext(os.path.relpath(path, src_folder))[0] + extension))
            for path in images]


def check_jobs(jobs, suffixes=('',)):
    """Before any work: no output may overwrite an input, nor another output of the same run.
    `suffixes` are the extra outputs a task writes beside each one (`<stem><suffix><ext>`)."""
    inputs = {os.path.realpath(src): src for src, _ in jobs}
    taken = {}
    for src, dst in jobs:
        stem, extension = os.path.splitext(dst)
        for out in (stem + suffix + extension for suffix in suffixes):
            real = os.path.realpath(out)
            if real in inputs:
                raise InputError(f'{out} would overwrite the input {inputs[real]}: choose another --save_path')
            if real in taken:
                raise InputError(f'{taken[real]} and {src} would both be written to {out}: rename one of them')
            taken[real] = src


def save_outputs(result, path):
    """Write a task's result: one image to `path`, or {suffix: image} beside it (`<stem><suffix><ext>`)."""
    if not isinstance(result, dict):
        result = {'': result}
    stem, extension = os.path.splitext(path)
    for suffix, image in result.items():
        save_image(image, stem + suffix + extension)


def run_on_images(task, jobs, progress=True, read=read_rgb):
    """Apply `task(read(input))` to each (input, output) pair and save what it returns (see save_outputs)."""
    summary = Summary()
    start = time.perf_counter()
    bar = tqdm(jobs, unit='image', disable=not progress or len(jobs) < 2, dynamic_ncols=True)
    for src, dst in bar:
        bar.set_postfix_str(os.path.basename(src), refresh=False)
        item = Item(src, dst, 'done')
        began = time.perf_counter()
        try:
            image = read(src)
            try:
                result = task(image)
            finally:  # a photo the task refused (no face, say) is reported with what it found
                item.faces_found, item.faces_drawn = getattr(task, 'faces_seen', (None, None))
            save_outputs(result, dst)
            summary.done += 1
        except UserError as error:  # this photo (or its output) is bad: report it, go on with the rest
            message = str(error) if str(error).startswith(src) else f'{src}: {error}'
            summary.failed.append((src, message))
            item.status, item.error = 'failed', message
            if len(jobs) > 1:  # a single photo's failure is the caller's error message, said once
                logger.warning('skipped %s', message)
        item.seconds = time.perf_counter() - began
        summary.items.append(item)
    summary.seconds = time.perf_counter() - start
    return summary


def photo_report(summary, skipped=()):
    """The --report of a photo or folder run: the summary's numbers, and every input (those --skip_existing
    left out as 'skipped')."""
    items = summary.items + [Item(src, dst, 'skipped') for src, dst in skipped]
    return {'kind': 'photos', 'total': len(items), 'done': summary.done, 'failed': len(summary.failed),
            'skipped': len(skipped), 'seconds': summary.seconds, 'items': [asdict(item) for item in items]}


def gather_summaries(summary, rank, world, folder, barrier):
    """Under msrun: every worker leaves its summary in `folder`; once all have (`barrier()` returns on every
    worker), rank 0 gets them merged, in input order; the other ranks get their own."""
    reports = _exchange(photo_report(summary), rank, world, folder, barrier)
    if reports is None:
        return summary
    merged = Summary(done=sum(r['done'] for r in reports), seconds=max(r['seconds'] for r in reports))
    merged.items = sorted((Item(**item) for r in reports for item in r['items']), key=lambda item: item.input)
    merged.failed = [(item.input, item.error) for item in merged.items if item.status == 'failed']
    _remove_if_empty(folder)
    return merged


def _exchange(report, rank, world, folder, barrier):
    """Every worker leaves `report` in `folder`; once all have, rank 0 gets them all in rank order (their
    files removed), the others None."""
    write_report(report, os.path.join(folder, f'rank_{rank}.json'))
    barrier()
    if rank != 0:
        return None
    reports = []
    for other in range(world):
        path = os.path.join(folder, f'rank_{other}.json')
        with open(path) as f:
            reports.append(json.load(f))
        os.remove(path)
    return reports


def _remove_if_empty(folder):
    try:
        os.rmdir(folder)
    except OSError:  # something else in it: leave it
        pass


def video_report(summary, src, dst):
    flicker = summary.flicker
    pairs = max(flicker.pairs, 1)
    return {'kind': 'video', 'input': src, 'output': dst, 'frames': summary.done, 'seconds': summary.seconds,
            'frames_per_second': summary.done / max(summary.seconds, 1e-9),
            'flicker': {'results': flicker.outputs / pairs, 'frames': flicker.inputs / pairs, 'pairs': flicker.pairs}}


def write_report(report, path):
    """`report` as JSON at `path`, atomically, read back before it replaces anything."""
    with atomic_outputs([path]) as (temp,):
        with open(temp, 'w') as f:
            json.dump(report, f, indent=1)
        with open(temp) as f:
            json.load(f)


def run_on_video(task, src, dst, progress=True, share=None):
    """Apply `task` to every frame of `src` and write `dst` with the same size, frame rate and sound.
    `share` = (first, stop): only those frames, and no sound (one worker's segment of a --distribute run)."""
    check_video_name(dst)
    summary = Summary()
    start = time.perf_counter()
    flicker = Flicker()
    with VideoReader(src) as reader:
        info = reader.info
        size = info.size
        first, stop = share or (0, None)
        expected = stop - first if share else info.count
        with video_writer(dst, info.rate, size, audio_from=None if share else reader) as write:
            frames = itertools.islice(reader.frames(), first, stop)
            for frame in tqdm(frames, total=expected or None, unit='frame', disable=not progress, dynamic_ncols=True):
                result = task(frame)
                if result.shape[:2] != (size[1], size[0]):
                    raise InputError(f'{dst}: this model gives {result.shape[1]}x{result.shape[0]} results, '
                                     f'not the video size {size[0]}x{size[1]}')
                write(result)
                flicker.add(frame, result)
                summary.done += 1
            if summary.done == 0:
                raise InputError(f'{src}: no frame could be read')
    if summary.done < expected:
        logger.warning('%s ended after %d of %d frames (truncated?); wrote those', src, summary.done, expected)
    summary.seconds = time.perf_counter() - start
    summary.flicker = flicker
    return summary


def video_share(count, rank, world):
    """(first, stop): the frames worker `rank` of `world` draws, consecutive, as even as they come."""
    return rank * count // world, (rank + 1) * count // world


def gather_video(summary, rank, world, folder, barrier, src, dst):
    """Under msrun: once every worker has written its segment (segment_<rank>) and summary to `folder`,
    rank 0 joins the segments with the source's sound into `dst` and gets the merged summary; the other
    ranks get their own."""
    reports = _exchange(video_report(summary, src, segment_path(folder, rank, dst)), rank, world, folder, barrier)
    if reports is None:
        return summary
    segments = [segment_path(folder, other, dst) for other in range(world)]
    join_segments(segments, src, dst)
    merged = Summary(done=sum(r['frames'] for r in reports), seconds=max(r['seconds'] for r in reports))
    merged.flicker = Flicker()
    for report in reports:  # pairs across a segment boundary are not counted
        pairs = report['flicker']['pairs']
        merged.flicker.pairs += pairs
        merged.flicker.inputs += report['flicker']['frames'] * pairs
        merged.flicker.outputs += report['flicker']['results'] * pairs
    for segment in segments:
        os.remove(segment)
    _remove_if_empty(folder)
    return merged


def segment_path(folder, rank, dst):
    return os.path.join(folder, f'segment_{rank}{os.path.splitext(dst)[1]}')


class Flicker:
    """How much consecutive results differ, against how much consecutive frames do (mean absolute difference
    in grey levels, all channels): a ratio well above 1 is flicker the model adds."""

    def __init__(self):
        self.inputs = self.outputs = 0.0
        self.pairs = 0
        self._last = None

    def add(self, frame, result):
        frame, result = frame.astype(np.float32), result.astype(np.float32)
        if self._last is not None:
            self.inputs += float(np.abs(frame - self._last[0]).mean())
            self.outputs += float(np.abs(result - self._last[1]).mean())
            self.pairs += 1
        self._last = frame, result

    def describe(self):
        if not self.pairs:
            return 'flicker: one frame, nothing to compare'
        inputs, outputs = self.inputs / self.pairs, self.outputs / self.pairs
        ratio = f'{outputs / inputs:.2f}x the input\'s' if inputs > 0 else 'the input does not change'
        return (f'flicker: consecutive results differ by {outputs:.2f} grey levels on average, consecutive frames '
                f'by {inputs:.2f} ({ratio})')
