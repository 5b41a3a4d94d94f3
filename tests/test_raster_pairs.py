"""Step 7 on label GeoTIFFs: the confusion matrix accumulated window by window (``workflows.raster_pairs``), equal
to the one of the whole rasters; grids, class names and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_script

from dl_tools.errors import InputError
from dl_tools.metrics import confusion_matrix

rasterio = pytest.importorskip("rasterio")
from rasterio.transform import from_origin  # noqa: E402

NAMES = ["water", "sand", "grass"]
TRANSFORM = from_origin(500000, 4000000, 0.5, 0.5)


def _write(path, values, names=NAMES, transform=TRANSFORM, crs="EPSG:32618"):
    from dl_tools.io.geotiff import class_name_tags

    height, width = values.shape
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=1, dtype="uint8", crs=crs,
                       transform=transform, nodata=255, tiled=True, blockxsize=256, blockysize=256) as dst:
        dst.write(values.astype(np.uint8), 1)
        dst.update_tags(**dict(class_name_tags(names)))
    return path


@pytest.fixture
def rasters(tmp_path, monkeypatch):
    """A 2100 x 2300 truth (no data in its first 40 rows) and an estimate that differs on a known share, with the
    windows of the matrix made small (700 px) so that it takes several of them."""
    monkeypatch.setattr("dl_tools.workflows.raster_pairs.SCORE_WINDOW", 700)
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 3, size=(2100, 2300))
    estimate = np.where(rng.random(truth.shape) < 0.2, (truth + 1) % 3, truth)
    truth_file = truth.copy()
    truth_file[:40] = 255
    _write(tmp_path / "mosaic_mres.tif", truth_file)
    _write(tmp_path / "mosaic_ares_96.tif", estimate)
    return tmp_path, truth, estimate


def test_windows_give_the_whole_rasters_confusion_matrix(rasters):
    from dl_tools.workflows.pixel_eval import evaluate_pixels

    folder, truth, estimate = rasters
    result = evaluate_pixels(folder)
    (pair,) = result.pairs
    assert pair.pair.kind == "_ares_96" and pair.pair.truth.name == "mosaic_mres.tif"
    expected = confusion_matrix(truth[40:], estimate[40:], 3)
    report = json.loads(result.json_path.read_text())
    assert report["classes"] == NAMES
    assert pair.scores.accuracy == pytest.approx(np.trace(expected) / expected.sum())
    assert list(pair.scores.support) == expected.sum(axis=1).tolist()


def test_the_script_scores_step_8_rasters_and_skips_copies_of_mat_files(rasters):
    folder, truth, estimate = rasters
    (folder / "mosaic_ares_96.tif").rename(folder / "mosaic_crf_label.tif")
    _write(folder / "mosaic_crf_probabilities.tif", estimate)  # never taken for a label raster
    proc = run_script("eval_semseg/test_pixels.py", "--input", folder, "-q")
    assert "mosaic_crf_label.tif vs mosaic_mres.tif" in proc.stdout
    report = json.loads((folder / "pixel_eval.json").read_text())
    assert [p["kind"] for p in report["pairs"]] == ["_ares_crf"]
    expected = confusion_matrix(truth[40:], estimate[40:], 3)
    assert report["overall"]["_ares_crf"]["scores"]["accuracy"] == pytest.approx(np.trace(expected) / expected.sum())


def test_an_estimate_on_another_grid_is_refused_naming_both_grids(rasters):
    from dl_tools.workflows.pixel_eval import evaluate_pixels

    folder, _, estimate = rasters
    _write(folder / "mosaic_ares_96.tif", estimate, transform=from_origin(500100, 4000000, 0.5, 0.5))
    with pytest.raises(InputError, match=r"mosaic_ares_96.tif \(2300 x 2100 px, origin \(500100, 4e\+06\), pixel "
                                         r"0.5, EPSG:32618\) is not on the grid of its truth mosaic_mres.tif \(2300 "
                                         r"x 2100 px, origin \(500000, 4e\+06\)"):
        evaluate_pixels(folder)
    assert not (folder / "pixel_eval.json").exists()


def test_another_size_needs_resize_and_is_then_resampled(rasters):
    from dl_tools.workflows.pixel_eval import PixelEvalParams, evaluate_pixels

    folder, truth, _ = rasters
    half = truth[::2, ::2]  # the truth at half resolution: resized back it agrees where the truth is whole blocks
    _write(folder / "mosaic_ares_96.tif", half, transform=from_origin(500000, 4000000, 1.0, 1.0))
    with pytest.raises(InputError, match="give --resize to resize the estimate"):
        evaluate_pixels(folder)
    result = evaluate_pixels(folder, PixelEvalParams(resize=True))
    expected = confusion_matrix(truth[40:], np.repeat(np.repeat(half, 2, 0), 2, 1)[40:2100, :2300], 3)
    assert result.pairs[0].scores.accuracy == pytest.approx(np.trace(expected) / expected.sum())


def test_class_names_from_the_other_file_and_errors(rasters):
    from dl_tools.workflows.pixel_eval import evaluate_pixels

    folder, truth, estimate = rasters
    _write(folder / "mosaic_ares_96.tif", estimate, names=None)
    assert evaluate_pixels(folder).pairs[0].scores.accuracy > 0.75  # the truth's names taken for the estimate
    _write(folder / "mosaic_mres.tif", truth, names=None)
    with pytest.raises(InputError, match="neither mosaic_ares_96.tif nor its truth mosaic_mres.tif names its classes"):
        evaluate_pixels(folder)
    _write(folder / "mosaic_mres.tif", truth, names=["water", "sand"])
    _write(folder / "mosaic_ares_96.tif", estimate, names=["water", "sand"])
    with pytest.raises(InputError, match="holds class value 2 but names 2 classes"):
        evaluate_pixels(folder)
