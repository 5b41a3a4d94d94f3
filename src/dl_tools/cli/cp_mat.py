"""create_library/cp_mat.py: copy ground-truth label files into the train/ or test/ folder that holds their image."""

from __future__ import annotations

from ..terminal import count
from .common import add_overwrite, build_base_parser, run

DESCRIPTION = """\
Copy each <name>_mres.mat of the ground-truth folder into the split folder (train/ or test/) that holds the
image <name>.<ext> (the exact name, any image type). Every label file to copy is read first and must have the
size of its image, and the folders they go to must be writable; a damaged or mismatched label file, or a folder
that cannot be written, stops the run before anything is copied. A label file that differs from one already there
is only replaced with --overwrite. A name shared by several images (IMG.jpg, IMG.png) gets a warning: the label
file goes beside the first only.

example (from the repository root):
  python create_library/cp_mat.py --gt demo_data/gt --train demo_data/train --test demo_data/test
"""


def build_parser():
    parser = build_base_parser("cp_mat.py", DESCRIPTION)
    parser.add_argument("--gt", default="demo_data/gt", help="folder of *_mres.mat files (default %(default)s)")
    parser.add_argument("--train", default="demo_data/train", help="train folder (default %(default)s)")
    parser.add_argument("--test", default="demo_data/test", help="test folder (default %(default)s)")
    add_overwrite(parser, "label files that differ from the ground-truth folder's")
    return parser


def _body(args):
    from ..workflows.split import copy_label_files

    result = copy_label_files(args.gt, args.train, args.test, overwrite=args.overwrite)
    print(f"copied {count(len(result.copied), 'label file')} ({len(result.skipped)} already in place, "
          f"{len(result.unmatched)} with no image in the split folders)")


def main(argv=None) -> int:
    return run(build_parser(), _body, argv)
