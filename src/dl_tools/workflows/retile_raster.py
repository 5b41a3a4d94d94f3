"""Step 3 on a GeoTIFF of any size labelled by a label GeoTIFF (``<name>_mres.tif``), block by block.

The tiles are those of ``workflows.retile`` for the same image and labels: the same plan over the whole raster
(t x t windows at the stride, inside it), scored by the share of their majority class with the no-data pixels of
either raster as a class of their own, and listed in the same row-major order, so the thinning picks the same
tiles. Only the label and image pixels under one block of tiles (about ``BLOCK`` px a side) are read at a time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError

#: px a side of the blocks of tile origins read at a time
BLOCK = 2048


def _blocks(plan, step: int):
    """(indices of the tiles of ``plan``, a whole plan) for each block of tile origins, row-major."""
    per_block = max(1, BLOCK // step)
    n_rows, n_cols = plan.grid
    for r in range(0, n_rows, per_block):
        for c in range(0, n_cols, per_block):
            rows = np.arange(r, min(r + per_block, n_rows))
            cols = np.arange(c, min(c + per_block, n_cols))
            yield (rows[:, None] * n_cols + cols[None, :]).ravel()


def _local(tiles):
    """(the region (row, col, height, width) under ``tiles``, their plan in that region's coordinates)."""
    top, left, bottom, right = tiles.bounds()
    return (top, left, bottom - top, right - left), tiles.in_region(top, left, (bottom - top, right - left))


def scan_raster(label_path: Path, image_path: Path, params):
    """As ``retile._scan`` for a label GeoTIFF: (class names, (H, W), the WindowPlan of the n pure tiles, (n,)
    class index of each)."""
    from ..arrays.tiling import plan_windows, tile_purity
    from ..io.geotiff import read_class_names
    from ..io.windowed_geotiff import bounded_gdal_cache, open_raster, read_window

    labels = read_class_names(label_path)
    if labels is None:
        raise InputError(f"{label_path} names no classes (a tag DL tools writes in its label GeoTIFFs); label the "
                         "image with create_groundtruth/label_1geotiff_crf.py")
    n_classes = len(labels)
    with bounded_gdal_cache(), open_raster(label_path) as label_src, open_raster(image_path) as image_src:
        shape = (label_src.height, label_src.width)
        if (image_src.height, image_src.width) != shape:
            raise InputError(f"{image_path} is {image_src.width}x{image_src.height} px but its label file "
                             f"{label_path.name} is {shape[1]}x{shape[0]}; the label file belongs to another image "
                             "or size")
        plan = plan_windows(shape, params.tile, stride=params.step, edge="drop")
        mode = np.zeros(len(plan), dtype=np.int64)
        share = np.zeros(len(plan), dtype=np.float64)
        for index in _blocks(plan, params.step) if len(plan) else ():
            (row, col, height, width), local = _local(plan[index])
            classes, valid = read_window(label_src, row, col, height, width)
            classes = classes[..., 0].astype(np.int64)
            if (valid & (classes >= n_classes)).any():
                raise InputError(f"{label_path} holds class value {int(classes[valid].max())} but names "
                                 f"{n_classes} classes; mark the pixel as no data or write the file again")
            valid &= read_window(image_src, row, col, height, width)[1]
            mode[index], share[index] = tile_purity(np.where(valid, classes, n_classes), local, n_classes + 1)
    pure = (share >= params.purity - 1e-12) & (mode < n_classes)
    return labels, shape, plan[pure], mode[pure]


def write_raster_tiles(image_path: Path, plan, folders: list[str], staging: Path, quality: int) -> int:
    """As ``retile._write`` for a GeoTIFF read block by block: cut the tiles of ``plan`` and write each into
    staging/<folder>/, the image converted to RGB with one value range for the whole raster."""
    from ..arrays.color import rgb_value_range, to_rgb_uint8
    from ..arrays.tiling import cut_windows
    from ..file_contract import tile_file_name
    from ..io.images import write_image
    from ..io.windowed_geotiff import bounded_gdal_cache, open_raster, read_window
    from .windowed import reduced_read

    folders = np.asarray(folders, dtype=object)
    block = np.stack([plan.tops // BLOCK, plan.lefts // BLOCK], axis=1)
    with bounded_gdal_cache(), open_raster(image_path) as src:
        value_range = rgb_value_range(reduced_read(src)[0], path=str(image_path))
        for key in np.unique(block, axis=0):
            index = np.flatnonzero((block == key).all(axis=1))
            tiles = plan[index]
            (row, col, height, width), local = _local(tiles)
            pixels = to_rgb_uint8(read_window(src, row, col, height, width)[0], path=str(image_path),
                                  value_range=value_range)
            for window, folder, tile in zip(tiles, folders[index], cut_windows(pixels, local)):
                write_image(staging / folder / tile_file_name(image_path.stem, window.row, window.col), tile,
                            quality=quality)
    return len(plan)
