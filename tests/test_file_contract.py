"""The file contract (dl_tools.file_contract): one table of names, from which the output names of the steps and
the patterns a folder run skips are built; no other module of the package spells a suffix."""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

import pytest

from dl_tools import file_contract as contract

PACKAGE = Path(contract.__file__).parent


def skipped(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name.lower(), pattern.lower()) for pattern in contract.OUTPUT_PATTERNS)


def every_output(folder: Path) -> list[Path]:
    return [*contract.label_outputs(folder, "IMG_1", geotiff=True).values(),
            *contract.hybrid_outputs(folder, "IMG_1", 96).values(),
            *contract.label_id_outputs(folder, "IMG_1").values(),
            *(path for tag in ("", contract.CRF_TAG)
              for outputs in (contract.fcn_outputs(folder, "IMG_1", tag, georeferenced=True),
                              contract.fcn_large_outputs(folder, "IMG_1", tag, probabilities=True))
              for path in outputs.values()),
            folder / contract.TRAINING_CURVES, folder / contract.TILE_EVAL_FIGURE,
            folder / f"IMG_1_ares_96{contract.CONFUSION_SUFFIX}", folder / f"{contract.PIXEL_EVAL}_ares_crf_cm.png"]


def test_known_names():
    folder = Path("out")
    assert contract.label_outputs(folder, "a", geotiff=False) == {
        "mat": folder / "a_mres.mat", "figure": folder / "a_mres.png", "report": folder / "a_report.txt",
        "label": folder / "a_mres_label.png", "color": folder / "a_mres_color.png",
        "scribbles": folder / "a_scribbles.png"}
    assert contract.hybrid_outputs(folder, "a", 96)["mat"] == folder / "a_ares_96.mat"
    assert contract.fcn_outputs(folder, "a", "_crf", georeferenced=True)["mat"] == folder / "a_ares_crf.mat"
    assert contract.fcn_outputs(folder, "a", "", georeferenced=True)["tif"] == folder / "a_label.tif"
    assert set(contract.fcn_large_outputs(folder, "a", "", probabilities=False)) == {"tif", "preview"}
    assert contract.label_id_outputs(folder, "a")["labelids"] == folder / "a_gtFine_labelIds.png"
    assert contract.sample_name(Path("x/b_RGB.jpg")) == "b" and contract.sample_name(Path("c.png")) == "c"
    assert contract.manual_name(Path("d_mres.mat")) == "d"
    assert contract.tile_source(contract.tile_file_name("IMG_7", 48, 96)) == "IMG_7"


def test_every_output_of_every_step_is_skipped_by_folder_runs():
    names = [path.name for path in every_output(Path("f"))]
    assert len(names) > 25 and [name for name in names if not skipped(name)] == []


def test_every_role_of_the_table_is_skipped_by_folder_runs():
    """Built from OUTPUTS itself, so a role added to the table is checked without changing this test."""
    names = [f"DSC_0001{suffix.format(tile=tile, tag=tag)}" for step in contract.OUTPUTS.values()
             for suffix in step.values() for tile in (32, 224) for tag in ("", contract.CRF_TAG)]
    assert [name for name in names if not skipped(name)] == []
    assert [name for name in names if not skipped(name.upper())] == []  # any case


def test_tile_folder_and_pixel_eval_names():
    assert contract.tile_folder(Path("train"), 96) == Path("train/tile_96")
    assert contract.is_tile_folder(Path("train/tile_96")) and not contract.is_tile_folder("tile_x")
    assert not contract.is_tile_folder("tile_96_old") and not contract.is_tile_folder(".tile_96.old")
    assert contract.pixel_eval_outputs(Path("t")) == (Path("t/pixel_eval.json"), Path("t/pixel_eval.csv"))


@pytest.mark.parametrize("name", ["colour_survey.png", "label_site_color2.jpg", "overlay.png", "IMG_cmyk.png",
                                  "Scribbles_1.jpg", "DSC0001.JPG", "mres.png", "ares.tif"])
def test_photographs_that_resemble_outputs_are_not_skipped(name):
    assert not skipped(name)


def literal_strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of the string constants of a module outside its docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


KNOWN = ("_mres.mat", "_mres.png", "_mres_label.png", "_mres_color.png", "_mres.tif", "_scribbles.png",
         "_report.txt", "_gtFine_labelIds.png", "_gtFine_color.png", "best.weights.h5", "last.keras",
         "settings.json", "history.json", "training_curves.png", "test_cm.png", "tile_eval.json", "labeldefs.txt",
         "_cm.png", "_ares", "_label.png", "_color.png", "_overlay.png", "_label.tif", "_preview.png",
         "_probabilities.tif", "pixel_eval")
#: names too short or too common to tell a file name from a word: "_crf" ends command names (fcn_infer_crf),
#: "_RGB" and the extensions are used for their own sake
COMMON = {contract.CRF_TAG, contract.SAMPLE_SUFFIX, contract.TILE_EXTENSION}


def contract_names() -> set[str]:
    """Every name the contract spells: its string constants and the fixed parts of the OUTPUTS suffixes."""
    constants = {value for name, value in vars(contract).items()
                 if name.isupper() and isinstance(value, str) and "{" not in value}
    suffixes = [suffix for step in contract.OUTPUTS.values() for suffix in step.values()] + [contract.TILE_FOLDER]
    parts = {part for suffix in suffixes for part in re.split(r"\{\w+\}", suffix) if "_" in part and len(part) > 4}
    return (constants | parts) - COMMON


SUFFIXES = tuple(sorted(set(KNOWN) | contract_names()))


def test_the_names_checked_are_those_of_the_contract():
    assert set(KNOWN) <= contract_names(), set(KNOWN) - contract_names()
    assert {"_ares", "_ares_", "tile_"} <= set(SUFFIXES) and "_crf" not in SUFFIXES


@pytest.mark.parametrize("path", sorted(p for p in PACKAGE.rglob("*.py") if p.name != "file_contract.py"),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_but_the_contract_spells_a_file_name(path):
    """A suffix written as code (not in a message about it) outside file_contract.py would drift from the table:
    messages may name files, so only strings that are exactly a suffix, or build a path with one, count."""
    found = [(line, text) for line, text in literal_strings(path)
             if text in SUFFIXES or any(text.endswith(suffix) and " " not in text for suffix in SUFFIXES)]
    assert not found, f"use dl_tools.file_contract instead: {found}"
