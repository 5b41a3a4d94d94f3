"""Outputs of a step appear together or not at all (io.atomic.atomic_outputs), temporary names are never read and
are removed by the next run (io.atomic.is_temporary_name, remove_stale_temporaries), and errors name the final
path, never a temporary one: the unit, then steps 2, 3, 6, 8a and 8c on tiny inputs."""

from __future__ import annotations

import errno
import os
import time

import numpy as np
import pytest

from dl_tools.io import atomic
from dl_tools.io.atomic import (
    atomic_outputs,
    atomic_path,
    is_temporary_name,
    remove_stale_temporaries,
    write_text_atomic,
)
from dl_tools.io.images import list_images, write_image
from dl_tools.io.mat import LabelFile, read_label_mat, write_label_mat

STALE = "abcd1234"  # eight characters as tempfile makes them


def _make_stale(path, content=b"", tiles=()):
    """``path`` (a file, or a folder of ``tiles`` when ``content`` is None) dated an hour ago, like a leftover of a
    killed run."""
    if content is None:
        path.mkdir(parents=True)
        for tile in tiles:
            write_image(path / tile, np.zeros((32, 32, 3), np.uint8))
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    hour_ago = time.time() - 3600
    os.utime(path, (hour_ago, hour_ago))
    return path


def _temporaries(folder):
    return sorted(p.name for p in folder.rglob("*") if is_temporary_name(p))


@pytest.mark.parametrize("name, temporary", [
    (f".tmp-{STALE}-a_mres.mat", True), (f".tmp-{STALE}-.tmp-x1y2z3_4-a.png", True), (f".tile_96.{STALE}", True),
    (".tile_96.old", True), (f".split-{STALE}", True), ("a_mres.mat", False), (".tmp-a_mres.mat", False),
    ("tile_96", False), (".tile_96", False), ("tmp-abcd1234-a.png", False), (".DS_Store", False),
])
def test_temporary_names(name, temporary):
    assert is_temporary_name(name) is temporary


def test_outputs_are_renamed_together_the_mat_last(tmp_path, monkeypatch):
    finals = {"mat": tmp_path / "a_mres.mat", "label": tmp_path / "a_label.png", "report": tmp_path / "r.txt"}
    renamed = []
    real_replace = os.replace
    monkeypatch.setattr(atomic.os, "replace", lambda src, dst: (renamed.append(dst), real_replace(src, dst)))
    with atomic_outputs(finals) as tmp:
        assert set(tmp) == set(finals) and not any(path.exists() for path in tmp.values())
        for role, path in tmp.items():
            path.write_text(role)
        assert not any(path.exists() for path in finals.values())
    assert renamed == [finals["label"], finals["report"], finals["mat"]]
    assert all(path.read_text() == role for role, path in finals.items()) and _temporaries(tmp_path) == []
    assert (finals["mat"].stat().st_mode & 0o777) == atomic.new_mode()


def test_an_interrupt_in_the_block_leaves_nothing(tmp_path):
    finals = {"mat": tmp_path / "a_mres.mat", "label": tmp_path / "a_label.png"}
    with pytest.raises(KeyboardInterrupt), atomic_outputs(finals) as tmp:
        tmp["label"].write_text("half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def _interrupt_at_second_rename(monkeypatch):
    """Make the second rename of a finished temporary file to its final name raise KeyboardInterrupt; returns the
    final names renamed to (including the one interrupted)."""
    real_replace, renamed = os.replace, []

    def replace(src, dst):
        if is_temporary_name(src) and not is_temporary_name(dst):
            renamed.append(dst)
            if len(renamed) == 2:
                raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    return renamed


@pytest.mark.parametrize("existing", [False, True])
def test_an_interrupt_at_the_second_rename_undoes_the_first_and_puts_old_files_back(tmp_path, monkeypatch,
                                                                                      existing):
    finals = {"label": tmp_path / "a_label.png", "color": tmp_path / "a_color.png", "mat": tmp_path / "a_mres.mat"}
    if existing:
        for path in finals.values():
            path.write_text("old")
    renamed = _interrupt_at_second_rename(monkeypatch)
    with pytest.raises(KeyboardInterrupt), atomic_outputs(finals) as tmp:
        for path in tmp.values():
            path.write_text("new")
    assert renamed[:2] == [finals["label"], finals["color"]] and _temporaries(tmp_path) == []
    if existing:
        assert all(path.read_text() == "old" for path in finals.values())
    else:
        assert list(tmp_path.iterdir()) == []


def test_errors_name_the_final_path_not_the_temporary_one(tmp_path):
    final = tmp_path / "a_mres.mat"
    with pytest.raises(OSError) as info, atomic_outputs({"mat": final}) as tmp:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp["mat"]))
    assert info.value.filename == str(final) and ".tmp-" not in str(info.value)
    with pytest.raises(ValueError, match=f"could not write {final}$"), atomic_path(final) as tmp:
        raise ValueError(f"could not write {tmp}")
    with pytest.raises(ValueError) as info, atomic_outputs({"mat": final}) as tmp:
        write_label_mat(tmp["mat"], LabelFile(np.zeros((2, 2), np.uint8), ["a", ""]))  # an empty class name
    assert str(final) in str(info.value) and ".tmp-" not in str(info.value)


def test_a_refused_temporary_file_is_named_by_its_final_path(tmp_path, monkeypatch):
    def refused(prefix, suffix, dir):  # what mkstemp raises in a folder without write permission
        raise PermissionError(errno.EACCES, "Permission denied", os.path.join(dir, f"{prefix}{STALE}{suffix}"))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refused)
    with pytest.raises(PermissionError) as info:
        write_text_atomic(tmp_path / "r.txt", "x")
    assert info.value.filename == str(tmp_path / "r.txt")


def test_stale_temporaries_are_removed_new_ones_and_other_files_kept(tmp_path, caplog):
    started = time.time()
    old_file = _make_stale(tmp_path / f".tmp-{STALE}-a_mres.mat")
    old_folder = _make_stale(tmp_path / f".tile_96.{STALE}", None, ["sand/x_0_0.jpg"])
    other = _make_stale(tmp_path / ".hidden_of_the_user")
    kept = tmp_path / f".tmp-{STALE}-b_mres.mat"  # being written by a run that started after this one
    kept.write_bytes(b"")
    os.utime(kept, (started + 1, started + 1))
    with caplog.at_level("INFO", logger="dl_tools"):
        assert remove_stale_temporaries(tmp_path, started, pattern=".tile_96.*") == 1
        assert remove_stale_temporaries(tmp_path, started) == 1
    assert not old_file.exists() and not old_folder.exists() and other.exists() and kept.exists()
    assert remove_stale_temporaries(tmp_path / "missing", started) == 0


def test_folder_listings_skip_temporary_files(tmp_path):
    write_image(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    _make_stale(tmp_path / f".tmp-{STALE}-b.png", b"")
    assert list_images(tmp_path) == [tmp_path / "a.png"]


# --- step 2 ---------------------------------------------------------------------------------------------------

@pytest.fixture
def label_inputs(tmp_path, quadrants):
    from test_crf import few_strokes

    image, truth = quadrants
    write_image(tmp_path / "img.png", image)
    (tmp_path / "labels.txt").write_text("red\ngreen\nblue\nyellow\n")
    (tmp_path / "colors.txt").write_text("r\ng\nb\ny\n")
    write_image(tmp_path / "strokes.png", few_strokes(truth))
    return tmp_path


def _label(folder, *extra):
    from dl_tools.cli import label_1image_crf

    return label_1image_crf.main(["-s", "0.5", "--image", str(folder / "img.png"), "--labels",
                                  str(folder / "labels.txt"), "--colors", str(folder / "colors.txt"),
                                  "--scribbles", str(folder / "strokes.png"), "--outdir", str(folder / "out"),
                                  *extra])


STEP2_OUTPUTS = {"img_mres.mat", "img_mres.png", "img_report.txt", "img_mres_label.png", "img_mres_color.png"}


def test_step2_interrupted_while_writing_leaves_no_output_and_a_rerun_works(label_inputs, monkeypatch, capsys):
    from dl_tools.io import figures

    real_save = figures.save_figure

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(figures, "save_figure", interrupted)  # after the .mat and the label PNGs are written
    assert _label(label_inputs, "-q") == 130
    assert list((label_inputs / "out").iterdir()) == []
    monkeypatch.setattr(figures, "save_figure", real_save)
    assert _label(label_inputs, "-q") == 0  # no --overwrite needed
    assert {p.name for p in (label_inputs / "out").iterdir()} == STEP2_OUTPUTS


def test_step2_interrupted_at_the_second_rename_leaves_no_output(label_inputs, monkeypatch):
    renamed = _interrupt_at_second_rename(monkeypatch)
    assert _label(label_inputs, "-q") == 130
    assert len(renamed) == 2 and list((label_inputs / "out").iterdir()) == []
    monkeypatch.undo()
    assert _label(label_inputs, "-q") == 0
    assert {p.name for p in (label_inputs / "out").iterdir()} == STEP2_OUTPUTS


def test_step2_removes_a_stale_temporary_and_names_the_output_in_errors(label_inputs, monkeypatch, capsys):
    from dl_tools.io import images

    stale = _make_stale(label_inputs / "out" / f".tmp-{STALE}-img_mres.mat")

    def disk_full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(images, "write_image", disk_full)
    assert _label(label_inputs) == 2
    err = capsys.readouterr().err
    assert f"removed 1 leftover temporary file of an interrupted run in {label_inputs / 'out'}" in err
    assert f"error: {label_inputs / 'out' / 'img_mres_label.png'}: No space left on device" in err
    assert ".tmp-" not in err and not stale.exists() and list((label_inputs / "out").iterdir()) == []


# --- step 3 ---------------------------------------------------------------------------------------------------

def test_retile_removes_a_stale_staging_folder_and_never_reads_it(tmp_path, capsys):
    from dl_tools.cli import retile

    label_image = np.zeros((64, 64), np.uint8)
    label_image[:, 32:] = 1
    write_image(tmp_path / "scene.jpg", np.full((64, 64, 3), 120, np.uint8))
    write_label_mat(tmp_path / "scene_mres.mat", LabelFile(label_image, ["sand", "water"]))
    staging = _make_stale(tmp_path / f".tile_32.{STALE}", None, [f"sand/old_{k}_0.jpg" for k in range(3)])
    _make_stale(tmp_path / ".tile_32.old", content=None)
    _make_stale(tmp_path / f".tmp-{STALE}-other_mres.mat", b"")  # a truncated label file: never read
    other_size = _make_stale(tmp_path / f".tile_16.{STALE}", content=None)  # not this run's: kept
    assert retile.main(["-i", str(tmp_path), "-t", "32", "-j", "1"]) == 0
    err = capsys.readouterr().err
    assert f"removed 2 leftover temporary files of an interrupted run in {tmp_path}" in err
    assert not staging.exists() and not (tmp_path / ".tile_32.old").exists() and other_size.exists()
    tiles = sorted(p.name for p in (tmp_path / "tile_32").rglob("*.jpg"))
    assert tiles and all(name.startswith("scene_") for name in tiles)


def test_retile_errors_name_the_tile_folder_not_the_staging_folder(tmp_path, monkeypatch, capsys):
    from dl_tools.cli import retile
    from dl_tools.io import images

    write_image(tmp_path / "scene.jpg", np.full((64, 64, 3), 120, np.uint8))
    write_label_mat(tmp_path / "scene_mres.mat", LabelFile(np.zeros((64, 64), np.uint8), ["sand"]))

    def disk_full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(images, "write_image", disk_full)
    assert retile.main(["-i", str(tmp_path), "-t", "32", "-j", "1", "-q"]) == 2
    err = capsys.readouterr().err
    assert f"error: {tmp_path / 'tile_32' / 'sand'}" in err and ".tile_32." not in err and ".tmp-" not in err
    assert _temporaries(tmp_path) == [] and not (tmp_path / "tile_32").exists()


# --- step 6 ---------------------------------------------------------------------------------------------------

def test_step6_interrupted_while_writing_leaves_no_output_and_a_rerun_works(tmp_path, quadrants, monkeypatch):
    from test_hybrid import LABELS, QUADRANT_COLORS, MeanColourClassifier, fast_params

    from dl_tools.io import figures
    from dl_tools.io.text import write_labeldefs, write_labels
    from dl_tools.workflows.hybrid import segment_files

    write_image(tmp_path / "IMG_1.png", quadrants[0])
    write_labels(tmp_path / "labels.txt", LABELS)
    write_labeldefs(tmp_path / "labeldefs.txt", LABELS, QUADRANT_COLORS.astype(np.uint8))
    (tmp_path / "model.pb").write_bytes(b"")
    stale = _make_stale(tmp_path / "out" / f".tmp-{STALE}-IMG_1_ares_16.mat")

    def run():
        return segment_files([tmp_path / "IMG_1.png"], tmp_path / "model.pb", tmp_path / "labels.txt",
                             tmp_path / "labeldefs.txt", fast_params(decim=2), outdir=tmp_path / "out",
                             classifier=MeanColourClassifier())

    real_save = figures.save_figure

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(figures, "save_figure", interrupted)  # the .mat and the colour image are written first
    with pytest.raises(KeyboardInterrupt):
        run()
    assert list((tmp_path / "out").iterdir()) == [] and not stale.exists()
    monkeypatch.setattr(figures, "save_figure", real_save)
    (output,) = run().outputs  # no overwrite needed
    assert read_label_mat(output.mat).shape == (80, 120) and output.figure.is_file() and output.color.is_file()


# --- step 8a --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("leftover", [b"", b"MATLAB 5.0 MAT-file, truncated"])
def test_make_labels_skips_and_removes_a_leftover_label_file(tmp_path, capsys, leftover):
    from dl_tools.cli import make_labels
    from dl_tools.io.text import write_labeldefs

    write_labeldefs(tmp_path / "labeldefs.txt", ["sand", "water"], np.array([[200, 200, 0], [0, 0, 200]], np.uint8))
    for name in ("a", "b"):
        write_label_mat(tmp_path / f"{name}_mres.mat", LabelFile(np.eye(4, dtype=np.uint8), ["sand", "water"]))
    stale = _make_stale(tmp_path / f".tmp-{STALE}-a_mres.mat", leftover)
    assert make_labels.main([str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert f"removed 1 leftover temporary file of an interrupted run in {tmp_path}" in err
    assert not stale.exists() and _temporaries(tmp_path) == []
    assert sorted(p.name for p in tmp_path.glob("*_gtFine_*")) == [
        "a_gtFine_color.png", "a_gtFine_labelIds.png", "b_gtFine_color.png", "b_gtFine_labelIds.png"]


# --- step 8c --------------------------------------------------------------------------------------------------

def test_step8_interrupted_while_writing_leaves_no_output_and_a_rerun_works(tmp_path, quadrants, monkeypatch):
    from dl_tools.workflows import fcn_infer

    image, truth = quadrants
    run = fcn_infer.RunModel(model=None, labels=["red", "green", "blue", "yellow"],
                             colors=np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], np.uint8),
                             tile_shape=(32, 32), scale=(1.0, 1.0))
    probs = np.eye(4, dtype=np.float32)[truth]
    write_image(tmp_path / "img.png", image)
    paths = fcn_infer.output_paths(tmp_path / "out", tmp_path / "img.png", "", georeferenced=False)
    real_write = fcn_infer.write_label_mat

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fcn_infer, "write_label_mat", interrupted)  # the three images are written first
    with pytest.raises(KeyboardInterrupt):
        fcn_infer._write_outputs(paths, tmp_path / "img.png", image, truth.astype(np.uint8), probs, run, None)
    assert list((tmp_path / "out").iterdir()) == []
    monkeypatch.setattr(fcn_infer, "write_label_mat", real_write)
    fcn_infer._write_outputs(paths, tmp_path / "img.png", image, truth.astype(np.uint8), probs, run, None)
    assert all(path.is_file() for path in paths.values()) and _temporaries(tmp_path) == []
