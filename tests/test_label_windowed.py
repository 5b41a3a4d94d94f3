"""Step 2 in scripted mode on a GeoTIFF above --max-megapixels: strokes as a GeoTIFF on the image's grid, the
labelling engine window by window (``workflows.label_raster``), against the whole-image run."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_script

rasterio = pytest.importorskip("rasterio")
from rasterio.transform import from_origin  # noqa: E402

SHAPE = (1100, 1300)
COLORS = np.array([[200, 40, 40], [40, 180, 40], [40, 40, 200]])
TRANSFORM = from_origin(500000, 4000000, 0.5, 0.5)


def _write(path, array, nodata=None, transform=TRANSFORM):
    bands = array[None] if array.ndim == 2 else np.moveaxis(array, 2, 0)
    with rasterio.open(path, "w", driver="GTiff", width=array.shape[1], height=array.shape[0], count=len(bands),
                       dtype="uint8", crs="EPSG:32618", transform=transform, nodata=nodata) as dst:
        dst.write(bands.astype(np.uint8))


@pytest.fixture
def scene(tmp_path):
    """A 1100 x 1300 GeoTIFF of 4 x 4 blocks of three colours (no data in its first 150 columns), a strokes
    GeoTIFF with a short stroke in every block, and the labels and colours files. Returns (folder, truth)."""
    rng = np.random.default_rng(4)
    truth = np.kron(rng.integers(0, 3, size=(4, 4)), np.ones((275, 325), dtype=np.int64))
    image = np.clip(COLORS[truth] + rng.normal(0, 15, truth.shape + (3,)), 1, 255).astype(np.uint8)
    image[:, :150] = 0
    strokes = np.zeros(SHAPE, np.uint8)
    for r in range(4):
        for c in range(4):
            rows, cols = slice(275 * r + 130, 275 * r + 140), slice(max(325 * c + 100, 160), 325 * c + 220)
            strokes[rows, cols] = truth[rows, cols] + 1
    _write(tmp_path / "ortho.tif", image, nodata=0)
    _write(tmp_path / "strokes.tif", strokes)
    (tmp_path / "labels.txt").write_text("red\ngreen\nblue\n")
    (tmp_path / "colors.txt").write_text("".join(f"#{r:02x}{g:02x}{b:02x}\n" for r, g, b in COLORS))
    return tmp_path, truth


def _label(folder, outdir, *extra, check_rc=0):
    return run_script("create_groundtruth/label_1geotiff_crf.py", "-s", "0.5", "--image", "ortho.tif", "--labels",
                      "labels.txt", "--colors", "colors.txt", "--scribbles", "strokes.tif", "--outdir", outdir, "-q",
                      *extra, cwd=folder, check_rc=check_rc)


def test_windows_agree_with_the_whole_image(scene):
    folder, truth = scene
    _label(folder, "whole")
    proc = _label(folder, "windows", "--max-megapixels", "0.5", "--raster-window", "512", "--halo", "128")
    out = folder / "windows"
    assert sorted(p.name for p in out.iterdir()) == ["ortho_mres.tif", "ortho_mres_preview.png"]
    assert "ortho_mres.tif" in proc.stdout
    with rasterio.open(folder / "whole" / "ortho_mres.tif") as src:
        whole = src.read(1)
    with rasterio.open(out / "ortho_mres.tif") as src:
        labels = src.read(1)
        assert src.transform == TRANSFORM and src.nodata == 255 and src.profile["tiled"]
        assert src.tags()["DL_TOOLS_CLASSES"] == '["red", "green", "blue"]'
    from dl_tools.io.provenance import read_record

    record = read_record(out / "ortho_mres.tif")
    assert [entry["role"] for entry in record["inputs"]] == ["image", "labels", "colors", "strokes"]
    assert (labels[:, :150] == 255).all()
    assert (labels == whole).mean() >= 0.98, (labels == whole).mean()
    assert (labels[:, 150:] == truth[:, 150:]).mean() >= 0.95
    # the labels are a person's work: never replaced without --overwrite
    proc = _label(folder, "windows", "--max-megapixels", "0.5", "--raster-window", "512", check_rc=2)
    assert "ortho_mres.tif already exists; give --overwrite" in proc.stderr


def test_windows_without_strokes_get_no_class_and_a_warning(scene):
    folder, _ = scene
    with rasterio.open(folder / "strokes.tif") as src:
        strokes = src.read(1)
    strokes[:, 600:] = 0
    _write(folder / "strokes.tif", strokes)
    proc = _label(folder, "part", "--max-megapixels", "0.5", "--raster-window", "512", "--halo", "64")
    assert "windows hold no stroke and were given no class (255); add strokes there" in proc.stderr
    with rasterio.open(folder / "part" / "ortho_mres.tif") as src:
        labels = src.read(1)
    assert (labels[:, 1024:] == 255).all() and (labels[:, 150:512] < 3).all()


def test_bad_strokes_for_a_raster_labelled_by_windows(scene):
    folder, _ = scene
    windowed = ["--max-megapixels", "0.5", "--raster-window", "512"]
    proc = run_script("create_groundtruth/label_1geotiff_crf.py", "--image", "ortho.tif", "--labels", "labels.txt",
                      "--colors", "colors.txt", *windowed, cwd=folder, check_rc=2)
    assert "is 1 megapixels, above --max-megapixels 0.5: label it in scripted mode, --scribbles STROKES.tif" in \
        proc.stderr
    with rasterio.open(folder / "strokes.tif") as src:
        strokes = src.read(1)
    _write(folder / "strokes.tif", strokes, transform=from_origin(500050, 4000000, 0.5, 0.5))
    proc = _label(folder, "bad", *windowed, check_rc=2)
    assert "strokes.tif (1300 x 1100 px, origin (500050, 4e+06), pixel 0.5, EPSG:32618) is not on the grid of the " \
           "image ortho.tif (1300 x 1100 px, origin (500000, 4e+06)" in proc.stderr
    from PIL import Image

    Image.fromarray(strokes).save(folder / "strokes.png")
    proc = run_script("create_groundtruth/label_1geotiff_crf.py", "--image", "ortho.tif", "--labels", "labels.txt",
                      "--colors", "colors.txt", "--scribbles", "strokes.png", *windowed, cwd=folder, check_rc=2)
    assert "takes its strokes as a one-band GeoTIFF on its grid" in proc.stderr
    assert not (folder / "bad").exists() or not list((folder / "bad").iterdir())
