"""Method 2, step 8a: label images for the fully convolutional network from ``*_mres.mat`` label files.

For each ``<name>_mres.mat`` in a folder, writes beside it:

- ``<name>_gtFine_labelIds.png``: one-band uint8 PNG whose pixel values are the class indices in labeldefs order
  (what train.py reads), 255 (``io.geotiff.LABEL_NODATA``) where the .mat's ``nodata`` mask marks pixels without
  data (train.py never trains on those), with its provenance record (the .mat and labeldefs.txt it was made from)
  in a text chunk (``io.images.write_png_with_record``);
- ``<name>_gtFine_color.png``: the same map painted in the labeldefs colours (for people), black without data.

Classes are matched by name between the .mat ``labels`` and labeldefs.txt (the legacy matched them by position and
swapped two demo colours). The legacy disk(7) median filter is applied only when asked (``median_radius``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..file_contract import MANUAL_SUFFIX, label_id_outputs, manual_name
from ..io.atomic import check_can_write, is_temporary_name, remove_stale_temporaries
from ..io.geotiff import mask_nodata
from ..io.images import check_input_dir, write_image, write_png_with_record
from ..io.mat import read_label_mat
from ..io.text import match_class_names, read_labeldefs
from ..plotting import colorize
from ..provenance_record import build_record, input_file

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class MakeLabelsParams:
    """median_radius: radius in pixels of the disk of the optional median filter of the class map (0 = none; the
    legacy used 7). overwrite: replace existing label images."""

    median_radius: int = 0
    overwrite: bool = False

    def __post_init__(self):
        if self.median_radius < 0:
            raise InputError(f"--median must be 0 (no filter) or a positive radius in pixels, got {self.median_radius}")


@dataclass
class MakeLabelsResult:
    labeldefs: Path
    written: list[Path]


def class_index_map(mat_labels: list[str], labeldefs_labels: list[str], mat_path, labeldefs_path) -> np.ndarray:
    """(M,) int array: index in labeldefs of each .mat class, matched by name (exactly, else ignoring case and
    punctuation: ``io.text.match_class_names``); InputError listing both sets."""
    matches = match_class_names(mat_labels, labeldefs_labels)
    missing = [name for name, k in zip(mat_labels, matches) if k is None]
    if missing:
        raise InputError(f"{mat_path} has classes {missing} that are not in {labeldefs_path}; .mat classes: "
                         f"{mat_labels}; labeldefs classes: {labeldefs_labels}; add the missing classes to "
                         "labeldefs.txt (name, R, G, B)")
    return np.asarray(matches, dtype=np.int64)


def median_filter_labels(label_image: np.ndarray, radius: int) -> np.ndarray:
    """(H, W) uint8 class map -> median of the class indices in a disk of ``radius`` pixels (the legacy filter)."""
    from skimage.filters.rank import median
    from skimage.morphology import disk

    return median(np.asarray(label_image, dtype=np.uint8), disk(radius))


def find_manual_labels(folder: str | Path) -> list[Path]:
    """The sorted ``*_mres.mat`` files in ``folder`` (temporary files of a writer left out); InputError when it is not
    a folder or holds none."""
    folder = check_input_dir(folder, "DIR", f"give the folder that holds the *{MANUAL_SUFFIX} files")
    mats = sorted(p for p in folder.glob(f"*{MANUAL_SUFFIX}") if not is_temporary_name(p))
    if not mats:
        raise InputError(f"DIR: no *{MANUAL_SUFFIX} files in {folder}; give the folder that holds them "
                         "(e.g. demo_data/data/labels/gtFine/train/data)")
    return mats


def make_labels(folder: str | Path, labeldefs: str | Path, params: MakeLabelsParams) -> MakeLabelsResult:
    """Write the two label images of every ``*_mres.mat`` in ``folder`` (see module doc); returns the files written.

    Every .mat is read and checked before anything is written; existing outputs are refused unless
    ``params.overwrite``. Temporary files that an interrupted run left in ``folder`` are removed.
    """
    from ..terminal import progress

    started = time.time()
    folder, labeldefs = Path(folder), Path(labeldefs)
    mats = find_manual_labels(folder)
    remove_stale_temporaries(folder, started)
    names, colors = read_labeldefs(labeldefs)
    if len(names) > 255:
        raise InputError(f"{labeldefs} defines {len(names)} classes; label images hold at most 255")
    plan = []
    for mat in mats:
        outputs = label_id_outputs(folder, manual_name(mat))
        targets = [check_can_write(path, params.overwrite) for path in outputs.values()]
        class_index_map(read_label_mat(mat).labels, names, mat, labeldefs)  # check every file before writing
        plan.append((mat, targets))
    written = []
    for mat, (ids_path, color_path) in progress(plan, desc="label images", unit="file"):
        label_file = read_label_mat(mat)
        lookup = class_index_map(label_file.labels, names, mat, labeldefs)
        label_image = lookup[label_file.label_image].astype(np.uint8)
        if params.median_radius:
            label_image = median_filter_labels(label_image, params.median_radius)
        label_image = mask_nodata(label_image, label_file.nodata)
        record = build_record("make_labels", params, [input_file("mat", mat), input_file("labeldefs", labeldefs)])
        write_png_with_record(ids_path, label_image, record)
        write_image(color_path, colorize(label_image, colors))
        written += [ids_path, color_path]
    log.debug("wrote %d label images in %s (classes from %s)", len(written), folder, labeldefs)
    return MakeLabelsResult(labeldefs=labeldefs, written=written)
