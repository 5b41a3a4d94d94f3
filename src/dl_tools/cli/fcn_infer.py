"""semseg_fullyconv/infer.py: Method 2 step 8c, label unseen images with a trained fully convolutional network."""

from __future__ import annotations

from ..terminal import count
from .common import (
    add_cluster_options,
    add_overwrite,
    add_windowed_options,
    build_base_parser,
    cluster_params,
    integer,
    number,
    run,
    take_defaults,
    windowed_params,
)

DESCRIPTION = """\
Label every image in --samples-dir (any size; JPG, PNG, TIFF/GeoTIFF, BMP; files named as DL tools names its
outputs are skipped) with the network of the training run --name, and write at each image's original size,
into --output-dir (created if missing):
  <name>_label.png    class index per pixel     <name>_color.png    classes in the labeldefs colours
  <name>_overlay.png  image with colours        <name>_ares.mat     class, labels, preds (for test_pixels.py)
  <name>_label.tif    georeferenced class map, for a GeoTIFF input
A GeoTIFF larger than --max-megapixels (an orthomosaic) is read and labelled window by window, never whole, into
<name>_label.tif (tiled, compressed, with overviews) and <name>_preview.png (reduced); --resume continues such a
run after an interruption.
where <name> is the image name without a trailing _RGB (X_RGB.jpg -> X_label.png, X_ares.mat).
Each image is shown to the network at the pixel scale of training; images larger than the training images are
covered by overlapping tiles whose predictions are blended. Existing outputs are kept unless --overwrite.
Every image header and output name is checked before the network runs; an image whose pixel data turn out
damaged is skipped with a warning, the others are labelled, and the skipped ones are named at the end.

example:
  python semseg_fullyconv/infer.py --name data_test10 --samples-dir demo_data/data/samples/RGB/val/data \\
      --output-dir test_output --data-source data
"""


EPILOG = """\
exit status: 0 every image labelled; 1 some images skipped (the others' outputs written); 2 bad input, nothing
  written.
"""


def build_parser(prog: str = "infer.py", description: str = DESCRIPTION):
    parser = build_base_parser(prog, description, EPILOG)
    parser.add_argument("--name", required=True, help="run folder written by train.py")
    parser.add_argument("--samples-dir", required=True, help="folder of images to label")
    parser.add_argument("--output-dir", required=True, help="folder for the outputs (created if missing)")
    parser.add_argument("--data-source", choices=["data"], default="data",
                        help="kept for the legacy command; only 'data' exists")
    parser.add_argument("--batch-size", type=integer, help="tiles per network call (default %(default)s)")
    parser.add_argument("--overlap", type=number,
                        help="share of a tile overlapping its neighbours, 0-0.9 (default %(default)s)")
    parser.add_argument("--checkpoint", choices=["best", "last"],
                        help="weights of the best validation epoch or of the last epoch (default %(default)s)")
    add_overwrite(parser, "existing outputs")
    add_windowed_options(parser)
    add_cluster_options(parser)
    from ..workflows.fcn_infer import FCNInferParams

    return take_defaults(parser, FCNInferParams)


def infer_and_report(args, crf=None, keep_network: bool = False) -> int | None:
    """Run the inference workflow on parsed ``args`` (with the CRF's ``segmentation.refine.Refinement`` or None;
    ``keep_network``: infer_crf.py's outputs with the network's labels) and print a summary; 1 when some images
    were skipped (named on stderr)."""
    import sys

    from ..workflows.distributed import cluster_client
    from ..workflows.fcn_infer import FCNInferParams, infer_fcn
    from ..workflows.folder_runs import summary

    params = FCNInferParams(batch_size=args.batch_size, overlap=args.overlap, checkpoint=args.checkpoint,
                            overwrite=args.overwrite, crf=crf, keep_network=keep_network,
                            windowed=windowed_params(args))
    with cluster_client(cluster_params(args)) as client:
        result = infer_fcn(args.samples_dir, args.output_dir, args.name, params, client=client)
    print(f"labelled {count(result.n_images, 'image')} ({result.megapixels:.1f} megapixels; "
          f"network {result.predict_seconds:.1f} s"
          + (f", CRF {result.crf_seconds:.1f} s" if crf is not None else "") + f"); outputs in {args.output_dir}")
    if result.skipped:
        total = result.n_images + len(result.skipped)
        print(f"error: {summary(result.skipped, total, 'labelled')}", file=sys.stderr)
        return 1
    return None


def main(argv=None) -> int:
    return run(build_parser(), infer_and_report, argv)
