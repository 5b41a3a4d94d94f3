"""Tutorial step 3: cut labelled images into pure tiles, one folder per class, for retraining.

For every ``<name>_mres.mat`` in a folder and the image named exactly ``<name>`` beside it, t x t windows at a
stride (default t/2) are scored by the share of their most common class; windows with a share of at least the
purity threshold become ``<folder>/tile_<t>/<class name>/<name>_<row>_<col>.jpg`` (row and col: pixel position of
the tile's top-left corner in the image). Pixels without data in a TIFF image count as a class of their own, so
no tile of a no-data border is kept as a class. A random fraction of each class's tiles is kept; a class is never
thinned below min(its tile count, ``min_tiles``), so small classes are spared (the legacy spared classes of 60 tiles or
fewer and thinned larger ones without that floor).

An image labelled only by a label GeoTIFF ``<name>_mres.tif`` (a raster labelled by windows) is read block by block
(``workflows.retile_raster``), never whole, with the same tiles as from a ``.mat``.

The tiles are written to a hidden staging folder and moved into place only when all are written, so a re-run never
mixes old and new tiles: it refuses an existing ``tile_<t>`` folder unless ``overwrite``, which replaces it whole.
Staging folders of ``tile_<t>`` that an interrupted run left (``.tile_<t>.<random>``) are never read as tiles and
are removed by the next run; errors name ``tile_<t>``, never the staging folder.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..file_contract import MANUAL_SUFFIX, OUTPUTS, manual_name, tile_file_name, tile_folder
from ..io.atomic import final_names, is_temporary_name, new_mode, remove_stale_temporaries

log = logging.getLogger(__name__)

JPEG_QUALITY = 95


@dataclass(frozen=True)
class RetileParams:
    """tile: tile size in px (-t, default 96). purity: least share of the majority class in a kept tile (-a, 0.9).
    keep: fraction of each class's tiles kept (-b; default 1.0 = all). stride: px between tiles (default tile // 2).
    min_tiles: a class keeps at least min(its tiles, min_tiles) (default 60, the legacy's limit).
    seed: random seed of the thinning. jobs: worker processes (default: all cores). overwrite: replace tile_<t>."""

    tile: int = 96
    purity: float = 0.9
    keep: float = 1.0
    stride: int | None = None
    min_tiles: int = 60
    seed: int = 0
    jobs: int | None = None
    overwrite: bool = False

    def __post_init__(self):
        if self.tile < 8:
            raise InputError(f"-t must be a tile size of at least 8 px, got {self.tile}")
        if not 0.0 < self.purity <= 1.0:
            raise InputError(f"-a must be in (0, 1], got {self.purity}")
        if not 0.0 < self.keep <= 1.0:
            raise InputError(f"-b must be in (0, 1], got {self.keep}")
        if self.stride is not None and self.stride <= 0:
            raise InputError(f"--stride must be a positive number of pixels, got {self.stride}")
        if self.min_tiles < 1:
            raise InputError(f"--min_tiles must be 1 or more (a class found in the images is never thinned away), "
                             f"got {self.min_tiles}")

    @property
    def step(self) -> int:
        """Stride in px between neighbouring tiles."""
        return self.stride if self.stride is not None else max(1, self.tile // 2)


@dataclass
class RetileResult:
    tile_dir: Path
    labels: list[str]                      # class names, in order of first appearance
    found: dict[str, int]                  # pure tiles per class, before thinning
    kept: dict[str, int]                   # tiles written per class
    images: list[str] = field(default_factory=list)    # images tiled
    unmatched: list[str] = field(default_factory=list)  # label files without an image


def _check_folder_name(name: str, mat: Path) -> str:
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
        raise InputError(f"{mat}: class name {name!r} cannot be a folder name; rename the class in the label file")
    return name


def _scan(mat: Path, image: Path, params: RetileParams):
    """Worker: (class names of the file, (H, W), the WindowPlan of the n pure tiles, (n,) class index of each);
    a label GeoTIFF (``mat`` ``<name>_mres.tif``) is read block by block (``workflows.retile_raster``).

    Pixels without data (marked in the label file's ``nodata`` mask, or in a TIFF ``image``: no-data value, NaN,
    alpha band or mask) count as a class of their own, so a tile is kept only when a real class holds at least
    ``params.purity`` of it (the label file's ``class`` gives every pixel a class, no-data borders included)."""
    from ..arrays.tiling import plan_windows, tile_purity
    from ..io.geotiff import nodata_mask
    from ..io.mat import read_label_mat

    if mat.suffix.lower() != ".mat":
        from .retile_raster import scan_raster

        return scan_raster(mat, image, params)
    label_file = read_label_mat(mat)
    n_classes = len(label_file.labels)
    classes = label_file.label_image
    for nodata in (label_file.nodata, nodata_mask(image)):
        if nodata is not None and nodata.shape == classes.shape:  # otherwise _write reports the mismatch
            classes = np.where(nodata, n_classes, classes)
    plan = plan_windows(label_file.shape, params.tile, stride=params.step, edge="drop")
    mode, share = tile_purity(classes, plan, n_classes + 1)
    pure = (share >= params.purity - 1e-12) & (mode < n_classes)
    return label_file.labels, label_file.shape, plan[pure], mode[pure]


def _write(label_path: Path, image_path: Path, shape: tuple[int, int], plan, folders: list[str],
           staging: Path) -> int:
    """Worker: cut the tiles of ``plan`` (a WindowPlan) from the image and write each into staging/<folder>/;
    the image of a label GeoTIFF is read block by block (``workflows.retile_raster``)."""
    from ..arrays.tiling import cut_windows
    from ..io.images import read_image, write_image

    if label_path.suffix.lower() != ".mat":
        from .retile_raster import write_raster_tiles

        return write_raster_tiles(image_path, plan, folders, staging, JPEG_QUALITY)

    image = read_image(image_path)
    if image.shape[:2] != tuple(shape):
        raise InputError(f"{image_path} is {image.shape[1]}x{image.shape[0]} px but its label file is "
                         f"{shape[1]}x{shape[0]}; the label file belongs to another image or size")
    for window, folder, pixels in zip(plan, folders, cut_windows(image, plan)):
        write_image(staging / folder / tile_file_name(image_path.stem, window.row, window.col), pixels,
                    quality=JPEG_QUALITY)
    return len(plan)


def label_rasters(folder: Path, labelled: set[str]) -> list[Path]:
    """The label GeoTIFFs ``<name>_mres.tif`` of ``folder`` whose image has no ``<name>_mres.mat`` (``labelled``:
    the names that have one): those of rasters labelled by windows, retiled block by block."""
    suffix = OUTPUTS["label"]["tif"]
    return sorted(p for p in folder.glob(f"*{suffix}") if not is_temporary_name(p)
                  and p.name[: -len(suffix)] not in labelled)


def label_name(label_path: Path) -> str:
    """``<name>`` of a label file ``<name>_mres.mat`` or ``<name>_mres.tif``."""
    return manual_name(label_path) if label_path.suffix.lower() == ".mat" else \
        label_path.name[: -len(OUTPUTS["label"]["tif"])]


def thin(classes: np.ndarray, keep: float, min_tiles: int, seed: int) -> np.ndarray:
    """Bool mask over candidate tiles (``classes``: (n,) class index of each): per class a seeded random subset of
    max(int(keep * n_k), min(n_k, min_tiles)) tiles."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(classes), dtype=bool)
    for k in np.unique(classes):
        members = np.flatnonzero(classes == k)
        count = max(int(keep * len(members)), min(len(members), min_tiles))
        mask[rng.choice(members, size=count, replace=False)] = True
    return mask


def _map(function, jobs: int, tasks: list[tuple], desc: str, client=None):
    """[function(*task) for task in tasks]: on a Dask ``client``'s cluster (``workflows.distributed``), else in
    ``jobs`` processes of this machine."""
    from ..terminal import progress

    if client is not None:
        from .distributed import map_tasks

        results = {index: result() for index, result in map_tasks(client, function, tasks, desc=desc, unit="image")}
        return [results[index] for index in range(len(tasks))]
    if jobs <= 1 or len(tasks) <= 1:
        return [function(*task) for task in progress(tasks, desc=desc, unit="image")]
    # spawn (the default on Windows and macOS): clean workers even when the caller has TensorFlow's threads running
    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(function, *task) for task in tasks]
        return [future.result() for future in progress(futures, desc=desc, unit="image")]


def retile(input_dir: str | os.PathLike, params: RetileParams, client=None) -> RetileResult:
    """Cut the labelled images of ``input_dir`` into class tiles under ``input_dir/tile_<t>`` (see module doc);
    with a Dask ``client`` (``workflows.distributed``) each image's scan and tiles are tasks on its cluster
    (instead of ``params.jobs`` processes here), with the same tiles."""
    from ..io.images import check_input_dir, find_image

    started = time.time()
    input_dir = check_input_dir(input_dir, "--input", f"give the folder of images and *{MANUAL_SUFFIX}")
    tile_dir = tile_folder(input_dir, params.tile)
    if tile_dir.exists() and not params.overwrite:
        raise InputError(f"{tile_dir} already exists; give --overwrite to replace it with new tiles "
                         "(old and new tiles are never mixed)")
    mats = sorted(p for p in input_dir.glob(f"*{MANUAL_SUFFIX}") if not is_temporary_name(p))
    mats += label_rasters(input_dir, {manual_name(mat) for mat in mats})
    if not mats:
        raise InputError(f"--input: no *{MANUAL_SUFFIX} label files in {input_dir}; label the images first (step 2) "
                         "or copy the ground truth with create_library/cp_mat.py")
    pairs, unmatched = [], []
    for mat in mats:
        image = find_image(input_dir, label_name(mat))
        (pairs.append((mat, image)) if image is not None else unmatched.append(mat.name))
    for name in unmatched:
        log.warning("no image named %s in %s; %s skipped", label_name(Path(name)), input_dir, name)
    if not pairs:
        which = "the only label file" if len(mats) == 1 else f"none of the {len(mats)} label files"
        has = "has no" if len(mats) == 1 else "has an"
        raise InputError(f"--input: {which} in {input_dir} {has} image of the same name")
    jobs = params.jobs or os.cpu_count() or 1

    scans = _map(_scan, jobs, [(mat, image, params) for mat, image in pairs], "scanning label files", client)
    labels: list[str] = []
    for (mat, _), (names, _, _, _) in zip(pairs, scans):
        labels += [_check_folder_name(n, mat) for n in names if n not in labels]
    # candidates in a fixed order (file, row, col), classes as global indices, so the thinning is reproducible
    image_of = np.concatenate([np.full(len(s[2]), i) for i, s in enumerate(scans)]).astype(np.int64)
    classes = np.concatenate([np.asarray([labels.index(s[0][m]) for m in s[3]], dtype=np.int64) for s in scans])
    selected = thin(classes, params.keep, params.min_tiles, params.seed)
    found = {name: int(np.sum(classes == k)) for k, name in enumerate(labels)}
    kept = {name: int(np.sum(selected & (classes == k))) for k, name in enumerate(labels)}
    if not selected.any():  # thinning keeps at least one tile of each class: no tile was pure enough, or none fits
        if all(min(shape) < params.tile for _, shape, _, _ in scans):
            raise InputError(f"-t {params.tile}: every image of {input_dir} is smaller than one {params.tile} px "
                             "tile; give a smaller -t")
        raise InputError(f"-a {params.purity}: no {params.tile} px tile of {input_dir} is that pure; "
                         "lower -a or -t")

    remove_stale_temporaries(input_dir, started, pattern=f".{tile_dir.name}.*")
    staging = Path(tempfile.mkdtemp(prefix=f".{tile_dir.name}.", dir=input_dir))
    try:
        for name, count in kept.items():
            if count:
                (staging / name).mkdir()
        tasks = []
        for i, ((_, image), (_, shape, plan, _)) in enumerate(zip(pairs, scans)):
            pick = selected[image_of == i]
            folders = [labels[k] for k in classes[image_of == i][pick]]
            if folders:
                tasks.append((pairs[i][0], image, shape, plan[pick], folders, staging))
        _map(_write, jobs, tasks, "writing tiles", client)
        staging.chmod(new_mode(directory=True))
        if tile_dir.exists():
            old = tile_dir.with_name(f".{tile_dir.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            tile_dir.rename(old)
            staging.rename(tile_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(tile_dir)
    except BaseException as exc:
        final_names(exc, {staging: tile_dir})
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.debug("%d tiles of %d px from %d images in %s", sum(kept.values()), params.tile, len(pairs), tile_dir)
    return RetileResult(tile_dir, labels, found, kept, [image.name for _, image in pairs], unmatched)


def format_table(result: RetileResult) -> str:
    """Plain-text table: class, pure tiles found, tiles kept."""
    width = max([len(name) for name in result.labels] + [5])
    lines = [f"{'class':<{width}}  {'found':>7}  {'kept':>7}"]
    lines += [f"{name:<{width}}  {result.found[name]:>7d}  {result.kept[name]:>7d}" for name in result.labels]
    lines.append(f"{'total':<{width}}  {sum(result.found.values()):>7d}  {sum(result.kept.values()):>7d}")
    return "\n".join(lines)
