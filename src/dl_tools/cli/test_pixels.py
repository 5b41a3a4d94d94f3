"""eval_semseg/test_pixels.py: tutorial step 7, pixel accuracy of automatic against manual label files."""

from __future__ import annotations

from ..workflows.eval_report import WORST_SHOWN
from .common import add_bootstrap, add_seed, ask_path, build_base_parser, run, take_defaults

DESCRIPTION = """\
Score automatic segmentations against manual labels, pixel by pixel. Each <base>_ares*.mat in the folder
(step 6's <base>_ares_96.mat, the FCN's <base>_ares.mat or <base>_ares_crf.mat) is paired with
<base>_mres.mat (exact base name) and classes are matched by name. For each pair and pooled over all pairs
(separately for each kind of estimate, e.g. _ares_96): overall accuracy, per-class precision, recall, F1 and
IoU, macro and frequency-weighted averages, mean IoU and Cohen's kappa. Nothing is filtered; a class absent
from both truth and estimate of a pair is not scored.

The overall scores of each kind get a 95 % confidence interval from a bootstrap over the photographs (the
pixels of one photograph are not independent): --bootstrap N resamples of the photographs (seeded by --seed),
percentile interval. With fewer than 5 photographs no interval is given. --compare A B gives the difference
B - A of every score, resampling the same photographs for both, and says whether it is distinguishable from
zero; A and B are kinds of --input (_ares, _ares_crf), folders of results, or FOLDER/KIND.

With several images, the five of each kind with the lowest pixel accuracy are listed last: where to look for
labels to correct (or for the method's weak spots).

Writes into the folder: <estimate>_cm.png per pair and pixel_eval_cm.png overall (confusion matrices, rows =
truth, row-normalised), pixel_eval.json (every number), pixel_eval.csv (one row per pair and overall) and
pixel_eval.html (a page to open in a browser: scores, confusion matrices, the images of lowest accuracy).

examples:
  python eval_semseg/test_pixels.py --input demo_data/test
  python eval_semseg/test_pixels.py --input test_output --truth-dir demo_data/data/labels/gtFine/val/data
      --compare _ares _ares_crf
"""


def build_parser():
    parser = build_base_parser("test_pixels.py", DESCRIPTION)
    parser.add_argument("-i", "--input", metavar="DIR",
                        help="folder of *_ares*.mat estimates (a folder dialog opens if omitted and a display exists)")
    parser.add_argument("--truth-dir", metavar="DIR",
                        help="folder of the *_mres.mat manual label files (default: the --input folder)")
    parser.add_argument("--resize", action="store_true",
                        help="resize an estimate whose size differs from its truth (nearest neighbour) instead of "
                             "stopping with an error")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"),
                        help="the paired difference B - A of every score over the same photographs: each a kind of "
                             "--input (e.g. _ares _ares_crf), a folder of results of one kind, or FOLDER/KIND")
    parser.add_argument("--images", metavar="DIR",
                        help="folder of the photographs, shown in pixel_eval.html (default: the --truth-dir "
                             "folder, then the --input folder)")
    add_bootstrap(parser)
    add_seed(parser)
    from ..workflows.pixel_eval import PixelEvalParams

    return take_defaults(parser, PixelEvalParams)


def format_worst_images(pairs, count: int = WORST_SHOWN) -> str:
    """For each kind of estimate with two or more images, lines naming the ``count`` pairs (``PairResult``) of
    lowest pixel accuracy, lowest first ("" when no kind has two images)."""
    lines = []
    for kind in sorted({item.pair.kind for item in pairs}):
        items = sorted((item for item in pairs if item.pair.kind == kind), key=lambda item: item.scores.accuracy)
        if len(items) < 2:
            continue
        lines.append(f"lowest pixel accuracy ({kind}*.mat, {min(count, len(items))} of {len(items)} images):")
        lines += [f"  {item.pair.estimate.name}: accuracy {item.scores.accuracy:.3f}, macro F1 "
                  f"{item.scores.macro_f1:.3f}, mean IoU {item.scores.mean_iou:.3f}" for item in items[:count]]
    return "\n".join(lines)


def format_comparison(comparison) -> str:
    """The ``pixel_eval.Comparison`` on the terminal: every one-number score of A and B and the difference B - A
    with its interval, then one sentence per key score."""
    from ..metrics import format_value
    from ..workflows.eval_report import SUMMARY_ROWS

    a, b, paired = comparison.name_a, comparison.name_b, comparison.paired
    width = max(len(label) for label, _ in SUMMARY_ROWS)
    lines = [f"== {b} against {a}, {len(comparison.photographs)} photographs (difference {b} - {a})"]
    lines += [f"{label:<{width}}  {a} {format_value(getattr(comparison.scores_a, name))}  {b} "
              f"{format_value(getattr(comparison.scores_b, name))}  difference "
              f"{format_value(paired.difference[name], paired.intervals.interval(name), sign=True)}"
              for label, name in SUMMARY_ROWS]
    return "\n".join([*lines, paired.intervals.describe(), *comparison.sentences()])


def _body(args):
    from ..metrics import format_scores
    from ..workflows.pixel_eval import PixelEvalParams, evaluate_pixels

    params = PixelEvalParams(truth_dir=args.truth_dir, resize=args.resize, bootstrap=args.bootstrap, seed=args.seed,
                             compare=tuple(args.compare) if args.compare else None, images_dir=args.images)
    input_dir = ask_path(args.input, "--input", kind="dir", title="Select the folder of _ares and _mres files")
    result = evaluate_pixels(input_dir, params)
    for item in result.pairs:
        print(format_scores(item.scores, title=f"== {item.pair.estimate.name} vs {item.pair.truth.name}"))
        print()
    for kind, scores in result.overall.items():
        n_pairs = sum(item.pair.kind == kind for item in result.pairs)
        intervals = result.intervals[kind]
        if n_pairs > 1:  # one pair's overall scores are those printed above
            print(format_scores(scores, title=f"== overall, {n_pairs} images ({kind}*.mat)", low=intervals.low,
                                high=intervals.high))
        print(f"{intervals.describe()}{'' if n_pairs > 1 else f' ({kind}*.mat)'}\n")
    if result.comparison is not None:
        print(format_comparison(result.comparison) + "\n")
    worst = format_worst_images(result.pairs)
    if worst:
        print(worst)
    if result.unpaired:
        print(f"not scored (no _mres.mat): {', '.join(p.name for p in result.unpaired)}")
    print(f"scores: {result.json_path} and {result.csv_path}; confusion matrices: "
          f"{', '.join(str(p) for p in result.figures.values())}\nreport to open in a browser: {result.html_path}")


def main(argv=None) -> int:
    return run(build_parser(), _body, argv)
