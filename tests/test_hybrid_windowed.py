"""Step 6 on a GeoTIFF larger than --max-megapixels: the hybrid method window by window
(``workflows.hybrid_raster``), against the whole-image run on a raster that fits in memory."""

from __future__ import annotations

import numpy as np
import pytest
from test_hybrid import LABELS, QUADRANT_COLORS, MeanColourClassifier, fast_params

from dl_tools.errors import InputError
from dl_tools.io.text import write_colors, write_labels
from dl_tools.workflows.hybrid import segment_files
from dl_tools.workflows.windowed import WindowedParams

rasterio = pytest.importorskip("rasterio")

SHAPE = (1100, 1300)
BORDER = 150  # columns of no data on the left


class CountingClassifier(MeanColourClassifier):
    """MeanColourClassifier that counts the tiles it is given."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.tiles = 0

    def predict(self, images, batch_size=64):
        self.tiles += len(images)
        return super().predict(images, batch_size)


@pytest.fixture
def mosaic(tmp_path):
    """A georeferenced 1100 x 1300 GeoTIFF of 4 x 4 blocks of the quadrant colours with seeded noise, no data
    (0) in its first BORDER columns; with its labels and colours files. Returns (folder, path, transform)."""
    from rasterio.transform import from_origin

    rng = np.random.default_rng(3)
    blocks = rng.integers(0, 4, size=(4, 4))
    truth = np.kron(blocks, np.ones((275, 325), dtype=np.int64))
    image = np.clip(QUADRANT_COLORS[truth] + rng.normal(0, 20, truth.shape + (3,)), 1, 255).astype(np.uint8)
    image[:, :BORDER] = 0
    transform = from_origin(500000, 4000000, 0.5, 0.5)
    path = tmp_path / "mosaic.tif"
    with rasterio.open(path, "w", driver="GTiff", width=SHAPE[1], height=SHAPE[0], count=3, dtype="uint8",
                       crs="EPSG:32618", transform=transform, nodata=0) as dst:
        dst.write(np.moveaxis(image, 2, 0))
    write_labels(tmp_path / "labels.txt", LABELS)
    write_colors(tmp_path / "colors.txt", QUADRANT_COLORS.astype(np.uint8))
    return tmp_path, path, transform


def _segment(folder, path, outdir, windowed=None, classifier=None, **params):
    return segment_files([path], folder / "m.pb", folder / "labels.txt", folder / "colors.txt",
                         fast_params(scale=0.5, **params), outdir=folder / outdir,
                         classifier=classifier or MeanColourClassifier(), windowed=windowed)


def test_windows_agree_with_the_whole_image_and_write_a_tiled_geotiff(mosaic):
    folder, path, transform = mosaic
    (whole,) = _segment(folder, path, "whole").outputs
    counting = CountingClassifier()
    windowed = WindowedParams(window=512, halo=128, max_megapixels=0.5, probabilities=True)
    (large,) = _segment(folder, path, "windows", windowed, counting).outputs
    out = folder / "windows"
    assert large.mat is None and large.color is None
    assert sorted(p.name for p in out.iterdir()) == ["mosaic_ares_16.tif", "mosaic_ares_16_preview.png",
                                                    "mosaic_ares_16_probabilities.tif"]
    n_tiles = int(np.ceil(SHAPE[0] / 16) * np.ceil(SHAPE[1] / 16))
    assert counting.tiles == n_tiles == large.n_tiles  # every tile of the raster's grid classified once
    with rasterio.open(whole.geotiff) as src:
        expected = src.read(1)
    with rasterio.open(large.geotiff) as src:
        labels = src.read(1)
        assert src.crs.to_epsg() == 32618 and src.transform == transform and src.nodata == 255
        assert src.profile["tiled"] and src.block_shapes[0] == (512, 512) and src.overviews(1) == [2, 4]
        assert src.tags()["DL_TOOLS_CLASSES"] == '["red", "green", "blue", "yellow"]'
        assert '"step": "hybrid"' in src.tags()["DL_TOOLS_PROVENANCE"]
    with rasterio.open(out / "mosaic_ares_16_probabilities.tif") as src:
        assert src.count == 4 and src.descriptions == tuple(LABELS)
        probs = src.read(window=((400, 410), (600, 610)))
    assert (probs.astype(int).sum(axis=0) >= 250).all()  # marginals sum to 1 (255 up to rounding)
    assert (labels[:, :BORDER] == 255).all() and (expected[:, :BORDER] == 255).all()
    assert (labels == expected).mean() >= 0.98, (labels == expected).mean()


def test_small_images_keep_the_whole_image_path(mosaic):
    folder, path, _ = mosaic
    (result,) = _segment(folder, path, "small", WindowedParams(max_megapixels=2.0)).outputs
    assert result.mat is not None and result.mat.is_file() and result.color.is_file()


def test_tiles_spaced_wider_than_a_window_are_refused_before_any_work(mosaic):
    folder, path, _ = mosaic
    with pytest.raises(InputError, match="DECIM 40 x TILE 16 spaces tiles 640 px apart, more than a window with "
                                         "its halo \\(576 px\\)"):
        _segment(folder, path, "wide", WindowedParams(window=512, halo=32, max_megapixels=0.5), decim=40)
    assert not (folder / "wide").exists()


def test_the_cli_segments_by_windows(mosaic, monkeypatch, capsys):
    from dl_tools.cli.semseg_cnn_crf import main

    folder, path, _ = mosaic
    monkeypatch.setattr("dl_tools.models.frozen.FrozenClassifier", lambda model: MeanColourClassifier())
    monkeypatch.chdir(folder)
    (folder / "m.pb").write_bytes(b"")
    argv = [str(path), "m.pb", "labels.txt", "colors.txt", "16", "0.5", "0.6", "1", "0.5", "--outdir", "cli",
            "--max-megapixels", "0.5", "--window", "1024", "-q"]
    assert main(argv) == 0
    assert capsys.readouterr().out == "mosaic.tif: 5658 of 5658 tiles used -> cli/mosaic_ares_16.tif\n"
    assert main(argv + ["--resume"]) == 2
    assert "--resume: there is no interrupted run of mosaic_ares_16.tif" in capsys.readouterr().err


def test_a_raster_without_a_valid_pixel_is_refused_and_nothing_written(mosaic):
    folder, _, transform = mosaic
    path = folder / "empty.tif"
    with rasterio.open(path, "w", driver="GTiff", width=SHAPE[1], height=SHAPE[0], count=3, dtype="uint8",
                       crs="EPSG:32618", transform=transform, nodata=0) as dst:
        dst.write(np.zeros((3, *SHAPE), np.uint8))
    with pytest.raises(InputError, match="empty.tif has no pixel with data \\(every pixel is its no-data value"):
        _segment(folder, path, "empty_out", WindowedParams(window=512, max_megapixels=0.5))
    assert not (folder / "empty_out").exists()


def test_a_raster_with_a_few_valid_pixels_is_segmented(mosaic):
    """Only the 3 x 3 pixels with data get a class; the block scan of the masks finds them where a reduced read
    does not (given a reduced read without any)."""
    folder, path, transform = mosaic
    with rasterio.open(path) as src:
        image = src.read()
    sparse = np.zeros_like(image)
    sparse[:, 500:503, 700:703] = image[:, 500:503, 700:703]
    path = folder / "sparse.tif"
    with rasterio.open(path, "w", driver="GTiff", width=SHAPE[1], height=SHAPE[0], count=3, dtype="uint8",
                       crs="EPSG:32618", transform=transform, nodata=0) as dst:
        dst.write(sparse)
    (result,) = _segment(folder, path, "sparse_out", WindowedParams(window=512, max_megapixels=0.5)).outputs
    with rasterio.open(result.geotiff) as src:
        labels = src.read(1)
    assert (labels != 255).sum() == 9
    from dl_tools.workflows.windowed import has_valid_pixel

    with rasterio.open(path) as src:
        assert has_valid_pixel(src, np.zeros((5, 5), bool), block=256)
    border = folder / "border.tif"  # the no-data border alone
    with rasterio.open(border, "w", driver="GTiff", width=BORDER, height=SHAPE[0], count=3, dtype="uint8",
                       nodata=0) as dst:
        dst.write(image[:, :, :BORDER])
    with rasterio.open(border) as src:
        assert not has_valid_pixel(src, np.zeros((5, 5), bool), block=256)


def test_a_run_killed_with_sigkill_resumes_to_the_same_pixels(tmp_path):
    """kill -9 in the middle of a windowed step 6 (a subprocess), then --resume: the finished GeoTIFF holds the
    pixels of an uninterrupted run (same hash), and the partial files are gone."""
    import hashlib
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import REPO

    rng = np.random.default_rng(8)
    truth = np.kron(rng.integers(0, 4, size=(6, 8)), np.ones((400, 400), dtype=np.int64))
    image = np.clip(QUADRANT_COLORS[truth] + rng.normal(0, 20, truth.shape + (3,)), 1, 255).astype(np.uint8)
    with rasterio.open(tmp_path / "big.tif", "w", driver="GTiff", width=3200, height=2400, count=3,
                       dtype="uint8") as dst:
        dst.write(np.moveaxis(image, 2, 0))
    write_labels(tmp_path / "labels.txt", LABELS)
    write_colors(tmp_path / "colors.txt", QUADRANT_COLORS.astype(np.uint8))
    (tmp_path / "m.pb").write_bytes(b"")
    code = """
import sys
from test_hybrid import MeanColourClassifier, fast_params
from dl_tools.workflows.hybrid import segment_files
from dl_tools.workflows.windowed import WindowedParams
segment_files(["big.tif"], "m.pb", "labels.txt", "colors.txt", fast_params(scale=0.5), outdir=sys.argv[1],
              classifier=MeanColourClassifier(), windowed=WindowedParams(window=512, halo=64, max_megapixels=1,
              resume=sys.argv[2] == "resume"))
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO / "tests")]))

    def run(outdir, mode):
        return subprocess.Popen([sys.executable, "-c", code, outdir, mode], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    assert run("whole_run", "fresh").wait(timeout=300) == 0
    journal = tmp_path / "killed" / "big_ares_16.partial.json"
    proc = run("killed", "fresh")
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        try:
            if len(json.loads(journal.read_text())["windows"]) >= 4:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert journal.exists() and not (tmp_path / "killed" / "big_ares_16.tif").exists()
    done_before = len(json.loads(journal.read_text())["windows"])
    resumed = run("killed", "resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()[-2000:]
    assert done_before < 48 and not journal.exists()

    def pixel_hash(path):
        with rasterio.open(path) as src:
            return hashlib.sha256(src.read().tobytes()).hexdigest()

    assert pixel_hash(tmp_path / "killed" / "big_ares_16.tif") == pixel_hash(tmp_path / "whole_run" / "big_ares_16.tif")


def test_a_raster_without_georeferencing_works_with_a_warning(mosaic, caplog):
    folder, path, _ = mosaic
    with rasterio.open(path) as src:
        image = src.read()
    plain = folder / "plain.tif"
    with rasterio.open(plain, "w", driver="GTiff", width=SHAPE[1], height=SHAPE[0], count=3, dtype="uint8",
                       nodata=0) as dst:
        dst.write(image)
    with caplog.at_level("WARNING"):
        (result,) = _segment(folder, plain, "plain_out", WindowedParams(window=1024, max_megapixels=0.5)).outputs
    assert f"{plain} has no georeferencing; plain_ares_16.tif will have none either" in caplog.text
    with rasterio.open(result.geotiff) as src:
        assert src.crs is None and src.read(1, window=((0, 5), (0, 5))).max() == 255
