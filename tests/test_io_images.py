"""Image reading: every kind of file a user has comes back as (H, W, 3) uint8 RGB."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from bad_images import huge_png, jpeg_bomb, png_bomb

from dl_tools.arrays.color import to_rgb_uint8
from dl_tools.arrays.resize import resize_labels
from dl_tools.errors import InputError
from dl_tools.io.images import (
    READ_FIX,
    find_image,
    find_images,
    image_shape,
    list_images,
    read_image,
    read_raw,
    write_image,
)


def test_png_round_trip_keeps_rgb_order(tmp_path, quadrants):
    image, _ = quadrants
    path = write_image(tmp_path / "q.png", image)
    assert np.array_equal(read_image(path), image)
    # OpenCV stores BGR on disk: the red quadrant must be red in the file as other programs see it
    assert tuple(cv2.imread(str(path))[0, 0]) == tuple(image[0, 0, ::-1])


def test_jpeg_written_and_read(tmp_path):
    image = np.zeros((40, 60, 3), dtype=np.uint8)
    image[:, :30] = (220, 30, 30)
    image[:, 30:] = (30, 30, 220)
    back = read_image(write_image(tmp_path / "q.jpg", image, quality=95))
    assert back.shape == image.shape and np.abs(back.astype(int) - image).mean() < 3


def test_grey_is_replicated(tmp_path):
    grey = np.arange(60, dtype=np.uint8).reshape(6, 10)
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    rgb = read_image(tmp_path / "g.png")
    assert rgb.shape == (6, 10, 3) and all(np.array_equal(rgb[..., c], grey) for c in range(3))


def test_rgba_drops_alpha(tmp_path):
    rgba = np.zeros((4, 5, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 10  # red, nearly transparent
    cv2.imwrite(str(tmp_path / "a.png"), rgba[..., [2, 1, 0, 3]])
    rgb = read_image(tmp_path / "a.png")
    assert rgb.shape == (4, 5, 3) and (rgb[..., 0] == 200).all() and (rgb[..., 1:] == 0).all()


def test_16bit_is_stretched_not_wrapped(tmp_path):
    ramp = np.linspace(1000, 60000, 100 * 3).reshape(10, 10, 3).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), ramp)
    rgb = read_image(tmp_path / "deep.png")
    flat = rgb.reshape(-1, 3)[:, 2].astype(int)  # red channel was stored as OpenCV's third band
    assert rgb.dtype == np.uint8
    assert flat.min() == 0 and flat.max() == 255
    assert np.all(np.diff(rgb.reshape(-1, 3).astype(int), axis=0) >= 0)  # monotonic: no wrap-around


def test_small_integers_and_unit_floats_are_not_stretched():
    assert to_rgb_uint8(np.full((2, 2), 7, dtype=np.uint16))[0, 0, 0] == 7
    assert to_rgb_uint8(np.full((2, 2, 3), 0.5, dtype=np.float32))[0, 0, 0] == 128


def test_float_with_nan_and_wide_range():
    array = np.array([[np.nan, -5.0], [100.0, 2000.0]], dtype=np.float64)
    rgb = to_rgb_uint8(array)
    assert rgb[0, 0, 0] == 0 and rgb[1, 1, 0] == 255


def test_band_choice_for_multiband_geotiff(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    bands = np.stack([np.full((5, 6), 10 * (b + 1), dtype=np.uint8) for b in range(5)])  # (5, H, W)
    path = tmp_path / "multi.tif"
    with rasterio.open(path, "w", driver="GTiff", width=6, height=5, count=5, dtype="uint8") as dst:
        dst.write(bands)
    assert read_image(path)[0, 0].tolist() == [10, 20, 30]
    assert read_image(path, bands=(5, 3, 1))[0, 0].tolist() == [50, 30, 10]
    assert read_image(path, bands=(4,))[0, 0].tolist() == [40, 40, 40]
    with pytest.raises(InputError, match="--bands"):
        read_image(path, bands=(6, 1, 2))


def test_not_an_image_names_the_file(tmp_path):
    fake = tmp_path / "notes.jpg"
    fake.write_text("hello")
    with pytest.raises(InputError, match="notes.jpg is not a readable image"):
        read_image(fake)
    with pytest.raises(InputError, match="does not exist"):
        read_image(tmp_path / "missing.png")


def test_list_images_any_case_ignores_other_files(tmp_path, quadrants):
    image, _ = quadrants
    for name in ("a.JPG", "b.jpeg", "c.Png", "d.TIF"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / "sub.jpg").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.jpeg", "c.Png", "d.TIF"]
    with pytest.raises(InputError, match="--input: no images"):
        list_images(tmp_path / "sub.jpg", flag="--input")


def test_find_image_matches_exact_stem(tmp_path):
    for name in ("IMG_10.jpg", "IMG_1.png", "2018-10-06_14.34.03-DSC06391.jpg"):
        (tmp_path / name).write_bytes(b"x")
    assert find_image(tmp_path, "IMG_1").name == "IMG_1.png"
    assert find_image(tmp_path, "2018-10-06_14.34.03-DSC06391").name.endswith(".jpg")
    assert find_image(tmp_path, "IMG") is None


def test_resize_labels_keeps_values_when_class_zero_absent():
    labels = np.array([[3, 3, 5], [5, 7, 7]], dtype=np.uint8)  # no class 0: the legacy imresize trap
    big = resize_labels(labels, (4, 6))
    assert set(np.unique(big)) == {3, 5, 7}
    assert big.shape == (4, 6) and big.dtype == np.uint8


def test_file_or_folder_in_the_wrong_place(tmp_path, quadrants):
    image, _ = quadrants
    path = write_image(tmp_path / "q.png", image)
    with pytest.raises(InputError, match=f"--input: {path} is a file, not a folder; give a folder of images"):
        list_images(path, flag="--input")
    for reader in (read_image, image_shape):
        with pytest.raises(InputError, match=f"image {tmp_path} is a folder, not a file"):
            reader(tmp_path)


def test_unreadable_image_ends_with_the_callers_fix(tmp_path):
    (tmp_path / "x.png").write_bytes(b"junk")
    (tmp_path / "x.tif").write_bytes(b"junk")
    for name in ("x.png", "x.tif"):
        with pytest.raises(InputError, match=f"{name} is not a readable .*; start again"):
            read_raw(tmp_path / name, fix="start again")


def test_find_images_lists_every_type_of_one_name(tmp_path):
    for name in ("a.jpg", "a.PNG", "ab.png", "a.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in find_images(tmp_path, "a")] == ["a.PNG", "a.jpg"]
    assert find_image(tmp_path, "a").name == "a.PNG" and find_images(tmp_path / "none", "a") == []


@pytest.mark.parametrize("make, name", [(png_bomb, "bomb.png"), (jpeg_bomb, "bomb.jpg")])
def test_a_decompression_bomb_is_an_unreadable_image(tmp_path, make, name):
    """A file whose header claims 60000 x 60000 px before a few bytes of pixel data (the PNG: 778 bytes) is the
    one-line error of any unreadable image, not OpenCV's assertion, and nothing is decoded."""
    bomb = make(tmp_path / name)
    assert image_shape(bomb) == (60000, 60000)  # the header alone reads
    with pytest.raises(InputError, match=f"^{bomb} is not a readable image .*; start again$"):
        read_raw(bomb, fix="start again")
    with pytest.raises(InputError, match=f"^{bomb} is not a readable image"):
        read_image(bomb)


_READ_IN_A_NEW_PROCESS = """
import sys
from dl_tools.errors import InputError
from dl_tools.io.images import read_raw
for path in sys.argv[1:]:
    try:
        array = read_raw(path)
        print(array.shape, array.dtype, array[0, 0], array[0, 1], array[-1, -1])
    except InputError as exc:
        print("error:", exc)
"""


def _read_in_a_new_process(*paths, **env) -> list[str]:
    """read_raw each of ``paths`` in a new Python (no cv2 imported yet) whose environment is ours without
    OPENCV_IO_MAX_IMAGE_PIXELS, plus ``env``: one line per path, the array's shape, dtype and three pixels, or the
    error."""
    environment = {k: v for k, v in os.environ.items() if k != "OPENCV_IO_MAX_IMAGE_PIXELS"} | env
    proc = subprocess.run([sys.executable, "-c", _READ_IN_A_NEW_PROCESS, *map(str, paths)], env=environment,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_images_beyond_opencvs_default_limit_are_read_and_bombs_still_refused(tmp_path):
    """OpenCV decodes at most 2**30 px by default; DL tools lifts that limit (big orthomosaics are normal input):
    a genuine 32768 x 32769 px PNG is read, while the bombs, whose pixel data are missing, are unreadable images."""
    huge, shape = huge_png(tmp_path / "huge.png")
    bombs = png_bomb(tmp_path / "bomb.png"), jpeg_bomb(tmp_path / "bomb.jpg")
    lines = _read_in_a_new_process(huge, *bombs)
    assert lines[0] == f"{shape} uint8 255 0 0"
    for bomb, line in zip(bombs, lines[1:]):
        kind = "PNG" if bomb.suffix == ".png" else "JPEG"
        assert line == (f"error: {bomb} is not a readable image (its header claims 60000 x 60000 px, more than "
                        f"{bomb.stat().st_size} bytes of {kind} can hold: a damaged file or a decompression bomb); "
                        f"{READ_FIX}")


def test_a_pixel_limit_the_user_set_is_kept_and_named(tmp_path):
    path = write_image(tmp_path / "small.png", np.zeros((20, 20, 3), np.uint8))
    (line,) = _read_in_a_new_process(path, OPENCV_IO_MAX_IMAGE_PIXELS="100")
    assert line == (f"error: {path} is not a readable image (more pixels than OpenCV may decode in this process; "
                    "for an image that big, set the environment variable OPENCV_IO_MAX_IMAGE_PIXELS to a larger "
                    f"number before starting Python); {READ_FIX}")


def test_other_formats_keep_opencvs_pixel_limit(tmp_path):
    """A GIF (named .png: OpenCV goes by the content) whose header claims 60000 x 60000 px: no size bound is known
    for it, so OpenCV's default limit holds."""
    from PIL import Image

    path = tmp_path / "animation.png"
    Image.new("P", (2, 2)).save(path, format="GIF")
    data = bytearray(path.read_bytes())
    data[6:10] = (60000).to_bytes(2, "little") * 2  # the logical screen's width and height
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"its header claims 60000 x 60000 px, more than DL tools decodes from a GIF "
                                         r"file \(1073741824 px\)"):
        read_raw(path)
