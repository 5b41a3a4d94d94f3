"""Tutorial step 1: split a folder of images into ``train/`` and ``test/`` beside it, and copy label files there."""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.images import find_image, is_image_file, list_images

log = logging.getLogger(__name__)

MANUAL_SUFFIX = "_mres.mat"


@dataclass(frozen=True)
class SplitParams:
    """train_fraction: share of the images copied to train/ (the tutorial's -p), strictly between 0 and 1.
    seed: random seed (same seed + same files = same split). move: move instead of copy.
    overwrite: replace the images already in train/ and test/ (other files there are kept)."""

    train_fraction: float = 0.5
    seed: int | None = 0
    move: bool = False
    overwrite: bool = False

    def __post_init__(self):
        if not 0.0 < self.train_fraction < 1.0:
            raise InputError(f"-p must be strictly between 0 and 1, got {self.train_fraction}")


@dataclass
class SplitResult:
    train_dir: Path
    test_dir: Path
    train: list[str]
    test: list[str]


def _existing_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_image_file(p)) if folder.is_dir() else []


def split_images(input_dir: str | Path, params: SplitParams) -> SplitResult:
    """Copy (or move) a random ``params.train_fraction`` of the images in ``input_dir`` to ``../train``, the rest to
    ``../test``. At least one image goes to each side. Refuses to add to folders already holding images unless
    ``params.overwrite``; then their old images are removed first (label .mat files and subfolders are kept).
    """
    input_dir = Path(input_dir)
    images = list_images(input_dir, flag="--input")
    if len(images) < 2:
        raise InputError(f"--input: {input_dir} holds only {len(images)} image; a split needs at least 2")
    train_dir, test_dir = input_dir.parent / "train", input_dir.parent / "test"
    if input_dir.resolve() in (train_dir.resolve(), test_dir.resolve()):
        raise InputError(f"--input {input_dir} is itself a train/test folder; give the folder of all images")
    old = _existing_images(train_dir) + _existing_images(test_dir)
    if old and not params.overwrite:
        raise InputError(f"{train_dir} and {test_dir} already hold {len(old)} images; "
                         "give --overwrite to replace them with a new split")
    rng = np.random.default_rng(params.seed)
    n_train = int(np.clip(round(params.train_fraction * len(images)), 1, len(images) - 1))
    order = rng.permutation(len(images))
    train = sorted(images[i] for i in order[:n_train])
    test = sorted(images[i] for i in order[n_train:])
    # stage every copy first, so a failure leaves the split folders as they were
    staging = Path(tempfile.mkdtemp(prefix=".split-", dir=input_dir.parent))
    try:
        for subset, name in ((train, "train"), (test, "test")):
            (staging / name).mkdir()
            for image in subset:
                shutil.copy2(image, staging / name / image.name)
        for path in old:
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
    log.info("%d images: %d to %s, %d to %s%s", len(images), len(train), train_dir, len(test), test_dir,
             " (moved)" if params.move else "")
    return SplitResult(train_dir, test_dir, [p.name for p in train], [p.name for p in test])


@dataclass
class CopyMatResult:
    copied: list[Path]
    unmatched: list[Path]
    skipped: list[Path]


def copy_label_files(gt_dir: str | Path, split_dirs: list[Path], overwrite: bool = False) -> CopyMatResult:
    """Copy each ``<name>_mres.mat`` of ``gt_dir`` into the split folder holding image ``<name>.<ext>`` (exact name).

    A label file already present with the same bytes is skipped; a different one is kept unless ``overwrite``
    (a person's labels are never replaced silently). Label files with no image in any split are reported.
    """
    gt_dir = Path(gt_dir)
    if not gt_dir.is_dir():
        raise InputError(f"--gt: folder {gt_dir} does not exist; give the folder of *_mres.mat files")
    mats = sorted(gt_dir.glob(f"*{MANUAL_SUFFIX}"))
    if not mats:
        raise InputError(f"--gt: no *{MANUAL_SUFFIX} files in {gt_dir}")
    for folder in split_dirs:
        if not folder.is_dir():
            raise InputError(f"split folder {folder} does not exist; run create_library/images_split_train_test.py first")
    result = CopyMatResult([], [], [])
    conflicts = []
    plan = []
    for mat in mats:
        stem = mat.name[: -len(MANUAL_SUFFIX)]
        folder = next((f for f in split_dirs if find_image(f, stem) is not None), None)
        if folder is None:
            result.unmatched.append(mat)
            continue
        target = folder / mat.name
        if target.exists():
            if target.read_bytes() == mat.read_bytes():
                result.skipped.append(target)
                continue
            if not overwrite:
                conflicts.append(target)
                continue
        plan.append((mat, target))
    if conflicts:
        raise InputError(f"{len(conflicts)} label files differ from those already in the split folders "
                         f"(first: {conflicts[0]}); give --overwrite to replace them")
    from ..io.atomic import atomic_path

    for mat, target in plan:
        with atomic_path(target) as tmp:
            shutil.copyfile(mat, tmp)
        result.copied.append(target)
    for mat in result.unmatched:
        log.warning("no image named %s in %s", mat.name[: -len(MANUAL_SUFFIX)], ", ".join(map(str, split_dirs)))
    log.info("copied %d label files, %d already there, %d without an image",
             len(result.copied), len(result.skipped), len(result.unmatched))
    return result
