"""semseg_fullyconv/infer_crf.py: Method 2 step 8d, network labels refined by a dense CRF."""

from __future__ import annotations

import logging
import math

from .common import number_type, positive_int, run, unit_fraction
from .fcn_infer import build_parser as build_infer_parser
from .fcn_infer import infer_and_report

log = logging.getLogger(__name__)

DESCRIPTION = """\
As infer.py, then refine the network's class probabilities with a fully connected CRF (pixels of similar
colour close together get the same class), using the original image. Outputs carry a _crf tag:
  <name>_crf_label.png  <name>_crf_color.png  <name>_crf_overlay.png  <name>_ares_crf.mat  (<name>_crf_label.tif)
so they sit beside infer.py's outputs, and test_pixels.py scores <name>_ares_crf.mat against <name>_mres.mat.

The CRF settings are those train.py chose for the run on its own validation images (printed with what the CRF
gained there). When no setting beat the network alone there, the outputs hold the network's labels (as infer.py's)
and a warning says so. Any --crf-... option replaces that setting of the run's choice and always runs the CRF.
CRF distances are in pixels of the grid the CRF runs on (the image times --crf-scale).

example:
  python semseg_fullyconv/infer_crf.py --name data_test10 --samples-dir demo_data/data/samples/RGB/val/data \\
      --output-dir test_output --data-source data
"""

positive = number_type(float, lambda v: 0.0 < v < math.inf, "a positive number")
non_negative = number_type(float, lambda v: 0.0 <= v < math.inf, "0 or a positive number")
probability = number_type(float, lambda v: 0.0 < v <= 1.0, "a probability in (0, 1]")
unit_interval = number_type(float, lambda v: 0.0 <= v <= 1.0, "a probability in [0, 1]")


#: option -> CRFParams field
CRF_OPTIONS = {"crf_scale": "scale", "crf_iterations": "n_iter", "crf_theta": "theta_bilateral",
               "crf_theta_color": "theta_color", "crf_compat": "compat_bilateral", "crf_smooth": "theta_gaussian",
               "crf_smooth_compat": "compat_gaussian"}
#: option -> Refinement field
REFINEMENT_OPTIONS = {"crf_temperature": "temperature", "crf_gate": "gate", "crf_accept": "accept"}


def build_parser():
    from ..workflows.fcn_infer import DEFAULT_REFINEMENT

    d = DEFAULT_REFINEMENT.crf
    parser = build_infer_parser("infer_crf.py", DESCRIPTION)
    group = parser.add_argument_group("CRF (default: the run's choice; for a run without one, the value shown)")
    group.add_argument("--crf-scale", type=unit_fraction,
                       help=f"the CRF runs on the image resized by this factor ({d.scale})")
    group.add_argument("--crf-iterations", type=positive_int, help=f"mean-field iterations ({d.n_iter}; legacy 40)")
    group.add_argument("--crf-theta", type=positive,
                       help=f"spatial width of the colour kernel, px ({d.theta_bilateral:g}; legacy 60)")
    group.add_argument("--crf-theta-color", type=positive,
                       help=f"colour width of the colour kernel, 0-255 units ({d.theta_color:g}; legacy 1)")
    group.add_argument("--crf-compat", type=non_negative,
                       help=f"weight of the colour kernel ({d.compat_bilateral:g}; legacy 100)")
    group.add_argument("--crf-smooth", type=non_negative,
                       help=f"width of the smoothness kernel, px; 0 = off ({d.theta_gaussian:g}; legacy 5)")
    group.add_argument("--crf-smooth-compat", type=non_negative,
                       help=f"weight of the smoothness kernel ({d.compat_gaussian:g}; legacy 5)")
    group.add_argument("--crf-temperature", type=positive,
                       help="the network's probabilities become softmax(log p / T) before the CRF (1 = as they are)")
    group.add_argument("--crf-gate", type=probability,
                       help="pixels whose top network probability is at least this keep the network's class "
                            "(1 = no such gate)")
    group.add_argument("--crf-accept", type=unit_interval,
                       help="the CRF's class replaces the network's only where the CRF is at least this sure "
                            f"(0 = everywhere; {DEFAULT_REFINEMENT.accept:g})")
    group.add_argument("--crf-all-changes", action="store_true",
                       help="let the CRF change any class into any other (default: only the changes of class the "
                            "run's choice found helpful on its validation images)")
    return parser


def refinement_for(args):
    """(Refinement or None, keep_network) for infer_crf.py's ``args``: the run's choice with the options given
    applied; for a run without a choice, the defaults (with a warning)."""
    import dataclasses

    from ..io.run_folder import read_run_settings
    from ..segmentation.refine import NO_GATE
    from ..workflows.crf_choice import describe, stored_choice
    from ..workflows.fcn_infer import DEFAULT_REFINEMENT

    crf_given = {field: getattr(args, option) for option, field in CRF_OPTIONS.items()
                 if getattr(args, option) is not None}
    given = {field: getattr(args, option) for option, field in REFINEMENT_OPTIONS.items()
             if getattr(args, option) is not None}
    if given.get("gate") == 1.0:
        given["gate"] = NO_GATE
    if args.crf_all_changes:
        given["changes"] = None
    settings = read_run_settings(args.name)
    choice = stored_choice(settings, args.name)
    if choice is None:
        log.warning("the run %s has no CRF settings chosen on its validation images (trained by an older DL tools): "
                    "the defaults are used; choose them with "
                    "`dl-tools choose-crf --name %s`", args.name, args.name)
        base = DEFAULT_REFINEMENT
    else:
        log.info("CRF: %s", choice.summary())
        if choice.refinement is None and not crf_given and not given:
            log.warning("infer_crf.py writes the network's labels (as infer.py does) for run %s; give --crf-... "
                        "options to run the CRF anyway", args.name)
            return None, True
        base = choice.refinement or DEFAULT_REFINEMENT
    refinement = dataclasses.replace(base, crf=dataclasses.replace(base.crf, **crf_given), **given)
    log.info("CRF settings: %s%s", describe(refinement, settings["labels"]),
             " (the options given replace the run's)" if crf_given or given else "")
    return refinement, False


def _body(args):
    refinement, keep_network = refinement_for(args)
    return infer_and_report(args, refinement, keep_network)


def main(argv=None) -> int:
    return run(build_parser(), _body, argv)
