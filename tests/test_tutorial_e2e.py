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


# @@E2E-STEP2@@ (issue 3: scripted labelling of one image)

# @@E2E-STEP3-5@@ (issue 4: retile, retrain, evaluate tiles)

# @@E2E-STEP6-7@@ (issue 5: hybrid segmentation, pixel evaluation)

# @@E2E-STEP8@@ (issue 6: make_labels, train, infer, infer_crf)
