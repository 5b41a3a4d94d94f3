"""Step 5, tile evaluation: scores on coloured test tiles, seeded sampling, resizing, outputs and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiles_helpers import COLORS, make_color_tiles, make_tiny_module, noisy_tile

from dl_tools.errors import InputError
from dl_tools.io.images import write_image
from dl_tools.io.text import write_labels
from dl_tools.workflows.eval_tiles import EvalTilesParams, evaluate_tiles, photograph_scores
from dl_tools.workflows.retrain import RetrainParams, retrain


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_tiles")
    module = make_tiny_module(root / "tiny_module")
    retrain(make_color_tiles(root / "train"), str(module), root / "model.pb", root / "labels.txt", None, None,
            RetrainParams(how_many_training_steps=300, learning_rate=1.0, train_batch_size=30, eval_step_interval=50))
    return root / "model.pb", root / "labels.txt"


def test_scores_confusion_figure_and_json(model, tmp_path):
    pb, labels = model
    tiles = make_color_tiles(tmp_path / "test", n=12, seed=5)
    result = evaluate_tiles(tiles, labels, pb, EvalTilesParams(n=10, seed=0))
    assert result.scores.n_samples == 30 and result.scores.accuracy >= 0.9
    assert result.scores.labels == sorted(COLORS)
    assert 0.5 < result.mean_posterior <= 1.0 and set(result.class_posterior) == set(COLORS)
    assert (tiles / "test_cm.png").stat().st_size > 1000
    report = json.loads((tiles / "tile_eval.json").read_text())
    assert report["scores"]["kappa"] == pytest.approx(result.scores.kappa)
    assert report["tiles_per_class"] == {name: 12 for name in COLORS}
    again = evaluate_tiles(tiles, labels, pb, EvalTilesParams(n=10, seed=0))
    other = evaluate_tiles(tiles, labels, pb, EvalTilesParams(n=10, seed=1))
    assert again.files == result.files and other.files != result.files
    assert len(evaluate_tiles(tiles, labels, pb, EvalTilesParams(n=100)).files) == 36  # all when fewer than n


def test_photograph_scores_known_answer():
    labels = ["sand", "water"]
    sources = ["a", "a", "a", "a", "b", "b", None, "c", "d", "e", "e"]
    truth = np.array([0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1])
    estimate = np.array([1, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0])
    rows = photograph_scores(sources, truth, estimate, labels)
    # most wrong tiles first (a: 3, b: 2), then the lowest accuracy (d: 1 of 1 before e: 1 of 2); the unnamed
    # tile is not scored
    assert [row["photograph"] for row in rows] == ["a", "b", "d", "e", "c"]
    assert rows[0] == {"photograph": "a", "tiles": 4, "wrong": 3, "accuracy": 0.25,
                       "most_frequent_error": {"truth": "sand", "estimate": "water", "tiles": 2}}
    assert rows[1] == {"photograph": "b", "tiles": 2, "wrong": 2, "accuracy": 0.0,
                       "most_frequent_error": {"truth": "water", "estimate": "sand", "tiles": 2}}
    assert rows[3]["accuracy"] == 0.5
    assert rows[4] == {"photograph": "c", "tiles": 1, "wrong": 0, "accuracy": 1.0, "most_frequent_error": None}


def test_worst_photographs_are_named(model, tmp_path, capsys):
    """Tiles named <photograph>_<row>_<col>.jpg: a photograph whose 'veg' tiles are water-coloured (mislabelled)
    is reported first, in the JSON and on the terminal."""
    from dl_tools.cli.test_class_tiles import main

    pb, labels = model
    rng = np.random.default_rng(3)
    for name, colour in COLORS.items():
        (tmp_path / name).mkdir()
        for i in range(3):
            write_image(tmp_path / name / f"good_photo_{i}_0.jpg", noisy_tile(colour, 32, rng))
    for i in range(4):
        write_image(tmp_path / "veg" / f"bad_photo_{i}_32.jpg", noisy_tile(COLORS["Blue Water"], 32, rng))
    assert main(["--image_dir", str(tmp_path), "--labels", str(labels), "--model", str(pb)]) == 0
    report = json.loads((tmp_path / "tile_eval.json").read_text())
    assert [(row["photograph"], row["tiles"]) for row in report["photographs"]] == [("bad_photo", 4),
                                                                                   ("good_photo", 9)]
    assert report["photographs"][0]["accuracy"] == 0.0 and report["photographs"][1]["accuracy"] == 1.0
    out = capsys.readouterr().out
    assert "photographs with the most misclassified tiles (1 of 2):" in out
    assert "bad_photo: 4 of 4 tiles wrong (accuracy 0.000), most often veg taken for Blue Water (4)" in out


def test_tiles_of_another_size_are_resized_and_classes_may_be_missing(model, tmp_path, capsys):
    from dl_tools.cli.test_class_tiles import main

    pb, labels = model
    rng = np.random.default_rng(0)
    folder = tmp_path / "veg"
    folder.mkdir()
    for i in range(4):
        write_image(folder / f"big_{i}.png", noisy_tile(COLORS["veg"], 48, rng))
    assert main(["-n", "3", "--image_dir", str(tmp_path), "--labels", str(labels), "--model", str(pb)]) == 0
    out = capsys.readouterr().out
    assert "overall accuracy 1.0000" in out and "mean probability of the predicted class" in out


def test_bad_input(model, tmp_path):
    pb, labels = model
    tiles = make_color_tiles(tmp_path / "t", n=2, colors={"Blue water": (0, 0, 200), "veg": (0, 200, 0)})
    with pytest.raises(InputError, match="Blue water.*Blue Water"):  # exact names: case matters, both listed
        evaluate_tiles(tiles, labels, pb, EvalTilesParams())
    (tiles / "Blue water" / "notes.txt").rename(tiles / "notes.txt")
    for f in (tiles / "Blue water").iterdir():
        f.unlink()
    (tiles / "Blue water").rmdir()
    write_labels(tmp_path / "four.txt", sorted(COLORS) + ["extra"])
    with pytest.raises(InputError, match="3 classes but labels file"):
        evaluate_tiles(tiles, tmp_path / "four.txt", pb, EvalTilesParams())
    (tiles / "dry_land").mkdir()
    with pytest.raises(InputError, match="hold no images"):
        evaluate_tiles(tiles, labels, pb, EvalTilesParams())
    (tiles / "dry_land").rmdir()
    (tmp_path / "bad.pb").write_bytes(b"not a graph")
    with pytest.raises(InputError, match="bad.pb"):
        evaluate_tiles(tiles, labels, tmp_path / "bad.pb", EvalTilesParams())
    with pytest.raises(InputError, match="does not exist"):
        evaluate_tiles(tiles, labels, tmp_path / "none.pb", EvalTilesParams())
    with pytest.raises(InputError, match="-n"):
        EvalTilesParams(n=0)


def photograph_tiles(folder, n_photographs=6, seed=4):
    """Tiles named as retile.py names them, <photograph>_<row>_<col>.jpg: per photograph two tiles of each class
    and, in the photographs after the first two, one 'veg' tile coloured as water (mislabelled)."""
    rng = np.random.default_rng(seed)
    for name in COLORS:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for p in range(n_photographs):
        for name, colour in COLORS.items():
            for i in range(2):
                write_image(folder / name / f"photo{p}_{i * 32}_0.jpg", noisy_tile(colour, 32, rng))
        if p >= 2:
            write_image(folder / "veg" / f"photo{p}_64_0.jpg", noisy_tile(COLORS["Blue Water"], 32, rng))
    return folder


def test_intervals_in_every_output_and_the_report_page(model, tmp_path, capsys, browser_page):
    from dl_tools.cli.test_class_tiles import main

    pb, labels = model
    tiles = photograph_tiles(tmp_path / "tiles")
    assert main(["--image_dir", str(tiles), "--labels", str(labels), "--model", str(pb), "--bootstrap", "200"]) == 0
    report = json.loads((tiles / "tile_eval.json").read_text())
    low, high = report["intervals"]["scores"]["accuracy"]
    accuracy = report["scores"]["accuracy"]
    assert accuracy == pytest.approx(36 / 40) and low < accuracy <= high <= 1
    assert report["intervals"]["n_photographs"] == 6 and report["intervals"]["n_resamples"] == 200
    out = capsys.readouterr().out
    assert f"overall accuracy {accuracy:.4f} [{low:.4f}, {high:.4f}]" in out
    assert "6 photographs, 200 resamples, seed 0]" in out
    rows = (tiles / "tile_eval.csv").read_text().splitlines()
    assert rows[0] == "score,class,value,low,high"
    assert rows[1] == f"overall accuracy,,{accuracy:.6f},{low:.6f},{high:.6f}"
    assert any(row.startswith("recall,veg,") for row in rows)
    assert "http" not in (tiles / "tile_eval.html").read_text()  # nothing fetched from a network
    browser_page.goto((tiles / "tile_eval.html").as_uri())
    widths = browser_page.evaluate("Array.from(document.images).map(image => image.naturalWidth)")
    # the confusion matrix, then the misclassified tile of each of the 4 photographs with one
    assert len(widths) == 1 + 4 and all(width > 0 for width in widths)
    cells = browser_page.locator("table").first.locator("td").all_inner_texts()
    assert cells[:3] == ["overall accuracy", f"{accuracy:.3f}", f"[{low:.3f}, {high:.3f}]"]
    assert browser_page.get_by_text("photo2: 1 of 7 tiles wrong (accuracy 0.857)").count() == 1


def test_no_interval_without_photograph_names_or_below_five(model, tmp_path, capsys):
    from dl_tools.cli.test_class_tiles import main

    pb, labels = model
    unnamed = make_color_tiles(tmp_path / "unnamed", n=3, seed=2)
    assert main(["--image_dir", str(unnamed), "--labels", str(labels), "--model", str(pb)]) == 0
    assert "no confidence intervals: 9 tiles not named <photograph>_<row>_<col>" in capsys.readouterr().out
    few = photograph_tiles(tmp_path / "few", n_photographs=4)
    assert main(["--image_dir", str(few), "--labels", str(labels), "--model", str(pb)]) == 0
    assert "no confidence intervals: 4 photographs, fewer than 5" in capsys.readouterr().out
    assert json.loads((few / "tile_eval.json").read_text())["intervals"]["scores"] == {}


def test_negative_bootstrap_is_refused_before_any_work(model, tmp_path):
    from conftest import run_script

    pb, labels = model
    tiles = photograph_tiles(tmp_path / "tiles")
    before = sorted(p.name for p in tiles.iterdir())
    proc = run_script("eval_imrecog/test_class_tiles.py", "--image_dir", tiles, "--labels", labels, "--model", pb,
                      "--bootstrap", "-5", check_rc=2)
    assert proc.stderr == "error: --bootstrap must be 0 (no intervals) or a positive number of resamples, got -5\n"
    assert sorted(p.name for p in tiles.iterdir()) == before
