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
from dl_tools.io.images import read_raw, write_image
from dl_tools.io.mat import LabelFile, read_label_mat, write_label_mat
from dl_tools.io.text import write_labeldefs

LABELS = ["water", "sand", "veg"]
COLORS = np.array([[0, 0, 255], [255, 255, 0], [0, 255, 0]], dtype=np.uint8)
TRAIN = ["--data-source", "data", "--data-dir", "data", "--backbone", "tiny", "--image-size", "64x96",
         "--batch-size", "2", "-q"]


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
    and one training sample without labels; label images made by make_labels.py."""
    root = tmp_path_factory.mktemp("fcn")
    data = root / "data"
    write_labeldefs(data / "labeldefs.txt", LABELS, COLORS)
    for split, shapes in (("train", [(96, 128), (72, 96), (96, 128), (72, 96)]), ("val", [(96, 128), (72, 96)])):
        for k, shape in enumerate(shapes):
            image, classes = _scene(shape, seed=len(split) * 10 + k)
            write_image(data / "samples" / "RGB" / split / "data" / f"{split}{k}_RGB.png", image)
            order = ["sand", "veg", "water"]  # .mat order differs from labeldefs: matched by name
            mat_classes = np.array([order.index(LABELS[c]) for c in range(3)], np.uint8)[classes]
            write_label_mat(data / "labels" / "gtFine" / split / "data" / f"{split}{k}_mres.mat",
                            LabelFile(label_image=mat_classes, labels=order))
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
    color = read_raw(folder / "train0_gtFine_color.png")
    np.testing.assert_array_equal(color[-1, -1], COLORS[2])
    proc = run_script("semseg_fullyconv/make_labels.py", "data/labels/gtFine/train/data", cwd=tiny, check_rc=2)
    assert "--overwrite" in proc.stderr


def test_make_labels_labeldefs_missing_a_class(tiny, tmp_path):
    write_labeldefs(tmp_path / "two.txt", LABELS[:2], COLORS[:2])
    proc = run_script("semseg_fullyconv/make_labels.py", "data/labels/gtFine/val/data", "--labeldefs",
                      tmp_path / "two.txt", "--overwrite", cwd=tiny, check_rc=2)
    assert "['veg']" in proc.stderr and "labeldefs classes: ['water', 'sand']" in proc.stderr


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
    empty = root / "empty"
    shutil.copytree(root / "data", empty / "data", ignore=shutil.ignore_patterns("*_labelIds.png"))
    proc = run_script("semseg_fullyconv/train.py", "--name", "run2", "--epochs", "1", *TRAIN, cwd=empty, check_rc=2)
    assert "make_labels.py" in proc.stderr


def test_train_resume_continues(trained):
    root, _ = trained
    shutil.copytree(root / "run", root / "resumed")
    run_script("semseg_fullyconv/train.py", "--name", "resumed", "--epochs", "3", "--resume", "-q", "--data-dir",
               "data", cwd=root)
    history = json.loads((root / "resumed" / "history.json").read_text())
    assert len(history["loss"]) == 3


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
    run_script("semseg_fullyconv/infer.py", "--name", "run", "--samples-dir", "unseen", "--output-dir", "out",
               "--data-source", "data", "--batch-size", "3", "-q", cwd=root)
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
    proc = run_script("semseg_fullyconv/infer.py", "--name", "run", "--samples-dir", "unseen", "--output-dir", "out",
                      cwd=root, check_rc=2)
    assert "--overwrite" in proc.stderr


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
