"""create_groundtruth/label_1geotiff_crf.py: tutorial step 2 for GeoTIFFs (multi-band, 16-bit, georeferenced)."""

from __future__ import annotations

from .common import run
from .label_1image_crf import DESCRIPTION as PHOTO_DESCRIPTION
from .label_1image_crf import build_label_parser, label_body

DESCRIPTION = """\
The labelling tool of label_1image_crf.py for GeoTIFFs: any number of bands and any data type (16-bit and float
bands are stretched linearly between their 1st and 99th percentiles for display and labelling); --bands 3,2,1
picks the bands. Besides the outputs below it writes <name>_mres.tif: one band, uint8 class index (0-based),
nodata 255 where the source has no data, with the source's CRS and transform, so it lies exactly on the source
in QGIS.

example:
  python create_groundtruth/label_1geotiff_crf.py -w 500 -s 1.0 --image scene.tif --bands 3,2,1 \\
      --labels labels.txt --colors colors.txt

""" + PHOTO_DESCRIPTION.split("\n\n", 1)[1]


def build_parser():
    return build_label_parser("label_1geotiff_crf.py", DESCRIPTION, scale_default=1.0, geotiff=True)


def main(argv=None) -> int:
    return run(build_parser(), lambda args: label_body(args, geotiff=True), argv)
