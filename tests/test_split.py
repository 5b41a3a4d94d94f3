"""Tutorial step 1 (images_split_train_test.py, cp_mat.py) through the real scripts, and its errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import DEMO, run_script

from dl_tools.errors import InputError
from dl_tools.io.images import write_image
from dl_tools.io.mat import LabelFile, write_label_mat
from dl_tools.workflows.split import SplitParams, split_images


def _folder(tmp_path, n=6):
    jpg = tmp_path / "data" / "jpg"
    jpg.mkdir(parents=True)
    for k in range(n):
        write_image(jpg / f"img_{k}.{'JPG' if k % 2 else 'png'}", np.full((4, 6, 3), 10 * k, np.uint8))
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


SPLIT = "create_library/images_split_train_test.py"


def _add_image(path, value):
    write_image(path, np.full((4, 6, 3), value, np.uint8))


def _tree(root):
    """Every file under ``root`` with its bytes: what a failed run must leave untouched."""
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_move_then_overwrite_never_deletes_the_only_copies(tmp_path):
    jpg = _folder(tmp_path, n=4)
    run_script(SPLIT, "--input", jpg, "--move")
    moved = sorted(p.name for p in (tmp_path / "data").glob("t*/*") if p.suffix != ".txt")
    assert len(moved) == 4 and _names(jpg) == ["notes.txt"]  # train/ and test/ hold the only copies
    _add_image(jpg / "new_a.png", 200)
    _add_image(jpg / "new_b.png", 220)
    before = _tree(tmp_path)
    proc = run_script(SPLIT, "--input", jpg, "--move", "--overwrite", check_rc=2)
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: 4 images in the split folders have no identical copy")
    assert "img_0.png" in err and f"move them back into {jpg}" in err
    assert _tree(tmp_path) == before  # nothing deleted, moved or written
    for path in (tmp_path / "data").glob("t*/img_*"):  # the fix the message gives: then all six are split
        path.rename(jpg / path.name)
    proc = run_script(SPLIT, "--input", jpg, "--move", "--overwrite")
    assert "train: 3 images" in proc.stdout and "test:  3 images" in proc.stdout
    assert _names(jpg) == ["notes.txt"]
    assert sorted(p.name for p in (tmp_path / "data").glob("t*/*")) == sorted(moved + ["new_a.png", "new_b.png"])


def test_overwrite_keeps_a_split_image_that_differs_from_the_input(tmp_path):
    jpg = _folder(tmp_path, n=4)
    run_script(SPLIT, "--input", jpg)
    changed = next((tmp_path / "data" / "train").iterdir())
    _add_image(jpg / changed.name, 99)  # the input version was edited since: the split one is the only old copy
    before = _tree(tmp_path)
    proc = run_script(SPLIT, "--input", jpg, "--overwrite", check_rc=2)
    assert f"(data/train/{changed.name})" in proc.stderr.replace(str(tmp_path) + "/", "")
    assert _tree(tmp_path) == before


def test_file_in_place_of_a_split_folder_changes_nothing(tmp_path):
    jpg = _folder(tmp_path)
    (tmp_path / "data" / "test").write_text("a file")
    proc = run_script(SPLIT, "--input", jpg, check_rc=2)
    assert f"{tmp_path}/data/test is a file, not a folder" in proc.stderr
    assert _names(tmp_path / "data") == ["jpg", "test"]  # no train/ made, no staging folder left
    (tmp_path / "data" / "test").unlink()
    run_script(SPLIT, "--input", jpg)
    shutil.rmtree(tmp_path / "data" / "test")
    (tmp_path / "data" / "test").write_text("a file")
    before = _tree(tmp_path)
    proc = run_script(SPLIT, "--input", jpg, "--overwrite", check_rc=2)  # the old split images are kept too
    assert "test is a file, not a folder" in proc.stderr and _tree(tmp_path) == before


def test_input_dot_splits_beside_the_folder(tmp_path):
    jpg = _folder(tmp_path)
    proc = run_script(SPLIT, "--input", ".", cwd=jpg)
    assert "train: 3 images" in proc.stdout
    assert _names(tmp_path / "data") == ["jpg", "test", "train"]
    assert not any(p.is_dir() for p in jpg.iterdir())


@pytest.mark.parametrize("seed", ["-1", "x"])
def test_bad_seed(tmp_path, seed):
    jpg = _folder(tmp_path)
    proc = run_script(SPLIT, "--input", jpg, "--seed", seed, check_rc=2)
    assert proc.stderr.startswith("error: argument --seed: must be an integer from 0 to 4294967295")
    assert len(proc.stderr.splitlines()) == 1 and _names(tmp_path / "data") == ["jpg"]
    with pytest.raises(InputError, match="--seed"):
        SplitParams(seed=-1)


def test_images_sharing_a_name_are_refused(tmp_path):
    jpg = _folder(tmp_path)
    _add_image(jpg / "img_0.jpg", 5)
    proc = run_script(SPLIT, "--input", jpg, check_rc=2)
    assert f"{jpg}/img_0.jpg, {jpg}/img_0.png share the name 'img_0'" in proc.stderr
    assert "img_0_mres.mat" in proc.stderr and _names(tmp_path / "data") == ["jpg"]


def test_damaged_image_is_refused_before_copying(tmp_path):
    jpg = _folder(tmp_path)
    (jpg / "img_9.png").write_bytes(b"not a picture")
    proc = run_script(SPLIT, "--input", jpg, "--move", check_rc=2)
    assert f"{jpg}/img_9.png is not a readable image" in proc.stderr and "undamaged copy" in proc.stderr
    assert _names(tmp_path / "data") == ["jpg"] and len(_names(jpg)) == 8  # nothing copied, nothing moved


def test_a_file_given_for_the_input_folder(tmp_path):
    jpg = _folder(tmp_path)
    proc = run_script(SPLIT, "--input", jpg / "img_0.png", check_rc=2)
    assert f"error: --input: {jpg}/img_0.png is a file, not a folder; give a folder of images" in proc.stderr


def _labelled_split(tmp_path):
    """data/{train,test} with two images each (4 x 6 px) and data/gt with a valid label file for each."""
    jpg = _folder(tmp_path, n=4)
    run_script(SPLIT, "--input", jpg)
    gt = tmp_path / "data" / "gt"
    for k in range(4):
        write_label_mat(gt / f"img_{k}_mres.mat", LabelFile(np.full((4, 6), k % 2, np.uint8), ["sand", "water"]))
    return tmp_path / "data"


def _cp_mat(data, *extra, check_rc=0):
    return run_script("create_library/cp_mat.py", "--gt", data / "gt", "--train", data / "train", "--test",
                      data / "test", *extra, check_rc=check_rc)


@pytest.mark.parametrize("damage", ["corrupt", "other size"])
def test_cp_mat_checks_every_label_file_before_copying(tmp_path, damage):
    data = _labelled_split(tmp_path)
    _cp_mat(data)
    bad = data / "gt" / "img_1_mres.mat"
    if damage == "corrupt":
        bad.write_bytes(bad.read_bytes()[:40])
        message = f"error: --gt {bad} is not a readable MATLAB .mat file"
    else:
        write_label_mat(bad, LabelFile(np.zeros((5, 6), np.uint8), ["sand", "water"]))
        message = f"error: --gt {bad}: its labels are 6 x 5 px but its image"
    write_label_mat(data / "gt" / "img_0_mres.mat", LabelFile(np.ones((4, 6), np.uint8), ["sand", "water"]))
    before = _tree(data)
    proc = _cp_mat(data, "--overwrite", check_rc=2)
    assert proc.stderr.startswith(message) and len(proc.stderr.splitlines()) == 1
    assert _tree(data) == before  # the valid copies in train/ and test/ are kept, the good img_0 not copied either


@pytest.mark.parametrize("flag", ["--gt", "--train"])
def test_cp_mat_file_given_for_a_folder_names_the_flag(tmp_path, flag):
    data = _labelled_split(tmp_path)
    args = {"--gt": data / "gt", "--train": data / "train", "--test": data / "test", flag: data / "jpg" / "notes.txt"}
    proc = run_script("create_library/cp_mat.py", *[str(v) for pair in args.items() for v in pair], check_rc=2)
    assert proc.stderr.startswith(f"error: {flag}: {data}/jpg/notes.txt is a file, not a folder")


def test_cp_mat_warns_when_a_name_matches_several_images(tmp_path):
    data = _labelled_split(tmp_path)
    shutil.copy(data / "jpg" / "img_0.png", data / "train" / "img_0.bmp")
    shutil.copy(data / "jpg" / "img_0.png", data / "test" / "img_0.png")
    proc = _cp_mat(data)
    assert "warning: img_0_mres.mat matches" in proc.stderr and "rename the others" in proc.stderr
    assert len(list(data.glob("t*/img_0_mres.mat"))) == 1


@pytest.mark.parametrize("make", ["truncated", "bomb"])
def test_an_image_whose_pixels_do_not_decode_is_refused_before_copying(tmp_path, make):
    """A real JPEG cut to half its bytes (its header reads, its pixels do not), or a 778-byte PNG claiming 60000 x
    60000 px: every image is decoded before anything is copied, and the error names the file on one line."""
    from bad_images import png_bomb, truncated_jpeg

    jpg = _folder(tmp_path)
    bad = truncated_jpeg(jpg / "img_3b.jpg") if make == "truncated" else png_bomb(jpg / "img_3b.png")
    before = _tree(tmp_path)
    proc = run_script(SPLIT, "--input", jpg, "--move", check_rc=2)
    assert proc.stderr.startswith(f"error: {bad} is not a readable image (") and proc.stderr.count("\n") == 1
    assert proc.stderr.rstrip().endswith(f"; remove it from {jpg} or replace it with an undamaged copy")
    assert _tree(tmp_path) == before and _names(tmp_path / "data") == ["jpg"]  # nothing copied, moved or made


def test_cp_mat_checks_every_destination_before_copying(tmp_path, monkeypatch, capsys):
    """A test/ folder the user may not write in (simulated through os.access, which check_output_dir asks: the
    tests run as root, whom permissions do not stop): nothing is copied into train/ either, and the error names
    the folder and its flag, never a temporary file."""
    import os

    from dl_tools.cli.cp_mat import main

    data = _labelled_split(tmp_path)
    test_dir = data / "test"
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kwargs: os.path.abspath(path) != str(test_dir) and
                        real_access(path, mode, **kwargs))
    before = _tree(data)
    assert main(["--gt", str(data / "gt"), "--train", str(data / "train"), "--test", str(test_dir)]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: --test {test_dir}: no permission to write in {test_dir}; make it writable or give "
                   "another --test folder\n")
    assert _tree(data) == before


def test_counts_of_one_are_singular(tmp_path):
    data = _labelled_split(tmp_path)
    for k in (1, 2, 3):
        (data / "gt" / f"img_{k}_mres.mat").unlink()
    assert _cp_mat(data).stdout == "copied 1 label file (0 already in place, 0 with no image in the split folders)\n"
    next(data.glob("t*/img_0_mres.mat")).write_bytes(b"edited by a person")
    assert _cp_mat(data, check_rc=2).stderr.startswith(
        "error: 1 label file differs from those already in the split folders (first: ")
    assert _cp_mat(data, check_rc=2).stderr.endswith("; give --overwrite to replace it\n")
    other = tmp_path / "other"
    _folder(other, n=2)
    (other / "data" / "train").mkdir()
    _add_image(other / "data" / "train" / "old.png", 7)
    proc = run_script(SPLIT, "--input", other / "data" / "jpg", check_rc=2)
    assert "already hold 1 image; give --overwrite" in proc.stderr
    proc = run_script(SPLIT, "--input", other / "data" / "jpg", "--overwrite", check_rc=2)
    assert "error: 1 image in the split folders has no identical copy in --input" in proc.stderr
    assert "move it back into" in proc.stderr
