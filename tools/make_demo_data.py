"""Build demo_data/ from the shared obx_coast_demo set (42 USGS coastal photographs with dense labels).

    python tools/make_demo_data.py [--source ../shared/data/obx_coast_demo] [--out demo_data]

Writes the tutorial's layout (see demo_data/README.md). The ``sparse`` variable of each ``_mres.mat`` holds
simulated brush strokes (``dl_tools.labelling.simulated_strokes.simulate_strokes``, seeded), so the files
look like a labeller's.
The output is committed; re-run only to rebuild it.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from dl_tools.io.images import list_images, read_raw
from dl_tools.io.mat import LabelFile, write_label_mat
from dl_tools.io.text import read_labels, write_colors, write_labeldefs, write_labels
from dl_tools.labelling.simulated_strokes import simulate_strokes

COLORS = np.array([[0, 0, 255], [0, 255, 255], [210, 180, 140]], dtype=np.uint8)  # blue, cyan, tan
N_FCN_VAL = 12
SEED = 42


def build(source: Path, out: Path) -> None:
    labels = read_labels(source / "classes.txt")
    images = list_images(source / "images")
    for sub in ("jpg", "gt", "labels", "data"):
        shutil.rmtree(out / sub, ignore_errors=True)
    write_labels(out / "labels" / "obx_labels.txt", labels)
    write_colors(out / "labels" / "obx_label_colors.txt", COLORS)
    write_labeldefs(out / "data" / "labeldefs.txt", labels, COLORS)
    order = np.random.default_rng(SEED).permutation(len(images))
    val = {images[i].stem for i in order[:N_FCN_VAL]}
    for number, image in enumerate(images):
        (out / "jpg").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(image, out / "jpg" / image.name)
        label_image = read_raw(source / "labels" / f"{image.stem}.png")
        label_image = np.minimum(label_image, len(labels) - 1).astype(np.uint8)
        sparse = simulate_strokes(label_image, seed=number)
        record = LabelFile(label_image=label_image, labels=labels, sparse=sparse)
        write_label_mat(out / "gt" / f"{image.stem}_mres.mat", record)
        split = "val" if image.stem in val else "train"
        sample_dir = out / "data" / "samples" / "RGB" / split / "data"
        label_dir = out / "data" / "labels" / "gtFine" / split / "data"
        sample_dir.mkdir(parents=True, exist_ok=True)
        label_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(image, sample_dir / f"{image.stem}_RGB{image.suffix}")
        write_label_mat(label_dir / f"{image.stem}_mres.mat", record)
    print(f"{len(images)} images -> {out} ({len(images) - len(val)} FCN train, {len(val)} FCN val)")


def main() -> None:
    here = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=here.parent / "shared" / "data" / "obx_coast_demo")
    parser.add_argument("--out", type=Path, default=here / "demo_data")
    args = parser.parse_args()
    build(args.source, args.out)


if __name__ == "__main__":
    main()
