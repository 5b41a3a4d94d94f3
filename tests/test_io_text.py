"""Labels, colour and labeldefs files: round trips and errors that name the file and line."""

from __future__ import annotations

import numpy as np
import pytest

from dl_tools.errors import InputError
from dl_tools.io.text import (
    check_same_length,
    read_colors,
    read_labeldefs,
    read_labels,
    write_colors,
    write_labeldefs,
    write_labels,
)


def test_labels_round_trip(tmp_path):
    path = write_labels(tmp_path / "labels.txt", ["water", "wet sand", "dune"])
    assert path.read_text() == "water\nwet sand\ndune\n"
    assert read_labels(path) == ["water", "wet sand", "dune"]


def test_labels_trailing_blank_lines_and_spaces_ignored(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("  water \r\nsand\n\n\n")
    assert read_labels(path) == ["water", "sand"]


@pytest.mark.parametrize("text, message", [
    ("water\n\nsand\n", "line 2: blank class name"),
    ("water\nsand\nwater\n", "line 3: class 'water' repeats line 1"),
    ("\n\n", "is empty"),
])
def test_bad_labels(tmp_path, text, message):
    path = tmp_path / "labels.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        read_labels(path)
    assert "labels.txt" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_labels(tmp_path / "nope.txt")


def test_colors_names_letters_and_hex(tmp_path):
    path = tmp_path / "colors.txt"
    path.write_text("r\ngray\n#00FF80\nw\n")
    assert read_colors(path).tolist() == [[255, 0, 0], [128, 128, 128], [0, 255, 128], [255, 255, 255]]
    back = read_colors(write_colors(tmp_path / "c2.txt", read_colors(path)))
    assert back.tolist() == read_colors(path).tolist()


def test_bad_color_names_line(tmp_path):
    path = tmp_path / "colors.txt"
    path.write_text("r\nnot-a-colour\n")
    with pytest.raises(InputError, match=r"colors.txt, line 2: 'not-a-colour' is not a colour"):
        read_colors(path)


def test_labels_and_colors_of_different_lengths():
    with pytest.raises(InputError, match="3 classes but colour file c.txt has 2 colours"):
        check_same_length(["a", "b", "c"], np.zeros((2, 3)), "l.txt", "c.txt")


def test_labeldefs_round_trip(tmp_path):
    path = tmp_path / "labeldefs.txt"
    path.write_text("water, 0, 0, 255\ndry_land,210,180,140\n")
    names, colors = read_labeldefs(path)
    assert names == ["water", "dry_land"] and colors.tolist() == [[0, 0, 255], [210, 180, 140]]
    names2, colors2 = read_labeldefs(write_labeldefs(tmp_path / "out.txt", names, colors))
    assert names2 == names and np.array_equal(colors2, colors)


@pytest.mark.parametrize("line, message", [
    ("water, 0, 0", "expected 'name, R, G, B'"),
    ("water, 0, 0, 256", "R, G and B must be integers 0-255"),
    ("water, a, 0, 0", "R, G and B must be integers"),
])
def test_bad_labeldefs(tmp_path, line, message):
    path = tmp_path / "labeldefs.txt"
    path.write_text(f"sand, 1, 2, 3\n{line}\n")
    with pytest.raises(InputError, match=f"line 2: {message}"):
        read_labeldefs(path)


def test_folder_given_for_a_text_file(tmp_path):
    with pytest.raises(InputError, match=f"labels file {tmp_path} is a folder, not a file"):
        read_labels(tmp_path)
