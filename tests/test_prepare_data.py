"""python -m preprocess.prepare_data: training faces from real photos, the photo without a face reported."""
import matplotlib.cbook
import numpy as np
from PIL import Image
from skimage import data

from preprocess.images import read_rgb
from preprocess.prepare_data import main


def test_real_photos_become_aligned_white_background_faces(tmp_path, caplog):
    photos = tmp_path / 'raw'
    (photos / 'more').mkdir(parents=True)
    Image.fromarray(data.astronaut()).save(photos / 'astronaut.png')
    Image.fromarray(read_rgb(matplotlib.cbook.get_sample_data('grace_hopper.jpg', asfileobj=False))).save(
        photos / 'more' / 'hopper.jpg')
    Image.fromarray(data.coffee()).save(photos / 'coffee.png')  # a cup of coffee: no face
    out = tmp_path / 'trainA'
    status = main(['--data_path', str(photos), '--save_path', str(out), '--quiet'])
    assert status == 3  # some photos had no face
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob('*.png')) == ['astronaut.png', 'more/hopper.png']
    for path in out.rglob('*.png'):
        face = np.asarray(Image.open(path))
        assert face.shape == (256, 256, 3)
        assert (face[:8, :8] >= 250).all() and (face[:8, -8:] >= 250).all()  # the top corners: white background
        assert face[96:160, 96:160].std() > 10  # a face in the middle, not a blank page
    assert 'coffee.png: no face found' in caplog.text


def test_a_missing_folder_is_one_line(tmp_path, capsys):
    assert main(['--data_path', str(tmp_path / 'nope'), '--save_path', str(tmp_path / 'out')]) == 1
    assert capsys.readouterr().err.startswith('error: --data_path')
