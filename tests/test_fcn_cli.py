"""Method 2 scripts on a tiny synthetic data set: make_labels -> train (tiny backbone) -> infer / infer_crf,
their outputs and their refusals."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, run_script

from dl_tools.file_contract import LAST_CHECKPOINT
from dl_tools.io.images import read_raw, write_image
from dl_tools.io.mat import LabelFile, read_label_mat, write_label_mat
from dl_tools.io.provenance import read_record
from dl_tools.io.text import write_labeldefs

LABELS = ["water", "sand", "veg"]
COLORS = np.array([[0, 0, 255], [255, 255, 0], [0, 255, 0]], dtype=np.uint8)
#: Columns without data at the left of the second training and validation images (their .mat's nodata mask).
NODATA_COLUMNS = 8
TRAIN = ["--data-source", "data", "--data-dir", "data", "--backbone", "tiny", "--image-size", "64x96",
         "--batch-size", "2", "-q"]


def _one_line_error(stderr, *names):
    """The script refused cleanly: no traceback, and a last stderr line ``error: ...`` (after any warnings) that
    names each of ``names``; returns that line."""
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "Traceback" not in stderr, stderr
    assert all(str(name) in last for name in names), last
    return last


def _tree(folder):
    """Every file under ``folder`` with its bytes, to show that a refused command changed nothing."""
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _scene(shape, seed):
    """(image, class map): three horizontal bands (water, sand, veg) in their colours plus noise."""
    rng = np.random.default_rng(seed)
    classes = np.zeros(shape, np.uint8)
    classes[shape[0] // 3:] = 1
    classes[2 * shape[0] // 3:] = 2
    image = np.clip(COLORS[classes] * 0.8 + rng.normal(0, 10, shape + (3,)), 0, 255).astype(np.uint8)
    return image, classes


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """data/ in the tutorial layout, with images of two sizes, .mat labels in another class order than labeldefs,
    one training and one validation .mat whose first columns have no data (``nodata``), and one training sample
    without labels; label images made by make_labels.py."""
    root = tmp_path_factory.mktemp("fcn")
    data = root / "data"
    write_labeldefs(data / "labeldefs.txt", LABELS, COLORS)
    for split, shapes in (("train", [(96, 128), (72, 96), (96, 128), (72, 96)]), ("val", [(96, 128), (72, 96)])):
        for k, shape in enumerate(shapes):
            image, classes = _scene(shape, seed=len(split) * 10 + k)
            write_image(data / "samples" / "RGB" / split / "data" / f"{split}{k}_RGB.png", image)
            order = ["sand", "veg", "water"]  # .mat order differs from labeldefs: matched by name
            mat_classes = np.array([order.index(LABELS[c]) for c in range(3)], np.uint8)[classes]
            nodata = np.zeros(shape, bool)
            nodata[:, :NODATA_COLUMNS] = k == 1
            write_label_mat(data / "labels" / "gtFine" / split / "data" / f"{split}{k}_mres.mat",
                            LabelFile(label_image=mat_classes, labels=order, nodata=nodata))
    write_image(data / "samples" / "RGB" / "train" / "data" / "nolabel_RGB.jpg", _scene((72, 96), 99)[0])
    for split in ("train", "val"):
        run_script("semseg_fullyconv/make_labels.py", f"data/labels/gtFine/{split}/data", "-q", cwd=root)
    return root


@pytest.fixture(scope="module")
def trained(tiny):
    proc = run_script("semseg_fullyconv/train.py", "--name", "run", "--epochs", "2", *TRAIN, "--class-weights",
                      cwd=tiny)
    return tiny, proc


def test_make_labels_outputs(tiny):
    folder = tiny / "data" / "labels" / "gtFine" / "train" / "data"
    ids = read_raw(folder / "train0_gtFine_labelIds.png")
    np.testing.assert_array_equal(ids, _scene((96, 128), 50)[1])  # labeldefs indices, by name
    ids = read_raw(folder / "train1_gtFine_labelIds.png")  # no data in its first columns: 255, never trained on
    np.testing.assert_array_equal(ids[:, NODATA_COLUMNS:], _scene((72, 96), 51)[1][:, NODATA_COLUMNS:])
    assert (ids[:, :NODATA_COLUMNS] == 255).all()
    color = read_raw(folder / "train0_gtFine_color.png")
    np.testing.assert_array_equal(color[-1, -1], COLORS[2])
    proc = run_script("semseg_fullyconv/make_labels.py", "data/labels/gtFine/train/data", cwd=tiny, check_rc=2)
    assert "--overwrite" in proc.stderr


def test_make_labels_labeldefs_missing_a_class(tiny, tmp_path):
    write_labeldefs(tmp_path / "two.txt", LABELS[:2], COLORS[:2])
    proc = run_script("semseg_fullyconv/make_labels.py", "data/labels/gtFine/val/data", "--labeldefs",
                      tmp_path / "two.txt", "--overwrite", cwd=tiny, check_rc=2)
    assert "['veg']" in proc.stderr and "labeldefs classes: ['water', 'sand']" in proc.stderr


def test_make_labels_prints_its_summary_once(tiny, tmp_path):
    folder = tmp_path / "labels"
    shutil.copytree(tiny / "data" / "labels" / "gtFine" / "val" / "data", folder,
                    ignore=shutil.ignore_patterns("*.png"))
    proc = run_script("semseg_fullyconv/make_labels.py", folder, "--labeldefs", tiny / "data" / "labeldefs.txt")
    assert "wrote 2 labelIds" in proc.stdout and "wrote" not in proc.stderr


def test_make_labels_refusals(tmp_path):
    proc = run_script("semseg_fullyconv/make_labels.py", tmp_path, "--median", "x", check_rc=2)
    assert "invalid" not in _one_line_error(proc.stderr, "--median", "radius in pixels", "'x'")
    (tmp_path / "empty").mkdir()  # no labeldefs.txt in it or above: the missing .mat files are the news
    proc = run_script("semseg_fullyconv/make_labels.py", tmp_path / "empty", check_rc=2)
    _one_line_error(proc.stderr, "no *_mres.mat files in", tmp_path / "empty")
    (tmp_path / "a_mres.mat").write_bytes(b"")
    proc = run_script("semseg_fullyconv/make_labels.py", tmp_path / "a_mres.mat", check_rc=2)
    _one_line_error(proc.stderr, tmp_path / "a_mres.mat", "is a file, not a folder; give the folder")


def test_train_writes_the_run_folder(trained):
    root, proc = trained
    run = root / "run"
    for name in ("settings.json", "labeldefs.txt", "history.json", "best.weights.h5", "last.keras",
                 "training_curves.png"):
        assert (run / name).is_file(), name
    assert any((run / "tb").rglob("*"))
    settings = json.loads((run / "settings.json").read_text())
    assert settings["labels"] == LABELS and settings["n_train"] == 4 and settings["params"]["image_size"] == [64, 96]
    assert settings["params"]["standardise"] is True
    history = json.loads((run / "history.json").read_text())
    assert len(history["val_mean_iou"]) == 2 and len(history["val_loss"]) == 2
    # pixels without data (label 255) in a training and a validation image: trained and scored as nothing
    assert all(0 <= value <= 1 for key in ("mean_iou", "val_mean_iou", "accuracy") for value in history[key])
    assert all(np.isfinite(history[key]).all() for key in ("loss", "val_loss"))
    assert "nolabel_RGB.jpg" in proc.stderr  # skipped with a warning
    assert "trained 2 epochs" in proc.stdout


def test_train_refusals(trained):
    root, _ = trained
    proc = run_script("semseg_fullyconv/train.py", "--name", "run", "--epochs", "2", *TRAIN, cwd=root, check_rc=2)
    assert "--resume" in proc.stderr and "--overwrite" in proc.stderr
    (root / "halfrun").mkdir()
    shutil.copy(root / "run" / "settings.json", root / "halfrun")
    proc = run_script("semseg_fullyconv/train.py", "--name", "halfrun", "--epochs", "3", "--resume", *TRAIN,
                      cwd=root, check_rc=2)
    assert "no checkpoint" in proc.stderr
    proc = run_script("semseg_fullyconv/train.py", "--name", "run", "--epochs", "3", "--resume", "--no-standardise",
                      "--data-dir", "data", cwd=root, check_rc=2)
    assert "standardise=True" in proc.stderr and "keeps its network" in proc.stderr
    before = _tree(root / "run")
    proc = run_script("semseg_fullyconv/train.py", "--name", "run", "--epochs", "3", "--resume", "--labeldefs",
                      "data/labeldefs.txt", cwd=root, check_rc=2)
    assert _one_line_error(proc.stderr) == ("error: --labeldefs: a resumed run keeps its own classes "
                                            "(run/labeldefs.txt); leave out --labeldefs")
    assert _tree(root / "run") == before
    empty = root / "empty"
    shutil.copytree(root / "data", empty / "data", ignore=shutil.ignore_patterns("*_labelIds.png"))
    proc = run_script("semseg_fullyconv/train.py", "--name", "run2", "--epochs", "1", *TRAIN, cwd=empty, check_rc=2)
    assert "make_labels.py" in proc.stderr


def test_train_mistakes_keep_the_old_run_and_make_no_new_one(trained):
    """A typo with --overwrite leaves the finished run as it was; a failed start creates no run folder, so the
    corrected command works as typed."""
    root, _ = trained
    shutil.copytree(root / "run", root / "keep")
    before = _tree(root / "keep")
    for mistake, named in ((["--data-dir", "nosuch"], "--data-dir"), (["--labeldefs", "nosuch.txt"], "nosuch.txt")):
        for name in ("keep", "fresh"):
            proc = run_script("semseg_fullyconv/train.py", "--name", name, "--overwrite", "--epochs", "1", *TRAIN,
                              *mistake, cwd=root, check_rc=2)
            _one_line_error(proc.stderr, named)
        assert _tree(root / "keep") == before
        assert not (root / "fresh").exists()
    (root / "afile").write_text("mine")
    proc = run_script("semseg_fullyconv/train.py", "--name", "afile", "--overwrite", *TRAIN, cwd=root, check_rc=2)
    _one_line_error(proc.stderr, "--name", "is a file")
    assert (root / "afile").read_text() == "mine"


def test_train_names_a_missing_data_dir(tmp_path):
    proc = run_script("semseg_fullyconv/train.py", "--name", "run", "--data-dir", "nosuch", cwd=tmp_path, check_rc=2)
    message = _one_line_error(proc.stderr, "--data-dir", "nosuch/samples/RGB/train", "labels/gtFine/train")
    assert "{split}" not in message
    (tmp_path / "data" / "samples" / "RGB" / "train" / "data").mkdir(parents=True)
    proc = run_script("semseg_fullyconv/train.py", "--name", "run", cwd=tmp_path, check_rc=2)
    assert "make_labels" not in _one_line_error(proc.stderr, "--data-dir", "no images in")
    assert sorted(tmp_path.iterdir()) == [tmp_path / "data"]


def test_train_resume_continues(trained):
    """--resume without --data-dir reads the run's own data folder (here from another working folder) and says
    how many epochs it added."""
    root, _ = trained
    shutil.copytree(root / "run", root / "resumed")
    (root / "elsewhere").mkdir()
    proc = run_script("semseg_fullyconv/train.py", "--name", root / "resumed", "--epochs", "3", "--resume", "-q",
                      cwd=root / "elsewhere")
    history = json.loads((root / "resumed" / "history.json").read_text())
    assert len(history["loss"]) == 3
    assert "trained 1 more epoch (3 in total)" in proc.stdout


def test_infer_and_infer_crf_write_original_size(trained):
    import rasterio
    from rasterio.transform import from_origin

    root, _ = trained
    samples = root / "unseen"
    shutil.copytree(root / "data" / "samples" / "RGB" / "val" / "data", samples)
    big, _ = _scene((300, 400), 7)  # far larger than the training images: tiled
    write_image(samples / "big_RGB.jpg", big)
    geo, _ = _scene((90, 120), 8)
    transform = from_origin(500000, 4000000, 0.5, 0.5)
    with rasterio.open(samples / "geo.tif", "w", driver="GTiff", width=120, height=90, count=3, dtype="uint8",
                       crs="EPSG:32618", transform=transform) as dst:
        dst.write(np.moveaxis(geo, 2, 0))
    holes = np.maximum(geo, 1)
    holes[:, :30] = 0  # no data (nodata=0 in every band)
    with rasterio.open(samples / "holes.tif", "w", driver="GTiff", width=120, height=90, count=3, dtype="uint8",
                       crs="EPSG:32618", transform=transform, nodata=0) as dst:
        dst.write(np.moveaxis(holes, 2, 0))
    proc = run_script("semseg_fullyconv/infer.py", "--name", "run", "--samples-dir", "unseen", "--output-dir", "out",
                      "--data-source", "data", "--batch-size", "3", cwd=root)
    assert "labelled 5 images" in proc.stdout and "labelled" not in proc.stderr  # the summary once
    run_script("semseg_fullyconv/infer_crf.py", "--name", "run", "--samples-dir", "unseen", "--output-dir", "out",
               "--data-source", "data", "-q", cwd=root)
    out = root / "out"
    for tag, mat in (("", "_ares"), ("_crf", "_ares_crf")):
        for name, shape in (("big", (300, 400)), ("val1", (72, 96)), ("geo", (90, 120))):
            label = read_raw(out / f"{name}{tag}_label.png")
            assert label.shape == shape and label.dtype == np.uint8 and label.max() < 3
            assert read_raw(out / f"{name}{tag}_color.png").shape == shape + (3,)
            assert read_raw(out / f"{name}{tag}_overlay.png").shape == shape + (3,)
            label_file = read_label_mat(out / f"{name}{mat}.mat")
            assert label_file.labels == LABELS and label_file.shape == shape
            np.testing.assert_array_equal(label_file.label_image, label)
        with rasterio.open(out / f"geo{tag}_label.tif") as src:
            assert src.crs.to_epsg() == 32618 and src.transform == transform and src.shape == (90, 120)
        with rasterio.open(out / f"holes{tag}_label.tif") as src:
            masked = src.read(1)
        np.testing.assert_array_equal(read_raw(out / f"holes{tag}_label.png"), masked)
        assert (masked[:, :30] == 255).all() and masked[:, 30:].max() < 3
        np.testing.assert_array_equal(read_raw(out / f"holes{tag}_color.png")[:, :30], 0)
        holes_mat = read_label_mat(out / f"holes{mat}.mat")
        assert holes_mat.label_image.max() < 3  # a class everywhere, as legacy readers expect
        np.testing.assert_array_equal(holes_mat.nodata, masked == 255)  # and the no-data pixels marked
        assert read_label_mat(out / f"geo{mat}.mat").nodata is None  # every pixel has data
    proc = run_script("semseg_fullyconv/infer.py", "--name", "run", "--samples-dir", "unseen", "--output-dir", "out",
                      cwd=root, check_rc=2)
    assert "--overwrite" in proc.stderr
    # the outputs of a run are never taken for photographs, so the output folder can hold samples too
    shutil.copy(samples / "big_RGB.jpg", out / "new_RGB.jpg")
    proc = run_script("semseg_fullyconv/infer.py", "--name", "run", "--samples-dir", "out", "--output-dir", "out",
                      "--data-source", "data", "-q", cwd=root)
    assert proc.stdout.startswith("labelled 1 image (") and (out / "new_label.png").is_file()
    assert not list(out.glob("*_label_label.png"))


def test_infer_checks_everything_before_writing(trained):
    root, _ = trained
    samples = root / "partial"
    shutil.copytree(root / "data" / "samples" / "RGB" / "val" / "data", samples)
    infer = ["--name", "run", "--samples-dir", "partial", "-q"]
    (root / "afile").write_text("mine")
    proc = run_script("semseg_fullyconv/infer.py", *infer, "--output-dir", "afile", cwd=root, check_rc=2)
    _one_line_error(proc.stderr, "--output-dir", "afile")
    for bad, content in (("zz_RGB.jpg", b"not a jpeg"), ("zz.tif", b"II*\x00broken")):
        (samples / bad).write_bytes(content)  # sorted last: the good images come first
        for script in ("infer.py", "infer_crf.py"):
            proc = run_script(f"semseg_fullyconv/{script}", *infer, "--output-dir", "partial_out", cwd=root,
                              check_rc=2)
            _one_line_error(proc.stderr, bad, "not a readable image")
            assert not (root / "partial_out").exists()
        (samples / bad).unlink()
    write_image(samples / "val0.jpg", _scene((72, 96), 3)[0])  # same output names as val0_RGB.png
    proc = run_script("semseg_fullyconv/infer.py", *infer, "--output-dir", "partial_out", cwd=root, check_rc=2)
    _one_line_error(proc.stderr, "--samples-dir", "val0.jpg", "val0_RGB.png")
    assert not (root / "partial_out").exists()


@pytest.mark.parametrize("seed", ["-1", "4294967296", "1.5"])
def test_train_refuses_a_seed_out_of_range(tmp_path, seed):
    proc = run_script("semseg_fullyconv/train.py", "--name", "run", "--seed", seed, cwd=tmp_path, check_rc=2)
    assert proc.stderr.count("\n") == 1
    _one_line_error(proc.stderr, "--seed", "0 to 4294967295", seed)
    assert not any(tmp_path.iterdir())


def _damaged_jpeg(path, image):
    """A JPEG cut short (as by an interrupted copy, ``head -c``): its header reads, its pixel data do not."""
    write_image(path, image)
    path.write_bytes(path.read_bytes()[:1000])


def test_infer_skips_an_image_found_damaged_while_labelled(trained):
    """Only headers are read before the network runs; an image whose pixel data turn out damaged is skipped, the
    others are labelled, and the run ends naming it with its fix (exit 1); with no image left, exit 2 and no output
    folder."""
    root, _ = trained
    samples = root / "with_damaged"
    shutil.copytree(root / "data" / "samples" / "RGB" / "val" / "data", samples)
    _damaged_jpeg(samples / "trunc_RGB.jpg", _scene((72, 96), 5)[0])  # sorted first: the good images come after
    expected = set()
    for script, tag in (("infer.py", ""), ("infer_crf.py", "_crf")):
        proc = run_script(f"semseg_fullyconv/{script}", "--name", "run", "--samples-dir", "with_damaged",
                          "--output-dir", "damaged_out", "-q", cwd=root, check_rc=1)
        assert "labelled 2 images" in proc.stdout
        assert "warning: not labelled: with_damaged/trunc_RGB.jpg is not a readable image" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert proc.stderr.strip().splitlines()[-1] == (
            "error: 1 of 3 images not labelled (reasons above): trunc_RGB.jpg; the others' outputs are written. "
            "trunc_RGB.jpg: replace it with an undamaged copy and run again with --overwrite, or remove it from "
            "--samples-dir")
        expected |= {f"{name}{kind}" for name in ("val0", "val1") for kind in (
            f"{tag}_label.png", f"{tag}_color.png", f"{tag}_overlay.png", f"_ares{tag}.mat")}
        assert {p.name for p in (root / "damaged_out").iterdir()} == expected
    only_damaged = root / "only_damaged"
    only_damaged.mkdir()
    _damaged_jpeg(only_damaged / "a_RGB.jpg", _scene((72, 96), 6)[0])
    proc = run_script("semseg_fullyconv/infer.py", "--name", "run", "--samples-dir", "only_damaged", "--output-dir",
                      "none_out", "-q", cwd=root, check_rc=2)
    assert _one_line_error(proc.stderr, "a_RGB.jpg").startswith(
        "error: the only image of --samples-dir was not labelled (reasons above; nothing written): a_RGB.jpg: replace")
    assert not (root / "none_out").exists()


@pytest.mark.parametrize("flag, value", [("--crf-iterations", "0"), ("--crf-theta", "-5"),
                                         ("--crf-theta-color", "0"), ("--crf-smooth", "-1")])
def test_infer_crf_names_a_bad_crf_flag(tmp_path, flag, value):
    proc = run_script("semseg_fullyconv/infer_crf.py", "--name", "run", "--samples-dir", "in", "--output-dir", "out",
                      flag, value, cwd=tmp_path, check_rc=2)
    _one_line_error(proc.stderr, flag, value)


def _train_in_process(monkeypatch, capsys, root, *args):
    """Run train.py's main in this process (so the test can stand in for parts of it); (exit code, stderr).
    Nothing may reach stdout (no summary is printed on a failure)."""
    from dl_tools.cli.fcn_train import main

    monkeypatch.chdir(root)
    code = main(["--epochs", "1", *args])
    out, err = capsys.readouterr()
    assert code == 0 or out == "", out
    return code, err


def test_train_vgg16_offline_leaves_no_run_folder(tiny, monkeypatch, capsys):
    from keras.src.utils import file_utils

    def offline(fname, origin, *args, **kwargs):  # what Keras says and raises without a network
        print(f"Downloading data from {origin}")  # as keras.src.utils.io_utils.print_msg does, on stdout
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -2] Name or service not known")

    monkeypatch.setattr(file_utils, "get_file", offline)
    code, err = _train_in_process(monkeypatch, capsys, tiny, "--name", "vgg", "--backbone", "vgg16",
                                  "--image-size", "64x96", "--data-dir", "data")
    assert code == 2
    assert "Downloading data from" in err  # Keras' message kept, but off stdout (which stays clean)
    assert _one_line_error(err, "--backbone mobilenetv2").startswith("error: --backbone vgg16: could not download")
    assert not (tiny / "vgg").exists()


def test_train_stopped_in_its_first_epoch_leaves_no_run_folder(tiny, monkeypatch, capsys):
    from dl_tools.workflows import fcn_train

    def stopped(model, run_dir, *args):
        if run_dir.name == "later":
            (run_dir / LAST_CHECKPOINT).write_bytes(b"checkpoint of epoch 1")
        raise KeyboardInterrupt

    monkeypatch.setattr(fcn_train, "_fit", stopped)
    for name, kept in (("first", False), ("later", True)):
        code, _ = _train_in_process(monkeypatch, capsys, tiny, "--name", name, *TRAIN)
        assert code == 130 and (tiny / name).exists() == kept


def test_help_imports_nothing_heavy():
    code = ("import runpy, sys\n"
            "for script in ['make_labels', 'train', 'infer', 'infer_crf']:\n"
            f"    sys.argv = [script, '--help']\n"
            "    try:\n"
            f"        runpy.run_path({str(REPO)!r} + f'/semseg_fullyconv/{{script}}.py', run_name='__main__')\n"
            "    except SystemExit:\n"
            "        pass\n"
            "print([m for m in ('tensorflow', 'keras', 'pydensecrf') if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert proc.stdout.count("usage:") == 4


def test_infer_skips_a_decompression_bomb(trained):
    """A 778-byte PNG whose header claims 60000 x 60000 px, among the samples: skipped and named while the images
    before and after it are labelled (exit 1); alone, exit 2 naming it, and no output folder."""
    from bad_images import png_bomb

    root, _ = trained
    samples = root / "with_bomb"
    shutil.copytree(root / "data" / "samples" / "RGB" / "val" / "data", samples)
    png_bomb(samples / "val0b_RGB.png")  # sorted between val0_RGB.png and val1_RGB.png
    infer = ["semseg_fullyconv/infer.py", "--name", "run", "-q", "--samples-dir"]
    proc = run_script(*infer, "with_bomb", "--output-dir", "bomb_out", cwd=root, check_rc=1)
    claim = "val0b_RGB.png is not a readable image (its header claims 60000 x 60000 px, more than 778 bytes of PNG"
    assert "labelled 2 images" in proc.stdout
    assert f"warning: not labelled: with_bomb/{claim}" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: 1 of 3 images not labelled (reasons above): val0b_RGB.png; the others' outputs are written. "
        "val0b_RGB.png: replace it with an undamaged copy and run again with --overwrite, or remove it from "
        "--samples-dir")
    assert sorted(p.name for p in (root / "bomb_out").iterdir()) == sorted(
        f"{name}{kind}" for name in ("val0", "val1") for kind in ("_label.png", "_color.png", "_overlay.png",
                                                                  "_ares.mat"))
    (root / "bomb_alone").mkdir()
    png_bomb(root / "bomb_alone" / "val0b_RGB.png")
    proc = run_script(*infer, "bomb_alone", "--output-dir", "alone_out", cwd=root, check_rc=2)
    assert _one_line_error(proc.stderr, "val0b_RGB.png").startswith(
        "error: the only image of --samples-dir was not labelled (reasons above; nothing written)")
    assert f"warning: not labelled: bomb_alone/{claim}" in proc.stderr and not (root / "alone_out").exists()


def write_scene_mosaic(path):
    """Write a 1100 x 1300 px GeoTIFF of the step-8 scenes in 4 x 4 blocks with a no-data (0) border of 150 columns,
    UTM 18N at 0.5 m; returns its transform."""
    import rasterio
    from rasterio.transform import from_origin

    image = np.concatenate([np.concatenate([_scene((275, 325), 20 + 4 * r + c)[0] for c in range(4)], axis=1)
                            for r in range(4)], axis=0)
    image = np.maximum(image, 1)
    image[:, :150] = 0  # no data
    transform = from_origin(500000, 4000000, 0.5, 0.5)
    with rasterio.open(path, "w", driver="GTiff", width=1300, height=1100, count=3, dtype="uint8",
                       crs="EPSG:32618", transform=transform, nodata=0) as dst:
        dst.write(np.moveaxis(image, 2, 0))
    return transform


def test_a_geotiff_above_max_megapixels_is_labelled_by_windows_as_the_whole_image(trained):
    """A 1100 x 1300 GeoTIFF with a no-data border, labelled by windows of 512 px (--max-megapixels 0.5), gives the
    whole-image run's classes (infer.py: up to float rounding; infer_crf.py: the CRF sees each window with its
    halo), in a tiled GeoTIFF with the source's grid, overviews and no-data, and a preview instead of .mat/PNGs."""
    import rasterio

    root, _ = trained
    samples = root / "mosaic_in"
    samples.mkdir()
    transform = write_scene_mosaic(samples / "mosaic.tif")
    windowed = ["--max-megapixels", "0.5", "--window", "512", "--probabilities"]
    # infer.py's network needs no halo (its default); the CRF of infer_crf.py sees each window with one
    for script, tag, least, halo in (("infer.py", "", 0.999, []), ("infer_crf.py", "_crf", 0.98, ["--halo", "64"])):
        for folder, extra in (("whole", []), ("windows", windowed + halo)):
            proc = run_script(f"semseg_fullyconv/{script}", "--name", "run", "--samples-dir", "mosaic_in",
                              "--output-dir", folder, "-q", *extra, cwd=root)
            assert proc.stdout.startswith("labelled 1 image (1.4 megapixels")
        with rasterio.open(root / "whole" / f"mosaic{tag}_label.tif") as src:
            whole = src.read(1)
        out = root / "windows"
        assert sorted(p.name for p in out.iterdir() if tag in p.name or not tag and "_crf" not in p.name) == \
            sorted(f"mosaic{tag}_{kind}" for kind in ("label.tif", "preview.png", "probabilities.tif"))
        with rasterio.open(out / f"mosaic{tag}_label.tif") as src:
            labels = src.read(1)
            assert src.crs.to_epsg() == 32618 and src.transform == transform and src.nodata == 255
            assert src.profile["tiled"] and src.block_shapes[0] == (512, 512) and src.overviews(1) == [2, 4]
        with rasterio.open(out / f"mosaic{tag}_probabilities.tif") as src:
            assert src.count == 3 and src.read(1, window=((0, 10), (200, 210))).dtype == np.uint8
        assert (labels[:, :150] == 255).all() and labels[:, 150:].max() < 3
        assert (labels == whole).mean() >= least, (script, (labels == whole).mean())
        assert read_record(out / f"mosaic{tag}_label.tif")["step"] == f"fcn_infer{tag}"  # provenance in the tags


def test_resume_without_an_interrupted_run_is_refused(trained):
    root, _ = trained
    samples = root / "resume_in"
    samples.mkdir()
    import rasterio

    with rasterio.open(samples / "m.tif", "w", driver="GTiff", width=700, height=600, count=3,
                       dtype="uint8") as dst:
        dst.write(np.moveaxis(_scene((600, 700), 3)[0], 2, 0))
    proc = run_script("semseg_fullyconv/infer.py", "--name", "run", "--samples-dir", "resume_in", "--output-dir",
                      "resume_out", "--max-megapixels", "0.1", "--window", "512", "--resume", cwd=root, check_rc=2)
    _one_line_error(proc.stderr, "--resume", "m_label.tif")
    assert not (root / "resume_out").exists() or not list((root / "resume_out").iterdir())


def test_the_run_has_a_card_its_estimates_a_record_and_step7_adds_its_scores_to_the_card(trained):
    from dl_tools.io.model_card import read_model_card
    from dl_tools.provenance_record import sha256_file

    root, _ = trained
    run = root / "run"
    labels = root / "data" / "labels" / "gtFine" / "train" / "data"
    made = read_record(labels / "train0_gtFine_labelIds.png")  # make_labels.py's label image, in a PNG text chunk
    assert made["step"] == "make_labels" and [e["role"] for e in made["inputs"]] == ["mat", "labeldefs"]
    assert made["inputs"][0]["sha256"] == sha256_file(labels / "train0_mres.mat")
    record = read_record(run)
    assert record["step"] == "fcn_train" and record["settings"]["backbone"] == "tiny"
    assert next(e for e in record["inputs"] if e["path"].endswith("train0_gtFine_labelIds.png"))["sha256"] == \
        sha256_file(labels / "train0_gtFine_labelIds.png")
    roles = [entry["role"] for entry in record["inputs"]]
    assert roles.count("train image") == roles.count("train labels") == 4 and roles.count("val image") == 2
    card = read_model_card(run)
    assert card["made_by"] == record and card["model"] == "run" and card["test_scores"] == []
    assert [(c["name"], c["color"]) for c in card["classes"]] == list(zip(LABELS, COLORS.tolist()))
    counts = card["training_data"]["counts"]
    assert sum(counts["train"].values()) < 4 * 64 * 96 and all(n > 0 for n in counts["val"].values())  # no-data out
    history = json.loads((run / "history.json").read_text())
    best = int(np.argmax(history["val_mean_iou"]))
    assert card["scores"]["validation"]["mean_iou"] == history["val_mean_iou"][best]
    assert card["backbone"] == {"name": "tiny", "weights": "random weights (a stand-in network for tests; no "
                                "pretrained weights)", "trained": "none"}
    run_script("semseg_fullyconv/infer.py", "--name", "run", "--samples-dir", "data/samples/RGB/val/data",
               "--output-dir", "prov_out", "-q", cwd=root)
    estimate = read_record(root / "prov_out" / "val0_ares.mat")
    assert estimate["step"] == "fcn_infer" and estimate["argv"][1:3] == ["--name", "run"]
    assert estimate["inputs"][1] == {"role": "model", "path": "run/best.weights.h5",
                                     "bytes": (run / "best.weights.h5").stat().st_size,
                                     "sha256": sha256_file(run / "best.weights.h5")}
    run_script("eval_semseg/test_pixels.py", "--input", "prov_out", "--truth-dir", "data/labels/gtFine/val/data",
               "-q", cwd=root)
    (entry,) = read_model_card(run)["test_scores"]
    pooled = json.loads((root / "prov_out" / "pixel_eval.json").read_text())["overall"]["_ares"]["scores"]
    assert entry["step"] == "test_pixels" and entry["n"] == "2 photographs" and entry["scores"] == pooled
    assert "test_pixels on prov_out (2 photographs)" in (run / "card.md").read_text()


def _with_choice(root, name, choice):
    """A copy ``name`` of the trained run whose settings.json holds ``choice`` (a CRFChoice, or None: no choice, as
    a run of an older DL tools)."""
    run = root / name
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(root / "run", run)
    settings = json.loads((run / "settings.json").read_text())
    settings.pop("crf_choice")
    if choice is not None:
        settings["crf_choice"] = choice.record()
    (run / "settings.json").write_text(json.dumps(settings))
    return name


def _refinement_used(mat):
    from dl_tools.segmentation.refine import Refinement

    stored = read_record(mat)["settings"]["crf"]
    return None if stored is None else Refinement.from_record(stored)


def test_train_chooses_the_crf_and_infer_crf_uses_the_runs_choice(trained):
    import dataclasses

    from dl_tools.io.model_card import read_model_card
    from dl_tools.segmentation.crf import CRFParams
    from dl_tools.segmentation.refine import CRFChoice, Refinement

    root, proc = trained
    choice = json.loads((root / "run" / "settings.json").read_text())["crf_choice"]
    assert choice["n_images"] == 2 and choice["n_candidates"] == 4 and 0 <= choice["network_mean_iou"] <= 1
    assert "CRF for infer_crf.py: on the run's 2 validation images the best of 4 CRF settings" in proc.stdout
    card = read_model_card(root / "run")
    assert card["crf_choice"]["network_mean_iou"] == choice["network_mean_iou"]
    assert card["crf_choice"]["summary"] in (root / "run" / "card.md").read_text()

    stored = Refinement(CRFParams(theta_bilateral=33.0, theta_color=7.0, compat_bilateral=4.0, n_iter=3, scale=0.5),
                        temperature=1.7, gate=0.8, accept=0.6, changes=((1, 0),))
    name = _with_choice(root, "run_choice", CRFChoice(stored, 0.5, 0.6, 2, 12, 0.005))
    labels = json.loads((root / "run" / "settings.json").read_text())["labels"]
    infer = ("--samples-dir", "data/samples/RGB/val/data", "--data-source", "data")
    proc = run_script("semseg_fullyconv/infer_crf.py", "--name", name, *infer, "--output-dir", "out_choice", cwd=root)
    assert "gained +0.100 mean IoU (0.500 -> 0.600)" in proc.stderr
    assert (f"temperature 1.70, gate 0.8, CRF's class where it is at least 0.6 sure, changes of class: "
            f"{labels[1]} -> {labels[0]}") in proc.stderr
    assert _refinement_used(root / "out_choice" / "val0_ares_crf.mat") == stored
    run_script("semseg_fullyconv/infer_crf.py", "--name", name, *infer, "--output-dir", "out_theta", "-q",
               "--crf-theta", "50", "--crf-gate", "1", "--crf-all-changes", cwd=root)
    assert _refinement_used(root / "out_theta" / "val0_ares_crf.mat") == dataclasses.replace(
        stored, crf=dataclasses.replace(stored.crf, theta_bilateral=50.0), gate=Refinement(stored.crf).gate,
        changes=None)


def test_infer_crf_keeps_the_network_when_no_crf_helped_on_validation(trained):
    from dl_tools.segmentation.refine import CRFChoice

    root, _ = trained
    name = _with_choice(root, "run_declined", CRFChoice(None, 0.5, 0.501, 2, 12, 0.005))
    infer = ("--name", name, "--samples-dir", "data/samples/RGB/val/data", "--data-source", "data")
    run_script("semseg_fullyconv/infer.py", *infer, "--output-dir", "out_declined", "-q", cwd=root)
    proc = run_script("semseg_fullyconv/infer_crf.py", *infer, "--output-dir", "out_declined", cwd=root)
    assert "not more than the 0.005 required: the network's labels are kept" in proc.stderr
    assert "warning: infer_crf.py writes the network's labels" in proc.stderr
    out = root / "out_declined"
    for image in ("val0", "val1"):
        np.testing.assert_array_equal(read_raw(out / f"{image}_crf_label.png"), read_raw(out / f"{image}_label.png"))
    record = read_record(out / "val0_ares_crf.mat")
    assert record["settings"]["crf"] is None and record["settings"]["keep_network"] is True
    run_script("semseg_fullyconv/infer_crf.py", *infer, "--output-dir", "out_forced", "-q", "--crf-compat", "3",
               cwd=root)  # an option runs the CRF anyway
    assert _refinement_used(out.parent / "out_forced" / "val0_ares_crf.mat").crf.compat_bilateral == 3.0


def test_a_run_without_a_choice_gets_the_defaults_and_choose_crf_gives_it_one(trained):
    from dl_tools.workflows.fcn_infer import DEFAULT_REFINEMENT

    root, _ = trained
    name = _with_choice(root, "run_old", None)
    infer = ("--name", name, "--samples-dir", "data/samples/RGB/val/data", "--data-source", "data")
    proc = run_script("semseg_fullyconv/infer_crf.py", *infer, "--output-dir", "out_old", cwd=root)
    assert "has no CRF settings chosen" in proc.stderr and f"dl-tools choose-crf --name {name}" in proc.stderr
    assert _refinement_used(root / "out_old" / "val0_ares_crf.mat") == DEFAULT_REFINEMENT
    proc = subprocess.run([sys.executable, "-m", "dl_tools", "choose-crf", "--name", name], cwd=root,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("CRF for infer_crf.py: on the run's 2 validation images")
    assert "crf_choice" in json.loads((root / name / "settings.json").read_text())
    proc = subprocess.run([sys.executable, "-m", "dl_tools", "choose-crf", "--name", "nowhere"], cwd=root,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2 and _one_line_error(proc.stderr, "nowhere")


def _damaged_run(root, name, damage):
    """A copy ``name`` of the trained run, its settings.json (a dict) passed through ``damage`` (which may also
    change the folder, and returns the new settings, or a string to write as the file)."""
    run = root / name
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(root / "run", run)
    settings = damage(json.loads((run / "settings.json").read_text()), run)
    (run / "settings.json").write_text(settings if isinstance(settings, str) else json.dumps(settings))
    return run


def _choice_with(**refinement):
    def damage(settings, _):
        settings["crf_choice"] = {"refinement": {"crf": {}} | refinement, "network_mean_iou": 0.5,
                                  "best_mean_iou": 0.6, "n_images": 2, "n_candidates": 4, "min_gain": 0.0}
        return settings
    return damage


def _weights_of_two_classes(settings, _):
    settings["labels"], settings["colors"] = settings["labels"][:2], settings["colors"][:2]
    return settings


def _random_weights(settings, run):
    (run / "best.weights.h5").write_bytes(np.random.default_rng(0).bytes(4096))
    return settings


@pytest.mark.parametrize("damage, named", [
    (lambda s, _: json.dumps(s)[:50], ["settings.json", "not valid JSON", "train the run again"]),
    (lambda s, _: [], ["settings.json", "class names"]),
    (lambda s, _: {k: v for k, v in s.items() if k != "train_scale"}, ["settings.json", "train_scale"]),
    (lambda s, _: s | {"crf_choice": "garbage"}, ["crf_choice", "settings.json", "dl-tools choose-crf --name"]),
    (_choice_with(temperature=-1), ["crf_choice", "temperature", "dl-tools choose-crf --name"]),
    (_choice_with(temperature=1e300), ["crf_choice", "temperature", "dl-tools choose-crf --name"]),
    (_choice_with(changes=[[0, 7]]), ["crf_choice", "7", "dl-tools choose-crf --name"]),
    (_choice_with(changes=[[0.5, 2]]), ["crf_choice", "pair of two class numbers"]),
    (_choice_with(crf={"n_iter": "ten"}), ["crf_choice", "dl-tools choose-crf --name"]),
    (_choice_with(crf={"n_iter": 2.5}), ["crf_choice", "iterations", "2.5"]),
    (_weights_of_two_classes, ["best.weights.h5", "2 classes", "train the run again"]),
    (_random_weights, ["best.weights.h5", "damaged"]),
])
def test_a_damaged_run_folder_is_a_one_line_error_naming_the_file(trained, monkeypatch, capsys, damage, named):
    """settings.json damaged or edited by hand, or weights that do not fit it: infer_crf.py exits 2 with one line
    naming the file (and choose-crf where that repairs it), and writes nothing."""
    from dl_tools.cli.fcn_infer_crf import main

    root, _ = trained
    run = _damaged_run(root, "run_damaged", damage)
    monkeypatch.chdir(root)
    code = main(["--name", run.name, "--samples-dir", "data/samples/RGB/val/data", "--output-dir", "out_damaged",
                 "-q"])
    assert code == 2
    _one_line_error(capsys.readouterr().err, *named)
    assert not (root / "out_damaged").exists() or not any((root / "out_damaged").iterdir())


def test_choose_crf_refuses_a_run_it_cannot_choose_for_and_changes_nothing(trained, tmp_path):
    """Validation labels that are all no data; an unreadable model card (refused before settings.json changes); a
    data folder whose validation images are gone (named as the run's data folder, not a --data-dir flag)."""
    root, _ = trained
    data = tmp_path / "data"
    shutil.copytree(root / "data", data)
    for label in (data / "labels" / "gtFine" / "val").rglob("*_labelIds.png"):
        write_image(label, np.full(read_raw(label).shape[:2], 255, np.uint8))
    nodata = _damaged_run(root, "run_nodata", lambda s, _: s | {"data_dir": str(data)})
    bad_card = _damaged_run(root, "run_bad_card", lambda s, run: ((run / "card.json").write_text("{"), s)[1])
    gone = tmp_path / "gone"
    shutil.copytree(root / "data", gone)
    shutil.rmtree(gone / "samples" / "RGB" / "val")
    no_val = _damaged_run(root, "run_no_val", lambda s, _: s | {"data_dir": str(gone)})
    for run, named in ((nodata, ["no validation label image", "labelled pixel"]), (bad_card, ["card.json"]),
                       (no_val, ["the run's data folder", "settings.json"])):
        before = _tree(run)
        proc = subprocess.run([sys.executable, "-m", "dl_tools", "choose-crf", "--name", run.name], cwd=root,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 2, proc.stderr
        assert "--data-dir" not in _one_line_error(proc.stderr, *named)
        assert _tree(run) == before


def test_choose_crf_takes_training_images_into_the_choice_of_changes_and_does_without_them(trained, tmp_path,
                                                                                           caplog):
    """With ``training_images`` the run's training images join the choice of the changes of class (logged), the
    ranking stays on validation (same network score, same number of validation images); when the training images
    are gone the choice is made on validation alone, with a warning, as with ``training_images=0``."""
    import logging

    from dl_tools.workflows.crf_choice import CRFChoiceParams, choose_crf
    from dl_tools.workflows.fcn_train import find_pairs

    root, _ = trained
    caplog.set_level(logging.INFO, logger="dl_tools")
    alone = choose_crf(_damaged_run(root, "run_val_only", lambda s, _: s), CRFChoiceParams(training_images=0))
    assert "and 0 training images" in caplog.text
    both = choose_crf(_damaged_run(root, "run_with_training", lambda s, _: s), CRFChoiceParams(training_images=5))
    labelled = len(find_pairs(root / "data", "train"))  # the training images with a label image
    assert 1 < labelled < 5 and f"and {labelled} training images" in caplog.text
    assert (both.network_mean_iou, both.n_images) == (alone.network_mean_iou, alone.n_images)
    gone = tmp_path / "no_train"
    shutil.copytree(root / "data", gone)
    shutil.rmtree(gone / "samples" / "RGB" / "train")
    caplog.clear()
    fallback = choose_crf(_damaged_run(root, "run_no_train", lambda s, _: s | {"data_dir": str(gone)}),
                          CRFChoiceParams(training_images=5))
    assert "chosen on the validation images alone" in caplog.text and "samples/RGB/train" in caplog.text
    assert fallback.record() == alone.record()
