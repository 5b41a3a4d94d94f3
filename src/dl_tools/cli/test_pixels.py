"""eval_semseg/test_pixels.py: tutorial step 7, pixel accuracy of automatic against manual label files."""

from __future__ import annotations

from .common import WORST_SHOWN, ask_path, build_base_parser, run

DESCRIPTION = """\
Score automatic segmentations against manual labels, pixel by pixel. Each <base>_ares*.mat in the folder
(step 6's <base>_ares_96.mat, the FCN's <base>_ares.mat or <base>_ares_crf.mat) is paired with
<base>_mres.mat (exact base name) and classes are matched by name. For each pair and pooled over all pairs
(separately for each kind of estimate, e.g. _ares_96): overall accuracy, per-class precision, recall, F1 and
IoU, macro and frequency-weighted averages, mean IoU and Cohen's kappa. Nothing is filtered; a class absent
from both truth and estimate of a pair is not scored.

With several images, the five of each kind with the lowest pixel accuracy are listed last: where to look for
labels to correct (or for the method's weak spots).

Writes into the folder: <estimate>_cm.png per pair and pixel_eval_cm.png overall (confusion matrices, rows =
truth, row-normalised), pixel_eval.json (every number) and pixel_eval.csv (one row per pair and overall).

example:
  python eval_semseg/test_pixels.py --input demo_data/test
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
    return parser


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


def _body(args):
    from ..metrics import format_scores
    from ..workflows.pixel_eval import PixelEvalParams, evaluate_pixels

    input_dir = ask_path(args.input, "--input", kind="dir", title="Select the folder of _ares and _mres files")
    result = evaluate_pixels(input_dir, PixelEvalParams(truth_dir=args.truth_dir, resize=args.resize))
    for item in result.pairs:
        print(format_scores(item.scores, title=f"== {item.pair.estimate.name} vs {item.pair.truth.name}"))
        print()
    for kind, scores in result.overall.items():
        n_pairs = sum(item.pair.kind == kind for item in result.pairs)
        if n_pairs > 1:  # one pair's overall scores are those printed above
            print(format_scores(scores, title=f"== overall, {n_pairs} images ({kind}*.mat)"))
            print()
    worst = format_worst_images(result.pairs)
    if worst:
        print(worst)
    if result.unpaired:
        print(f"not scored (no _mres.mat): {', '.join(p.name for p in result.unpaired)}")
    print(f"scores: {result.json_path} and {result.csv_path}; confusion matrices: "
          f"{', '.join(str(p) for p in result.figures.values())}")


def main(argv=None) -> int:
    return run(build_parser(), _body, argv)
