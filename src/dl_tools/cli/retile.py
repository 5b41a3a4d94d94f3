"""create_library/retile.py: tutorial step 3, cut labelled images into pure tiles, one folder per class."""

from __future__ import annotations

from .common import (
    add_cluster_options,
    add_overwrite,
    add_seed,
    ask_path,
    build_base_parser,
    cluster_params,
    integer,
    number,
    positive_int,
    run,
    take_defaults,
)

DESCRIPTION = """\
Cut every image that has a label file <name>_mres.mat beside it (exact name match; any supported image
type) into t x t tiles at a stride of t/2, keep the tiles whose most common class covers at least a share -a
of the tile, and write them to <folder>/tile_<t>/<class name>/<name>_<row>_<col>.jpg (row, col: pixel
position of the tile's top-left corner). Then keep a random fraction -b of each class's tiles; a class is
never thinned below min(its tiles, --min_tiles). Prints a table of tiles per class. Run it on train/ and
test/ separately. An existing tile_<t> folder is only replaced (whole) with --overwrite.

example:
  python create_library/retile.py -t 96 -a 0.9 -b 0.5 --input demo_data/train
"""


def build_parser():
    parser = build_base_parser("retile.py", DESCRIPTION)
    parser.add_argument("-t", "--tile", type=positive_int, help="tile size in px (default %(default)s)")
    parser.add_argument("-a", "--threshold", type=number,
                        help="least share of the tile's most common class, in (0, 1] (default %(default)s)")
    parser.add_argument("-b", "--keep", type=number,
                        help="fraction of each class's tiles to keep at random, in (0, 1] (default %(default)s = all)")
    parser.add_argument("-i", "--input",
                        help="folder of images and their *_mres.mat files (a folder dialog opens if omitted)")
    parser.add_argument("--stride", type=integer, help="px between neighbouring tiles (default t/2)")
    parser.add_argument("--min_tiles", type=integer,
                        help="thinning never leaves a class fewer than min(its tiles, this) tiles, at least 1 "
                             "(default %(default)s)")
    parser.add_argument("-j", "--jobs", type=positive_int, help="parallel worker processes (default: all cores)")
    add_seed(parser)
    add_overwrite(parser, "an existing tile_<t> folder")
    add_cluster_options(parser)
    from ..workflows.retile import RetileParams

    return take_defaults(parser, RetileParams, threshold="purity")


def _body(args):
    from ..workflows.distributed import cluster_client
    from ..workflows.retile import RetileParams, format_table, retile

    params = RetileParams(tile=args.tile, purity=args.threshold, keep=args.keep, stride=args.stride,
                          min_tiles=args.min_tiles, seed=args.seed, jobs=args.jobs, overwrite=args.overwrite)
    input_dir = ask_path(args.input, "--input", kind="dir", title="Select the folder of images and label files")
    with cluster_client(cluster_params(args)) as client:
        result = retile(input_dir, params, client=client)
    print(format_table(result))
    print(f"tiles written to {result.tile_dir}")


def main(argv=None) -> int:
    return run(build_parser(), _body, argv)
