"""Label .mat files: round trips, compact storage, every legacy variant, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import LEGACY_MAT
from scipy.io import loadmat, savemat

from dl_tools.errors import InputError
from dl_tools.io.mat import LabelFile, read_label_mat, write_label_mat

LABELS = ["water", "wet sand", "dune"]


def _record(shape=(6, 8)):
    rng = np.random.default_rng(1)
    label_image = rng.integers(0, 3, shape).astype(np.uint8)
    sparse = np.where(rng.random(shape) < 0.2, label_image + 1, 0).astype(np.uint8)
    probs = rng.random((3, 4, 3)).astype(np.float32)
    return LabelFile(label_image=label_image, labels=LABELS, sparse=sparse, probs=probs)


def test_round_trip(tmp_path):
    record = _record()
    path = write_label_mat(tmp_path / "x_mres.mat", record)
    back = read_label_mat(path)
    assert back.labels == LABELS  # inner space kept, padding removed
    assert np.array_equal(back.label_image, record.label_image)
    assert np.array_equal(back.sparse, record.sparse)
    assert np.allclose(back.probs, record.probs)


def test_nodata_mask_round_trip_written_only_when_needed(tmp_path):
    record = _record()
    nodata = np.zeros(record.shape, bool)
    nodata[:, :3] = True
    record.nodata = nodata
    path = write_label_mat(tmp_path / "x_mres.mat", record)
    assert loadmat(path)["nodata"].dtype == np.uint8
    np.testing.assert_array_equal(read_label_mat(path).nodata, nodata)
    record.nodata = np.zeros(record.shape, bool)  # every pixel has data: no variable, read back as None
    path = write_label_mat(tmp_path / "y_mres.mat", record)
    assert "nodata" not in loadmat(path) and read_label_mat(path).nodata is None


def test_a_nodata_mask_of_another_size_is_refused(tmp_path):
    savemat(tmp_path / "bad_mres.mat", {"class": np.zeros((4, 6), np.uint8), "labels": LABELS,
                                         "nodata": np.ones((4, 5), np.uint8)})
    with pytest.raises(InputError, match=r"bad_mres.mat: its no-data mask \('nodata', 5 x 4 px\)"):
        read_label_mat(tmp_path / "bad_mres.mat")


def test_written_file_is_compact_and_legacy_readable(tmp_path):
    path = write_label_mat(tmp_path / "x_mres.mat", _record((300, 400)))
    raw = loadmat(path)
    assert raw["class"].dtype == np.uint8 and raw["sparse"].dtype == np.uint8
    assert raw["preds"].dtype == np.float32
    # the legacy readers did labels = [l.replace(' ', '') for l in mat['labels']]
    assert [name.strip() for name in raw["labels"]] == LABELS
    assert path.stat().st_size < 300 * 400  # compressed: far below one byte per pixel


def test_no_overwrite_without_permission(tmp_path):
    path = write_label_mat(tmp_path / "x_mres.mat", _record())
    before = path.read_bytes()
    with pytest.raises(InputError, match="--overwrite"):
        write_label_mat(path, _record((2, 2)), overwrite=False)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x_mres.mat"]  # no temporary file left behind


def test_legacy_file_from_the_2018_labeller():
    if not LEGACY_MAT.exists():
        pytest.skip("shared legacy .mat not present")
    record = read_label_mat(LEGACY_MAT)
    assert len(record.labels) == 15 and record.labels[3] == "dune" and record.labels[4] == "duneveg"
    assert record.shape == (4912, 7360)
    assert record.label_image.max() <= 14 and record.sparse.max() <= 15
    assert record.probs.shape == (800, 1200, 16)


def test_legacy_struct_labels_and_int64(tmp_path):
    path = tmp_path / "labeler_mres.mat"
    struct = {"water": "#0000ff", "sand": "#ffff00"}
    savemat(path, {"class": np.array([[0, 1], [1, 0]], dtype=np.int64), "labels": struct,
                   "sparse": np.zeros((2, 2), dtype=np.int32)})
    record = read_label_mat(path)
    assert record.labels == ["water", "sand"] and record.label_image.dtype == np.uint8


def test_legacy_class_and_labels_only(tmp_path):
    path = tmp_path / "ccr_mres.mat"
    savemat(path, {"class": np.array([[0, 2]], dtype=np.int64), "labels": ["beach", "cliff", "sky"]})
    record = read_label_mat(path)
    assert record.sparse is None and record.probs is None and record.labels == ["beach", "cliff", "sky"]


def test_cell_array_labels(tmp_path):
    path = tmp_path / "cell_mres.mat"
    savemat(path, {"class": np.zeros((2, 2)), "labels": np.array(["a", "bb"], dtype=object)})
    assert read_label_mat(path).labels == ["a", "bb"]


@pytest.mark.parametrize("content, message", [
    ({"labels": ["a"]}, "no variable 'class'"),
    ({"class": np.zeros((2, 2))}, "no variable 'labels'"),
    ({"class": np.full((2, 2), 3), "labels": ["a", "b"]}, "holds value 3"),
    ({"class": np.zeros((2, 2, 2)), "labels": ["a"]}, "2-D map"),
    ({"class": np.zeros((2, 2)), "labels": ["a", "a"]}, "repeats"),
])
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.mat"
    savemat(path, content)
    with pytest.raises(InputError, match=message):
        read_label_mat(path)


def test_not_a_mat_file(tmp_path):
    path = tmp_path / "fake_mres.mat"
    path.write_text("not matlab")
    with pytest.raises(InputError, match="fake_mres.mat"):
        read_label_mat(path)


def test_strokes_of_another_size_or_above_the_classes(tmp_path):
    path = tmp_path / "odd_mres.mat"
    savemat(path, {"class": np.zeros((4, 6), np.uint8), "labels": LABELS, "sparse": np.ones((2, 3), np.uint8)})
    assert read_label_mat(path).sparse is None  # other readers only need 'class': a legacy grid is ignored
    with pytest.raises(InputError, match=r"'sparse', 3 x 2 px\) and its labels \('class', 6 x 4 px\) differ in size"):
        read_label_mat(path, strokes=True)
    savemat(path, {"class": np.zeros((4, 6), np.uint8), "labels": LABELS, "sparse": np.full((4, 6), 4, np.uint8)})
    assert read_label_mat(path).sparse.max() == 4
    with pytest.raises(InputError, match="hold value 4 but only 3 class names"):
        read_label_mat(path, strokes=True)


@pytest.mark.parametrize("length", [0, 40, 150, 400])
def test_truncated_file_is_an_input_error(tmp_path, length):
    path = write_label_mat(tmp_path / "x_mres.mat", _record((30, 40)))
    path.write_bytes(path.read_bytes()[:length])
    with pytest.raises(InputError, match="x_mres.mat is not a readable MATLAB .mat file .*good copy"):
        read_label_mat(path)


def test_folder_given_for_a_label_file(tmp_path):
    with pytest.raises(InputError, match="is a folder, not a file"):
        read_label_mat(tmp_path)
