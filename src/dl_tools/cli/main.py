"""The ``dl-tools`` console command: one subcommand per tutorial script, running the same ``main(argv)``.

``dl-tools retile -t 96 --input demo_data/train`` is ``python create_library/retile.py -t 96 --input
demo_data/train``: a subcommand is the script's name without ``.py``, with dashes for underscores. A user who
installed the package without the repository's folders can run every step this way.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from .common import command_name

#: subcommand -> (tutorial script, module under dl_tools.cli); in tutorial order
COMMANDS = {
    "images-split-train-test": ("create_library/images_split_train_test.py", "images_split_train_test"),
    "cp-mat": ("create_library/cp_mat.py", "cp_mat"),
    "label-1image-crf": ("create_groundtruth/label_1image_crf.py", "label_1image_crf"),
    "label-1geotiff-crf": ("create_groundtruth/label_1geotiff_crf.py", "label_1geotiff_crf"),
    "label-web": ("create_groundtruth/label_web.py", "label_web"),
    "retile": ("create_library/retile.py", "retile"),
    "make-local-module": ("train_dcnn_tfhub/make_local_module.py", "make_local_module"),
    "retrain": ("train_dcnn_tfhub/retrain.py", "retrain"),
    "test-class-tiles": ("eval_imrecog/test_class_tiles.py", "test_class_tiles"),
    "semseg-cnn-crf": ("semseg_crf/semseg_cnn_crf.py", "semseg_cnn_crf"),
    "test-pixels": ("eval_semseg/test_pixels.py", "test_pixels"),
    "make-labels": ("semseg_fullyconv/make_labels.py", "make_labels"),
    "train": ("semseg_fullyconv/train.py", "fcn_train"),
    "infer": ("semseg_fullyconv/infer.py", "fcn_infer"),
    "infer-crf": ("semseg_fullyconv/infer_crf.py", "fcn_infer_crf"),
}
#: subcommands that are not tutorial steps -> (the same as, module under dl_tools.cli)
TOOLS = {"provenance": ("python -m dl_tools.provenance", "provenance"),
         "choose-crf": ("train.py does it at the end of training", "choose_crf")}


def usage() -> str:
    """The command's help: its subcommands with the tutorial script each one runs (first line of its docstring)."""
    lines = ["usage: dl-tools COMMAND [options]   (dl-tools COMMAND --help for a command's options)", "",
             "The tutorial's steps, each the same as its script:"]
    for name, (script, module) in (COMMANDS | TOOLS).items():
        summary = (importlib.import_module(f"{__package__}.{module}").__doc__ or "").split(":", 1)[-1].strip()
        lines += [f"  {name:<25}{script}", f"  {'':<25}{summary.splitlines()[0].rstrip('.')}"]
        if name == list(COMMANDS)[-1]:
            lines += ["", "Other commands:"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dl-tools COMMAND ARGS...``; returns the command's exit code (2 for an unknown command)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0
    name = args[0].replace("_", "-").removesuffix(".py")
    commands = COMMANDS | TOOLS
    if name not in commands:
        print(f"error: dl-tools has no command {args[0]!r}; give one of: {', '.join(commands)} "
              "(see dl-tools --help)", file=sys.stderr)
        return 2
    module = importlib.import_module(f"{__package__}.{commands[name][1]}")
    with command_name(f"dl-tools {name}"):
        try:
            return module.main(args[1:])
        except SystemExit as exc:  # argparse's --help and usage errors
            return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2


if __name__ == "__main__":
    raise SystemExit(main())
