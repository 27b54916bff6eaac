"""Reading photos of every mode, refusing what is not one, and writing without partial files."""
import os

import numpy as np
import pytest
from PIL import Image

from preprocess.images import InputError, list_images, read_rgb, save_image


@pytest.fixture
def photo():
    y, x = np.mgrid[0:40, 0:60]
    return np.stack([x * 4, y * 6, (x + y) * 2], axis=2).astype(np.uint8)


def test_rgb_jpeg_and_png(photo, tmp_path):
    Image.fromarray(photo).save(tmp_path / 'a.png')
    assert np.array_equal(read_rgb(str(tmp_path / 'a.png')), photo)
    Image.fromarray(photo).save(tmp_path / 'a.jpg', quality=95)
    assert np.abs(read_rgb(str(tmp_path / 'a.jpg')).astype(int) - photo).mean() < 3


def test_grayscale_becomes_three_equal_channels(photo, tmp_path):
    Image.fromarray(photo[:, :, 0]).save(tmp_path / 'g.png')
    rgb = read_rgb(str(tmp_path / 'g.png'))
    assert rgb.shape == (40, 60, 3) and np.array_equal(rgb[:, :, 1], photo[:, :, 0])


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 100, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / 'deep.png')
    assert read_rgb(str(tmp_path / 'deep.png'))[0, :, 0].tolist() == [0, 100, 255]


def test_transparency_is_composited_on_white(photo, tmp_path):
    alpha = np.zeros((40, 60), np.uint8)
    alpha[:, :30] = 255
    Image.fromarray(np.dstack([photo, alpha])).save(tmp_path / 'rgba.png')
    rgb = read_rgb(str(tmp_path / 'rgba.png'))
    assert np.array_equal(rgb[:, :30], photo[:, :30]) and (rgb[:, 30:] == 255).all()


def test_cmyk_and_palette(photo, tmp_path):
    Image.fromarray(photo).convert('CMYK').save(tmp_path / 'cmyk.jpg', quality=95)
    assert np.abs(read_rgb(str(tmp_path / 'cmyk.jpg')).astype(int) - photo).mean() < 4
    Image.fromarray(photo).convert('P').save(tmp_path / 'p.png')
    assert read_rgb(str(tmp_path / 'p.png')).shape == (40, 60, 3)


def test_exif_orientation_is_applied(photo, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees clockwise
    Image.fromarray(photo).save(tmp_path / 'rot.jpg', exif=exif)
    assert read_rgb(str(tmp_path / 'rot.jpg')).shape == (60, 40, 3)


@pytest.mark.parametrize('content, message', [(b'hello', 'not a readable image'),
                                              (b'\x89PNG\r\n\x1a\n' + b'\0' * 40, 'not a readable image')])
def test_not_an_image(content, message, tmp_path):
    (tmp_path / 'x.png').write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_rgb(str(tmp_path / 'x.png'))


def test_truncated_and_missing(photo, tmp_path):
    Image.fromarray(np.tile(photo, (10, 10, 1))).save(tmp_path / 'big.png')
    data = (tmp_path / 'big.png').read_bytes()
    (tmp_path / 'cut.png').write_bytes(data[:len(data) // 2])
    with pytest.raises(InputError, match='corrupt or truncated'):
        read_rgb(str(tmp_path / 'cut.png'))
    with pytest.raises(InputError, match='no such file'):
        read_rgb(str(tmp_path / 'nothing.png'))


def test_decompression_bomb_is_refused_from_its_header(tmp_path):
    Image.new('1', (20000, 20000)).save(tmp_path / 'bomb.png')  # 400 megapixels, a few kB on disk
    with pytest.raises(InputError, match='megapixels'):
        read_rgb(str(tmp_path / 'bomb.png'))


def test_save_is_atomic(photo, tmp_path):
    save_image(photo, str(tmp_path / 'out' / 'a.png'))
    assert np.array_equal(np.asarray(Image.open(tmp_path / 'out' / 'a.png')), photo)
    with pytest.raises(InputError, match='transparent result needs a .png'):
        save_image(np.dstack([photo, photo[:, :, :1]]), str(tmp_path / 'out' / 'b.jpg'))
    with pytest.raises(InputError, match='cannot save'):
        save_image(photo, str(tmp_path / 'out' / 'c.unknown'))
    assert sorted(os.listdir(tmp_path / 'out')) == ['a.png']


def test_list_images_is_recursive_and_sorted(photo, tmp_path):
    for name in ['b.jpg', 'a.PNG', 'sub/c.png', 'notes.txt', '.hidden.png']:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b'')
    assert [os.path.relpath(p, tmp_path) for p in list_images(str(tmp_path))] == ['a.PNG', 'b.jpg', 'sub/c.png']
