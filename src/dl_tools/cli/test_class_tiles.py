"""eval_imrecog/test_class_tiles.py: tutorial step 5, score a retrained model on class folders of tiles."""

from __future__ import annotations

from ..terminal import count
from ..workflows.eval_report import WORST_SHOWN
from .common import add_bootstrap, add_seed, ask_path, build_base_parser, integer, run, take_defaults

DESCRIPTION = """\
Classify n random tiles of each class folder (ideally the test/ tiles) with a model written by retrain.py
and print overall accuracy, per-class precision, recall and F1, macro F1, Cohen's kappa and the mean
probability of the predicted class, then the source photographs with the most misclassified tiles (tiles named
<photograph>_<row>_<col>.jpg by retile.py): where to look for labelling errors. Folder names must equal class
names of the labels file exactly; tiles of another size are resized to the model input.

Every score gets a 95 % confidence interval from a bootstrap over the source photographs of the tiles (the
tiles of one photograph are not independent): --bootstrap N resamples of the photographs (seeded by --seed),
percentile interval. With fewer than 5 photographs no interval is given.

Writes into the tile folder: test_cm.png (confusion matrix, rows = truth), tile_eval.json (every number,
every photograph), tile_eval.csv (every score with its interval) and tile_eval.html (a page to open in a
browser: scores, confusion matrix, misclassified tiles of the worst photographs).

example:
  python eval_imrecog/test_class_tiles.py -n 100 --image_dir demo_data/test/tile_96
      --labels labels.txt --model obx_mobilenetv2_96_1000_001.pb
"""


def build_parser():
    parser = build_base_parser("test_class_tiles.py", DESCRIPTION)
    parser.add_argument("-n", "--number", type=integer,
                        help="tiles drawn at random per class (default %(default)s; all when fewer)")
    parser.add_argument("--image_dir", help="folder of class subfolders of tiles (a dialog opens if omitted)")
    parser.add_argument("--labels", help="labels file written by retrain.py (a dialog opens if omitted)")
    parser.add_argument("--model", help="frozen model .pb written by retrain.py (a dialog opens if omitted)")
    add_seed(parser)
    add_bootstrap(parser)
    from ..workflows.eval_tiles import EvalTilesParams

    return take_defaults(parser, EvalTilesParams, number="n")


def format_worst_photographs(photographs: list[dict], most: int = WORST_SHOWN) -> str:
    """Lines naming the first ``most`` photographs of ``photograph_scores`` that have a wrong tile ("" if none)."""
    worst = [row for row in photographs if row["wrong"]][:most]
    if not worst:
        return ""
    lines = [f"photographs with the most misclassified tiles ({len(worst)} of {len(photographs)}):"]
    for row in worst:
        error = row["most_frequent_error"]
        lines.append(f"  {row['photograph']}: {row['wrong']} of {count(row['tiles'], 'tile')} wrong (accuracy "
                     f"{row['accuracy']:.3f}), most often {error['truth']} taken for {error['estimate']} "
                     f"({error['tiles']})")
    return "\n".join(lines)


def _body(args):
    from ..metrics import format_scores
    from ..workflows.eval_tiles import EvalTilesParams, evaluate_tiles

    params = EvalTilesParams(n=args.number, seed=args.seed, bootstrap=args.bootstrap)
    image_dir = ask_path(args.image_dir, "--image_dir", kind="dir", title="Select a folder of class folders of tiles")
    labels = ask_path(args.labels, "--labels", title="Select the labels file", filetypes=[("labels", "*.txt")])
    model = ask_path(args.model, "--model", title="Select the model file", filetypes=[("frozen model", "*.pb")])
    result = evaluate_tiles(image_dir, labels, model, params)
    print(format_scores(result.scores, title=f"{count(len(result.files), 'tile')} from {image_dir}",
                        low=result.intervals.low, high=result.intervals.high))
    print(result.intervals.describe())
    print(f"mean probability of the predicted class {result.mean_posterior:.4f}")
    worst = format_worst_photographs(result.photographs)
    if worst:
        print(worst)
    print(f"confusion matrix: {result.cm_path}\nall numbers: {result.json_path} and {result.csv_path}\n"
          f"report to open in a browser: {result.html_path}")


def main(argv=None) -> int:
    return run(build_parser(), _body, argv)
