"""photo2cartoon end to end on real photos: landmarks, level eyes, square crop, white background, generator.

The photos ship inside installed packages (scikit-image's astronaut, matplotlib's Grace Hopper); the
generator weights are made up in the upstream photo2cartoon_weights.pt layout.
"""
import os

import matplotlib.cbook
import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from cli import load_script, made_up_weights, save_torch
from ms_models.inference import Predictor
from preprocess.align import eye_angle
from preprocess.cartoon import Cartoonizer, FacePreprocessor, generator_input
from preprocess.faces import DlibLandmarks, FanLandmarks
from preprocess.images import InputError, read_rgb
from preprocess.segment import SelfieSegmenter
from torch_ref.inference import Predictor as TorchPredictor
from core.registry import ARCHS
from weights_convert import mindspore_network

cli = load_script('test')
PHOTOS = {'astronaut': lambda: data.astronaut(),
          'grace_hopper': lambda: read_rgb(matplotlib.cbook.get_sample_data('grace_hopper.jpg', asfileobj=False))}


@pytest.fixture(scope='module')
def preprocessor():
    return FacePreprocessor(DlibLandmarks(), SelfieSegmenter())


@pytest.fixture(scope='module')
def generator(tmp_path_factory):
    """(photo2cartoon_weights.pt path, genA2B state dict) of made-up weights, upstream layout."""
    state = made_up_weights('p2c_generator', seed=11)
    path = tmp_path_factory.mktemp('weights') / 'photo2cartoon_weights.pt'
    return str(save_torch(state, path, network='genA2B')), state


@pytest.mark.parametrize('name', list(PHOTOS))
def test_face_is_found_levelled_and_cropped_square(name, preprocessor):
    photo = PHOTOS[name]()
    (face,) = preprocessor(photo)
    crop, mask = face.rgba[:, :, :3], face.rgba[:, :, 3]

    assert abs(face.angle_degrees) > 1  # these photos need the rotation...
    assert abs(np.degrees(eye_angle(face.landmarks))) < 1  # ...which levels the eyes,
    (redetected,) = DlibLandmarks()(np.ascontiguousarray(crop))  # as landmarks found afresh confirm
    assert abs(np.degrees(eye_angle(redetected.landmarks))) < 1

    assert crop.shape[0] == crop.shape[1]
    left, top = face.landmarks.min(0)
    right, bottom = face.landmarks.max(0)
    side = crop.shape[0]
    assert 0 < left and 0 < top and right < side and bottom < side  # the whole face is inside
    assert top > 0.25 * side  # with room for the hair above, as upstream's 0.8h margin gives

    # the mask keeps the face and drops the corners of the crop
    assert mask[int(top):int(bottom), int(left):int(right)].mean() > 200
    assert mask[:side // 10, :side // 10].mean() < 60 and mask[:side // 10, -side // 10:].mean() < 60


@pytest.mark.parametrize('name', list(PHOTOS))
def test_cartoon_background_is_pure_white_and_matches_torch_ref(name, preprocessor, generator):
    _, state = generator
    reference = ARCHS['p2c_generator'].build_torch()
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    photo = PHOTOS[name]()

    ours = Cartoonizer(Predictor(mindspore_network(state).net), preprocessor)(photo)['']
    theirs = Cartoonizer(TorchPredictor(reference), preprocessor)(photo)['']

    assert ours.shape == (256, 256, 3)
    _, mask = generator_input(preprocessor(photo)[0].rgba)
    background = mask[:, :, 0] == 0
    assert background.mean() > 0.05 and (ours[background] == 255).all()
    assert ours[~background].std() > 20  # the generator drew something
    assert np.abs(ours.astype(int) - theirs).max() <= 1


def test_all_faces_and_aligned_outputs(generator, preprocessor):
    head = data.astronaut()[:300]  # below, dlib also "finds" a face in the mission patch
    two = np.full((300, 1100, 3), 255, np.uint8)
    two[:, :512] = head
    two[:, 560:1072] = head[:, ::-1]
    predict = Predictor(mindspore_network(generator[1]).net)
    results = Cartoonizer(predict, preprocessor, all_faces=True, save_aligned=True)(two)
    assert sorted(results) == ['_face1', '_face1_aligned', '_face1_mask', '_face2', '_face2_aligned', '_face2_mask']
    assert results['_face1_aligned'].shape[:2] == results['_face1_mask'].shape


def run_cli(*args):
    return cli.main([*map(str, args), '--mode', 'pynative', '--quiet'])


def test_photo_to_cartoon_command(generator, tmp_path):
    weights, _ = generator
    Image.fromarray(data.astronaut()).save(tmp_path / 'astronaut.jpg', quality=95)
    assert run_cli('--photo_path', tmp_path / 'astronaut.jpg', '--save_path', tmp_path / 'out' / 'cartoon.png',
                   '--weights', weights, '--save_aligned') == 0
    assert sorted(os.listdir(tmp_path / 'out')) == ['cartoon.png', 'cartoon_aligned.png', 'cartoon_mask.png']
    assert Image.open(tmp_path / 'out' / 'cartoon.png').size == (256, 256)
    assert os.path.exists(weights[:-len('.pt')] + '.genA2B.ckpt')  # converted once, cached beside the .pt


def test_folder_of_odd_and_bad_photos(generator, tmp_path, caplog):
    weights, _ = generator
    photos = tmp_path / 'photos'
    photos.mkdir()
    astronaut = Image.fromarray(data.astronaut())
    astronaut.convert('L').save(photos / 'grey.png')
    astronaut.convert('RGBA').save(photos / 'rgba.png')
    astronaut.convert('CMYK').save(photos / 'cmyk.jpg')
    Image.fromarray(np.full((300, 400, 3), 128, np.uint8)).save(photos / 'no_face.png')
    astronaut.resize((20, 20)).save(photos / 'tiny.png')
    (photos / 'broken.jpg').write_bytes(b'\xff\xd8\xff truncated')
    out = tmp_path / 'cartoons'

    assert run_cli('--photo_path', photos, '--save_path', out, '--weights', weights) == 3
    assert sorted(os.listdir(out)) == ['cmyk.png', 'grey.png', 'rgba.png']
    for name in os.listdir(out):
        assert Image.open(out / name).size == (256, 256)
    assert 'no_face.png: no face found' in caplog.text and 'tiny.png: no face found' in caplog.text
    assert 'broken.jpg: not a readable image' in caplog.text


def test_huge_photo(generator, preprocessor, tmp_path):
    huge = np.full((6000, 8000, 3), 255, np.uint8)
    huge[:, 1000:7000] = np.asarray(Image.fromarray(data.astronaut()).resize((6000, 6000), Image.BICUBIC))
    (face,) = preprocessor(huge)
    assert abs(np.degrees(eye_angle(face.landmarks))) < 1 and face.rgba.shape[0] > 1500


@pytest.mark.parametrize('args, message', [
    (['--photo_path', 'PHOTOS/nothing.jpg'], 'no such file'),
    (['--photo_path', 'PHOTOS/text.png'], 'not a readable image'),
    (['--photo_path', 'PHOTOS/no_face.png'], 'no face found'),
    (['--photo_path', 'PHOTOS/tiny.png'], 'no face found'),
    (['--photo_path', 'PHOTOS/face.png', '--weights', 'PHOTOS/u2netp.pth'], 'holds a u2netp'),
    (['--photo_path', 'PHOTOS/face.png', '--save_path', 'PHOTOS/out.gif2'], 'give an image file name'),
    (['--video_path', 'PHOTOS/face.png'], '--video_path is for the U^2-Net models'),
])
def test_bad_input_one_line_error_and_no_output(args, message, generator, tmp_path, capsys):
    photos = tmp_path / 'photos'
    photos.mkdir()
    (photos / 'text.png').write_text('not an image')
    Image.fromarray(np.full((300, 400, 3), 90, np.uint8)).save(photos / 'no_face.png')
    Image.fromarray(data.astronaut()).resize((20, 20)).save(photos / 'tiny.png')
    Image.fromarray(data.astronaut()).save(photos / 'face.png')
    save_torch(made_up_weights('u2netp', 1), photos / 'u2netp.pth')
    args = [a.replace('PHOTOS', str(photos)) for a in args]
    if '--save_path' not in args:
        args += ['--save_path', str(tmp_path / 'out' / 'cartoon.png')]
    if '--weights' not in args:
        args += ['--weights', generator[0]]
    assert run_cli(*args) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1 and message in err, err
    assert not (tmp_path / 'out').exists()


def test_fan_backend_without_its_weights_fails_fast():
    with pytest.raises(InputError, match="'fan' face backend needs"):
        FanLandmarks()


def test_u2net_human_segmentation_as_the_mask(generator, tmp_path):
    weights, _ = generator
    seg = save_torch(made_up_weights('u2net', seed=2, gentle_head=True), tmp_path / 'u2net_human_seg.pth')
    Image.fromarray(data.astronaut()).save(tmp_path / 'astronaut.png')
    assert run_cli('--photo_path', tmp_path / 'astronaut.png', '--save_path', tmp_path / 'cartoon.png',
                   '--weights', weights, '--segmenter', 'u2net_human_seg', '--segmenter_weights', seg,
                   '--save_aligned') == 0
    aligned = np.asarray(Image.open(tmp_path / 'cartoon_aligned.png'))
    mask = np.asarray(Image.open(tmp_path / 'cartoon_mask.png'))
    assert mask.shape == aligned.shape[:2] and mask.std() > 10


def two_portraits():
    """Two real portraits side by side (the astronaut, Grace Hopper at the same height)."""
    import cv2
    hopper = PHOTOS['grace_hopper']()
    hopper = cv2.resize(hopper, (round(hopper.shape[1] * 512 / hopper.shape[0]), 512), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(np.concatenate([data.astronaut(), hopper], axis=1))


def test_paste_back_puts_every_cartoon_face_back_and_leaves_the_rest(preprocessor, generator, tmp_path):
    from preprocess.cartoon import cartoon_output, paste_back
    weights, state = generator
    predict = Predictor(mindspore_network(state).net)
    photo = two_portraits()
    faces = preprocessor(photo, all_faces=True)  # largest first; dlib also finds a small false face on the suit
    assert len(faces) >= 2
    for face in faces:  # the inverse alignment takes the crop's landmarks back onto the photo's
        found = [f.landmarks for f in DlibLandmarks()(photo)]
        back = np.c_[face.landmarks, np.ones(68)] @ face.to_photo.T
        assert min(np.abs(back - landmarks).max() for landmarks in found) < 1.0
    inputs = [generator_input(face.rgba) for face in faces]
    cartoons = [cartoon_output(predict(x)[0][0], mask) for x, mask in inputs]
    pasted, weight = paste_back(photo, faces, cartoons, [mask for _, mask in inputs])

    assert pasted.shape == photo.shape
    untouched = weight == 0
    assert untouched.mean() > 0.5 and np.array_equal(pasted[untouched], photo[untouched])
    for face in faces[:2]:  # both real faces changed
        box = np.c_[face.landmarks, np.ones(68)] @ face.to_photo.T
        (left, top), (right, bottom) = box.min(0).astype(int), box.max(0).astype(int)
        assert np.abs(pasted[top:bottom, left:right].astype(int) - photo[top:bottom, left:right]).mean() > 10

    # the command gives the same picture, and says what it found
    Image.fromarray(photo).save(tmp_path / 'two.png')
    out = tmp_path / 'two_cartoon.png'
    assert cli.main(['--photo_path', str(tmp_path / 'two.png'), '--save_path', str(out), '--weights', weights,
                     '--all_faces', '--paste_back', '--mode', 'pynative', '--quiet']) == 0
    assert np.abs(np.asarray(Image.open(out)).astype(int) - pasted).max() <= 1
