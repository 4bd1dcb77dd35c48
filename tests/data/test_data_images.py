"""Folders of images: grey, RGB, mixed, class subfolders, resizing, and bad folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vaekit.data import DataConfig, load_dataset
from vaekit.errors import ConfigError, DataError


def save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def grey(value: int, h: int = 4, w: int = 5) -> np.ndarray:
    return np.full((h, w), value, dtype=np.uint8)


def load(path, **kw):
    return load_dataset(DataConfig(str(path), val_fraction=0.0, test_fraction=0.0, **kw))


def test_grey_folder_with_class_subfolders(tmp_path):
    for i in range(6):
        save(tmp_path / ("cat" if i % 2 else "ant") / f"{i}.png", grey(i * 40))
    (tmp_path / ".DS_Store").write_bytes(b"junk")  # hidden files are skipped
    data = load(tmp_path)
    assert data.shape == (1, 4, 5) and data.kind == "grey" and data.classes == ("ant", "cat")
    assert data.y_train.tolist() == [0, 0, 0, 1, 1, 1]  # sorted paths: ant/0,2,4 then cat/1,3,5
    assert data.x_train[:, 0, 0, 0].tolist() == pytest.approx(
        [0, 80 / 255, 160 / 255, 40 / 255, 120 / 255, 200 / 255]
    )


def test_rgb_and_mixed_folders_become_rgb(tmp_path):
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    save(tmp_path / "a.png", rgb)
    save(tmp_path / "b.jpg", grey(255))
    data = load(tmp_path)
    assert data.shape == (3, 4, 5) and data.y_train is None
    assert data.x_train[0, :, 0, 0].tolist() == [1.0, 0.0, 0.0]
    assert torch.allclose(data.x_train[1], torch.ones(3, 4, 5), atol=0.02)  # grey -> 3 channels


def test_black_and_white_images_are_binary(tmp_path):
    for i in range(3):
        save(tmp_path / f"{i}.png", grey(255 * (i % 2)))
    assert load(tmp_path).kind == "binary"


def test_mixed_sizes_need_image_size(tmp_path):
    save(tmp_path / "a.png", grey(10))
    save(tmp_path / "b.png", grey(10, 6, 7))
    with pytest.raises(DataError, match=r"b\.png: size 6x7 differs from .*a\.png \(4x5\).*image_s"):
        load(tmp_path)
    data = load(tmp_path, image_size="3x2")
    assert data.shape == (1, 3, 2) and torch.allclose(
        data.x_train, torch.full((2, 1, 3, 2), 10 / 255)
    )


def test_sixteen_bit_grey(tmp_path):
    Image.fromarray(np.full((3, 3), 65535, dtype=np.uint16)).save(tmp_path / "a.png")
    save(tmp_path / "b.png", grey(0, 3, 3))
    assert load(tmp_path).x_train[:, 0, 0, 0].tolist() == [1.0, 0.0]


def test_palette_image_with_transparency(tmp_path):
    im = Image.fromarray(grey(100)).convert("P")
    im.info["transparency"] = 0
    im.save(tmp_path / "p.png", transparency=0)
    assert load(tmp_path).shape == (1, 4, 5)  # a palette of grey entries is grey


def test_grey_palettes_are_grey_and_colour_palettes_colour(tmp_path):
    """GIFs and optimised PNGs store grey pictures as palettes: read as the grey they show."""
    ramp = (np.arange(20).reshape(4, 5) * 12).astype(np.uint8)
    Image.fromarray(ramp).save(tmp_path / "a.gif")
    Image.fromarray(ramp).convert("P").save(tmp_path / "b.png")
    x = load(tmp_path).x_train
    assert x.shape == (2, 1, 4, 5) and torch.equal(x[0, 0], torch.from_numpy(ramp) / 255)
    colour = np.zeros((4, 5, 3), np.uint8)
    colour[..., 0] = 200
    Image.fromarray(colour).convert("P").save(tmp_path / "c.png")
    assert load(tmp_path).x_train.shape == (3, 3, 4, 5)  # colour wins, as for any colour image


def test_exif_orientation_is_applied_as_a_viewer_shows_the_photo(tmp_path):
    a = np.zeros((4, 8, 3), np.uint8)
    a[:, :2] = 255  # a bright left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(a).save(tmp_path / "e.jpg", exif=exif, quality=100)
    x = load(tmp_path).x_train
    assert x.shape == (1, 3, 8, 4)  # displayed 8 tall, 4 wide
    assert x[0, :, :2].mean() > 0.9 and x[0, :, 2:].mean() < 0.1  # the edge is now on top


RAMP = np.arange(20).reshape(4, 5)


@pytest.mark.parametrize(
    ("array", "want"),
    [
        ((RAMP * 13).astype(np.int32), RAMP * 13),
        ((RAMP * 3000).astype(np.int32), RAMP * 3000 >> 8),
        ((RAMP / 19).astype(np.float32), np.round(RAMP / 19 * 255)),
    ],
    ids=["32-bit ints of 8-bit values", "32-bit ints of 16-bit values", "floats in [0, 1]"],
)
def test_wide_grey_tiffs_keep_their_levels(tmp_path, array, want):
    Image.fromarray(array).save(tmp_path / "a.tif")
    got = load(tmp_path).x_train[0, 0]
    assert torch.equal(got, torch.from_numpy(want.astype(np.float32)) / 255)


def test_a_grey_image_beyond_16_bits_is_refused(tmp_path):
    Image.fromarray(np.full((4, 5), 70000, np.int32)).save(tmp_path / "a.tif")
    with pytest.raises(DataError, match=r"a\.tif: a grey image of 32-bit integers"):
        load(tmp_path)


@pytest.mark.parametrize(
    ("files", "match"),
    [
        ({}, "empty folder"),
        ({"a.png": "img", "notes.txt": b"hello"}, r"notes\.txt: not an image"),
        ({"a.png": b"\x89PNG garbage"}, r"a\.png: not a readable image"),
        ({"a.png": "img", "cls/b.png": "img"}, "both at the top"),
    ],
)
def test_bad_folders(tmp_path, files, match):
    for name, content in files.items():
        if content == "img":
            save(tmp_path / name, grey(1))
        else:
            (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=match):
        load(tmp_path)


def test_image_size_is_for_folders_only(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((3, 2)))
    with pytest.raises(ConfigError, match="image folders only"):
        load(tmp_path / "x.npy", image_size="2x2")
