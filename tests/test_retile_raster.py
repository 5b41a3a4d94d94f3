"""Step 3 on a GeoTIFF labelled by a label GeoTIFF (``<name>_mres.tif``), block by block
(``workflows.retile_raster``): the same tiles as the .mat path, whatever the block size."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_script

from dl_tools.errors import InputError
from dl_tools.io.images import read_image
from dl_tools.io.mat import LabelFile, write_label_mat
from dl_tools.workflows.retile import RetileParams, retile

rasterio = pytest.importorskip("rasterio")

NAMES = ["water", "sand", "grass"]


def _scene(seed=2, shape=(700, 900)):
    """(image (H, W, 3) uint8 with no data (0) in its first 100 columns, classes (H, W)): blocks of three classes
    with seeded noise and a few impure specks."""
    rng = np.random.default_rng(seed)
    classes = np.kron(rng.integers(0, 3, size=(7, 9)), np.ones((100, 100), dtype=np.int64))[:shape[0], :shape[1]]
    specks = rng.random(shape) < 0.02
    classes = np.where(specks, (classes + 1) % 3, classes)
    colors = np.array([[30, 60, 200], [220, 200, 140], [60, 170, 60]])
    image = np.clip(colors[classes] + rng.normal(0, 10, shape + (3,)), 1, 255).astype(np.uint8)
    image[:, :100] = 0
    return image, classes


def _write_tif(path, values, nodata, tags=None):
    bands = values[None] if values.ndim == 2 else np.moveaxis(values, 2, 0)
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=len(bands),
                       dtype="uint8", nodata=nodata) as dst:
        dst.write(bands.astype(np.uint8))
        dst.update_tags(**(tags or {}))


@pytest.fixture
def folders(tmp_path):
    """The same scene labelled by a .mat (folder "mat") and by a label GeoTIFF (folder "tif")."""
    from dl_tools.io.geotiff import class_name_tags

    image, classes = _scene()
    for name in ("mat", "tif"):
        (tmp_path / name).mkdir()
        _write_tif(tmp_path / name / "ortho.tif", image, nodata=0)
    write_label_mat(tmp_path / "mat" / "ortho_mres.mat", LabelFile(classes.astype(np.uint8), NAMES))
    _write_tif(tmp_path / "tif" / "ortho_mres.tif", classes, nodata=255, tags=dict(class_name_tags(NAMES)))
    return tmp_path


def _tiles(tile_dir):
    return {p.relative_to(tile_dir).as_posix(): p for p in sorted(tile_dir.rglob("*.jpg"))}


@pytest.mark.parametrize("block", [2048, 200])
def test_blocks_give_the_tiles_of_the_mat_path(folders, monkeypatch, block):
    monkeypatch.setattr("dl_tools.workflows.retile_raster.BLOCK", block)
    params = RetileParams(tile=64, purity=0.9, keep=0.5, min_tiles=5, jobs=1)
    expected, result = retile(folders / "mat", params), retile(folders / "tif", params)
    assert result.found == expected.found and result.kept == expected.kept and result.labels == expected.labels
    mat_tiles, tif_tiles = _tiles(expected.tile_dir), _tiles(result.tile_dir)
    assert sorted(tif_tiles) == sorted(mat_tiles) and len(tif_tiles) > 20
    columns = [int(name.rsplit("_", 1)[1][:-len(".jpg")]) for name in tif_tiles]
    assert min(columns) == 96  # tiles of the no-data border (columns 0-99) are never a class
    for name in list(tif_tiles)[::7]:
        assert np.array_equal(read_image(tif_tiles[name]), read_image(mat_tiles[name]))


def test_a_mat_beside_the_label_geotiff_is_the_one_read(folders):
    import shutil

    shutil.copy(folders / "tif" / "ortho_mres.tif", folders / "mat" / "ortho_mres.tif")
    result = retile(folders / "mat", RetileParams(tile=64, jobs=1))
    assert result.images == ["ortho.tif"]  # once, not twice


def test_label_geotiff_errors(folders):
    _write_tif(folders / "tif" / "ortho_mres.tif", _scene()[1], nodata=255)  # no class names
    with pytest.raises(InputError, match="ortho_mres.tif names no classes"):
        retile(folders / "tif", RetileParams(tile=64, jobs=1))
    from dl_tools.io.geotiff import class_name_tags

    _write_tif(folders / "tif" / "ortho_mres.tif", _scene()[1][:500], nodata=255, tags=dict(class_name_tags(NAMES)))
    with pytest.raises(InputError, match="ortho.tif is 900x700 px but its label file ortho_mres.tif is 900x500"):
        retile(folders / "tif", RetileParams(tile=64, jobs=1))


def test_the_script_retiles_a_label_geotiff(folders):
    proc = run_script("create_library/retile.py", "-t", "64", "-a", "0.9", "--input", folders / "tif")
    assert "tiles written to" in proc.stdout and (folders / "tif" / "tile_64" / "water").is_dir()
