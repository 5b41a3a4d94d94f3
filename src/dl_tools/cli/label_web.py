"""create_groundtruth/label_web.py: tutorial step 2 in a web browser, for a folder of images (SSH, JupyterHub)."""

from __future__ import annotations

from .common import add_seed, ask_path, build_base_parser, integer, run, take_defaults
from .label_1image_crf import add_engine_options, add_prior_options

DESCRIPTION = """\
Label a folder of images in a web browser: the same strokes, engine and outputs as label_1image_crf.py, in a
page that works over an SSH tunnel or on JupyterHub, where no window can open.

Starts a local web server and prints its address (the browser opens by itself where a display exists);
Ctrl-C stops it. In the page: the list of images (to do / started / labelled), the image with zoom (mouse wheel)
and pan (right or middle button, or Space + drag), one button and key per class (1-9, q, w, e, r, t, y),
0 the eraser, [ and ] the pen size, z undo, Shift+Z (or Ctrl+Y) redo, c compute, s save and next. The labels are
shown over the image with an opacity slider.

Every stroke is on disk before the page shows it as saved: <name>_scribbles.png (the strokes, as step 2 writes
them) and <name>_scribbles.json (their history: undo and redo survive a restart). Reopening the page, or starting
the server again, resumes each image where it was. Save writes step 2's outputs (<name>_mres.mat, _mres.png,
_report.txt, _mres_label.png, _mres_color.png; _mres.tif for a GeoTIFF) beside the images or in --outdir; an
existing <name>_mres.mat is replaced only when you confirm it in the page.

The server listens on 127.0.0.1 (this machine only) unless --host says otherwise; then every request needs the
random token printed in the address (on 127.0.0.1, only requests through a proxy such as JupyterHub's need it: it
is printed for them). It serves only the images of --input and writes only into --outdir.

examples:
  python create_groundtruth/label_web.py --input demo_data/train --labels demo_data/labels/obx_labels.txt \\
      --colors demo_data/labels/obx_label_colors.txt --user "A. Person"
  ssh -L 8050:127.0.0.1:8050 me@server   # then, on the server, the command above; open http://127.0.0.1:8050/
  python create_groundtruth/label_web.py --input new_photos --labels labels.txt --colors colors.txt \
      --fcn-run data_test10 --sort-by-uncertainty   # the model proposes; its least certain images first

The model proposes: with --model MODEL.pb --model-labels LABELS.txt (a step-4 model, through the hybrid method;
also --prior/--prior-labels) or --fcn-run RUN (a step-8 run folder; also --prior-run), each image opens with the
model's labels; your strokes correct them and compute fuses both (the model's probabilities as the CRF's prior,
as label_1image_crf.py --prior does).
"""


def build_parser():
    from ..workflows.label import LabelParams
    from ..workflows.label_web import WebParams

    parser = build_base_parser("label_web.py", DESCRIPTION)
    parser.add_argument("--input", help="folder of the images to label (a folder dialog opens if omitted and a "
                                        "display exists)")
    parser.add_argument("--labels", help="labels file, one class name per line")
    parser.add_argument("--colors", help="colour file, one colour per class")
    parser.add_argument("--outdir", help="folder for the outputs and the strokes (default: the images' folder)")
    add_engine_options(parser)
    add_prior_options(parser, aliases=("--model", "--model-labels", "--fcn-run"))
    parser.add_argument("--sort-by-uncertainty", action="store_true",
                        help="with a model: list the images most uncertain first (mean entropy of the model's "
                             "probabilities), where labelling helps the model most")
    add_seed(parser)
    parser.add_argument("--port", type=integer, help="port to listen on; 0 = any free port (default %(default)s)")
    parser.add_argument("--host", help="address to listen on; another than 127.0.0.1 needs the printed token "
                                       "(default %(default)s)")
    parser.add_argument("--user", help="your name, written into each report and .mat (default: none)")
    parser.add_argument("--no-browser", dest="open_browser", action="store_false",
                        help="do not open a browser, even where a display exists")
    take_defaults(parser, LabelParams)
    take_defaults(parser, WebParams)
    return parser


def body(args) -> None:
    from ..workflows.label import LabelParams
    from ..workflows.label_web import WebParams, serve
    from ..workflows.prior import prior_files

    prior = prior_files(args.prior, args.prior_labels, args.prior_run)  # the flags judged before any dialog
    if args.sort_by_uncertainty and prior is None:
        from ..errors import InputError

        raise InputError("--sort-by-uncertainty needs a model: give --model MODEL.pb --model-labels FILE or "
                         "--fcn-run RUN")

    folder = ask_path(args.input, "--input", kind="dir", title="Select the folder of images to label")
    labels = ask_path(args.labels, "--labels", title="Select the labels file", filetypes=[("text", "*.txt")])
    colors = ask_path(args.colors, "--colors", title="Select the label colours file", filetypes=[("text", "*.txt")])
    params = LabelParams(scale=args.scale, engine=args.engine, seed=args.seed)
    web = WebParams(port=args.port, host=args.host, user=args.user, open_browser=args.open_browser)
    serve(folder, labels, colors, params, web, outdir=args.outdir, prior=prior,
          sort_by_uncertainty=args.sort_by_uncertainty)


def main(argv=None) -> int:
    return run(build_parser(), body, argv)
