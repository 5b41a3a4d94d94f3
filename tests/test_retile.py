"""Step 3, retile: known tile counts from a synthetic label map, naming, thinning, re-runs and bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, run_script

from dl_tools.errors import InputError
from dl_tools.file_contract import tile_source
from dl_tools.io.images import read_image, write_image
from dl_tools.io.mat import LabelFile, read_label_mat, write_label_mat
from dl_tools.workflows.retile import RetileParams, retile

LABELS = ["sand", "wet sand"]  # a name with a space stays as it is


def _labelled_image(folder, name, width=192, height=128, suffix=".jpg"):
    """Left half class 0 (sand), right half class 1 (wet sand); a colour gradient so tiles differ."""
    label_image = np.zeros((height, width), np.uint8)
    label_image[:, width // 2:] = 1
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = np.where(label_image == 0, 220, 40)
    image[..., 1] = np.arange(width)[None, :] % 256
    image[..., 2] = np.arange(height)[:, None] % 256
    write_image(folder / f"{name}{suffix}", image)
    write_label_mat(folder / f"{name}_mres.mat", LabelFile(label_image, list(LABELS)))
    return image


def _counts(tile_dir):
    return {p.name: len(list(p.glob("*.jpg"))) for p in sorted(tile_dir.iterdir())}


def test_tiles_land_in_their_class_folders(tmp_path):
    image = _labelled_image(tmp_path, "scene1")
    _labelled_image(tmp_path, "scene10", width=96)   # has its own label file
    write_image(tmp_path / "scene100.jpg", image)      # an image without a label file: not tiled
    (tmp_path / "notes.txt").write_text("x")
    result = retile(tmp_path, RetileParams(tile=32, purity=0.9, jobs=1))
    # scene1: 7 tile rows x 5 pure columns per half; scene10 (96 wide): columns 0, 16 pure sand, 48, 64 wet sand
    assert result.found == result.kept == {"sand": 35 + 14, "wet sand": 35 + 14}
    assert _counts(result.tile_dir) == {"sand": 49, "wet sand": 49}
    assert result.tile_dir == tmp_path / "tile_32"
    assert sorted(result.images) == ["scene1.jpg", "scene10.jpg"]
    tile = read_image(tmp_path / "tile_32" / "wet sand" / "scene1_16_128.jpg")
    assert np.abs(tile.astype(int) - image[16:48, 128:160]).mean() < 3  # JPEG-close to the crop it names
    sources = {tile_source(path) for path in result.tile_dir.rglob("*.jpg")}
    assert sources == {"scene1", "scene10"}  # every tile name gives back its photograph


@pytest.mark.parametrize("name, source", [
    ("scene1_16_128.jpg", "scene1"),
    ("2018-10-06_14.34.03-DSC06391_N7251F_0_48.jpg", "2018-10-06_14.34.03-DSC06391_N7251F"),  # underscores kept
    ("a_1_2_3.png", "a_1"),
    ("veg_3.jpg", None),          # one number: not a retile name
    ("scene_x_16.jpg", None),
])
def test_tile_source(name, source):
    assert tile_source(name) == source


def test_no_data_pixels_of_a_tiff_are_never_a_class(tmp_path):
    """A GeoTIFF's no-data border gets a class in its label file (step 2 writes one for every pixel): its tiles
    must not become tiles of that class."""
    import rasterio

    image = _labelled_image(tmp_path, "scene")  # left half sand, right half wet sand
    (tmp_path / "scene.jpg").unlink()
    grey = image[..., 1].copy()
    grey[:, :64] = 0  # the first 64 columns hold no data
    with rasterio.open(tmp_path / "scene.tif", "w", driver="GTiff", height=grey.shape[0], width=grey.shape[1],
                       count=1, dtype="uint8", nodata=0) as dst:
        dst.write(grey, 1)
    result = retile(tmp_path, RetileParams(tile=32, purity=0.9, jobs=1))
    # sand (columns 0-95) keeps only its tiles that start at column 64 (1 column x 7 rows; the 5 columns of tiles
    # without the border); wet sand is untouched
    assert result.found == {"sand": 7, "wet sand": 35}
    assert min(int(p.stem.split("_")[-1]) for p in (result.tile_dir / "sand").glob("*.jpg")) == 64


def test_pixels_marked_without_data_in_the_label_file_are_never_a_class(tmp_path):
    """The label file's own nodata mask (written by step 2 for a GeoTIFF) counts too, whatever the image type."""
    _labelled_image(tmp_path, "scene")
    label_file = read_label_mat(tmp_path / "scene_mres.mat")
    label_file.nodata = np.zeros(label_file.shape, bool)
    label_file.nodata[:, :64] = True
    write_label_mat(tmp_path / "scene_mres.mat", label_file)
    result = retile(tmp_path, RetileParams(tile=32, purity=0.9, jobs=1))
    assert result.found == {"sand": 7, "wet sand": 35}  # as for the GeoTIFF's own no-data border above


def test_a_lower_threshold_keeps_the_tied_tiles_for_the_first_class(tmp_path):
    _labelled_image(tmp_path, "a")
    result = retile(tmp_path, RetileParams(tile=32, purity=0.5, jobs=1))
    assert result.kept == {"sand": 42, "wet sand": 35}


def test_thinning_keeps_a_seeded_fraction(tmp_path):
    for k in range(3):
        _labelled_image(tmp_path, f"img{k}")
    params = RetileParams(tile=32, keep=0.5, min_tiles=20, seed=1, jobs=2)
    result = retile(tmp_path, params)
    assert result.found == {"sand": 105, "wet sand": 105} and result.kept == {"sand": 52, "wet sand": 52}
    first = {p.name for p in (tmp_path / "tile_32").rglob("*.jpg")}
    retile(tmp_path, RetileParams(tile=32, keep=0.5, min_tiles=20, seed=1, overwrite=True))
    assert {p.name for p in (tmp_path / "tile_32").rglob("*.jpg")} == first


def test_rerun_refuses_and_overwrite_replaces_without_mixing(tmp_path):
    _labelled_image(tmp_path, "a")
    run_script("create_library/retile.py", "-t", "32", "-a", "0.9", "--input", tmp_path)
    proc = run_script("create_library/retile.py", "-t", "32", "--input", tmp_path, check_rc=2)
    assert "already exists" in proc.stderr and "--overwrite" in proc.stderr
    proc = run_script("create_library/retile.py", "-t", "32", "-a", "0.5", "--stride", "32", "--input", tmp_path,
                      "--overwrite")
    assert _counts(tmp_path / "tile_32") == {"sand": 12, "wet sand": 12}
    assert "wet sand" in proc.stdout and "total" in proc.stdout
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_bad_input(tmp_path):
    with pytest.raises(InputError, match="no \\*_mres.mat"):
        retile(tmp_path, RetileParams(tile=32))
    _labelled_image(tmp_path, "a")
    (tmp_path / "a.jpg").unlink()
    with pytest.raises(InputError, match="the only label file in .* has no image of the same name"):
        retile(tmp_path, RetileParams(tile=32))
    write_image(tmp_path / "a.png", np.zeros((100, 100, 3), np.uint8))  # wrong size for its label file
    with pytest.raises(InputError, match="belongs to another image"):
        retile(tmp_path, RetileParams(tile=32, jobs=1))
    assert not (tmp_path / "tile_32").exists()
    with pytest.raises(InputError, match="-a"):
        RetileParams(purity=0)
    with pytest.raises(InputError, match="-t 200: every image .* is smaller than one 200 px tile"):
        retile(tmp_path, RetileParams(tile=200))
    with pytest.raises(InputError, match="-a 1.0: no 128 px tile .* is that pure"):  # each tile spans both halves
        retile(tmp_path, RetileParams(tile=128, purity=1.0))
    with pytest.raises(InputError, match="--min_tiles must be 1 or more"):  # a class is never thinned away
        RetileParams(min_tiles=0)


@pytest.mark.parametrize("script", ["create_library/retile.py", "train_dcnn_tfhub/retrain.py",
                                    "train_dcnn_tfhub/make_local_module.py", "eval_imrecog/test_class_tiles.py"])
def test_help_imports_nothing_heavy(script):
    code = (f"import sys; sys.argv = ['{script}', '--help']\n"
            f"try:\n    exec(open(r'{REPO / script}').read())\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('tensorflow', 'tensorflow_hub', 'pydensecrf', 'cv2', 'keras') if m in sys.modules]\n"
            "assert not heavy, heavy")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout
