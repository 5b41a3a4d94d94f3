"""The heavy steps on dask.distributed (issue 17): the same outputs as the serial run on 2 worker processes, a model
loaded once a worker, a worker killed mid-run, an existing cluster (``dask scheduler`` / ``dask worker``), bad input."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from test_fcn_cli import tiny, trained  # noqa: F401 - the trained run of step 8 (module fixtures)
from test_hybrid import CLI_TAIL, LABELS, QUADRANT_COLORS, MeanColourClassifier, _tiny_color_model, fast_params

from dl_tools.errors import InputError, MissingDependencyError
from dl_tools.workflows.distributed import ClusterParams, TaskFailed, cluster_client, model_loads
from dl_tools.workflows.hybrid import images_to_segment, segment_files

#: Entries of a provenance record that name the run (its date, command and code version), not the result: left
#: out of the comparisons.
RUN_ENTRIES = ("date", "command", "argv", "dl_tools")
#: Lines of step 2's report that time the run: left out of the comparisons.
TIME_LINES = ("Annotation time (s):", "Compute time (s):")


def _scene(seed: int, shape=(80, 120)) -> np.ndarray:
    """(H, W, 3) uint8: four coloured quadrants shifted by ``seed`` columns, with seeded noise."""
    truth = np.zeros(shape, int)
    truth[: shape[0] // 2, shape[1] // 2:] = 1
    truth[shape[0] // 2:, : shape[1] // 2] = 2
    truth[shape[0] // 2:, shape[1] // 2:] = 3
    noise = np.random.default_rng(seed).normal(0, 20, shape + (3,))
    return np.clip(QUADRANT_COLORS[np.roll(truth, 7 * seed, axis=1)] + noise, 0, 255).astype(np.uint8)


@pytest.fixture
def photos(tmp_path):
    """A folder of 5 photographs with labels and colours (the model file is written by the tests needing one)."""
    from dl_tools.io.images import write_image
    from dl_tools.io.text import write_labeldefs, write_labels

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(5):
        write_image(folder / f"IMG_{i}.png", _scene(i))
    write_labels(folder / "labels.txt", LABELS)
    write_labeldefs(folder / "labeldefs.txt", LABELS, QUADRANT_COLORS.astype(np.uint8))
    (folder / "model.pb").write_bytes(b"")
    return folder


def _mat_contents(path: Path) -> dict:
    """The variables of a .mat file, its provenance record without the entries of ``RUN_ENTRIES``."""
    from scipy.io import loadmat

    from dl_tools.io.mat import PROVENANCE_VARIABLE, mat_record

    contents = {key: value for key, value in loadmat(path).items() if not key.startswith("__")}
    if PROVENANCE_VARIABLE in contents:
        record = mat_record(contents.pop(PROVENANCE_VARIABLE), path)
        contents[PROVENANCE_VARIABLE] = {key: value for key, value in record.items() if key not in RUN_ENTRIES}
    return contents


def assert_same_outputs(first: Path, second: Path) -> None:
    """The two folders hold the same files: the same bytes, or for a .mat the same variables and record (but
    its date and command line), a GeoTIFF the same pixels, a report the same lines but its times."""
    names = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_file())
    assert names
    for name in names:
        a, b = first / name, second / name
        if a.suffix == ".mat":
            one, other = _mat_contents(a), _mat_contents(b)
            assert one.keys() == other.keys(), name
            for key in one:
                if key == "provenance":
                    assert one[key] == other[key], name
                else:
                    np.testing.assert_array_equal(np.asarray(one[key]), np.asarray(other[key]), err_msg=name)
        elif a.suffix == ".tif":
            import rasterio

            with rasterio.open(a) as ra, rasterio.open(b) as rb:
                np.testing.assert_array_equal(ra.read(), rb.read(), err_msg=name)
        elif a.name.endswith("_report.txt"):
            def kept(path):
                return [line for line in path.read_text().splitlines() if not line.startswith(TIME_LINES)]

            assert kept(a) == kept(b), name
        else:
            assert a.read_bytes() == b.read_bytes(), name


def _segment(folder: Path, outdir: str, client=None, classifier=None, **kwargs):
    return segment_files(images_to_segment(folder), folder / "model.pb", folder / "labels.txt",
                         folder / "labeldefs.txt", fast_params(decim=2), outdir=folder.parent / outdir,
                         in_folder=True, classifier=classifier, client=client, **kwargs)


# --- the flags and their errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    ({"workers": 0}, "--workers must be at least 1 worker process, got 0"),
    ({"workers": 2, "scheduler": "tcp://h:8786"}, "not --workers and --scheduler"),
    ({"scheduler": "tcp://h:8786", "scheduler_file": "s.json"}, "not --scheduler and --scheduler-file"),
])
def test_cluster_params_refuse_bad_flags(kwargs, message):
    with pytest.raises(InputError, match=message):
        ClusterParams(**kwargs)


@pytest.mark.parametrize("flags, message", [
    (["--workers", "0"], "error: --workers must be at least 1 worker process, got 0\n"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], "not --workers and --scheduler\n"),
])
def test_the_scripts_refuse_bad_flags_in_one_line(photos, monkeypatch, capsys, flags, message):
    from dl_tools.cli.semseg_cnn_crf import main

    monkeypatch.chdir(photos)
    assert main(["-", *CLI_TAIL, "--input-dir", ".", "--outdir", "out", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.endswith(message) and err.count("\n") == 1, err
    assert not (photos / "out").exists()


def test_workers_without_dask_installed_name_the_extra(photos, monkeypatch, capsys):
    from dl_tools.cli.semseg_cnn_crf import main

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    monkeypatch.chdir(photos)
    assert main(["-", *CLI_TAIL, "--input-dir", ".", "--outdir", "out", "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "dl_tools[dask]"' in err, err
    with pytest.raises(MissingDependencyError):
        with cluster_client(ClusterParams(workers=1)):
            pass


def test_a_serial_run_never_imports_dask(tmp_path):
    """The serial path of a folder run (step 3 here: no TensorFlow to wait for) leaves dask unimported."""
    folder = labelled_folder(tmp_path)
    code = ("import sys; from dl_tools.cli.retile import main; rc = main(['-t', '32', '-j', '1', '--input', "
            f"{str(folder)!r}]); print(rc, sorted(m for m in sys.modules if m.split('.')[0] in ('dask', "
            "'distributed')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(REPO / "src")))
    assert proc.stdout.strip().splitlines()[-1] == "0 []", proc.stdout + proc.stderr


def test_a_scheduler_that_does_not_answer_is_named_within_the_timeout():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    started = time.monotonic()
    with pytest.raises(InputError, match=f"--scheduler {address}: no Dask scheduler answered within 2 s"):
        with cluster_client(ClusterParams(scheduler=address, timeout=2)):
            pass
    assert time.monotonic() - started < 15
    with pytest.raises(InputError, match="--scheduler-file .*missing.json does not exist"):
        with cluster_client(ClusterParams(scheduler_file="missing.json")):
            pass


# --- step 3 ---------------------------------------------------------------------------------------------------------


def labelled_folder(tmp_path: Path) -> Path:
    """A folder of 4 images with their _mres.mat label files (step 3's input)."""
    from test_retile import _labelled_image

    folder = tmp_path / "labelled"
    folder.mkdir()
    for i, width in enumerate((192, 96, 160, 128)):
        _labelled_image(folder, f"scene{i}", width=width)
    return folder


def _worker_environment() -> dict:
    return {name: os.environ.get(name) for name in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS",
                                                     "TF_NUM_INTRAOP_THREADS")}


def test_local_workers_keep_glibc_adaptive_memory_and_bounded_threads():
    """--workers N: Dask's default MALLOC_TRIM_THRESHOLD_ is not set in the workers (it made every large array a
    fresh mapping: 2.2 times slower on a mosaic); their numerical threads are cores // N."""
    from dl_tools.workflows.distributed import numeric_threads

    with cluster_client(ClusterParams(workers=1)) as client:
        environments = list(client.run(_worker_environment).values())
    threads = str(numeric_threads(1))
    assert environments == [{"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": threads,
                             "TF_NUM_INTRAOP_THREADS": threads}]


def test_step3_retile_on_two_workers_equals_the_serial_run(tmp_path, dask_client):
    from dl_tools.workflows.retile import RetileParams, retile

    folder = labelled_folder(tmp_path)
    params = RetileParams(tile=32, keep=0.5, min_tiles=5, jobs=1)
    serial = retile(folder, params)
    (folder / "tile_32").rename(tmp_path / "serial")
    distributed = retile(folder, params, client=dask_client)
    assert distributed.kept == serial.kept and distributed.found == serial.found
    assert distributed.images == serial.images == [f"scene{i}.jpg" for i in range(4)]
    assert sum(serial.kept.values()) < sum(serial.found.values())  # thinned: the same seeded subset
    assert_same_outputs(tmp_path / "serial", folder / "tile_32")


# --- step 6 on a local cluster of 2 workers -------------------------------------------------------------------------


def test_step6_folder_run_on_two_workers_equals_the_serial_run(photos, dask_client):
    serial = _segment(photos, "serial", classifier=MeanColourClassifier())
    distributed = _segment(photos, "dask", dask_client, classifier=MeanColourClassifier())
    assert [o.image.name for o in distributed.outputs] == [o.image.name for o in serial.outputs] == \
        [f"IMG_{i}.png" for i in range(5)]
    assert [(o.n_tiles, o.n_kept) for o in distributed.outputs] == [(o.n_tiles, o.n_kept) for o in serial.outputs]
    assert_same_outputs(photos.parent / "serial", photos.parent / "dask")
    assert len({p.name for p in (photos.parent / "dask").glob("*.mat")}) == 5


def test_step6_skips_on_workers_as_in_the_serial_run(photos, dask_client):
    """An image without a confident tile is skipped, with its fix, exactly as in the serial run."""
    from dl_tools.io.images import write_image

    write_image(photos / "IMG_2.png", np.full((80, 120, 3), 128, np.uint8))  # grey: no tile reaches 0.9
    params = fast_params(prob_thres=0.9)
    runs = [segment_files(images_to_segment(photos), photos / "model.pb", photos / "labels.txt",
                          photos / "labeldefs.txt", params, outdir=photos.parent / name, in_folder=True,
                          classifier=MeanColourClassifier(), client=client)
            for name, client in (("serial", None), ("dask", dask_client))]
    for run in runs:
        assert [s.image.name for s in run.skipped] == ["IMG_2.png"]
        assert "lower PROB_THRES" in run.skipped[0].fix
    assert [s.reason for s in runs[0].skipped] == [s.reason for s in runs[1].skipped]
    assert_same_outputs(photos.parent / "serial", photos.parent / "dask")


def test_each_worker_loads_the_model_once(photos, dask_client):
    """A real frozen model: 5 images on 2 workers, one load a worker that ran any (counted on the workers)."""
    pytest.importorskip("tensorflow")
    _tiny_color_model(photos / "model.pb")
    before = dask_client.run(model_loads)
    _segment(photos, "dask", dask_client)
    after = dask_client.run(model_loads)
    model = str((photos / "model.pb").resolve())
    loads = {worker: after[worker].get(model, 0) - before.get(worker, {}).get(model, 0) for worker in after}
    assert sum(loads.values()) >= 1 and set(loads.values()) <= {0, 1}, loads
    _segment(photos, "again", dask_client)  # a second run reuses the loaded models
    assert {w: n.get(model, 0) for w, n in dask_client.run(model_loads).items()} == \
        {w: n.get(model, 0) for w, n in after.items()}
    serial = _segment(photos, "serial")
    assert len(serial.outputs) == 5
    assert_same_outputs(photos.parent / "serial", photos.parent / "dask")


class KillAfterFirstTask:
    """A worker plugin: the first worker to finish a task whose key starts with ``prefix`` kills its own process
    (SIGKILL, as the out-of-memory killer would); ``marker`` (created exclusively) makes it one worker only. Only a
    task computed there counts (from "executing"), not data sent to the worker (the scattered task function)."""

    name = "kill-after-first-task"

    def __init__(self, marker: str, prefix: str):
        self.marker, self.prefix = marker, prefix

    def transition(self, key, start, finish, **kwargs):
        if (start, finish) != ("executing", "memory") or not str(key).startswith(self.prefix):
            return
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return
        os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_killed_after_its_first_task_costs_only_its_tasks(photos, dask_client, tmp_path):
    from distributed.diagnostics.plugin import WorkerPlugin

    plugin = type("Killer", (KillAfterFirstTask, WorkerPlugin), {})(str(tmp_path / "killed"), "Segmenter-")
    dask_client.register_plugin(plugin)
    try:
        run = _segment(photos, "dask", dask_client, classifier=MeanColourClassifier())
    finally:
        dask_client.unregister_worker_plugin(plugin.name)
    assert (tmp_path / "killed").exists()  # a worker did die
    assert len(run.outputs) == 5 and not run.skipped
    _segment(photos, "serial", classifier=MeanColourClassifier())
    assert_same_outputs(photos.parent / "serial", photos.parent / "dask")
    dask_client.wait_for_workers(2, timeout=60)  # the nanny restarted it, for the next tests


# --- an existing cluster: dask scheduler / dask worker on the loopback address --------------------------------------


@pytest.fixture(scope="module")
def started_cluster(tmp_path_factory):
    """(scheduler file, scheduler address) of ``dask scheduler`` and one ``dask worker`` started as subprocesses on
    127.0.0.1, the worker in a folder of its own (relative paths given to the client are not its)."""
    root = tmp_path_factory.mktemp("started_cluster")
    dask = Path(sys.executable).with_name("dask")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO / "tests")]))
    scheduler_file = root / "scheduler.json"
    processes = [subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                   "--scheduler-file", str(scheduler_file)], cwd=root, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        (root / "worker").mkdir()
        processes.append(subprocess.Popen([str(dask), "worker", "--scheduler-file", str(scheduler_file),
                                           "--nthreads", "1", "--nworkers", "1", "--no-dashboard"],
                                          cwd=root / "worker", env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        import json

        yield scheduler_file, json.loads(scheduler_file.read_text())["address"]
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def test_scheduler_address_of_a_cluster_started_by_hand(photos, started_cluster):
    scheduler_file, address = started_cluster
    assert address.startswith("tcp://127.0.0.1:")
    with cluster_client(ClusterParams(scheduler=address, timeout=60)) as client:
        run = _segment(photos, "dask", client, classifier=MeanColourClassifier())
    assert len(run.outputs) == 5
    with cluster_client(ClusterParams(scheduler_file=str(scheduler_file), timeout=60)) as client:
        _segment(photos, "from_file", client, classifier=MeanColourClassifier())
    _segment(photos, "serial", classifier=MeanColourClassifier())
    assert_same_outputs(photos.parent / "serial", photos.parent / "dask")
    assert_same_outputs(photos.parent / "serial", photos.parent / "from_file")


def test_a_worker_that_cannot_see_the_input_is_named_and_nothing_is_written(photos, started_cluster, monkeypatch):
    _, address = started_cluster
    monkeypatch.chdir(photos.parent)  # relative paths: the worker runs in another folder
    with cluster_client(ClusterParams(scheduler=address, timeout=60)) as client:
        with pytest.raises(TaskFailed, match=r"worker tcp://127\.0\.0\.1:\d+ \(.*\) cannot see photos/IMG_\d\.png "
                                             r"\(its working folder: .*worker\)"):
            _segment(Path("photos"), "dask", client, classifier=MeanColourClassifier())
    assert not (photos.parent / "dask").exists() or not any((photos.parent / "dask").iterdir())


def test_the_script_runs_on_a_scheduler_with_the_flag(photos, started_cluster):
    """semseg_cnn_crf.py --scheduler, with a real frozen model loaded on the worker."""
    pytest.importorskip("tensorflow")
    _, address = started_cluster
    _tiny_color_model(photos / "model.pb")
    from conftest import run_script

    for outdir, flags in (("dask", ["--scheduler", address]), ("serial", [])):
        proc = run_script("semseg_crf/semseg_cnn_crf.py", "-", "model.pb", "labels.txt", "labeldefs.txt", "16",
                          "0.5", "0.6", "2", "0.5", "--input-dir", str(photos), "--outdir",
                          str(photos.parent / outdir), *flags, cwd=photos)
        assert proc.stdout.count("tiles used") == 5
        assert (f"Dask scheduler {address}, 1 workers; dashboard: " in proc.stderr) == bool(flags), proc.stderr
    assert_same_outputs(photos.parent / "serial", photos.parent / "dask")


# --- step 8 on a local cluster of 2 workers -------------------------------------------------------------------------


def test_step8_infer_and_infer_crf_on_two_workers_equal_the_serial_run(trained, dask_client):  # noqa: F811
    """A trained run: infer (network alone) and infer_crf (with the CRF) through dask, as in this process."""
    from dl_tools.workflows.fcn_infer import DEFAULT_REFINEMENT, FCNInferParams, infer_fcn

    root, _ = trained
    samples = root / "data" / "samples" / "RGB" / "val" / "data"
    for crf in (None, DEFAULT_REFINEMENT):
        params = FCNInferParams(crf=crf)
        serial = infer_fcn(samples, root / f"serial{params.tag}", root / "run", params)
        distributed = infer_fcn(samples, root / f"dask{params.tag}", root / "run", params, client=dask_client)
        assert distributed.n_images == serial.n_images == 2 and not distributed.skipped
        assert distributed.megapixels == pytest.approx(serial.megapixels)
        assert [p.name for p in distributed.outputs] == [p.name for p in serial.outputs]
        assert_same_outputs(root / f"serial{params.tag}", root / f"dask{params.tag}")
    loads = dask_client.run(model_loads)
    weights = str((root / "run").resolve())
    assert all(n == 1 for counts in loads.values() for path, n in counts.items() if path.startswith(weights)), loads


def test_infer_crf_script_with_workers(trained):  # noqa: F811
    """infer_crf.py --workers 2 starts its own local cluster; the outputs equal those of the serial script."""
    from conftest import run_script

    root, _ = trained
    for outdir, flags in (("cli_dask", ["--workers", "2"]), ("cli_serial", [])):
        proc = run_script("semseg_fullyconv/infer_crf.py", "--name", "run", "--samples-dir",
                          "data/samples/RGB/val/data", "--output-dir", outdir, *flags, cwd=root)
        assert "labelled 2 images" in proc.stdout
        assert ("local Dask cluster of 2 worker processes, 1 task at a time each, 1 numerical thread each"
                in proc.stderr) == bool(flags), proc.stderr
    assert_same_outputs(root / "cli_serial", root / "cli_dask")


# --- step 2, scripted over a folder ---------------------------------------------------------------------------------


def test_step2_folder_of_images_and_strokes_on_two_workers_equals_the_serial_run(photos, dask_client, capsys):
    """label_1image_crf.py --input-dir: the images with <name>_scribbles.png; IMG_4 has none and is left out."""
    from dl_tools.cli.label_1image_crf import main
    from dl_tools.io.images import write_image
    from dl_tools.io.mat import read_label_mat
    from dl_tools.io.text import write_colors
    from dl_tools.workflows.label import LabelParams, label_folder

    write_colors(photos / "colors.txt", QUADRANT_COLORS.astype(np.uint8))
    for i in range(4):
        strokes = np.zeros((80, 120), np.uint8)
        for k, (row, col) in enumerate([(20, 30), (20, 90), (60, 30), (60, 90)]):
            strokes[row - 2:row + 2, (col + 7 * i) % 120 - 10:(col + 7 * i) % 120 + 10] = k + 1
        write_image(photos / f"IMG_{i}_scribbles.png", strokes)
    params = LabelParams(scale=1.0)
    runs = {}
    for name, client in (("serial", None), ("dask", dask_client)):
        runs[name] = label_folder(photos, photos / "labels.txt", photos / "colors.txt", params,
                                  outdir=photos.parent / name, client=client)
    assert [r.outputs["mat"].name for r in runs["dask"].outputs] == [f"IMG_{i}_mres.mat" for i in range(4)]
    assert_same_outputs(photos.parent / "serial", photos.parent / "dask")
    truth = np.zeros((80, 120), int)
    truth[:40, 60:], truth[40:, :60], truth[40:, 60:] = 1, 2, 3
    assert (read_label_mat(photos.parent / "dask" / "IMG_0_mres.mat").label_image == truth).mean() > 0.95
    capsys.readouterr()
    assert main(["-s", "1", "--input-dir", str(photos), "--labels", str(photos / "labels.txt"), "--colors",
                 str(photos / "colors.txt"), "--outdir", str(photos.parent / "cli"), "--workers", "0"]) == 2
    assert capsys.readouterr().err == "error: --workers must be at least 1 worker process, got 0\n"
    assert main(["-s", "1", "--input-dir", str(photos), "--labels", str(photos / "labels.txt"), "--colors",
                 str(photos / "colors.txt"), "--outdir", str(photos.parent / "cli")]) == 0
    out, err = capsys.readouterr()
    assert out.count("_mres.mat: compute time") == 4 and "IMG_4.png in " in err and "left out" in err
    assert_same_outputs(photos.parent / "serial", photos.parent / "cli")
