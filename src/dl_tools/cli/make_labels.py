"""semseg_fullyconv/make_labels.py: Method 2 step 8a, label images for the network from *_mres.mat files."""

from __future__ import annotations

from .common import add_overwrite, ask_path, build_base_parser, number_type, run, take_defaults

DESCRIPTION = """\
For each <name>_mres.mat in DIR, write beside it <name>_gtFine_labelIds.png (pixel value = class index in
labeldefs.txt order; what train.py reads) and <name>_gtFine_color.png (the classes in the labeldefs colours).
Classes are matched by name between the .mat files and labeldefs.txt; a .mat class missing from labeldefs.txt
is an error. Existing label images are kept unless --overwrite.

labeldefs.txt (one 'name, R, G, B' line per class) is looked up in DIR and the folders above it unless
--labeldefs is given (the tutorial keeps it in demo_data/data/).

example:
  python semseg_fullyconv/make_labels.py demo_data/data/labels/gtFine/train/data
"""


radius = number_type(int, None, "a radius in pixels, 0 or more")  # MakeLabelsParams judges the value


def build_parser():
    parser = build_base_parser("make_labels.py", DESCRIPTION)
    parser.add_argument("dir", help="folder of *_mres.mat label files")
    parser.add_argument("--labeldefs", help="labeldefs.txt (default: the first one in DIR or a folder above it)")
    parser.add_argument("--median", type=radius, metavar="N",
                        help="median-filter the class map with a disk of radius N px first (the legacy used 7; "
                             "default %(default)s = no filter)")
    add_overwrite(parser, "existing _gtFine_labelIds.png and _gtFine_color.png files")
    from ..workflows.make_labels import MakeLabelsParams

    return take_defaults(parser, MakeLabelsParams, median="median_radius")


def _body(args):
    from ..io.text import find_labeldefs
    from ..workflows.make_labels import MakeLabelsParams, find_manual_labels, make_labels

    params = MakeLabelsParams(median_radius=args.median, overwrite=args.overwrite)
    find_manual_labels(args.dir)  # the folder first: its labeldefs.txt is looked up from it
    labeldefs = args.labeldefs or find_labeldefs(args.dir)
    labeldefs = ask_path(labeldefs, "--labeldefs", title="Select labeldefs.txt",
                         filetypes=[("labeldefs", "*.txt"), ("all files", "*")])
    result = make_labels(args.dir, labeldefs, params)
    print(f"wrote {len(result.written) // 2} labelIds and colour images in {args.dir} (classes from {labeldefs})")


def main(argv=None) -> int:
    return run(build_parser(), _body, argv)
