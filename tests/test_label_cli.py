"""Step 2 through the real scripts: scripted labelling, GeoTIFFs, the interactive workflow without a display,
bad input, --help without heavy imports, and one smoke test of the OpenCV windows under Xvfb."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import REPO, run_script
from scipy.io import savemat
from test_crf import few_strokes

from dl_tools.cli import label_1geotiff_crf, label_1image_crf
from dl_tools.errors import InputError
from dl_tools.io.images import read_raw, write_image
from dl_tools.io.mat import read_label_mat
from dl_tools.labelling.engine import ENGINES

NAME = "2018-10-06_14.34.03-quad"  # dots in the name: <name> is the file name without its extension
LABELS = ["red", "green", "blue", "yellow"]


@pytest.fixture
def inputs(tmp_path, quadrants):
    image, truth = quadrants
    write_image(tmp_path / f"{NAME}.png", image)
    (tmp_path / "labels.txt").write_text("\n".join(LABELS) + "\n")
    (tmp_path / "colors.txt").write_text("r\ng\nb\ny\n")
    write_image(tmp_path / "strokes.png", few_strokes(truth))
    return tmp_path, truth


def args(folder, *extra, image=None):
    return ["-s", "1", "--image", str(image or folder / f"{NAME}.png"), "--labels", str(folder / "labels.txt"),
            "--colors", str(folder / "colors.txt"), "-q", *map(str, extra)]


def test_scripted_mode_through_the_script(inputs):
    folder, truth = inputs
    run_script("create_groundtruth/label_1image_crf.py", *args(folder, "--scribbles", folder / "strokes.png",
                                                               "--outdir", folder / "out"))
    out = folder / "out"
    label_file = read_label_mat(out / f"{NAME}_mres.mat")
    assert label_file.labels == LABELS
    assert label_file.label_image.shape == truth.shape
    assert (label_file.label_image == truth).mean() > 0.97
    np.testing.assert_array_equal(label_file.sparse, few_strokes(truth))
    assert label_file.probs.shape == (80, 120, 4)
    np.testing.assert_array_equal(read_raw(out / f"{NAME}_mres_label.png"), label_file.label_image)
    assert read_raw(out / f"{NAME}_mres_color.png").shape == (80, 120, 3)
    assert (out / f"{NAME}_mres.png").stat().st_size > 1000
    report = (out / f"{NAME}_report.txt").read_text()
    for text in ("120 x 80 px", "Annotation time (s): 0.0", "Compute time (s)", "yellow", "-s 1.0"):
        assert text in report
    # a person's labels are never replaced without --overwrite
    assert label_1image_crf.main(args(folder, "--scribbles", folder / "strokes.png", "--outdir", out)) == 2
    assert label_1image_crf.main(args(folder, "--scribbles", folder / "strokes.png", "--outdir", out,
                                      "--overwrite", "--engine", "classifier")) == 0


def test_geotiff_keeps_crs_transform_and_nodata_with_16bit_bands(tmp_path, quadrants):
    rasterio = pytest.importorskip("rasterio")
    from affine import Affine

    image, truth = quadrants
    bands = np.concatenate([image[:, :, ::-1], image[:, :, :1]], axis=2).astype(np.uint16) * 200 + 1000
    bands[:5, :] = 0  # no data along the top
    transform = Affine(0.5, 0, 410000.0, 0, -0.5, 3950000.0)
    path = tmp_path / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=120, height=80, count=4, dtype="uint16", crs="EPSG:32618",
                       transform=transform, nodata=0) as dst:
        dst.write(np.moveaxis(bands, 2, 0))
    (tmp_path / "labels.txt").write_text("\n".join(LABELS) + "\n")
    (tmp_path / "colors.txt").write_text("r\ng\nb\ny\n")
    write_image(tmp_path / "strokes.png", few_strokes(truth))
    run_script("create_groundtruth/label_1geotiff_crf.py",
               *args(tmp_path, "--bands", "3,2,1", "--scribbles", tmp_path / "strokes.png", image=path))
    with rasterio.open(tmp_path / "scene_mres.tif") as src:
        assert src.crs == rasterio.crs.CRS.from_epsg(32618)
        assert src.transform == transform
        assert src.nodata == 255 and src.count == 1
        labels = src.read(1)
    assert (labels[:5] == 255).all()
    assert (labels[5:] == truth[5:]).mean() > 0.95  # bands 3,2,1 of a BGR+ stack give back the RGB quadrants
    label_file = read_label_mat(tmp_path / "scene_mres.mat")
    np.testing.assert_array_equal(label_file.nodata, labels == 255)  # steps 3 and 7 leave those pixels out
    np.testing.assert_array_equal(label_file.label_image[5:], labels[5:])


def test_interactive_session_saves_strokes_before_the_crf_and_resumes(inputs, monkeypatch):
    from dl_tools.workflows import label as workflow

    folder, truth = inputs
    strokes = few_strokes(truth)

    def annotate(image, colors, session):  # a person drawing two classes, then pressing f
        assert len(session.windows) == 1  # -w 1000 is larger than the image: one window
        session.base[:] = 0
        session.sparse[:] = np.where(strokes <= 2, strokes, 0)
        session.handle_key("f")

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(workflow, "label_from_strokes", interrupted)
    params = workflow.LabelParams(window=1000, scale=1.0)
    with pytest.raises(KeyboardInterrupt):
        workflow.label_image_file(folder / f"{NAME}.png", folder / "labels.txt", folder / "colors.txt", params,
                                  annotate=annotate)
    saved = read_raw(folder / f"{NAME}_scribbles.png")  # Ctrl-C during the CRF: the strokes are on disk
    np.testing.assert_array_equal(saved, np.where(strokes <= 2, strokes, 0))
    assert not (folder / f"{NAME}_mres.mat").exists()
    monkeypatch.undo()
    with pytest.raises(workflow.InputError, match="--resume"):  # never start over on top of saved strokes
        workflow.label_image_file(folder / f"{NAME}.png", folder / "labels.txt", folder / "colors.txt", params,
                                  annotate=annotate)

    def annotate_rest(image, colors, session):  # resumed: the old strokes are there, add the other two classes
        assert (session.sparse == saved).all()
        session.sparse[strokes > 2] = strokes[strokes > 2]
        session.handle_key("s")

    resumed = workflow.LabelParams(window=1000, scale=1.0, resume=True)
    result = workflow.label_image_file(folder / f"{NAME}.png", folder / "labels.txt", folder / "colors.txt",
                                       resumed, annotate=annotate_rest)
    assert result.n_windows == 1 and not result.warnings
    assert (read_label_mat(result.outputs["mat"]).label_image == truth).mean() > 0.97
    np.testing.assert_array_equal(read_raw(folder / f"{NAME}_scribbles.png"), strokes)


def _bad_strokes(folder, truth, kind):
    path = folder / f"bad_{kind}.png"
    if kind == "size":
        write_image(path, np.ones((10, 10), np.uint8))
    elif kind == "value":
        write_image(path, np.full(truth.shape, 7, np.uint8))
    elif kind == "none":
        write_image(path, np.zeros(truth.shape, np.uint8))
    else:
        write_image(path, np.dstack([few_strokes(truth), np.zeros_like(truth, np.uint8), few_strokes(truth)]))
    return path


@pytest.mark.parametrize("kind, message", [("size", "differ in size"), ("value", "value 7"),
                                           ("none", "no strokes"), ("colour", "colour image")])
def test_bad_strokes_are_clear_errors(inputs, capsys, kind, message):
    folder, truth = inputs
    assert label_1image_crf.main(args(folder, "--scribbles", _bad_strokes(folder, truth, kind))) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --scribbles ") and message in err  # the flag and its file are named
    assert str(folder / f"bad_{kind}.png") in err and not (folder / f"{NAME}_mres.mat").exists()


@pytest.mark.parametrize("extra, message", [
    (["-s", "0"], "must be in (0, 1]"), (["-s", "1.5"], "must be in (0, 1]"), (["-w", "0"], "positive integer"),
])
def test_bad_flags(inputs, capsys, extra, message):
    folder, _ = inputs
    with pytest.raises(SystemExit) as exit_info:
        label_1image_crf.main(args(folder, "--scribbles", folder / "strokes.png") + extra)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_labels_and_colors_of_different_lengths_in_a_run(inputs, capsys):
    folder, _ = inputs
    (folder / "colors.txt").write_text("r\ng\n")
    assert label_1image_crf.main(args(folder, "--scribbles", folder / "strokes.png")) == 2
    assert "4 classes but colour file" in capsys.readouterr().err


def test_flat_image_labels_by_position(inputs, capsys):
    folder, truth = inputs
    write_image(folder / "flat.png", np.full((80, 120, 3), 90, np.uint8))
    assert label_1image_crf.main(args(folder, "--scribbles", folder / "strokes.png", image=folder / "flat.png")) == 0
    assert (read_label_mat(folder / "flat_mres.mat").label_image == truth).mean() > 0.8


def test_geotiff_script_refuses_a_jpeg(inputs, capsys):
    folder, _ = inputs
    assert label_1geotiff_crf.main(args(folder, "--scribbles", folder / "strokes.png")) == 2
    assert "not a TIFF" in capsys.readouterr().err


@pytest.mark.parametrize("script", ["label_1image_crf.py", "label_1geotiff_crf.py"])
def test_help_imports_neither_tensorflow_nor_pydensecrf(script):
    code = ("import runpy, sys\n"
            f"sys.argv = ['{script}', '--help']\n"
            "try:\n"
            f"    runpy.run_path(r'{REPO / 'create_groundtruth' / script}', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print('HEAVY', sorted(m for m in ('tensorflow', 'pydensecrf', 'cv2', 'sklearn') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert "-w WINDOW" in out and "HEAVY []" in out


@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")), reason="needs Xvfb and xdotool")
def test_opencv_windows_under_xvfb(inputs):
    folder, _ = inputs
    display = f":{90 + os.getpid() % 100}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1024x768x24"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    env = dict(os.environ, DISPLAY=display)
    env.pop("DL_TOOLS_NO_DIALOG", None)
    try:
        time.sleep(1)
        tool = subprocess.Popen([sys.executable, str(REPO / "create_groundtruth/label_1image_crf.py"),
                                 *args(folder, "-w", "1000")], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        window = ""
        for _ in range(120):  # wait for the class window, titled with the first class
            found = subprocess.run(["xdotool", "search", "--name", "red  \\(class 1/4"], env=env,
                                   capture_output=True, text=True)
            if found.stdout.strip():
                window = found.stdout.split()[0]
                break
            time.sleep(0.25)
        assert window, "the class window did not open"
        assert subprocess.run(["xdotool", "search", "--name", "whole image"], env=env,
                              capture_output=True).returncode == 0
        # one stroke with the mouse in the class window (at the screen's top left corner), then f: finish
        subprocess.run(["xdotool", "mousemove", "100", "100", "sleep", "0.2", "mousedown", "1", "sleep", "0.2",
                        "mousemove", "150", "110", "sleep", "0.2", "mousemove", "200", "120", "sleep", "0.2",
                        "mouseup", "1", "sleep", "0.5"], env=env, check=True)
        # f with the pointer over the class window (no window manager: the keyboard follows the pointer);
        # XTEST input, not a synthetic event to a window id, which some X servers refuse (BadWindow)
        for _ in range(20):
            subprocess.run(["xdotool", "mousemove", "150", "110", "key", "f"], env=env, capture_output=True)
            try:
                tool.wait(timeout=1)
                break
            except subprocess.TimeoutExpired:
                continue
        output, _ = tool.communicate(timeout=120)
        assert tool.returncode == 0, output
        assert "Draw on the class window" in output  # help text at start
    finally:
        xvfb.terminate()
        xvfb.wait()
    strokes = read_raw(folder / f"{NAME}_scribbles.png")
    assert strokes.max() == 1 and (strokes > 0).sum() > 5  # the stroke, in class 1 ("red")
    assert (read_label_mat(folder / f"{NAME}_mres.mat").label_image == 0).all()  # the only class with strokes


def _no_outputs(folder):
    return not list(folder.rglob(f"{NAME}_*"))


def _error_line(capsys):
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and ".tmp-" not in err, err
    return err


@pytest.mark.parametrize("engine", ENGINES)
def test_negative_seed_is_a_usage_error(inputs, capsys, engine):
    folder, _ = inputs
    with pytest.raises(SystemExit) as exit_info:
        label_1image_crf.main(args(folder, "--scribbles", folder / "strokes.png", "--engine", engine, "--seed", "-1"))
    assert exit_info.value.code == 2
    assert "--seed: must be an integer from 0 to 4294967295, got -1" in _error_line(capsys) and _no_outputs(folder)


def test_mat_strokes_above_its_classes(inputs, capsys):
    folder, truth = inputs
    savemat(folder / "odd_mres.mat", {"class": truth.astype(np.uint8), "labels": LABELS,
                                      "sparse": np.where(few_strokes(truth) > 0, 9, 0).astype(np.uint8)})
    assert label_1image_crf.main(args(folder, "--scribbles", folder / "odd_mres.mat")) == 2
    err = _error_line(capsys)
    assert f"--scribbles {folder}/odd_mres.mat: its strokes ('sparse') hold value 9 but only 4" in err
    assert _no_outputs(folder)


def test_mat_strokes_of_another_size_than_its_classes(inputs, capsys):
    folder, truth = inputs
    savemat(folder / "odd_mres.mat", {"class": truth.astype(np.uint8), "labels": LABELS,
                                      "sparse": few_strokes(truth)[:40]})
    assert label_1image_crf.main(args(folder, "--scribbles", folder / "odd_mres.mat")) == 2
    assert "('sparse', 120 x 40 px) and its labels ('class', 120 x 80 px) differ in size" in _error_line(capsys)


def test_interactive_without_a_display(inputs, capsys):
    folder, _ = inputs  # conftest sets DL_TOOLS_NO_DIALOG=1: no display
    assert label_1image_crf.main(args(folder)) == 2
    assert _error_line(capsys) == ("error: no display for the labelling windows; give --scribbles FILE.png (strokes "
                                   "drawn in any paint program) or run where a display exists\n")
    assert _no_outputs(folder)


def test_outdir_that_is_a_file(inputs, capsys):
    folder, _ = inputs
    (folder / "afile").write_text("x")
    assert label_1image_crf.main(args(folder, "--scribbles", folder / "strokes.png", "--outdir",
                                      folder / "afile" / "out")) == 2
    assert f"--outdir {folder}/afile/out: {folder}/afile is a file, not a folder" in _error_line(capsys)
    assert _no_outputs(folder)


@pytest.mark.parametrize("suffix", ["_mres_color.png", "_report.txt", "_mres.png"])
def test_folder_named_like_an_output_stops_before_any_write(inputs, capsys, suffix):
    folder, _ = inputs
    (folder / "out" / f"{NAME}{suffix}").mkdir(parents=True)
    assert label_1image_crf.main(args(folder, "--scribbles", folder / "strokes.png", "--outdir", folder / "out")) == 2
    assert f"output file {folder}/out/{NAME}{suffix} is a folder" in _error_line(capsys)
    assert [p.name for p in (folder / "out").iterdir()] == [f"{NAME}{suffix}"]


def test_geotiff_without_georeferencing_is_quiet(tmp_path, quadrants):
    rasterio = pytest.importorskip("rasterio")
    image, truth = quadrants
    with rasterio.open(tmp_path / "plain.tif", "w", driver="GTiff", width=120, height=80, count=3,
                       dtype="uint8") as dst:
        dst.write(np.moveaxis(image, 2, 0))
    (tmp_path / "labels.txt").write_text("\n".join(LABELS) + "\n")
    (tmp_path / "colors.txt").write_text("r\ng\nb\ny\n")
    write_image(tmp_path / "strokes.png", few_strokes(truth))
    proc = run_script("create_groundtruth/label_1geotiff_crf.py",
                      *args(tmp_path, "--scribbles", tmp_path / "strokes.png", image=tmp_path / "plain.tif"))
    assert "NotGeoreferenced" not in proc.stderr and "has no georeferencing" in proc.stderr
    assert (tmp_path / "plain_mres.tif").exists()


@pytest.mark.parametrize("given, message", [
    ("nope.png", "--scribbles {folder}/nope.png does not exist; give a one-band PNG"),
    ("labels.txt", "--scribbles {folder}/labels.txt is neither an image nor a .mat file"),
    (".", "--scribbles {folder} is a folder, not a file"),
    ("strokes.jpg", "--scribbles {folder}/strokes.jpg is a JPEG, whose lossy compression changes the class numbers "
                    "along the strokes; save the strokes as PNG"),
    ("broken.png", "--scribbles {folder}/broken.png is not a readable image"),
])
def test_scribbles_errors_name_the_flag_and_the_file(inputs, capsys, given, message):
    folder, truth = inputs
    write_image(folder / "strokes.jpg", few_strokes(truth))
    (folder / "broken.png").write_bytes(b"not a png")
    assert label_1image_crf.main(args(folder, "--scribbles", folder / given)) == 2
    assert message.format(folder=folder) in _error_line(capsys)
    assert _no_outputs(folder)


@pytest.mark.parametrize("which, message", [("--image", "image {path} is a folder, not a file"),
                                            ("--labels", "labels file {path} is a folder, not a file")])
def test_a_folder_given_for_a_file(inputs, capsys, which, message):
    folder, _ = inputs
    argv = args(folder, "--scribbles", folder / "strokes.png")
    argv[argv.index(which) + 1] = str(folder)
    assert label_1image_crf.main(argv) == 2
    assert message.format(path=folder) in _error_line(capsys)


def _never_annotate(image, colors, session):
    raise AssertionError("no window may open")


@pytest.mark.parametrize("saved, message", [
    ("value", "--resume: saved strokes {path} holds class value 7, but there are only 4 classes"),
    ("corrupt", "--resume: saved strokes {path} is not a readable image (it may be damaged or misnamed); "
                "give --overwrite to start again, or fix or remove the file"),
    ("size", "--resume: saved strokes {path} is 10 x 10 px but the image is 120 x 80 px"),
])
def test_resume_checks_the_saved_strokes_before_any_window(inputs, saved, message):
    from dl_tools.workflows import label as workflow

    folder, truth = inputs
    path = folder / f"{NAME}_scribbles.png"
    if saved == "corrupt":
        path.write_bytes(b"half a png")
    else:
        write_image(path, np.full((10, 10) if saved == "size" else truth.shape, 7, np.uint8))
    before = path.read_bytes()
    with pytest.raises(workflow.InputError) as info:
        workflow.label_image_file(folder / f"{NAME}.png", folder / "labels.txt", folder / "colors.txt",
                                  workflow.LabelParams(scale=1.0, resume=True), annotate=_never_annotate)
    assert message.format(path=path) in str(info.value)
    assert path.read_bytes() == before and not (folder / f"{NAME}_mres.mat").exists()


def test_scale_too_small_for_the_crf(inputs, capsys):
    folder, truth = inputs
    assert label_1image_crf.main(args(folder, "--scribbles", folder / "strokes.png", "-s", "1e-9")) == 2
    assert ("-s 1e-09 shrinks the 120 x 80 px image to 1 x 1 px, too small for the CRF (at least 8 px a side); "
            "give -s 0.1 or more") in _error_line(capsys)
    assert _no_outputs(folder)
    assert label_1image_crf.main(args(folder, "--scribbles", folder / "strokes.png", "-s", "0.1")) == 0
    assert read_label_mat(folder / f"{NAME}_mres.mat").probs.shape == (8, 12, 4)


def test_smallest_working_scale_is_rounded_up():
    from dl_tools.workflows.label import check_scale

    with pytest.raises(InputError, match=r"give -s 0\.0017 or more"):
        check_scale((4912, 7360), 0.001)
    check_scale((4912, 7360), 0.0017)  # 8 x 13 px: enough
    check_scale((5, 5), 1.0)  # an image smaller than that is labelled at its own size
    with pytest.raises(InputError, match="give -s 1 or more"):
        check_scale((5, 5), 0.9)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("scale", ["0.5", "1"])
@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (6, 1)])
def test_an_image_one_pixel_wide_is_refused_at_any_scale(tmp_path, capsys, engine, scale, shape):
    """A 1 x 1 px image was told 'give -s 1 or more' at -s 0.5 and crashed in the feature gradient at -s 1."""
    write_image(tmp_path / f"{NAME}.png", np.full((*shape, 3), 90, np.uint8))
    strokes = np.zeros(shape, np.uint8)
    strokes.flat[0] = 1
    write_image(tmp_path / "strokes.png", strokes)
    (tmp_path / "labels.txt").write_text("\n".join(LABELS) + "\n")
    (tmp_path / "colors.txt").write_text("r\ng\nb\ny\n")
    argv = [*args(tmp_path, "--scribbles", tmp_path / "strokes.png", "--engine", engine), "-s", scale]
    assert label_1image_crf.main(argv) == 2
    assert (f"--image {tmp_path / NAME}.png is {shape[1]} x {shape[0]} px, too small to label (the colour features "
            "and the CRF need at least 2 px a side); give a larger image") in _error_line(capsys)
    assert _no_outputs(tmp_path)


@pytest.mark.parametrize("engine", ENGINES)
def test_an_image_two_pixels_wide_is_labelled_at_scale_1(tmp_path, engine):
    image = np.zeros((2, 9, 3), np.uint8)
    image[:, 5:] = 200
    write_image(tmp_path / f"{NAME}.png", image)
    strokes = np.zeros((2, 9), np.uint8)
    strokes[0, 0], strokes[1, 8] = 1, 2
    write_image(tmp_path / "strokes.png", strokes)
    (tmp_path / "labels.txt").write_text("\n".join(LABELS) + "\n")
    (tmp_path / "colors.txt").write_text("r\ng\nb\ny\n")
    assert label_1image_crf.main(args(tmp_path, "--scribbles", tmp_path / "strokes.png", "--engine", engine)) == 0
    assert read_label_mat(tmp_path / f"{NAME}_mres.mat").label_image.shape == (2, 9)


def test_a_decompression_bomb_is_an_unreadable_image(inputs, capsys, monkeypatch):
    """A 778-byte PNG whose header claims 60000 x 60000 px, as the image (interactive: read before any window) or as
    the strokes: the one-line error of any unreadable image, naming it, and nothing written."""
    from bad_images import png_bomb

    folder, _ = inputs
    bomb = png_bomb(folder / "bomb.png")
    strokes_bomb = png_bomb(folder / "bomb_strokes.png")
    before = sorted(folder.iterdir())
    claim = "is not a readable image (its header claims 60000 x 60000 px, more than 778 bytes of PNG can hold"
    assert label_1image_crf.main(args(folder, "--scribbles", strokes_bomb, image=bomb)) == 2
    assert _error_line(capsys).startswith(f"error: --scribbles {strokes_bomb} {claim}")
    monkeypatch.setattr("dl_tools.labelling.opencv_view.require_display", lambda: None)
    monkeypatch.setattr("dl_tools.labelling.opencv_view.annotate", _never_annotate)
    assert label_1image_crf.main(args(folder, image=bomb)) == 2
    assert _error_line(capsys).startswith(f"error: {bomb} {claim}")
    assert sorted(folder.iterdir()) == before
