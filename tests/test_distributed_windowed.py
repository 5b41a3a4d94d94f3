"""The windows of one large raster as Dask tasks (issue 17): steps 6 and 8 on a GeoTIFF above --max-megapixels
give the serial run's pixels on 2 worker processes, with the network loaded once a worker; a worker killed mid-run
costs only its tasks; --resume after the client stopped continues from what was written; a worker that cannot see
the raster is named."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_script
from test_distributed import KillAfterFirstTask, started_cluster  # noqa: F401 - module fixture
from test_fcn_cli import tiny, trained, write_scene_mosaic  # noqa: F401 - the trained run of step 8 (module fixtures)
from test_hybrid import MeanColourClassifier, fast_params
from test_hybrid_windowed import mosaic  # noqa: F401 - the 1100 x 1300 GeoTIFF of step 6
from test_windowed import pixel_hash

from dl_tools.workflows.distributed import ClusterParams, TaskFailed, cluster_client, model_loads
from dl_tools.workflows.hybrid import segment_files
from dl_tools.workflows.windowed import WindowedParams

rasterio = pytest.importorskip("rasterio")

#: 1100 x 1300 px (1.4 megapixels) above 0.2: 3 x 3 windows of 512 px
WINDOWED = WindowedParams(window=512, halo=64, max_megapixels=0.2, probabilities=True)


def _hashes(folder: Path) -> dict[str, str]:
    """The pixel hash of every GeoTIFF in ``folder``, by name."""
    return {path.name: pixel_hash(path) for path in sorted(folder.glob("*.tif"))}


@pytest.fixture(scope="module")
def fcn_mosaic(trained):  # noqa: F811
    """(root of the trained run, folder holding mosaic.tif): 1100 x 1300 px, the step-8 scenes in 4 x 4 blocks,
    a no-data border of 150 columns, georeferenced."""
    root, _ = trained
    folder = root / "dask_mosaic"
    folder.mkdir()
    write_scene_mosaic(folder / "mosaic.tif")
    return root, folder


def _infer(root: Path, samples: Path, out: str, crf=None, client=None, windowed=WINDOWED):
    from dl_tools.workflows.fcn_infer import FCNInferParams, infer_fcn

    return infer_fcn(samples, root / out, root / "run", FCNInferParams(crf=crf, windowed=windowed), client=client)


def test_step8_windows_on_two_workers_equal_the_serial_run_and_load_the_network_once_a_worker(fcn_mosaic,
                                                                                              dask_client):
    """infer (network alone) and infer_crf (with the CRF): the label and probabilities GeoTIFFs of the windows run
    as tasks have the serial run's pixels; each worker loaded the network at most once, this process never."""
    from dl_tools.workflows.fcn_infer import DEFAULT_REFINEMENT

    root, samples = fcn_mosaic
    weights = str((root / "run").resolve())
    runs = {crf: _infer(root, samples, f"win_dask{'_crf' if crf else ''}", crf, dask_client)
            for crf in (None, DEFAULT_REFINEMENT)}
    assert not any(path.startswith(weights) for path in model_loads()), "the client loaded the network"
    for crf, distributed in runs.items():
        tag = "_crf" if crf else ""
        serial = _infer(root, samples, f"win_serial{tag}", crf)
        assert [p.name for p in distributed.outputs] == [p.name for p in serial.outputs]
        assert sorted(_hashes(root / f"win_dask{tag}")) == [f"mosaic{tag}_label.tif", f"mosaic{tag}_probabilities.tif"]
        assert _hashes(root / f"win_dask{tag}") == _hashes(root / f"win_serial{tag}"), crf
    loads = [n for counts in dask_client.run(model_loads).values() for path, n in counts.items()
             if path.startswith(weights)]
    assert loads and all(n == 1 for n in loads), loads


def test_infer_script_with_workers_sends_the_windows_to_its_cluster(fcn_mosaic):
    """infer.py --workers 2 on a raster above --max-megapixels: the serial run's pixels (in this process)."""
    root, samples = fcn_mosaic
    proc = run_script("semseg_fullyconv/infer.py", "--name", "run", "--samples-dir", samples, "--output-dir",
                      "cli_win_dask", "--max-megapixels", "0.2", "--window", "512", "--halo", "64", "--workers", "2",
                      cwd=root)
    assert proc.stdout.startswith("labelled 1 image (1.4 megapixels")
    assert "local Dask cluster of 2 worker processes" in proc.stderr, proc.stderr
    _infer(root, samples, "cli_win_serial", windowed=WindowedParams(window=512, halo=64, max_megapixels=0.2))
    assert list(_hashes(root / "cli_win_dask")) == ["mosaic_label.tif"]
    assert _hashes(root / "cli_win_dask") == _hashes(root / "cli_win_serial")


def _segment(folder: Path, path: Path, outdir: str, client=None, windowed=WINDOWED):
    return segment_files([path], folder / "m.pb", folder / "labels.txt", folder / "colors.txt",
                         fast_params(scale=0.5), outdir=folder / outdir, classifier=MeanColourClassifier(),
                         windowed=windowed, client=client)


def test_step6_windows_on_two_workers_equal_the_serial_run(mosaic, dask_client):  # noqa: F811
    folder, path, _ = mosaic
    (serial,) = _segment(folder, path, "serial").outputs
    (distributed,) = _segment(folder, path, "dask", dask_client).outputs
    assert (distributed.n_tiles, distributed.n_kept) == (serial.n_tiles, serial.n_kept)
    assert sorted(_hashes(folder / "dask")) == ["mosaic_ares_16.tif", "mosaic_ares_16_probabilities.tif"]
    assert _hashes(folder / "dask") == _hashes(folder / "serial")


def test_a_worker_killed_during_a_windowed_run_costs_only_its_tasks(mosaic, dask_client, tmp_path):  # noqa: F811
    from distributed.diagnostics.plugin import WorkerPlugin

    folder, path, _ = mosaic
    plugin = type("Killer", (KillAfterFirstTask, WorkerPlugin), {})(str(tmp_path / "killed"), "WindowTask-")
    dask_client.register_plugin(plugin)
    try:
        _segment(folder, path, "dask", dask_client)
    finally:
        dask_client.unregister_worker_plugin(plugin.name)
    assert (tmp_path / "killed").exists()  # a worker did die, after its first window
    _segment(folder, path, "serial")
    assert _hashes(folder / "dask") == _hashes(folder / "serial")
    dask_client.wait_for_workers(2, timeout=60)  # the nanny restarted it, for the next tests


def test_resume_on_workers_after_the_client_stopped_gives_the_same_pixels(mosaic, dask_client,  # noqa: F811
                                                                          monkeypatch):
    """The client stops (an exception in its writer) after 3 windows of 9; the run again with --resume on the
    cluster writes the 6 others only, and the GeoTIFFs hold the uninterrupted serial run's pixels."""
    from dl_tools.io import windowed_geotiff

    folder, path, _ = mosaic
    original = windowed_geotiff.WindowedGeoTIFFs.write
    written = []

    def stopping(self, index, row, col, arrays):
        if len(written) == 3:
            raise KeyboardInterrupt
        written.append(index)
        return original(self, index, row, col, arrays)

    monkeypatch.setattr(windowed_geotiff.WindowedGeoTIFFs, "write", stopping)
    with pytest.raises(KeyboardInterrupt):
        _segment(folder, path, "dask", dask_client)
    monkeypatch.setattr(windowed_geotiff.WindowedGeoTIFFs, "write", original)
    assert (folder / "dask" / "mosaic_ares_16.partial.tif").exists()
    assert not (folder / "dask" / "mosaic_ares_16.tif").exists()
    resumed = WindowedParams(**{**WINDOWED.__dict__, "resume": True})
    from dl_tools.workflows import windowed

    results = []
    original_raster = windowed.segment_raster

    def counted(*args, **kwargs):
        results.append(original_raster(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(windowed, "segment_raster", counted)
    _segment(folder, path, "dask", dask_client, windowed=resumed)
    assert results[0].resumed == 3 and results[0].windows + results[0].empty == 6
    _segment(folder, path, "serial")
    assert _hashes(folder / "dask") == _hashes(folder / "serial")


def test_a_worker_that_cannot_see_the_raster_is_named(mosaic, started_cluster, monkeypatch):  # noqa: F811
    """Relative paths: the client sees the raster, the worker (in another folder) does not; the first failing
    task's error names the path and the worker, and no finished output is left."""
    _, address = started_cluster
    folder, path, _ = mosaic
    monkeypatch.chdir(folder)
    with cluster_client(ClusterParams(scheduler=address, timeout=60)) as client:
        with pytest.raises(TaskFailed, match=r"worker tcp://127\.0\.0\.1:\d+ \(.*\) cannot see mosaic\.tif \(its "
                                             r"working folder: .*worker\)"):
            segment_files([Path("mosaic.tif")], "m.pb", "labels.txt", "colors.txt", fast_params(scale=0.5),
                          outdir="unseen", classifier=MeanColourClassifier(), windowed=WINDOWED, client=client)
    assert not (folder / "unseen" / "mosaic_ares_16.tif").exists()
