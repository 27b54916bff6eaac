"""Reading and writing videos frame by frame as RGB arrays, the sound kept.

PyAV (FFmpeg inside its wheel) reads the frames and writes H.264 (.mp4, .m4v, .mov, .mkv) or MPEG-4 part 2
(.avi), at the input's frame rate, and copies the audio stream unchanged (re-encoded to AAC only where the
container cannot hold its codec). Without PyAV, OpenCV writes the frames and the sound is dropped, with a
warning.
"""
import errno
import heapq
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from core.files import atomic_outputs

from .images import InputError

try:
    import av
except ImportError:  # the OpenCV fallback below
    av = None

logger = logging.getLogger(__name__)

CODEC_BY_EXTENSION = {'.mp4': 'libx264', '.m4v': 'libx264', '.mov': 'libx264', '.mkv': 'libx264', '.avi': 'mpeg4'}
# Audio codecs each container takes as they are; anything else is re-encoded to AAC.
COPYABLE_AUDIO = {'.mp4': {'aac', 'mp3', 'ac3', 'alac', 'opus'}, '.m4v': {'aac', 'mp3', 'ac3', 'alac'},
                  '.mov': {'aac', 'mp3', 'ac3', 'alac', 'pcm_s16le'}, '.mkv': None,  # None: any
                  '.avi': {'mp3', 'ac3', 'pcm_s16le'}}
# OpenCV's fallback: codecs its wheels write without extra libraries (MPEG-4 in .mp4, MJPEG in .avi).
FOURCC_BY_EXTENSION = {'.mp4': 'mp4v', '.m4v': 'mp4v', '.mov': 'mp4v', '.mkv': 'mp4v', '.avi': 'MJPG'}


@dataclass
class VideoInfo:
    rate: Fraction  # frames per second
    size: tuple  # (width, height)
    count: int  # frames, as the container says (0: unknown)
    audio: str = None  # the audio codec's name, or None

    @property
    def fps(self):
        return float(self.rate)


class VideoReader:
    """A readable video: `info`, `frames()` (RGB, until the end or the first undecodable data), and the audio
    packets met on the way (`take_audio()`), for a writer to copy."""

    def __init__(self, path):
        if not os.path.isfile(path):
            raise InputError(f'{path}: no such file')
        self.path = path
        self._audio = []
        if av is None:
            self._capture, self.info = _open_with_opencv(path)
            return
        try:
            self._container = av.open(path)
            self._video = self._container.streams.video[0]
        except (av.FFmpegError, IndexError, UnicodeDecodeError):
            raise InputError(f'{path}: not a readable video') from None
        self._audio_stream = self._container.streams.audio[0] if self._container.streams.audio else None
        context = self._video.codec_context
        rate = self._video.average_rate or self._video.guessed_rate or Fraction(25)
        self.info = VideoInfo(Fraction(rate), (context.width, context.height), self._video.frames,
                              self._audio_stream.codec_context.name if self._audio_stream else None)
        if context.width <= 0 or context.height <= 0:
            self.close()
            raise InputError(f'{path}: not a readable video')

    def frames(self):
        if av is None:
            yield from _opencv_frames(self._capture)
            return
        streams = [self._video] + ([self._audio_stream] if self._audio_stream else [])
        try:
            for packet in self._container.demux(streams):
                if packet.stream is self._video:
                    for frame in packet.decode():
                        yield frame.to_ndarray(format='rgb24')
                elif packet.dts is not None:  # the flush packet at the end has none
                    self._audio.append(packet)
        except (av.FFmpegError, EOFError):  # a truncated file ends here, cleanly
            return

    def take_audio(self):
        packets, self._audio = self._audio, []
        return packets

    @property
    def audio_stream(self):
        return None if av is None else self._audio_stream

    def close(self):
        if av is None:
            self._capture.release()
        else:
            self._container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_video(path):
    """The VideoInfo of a readable video (its first frame decoded), else InputError."""
    with VideoReader(path) as reader:
        if next(reader.frames(), None) is None:
            raise InputError(f'{path}: not a readable video (no frame decodes)')
        return reader.info


def check_video_name(path):
    extension = os.path.splitext(path)[1].lower()
    if extension not in CODEC_BY_EXTENSION:
        raise InputError(f'{path}: write videos as {", ".join(CODEC_BY_EXTENSION)}')
    return extension


@contextmanager
def video_writer(path, rate, size_wh, audio_from=None):
    """A `write(rgb_or_grey_frame)` function; the file appears at `path` only once the block completes,
    read back and checked. `audio_from`: a VideoReader whose audio is copied alongside."""
    extension = check_video_name(path)
    with atomic_outputs([path]) as (temp,):
        if av is None:
            if audio_from is not None and audio_from.info.audio:
                logger.warning('PyAV is not installed: the sound of %s is dropped (pip install av keeps it)',
                               audio_from.path)
            with _opencv_writer(temp, FOURCC_BY_EXTENSION[extension], float(rate), size_wh) as (write, written):
                yield write
            _check_written(temp, written[0], None)
            return
        with _av_writer(temp, extension, Fraction(rate).limit_denominator(1001000), size_wh, audio_from) \
                as (write, written):
            yield write
        _check_written(temp, written[0], audio_from.info.audio if audio_from else None)


@contextmanager
def _av_writer(path, extension, rate, size_wh, audio_from):
    width, height = size_wh
    container = av.open(path, 'w')
    try:
        stream = container.add_stream(CODEC_BY_EXTENSION[extension], rate=rate)
        stream.width, stream.height = width, height
        # 4:2:0 needs even sides; an odd-sized video keeps its size in 4:4:4
        stream.pix_fmt = 'yuv420p' if width % 2 == 0 and height % 2 == 0 else 'yuv444p'
        audio = _audio_output(container, extension, audio_from)
        written = [0]

        def write(frame):
            if frame.ndim == 2:
                frame = np.repeat(frame[:, :, None], 3, axis=2)
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:, :, :3]), format='rgb24')
            picture.pts, picture.time_base = written[0], 1 / rate
            container.mux(stream.encode(picture))
            written[0] += 1
            if audio:
                audio(audio_from.take_audio())

        yield write, written
        container.mux(stream.encode(None))
        if audio:
            audio(audio_from.take_audio(), flush=True)
    finally:
        container.close()


def _audio_output(container, extension, reader):
    """A function muxing the reader's audio packets into `container` (copied, or re-encoded to AAC), or None."""
    if reader is None or reader.audio_stream is None:
        return None
    source = reader.audio_stream
    copyable = COPYABLE_AUDIO[extension]
    if copyable is None or source.codec_context.name in copyable:
        target = container.add_stream_from_template(source)

        def copy(packets, flush=False):
            for packet in packets:
                packet.stream = target
                container.mux(packet)
        return copy
    logger.info('the audio (%s) cannot go into %s as it is: re-encoding it to AAC', source.codec_context.name,
                extension)
    target = container.add_stream('aac', rate=source.codec_context.sample_rate)

    def encode(packets, flush=False):
        for packet in packets:
            for frame in packet.decode():
                frame.pts = None
                container.mux(target.encode(frame))
        if flush:
            container.mux(target.encode(None))
    return encode


def join_segments(segments, src, dst):
    """`dst` from consecutive video-only `segments` (written by video_writer with the same settings: their
    packets go in as they are, time-shifted) and the audio of `src`, copied; atomically, read back."""
    if av is None:
        raise InputError('joining the workers\' video segments needs PyAV: pip install av')
    extension = check_video_name(dst)
    with atomic_outputs([dst]) as (temp,), VideoReader(src) as source:
        inputs = [av.open(path) for path in segments]
        output = av.open(temp, 'w')
        try:
            video = output.add_stream_from_template(inputs[0].streams.video[0])
            audio = _audio_output(output, extension, source)
            packets = _joined_video_packets(inputs, video)
            if audio:
                audio_packets = (p for p in source._container.demux(source.audio_stream) if p.dts is not None)
                packets = heapq.merge(packets, ((float(p.pts * p.time_base), i, p, 'audio')
                                                for i, p in enumerate(audio_packets)), key=lambda t: t[:2])
            frames = 0
            for _, _, packet, kind in packets:
                if kind == 'audio':
                    audio([packet])
                else:
                    output.mux(packet)
                    frames += 1
            if audio:
                audio([], flush=True)
        finally:
            output.close()
            for container in inputs:
                container.close()
        _check_written(temp, frames, source.info.audio)


def _joined_video_packets(inputs, stream):
    """(decoding time in seconds, order, packet, 'video') of every segment's video packets, each segment
    shifted to start where the previous one ended."""
    shift = 0.0
    order = 0
    for container in inputs:
        source = container.streams.video[0]
        count = 0
        for packet in container.demux(source):
            if packet.dts is None:
                continue
            offset = round(shift / packet.time_base)
            packet.pts += offset
            packet.dts += offset
            packet.stream = stream
            count += 1
            order += 1
            yield float(packet.dts * packet.time_base), order, packet, 'video'  # dts: in order, as merged
        shift += count / float(source.guessed_rate or source.average_rate)


def _check_written(path, frames_written, audio):

    """A writer may report no failure (a full disk can give an unplayable file and no error): read it back."""
    try:
        with VideoReader(path) as reader:
            count = reader.info.count or sum(1 for _ in reader.frames())
            has_audio = reader.info.audio is not None
    except InputError:
        count, has_audio = 0, False
    if count != frames_written:
        raise OSError(errno.EIO, f'the video written reads back with {count} of {frames_written} frames')
    if audio and not has_audio:
        raise OSError(errno.EIO, 'the video written has lost its audio stream')


# ---- OpenCV, without PyAV ----

def _open_with_opencv(path):
    os.environ.setdefault('OPENCV_FFMPEG_LOGLEVEL', '-8')  # our InputError says it in one line
    capture = cv2.VideoCapture(path)
    ok = capture.isOpened()
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if ok else 0
    width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if not ok or count <= 0 or width <= 0 or height <= 0:
        capture.release()
        raise InputError(f'{path}: not a readable video')
    fps = capture.get(cv2.CAP_PROP_FPS)
    # OpenCV cannot tell whether there is sound: assume so, so that dropping it is said
    return capture, VideoInfo(Fraction(fps if fps > 0 else 25.0).limit_denominator(1001000), (width, height), count,
                              'unknown')


def _opencv_frames(capture):
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


@contextmanager
def _opencv_writer(path, fourcc, fps, size_wh):
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps, tuple(size_wh))
    if not writer.isOpened():
        raise InputError(f'{path}: OpenCV cannot write this video format here')
    written = [0]

    def write(frame):
        if frame.ndim == 2:
            frame = np.repeat(frame[:, :, None], 3, axis=2)
        writer.write(cv2.cvtColor(np.ascontiguousarray(frame[:, :, :3]), cv2.COLOR_RGB2BGR))
        written[0] += 1

    try:
        yield write, written
    finally:
        writer.release()
