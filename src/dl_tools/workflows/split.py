"""Tutorial step 1: split a folder of images into ``train/`` and ``test/`` beside it, and copy label files there."""

from __future__ import annotations

import filecmp
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..file_contract import MANUAL_SUFFIX, manual_name
from ..io.atomic import atomic_path, check_output_dir, check_output_file, is_temporary_name
from ..io.images import check_input_dir, find_images, image_shape, is_image_file, list_images, read_raw
from ..terminal import count, progress

log = logging.getLogger(__name__)

SHOWN = 3  # file names listed in a message before "and N more"


@dataclass(frozen=True)
class SplitParams:
    """train_fraction: share of the images copied to train/ (the tutorial's -p), strictly between 0 and 1.
    seed: random seed, a non-negative integer (same seed + same files = same split). move: move instead of copy.
    overwrite: replace the images already in train/ and test/ (other files there are kept); refused for any of them
    without an identical copy in the input folder (it would be lost)."""

    train_fraction: float = 0.5
    seed: int | None = 0
    move: bool = False
    overwrite: bool = False

    def __post_init__(self):
        if not 0.0 < self.train_fraction < 1.0:
            raise InputError(f"-p must be strictly between 0 and 1, got {self.train_fraction}")
        if self.seed is not None and self.seed < 0:
            raise InputError(f"--seed must be a non-negative integer, got {self.seed}")


@dataclass
class SplitResult:
    train_dir: Path
    test_dir: Path
    train: list[str]
    test: list[str]


def _existing_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_image_file(p)) if folder.is_dir() else []


def _listed(paths: list[Path]) -> str:
    """The first few of ``paths``, comma-separated, with the count of the rest."""
    more = f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else ""
    return ", ".join(map(str, paths[:SHOWN])) + more


def _check_images(input_dir: Path, images: list[Path]) -> None:
    """Refuse two images of one name with different extensions (their label files would clash) and any image
    whose pixels cannot be decoded (each is decoded whole, one at a time: a file cut short by an interrupted copy
    has a header that reads), before anything is copied."""
    by_stem: dict[str, list[Path]] = {}
    for image in images:
        by_stem.setdefault(image.stem, []).append(image)
    for stem, same in by_stem.items():
        if len(same) > 1:
            raise InputError(f"--input: {_listed(same)} share the name {stem!r}, so their label files "
                             f"({stem}{MANUAL_SUFFIX}) would clash; rename or remove all but one")
    for image in progress(images, desc="checking images", unit="image", delay=2):  # shown after 2 s only
        read_raw(image, fix=f"remove it from {input_dir} or replace it with an undamaged copy")


def _only_copies(old: list[Path], input_dir: Path) -> list[Path]:
    """The images of ``old`` without an identical file of the same name in ``input_dir``."""
    return [path for path in old
            if not ((input_dir / path.name).is_file() and filecmp.cmp(path, input_dir / path.name, shallow=False))]


def split_images(input_dir: str | Path, params: SplitParams) -> SplitResult:
    """Copy (or move) a random ``params.train_fraction`` of the images in ``input_dir`` to ``../train``, the rest to
    ``../test``. At least one image goes to each side. Refuses to add to folders already holding images unless
    ``params.overwrite``; then their old images are removed first (label .mat files and subfolders are kept), but
    only when each has an identical copy in ``input_dir``: a person's only copy of a photograph is never deleted.
    Every input and output is checked before anything is copied, moved or removed.
    """
    input_dir = Path(input_dir)
    images = list_images(input_dir, flag="--input")
    if len(images) < 2:
        raise InputError(f"--input: {input_dir} holds only {len(images)} image; a split needs at least 2")
    # beside the folder, also for '--input .' or '..' (whose Path.parent is '.')
    parent = Path(os.path.abspath(input_dir)).parent if input_dir.name in ("", "..") else input_dir.parent
    train_dir, test_dir = parent / "train", parent / "test"
    if input_dir.resolve() in (train_dir.resolve(), test_dir.resolve()):
        raise InputError(f"--input {input_dir} is itself a train/test folder; give the folder of all images")
    _check_images(input_dir, images)
    fix = f"rename or remove it (the split writes train/ and test/ beside --input {input_dir})"
    for folder in (train_dir, test_dir):
        check_output_dir(folder, "split folder", fix)
        for image in images:
            check_output_file(folder / image.name, "split folder", fix)
    if params.move:
        check_output_dir(input_dir, "--move", "leave out --move to copy the images instead")
    old = _existing_images(train_dir) + _existing_images(test_dir)
    if old and not params.overwrite:
        raise InputError(f"{train_dir} and {test_dir} already hold {count(len(old), 'image')}; "
                         "give --overwrite to replace them with a new split")
    only = _only_copies(old, input_dir)
    if only:
        have, them = ("has", "it") if len(only) == 1 else ("have", "them")
        raise InputError(f"{count(len(only), 'image')} in the split folders {have} no identical copy in --input "
                         f"{input_dir} ({_listed(only)}); --overwrite would delete the only copies: move {them} back "
                         f"into {input_dir} first (for a new split of all the images), or out of the split folders")
    rng = np.random.default_rng(params.seed)
    n_train = int(np.clip(round(params.train_fraction * len(images)), 1, len(images) - 1))
    order = rng.permutation(len(images))
    train = sorted(images[i] for i in order[:n_train])
    test = sorted(images[i] for i in order[n_train:])
    # stage every copy first, so a failure leaves the split folders as they were
    staging = Path(tempfile.mkdtemp(prefix=".split-", dir=parent))
    try:
        for subset, name in ((train, "train"), (test, "test")):
            (staging / name).mkdir()
            for image in subset:
                shutil.copy2(image, staging / name / image.name)
        for path in old:  # each has an identical copy in input_dir, checked above
            path.unlink()
        for name, target in (("train", train_dir), ("test", test_dir)):
            target.mkdir(exist_ok=True)
            for staged in (staging / name).iterdir():
                staged.replace(target / staged.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if params.move:
        for image in images:
            image.unlink()
    log.debug("%d images: %d to %s, %d to %s%s", len(images), len(train), train_dir, len(test), test_dir,
              " (moved)" if params.move else "")
    return SplitResult(train_dir, test_dir, [p.name for p in train], [p.name for p in test])


@dataclass
class CopyMatResult:
    copied: list[Path]
    unmatched: list[Path]
    skipped: list[Path]


def copy_label_files(gt_dir: str | Path, train_dir: str | Path, test_dir: str | Path,
                     overwrite: bool = False) -> CopyMatResult:
    """Copy each ``<name>_mres.mat`` of ``gt_dir`` into the split folder holding image ``<name>.<ext>`` (exact name).

    Every label file to copy is read first and must have its image's size, and every folder it goes to must be
    writable: a damaged or mismatched file, or a folder we may not write in, stops the run before anything is
    copied. A label file already present with the same bytes is skipped; a different one is
    kept unless ``overwrite`` (a person's labels are never replaced silently). Label files with no image in any
    split are reported; a name shared by several images gets a warning (the file goes beside the first).
    """
    from ..io.mat import read_label_mat

    gt_dir = check_input_dir(gt_dir, "--gt", f"give the folder of *{MANUAL_SUFFIX} files")
    mats = sorted(p for p in gt_dir.glob(f"*{MANUAL_SUFFIX}") if not is_temporary_name(p))
    if not mats:
        raise InputError(f"--gt: no *{MANUAL_SUFFIX} files in {gt_dir}")
    fix = "run create_library/images_split_train_test.py first, or give the folder it made"
    split_dirs = [check_input_dir(folder, flag, fix) for flag, folder in (("--train", train_dir), ("--test", test_dir))]
    flags = dict(zip(split_dirs, ("--train", "--test")))
    result = CopyMatResult([], [], [])
    conflicts = []
    plan = []
    for mat in mats:
        stem = manual_name(mat)
        images = [image for folder in split_dirs for image in find_images(folder, stem)]
        if not images:
            result.unmatched.append(mat)
            continue
        if len(images) > 1:
            log.warning("%s matches %d images (%s): it goes beside %s only; rename the others so each "
                        "image has its own label file", mat.name, len(images), ", ".join(map(str, images)), images[0])
        target = images[0].parent / mat.name
        if target.exists():
            if target.read_bytes() == mat.read_bytes():
                result.skipped.append(target)
                continue
            if not overwrite:
                conflicts.append(target)
                continue
        plan.append((mat, images[0], target))
    if conflicts:
        differ, them = ("differs", "it") if len(conflicts) == 1 else ("differ", "them")
        raise InputError(f"{count(len(conflicts), 'label file')} {differ} from those already in the split folders "
                         f"(first: {conflicts[0]}); give --overwrite to replace {them}")
    for mat, image, _ in plan:  # every file checked before the first copy
        try:
            shape = read_label_mat(mat).shape
        except InputError as exc:
            raise InputError(f"--gt {exc}") from exc
        rows, cols = image_shape(image, fix="replace it with an undamaged copy")
        if shape != (rows, cols):
            raise InputError(f"--gt {mat}: its labels are {shape[1]} x {shape[0]} px but its image {image} is "
                             f"{cols} x {rows} px; give the label file made for this image, or remove it")
    for folder in sorted({target.parent for _, _, target in plan}, key=split_dirs.index):
        check_output_dir(folder, flags[folder], f"make it writable or give another {flags[folder]} folder")
    for mat, _, target in plan:
        with atomic_path(target) as tmp:
            shutil.copyfile(mat, tmp)
        result.copied.append(target)
    for mat in result.unmatched:
        log.warning("no image named %s in %s", manual_name(mat), ", ".join(map(str, split_dirs)))
    log.debug("copied %s, %d already there, %d without an image",
              count(len(result.copied), "label file"), len(result.skipped), len(result.unmatched))
    return result
