"""dl-tools choose-crf: choose, on a Method 2 run's validation images, how infer_crf.py refines its labels."""

from __future__ import annotations

from .common import build_base_parser, run

DESCRIPTION = """\
Refine the network's probabilities of every validation image of the training run --name with each candidate CRF
setting (kernels, temperature, the changes of class it may make), score them against the images' labels, and
store in the run's settings.json the best one when it beats the network alone (infer_crf.py then uses it), or else
that no setting helped (infer_crf.py then keeps the network's labels). train.py does this at the end of training;
this command does it for a run trained by an older DL tools, or again after its validation labels changed.

example:
  dl-tools choose-crf --name data_test10
"""


def build_parser():
    parser = build_base_parser("choose-crf", DESCRIPTION)
    parser.add_argument("--name", required=True, help="run folder written by train.py")
    return parser


def report_choice(run_dir) -> None:
    """Choose the run's CRF (``workflows.crf_choice.choose_crf``) and print what was found."""
    from ..io.run_folder import read_run_settings
    from ..workflows.crf_choice import choose_crf, describe

    choice = choose_crf(run_dir)
    labels = read_run_settings(run_dir)["labels"]
    print(f"CRF for infer_crf.py: {choice.summary()}"
          + (f"; chosen: {describe(choice.refinement, labels)}" if choice.refinement else ""))


def _body(args):
    report_choice(args.name)


def main(argv=None) -> int:
    return run(build_parser(), _body, argv)
