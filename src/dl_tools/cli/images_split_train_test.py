"""create_library/images_split_train_test.py: tutorial step 1, split a folder of images into train/ and test/."""

from __future__ import annotations

from ..terminal import count
from .common import add_overwrite, add_seed, ask_path, build_base_parser, number, run, take_defaults

DESCRIPTION = """\
Split a folder of images at random into train/ and test/ folders beside it
(demo_data/jpg -> demo_data/train and demo_data/test). Files are copied (or moved with --move);
files that are not images are ignored. The split is reproducible with --seed.

Every image is decoded and every output folder checked before anything is copied: an image whose pixels cannot
be read (damaged, or cut short by an interrupted copy), or two images of one name with different extensions
(IMG.jpg, IMG.png: their label files would clash) stop the run. --overwrite replaces the images of an earlier
split only when each still has an identical copy in the input folder; after a --move, move them back into it
first (a new split of all the images). Label files in train/ and test/ are kept.

example:
  python create_library/images_split_train_test.py -p 0.5 --input demo_data/jpg
"""


def build_parser():
    parser = build_base_parser("images_split_train_test.py", DESCRIPTION)
    parser.add_argument("-p", "--proportion", type=number,
                        help="share of the images that go to train/, between 0 and 1 (default %(default)s)")
    parser.add_argument("-i", "--input",
                        help="folder of images (a folder dialog opens if omitted and a display exists)")
    parser.add_argument("--move", action="store_true", help="move the images instead of copying them")
    add_seed(parser)
    add_overwrite(parser, "the images already in train/ and test/, each of which needs an identical copy in the "
                          "input folder")
    from ..workflows.split import SplitParams

    return take_defaults(parser, SplitParams, proportion="train_fraction")


def _body(args):
    from ..workflows.split import SplitParams, split_images

    params = SplitParams(train_fraction=args.proportion, seed=args.seed, move=args.move, overwrite=args.overwrite)
    input_dir = ask_path(args.input, "--input", kind="dir", title="Select the folder of images")
    result = split_images(input_dir, params)
    print(f"train: {count(len(result.train), 'image')} in {result.train_dir}")
    print(f"test:  {count(len(result.test), 'image')} in {result.test_dir}")


def main(argv=None) -> int:
    return run(build_parser(), _body, argv)
