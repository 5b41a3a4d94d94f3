"""Step 7, pixel evaluation: pairing by exact name, classes by name, hand-computed scores, outputs, bad input."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from conftest import run_script

from dl_tools.errors import InputError
from dl_tools.io.mat import LabelFile, write_label_mat
from dl_tools.workflows.pixel_eval import PixelEvalParams, evaluate_pixels, split_estimate_name, union_labels

NAMES = ["water", "sand", "veg"]

# 3 x 4 maps: truth and estimate, hand-counted confusion (rows truth: water, sand, veg)
TRUTH = np.array([[0, 0, 0, 1], [0, 1, 1, 1], [2, 2, 1, 1]])
ESTIMATE = np.array([[0, 0, 1, 1], [0, 1, 1, 2], [2, 1, 1, 1]])
CONFUSION = [[3, 1, 0], [0, 5, 1], [0, 1, 1]]


def mat(path, label_image, labels=NAMES):
    write_label_mat(path, LabelFile(np.asarray(label_image), list(labels)))


def test_pixels_without_data_are_not_scored(tmp_path):
    """Pixels marked in the truth's or the estimate's nodata mask (a GeoTIFF's border) are left out: here the
    estimate's three wrong pixels (TRUTH vs ESTIMATE above) and two right ones."""
    truth_nodata = np.zeros(TRUTH.shape, bool)
    truth_nodata[0, 2:] = True  # one wrong pixel (0, 2) and one right (0, 3)
    estimate_nodata = np.zeros(TRUTH.shape, bool)
    estimate_nodata[1:, 3] = True  # wrong (1, 3), right (2, 3)
    estimate_nodata[2, 1] = True  # wrong
    write_label_mat(tmp_path / "a_mres.mat", LabelFile(TRUTH, NAMES, nodata=truth_nodata))
    write_label_mat(tmp_path / "a_ares_96.mat", LabelFile(ESTIMATE, NAMES, nodata=estimate_nodata))
    (pair,) = evaluate_pixels(tmp_path).pairs
    assert pair.scores.n_samples == 12 - 5
    assert pair.scores.confusion == [[3, 0, 0], [0, 3, 0], [0, 0, 1]]
    assert pair.scores.accuracy == 1.0


def test_a_resized_estimate_keeps_its_nodata_mask(tmp_path):
    """--resize resizes the estimate's nodata mask with it (nearest neighbour)."""
    nodata = np.zeros(TRUTH.shape, bool)
    nodata[:, 3] = True
    def doubled(array):
        return np.repeat(np.repeat(array, 2, axis=0), 2, axis=1)

    write_label_mat(tmp_path / "a_mres.mat", LabelFile(TRUTH, NAMES))
    write_label_mat(tmp_path / "a_ares_96.mat", LabelFile(doubled(ESTIMATE), NAMES, nodata=doubled(nodata)))
    (pair,) = evaluate_pixels(tmp_path, PixelEvalParams(resize=True)).pairs
    assert pair.scores.n_samples == 9  # column 3 left out; of the rest, (0, 2) and (2, 1) are wrong
    assert pair.scores.confusion == [[3, 1, 0], [0, 3, 0], [0, 1, 1]]


def test_hand_computed_scores(tmp_path):
    mat(tmp_path / "a_mres.mat", TRUTH)
    mat(tmp_path / "a_ares_96.mat", ESTIMATE)
    result = evaluate_pixels(tmp_path)
    (pair,) = result.pairs
    scores = pair.scores
    assert scores.confusion == CONFUSION
    assert scores.accuracy == pytest.approx(9 / 12)
    assert scores.precision == pytest.approx([1.0, 5 / 7, 0.5])
    assert scores.recall == pytest.approx([0.75, 5 / 6, 0.5])
    assert scores.f1 == pytest.approx([6 / 7, 10 / 13, 0.5])
    assert scores.iou == pytest.approx([0.75, 5 / 8, 1 / 3])
    assert scores.macro_f1 == pytest.approx((6 / 7 + 10 / 13 + 0.5) / 3)
    assert scores.mean_iou == pytest.approx((0.75 + 5 / 8 + 1 / 3) / 3)
    # kappa: p_o = 9/12; truth counts (4, 6, 2), estimate counts (3, 7, 2)
    p_e = (4 * 3 + 6 * 7 + 2 * 2) / 144
    assert scores.kappa == pytest.approx((9 / 12 - p_e) / (1 - p_e))
    assert result.overall["_ares_96"].confusion == CONFUSION
    assert pair.figure == tmp_path / "a_ares_96_cm.png" and pair.figure.is_file()
    assert result.figures["_ares_96"] == tmp_path / "pixel_eval_cm.png" and result.figures["_ares_96"].is_file()
    report = json.loads(result.json_path.read_text())
    assert report["classes"] == NAMES and report["pairs"][0]["scores"]["confusion"] == CONFUSION
    assert report["overall"]["_ares_96"]["n_pairs"] == 1
    # frequency-weighted averages: truth counts (4, 6, 2) of 12
    assert scores.weighted_precision == pytest.approx((4 * 1.0 + 6 * 5 / 7 + 2 * 0.5) / 12)
    assert scores.weighted_recall == pytest.approx((4 * 0.75 + 6 * 5 / 6 + 2 * 0.5) / 12)
    assert report["pairs"][0]["scores"]["weighted_precision"] == pytest.approx(scores.weighted_precision)
    assert report["overall"]["_ares_96"]["scores"]["weighted_recall"] == pytest.approx(0.75)
    rows = result.csv_path.read_text().splitlines()
    assert rows[0].startswith("scope,kind,estimate,truth,n_samples,accuracy,macro_precision,macro_recall,macro_f1,"
                              "weighted_precision,weighted_recall,weighted_f1,") and len(rows) == 3
    assert rows[2].startswith(f"overall,_ares_96,,,12,0.750000,{scores.macro_precision:.6f},"
                              f"{scores.macro_recall:.6f},{scores.macro_f1:.6f},{scores.weighted_precision:.6f},"
                              "0.750000,")


def test_pooled_confusion_is_the_sum_and_class_absent_from_both_is_not_scored(tmp_path):
    mat(tmp_path / "a_mres.mat", TRUTH)
    mat(tmp_path / "a_ares_96.mat", ESTIMATE)
    only_water_sand = np.array([[0, 1], [1, 1]])
    mat(tmp_path / "b_mres.mat", only_water_sand)
    mat(tmp_path / "b_ares_96.mat", only_water_sand)
    result = evaluate_pixels(tmp_path)
    b = result.pairs[1].scores
    assert np.isnan(b.f1[2]) and b.macro_f1 == 1.0  # veg in neither truth nor estimate of b: not scored
    pooled = np.array(CONFUSION)
    pooled[:2, :2] += [[1, 0], [0, 3]]
    assert result.overall["_ares_96"].confusion == pooled.tolist()


def test_pairing_is_by_exact_base_name(tmp_path):
    mat(tmp_path / "IMG_1_mres.mat", TRUTH)
    mat(tmp_path / "IMG_10_mres.mat", ESTIMATE)
    mat(tmp_path / "IMG_1_ares_96.mat", TRUTH)
    mat(tmp_path / "IMG_10_ares_96.mat", ESTIMATE)
    (tmp_path / ".IMG_1_ares_96.abc.tmp.mat").write_bytes(b"")  # left by an interrupted writer: ignored
    result = evaluate_pixels(tmp_path)
    assert [(p.pair.estimate.name, p.pair.truth.name) for p in result.pairs] == [
        ("IMG_10_ares_96.mat", "IMG_10_mres.mat"), ("IMG_1_ares_96.mat", "IMG_1_mres.mat")]
    assert all(p.scores.accuracy == 1.0 for p in result.pairs)
    assert split_estimate_name(tmp_path / "x_ares_y_ares_crf.mat") == ("x_ares_y", "_ares_crf")


def test_fcn_names_pair_and_are_pooled_separately(tmp_path):
    mat(tmp_path / "a_mres.mat", TRUTH)
    mat(tmp_path / "a_ares.mat", TRUTH)
    mat(tmp_path / "a_ares_crf.mat", ESTIMATE)
    result = evaluate_pixels(tmp_path)
    assert sorted(result.overall) == ["_ares", "_ares_crf"]
    assert result.overall["_ares"].accuracy == 1.0
    assert result.overall["_ares_crf"].confusion == CONFUSION
    assert result.figures["_ares_crf"].name == "pixel_eval_ares_crf_cm.png"


def test_classes_matched_by_name_in_any_order(tmp_path):
    mat(tmp_path / "a_mres.mat", TRUTH)
    reordered = ["veg", "water", "sand"]  # estimate in another class order: same content
    new_index = np.array([reordered.index(n) for n in NAMES])
    mat(tmp_path / "a_ares_96.mat", new_index[ESTIMATE], labels=reordered)
    assert evaluate_pixels(tmp_path).pairs[0].scores.confusion == CONFUSION


def test_class_only_in_one_file_and_retrain_spelling(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger("dl_tools"), "propagate", True)  # a CLI test may have turned it off
    mat(tmp_path / "a_mres.mat", TRUTH, labels=["water_deep", "sand", "veg", "road"])
    estimate = ESTIMATE.copy()
    estimate[0, 0] = 3  # a class the truth does not know
    mat(tmp_path / "a_ares_96.mat", estimate, labels=["water deep", "sand", "veg", "cloud"])
    with caplog.at_level(logging.WARNING):
        scores = evaluate_pixels(tmp_path).pairs[0].scores
    assert "a_ares_96.mat and its truth: class(es) 'road' (truth only), 'cloud' (estimate only)" in caplog.text
    assert "water" not in caplog.text  # 'water_deep' and 'water deep' are the same class
    assert scores.labels == ["water_deep", "sand", "veg", "road", "cloud"]
    assert scores.confusion[0] == [2, 1, 0, 0, 1]
    assert scores.precision[4] == 0.0 and scores.recall[4] == 0.0  # predicted, never true: scored as 0
    assert np.isnan(scores.f1[3])  # named in the truth, in neither map: not scored
    assert union_labels([["a b", "c"], ["A_B", "d"]]) == ["a b", "c", "d"]


def test_shape_mismatch_is_an_error_unless_resize(tmp_path):
    mat(tmp_path / "a_mres.mat", np.kron(TRUTH, np.ones((2, 2), int)))
    mat(tmp_path / "a_ares_96.mat", TRUTH)
    with pytest.raises(InputError, match=r"a_ares_96.mat is 4 x 3 px but its truth a_mres.mat is 8 x 6 px; "
                                         r"give --resize"):
        evaluate_pixels(tmp_path)
    result = evaluate_pixels(tmp_path, PixelEvalParams(resize=True))
    assert result.pairs[0].scores.accuracy == 1.0


def test_files_without_a_shared_class_name_are_refused_before_any_output(tmp_path):
    mat(tmp_path / "a_mres.mat", TRUTH)
    mat(tmp_path / "a_ares_96.mat", ESTIMATE)  # a good pair first: its figure would have been written
    mat(tmp_path / "b_mres.mat", TRUTH[:, :2] % 2, labels=["water", "land"])
    mat(tmp_path / "b_ares_96.mat", TRUTH[:, :2] % 2, labels=["sea", "sand"])
    with pytest.raises(InputError, match=r"b_ares_96.mat and its truth b_mres.mat share no class name \(estimate: "
                                         r"'sea', 'sand'; truth: 'water', 'land'\)"):
        evaluate_pixels(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_ares_96.mat", "a_mres.mat", "b_ares_96.mat",
                                                          "b_mres.mat"]


def test_an_output_name_taken_by_a_folder_is_refused_before_any_output(tmp_path):
    mat(tmp_path / "a_mres.mat", TRUTH)
    mat(tmp_path / "a_ares_96.mat", ESTIMATE)
    (tmp_path / "pixel_eval.json").mkdir()
    proc = run_script("eval_semseg/test_pixels.py", "--input", tmp_path, check_rc=2)
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert "pixel_eval.json is a folder" in proc.stderr and "rename or remove the folder" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_ares_96.mat", "a_mres.mat", "pixel_eval.json"]


def test_folder_problems(tmp_path):
    with pytest.raises(InputError, match="--input: folder .* does not exist"):
        evaluate_pixels(tmp_path / "missing")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InputError, match="--input: .*afile is a file, not a folder; give the folder of the "
                                         r"\*_ares\*.mat files"):
        evaluate_pixels(tmp_path / "afile")
    with pytest.raises(InputError, match=r"--truth-dir: .*afile is a file, not a folder; give the folder of the "
                                         r"\*_mres.mat files"):
        evaluate_pixels(tmp_path, PixelEvalParams(truth_dir=tmp_path / "afile"))
    (tmp_path / "afile").unlink()
    mat(tmp_path / "a_mres.mat", TRUTH)
    with pytest.raises(InputError, match=r"no \*_ares\*.mat files"):
        evaluate_pixels(tmp_path)
    (tmp_path / "a_mres.mat").unlink()
    mat(tmp_path / "a_ares_96.mat", ESTIMATE)
    with pytest.raises(InputError, match="none of the 1 estimates .* has a manual label file .* a_mres.mat"):
        evaluate_pixels(tmp_path)
    truth_dir = tmp_path / "gt"
    truth_dir.mkdir()
    mat(truth_dir / "a_mres.mat", TRUTH)
    mat(tmp_path / "b_ares_96.mat", ESTIMATE)  # no truth: reported, not scored
    result = evaluate_pixels(tmp_path, PixelEvalParams(truth_dir=truth_dir))
    assert [p.name for p in result.unpaired] == ["b_ares_96.mat"] and len(result.pairs) == 1


def test_cli(tmp_path):
    mat(tmp_path / "a_mres.mat", TRUTH)
    mat(tmp_path / "a_ares_96.mat", ESTIMATE)
    proc = run_script("eval_semseg/test_pixels.py", "--input", tmp_path)
    assert "== a_ares_96.mat vs a_mres.mat" in proc.stdout and "macro F1 0.7088" in proc.stdout
    assert "== overall" not in proc.stdout  # one pair: its scores are the overall scores, printed once
    assert "lowest pixel accuracy" not in proc.stdout  # one image: nothing to rank
    proc = run_script("eval_semseg/test_pixels.py", "--input", tmp_path / "nope", check_rc=2)
    assert proc.stderr.startswith("error: --input: folder")
    proc = run_script("eval_semseg/test_pixels.py", check_rc=2)
    assert "--input is required" in proc.stderr


def test_cli_lists_the_images_of_lowest_accuracy(tmp_path, capsys):
    from dl_tools.cli.test_pixels import main

    for name, estimate in (("good", TRUTH), ("bad", ESTIMATE), ("worse", np.zeros_like(TRUTH))):
        mat(tmp_path / f"{name}_mres.mat", TRUTH)
        mat(tmp_path / f"{name}_ares_96.mat", estimate)
    mat(tmp_path / "good_ares_crf.mat", TRUTH)  # a kind with one image is not ranked
    assert main(["--input", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    ranking = out[out.index("lowest pixel accuracy (_ares_96*.mat, 3 of 3 images):"):].splitlines()[1:4]
    assert [line.split(":")[0].strip() for line in ranking] == ["worse_ares_96.mat", "bad_ares_96.mat",
                                                                "good_ares_96.mat"]
    # the hand-computed pair: 9 of 12 pixels right, IoU 3/4, 5/8, 1/3
    assert ranking[1] == "  bad_ares_96.mat: accuracy 0.750, macro F1 0.709, mean IoU 0.569"
    assert ranking[0].startswith("  worse_ares_96.mat: accuracy 0.333,")
    assert out.count("lowest pixel accuracy") == 1
