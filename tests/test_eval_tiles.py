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
