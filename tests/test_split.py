"""Tutorial step 1 (images_split_train_test.py, cp_mat.py) through the real scripts, and its errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import DEMO, run_script
from dl_tools.errors import InputError
from dl_tools.workflows.split import SplitParams, split_images


def _folder(tmp_path, n=6):
    jpg = tmp_path / "data" / "jpg"
    jpg.mkdir(parents=True)
    for k in range(n):
        (jpg / f"img_{k}.{'JPG' if k % 2 else 'png'}").write_bytes(bytes([k]))
    (jpg / "notes.txt").write_text("ignored")
    return jpg


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_split_counts_seed_and_copy(tmp_path):
    jpg = _folder(tmp_path)
    proc = run_script("create_library/images_split_train_test.py", "-p", "0.5", "--input", jpg, "--seed", "3")
    train, test = tmp_path / "data" / "train", tmp_path / "data" / "test"
    assert len(_names(train)) == 3 and len(_names(test)) == 3
    assert sorted(_names(train) + _names(test)) == sorted(p.name for p in jpg.iterdir() if p.suffix != ".txt")
    assert "train: 3 images" in proc.stdout and "test:  3 images" in proc.stdout
    assert len(list(jpg.iterdir())) == 7  # copied, not moved
    first = _names(train)
    run_script("create_library/images_split_train_test.py", "-p", "0.5", "--input", jpg, "--seed", "3",
               "--overwrite")
    assert _names(train) == first  # same seed, same split


def test_refuses_to_add_to_existing_split_but_keeps_labels_on_overwrite(tmp_path):
    jpg = _folder(tmp_path)
    run_script("create_library/images_split_train_test.py", "-p", "0.5", "--input", jpg)
    train = tmp_path / "data" / "train"
    (train / "img_0_mres.mat").write_bytes(b"labels made by hand")
    proc = run_script("create_library/images_split_train_test.py", "-p", "0.3", "--input", jpg, check_rc=2)
    assert proc.stderr.strip().startswith("error:") and "--overwrite" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    run_script("create_library/images_split_train_test.py", "-p", "0.34", "--input", jpg, "--overwrite")
    assert (train / "img_0_mres.mat").read_bytes() == b"labels made by hand"
    assert len([p for p in train.iterdir() if p.suffix != ".mat"]) == 2


def test_move(tmp_path):
    jpg = _folder(tmp_path, n=4)
    result = split_images(jpg, SplitParams(train_fraction=0.25, move=True))
    assert len(result.train) == 1 and len(result.test) == 3
    assert _names(jpg) == ["notes.txt"]


@pytest.mark.parametrize("p", ["0", "1", "1.5", "-0.2", "half"])
def test_bad_proportion(tmp_path, p):
    jpg = _folder(tmp_path)
    proc = run_script("create_library/images_split_train_test.py", "-p", p, "--input", jpg, check_rc=2)
    assert "-p" in proc.stderr and not (tmp_path / "data" / "train").exists()


def test_folder_without_images(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.txt").write_text("x")
    proc = run_script("create_library/images_split_train_test.py", "--input", tmp_path / "empty", check_rc=2)
    assert "error: --input: no images in" in proc.stderr
    assert not (tmp_path / "train").exists()


def test_missing_input_without_display_names_the_flag(tmp_path):
    proc = run_script("create_library/images_split_train_test.py", "-p", "0.5", check_rc=2, cwd=tmp_path)
    assert "error: --input is required" in proc.stderr


def test_one_image_is_not_enough(tmp_path):
    jpg = _folder(tmp_path, n=1)
    with pytest.raises(InputError, match="at least 2"):
        split_images(jpg, SplitParams())


def _demo_split(tmp_path, names):
    demo = tmp_path / "demo_data"
    for split, stems in names.items():
        (demo / split).mkdir(parents=True)
        for stem in stems:
            shutil.copy(DEMO / "jpg" / f"{stem}.jpg", demo / split)
    shutil.copytree(DEMO / "gt", demo / "gt")
    return demo


def test_cp_mat_matches_exact_names_and_protects_labels(tmp_path):
    stems = sorted(p.stem for p in (DEMO / "jpg").glob("*.jpg"))[:3]
    demo = _demo_split(tmp_path, {"train": stems[:2], "test": stems[2:]})
    proc = run_script("create_library/cp_mat.py", cwd=tmp_path)
    assert "copied 3 label files" in proc.stdout
    assert sorted(p.name for p in (demo / "train").glob("*.mat")) == sorted(f"{s}_mres.mat" for s in stems[:2])
    # stems with dots in them (2018-10-06_14.34.03-...) are matched whole, not cut at the first '.'
    run_script("create_library/cp_mat.py", cwd=tmp_path)  # same files again: nothing to do, no error
    hand = demo / "train" / f"{stems[0]}_mres.mat"
    hand.write_bytes(b"edited by a person")
    proc = run_script("create_library/cp_mat.py", cwd=tmp_path, check_rc=2)
    assert "--overwrite" in proc.stderr and hand.read_bytes() == b"edited by a person"
    run_script("create_library/cp_mat.py", "--overwrite", cwd=tmp_path)
    assert hand.read_bytes() == (DEMO / "gt" / hand.name).read_bytes()


def test_cp_mat_prefix_is_not_a_match(tmp_path):
    demo = tmp_path / "demo_data"
    for sub in ("gt", "train", "test"):
        (demo / sub).mkdir(parents=True)
    (demo / "train" / "IMG_10.jpg").write_bytes(b"x")
    (demo / "gt" / "IMG_1_mres.mat").write_bytes(b"y")
    proc = run_script("create_library/cp_mat.py", cwd=tmp_path)
    assert "copied 0 label files" in proc.stdout and "1 with no image" in proc.stdout
    assert not (demo / "train" / "IMG_1_mres.mat").exists()


def test_cp_mat_without_split_folders(tmp_path):
    (tmp_path / "demo_data" / "gt").mkdir(parents=True)
    (tmp_path / "demo_data" / "gt" / "a_mres.mat").write_bytes(b"x")
    proc = run_script("create_library/cp_mat.py", cwd=tmp_path, check_rc=2)
    assert "images_split_train_test.py first" in proc.stderr


def test_demo_split_is_reproducible_on_real_names(tmp_path):
    shutil.copytree(DEMO / "jpg", tmp_path / "jpg")
    a = split_images(tmp_path / "jpg", SplitParams(train_fraction=0.5, seed=7))
    b = split_images(tmp_path / "jpg", SplitParams(train_fraction=0.5, seed=7, overwrite=True))
    assert a.train == b.train and len(a.train) == 21
    assert np.all([name.endswith(".jpg") for name in a.train + a.test])
