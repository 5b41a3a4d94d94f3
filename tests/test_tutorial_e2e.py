"""The whole tutorial through the real scripts, on a few demo images in a temporary folder.

The steps run in file order and share one workspace (a copy of part of demo_data); each test is one tutorial
step and checks the files it produced. A failing step makes the following ones fail too.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import DEMO, run_script

N_IMAGES = 8


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """Workspace: demo_data/{jpg,gt,labels} with N_IMAGES images, and data/ with 4 train + 2 val samples."""
    root = tmp_path_factory.mktemp("tutorial")
    demo = root / "demo_data"
    images = sorted((DEMO / "jpg").glob("*.jpg"))[:N_IMAGES]
    (demo / "jpg").mkdir(parents=True)
    (demo / "gt").mkdir()
    for image in images:
        shutil.copy(image, demo / "jpg")
        shutil.copy(DEMO / "gt" / f"{image.stem}_mres.mat", demo / "gt")
    (demo / "jpg" / "notes.txt").write_text("not an image\n")
    shutil.copytree(DEMO / "labels", demo / "labels")
    data = demo / "data"
    (data).mkdir()
    shutil.copy(DEMO / "data" / "labeldefs.txt", data)
    for split, count in (("train", 4), ("val", 2)):
        samples = sorted((DEMO / "data" / "samples" / "RGB" / split / "data").iterdir())[:count]
        sample_dir = data / "samples" / "RGB" / split / "data"
        label_dir = data / "labels" / "gtFine" / split / "data"
        sample_dir.mkdir(parents=True)
        label_dir.mkdir(parents=True)
        for sample in samples:
            shutil.copy(sample, sample_dir)
            stem = sample.stem[: -len("_RGB")]
            shutil.copy(DEMO / "data" / "labels" / "gtFine" / split / "data" / f"{stem}_mres.mat", label_dir)
    return root


def test_step1_split_and_copy_labels(ws):
    proc = run_script("create_library/images_split_train_test.py", "-p", "0.5", "--input", "demo_data/jpg",
                      "--seed", "1", cwd=ws)
    train = sorted(p.name for p in (ws / "demo_data" / "train").iterdir())
    test = sorted(p.name for p in (ws / "demo_data" / "test").iterdir())
    assert len(train) == len(test) == N_IMAGES // 2
    assert not set(train) & set(test)
    assert "train: 4 images" in proc.stdout
    run_script("create_library/cp_mat.py", cwd=ws)
    for split in ("train", "test"):
        folder = ws / "demo_data" / split
        mats = sorted(p.name[: -len("_mres.mat")] for p in folder.glob("*_mres.mat"))
        assert mats == sorted(p.stem for p in folder.glob("*.jpg"))


def test_step2_label_from_strokes(ws):
    from dl_tools.io.images import read_image, write_image
    from dl_tools.io.mat import read_label_mat

    image = sorted((ws / "demo_data" / "train").glob("*.jpg"))[0]
    truth = read_label_mat(ws / "demo_data" / "gt" / f"{image.stem}_mres.mat")
    write_image(ws / "strokes.png", truth.sparse.astype(np.uint8))  # the strokes a person drew, as a PNG
    run_script("create_groundtruth/label_1image_crf.py", "-w", "500", "-s", "0.5", "--image", image,
               "--labels", "demo_data/labels/obx_labels.txt", "--colors", "demo_data/labels/obx_label_colors.txt",
               "--scribbles", "strokes.png", "--outdir", "demo_data/labelled", cwd=ws)
    out = ws / "demo_data" / "labelled"
    result = read_label_mat(out / f"{image.stem}_mres.mat")
    assert result.label_image.shape == read_image(image).shape[:2]
    assert result.labels == (ws / "demo_data" / "labels" / "obx_labels.txt").read_text().split()
    assert (result.label_image == truth.label_image).mean() > 0.8
    for suffix in ("_mres.png", "_report.txt", "_mres_label.png", "_mres_color.png"):
        assert (out / f"{image.stem}{suffix}").is_file()
    assert not (ws / "demo_data" / "train" / f"{image.stem}_scribbles.png").exists()


def test_step3_retile(ws):
    for split in ("train", "test"):
        proc = run_script("create_library/retile.py", "-t", "96", "-a", "0.9", "-b", "0.5", "--input",
                          f"demo_data/{split}", cwd=ws)
        tile_dir = ws / "demo_data" / split / "tile_96"
        counts = {p.name: len(list(p.glob("*.jpg"))) for p in tile_dir.iterdir()}
        assert set(counts) <= {"water_deep_and_whitewater", "shallow_water_or_saturated_ground", "dry_land"}
        assert len(counts) >= 2 and min(counts.values()) > 0
        assert "total" in proc.stdout and str(sum(counts.values())) in proc.stdout


def test_step4_retrain(ws):
    from tiles_helpers import make_tiny_module

    make_tiny_module(ws / "tiny_module", size=96)  # a random stand-in for the ImageNet module of the tutorial
    proc = run_script("train_dcnn_tfhub/retrain.py", "--image_dir", "demo_data/train/tile_96", "--tfhub_module",
                      "tiny_module", "--how_many_training_steps", "100", "--learning_rate", "0.5", "--output_labels",
                      "labels.txt", "--output_graph", "model.pb", "--bottleneck_dir", "bottlenecks",
                      "--summaries_dir", "summaries", cwd=ws)
    assert "Final test accuracy = " in proc.stdout
    assert (ws / "labels.txt").read_text().splitlines() == sorted(
        p.name for p in (ws / "demo_data" / "train" / "tile_96").iterdir())
    assert (ws / "model.pb").is_file() and any((ws / "summaries").iterdir())


def test_step5_evaluate_tiles(ws):
    import json

    proc = run_script("eval_imrecog/test_class_tiles.py", "-n", "20", "--image_dir", "demo_data/test/tile_96",
                      "--labels", "labels.txt", "--model", "model.pb", cwd=ws)
    assert "overall accuracy" in proc.stdout and "kappa" in proc.stdout
    tile_dir = ws / "demo_data" / "test" / "tile_96"
    report = json.loads((tile_dir / "tile_eval.json").read_text())
    assert 0.0 <= report["scores"]["accuracy"] <= 1.0 and (tile_dir / "test_cm.png").is_file()
    test_images = {path.stem for path in (ws / "demo_data" / "test").glob("*.jpg")}
    scored = [row["photograph"] for row in report["photographs"]]
    assert scored and set(scored) <= test_images  # every scored tile traced back to its test photograph
    assert sum(row["tiles"] for row in report["photographs"]) == report["scores"]["n_samples"]


def test_step6_hybrid_segmentation(ws):
    from dl_tools.io.mat import read_label_mat
    from dl_tools.io.text import read_labels
    from dl_tools.models.frozen import FrozenClassifier

    tile = FrozenClassifier(ws / "model.pb").input_size[0]
    test = ws / "demo_data" / "test"
    images = sorted(test.glob("*.jpg"))
    # PROB_THRES 0: the end-to-end model is tiny and may be unsure; DECIM 1 and SCALE 0.5 suit 920 px images
    proc = run_script("semseg_crf/semseg_cnn_crf.py", "-", "model.pb", "labels.txt", "demo_data/data/labeldefs.txt",
                      tile, "0", "0.5", "1", "0.5", "--input-dir", "demo_data/test",
                      "--outdir", "demo_data/test_hybrid", cwd=ws)
    assert proc.stdout.count(" tiles used -> ") == len(images)
    labels = read_labels(ws / "labels.txt")
    for image in images:
        stem = f"{image.stem}_ares_{tile}"
        for name in (f"{stem}.mat", f"{stem}.png", f"{stem}_color.png"):
            assert (ws / "demo_data" / "test_hybrid" / name).is_file(), name
        result = read_label_mat(ws / "demo_data" / "test_hybrid" / f"{stem}.mat")
        assert result.labels == labels
        assert result.shape == read_label_mat(test / f"{image.stem}_mres.mat").shape


def test_step7_pixel_evaluation(ws):
    import json

    proc = run_script("eval_semseg/test_pixels.py", "--input", "demo_data/test_hybrid", "--truth-dir", "demo_data/test",
                      cwd=ws)
    assert "== overall" in proc.stdout
    out = ws / "demo_data" / "test_hybrid"
    report = json.loads((out / "pixel_eval.json").read_text())
    assert len(report["pairs"]) == len(list((ws / "demo_data" / "test").glob("*.jpg"))) and not report["unpaired"]
    (overall,) = report["overall"].values()
    assert 0.0 <= overall["scores"]["accuracy"] <= 1.0
    assert (out / "pixel_eval_cm.png").is_file() and (out / "pixel_eval.csv").is_file()


FCN_RUN = "data_test10"
FCN_VAL = "demo_data/data/samples/RGB/val/data"


def test_step8_make_labels(ws):
    for split in ("train", "val"):
        run_script("semseg_fullyconv/make_labels.py", f"demo_data/data/labels/gtFine/{split}/data", cwd=ws)
        folder = ws / "demo_data" / "data" / "labels" / "gtFine" / split / "data"
        mats = sorted(p.name[: -len("_mres.mat")] for p in folder.glob("*_mres.mat"))
        assert sorted(p.name[: -len("_gtFine_labelIds.png")] for p in folder.glob("*_gtFine_labelIds.png")) == mats
        assert len(list(folder.glob("*_gtFine_color.png"))) == len(mats)


def test_step8_train(ws):
    # the tutorial trains MobileNetV2 for 10 epochs; here a tiny random backbone on small images keeps it fast
    proc = run_script("semseg_fullyconv/train.py", "--name", FCN_RUN, "--data-source", "data", "--data-dir",
                      "demo_data/data", "--epochs", "2", "--backbone", "tiny", "--image-size", "64x96", cwd=ws)
    assert "trained 2 epochs" in proc.stdout
    for name in ("best.weights.h5", "last.keras", "settings.json", "labeldefs.txt", "training_curves.png"):
        assert (ws / FCN_RUN / name).is_file()


@pytest.mark.parametrize("script, tag, mat", [("infer.py", "", "_ares"), ("infer_crf.py", "_crf", "_ares_crf")])
def test_step8_infer(ws, script, tag, mat):
    from dl_tools.io.images import read_image, read_raw
    from dl_tools.io.mat import read_label_mat

    run_script(f"semseg_fullyconv/{script}", "--name", FCN_RUN, "--samples-dir", FCN_VAL, "--output-dir",
               "test_output", "--data-source", "data", cwd=ws)
    samples = sorted((ws / FCN_VAL).iterdir())
    assert samples
    for sample in samples:
        base = sample.stem[: -len("_RGB")]
        shape = read_image(sample).shape[:2]
        assert read_raw(ws / "test_output" / f"{base}{tag}_label.png").shape == shape
        assert (ws / "test_output" / f"{base}{tag}_overlay.png").is_file()
        assert read_label_mat(ws / "test_output" / f"{base}{mat}.mat").shape == shape


def test_every_output_says_how_it_was_made(ws):
    """Provenance (issue 19): the label files of steps 2, 6 and 8 and the models of steps 4 and 8 hold their
    records, and steps 5 and 7 added their test scores to the step-4 model's card."""
    import subprocess
    import sys

    from dl_tools.io.model_card import read_model_card
    from dl_tools.io.provenance import read_record
    from dl_tools.provenance_record import sha256_file

    labelled = next((ws / "demo_data" / "labelled").glob("*_mres.mat"))
    assert read_record(labelled)["argv"][0].endswith("create_groundtruth/label_1image_crf.py")
    hybrid = read_record(next((ws / "demo_data" / "test_hybrid").glob("*_ares_*.mat")))
    model = next(entry for entry in hybrid["inputs"] if entry["role"] == "model")
    assert hybrid["step"] == "hybrid" and model["sha256"] == sha256_file(ws / "model.pb")
    card = read_model_card(ws / "model.pb")
    assert [entry["step"] for entry in card["test_scores"]] == ["test_class_tiles", "test_pixels"]
    assert read_record(ws / "model.pb")["step"] == "retrain" and (ws / "model.card.md").is_file()
    sample = sorted((ws / FCN_VAL).iterdir())[0]
    assert read_record(ws / "test_output" / f"{sample.stem[: -len('_RGB')]}_ares_crf.mat")["step"] == "fcn_infer_crf"
    proc = subprocess.run([sys.executable, "-m", "dl_tools.provenance", FCN_RUN], cwd=ws, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "step:      fcn_train" in proc.stdout, proc.stderr
