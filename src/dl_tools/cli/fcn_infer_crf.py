"""semseg_fullyconv/infer_crf.py: Method 2 step 8d, network labels refined by a dense CRF."""

from __future__ import annotations

import math

from .common import number_type, positive_int, run, take_defaults, unit_fraction
from .fcn_infer import build_parser as build_infer_parser
from .fcn_infer import infer_and_report

DESCRIPTION = """\
As infer.py, then refine the network's class probabilities with a fully connected CRF (pixels of similar
colour close together get the same class), using the original image. Outputs carry a _crf tag:
  <name>_crf_label.png  <name>_crf_color.png  <name>_crf_overlay.png  <name>_ares_crf.mat  (<name>_crf_label.tif)
so they sit beside infer.py's outputs, and test_pixels.py scores <name>_ares_crf.mat against <name>_mres.mat.
CRF distances are in pixels of the grid the CRF runs on (the image times --crf-scale).

example:
  python semseg_fullyconv/infer_crf.py --name data_test10 --samples-dir demo_data/data/samples/RGB/val/data \\
      --output-dir test_output --data-source data
"""

positive = number_type(float, lambda v: 0.0 < v < math.inf, "a positive number")
non_negative = number_type(float, lambda v: 0.0 <= v < math.inf, "0 or a positive number")


#: option -> CRFParams field
CRF_OPTIONS = {"crf_scale": "scale", "crf_iterations": "n_iter", "crf_theta": "theta_bilateral",
               "crf_theta_color": "theta_color", "crf_compat": "compat_bilateral", "crf_smooth": "theta_gaussian",
               "crf_smooth_compat": "compat_gaussian"}


def build_parser():
    from ..workflows.fcn_infer import FCN_CRF

    parser = build_infer_parser("infer_crf.py", DESCRIPTION)
    group = parser.add_argument_group("CRF (defaults chosen on the demo validation images)")
    group.add_argument("--crf-scale", type=unit_fraction,
                       help="the CRF runs on the image resized by this factor (default %(default)s)")
    group.add_argument("--crf-iterations", type=positive_int,
                       help="mean-field iterations (default %(default)s; legacy 40)")
    group.add_argument("--crf-theta", type=positive,
                       help="spatial width of the colour kernel, px (default %(default)s; legacy 60)")
    group.add_argument("--crf-theta-color", type=positive,
                       help="colour width of the colour kernel, 0-255 units (default %(default)s; legacy 1)")
    group.add_argument("--crf-compat", type=non_negative,
                       help="weight of the colour kernel (default %(default)s; legacy 100)")
    group.add_argument("--crf-smooth", type=non_negative,
                       help="width of the smoothness kernel, px; 0 = off (default %(default)s; legacy 5)")
    group.add_argument("--crf-smooth-compat", type=non_negative,
                       help="weight of the smoothness kernel (default %(default)s; legacy 5)")
    return take_defaults(parser, FCN_CRF, **CRF_OPTIONS)


def _body(args):
    from ..segmentation.crf import CRFParams

    crf = CRFParams(**{field: getattr(args, option) for option, field in CRF_OPTIONS.items()})
    return infer_and_report(args, crf)


def main(argv=None) -> int:
    return run(build_parser(), _body, argv)
