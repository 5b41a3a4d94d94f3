"""Step 5, tile evaluation: scores on coloured test tiles, seeded sampling, resizing, outputs and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dl_tools.errors import InputError
from dl_tools.io.images import write_image
from dl_tools.io.text import write_labels
from dl_tools.workflows.eval_tiles import EvalTilesParams, evaluate_tiles
from dl_tools.workflows.retrain import RetrainParams, retrain
from tiles_helpers import COLOURS, make_colour_tiles, make_tiny_module, noisy_tile


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_tiles")
    module = make_tiny_module(root / "tiny_module")
    retrain(make_colour_tiles(root / "train"), str(module), root / "model.pb", root / "labels.txt", None, None,
            RetrainParams(how_many_training_steps=300, learning_rate=1.0, train_batch_size=30, eval_step_interval=50))
    return root / "model.pb", root / "labels.txt"


def test_scores_confusion_figure_and_json(model, tmp_path):
    pb, labels = model
    tiles = make_colour_tiles(tmp_path / "test", n=12, seed=5)
    result = evaluate_tiles(tiles, labels, pb, EvalTilesParams(n=10, seed=0))
    assert result.scores.n_samples == 30 and result.scores.accuracy >= 0.9
    assert result.scores.labels == sorted(COLOURS)
    assert 0.5 < result.mean_posterior <= 1.0 and set(result.class_posterior) == set(COLOURS)
    assert (tiles / "test_cm.png").stat().st_size > 1000
    report = json.loads((tiles / "tile_eval.json").read_text())
    assert report["scores"]["kappa"] == pytest.approx(result.scores.kappa)
    assert report["tiles_per_class"] == {name: 12 for name in COLOURS}
    again = evaluate_tiles(tiles, labels, pb, EvalTilesParams(n=10, seed=0))
    other = evaluate_tiles(tiles, labels, pb, EvalTilesParams(n=10, seed=1))
    assert again.files == result.files and other.files != result.files
    assert len(evaluate_tiles(tiles, labels, pb, EvalTilesParams(n=100)).files) == 36  # all when fewer than n


def test_tiles_of_another_size_are_resized_and_classes_may_be_missing(model, tmp_path, capsys):
    from dl_tools.cli.test_class_tiles import main

    pb, labels = model
    rng = np.random.default_rng(0)
    folder = tmp_path / "veg"
    folder.mkdir()
    for i in range(4):
        write_image(folder / f"big_{i}.png", noisy_tile(COLOURS["veg"], 48, rng))
    assert main(["-n", "3", "--image_dir", str(tmp_path), "--labels", str(labels), "--model", str(pb)]) == 0
    out = capsys.readouterr().out
    assert "overall accuracy 1.0000" in out and "mean probability of the predicted class" in out


def test_bad_input(model, tmp_path):
    pb, labels = model
    tiles = make_colour_tiles(tmp_path / "t", n=2, colours={"Blue water": (0, 0, 200), "veg": (0, 200, 0)})
    with pytest.raises(InputError, match="Blue water.*Blue Water"):  # exact names: case matters, both listed
        evaluate_tiles(tiles, labels, pb, EvalTilesParams())
    (tiles / "Blue water" / "notes.txt").rename(tiles / "notes.txt")
    for f in (tiles / "Blue water").iterdir():
        f.unlink()
    (tiles / "Blue water").rmdir()
    write_labels(tmp_path / "four.txt", sorted(COLOURS) + ["extra"])
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
