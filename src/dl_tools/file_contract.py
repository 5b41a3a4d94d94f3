"""The file contract of the steps: extensions, no-data values, and the names of every file the steps exchange.

Pure constants and path arithmetic (no file is read or written here), so every layer takes names from one place.
``OUTPUTS`` is the one table of the names a step gives the files it writes for an image; the output names of each
step (``label_outputs``, ``hybrid_outputs``, ``fcn_outputs``, ...) and the patterns a folder run skips
(``OUTPUT_PATTERNS``: no output is ever taken for a photograph) are both built from it.
"""

from __future__ import annotations

import re
from pathlib import Path

#: File extensions (lower case) of the images DL tools reads; the case of a file's extension does not matter.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
TIFF_EXTENSIONS = (".tif", ".tiff")

#: Value of a pixel without data in a label GeoTIFF, a label-ids PNG and the FCN's training labels.
LABEL_NODATA = 255

#: The manual label file of an image (step 2), which every later step reads: ``<name>_mres.mat``.
MANUAL_MARK = "_mres"
MANUAL_SUFFIX = f"{MANUAL_MARK}.mat"
#: The automatic label files of steps 6 and 8 start their suffix with this: ``<name>_ares_96.mat``,
#: ``<name>_ares.mat``, ``<name>_ares_crf.mat``.
ESTIMATE_MARK = "_ares"
#: Step 8's sample images may end in this before their extension: ``<name>_RGB.jpg``.
SAMPLE_SUFFIX = "_RGB"
#: Step 8's tag of the outputs refined by the CRF.
CRF_TAG = "_crf"
#: Step 8's label images end in this (``<name>[_crf]_label.tif``); per-class probabilities of steps 6 and 8 in the
#: other.
LABEL_MARK, PROBABILITIES_MARK = "_label", "_probabilities"
#: make_labels.py's label images for step 8, pixel value = class index: ``<name>_gtFine_labelIds.png``.
LABELIDS_SUFFIX = "_gtFine_labelIds.png"
#: Tiles written by retile: ``<image>_<row>_<col>.jpg`` in ``tile_<t>/<class>/``.
TILE_EXTENSION = ".jpg"
TILE_FOLDER = "tile_{tile}"
#: Files of a step-8 run folder.
RUN_SETTINGS, RUN_HISTORY, BEST_WEIGHTS, LAST_CHECKPOINT = ("settings.json", "history.json", "best.weights.h5",
                                                            "last.keras")
TRAINING_CURVES = "training_curves.png"
#: Step 8's class definitions (name, R, G, B per line), in the data folder or a folder above the labels.
LABELDEFS_NAME = "labeldefs.txt"
#: Step 5's outputs in the tile folder; step 7's in the estimates' folder (``PIXEL_EVAL`` + ".json", ...).
TILE_EVAL_FIGURE, TILE_EVAL_JSON = "test_cm.png", "tile_eval.json"
#: Step 5's every score with its interval, and its self-contained report page; step 7's page (``PIXEL_EVAL``).
TILE_EVAL_CSV, TILE_EVAL_HTML, REPORT_EXTENSION = "tile_eval.csv", "tile_eval.html", ".html"
PIXEL_EVAL = "pixel_eval"
PIXEL_EVAL_EXTENSIONS = (".json", ".csv")
CONFUSION_SUFFIX = "_cm.png"
#: Provenance (how an output was made, ``dl_tools.provenance_record``): the GeoTIFF metadata tag (and PNG text
#: chunk) holding the record as JSON (a .mat file holds it in a variable: ``io.mat``); a step-8 run folder's record
#: and model card (a step-4 model's are beside it: OUTPUTS["model"]).
PROVENANCE_TAG = "DL_TOOLS_PROVENANCE"
RUN_PROVENANCE, RUN_CARD, RUN_CARD_TEXT = "provenance.json", "card.json", "card.md"

#: step -> {role: suffix after ``<name>`` (and ``{tag}`` / ``{tile}``)} of the files it writes for one image
OUTPUTS = {
    "label": {"mat": MANUAL_SUFFIX, "figure": f"{MANUAL_MARK}.png", "report": "_report.txt",
              "label": f"{MANUAL_MARK}_label.png", "color": f"{MANUAL_MARK}_color.png",
              "scribbles": "_scribbles.png", "tif": f"{MANUAL_MARK}.tif"},
    "label_large": {"tif": f"{MANUAL_MARK}.tif", "preview": f"{MANUAL_MARK}_preview.png",
                    "probabilities": MANUAL_MARK + PROBABILITIES_MARK + ".tif"},
    "hybrid": {"mat": ESTIMATE_MARK + "_{tile}.mat", "figure": ESTIMATE_MARK + "_{tile}.png",
               "color": ESTIMATE_MARK + "_{tile}_color.png", "geotiff": ESTIMATE_MARK + "_{tile}.tif"},
    "hybrid_large": {"tif": ESTIMATE_MARK + "_{tile}.tif", "preview": ESTIMATE_MARK + "_{tile}_preview.png",
                     "probabilities": ESTIMATE_MARK + "_{tile}" + PROBABILITIES_MARK + ".tif"},
    "make_labels": {"labelids": LABELIDS_SUFFIX, "color": "_gtFine_color.png"},
    "fcn": {"label": "{tag}" + LABEL_MARK + ".png", "color": "{tag}_color.png", "overlay": "{tag}_overlay.png",
            "mat": ESTIMATE_MARK + "{tag}.mat", "tif": "{tag}" + LABEL_MARK + ".tif"},
    "fcn_large": {"tif": "{tag}" + LABEL_MARK + ".tif", "preview": "{tag}_preview.png",
                  "probabilities": "{tag}" + PROBABILITIES_MARK + ".tif"},
    "evaluation": {"confusion": CONFUSION_SUFFIX},
    "model": {"provenance": ".provenance.json", "card": ".card.json", "card_text": ".card.md"},
    "label_web": {"scribbles": "_scribbles.png", "history": "_scribbles.json"},
}
#: The web labeller's page, in the package (labelling/static/).
WEB_PAGE = "index.html"
#: whole file names DL tools writes in folders that may hold photographs
OUTPUT_NAMES = (TRAINING_CURVES, TILE_EVAL_FIGURE, TILE_EVAL_CSV, TILE_EVAL_HTML, RUN_PROVENANCE, RUN_CARD,
                RUN_CARD_TEXT)


def _paths(step: str, folder: Path, name: str, roles=None, **fields) -> dict[str, Path]:
    suffixes = OUTPUTS[step]
    return {role: Path(folder) / f"{name}{suffixes[role].format(**fields)}" for role in (roles or suffixes)}


def label_outputs(folder: Path, name: str, geotiff: bool) -> dict[str, Path]:
    """Step 2's files for image ``<name>.<ext>``, by role (``tif`` only for a GeoTIFF)."""
    roles = [role for role in OUTPUTS["label"] if geotiff or role != "tif"]
    return _paths("label", folder, name, roles)


def label_large_outputs(folder: Path, name: str, probabilities: bool) -> dict[str, Path]:
    """Step 2's files for a raster labelled by windows, by role."""
    roles = [role for role in OUTPUTS["label_large"] if probabilities or role != "probabilities"]
    return _paths("label_large", folder, name, roles)


def label_web_outputs(folder: Path, name: str) -> dict[str, Path]:
    """The web labeller's files for image ``<name>.<ext>`` (its strokes and their history), by role."""
    return _paths("label_web", folder, name)


def hybrid_outputs(folder: Path, name: str, tile: int) -> dict[str, Path]:
    """Step 6's files for image ``<name>.<ext>`` segmented with tiles of ``tile`` px, by role."""
    return _paths("hybrid", folder, name, tile=tile)


def hybrid_large_outputs(folder: Path, name: str, tile: int, probabilities: bool) -> dict[str, Path]:
    """Step 6's files for a raster segmented by windows, by role."""
    roles = [role for role in OUTPUTS["hybrid_large"] if probabilities or role != "probabilities"]
    return _paths("hybrid_large", folder, name, roles, tile=tile)


def fcn_outputs(folder: Path, base: str, tag: str, georeferenced: bool) -> dict[str, Path]:
    """Step 8's files for sample ``<base>[_RGB].<ext>`` (``tag`` "" or ``CRF_TAG``), by role."""
    roles = [role for role in OUTPUTS["fcn"] if georeferenced or role != "tif"]
    return _paths("fcn", folder, base, roles, tag=tag)


def fcn_large_outputs(folder: Path, base: str, tag: str, probabilities: bool) -> dict[str, Path]:
    """Step 8's files for a raster labelled by windows, by role."""
    roles = [role for role in OUTPUTS["fcn_large"] if probabilities or role != "probabilities"]
    return _paths("fcn_large", folder, base, roles, tag=tag)


def raster_estimate(path: str | Path) -> tuple[str, str] | None:
    """(base, kind) of a label GeoTIFF written by step 6 (``<base>_ares_96.tif``) or step 8
    (``<base>[_crf]_label.tif``), with the kind of the ``.mat`` it stands for (``_ares_96``, ``_ares``,
    ``_ares_crf``); None for any other file (the probabilities among them)."""
    path = Path(path)
    stem = path.stem
    if path.suffix.lower() not in TIFF_EXTENSIONS or stem.endswith(PROBABILITIES_MARK):
        return None
    if stem.endswith(LABEL_MARK):
        stem = stem[: -len(LABEL_MARK)]
        tag = CRF_TAG if stem.endswith(CRF_TAG) else ""
        base = stem[: len(stem) - len(tag)]
        return (base, ESTIMATE_MARK + tag) if base else None
    cut = stem.rfind(ESTIMATE_MARK)
    return (stem[:cut], stem[cut:]) if cut > 0 else None


def label_id_outputs(folder: Path, name: str) -> dict[str, Path]:
    """make_labels.py's files for ``<name>_mres.mat``: labelids and color."""
    return _paths("make_labels", folder, name)


def model_sidecars(model: Path) -> dict[str, Path]:
    """The files beside a step-4 model ``<name>.pb``: its provenance record and model card (JSON and Markdown),
    by role."""
    return _paths("model", Path(model).parent, Path(model).stem)


def run_sidecars(run_dir: Path) -> dict[str, Path]:
    """The provenance record and model card of a step-8 run folder, by the roles of ``model_sidecars``."""
    return {role: Path(run_dir) / name for role, name in
            zip(OUTPUTS["model"], (RUN_PROVENANCE, RUN_CARD, RUN_CARD_TEXT))}


def tile_folder(folder: Path, tile: int) -> Path:
    """``<folder>/tile_<tile>``: where retile writes the class folders of tiles of ``tile`` px."""
    return Path(folder) / TILE_FOLDER.format(tile=tile)


_TILE_FOLDER = re.compile("^" + TILE_FOLDER.format(tile=r"\d+") + "$")


def is_tile_folder(path: str | Path) -> bool:
    """Whether ``path`` is named as a tile folder of retile (``tile_<t>``)."""
    return _TILE_FOLDER.match(Path(path).name) is not None


def pixel_eval_outputs(folder: Path) -> tuple[Path, Path]:
    """Step 7's files of scores in the estimates' folder: ``pixel_eval.json``, ``pixel_eval.csv``."""
    return tuple(Path(folder) / f"{PIXEL_EVAL}{extension}" for extension in PIXEL_EVAL_EXTENSIONS)


def tile_eval_outputs(folder: Path) -> tuple[Path, Path, Path, Path]:
    """Step 5's files in the tile folder: ``test_cm.png``, ``tile_eval.json``, ``tile_eval.csv``,
    ``tile_eval.html``."""
    return tuple(Path(folder) / name for name in (TILE_EVAL_FIGURE, TILE_EVAL_JSON, TILE_EVAL_CSV, TILE_EVAL_HTML))


def pixel_eval_report(folder: Path) -> Path:
    """Step 7's self-contained report page in the estimates' folder: ``pixel_eval.html``."""
    return Path(folder) / f"{PIXEL_EVAL}{REPORT_EXTENSION}"


def manual_name(path: Path) -> str:
    """``<name>`` of a manual label file ``<name>_mres.mat``."""
    return Path(path).name[: -len(MANUAL_SUFFIX)]


def sample_name(path: Path) -> str:
    """``<name>`` of a step-8 sample ``<name>_RGB.<ext>`` (or ``<name>.<ext>``)."""
    stem = Path(path).stem
    return stem[: -len(SAMPLE_SUFFIX)] if stem.endswith(SAMPLE_SUFFIX) else stem


def tile_file_name(source: str, row: int, col: int) -> str:
    """``<source>_<row>_<col>.jpg``: the name of the tile of photograph ``source`` whose top-left corner is at
    pixel (row, col)."""
    return f"{source}_{row}_{col}{TILE_EXTENSION}"


_TILE_STEM = re.compile(r"^(?P<source>.+)_\d+_\d+$")


def tile_source(path: str | Path) -> str | None:
    """The photograph a tile was cut from: ``<source>`` of a tile named by ``tile_file_name`` (any image
    extension), or None for a file not named so."""
    match = _TILE_STEM.match(Path(path).stem)
    return match.group("source") if match else None


def _pattern(suffix: str) -> str:
    """The shell pattern of the names ending in ``suffix``, its fields ({tag}, {tile}) matching anything."""
    return re.sub(r"\*+", "*", "*" + re.sub(r"\{\w+\}", "*", suffix))


#: Names (shell patterns, any case) of the files DL tools writes: never photographs of a folder run.
OUTPUT_PATTERNS = tuple(dict.fromkeys(
    [_pattern(suffix) for step in OUTPUTS.values() for suffix in step.values()] + list(OUTPUT_NAMES)))
