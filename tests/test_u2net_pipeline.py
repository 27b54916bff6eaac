"""U^2-Net applications end to end: portrait drawing of a photo, a folder and a video; segmentation; bad input.

Real weights cannot be downloaded here, so the tests make U2NET weights in the upstream layout (with a
gentle head, so the drawings are not saturated) and run the real command on a real photo.
"""
import json
import os

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from cli import ROOT, load_script, made_up_weights, run_msrun, run_script, save_torch
from ms_models.inference import Predictor
from preprocess.u2net_tasks import PortraitDrawing, SalientObject
from torch_ref.inference import Predictor as TorchPredictor
from core.registry import ARCHS
from weights_convert import mindspore_network

cli = load_script('test')


@pytest.fixture(scope='module')
def portrait(tmp_path_factory):
    """(weights path, state dict) of a made-up u2net_portrait.pth."""
    state = made_up_weights('u2net', seed=5, gentle_head=True)
    path = tmp_path_factory.mktemp('weights') / 'u2net_portrait.pth'
    return str(save_torch(state, path)), state


@pytest.fixture(scope='module')
def astronaut(tmp_path_factory):
    path = tmp_path_factory.mktemp('photos') / 'astronaut.png'
    Image.fromarray(data.astronaut()).save(path)
    return str(path)


def run_cli(*args):
    return cli.main([*map(str, args), '--mode', 'pynative', '--quiet'])


def test_mindspore_pipeline_equals_pytorch_reference_pipeline(portrait):
    _, state = portrait
    reference = ARCHS['u2net'].build_torch()
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    photo = data.astronaut()[:, 40:460]  # not square: the drawing must come back at the photo's size

    ours = PortraitDrawing(Predictor(mindspore_network(state).net))(photo)
    theirs = PortraitDrawing(TorchPredictor(reference))(photo)

    assert ours.shape == theirs.shape == photo.shape[:2] and ours.dtype == np.uint8
    assert ours.std() > 20  # a real drawing, not a saturated page
    diff = np.abs(ours.astype(int) - theirs)
    assert (diff <= 1).mean() >= 0.999, f'{(diff <= 1).mean():.4%} within 1 grey level, max {diff.max()}'


def test_portrait_command_on_a_photo(portrait, astronaut, tmp_path):
    weights, state = portrait
    out = tmp_path / 'drawing.png'
    assert run_cli('--model', 'u2net_portrait', '--photo_path', astronaut, '--save_path', out,
                   '--weights', weights) == 0
    drawing = np.asarray(Image.open(out))
    assert drawing.shape == (512, 512)
    expected = PortraitDrawing(Predictor(mindspore_network(state).net))(data.astronaut())
    assert np.abs(drawing.astype(int) - expected).max() <= 1
    assert os.path.exists(weights[:-len('.pth')] + '.ckpt')  # converted once, cached beside the .pth


def test_portrait_command_on_a_folder_skips_the_bad_photo(portrait, astronaut, tmp_path):
    weights, _ = portrait
    photos = tmp_path / 'photos'
    (photos / 'sub').mkdir(parents=True)
    Image.open(astronaut).convert('L').resize((200, 150)).save(photos / 'sub' / 'grey.jpg')
    (photos / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
    (photos / 'notes.txt').write_text('ignored')
    out = tmp_path / 'drawings'

    assert run_cli('--model', 'u2net_portrait', '--photo_path', photos, '--save_path', out,
                   '--weights', weights) == 3  # some done, some failed
    assert sorted(os.path.relpath(os.path.join(r, f), out) for r, _, fs in os.walk(out) for f in fs) == \
        ['sub/grey.png']
    assert Image.open(out / 'sub' / 'grey.png').size == (200, 150)


def test_report_holds_the_numbers_of_the_summary(portrait, astronaut, tmp_path, caplog):
    """--report: every input with its status, faces found and drawn, seconds, output and error; the totals
    and messages are the printed summary's."""
    import re
    caplog.set_level('INFO')
    weights, _ = portrait
    photos = tmp_path / 'photos'
    photos.mkdir()
    Image.open(astronaut).save(photos / 'a_face.png')
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(photos / 'b_noise.png')
    (photos / 'c_broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
    out, report = tmp_path / 'drawings', tmp_path / 'run.json'
    assert run_cli('--model', 'u2net_portrait', '--photo_path', photos, '--save_path', out, '--weights', weights,
                   '--face_crop', '--report', report) == 3
    written = json.loads(report.read_text())
    done, total, seconds = re.search(r'(\d+) of (\d+) done in ([\d.]+) s', caplog.text).groups()
    assert (written['done'], written['total'], f'{written["seconds"]:.1f}') == (int(done), int(total), seconds)
    face, noise, broken = written['items']
    assert (face['status'], face['faces_drawn']) == ('done', 1) and face['faces_found'] >= 1
    assert face['output'] == str(out / 'a_face.png') and face['seconds'] > 0
    assert (noise['status'], noise['faces_found'], noise['faces_drawn']) == ('done', 0, 0)  # the whole photo drawn
    assert broken['status'] == 'failed' and f'  failed: {broken["error"]}' in caplog.text
    assert broken['faces_found'] is None  # never read, never looked at
    assert written['failed'] == 1 and written['skipped'] == 0


def _write_video(path, frames, fps=12.0):
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), fps, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()


def test_portrait_command_on_a_video(portrait, tmp_path):
    weights, _ = portrait
    clip = [cv2.resize(np.roll(data.astronaut(), 20 * i, axis=1), (96, 72)) for i in range(3)]
    _write_video(tmp_path / 'clip.avi', clip)
    out = tmp_path / 'drawn.mp4'
    assert run_cli('--model', 'u2net_portrait', '--video_path', tmp_path / 'clip.avi', '--save_path', out,
                   '--weights', weights) == 0
    capture = cv2.VideoCapture(str(out))
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (96, 72)
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(12.0)
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3


def _write_video_with_tone(path, frames, fps=12, seconds=1.0, sample_rate=44100):
    """An H.264 .mp4 of `frames` with a 440 Hz AAC tone of `seconds`, made with the media library."""
    import av
    container = av.open(str(path), 'w')
    video = container.add_stream('libx264', rate=fps)
    video.width, video.height, video.pix_fmt = frames[0].shape[1], frames[0].shape[0], 'yuv420p'
    audio = container.add_stream('aac', rate=sample_rate)
    for i, frame in enumerate(frames):
        picture = av.VideoFrame.from_ndarray(frame, format='rgb24')
        picture.pts = i
        container.mux(video.encode(picture))
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(sample_rate * seconds)) / sample_rate)).astype(np.float32)
    for start in range(0, len(tone), 1024):
        sound = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format='flt', layout='mono')
        sound.sample_rate, sound.pts = sample_rate, start
        container.mux(audio.encode(sound))
    container.mux(video.encode(None))
    container.mux(audio.encode(None))
    container.close()


def _streams(path):
    """{kind: (codec, frames, seconds)} of a media file, as the media library reads it."""
    import av
    with av.open(str(path)) as container:
        return {s.type: (s.codec_context.name, s.frames, float(s.duration * s.time_base), s.guessed_rate
                         if s.type == 'video' else s.sample_rate) for s in container.streams}


def test_video_keeps_its_sound(tmp_path, caplog):
    """Frames, frame rate and size kept, the audio stream copied (same codec, same duration), and the
    flicker figure in the summary."""
    caplog.set_level('INFO')
    weights = save_torch(made_up_weights('u2netp', seed=3, gentle_head=True), tmp_path / 'u2netp.pth')
    clip = [cv2.resize(np.roll(data.astronaut(), 20 * i, axis=1), (96, 72)) for i in range(12)]
    _write_video_with_tone(tmp_path / 'talk.mp4', clip)
    out = tmp_path / 'mask.mp4'
    assert run_cli('--model', 'u2netp', '--video_path', tmp_path / 'talk.mp4', '--save_path', out,
                   '--weights', weights, '--report', out.with_suffix('.json')) == 0
    source, result = _streams(tmp_path / 'talk.mp4'), _streams(out)
    assert result['video'][0] == 'h264' and result['video'][1] == 12 and result['video'][3] == 12
    assert result['audio'][0] == source['audio'][0] == 'aac'
    assert abs(result['audio'][2] - source['audio'][2]) <= 1 / 12  # within a frame
    assert 'flicker: consecutive results differ by' in caplog.text
    report = json.loads(out.with_suffix('.json').read_text())
    assert report['frames'] == 12 and f'{report["flicker"]["results"]:.2f} grey levels' in caplog.text
    capture = cv2.VideoCapture(str(out))
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (96, 72)


def test_without_pyav_the_frames_are_written_and_the_lost_sound_said(tmp_path, monkeypatch, caplog):
    from preprocess import batch, video
    clip = [cv2.resize(np.roll(data.astronaut(), 20 * i, axis=1), (96, 72)) for i in range(4)]
    _write_video_with_tone(tmp_path / 'talk.mp4', clip)
    monkeypatch.setattr(video, 'av', None)
    summary = batch.run_on_video(lambda frame: 255 - frame, str(tmp_path / 'talk.mp4'), str(tmp_path / 'out.avi'),
                                 progress=False)
    assert summary.done == 4 and 'the sound of' in caplog.text and 'is dropped' in caplog.text
    monkeypatch.undo()
    assert _streams(tmp_path / 'out.avi')['video'][1] == 4 and 'audio' not in _streams(tmp_path / 'out.avi')


def test_truncated_video_ends_cleanly_with_what_was_read(tmp_path):
    state = made_up_weights('u2netp', seed=3, gentle_head=True)
    weights = save_torch(state, tmp_path / 'u2netp.pth')
    clip = [np.random.default_rng(i).integers(0, 255, (48, 64, 3), dtype=np.uint8) for i in range(10)]
    _write_video(tmp_path / 'full.avi', clip)
    data_bytes = (tmp_path / 'full.avi').read_bytes()
    (tmp_path / 'cut.avi').write_bytes(data_bytes[:len(data_bytes) * 6 // 10])
    out = tmp_path / 'mask.avi'
    assert run_cli('--model', 'u2netp', '--video_path', tmp_path / 'cut.avi', '--save_path', out,
                   '--weights', weights, '--background', 'white') == 0
    frames_written = int(cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FRAME_COUNT))
    assert 0 < frames_written < 10


def test_segmentation_outputs():
    predict = Predictor(mindspore_network(made_up_weights('u2netp', seed=3, gentle_head=True)).net)
    photo = data.astronaut()[:300, :200]
    mask = SalientObject(predict, 'mask')(photo)
    assert mask.shape == (300, 200) and mask.std() > 10
    cutout = SalientObject(predict, 'transparent')(photo)
    assert cutout.shape == (300, 200, 4) and np.array_equal(cutout[:, :, 3], mask)
    on_white = SalientObject(predict, 'white')(photo)
    expected = np.round(photo * (mask[:, :, None] / 255.0) + 255 * (1 - mask[:, :, None] / 255.0))
    assert np.abs(on_white.astype(int) - expected).max() <= 1


def test_bad_input_one_line_errors_and_no_output(portrait, astronaut, tmp_path, capsys):
    weights, _ = portrait
    wrong = save_torch(made_up_weights('p2c_generator', 1), tmp_path / 'photo2cartoon_weights.pt', 'genA2B')
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'text.mp4').write_text('not a video')
    (tmp_path / 'bad.png').write_bytes(b'garbage')
    out = tmp_path / 'out'
    cases = {
        'missing path': (['--photo_path', tmp_path / 'nope.jpg', '--save_path', out / 'a.png'], 'no such file'),
        'unreadable image': (['--photo_path', tmp_path / 'bad.png', '--save_path', out / 'a.png'],
                             'not a readable image'),
        'empty folder': (['--photo_path', tmp_path / 'empty', '--save_path', out], 'no images in this folder'),
        'non-video file': (['--video_path', tmp_path / 'text.mp4', '--save_path', out / 'v.mp4'],
                           'not a readable video'),
        'wrong weights': (['--photo_path', astronaut, '--save_path', out / 'a.png', '--weights', wrong],
                          'photo2cartoon_weights.pt holds a p2c_generator'),
        'no weights': (['--photo_path', astronaut, '--save_path', out / 'a.png', '--weights', tmp_path / 'x.pth'],
                       'no such weights file'),
    }
    for name, (args, message) in cases.items():
        args = ['--model', 'u2net_portrait', *args]
        if '--weights' not in args:
            args += ['--weights', weights]
        assert run_cli(*args) == 1, name
        err = capsys.readouterr().err
        assert err.startswith('error: ') and err.count('\n') == 1 and message in err, (name, err)
        assert not out.exists() or os.listdir(out) == [], name


def test_large_photo_stays_within_memory(portrait, tmp_path):
    weights, _ = portrait
    y, x = np.mgrid[0:3000, 0:4000]
    Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], axis=2).astype(np.uint8)).save(tmp_path / 'big.jpg')
    result = run_script('test', '--model', 'u2net_portrait', '--photo_path', tmp_path / 'big.jpg',
                        '--save_path', tmp_path / 'big.png', '--weights', weights, '--mode', 'pynative')
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / 'big.png').size == (4000, 3000)
    peak_mib = float(result.stderr.split('peak memory ')[1].split()[0])
    print(f'4000x3000 portrait drawing: peak memory {peak_mib:.0f} MiB')
    assert peak_mib < 4096


def msrun_test_py(tmp_path, *args, port_base=9118):
    """test.py under msrun with 2 CPU workers; {worker log name: its text}."""
    return run_msrun(tmp_path, ROOT / 'test.py', *args, '--distribute', '--mode', 'pynative', port_base=port_base)


def test_a_folder_shared_out_by_msrun_is_drawn_once_with_one_summary(tmp_path):
    """Two CPU workers under MindSpore's launcher over 6 photos: each output written exactly once (by the
    worker whose share it is), one summary (rank 0's) and one report."""
    weights = save_torch(made_up_weights('u2netp', seed=3, gentle_head=True), tmp_path / 'u2netp.pth')
    photos = tmp_path / 'photos'
    photos.mkdir()
    for i in range(6):
        Image.fromarray(np.roll(data.astronaut()[::4, ::4], 10 * i, axis=1)).save(photos / f'p{i}.png')
    out = tmp_path / 'masks'
    worker_logs = msrun_test_py(tmp_path, '--model', 'u2netp', '--weights', weights, '--photo_path', photos,
                                '--save_path', out, '--report', tmp_path / 'run.json')
    assert sorted(os.listdir(out)) == [f'p{i}.png' for i in range(6)]  # nothing else: the rank files are gone
    report = json.loads((tmp_path / 'run.json').read_text())  # a photo drawn twice would be listed twice
    assert report['done'] == report['total'] == 6 and [item['input'] for item in report['items']] == \
        [str(photos / f'p{i}.png') for i in range(6)]
    summaries = [log for log in worker_logs.values() if '6 of 6 done in' in log]
    assert len(summaries) == 1 and 'rank 0 in a world of 2: 3 of the 6 photos' in worker_logs['worker_0.log']
    assert 'rank 1 in a world of 2: 3 of the 6 photos' in worker_logs['worker_1.log']


def test_a_video_shared_out_by_msrun_comes_back_whole_with_its_sound(tmp_path):
    """Two CPU workers draw consecutive halves of a video; rank 0 joins them with the sound: the frames are
    those of a one-worker run, in order, and the audio is the source's."""
    weights = save_torch(made_up_weights('u2netp', seed=3, gentle_head=True), tmp_path / 'u2netp.pth')
    clip = [cv2.resize(np.roll(data.astronaut(), 20 * i, axis=1), (96, 72)) for i in range(12)]
    _write_video_with_tone(tmp_path / 'talk.mp4', clip)
    worker_logs = msrun_test_py(tmp_path, '--model', 'u2netp', '--weights', weights, '--video_path',
                                tmp_path / 'talk.mp4', '--save_path', tmp_path / 'shared.mp4', port_base=9618)
    assert 'frames 0 to 5 of 12' in worker_logs['worker_0.log'] and 'frames 6 to 11 of 12' in worker_logs['worker_1.log']
    assert sum('12 frames in' in log for log in worker_logs.values()) == 1
    assert sorted(os.listdir(tmp_path)) == ['logs', 'shared.mp4', 'talk.mp4', 'u2netp.ckpt', 'u2netp.ckpt.sha256',
                                            'u2netp.pth']  # the segments are gone
    source, shared = _streams(tmp_path / 'talk.mp4'), _streams(tmp_path / 'shared.mp4')
    assert shared['video'][1] == 12 and shared['video'][3] == 12 and shared['audio'][0] == 'aac'
    assert abs(shared['audio'][2] - source['audio'][2]) <= 1 / 12 and abs(shared['video'][2] - 1.0) <= 1 / 12

    assert run_cli('--model', 'u2netp', '--video_path', tmp_path / 'talk.mp4', '--save_path', tmp_path / 'one.mp4',
                   '--weights', weights) == 0
    from preprocess.video import VideoReader
    with VideoReader(str(tmp_path / 'shared.mp4')) as a, VideoReader(str(tmp_path / 'one.mp4')) as b:
        shared_frames, one_frames = [f.astype(int) for f in a.frames()], [f.astype(int) for f in b.frames()]
    assert len(shared_frames) == len(one_frames) == 12
    differences = np.array([[np.abs(x - y).mean() for y in one_frames] for x in shared_frames])
    # the same frames in the same order, up to H.264 (each segment starts a fresh group of pictures)
    assert list(differences.argmin(axis=1)) == list(range(12)) and differences.diagonal().max() < 5
