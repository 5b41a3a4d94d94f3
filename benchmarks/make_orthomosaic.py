"""Build a georeferenced test orthomosaic of any size from the demo photographs and their labels, without a download
and without holding the mosaic in memory.

    python benchmarks/make_orthomosaic.py --megapixels 400 --out bench_out/mosaic_400

writes ``<out>/mosaic.tif`` (RGB uint8, no-data 0 in a border around the photographs) and ``<out>/mosaic_mres.tif``
(one band, the class index of each pixel, 255 where the imagery has no data, its classes named as step 2 names
them, so that steps 3 and 7 take it as the mosaic's manual labels), on the same grid: UTM zone 18N,
0.1 m pixels, tiled 512 x 512 and DEFLATE-compressed, BigTIFF when needed. The photographs of demo_data/jpg are laid
out row by row, each flipped at random (seeded) so that neighbours differ, and the mosaic is written one strip of
photographs at a time (memory: one strip, about 2 MB per 1000 columns). Photograph pixels of value 0 are raised to
1, so only the border reads as no data. The label classes are those of demo_data/labels/obx_labels.txt.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "demo_data"
BLOCK = 512  # GeoTIFF tile size, pixels
PIXEL_SIZE = 0.1  # metres
ORIGIN = (400000.0, 3950000.0)  # easting, northing of the top-left corner (UTM 18N, the Outer Banks)
CRS = "EPSG:32618"


def photographs() -> list[tuple[np.ndarray, np.ndarray]]:
    """(image (H, W, 3) uint8, label_image (H, W) uint8) of every demo photograph that has a label file."""
    from dl_tools.io.images import read_image
    from dl_tools.io.mat import read_label_mat

    pairs = []
    for mat in sorted((DEMO / "gt").glob("*_mres.mat")):
        image = read_image(DEMO / "jpg" / f"{mat.name.removesuffix('_mres.mat')}.jpg")
        pairs.append((np.maximum(image, 1), read_label_mat(mat).label_image.astype(np.uint8)))
    return pairs


def mosaic_shape(megapixels: float, photo_shape: tuple[int, int], border: int) -> tuple[int, int]:
    """(rows, cols) of photographs whose mosaic plus ``border`` on each side has about ``megapixels`` pixels and
    the aspect ratio of a square."""
    side = math.sqrt(megapixels * 1e6)
    inner = max(side - 2 * border, 1)
    return max(1, round(inner / photo_shape[0])), max(1, round(inner / photo_shape[1]))


def write_mosaic(out: Path, megapixels: float, border: int = 300, seed: int = 0) -> tuple[Path, Path]:
    """Write the mosaic and its labels into ``out``; returns (mosaic path, labels path)."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    from dl_tools.io.geotiff import class_name_tags
    from dl_tools.io.text import read_labels

    pairs = photographs()
    photo_h, photo_w = pairs[0][1].shape
    n_rows, n_cols = mosaic_shape(megapixels, (photo_h, photo_w), border)
    height, width = n_rows * photo_h + 2 * border, n_cols * photo_w + 2 * border
    out.mkdir(parents=True, exist_ok=True)
    profile = dict(driver="GTiff", width=width, height=height, crs=CRS, tiled=True, blockxsize=BLOCK,
                   blockysize=BLOCK, compress="deflate", BIGTIFF="IF_SAFER",
                   transform=from_origin(ORIGIN[0], ORIGIN[1], PIXEL_SIZE, PIXEL_SIZE))
    rng = np.random.default_rng(seed)
    paths = out / "mosaic.tif", out / "mosaic_mres.tif"
    with rasterio.open(paths[0], "w", count=3, dtype="uint8", nodata=0, photometric="RGB", **profile) as image_dst, \
            rasterio.open(paths[1], "w", count=1, dtype="uint8", nodata=255, **profile) as label_dst:
        for row in range(-1, n_rows + 1):  # the border's strips above and below are all no data
            top = 0 if row < 0 else border + row * photo_h if row < n_rows else height - border
            strip_h = border if row < 0 or row == n_rows else photo_h
            image = np.zeros((strip_h, width, 3), dtype=np.uint8)
            labels = np.full((strip_h, width), 255, dtype=np.uint8)
            if 0 <= row < n_rows:
                for col in range(n_cols):
                    photo, truth = pairs[int(rng.integers(len(pairs)))]
                    flip = (slice(None, None, -1) if rng.integers(2) else slice(None),
                            slice(None, None, -1) if rng.integers(2) else slice(None))
                    left = border + col * photo_w
                    image[:, left:left + photo_w] = photo[flip]
                    labels[:, left:left + photo_w] = truth[flip]
            window = Window(0, top, width, strip_h)
            image_dst.write(np.moveaxis(image, 2, 0), window=window)
            label_dst.write(labels, 1, window=window)
        label_dst.update_tags(**dict(class_name_tags(read_labels(DEMO / "labels" / "obx_labels.txt"))))
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", type=float, required=True, help="size of the mosaic (e.g. 100, 400, 1600)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write mosaic.tif and mosaic_mres.tif")
    parser.add_argument("--border", type=int, default=300, help="no-data border around the photographs, pixels")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the photographs' order and flips")
    args = parser.parse_args(argv)
    image_path, label_path = write_mosaic(args.out, args.megapixels, args.border, args.seed)
    import rasterio

    with rasterio.open(image_path) as src:
        print(f"{image_path}: {src.width} x {src.height} px ({src.width * src.height / 1e6:.0f} megapixels), "
              f"{image_path.stat().st_size / 1e6:.0f} MB; "
              f"labels {label_path} ({label_path.stat().st_size / 1e6:.0f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
