"""Rasters segmented window by window (workflows.windowed, io.windowed_geotiff): known answers against the whole
image, the GeoTIFF written, resume after an interruption, refused resumes, write failures."""

from __future__ import annotations

import errno
import hashlib
import logging

import numpy as np
import pytest

from dl_tools.errors import InputError
from dl_tools.io.windowed_geotiff import OutputRaster, leftovers, open_raster, read_window
from dl_tools.workflows.windowed import WindowedParams, segment_raster

SHAPE = (1300, 1100)  # odd sizes: the last cores are partial
BORDER = 200  # no-data columns at the left


def write_raster(path, nodata_border=BORDER, crs="EPSG:32618"):
    """A 3-band uint8 GeoTIFF of seeded noise with ``nodata_border`` columns of no data (0) at the left."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(0)
    data = rng.integers(1, 256, (3,) + SHAPE, dtype=np.uint8)
    data[:, :, :nodata_border] = 0
    with rasterio.open(path, "w", driver="GTiff", width=SHAPE[1], height=SHAPE[0], count=3, dtype="uint8",
                       nodata=0, crs=crs, transform=from_origin(500000, 4000000, 0.5, 0.5)) as dst:
        dst.write(data)
    return path, np.moveaxis(data, 0, -1)


def threshold(image, valid, context=None):
    """A pixel-wise 'segmentation' with a known answer: class = red channel // 86 (0, 1 or 2)."""
    calls.append(image.shape)
    classes = (image[:, :, 0] // 86).astype(np.uint8)
    return classes, np.eye(3, dtype=np.float32)[classes]


calls: list = []


@pytest.fixture
def raster(tmp_path):
    calls.clear()
    return write_raster(tmp_path / "mosaic.tif")


def outputs(folder, probabilities=False):
    found = [OutputRaster(folder / "out_label.tif", 1, 255)]
    return found + ([OutputRaster(folder / "out_probabilities.tif", 3, None)] if probabilities else [])


def pixel_hash(path):
    with open_raster(path) as src:
        return hashlib.sha256(src.read().tobytes()).hexdigest()


def test_windows_give_the_whole_image_answer_and_a_proper_geotiff(raster, tmp_path):
    import rasterio

    path, data = raster
    params = WindowedParams(window=512, halo=64, probabilities=True)
    result = segment_raster(path, outputs(tmp_path, True), threshold, params, {"model": "threshold"})
    expected = np.where(data[:, :, 0] > 0, data[:, :, 0] // 86, 255).astype(np.uint8)
    with rasterio.open(tmp_path / "out_label.tif") as src, rasterio.open(path) as source:
        assert np.array_equal(src.read(1), expected)
        assert src.crs == source.crs and src.transform == source.transform and src.nodata == 255
        assert src.profile["tiled"] and src.block_shapes[0] == (512, 512) and src.compression.name == "deflate"
        assert src.overviews(1) == [2, 4]  # 1300 x 1100: levels while the smaller side is at least 256 px
    with rasterio.open(tmp_path / "out_probabilities.tif") as src:
        probs = src.read()
        assert src.count == 3 and src.nodata is None
        assert np.array_equal(probs.argmax(axis=0)[:, BORDER:], expected[:, BORDER:])
        assert set(np.unique(probs)) == {0, 255}
    # 3 x 3 windows, each with some data (the 200-column border is narrower than a core)
    assert (result.windows, result.empty) == (9, 0) and len(calls) == 9
    assert all(shape == (640, 640, 3) for shape in calls)  # every window with its halo
    assert not leftovers(outputs(tmp_path, True)) and result.outputs == [o.path for o in outputs(tmp_path, True)]


def test_a_window_of_pure_no_data_is_not_segmented(tmp_path, caplog):
    calls.clear()
    path, _ = write_raster(tmp_path / "m.tif", nodata_border=600)
    with caplog.at_level(logging.DEBUG, logger="dl_tools.workflows.windowed"):
        result = segment_raster(path, outputs(tmp_path), threshold, WindowedParams(window=512, halo=32), {})
    assert result.empty == 3 and result.windows == 6 and len(calls) == 6  # the first column of cores: no data
    timed = [r.getMessage() for r in caplog.records if "since the previous one was written" in r.getMessage()]
    assert len(timed) == 9 and sum(", no data:" in line for line in timed) == 3  # -v: each window, with its time
    with open_raster(tmp_path / "out_label.tif") as src:
        assert (src.read(1)[:, :600] == 255).all()


def test_mirrored_reads_at_the_edges(raster):
    path, data = raster
    with open_raster(path) as src:
        pixels, valid = read_window(src, -3, SHAPE[1] - 2, 6, 5)
    rows = [2, 1, 0, 0, 1, 2]  # numpy's "symmetric": the edge pixel repeated
    cols = [SHAPE[1] - 2, SHAPE[1] - 1, SHAPE[1] - 1, SHAPE[1] - 2, SHAPE[1] - 3]
    assert np.array_equal(pixels, data[np.ix_(rows, cols)]) and valid.all()


def test_resume_after_an_interruption_gives_the_same_pixels(raster, tmp_path):
    path, _ = raster
    params = WindowedParams(window=512, halo=64)
    whole = tmp_path / "uninterrupted"
    whole.mkdir()
    segment_raster(path, outputs(whole), threshold, params, {"model": "m"})

    def interrupted(image, valid, context):
        if len(calls) == 4:
            raise KeyboardInterrupt
        return threshold(image, valid)

    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        segment_raster(path, outputs(tmp_path), interrupted, params, {"model": "m"})
    assert not (tmp_path / "out_label.tif").exists()  # a partial output is never taken for a finished one
    assert (tmp_path / "out_label.partial.tif").exists()
    calls.clear()
    resumed = WindowedParams(window=512, halo=64, resume=True)
    result = segment_raster(path, outputs(tmp_path), threshold, resumed, {"model": "m"})
    assert result.resumed == 4 and len(calls) == 5
    assert pixel_hash(tmp_path / "out_label.tif") == pixel_hash(whole / "out_label.tif")


def test_resume_with_other_settings_is_refused_naming_the_setting(raster, tmp_path):
    path, _ = raster

    def stop(image, valid, context):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        segment_raster(path, outputs(tmp_path), stop, WindowedParams(window=512), {"model": "m"})
    with pytest.raises(InputError, match=r"--resume: the interrupted run used halo = 256, this one 64"):
        segment_raster(path, outputs(tmp_path), threshold, WindowedParams(window=512, halo=64, resume=True),
                       {"model": "m"})
    with pytest.raises(InputError, match=r"used model = 'm', this one 'other'"):
        segment_raster(path, outputs(tmp_path), threshold, WindowedParams(window=512, resume=True),
                       {"model": "other"})


def test_a_full_disk_keeps_the_partial_output_for_resume(raster, tmp_path, monkeypatch):
    from dl_tools.io import windowed_geotiff

    path, _ = raster
    original = windowed_geotiff.WindowedGeoTIFFs.write
    written = []

    def full_disk(self, index, row, col, arrays):
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.outputs[0].partial))
        written.append(index)
        return original(self, index, row, col, arrays)

    monkeypatch.setattr(windowed_geotiff.WindowedGeoTIFFs, "write", full_disk)
    with pytest.raises(OSError, match="No space left"):
        segment_raster(path, outputs(tmp_path), threshold, WindowedParams(window=512), {})
    monkeypatch.setattr(windowed_geotiff.WindowedGeoTIFFs, "write", original)  # space freed
    result = segment_raster(path, outputs(tmp_path), threshold, WindowedParams(window=512, resume=True), {})
    assert result.resumed == 2 and (tmp_path / "out_label.tif").exists()


def test_cog(raster, tmp_path):
    path, _ = raster
    segment_raster(path, outputs(tmp_path), threshold, WindowedParams(window=512, cog=True), {})
    with open_raster(tmp_path / "out_label.tif") as src:
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.overviews(1) and src.profile["tiled"]


@pytest.mark.parametrize("kwargs, message", [({"window": 500}, "--window must be a multiple of 512"),
                                             ({"halo": -1}, "--halo"), ({"max_megapixels": -1}, "--max-megapixels")])
def test_bad_settings(kwargs, message):
    with pytest.raises(InputError, match=message):
        WindowedParams(**kwargs)


def test_the_halo_is_what_the_step_needs_unless_given():
    from dl_tools.workflows.windowed import CONTEXT_HALO

    assert WindowedParams().halo is None
    assert WindowedParams().with_halo().halo == CONTEXT_HALO == 256
    assert WindowedParams().with_halo(0).halo == 0  # infer.py's network alone
    assert WindowedParams(halo=64).with_halo(0).halo == 64  # --halo wins
    assert WindowedParams(halo=0).with_halo().halo == 0
