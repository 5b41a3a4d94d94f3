"""What every script shares: one-line errors (usage, bad input, refused paths, after TensorFlow has loaded), output
files readable as the user's umask allows, output-path checks and JSON without NaN."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import run_script

from dl_tools.cli.common import build_base_parser, run
from dl_tools.errors import InputError
from dl_tools.io.atomic import check_output_dir, check_output_file, write_json_atomic, write_text_atomic
from dl_tools.io.images import write_image


def test_a_usage_error_is_one_line():
    proc = run_script("semseg_crf/semseg_cnn_crf.py", "a.jpg", "m.pb", "l.txt", "c.txt", "96", "1.5", "0.5", "1",
                      "0.5", check_rc=2)
    assert proc.stderr == ("error: argument PROB_THRES: must be in [0, 1), got 1.5 "
                           "(see semseg_cnn_crf.py --help)\n")


def test_an_error_after_tensorflow_has_loaded_is_one_line(tmp_path):
    """TensorFlow 2.21 writes start-up lines to descriptor 2 whatever TF_CPP_MIN_LOG_LEVEL says: they are hidden."""
    (tmp_path / "t" / "a").mkdir(parents=True)
    write_image(tmp_path / "t" / "a" / "x_0_0.jpg", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "labels.txt").write_text("a\n")
    (tmp_path / "m.pb").write_bytes(b"not a graph")
    proc = run_script("eval_imrecog/test_class_tiles.py", "-n", "1", "--image_dir", tmp_path / "t", "--labels",
                      tmp_path / "labels.txt", "--model", tmp_path / "m.pb", check_rc=2)
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"error: model file {tmp_path / 'm.pb'} is not a frozen TensorFlow graph")


def test_tensorflow_import_is_silent_but_its_errors_are_not(tmp_path):
    code = ("from dl_tools.quiet_import import silence_tensorflow_import as s; s(); import sys; "
            "import tensorflow as tf; print(tf.__spec__.loader.__class__.__name__); "
            "print('after', file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert proc.returncode == 0 and proc.stderr == "after\n", proc.stderr
    assert proc.stdout.strip() != "_SilentLoader"  # the module keeps its own loader
    # a broken installation: its noise on descriptor 2 is hidden, its ImportError is not
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text(
        "import os\nos.write(2, b'noise from C++\\n')\nraise ImportError('broken install')\n")
    code = ("from dl_tools.quiet_import import silence_tensorflow_import as s; s()\n"
            "try:\n    import tensorflow\nexcept ImportError as exc:\n    print('caught', exc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"))
    assert proc.stdout == "caught broken install\n" and proc.stderr == "", proc.stderr


@pytest.mark.parametrize("exc, expected", [
    (PermissionError(13, "Permission denied", "/data/out.png"),
     "error: /data/out.png: Permission denied; check the path and its permissions (-v shows where it happened)\n"),
    (InputError("--flag: bad; give a good one"), "error: --flag: bad; give a good one\n"),
])
def test_run_turns_bad_input_and_refused_paths_into_one_line_and_exit_code_2(capsys, exc, expected):
    def body(args):
        raise exc

    assert run(build_base_parser("x.py", "test"), body, []) == 2
    assert capsys.readouterr().err == expected


def test_outputs_get_the_permissions_of_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        from dl_tools.io import atomic

        atomic._umask.cache_clear()
        path = write_text_atomic(tmp_path / "sub" / "a.txt", "x")
        assert path.stat().st_mode & 0o777 == 0o640
        assert atomic.new_mode(directory=True) == 0o750
    finally:
        os.umask(old)
        atomic._umask.cache_clear()
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["a.txt"]  # no temporary file left


def test_output_path_checks(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder").mkdir()
    assert check_output_file(tmp_path / "new" / "deeper" / "m.pb", "--out") == tmp_path / "new" / "deeper" / "m.pb"
    assert not (tmp_path / "new").exists()  # nothing is created
    with pytest.raises(InputError, match=f"^--out {tmp_path / 'folder'} is a folder; give a file name$"):
        check_output_file(tmp_path / "folder", "--out")
    with pytest.raises(InputError, match=f"^--dir {tmp_path / 'file' / 'x'}: {tmp_path / 'file'} is a file"):
        check_output_dir(tmp_path / "file" / "x", "--dir")
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_output_file(tmp_path / "file" / "m.pb", "--out")


def test_json_has_null_for_nan_and_infinity(tmp_path):
    path = write_json_atomic(tmp_path / "r.json", {"a": float("nan"), "b": [1.5, float("inf")], "c": {"d": 2}})
    assert json.loads(path.read_text()) == {"a": None, "b": [1.5, None], "c": {"d": 2}}
    assert "NaN" not in path.read_text()


def test_an_error_or_a_message_never_glues_to_a_progress_bar(capsys, monkeypatch):
    import logging

    from dl_tools.terminal import progress


    def body(args):
        bar = progress(range(3), desc="working")
        next(iter(bar))
        logging.getLogger("dl_tools.test").warning("half way")
        raise InputError("--flag: bad; give a good one")

    assert run(build_base_parser("x.py", "test"), body, []) == 2
    err = capsys.readouterr().err
    lines = err.replace("\r", "\n").splitlines()
    assert "warning: half way" in lines and lines[-1] == "error: --flag: bad; give a good one"


def test_no_bar_for_nothing_to_do_and_plural_counts(monkeypatch):
    from dl_tools.terminal import count, progress

    assert progress(total=0).disable and not progress(total=2).disable
    assert (count(1, "image"), count(0, "image"), count(3, "tile")) == ("1 image", "0 images", "3 tiles")


def test_the_header_of_a_huge_image_is_read_without_a_decompression_bomb_error(tmp_path):
    """A 20000 x 30000 px PNG (600 megapixels, as big orthomosaics are): only its header is read."""
    import struct
    import zlib

    from dl_tools.io.images import image_shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 30000, 20000, 8, 2, 0, 0, 0)  # width, height, 8-bit RGB
    (tmp_path / "big.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    assert image_shape(tmp_path / "big.png") == (20000, 30000)


def test_quiet_hides_bars_for_its_own_call_only_and_sets_no_environment_variable(monkeypatch):
    """-q used to set DL_TOOLS_NO_PROGRESS in os.environ, which hid the bars of every later call in the process."""
    import os

    from dl_tools.terminal import progress

    seen = []
    environment = dict(os.environ)
    assert run(build_base_parser("x.py", "test"), lambda args: seen.append(progress(total=3).disable), ["-q"]) == 0
    assert run(build_base_parser("x.py", "test"), lambda args: seen.append(progress(total=3).disable), []) == 0
    assert seen == [True, False] and dict(os.environ) == environment
    assert not progress(total=3).disable  # and library calls outside a script show bars


def _steps():
    """(script module, params dataclass or instance, {option dest: field}) of every step whose options set params."""
    from dl_tools.cli import (
        fcn_infer,
        fcn_infer_crf,
        fcn_train,
        images_split_train_test,
        label_1geotiff_crf,
        label_1image_crf,
        label_web,
        make_labels,
        retile,
        retrain,
        semseg_cnn_crf,
        test_class_tiles,
        test_pixels,
    )
    from dl_tools.segmentation.hybrid import HybridParams
    from dl_tools.workflows.eval_tiles import EvalTilesParams
    from dl_tools.workflows.fcn_infer import FCNInferParams
    from dl_tools.workflows.fcn_train import FCNTrainParams
    from dl_tools.workflows.label import LabelParams
    from dl_tools.workflows.label_web import WebParams
    from dl_tools.workflows.make_labels import MakeLabelsParams
    from dl_tools.workflows.pixel_eval import PixelEvalParams
    from dl_tools.workflows.retile import RetileParams
    from dl_tools.workflows.retrain import RetrainParams
    from dl_tools.workflows.split import SplitParams
    from dl_tools.workflows.windowed import WindowedParams

    return [(retrain, RetrainParams, {}), (retile, RetileParams, {"threshold": "purity"}),
            (fcn_infer, FCNInferParams, {}), (fcn_infer, WindowedParams, {}),
            (fcn_infer_crf, WindowedParams, {}), (fcn_train, FCNTrainParams, {}),
            (images_split_train_test, SplitParams, {"proportion": "train_fraction"}),
            (test_class_tiles, EvalTilesParams, {"number": "n"}), (test_pixels, PixelEvalParams, {}),
            (make_labels, MakeLabelsParams, {"median": "median_radius"}), (semseg_cnn_crf, HybridParams, {}),
            (label_1image_crf, LabelParams, {}), (label_1geotiff_crf, LabelParams, {}),
            (label_web, LabelParams, {}), (label_web, WebParams, {})]


def _shown(value) -> list[str]:
    """How a help text may write ``value``: 0.25, 3e-03 as 0.003, (256, 512) as 256x512."""
    if isinstance(value, tuple):
        return ["x".join(map(str, value)), str(value)]
    return [str(value)] + ([f"{value:g}"] if isinstance(value, float) else [])


@pytest.mark.parametrize("step", range(len(_steps())), ids=lambda i: "-".join(
    (_steps()[i][0].__name__.rsplit(".", 1)[1], getattr(_steps()[i][1], "__name__", "instance"))))
def test_every_option_of_a_params_field_takes_its_default_from_the_dataclass_and_shows_it(step):
    """Default None (a resumed run keeps its own settings) or the dataclass's; --help shows the dataclass's."""
    import dataclasses

    module, params, renamed = _steps()[step]
    fields = {f.name: f for f in dataclasses.fields(params)}
    parser = module.build_parser()
    formatter = parser._get_formatter()
    own_scale = module.__name__.endswith("label_1geotiff_crf")  # -s 1.0 is that step's own default
    checked = []
    for action in parser._actions:
        name = renamed.get(action.dest, action.dest)
        if name not in fields or not action.option_strings or (own_scale and name == "scale"):
            continue
        field = fields[name]
        expected = getattr(params, name) if not isinstance(params, type) else (
            field.default_factory() if field.default is dataclasses.MISSING else field.default)
        assert action.default in (None, expected), (action.dest, action.default, expected)
        if action.nargs != 0 and expected is not None:  # not a flag: --help names the value
            text = " ".join(formatter._expand_help(action).split())
            assert any(f"default {shown}" in text or f"default: {shown}" in text
                       for shown in _shown(expected)), (action.dest, text, expected)
        checked.append(name)
    assert checked, "no option of this step sets a field of its params"


def test_the_dataclass_judges_a_value_and_names_the_flag(capsys, tmp_path):
    """An option that converts only: the range is the params dataclass's, its message names the flag."""
    from dl_tools.cli import (
        fcn_infer,
        fcn_train,
        images_split_train_test,
        make_labels,
        retile,
        retrain,
        test_class_tiles,
    )

    cases = [(retrain.main, ["--image_dir", str(tmp_path), "--testing_percentage", "100"],
              "error: --testing_percentage must be in [0, 100)"),
             (retrain.main, ["--image_dir", str(tmp_path), "--validation_batch_size", "0"],
              "error: --validation_batch_size must be -1 (all) or at least 1"),
             (retile.main, ["-a", "0", "--input", str(tmp_path)], "error: -a must be in (0, 1], got 0.0"),
             (retile.main, ["-b", "nan", "--input", str(tmp_path)], "error: -b must be in (0, 1], got nan"),
             (images_split_train_test.main, ["-p", "1", "--input", str(tmp_path)],
              "error: -p must be strictly between 0 and 1, got 1.0"),
             (test_class_tiles.main, ["-n", "0"], "error: -n must be at least 1, got 0"),
             (fcn_infer.main, ["--name", "r", "--samples-dir", "s", "--output-dir", "o", "--batch-size", "0"],
              "error: --batch-size must be at least 1, got 0"),
             (fcn_infer.main, ["--name", "r", "--samples-dir", "s", "--output-dir", "o", "--window", "100"],
              "error: --window must be a multiple of 512 px (--raster-window in label_1geotiff_crf.py), got 100"),
             (fcn_train.main, ["--name", str(tmp_path / "run"), "--backbone", "resnet"],
              "error: --backbone must be one of mobilenetv2, vgg16, tiny, got 'resnet'"),
             (make_labels.main, [str(tmp_path), "--median", "-1"], "error: --median must be 0 (no filter)")]
    for main, argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(message) and len(err.splitlines()) == 1, (argv, err)
    assert list(tmp_path.iterdir()) == []  # judged before anything is written
    with pytest.raises(SystemExit):  # a value that is not a number stays argparse's one-line error
        retile.main(["-a", "most"])
    assert capsys.readouterr().err.startswith("error: argument -a/--threshold: must be a number, got 'most'")
