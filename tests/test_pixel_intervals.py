"""Step 7 with intervals: pooled scores with their interval everywhere, --compare, its bad input, the HTML page."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import run_script

from dl_tools.io.images import write_image
from dl_tools.io.mat import LabelFile, write_label_mat
from dl_tools.workflows.pixel_eval import PixelEvalParams, evaluate_pixels

NAMES = ["water", "sand", "veg"]
PHOTOGRAPHS = [f"IMG_{i}" for i in range(6)]


def write_results(folder, kinds=("_ares_96",), photographs=PHOTOGRAPHS, seed=0, images=False):
    """Truth and estimates (each kind a different share of pixels wrong) of seeded 12 x 16 random maps."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for base in photographs:
        truth = rng.integers(0, 3, (12, 16))
        write_label_mat(folder / f"{base}_mres.mat", LabelFile(truth, NAMES))
        for wrong, kind in zip((0.3, 0.1, 0.5), kinds):
            estimate = np.where(rng.random(truth.shape) < wrong, rng.integers(0, 3, truth.shape), truth)
            write_label_mat(folder / f"{base}{kind}.mat", LabelFile(estimate, NAMES))
        if images:
            write_image(folder / f"{base}.jpg", rng.integers(0, 255, (12, 16, 3), dtype=np.uint8))


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_intervals_in_terminal_json_csv_and_figure(tmp_path):
    write_results(tmp_path)
    proc = run_script("eval_semseg/test_pixels.py", "--input", tmp_path, "--bootstrap", "200", "--seed", "3")
    result = json.loads((tmp_path / "pixel_eval.json").read_text())["overall"]["_ares_96"]
    low, high = result["intervals"]["scores"]["accuracy"]
    assert low < result["scores"]["accuracy"] < high
    assert result["intervals"]["n_photographs"] == 6 and result["intervals"]["n_resamples"] == 200
    assert f"overall accuracy {result['scores']['accuracy']:.4f} [{low:.4f}, {high:.4f}]" in proc.stdout
    assert "[95% intervals: percentile bootstrap over photographs (scipy.stats.bootstrap), 6 photographs, 200 " \
           "resamples, seed 3]" in proc.stdout
    rows = list(csv.DictReader((tmp_path / "pixel_eval.csv").open()))
    overall = [row for row in rows if row["scope"] == "overall"][0]
    assert float(overall["accuracy:low"]) == pytest.approx(low) and float(overall["iou:sand:high"]) > 0
    assert all(row["accuracy:low"] == "" for row in rows if row["scope"] == "pair")  # one photograph: none
    again = evaluate_pixels(tmp_path, PixelEvalParams(bootstrap=200, seed=3))
    assert again.intervals["_ares_96"].interval("accuracy") == pytest.approx((low, high))  # seeded
    # the figure title carries the interval: the pooled figure differs from the one drawn without intervals
    with_interval = (tmp_path / "pixel_eval_cm.png").read_bytes()
    evaluate_pixels(tmp_path, PixelEvalParams(bootstrap=0))
    assert (tmp_path / "pixel_eval_cm.png").read_bytes() != with_interval
    assert "pixel_eval.html" in listing(tmp_path)


def test_fewer_than_five_photographs_get_a_note(tmp_path):
    write_results(tmp_path, photographs=PHOTOGRAPHS[:4])
    proc = run_script("eval_semseg/test_pixels.py", "--input", tmp_path)
    assert "no confidence intervals: 4 photographs, fewer than 5" in proc.stdout
    assert "overall accuracy" in proc.stdout and " [0." not in proc.stdout
    record = json.loads((tmp_path / "pixel_eval.json").read_text())["overall"]["_ares_96"]["intervals"]
    assert record["scores"] == {} and "fewer than 5" in record["note"]


def test_compare_two_kinds_and_a_kind_with_itself(tmp_path):
    write_results(tmp_path, kinds=("_ares", "_ares_crf"))
    proc = run_script("eval_semseg/test_pixels.py", "--input", tmp_path, "--compare", "_ares", "_ares_crf",
                      "--bootstrap", "300")
    comparison = json.loads((tmp_path / "pixel_eval.json").read_text())["comparison"]
    assert comparison["a"] == "_ares" and comparison["b"] == "_ares_crf" and comparison["photographs"] == PHOTOGRAPHS
    # _ares_crf has 10 % of pixels redrawn at random, _ares 30 %: better on every photograph
    assert comparison["difference"]["accuracy"] == pytest.approx(
        comparison["scores_b"]["accuracy"] - comparison["scores_a"]["accuracy"])
    assert comparison["difference"]["accuracy"] > 0 and comparison["distinguishable_from_zero"]["accuracy"] is True
    assert "== _ares_crf against _ares, 6 photographs (difference _ares_crf - _ares)" in proc.stdout
    assert ("distinguishable from zero (the interval excludes 0); _ares_crf scores higher." in proc.stdout)
    rows = list(csv.DictReader((tmp_path / "pixel_eval.csv").open()))
    assert rows[-1]["scope"] == "difference" and rows[-1]["kind"] == "_ares_crf - _ares"

    itself = evaluate_pixels(tmp_path, PixelEvalParams(compare=("_ares", "_ares"), bootstrap=300)).comparison
    assert itself.paired.difference["mean_iou"] == 0 and itself.paired.intervals.interval("mean_iou") == (0.0, 0.0)
    assert all("not distinguishable from zero" in sentence for sentence in itself.sentences())


def test_compare_two_folders_of_results(tmp_path):
    write_results(tmp_path / "run1", seed=1)
    write_results(tmp_path / "run2", seed=1)  # the same results: difference 0
    truth_in_run1 = PixelEvalParams(compare=(str(tmp_path / "run1"), str(tmp_path / "run2" / "_ares_96")),
                                    bootstrap=100)
    comparison = evaluate_pixels(tmp_path / "run1", truth_in_run1).comparison
    assert comparison.paired.difference["kappa"] == 0 and comparison.paired.distinguishable("kappa") is False


def test_compare_bad_input_is_one_line_and_writes_nothing(tmp_path):
    write_results(tmp_path, kinds=("_ares", "_ares_crf"))
    before = listing(tmp_path)
    proc = run_script("eval_semseg/test_pixels.py", "--input", tmp_path, "--compare", "_ares", "_ares_96", check_rc=2)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: --compare _ares_96: no _ares_96 results")
    assert "(present: _ares, _ares_crf)" in proc.stderr
    proc = run_script("eval_semseg/test_pixels.py", "--input", tmp_path, "--compare", tmp_path, "_ares", check_rc=2)
    assert "holds results of several kinds (_ares, _ares_crf)" in proc.stderr
    (tmp_path / "IMG_0_ares_crf.mat").unlink()
    (tmp_path / "IMG_1_ares.mat").unlink()
    before = listing(tmp_path)
    proc = run_script("eval_semseg/test_pixels.py", "--input", tmp_path, "--compare", "_ares", "_ares_crf", check_rc=2)
    assert proc.stderr == ("error: --compare: _ares and _ares_crf are not results of the same photographs (only in "
                           "_ares: IMG_0; only in _ares_crf: IMG_1); compare results of the same photographs\n")
    proc = run_script("eval_semseg/test_pixels.py", "--input", tmp_path, "--bootstrap", "-1", check_rc=2)
    assert proc.stderr == "error: --bootstrap must be 0 (no intervals) or a positive number of resamples, got -1\n"
    proc = run_script("eval_semseg/test_pixels.py", "--input", tmp_path, "--compare", tmp_path / "nope", "_ares",
                      check_rc=2)
    assert proc.stderr.startswith("error: --compare ") and "nope" in proc.stderr and proc.stderr.count("\n") == 1
    (tmp_path / "empty").mkdir()
    proc = run_script("eval_semseg/test_pixels.py", "--input", tmp_path, "--compare", "_ares", tmp_path / "empty",
                      check_rc=2)
    assert proc.stderr.startswith(f"error: --compare {tmp_path / 'empty'}: no *_ares*.mat files in")
    (tmp_path / "empty").rmdir()
    assert listing(tmp_path) == before


def test_report_page_renders_in_a_browser(tmp_path, browser_page):
    write_results(tmp_path, kinds=("_ares", "_ares_crf"), images=True)
    result = evaluate_pixels(tmp_path, PixelEvalParams(compare=("_ares", "_ares_crf"), bootstrap=100))
    page = result.html_path.read_text()
    assert "http" not in page.replace("http-equiv", "")  # nothing fetched from a network
    browser_page.goto(result.html_path.as_uri())
    widths = browser_page.evaluate("Array.from(document.images).map(image => image.naturalWidth)")
    # two pooled confusion matrices, then per kind five images of lowest accuracy: photograph, truth, estimate
    assert len(widths) == 2 + 2 * 5 * 3 and all(width > 0 for width in widths)
    cells = browser_page.locator("table").first.locator("td").all_inner_texts()
    low, high = result.intervals["_ares"].interval("accuracy")
    assert cells[:3] == ["overall accuracy", f"{result.overall['_ares'].accuracy:.3f}", f"[{low:.3f}, {high:.3f}]"]
    assert browser_page.get_by_text("not distinguishable from zero").count() + browser_page.get_by_text(
        "distinguishable from zero (the interval excludes 0)").count() == 5


def test_a_photograph_that_cannot_be_read_is_named_in_the_page(tmp_path):
    write_results(tmp_path, photographs=PHOTOGRAPHS[:2], images=True)
    (tmp_path / "IMG_0.jpg").write_bytes(b"not a JPEG")
    (tmp_path / "IMG_1.jpg").unlink()
    page = evaluate_pixels(tmp_path).html_path.read_text()
    assert "(photograph IMG_0.jpg not shown: " in page
    assert "(photograph not found: give --images DIR)" in page
