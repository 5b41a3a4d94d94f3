"""Rasters too large for a small memory limit are processed within it: steps 6 and 7 run in a subprocess whose
address space is capped (``resource.setrlimit(RLIMIT_AS)``), where the whole-image path fails."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import REPO

rasterio = pytest.importorskip("rasterio")

#: address space (bytes) of the subprocesses: importing numpy, rasterio, pydensecrf and matplotlib reserves about
#: 250 MB; measured peaks (VmPeak) of step 6 on the 67-megapixel raster: 1.1 GB by windows, 2.2 GB whole
LIMIT = 1536 * 2**20


def run_limited(code: str, cwd) -> subprocess.CompletedProcess:
    """Run ``code`` in a Python subprocess capped at LIMIT bytes of address space."""

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO / "tests")]),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, preexec_fn=cap,
                          capture_output=True, text=True, timeout=600)


def _write_blocks(path, shape, count, value, nodata=None, tags=None):
    """A tiled GeoTIFF of ``shape`` written 1024 rows at a time: ``value(rows, cols)`` -> (count, h, w) uint8."""
    from rasterio.windows import Window

    with rasterio.open(path, "w", driver="GTiff", width=shape[1], height=shape[0], count=count, dtype="uint8",
                       nodata=nodata, tiled=True, blockxsize=512, blockysize=512, compress="deflate") as dst:
        for row in range(0, shape[0], 1024):
            rows = np.arange(row, min(row + 1024, shape[0]))
            dst.write(value(rows[:, None], np.arange(shape[1])[None, :]), window=Window(0, row, shape[1], len(rows)))
        dst.update_tags(**(tags or {}))


def test_step_6_segments_a_raster_larger_than_the_memory_limit(tmp_path):
    from test_hybrid import QUADRANT_COLORS

    shape = (8192, 8192)  # 67 megapixels: 201 MB of pixels, 1.65 GB resident for the whole-image hybrid

    def pixels(rows, cols):
        classes = ((rows // 700) + (cols // 900)) % 4
        noise = ((rows * 7 + cols * 13) % 21).astype(np.float32) - 10
        return np.moveaxis(np.clip(QUADRANT_COLORS[classes] + noise[..., None], 0, 255).astype(np.uint8), -1, 0)

    _write_blocks(tmp_path / "big.tif", shape, 3, pixels)
    (tmp_path / "labels.txt").write_text("red\ngreen\nblue\nyellow\n")
    (tmp_path / "colors.txt").write_text("red\ngreen\nblue\nyellow\n")
    (tmp_path / "m.pb").write_bytes(b"")
    code = """
        import sys
        from test_hybrid import MeanColourClassifier
        from dl_tools.segmentation.hybrid import HybridParams
        from dl_tools.workflows.hybrid import segment_files
        from dl_tools.workflows.windowed import WindowedParams
        windowed = WindowedParams(window=1024, halo=128, max_megapixels=float(sys.argv[1]))
        segment_files(["big.tif"], "m.pb", "labels.txt", "colors.txt",
                      HybridParams(tile=64, decim=1, scale=0.25, prob=0.6), outdir="out",
                      classifier=MeanColourClassifier(input_size=(64, 64)), windowed=windowed)
        print("done")
    """
    whole = run_limited(code.replace("sys.argv[1]", "1e6"), tmp_path)
    assert whole.returncode != 0 and ("MemoryError" in whole.stderr or "bad_alloc" in whole.stderr), \
        whole.stderr[-2000:]
    windows = run_limited(code.replace("sys.argv[1]", "1"), tmp_path)
    assert windows.returncode == 0 and windows.stdout.strip() == "done", windows.stderr[-2000:]
    with rasterio.open(tmp_path / "out" / "big_ares_64.tif") as src:
        labels = src.read(1, window=((1000, 1100), (2000, 2100)))
    rows, cols = np.mgrid[1000:1100, 2000:2100]
    assert (labels == ((rows // 700) + (cols // 900)) % 4).mean() > 0.95


def test_step_7_scores_rasters_larger_than_the_memory_limit(tmp_path):
    from dl_tools.io.geotiff import class_name_tags

    shape = (16384, 16384)  # 268 megapixels a raster: 537 MB for the pair as uint8, 2.1 GB as int64 indices
    tags = dict(class_name_tags(["a", "b", "c"]))
    _write_blocks(tmp_path / "m_mres.tif", shape, 1, lambda r, c: ((r // 1000 + c // 1000) % 3)[None], 255, tags)
    _write_blocks(tmp_path / "m_ares_96.tif", shape, 1, lambda r, c: ((r // 1000 + c // 1100) % 3)[None], 255, tags)
    code = """
        from dl_tools.workflows.pixel_eval import evaluate_pixels
        result = evaluate_pixels(".")
        print(result.pairs[0].scores.accuracy)
    """
    proc = run_limited(code, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows, cols = np.mgrid[0:shape[0]:8, 0:shape[1]:8]  # the expected accuracy, from every 8th pixel
    expected = (((rows // 1000 + cols // 1000) % 3) == ((rows // 1000 + cols // 1100) % 3)).mean()
    assert float(proc.stdout) == pytest.approx(expected, abs=0.002)
