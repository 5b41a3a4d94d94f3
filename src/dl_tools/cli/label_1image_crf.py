"""create_groundtruth/label_1image_crf.py: tutorial step 2, a dense label image from brush strokes."""

from __future__ import annotations

from .common import (
    add_cluster_options,
    add_overwrite,
    add_seed,
    add_windowed_options,
    ask_path,
    band_list,
    build_base_parser,
    cluster_params,
    positive_int,
    run,
    take_defaults,
    unit_fraction,
    windowed_params,
)

DESCRIPTION = """\
Label one image from brush strokes: draw a few strokes of each class, window by window, and a dense CRF
(conditional random field: colour and position) turns them into a label for every pixel.

Interactive (OpenCV windows; keys are printed at start):
  Esc next class (after the last class: next window)   1-9,q,w,e,r,t,y jump to a class
  + / - brush size    z undo the last stroke    b back one window    s skip a window
  f finish now and compute    h help
The windows need a display (without one, give --scribbles). The strokes are saved to <name>_scribbles.png
after every window and before any computation; --resume continues from that file (after the last window holding
strokes).

Scripted (no window): --scribbles FILE.png, a one-band uint8 PNG of the image's size, 0 = no stroke,
k = class k-1 (the legacy 'sparse' convention), or an existing <name>_mres.mat, whose strokes ('sparse') are
used again (classes matched by name). A JPEG is refused: its compression changes the class numbers.

The model proposes: --prior MODEL.pb --prior-labels LABELS.txt (a step-4 model, through the hybrid method) or
--prior-run RUN (a step-8 run folder): the model's class probabilities are the CRF's prior and the strokes are
corrections, near-certain where drawn and taking over the similar-looking pixels around them; elsewhere the
model's labels stand. Classes are matched by name; a scribbles PNG with no stroke then gives the model's labels.

-w counts pixels of the image scaled by -s, as in the legacy tool: -w 500 -s 0.2 gives windows of 2500 x 2500
pixels of the original image; a window larger than the image gives one window, the whole image. The windows are
shown fitted to the screen, whatever their size. Windows of one flat colour (e.g. no-data borders) are skipped.
-s (0 < s <= 1) is also the scale at which the classifier and the CRF run; the result has the image's full size.
The scaled image must keep at least 8 pixels a side (the error gives the smallest -s that works).

Writes next to the image (or in --outdir), <name> = file name without extension:
  <name>_mres.mat        class (0-based), sparse (strokes), labels, preds (probabilities on the -s grid)
  <name>_mres.png        image | image and strokes | image and labels, with a legend
  <name>_report.txt      class proportions, annotation and compute times, image size, parameters
  <name>_mres_label.png  class index per pixel (0, 1, 2, ...)
  <name>_mres_color.png  class colours
An existing <name>_mres.mat (or <name>_scribbles.png) is only replaced with --overwrite.

A folder at a time (scripted): --input-dir DIR labels every photograph <name>.<ext> of DIR that has its
strokes <name>_scribbles.png beside it (where the interactive tool and the web labeller save them); the others
are named and left out. Give --labels and --colors, not --image or --scribbles. With --workers N (or
--scheduler) the images are labelled in parallel as Dask tasks, with the same outputs.

examples:
  python create_groundtruth/label_1image_crf.py -w 500 -s 0.2
  python create_groundtruth/label_1image_crf.py -w 500 -s 0.2 --image demo_data/train/IMG.jpg \\
      --labels demo_data/labels/obx_labels.txt --colors demo_data/labels/obx_label_colors.txt
  python create_groundtruth/label_1image_crf.py -s 0.5 --image IMG.jpg --labels L.txt --colors C.txt \\
      --scribbles IMG_scribbles.png --outdir labelled/
  python create_groundtruth/label_1image_crf.py -s 0.5 --image IMG.jpg --labels L.txt --colors C.txt \\
      --scribbles IMG_scribbles.png --prior obx_mobilenetv2_96_1000_001.pb --prior-labels labels.txt
  python create_groundtruth/label_1image_crf.py -s 0.5 --input-dir demo_data/train --labels L.txt \
      --colors C.txt --workers 2
"""

IMAGE_TYPES = [("images", "*.jpg *.JPG *.jpeg *.JPEG *.png *.PNG *.tif *.TIF *.tiff *.TIFF"), ("all files", "*")]


def add_engine_options(parser) -> None:
    """-s and --engine, the settings of the labelling engine (defaults: LabelParams's, set by take_defaults)."""
    from ..labelling.engine import ENGINES

    parser.add_argument("-s", "--scale", type=unit_fraction,
                        help="scale of the classifier and CRF, 0 < s <= 1 (default %(default)s)")
    parser.add_argument("--engine", choices=ENGINES,
                        help="strokes: CRF on the strokes, the legacy recipe with measured settings; "
                             "classifier: a pixel classifier trained on the strokes, then a CRF (default %(default)s)")


def add_prior_options(parser, aliases: tuple[str, str, str] | None = None) -> None:
    """--prior/--prior-labels/--prior-run (``workflows.prior.PriorFiles``): the model that proposes the labels;
    ``aliases`` adds other names for the three."""
    names = aliases or (None, None, None)
    parser.add_argument("--prior", *filter(None, [names[0]]), dest="prior", metavar="MODEL.pb",
                        help="the model proposes: a step-4 model (retrain.py --output_graph) whose class "
                             "probabilities (hybrid method) are the CRF's prior, the strokes its corrections; "
                             "needs --prior-labels (--engine is not used)")
    parser.add_argument("--prior-labels", *filter(None, [names[1]]), dest="prior_labels", metavar="FILE",
                        help="the labels file written with the --prior model (retrain.py --output_labels)")
    parser.add_argument("--prior-run", *filter(None, [names[2]]), dest="prior_run", metavar="RUN",
                        help="the model proposes: a step-8 run folder (semseg_fullyconv/train.py --name) whose "
                             "network probabilities are the CRF's prior (--engine is not used)")


def build_label_parser(prog: str, description: str, scale_default: float | None = None, geotiff: bool = False):
    """The options shared by label_1image_crf.py and label_1geotiff_crf.py; their defaults are LabelParams's,
    but for -s when ``scale_default`` is given."""
    from ..workflows.label import LabelParams

    parser = build_base_parser(prog, description)
    parser.add_argument("-w", "--window", type=positive_int,
                        help="window side in pixels of the image scaled by -s (default %(default)s)")
    add_engine_options(parser)
    parser.add_argument("--image", help="the image (a file dialog opens if omitted and a display exists)")
    parser.add_argument("--labels", help="labels file, one class name per line")
    parser.add_argument("--colors", help="colour file, one colour per class")
    parser.add_argument("--scribbles", help="scripted mode: strokes PNG (0 = none, k = class k-1) or a _mres.mat "
                             "holding strokes; no windows open")
    parser.add_argument("--resume", action="store_true", help="continue from <name>_scribbles.png")
    parser.add_argument("--outdir", help="folder for the outputs (default: the image's folder)")
    add_prior_options(parser)
    if geotiff:
        parser.add_argument("--bands", type=band_list, default=None,
                            help="1-based bands to show and use, e.g. 3,2,1 (default: the first three)")
        add_windowed_options(parser, window_flag="--raster-window", resume=False)
    add_seed(parser)
    add_overwrite(parser, "an existing <name>_mres.mat and its outputs, or <name>_scribbles.png")
    take_defaults(parser, LabelParams)
    if scale_default is not None:
        parser.set_defaults(scale=scale_default)
    return parser


def label_body(args, geotiff: bool = False) -> None:
    """Run the labelling workflow for parsed ``args``."""
    from ..workflows.label import LabelParams, label_image_file
    from ..workflows.prior import prior_files

    prior = prior_files(args.prior, args.prior_labels, args.prior_run)  # the flags judged before any dialog
    image = ask_path(args.image, "--image", title="Select the image to label",
                     filetypes=IMAGE_TYPES if not geotiff else [("GeoTIFF", "*.tif *.TIF *.tiff *.TIFF")])
    labels = ask_path(args.labels, "--labels", title="Select the labels file", filetypes=[("text", "*.txt")])
    colors = ask_path(args.colors, "--colors", title="Select the label colours file", filetypes=[("text", "*.txt")])
    params = LabelParams(window=args.window, scale=args.scale, engine=args.engine,
                         bands=getattr(args, "bands", None), resume=args.resume, overwrite=args.overwrite,
                         seed=args.seed)
    result = label_image_file(image, labels, colors, params, scribbles_path=args.scribbles, outdir=args.outdir,
                              geotiff=geotiff, windowed=windowed_params(args) if geotiff else None, prior=prior)
    for name, share in result.proportions.items():
        print(f"{name}: {share:.4f}")
    print(f"compute time {result.compute_seconds:.1f} s; outputs: {next(iter(result.outputs.values())).parent}")
    for path in result.outputs.values():
        print(f"  {path.name}")


def build_parser():
    parser = build_label_parser("label_1image_crf.py", DESCRIPTION)
    parser.add_argument("--input-dir", metavar="DIR",
                        help="scripted, a folder at a time: label every image of DIR that has its strokes "
                             "<name>_scribbles.png beside it (instead of --image and --scribbles)")
    add_cluster_options(parser)
    return parser


def _folder_body(args) -> int | None:
    """--input-dir: label the folder (``workflows.label.label_folder``); 1 when some images were skipped."""
    import sys

    from ..errors import InputError
    from ..workflows.distributed import cluster_client
    from ..workflows.folder_runs import summary
    from ..workflows.label import LabelParams, label_folder

    given = [flag for flag, value in (("--image", args.image), ("--scribbles", args.scribbles),
                                      ("--resume", args.resume or None), ("--prior", args.prior),
                                      ("--prior-run", args.prior_run)) if value is not None]
    if given:
        raise InputError(f"--input-dir labels a folder from its <name>_scribbles.png strokes; leave out "
                         f"{' and '.join(given)}")
    labels = ask_path(args.labels, "--labels", title="Select the labels file", filetypes=[("text", "*.txt")])
    colors = ask_path(args.colors, "--colors", title="Select the label colours file", filetypes=[("text", "*.txt")])
    params = LabelParams(window=args.window, scale=args.scale, engine=args.engine, overwrite=args.overwrite,
                         seed=args.seed)
    with cluster_client(cluster_params(args)) as client:
        done = label_folder(args.input_dir, labels, colors, params, outdir=args.outdir, client=client)
    for result in done.outputs:
        print(f"{result.outputs['mat'].name}: compute time {result.compute_seconds:.1f} s")
    if done.skipped:
        print(f"error: {summary(done.skipped, len(done.outputs) + len(done.skipped), 'labelled')}", file=sys.stderr)
        return 1
    return None


def _body(args) -> int | None:
    if args.input_dir is not None:
        return _folder_body(args)
    if cluster_params(args).distributed:
        from ..errors import InputError

        raise InputError("--workers, --scheduler and --scheduler-file run the images of --input-dir as tasks; "
                         "give --input-dir DIR (one image is labelled here)")
    return label_body(args)


def main(argv=None) -> int:
    return run(build_parser(), _body, argv)
