"""semseg_crf/semseg_cnn_crf.py: tutorial step 6, hybrid segmentation (tile classifier + dense CRF)."""

from __future__ import annotations

from ..file_contract import OUTPUT_PATTERNS
from .common import (
    add_cluster_options,
    add_overwrite,
    add_windowed_options,
    build_base_parser,
    cluster_params,
    integer,
    number_type,
    positive_int,
    run,
    take_defaults,
    unit_fraction,
    windowed_params,
)

DESCRIPTION = """\
Segment whole images with the tile classifier of step 4 and a dense CRF (the "hybrid" method of
Buscombe & Ritchie 2018). Tiles of TILE px are laid on a grid over the whole image (edges completed by
reflection), every DECIM-th tile in each direction is classified, tiles whose top probability is below
PROB_THRES are dropped, and a dense CRF run on the image scaled by SCALE spreads the tile classes (held with
certainty PROB) to every pixel. The result has exactly the input's size.

Writes beside the image (or into --outdir), for an image <name>.jpg:
  <name>_ares_<TILE>.mat        class (CRF result, 0-based), sparse (tile map, 0 = none, k = class k-1), labels
  <name>_ares_<TILE>.png        figure: input, tile classes, CRF result, class legend
  <name>_ares_<TILE>_color.png  the CRF result in the class colours, full size
  <name>_ares_<TILE>.tif        only for a georeferenced TIFF input: the classes on its grid (GeoTIFF)
A GeoTIFF larger than --max-megapixels is segmented window by window, never read whole: it gets
  <name>_ares_<TILE>.tif (tiled, compressed, with overviews), <name>_ares_<TILE>_preview.png (reduced)
  and with --probabilities <name>_ares_<TILE>_probabilities.tif, but no .mat or PNG outputs.

examples:
  python semseg_crf/semseg_cnn_crf.py demo_data/test/IMAGE.jpg obx_mobilenetv2_96.pb labels.txt \\
      demo_data/data/labeldefs.txt 96 0.5 0.5 8 0.25
  python semseg_crf/semseg_cnn_crf.py - obx_mobilenetv2_96.pb labels.txt demo_data/data/labeldefs.txt \\
      96 0.5 0.5 2 0.5 --input-dir demo_data/test
"""

EPILOG = """\
notes:
  COLORS may be a colour file (one colour per line, in the order of LABELS) or a labeldefs file
  ('name, R, G, B' lines), matched to LABELS by class name; the latter is safer, because retrain.py writes
  LABELS in alphabetical order.
  A TILE different from the model's input size is allowed: tiles are cut at TILE px and resized to the model's
  input size (as retrain.py resized the training tiles); a warning says so. An image smaller than one tile
  is refused.
  Pixels without data in a TIFF input (no-data value, NaN, alpha band or mask) are 255 in the .tif and left
  uncoloured in the _color.png and the figure; the .mat keeps the CRF's class there.
  Every image and output is checked before the model is loaded. With --input-dir, an image found unusable only
  while it is segmented (no tile reaching PROB_THRES, damaged pixel data) is skipped with a warning, the others
  are segmented, and the skipped ones are named at the end with what to do about each.

exit status: 0 every image segmented; 1 some images of --input-dir skipped (the others' outputs written);
  2 bad input, nothing written.
"""


_probability = number_type(float, lambda v: 0.0 <= v < 1.0, "in [0, 1)")


def build_parser():
    parser = build_base_parser("semseg_cnn_crf.py", DESCRIPTION, EPILOG)
    parser.add_argument("image", metavar="IMAGE",
                        help="the image to segment (JPG, PNG, TIFF/GeoTIFF); '-' together with --input-dir")
    parser.add_argument("model", metavar="MODEL.pb", help="the frozen model written by retrain.py (step 4)")
    parser.add_argument("labels", metavar="LABELS", help="its labels file, one class per line (step 4)")
    parser.add_argument("colors", metavar="COLORS",
                        help="class colours: a colour file (one per line, LABELS order) or a labeldefs file")
    parser.add_argument("tile", metavar="TILE", type=positive_int,
                        help="tile size in pixels; use the size the model was trained on (e.g. 96)")
    parser.add_argument("prob_thres", metavar="PROB_THRES", type=_probability,
                        help="tiles whose top class probability is below this are not used, in [0, 1) (e.g. 0.5)")
    parser.add_argument("prob", metavar="PROB", type=_probability,
                        help="certainty of a tile's class in the CRF, above 1/number of classes (e.g. 0.5)")
    parser.add_argument("decim", metavar="DECIM", type=positive_int,
                        help="classify every DECIM-th tile in each direction; 1 = every tile (e.g. 8)")
    parser.add_argument("scale", metavar="SCALE", type=unit_fraction,
                        help="the CRF runs on the image scaled by this factor, in (0, 1] (e.g. 0.25)")
    parser.add_argument("--input-dir", metavar="DIR",
                        help="segment every image of DIR instead (give IMAGE as '-'); files named as DL tools "
                             f"names its outputs ({', '.join(OUTPUT_PATTERNS)}) are skipped")
    parser.add_argument("--outdir", metavar="DIR", help="folder for the outputs (default: beside each image)")
    parser.add_argument("--batch-size", type=integer,
                        help="tiles per call of the model (default %(default)s); lower it if memory is short")
    add_overwrite(parser, "existing _ares outputs")
    add_windowed_options(parser)
    add_cluster_options(parser)
    from ..segmentation.hybrid import HybridParams

    return take_defaults(parser, HybridParams)


def _body(args):
    import sys
    from pathlib import Path

    from ..errors import InputError
    from ..segmentation.hybrid import HybridParams
    from ..workflows.distributed import cluster_client
    from ..workflows.folder_runs import summary
    from ..workflows.hybrid import images_to_segment, segment_files

    if args.input_dir is not None:
        if args.image != "-":
            raise InputError(f"give IMAGE as '-' with --input-dir (got {args.image!r}); "
                             "either segment one image or a folder")
        images = images_to_segment(args.input_dir)
    elif args.image == "-":
        raise InputError("IMAGE '-' needs --input-dir DIR (the folder of images to segment)")
    else:
        images = [Path(args.image)]
    params = HybridParams(tile=args.tile, prob_thres=args.prob_thres, prob=args.prob, decim=args.decim,
                          scale=args.scale, batch_size=args.batch_size)
    with cluster_client(cluster_params(args)) as client:
        run = segment_files(images, args.model, args.labels, args.colors, params, outdir=args.outdir,
                            overwrite=args.overwrite, in_folder=args.input_dir is not None,
                            windowed=windowed_params(args), client=client)
    for out in run.outputs:
        print(f"{out.image.name}: {out.n_kept} of {out.n_tiles} tiles used -> {out.mat or out.geotiff}")
    if run.skipped:
        print(f"error: {summary(run.skipped, len(images), 'segmented')}", file=sys.stderr)
        return 1


def main(argv=None) -> int:
    return run(build_parser(), _body, argv)
