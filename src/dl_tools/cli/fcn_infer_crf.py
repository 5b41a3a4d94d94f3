"""semseg_fullyconv/infer_crf.py: Method 2 step 8d, network labels refined by a dense CRF."""

from __future__ import annotations

import math

from .common import number_type, positive_int, run, unit_fraction
from .fcn_infer import build_parser as build_infer_parser, infer_and_report

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

# defaults chosen on the demo validation images (benchmarks/bench_fcn.py)
CRF_DEFAULTS = dict(theta_bilateral=120.0, theta_color=10.0, compat_bilateral=10.0, theta_gaussian=3.0,
                    compat_gaussian=3.0, n_iter=10, scale=0.5)

positive = number_type(float, lambda v: 0.0 < v < math.inf, "a positive number")
non_negative = number_type(float, lambda v: 0.0 <= v < math.inf, "0 or a positive number")


def build_parser():
    parser = build_infer_parser("infer_crf.py", DESCRIPTION)
    d = CRF_DEFAULTS
    group = parser.add_argument_group("CRF")
    group.add_argument("--crf-scale", type=unit_fraction, default=d["scale"],
                       help=f"the CRF runs on the image resized by this factor (default {d['scale']})")
    group.add_argument("--crf-iterations", type=positive_int, default=d["n_iter"],
                       help=f"mean-field iterations (default {d['n_iter']}; legacy 40)")
    group.add_argument("--crf-theta", type=positive, default=d["theta_bilateral"],
                       help=f"spatial width of the colour kernel, px (default {d['theta_bilateral']:g}; legacy 60)")
    group.add_argument("--crf-theta-color", type=positive, default=d["theta_color"],
                       help=f"colour width of the colour kernel, 0-255 units (default {d['theta_color']:g}; legacy 1)")
    group.add_argument("--crf-compat", type=non_negative, default=d["compat_bilateral"],
                       help=f"weight of the colour kernel (default {d['compat_bilateral']:g}; legacy 100)")
    group.add_argument("--crf-smooth", type=non_negative, default=d["theta_gaussian"],
                       help=f"width of the smoothness kernel, px; 0 = off (default {d['theta_gaussian']:g}; legacy 5)")
    group.add_argument("--crf-smooth-compat", type=non_negative, default=d["compat_gaussian"],
                       help=f"weight of the smoothness kernel (default {d['compat_gaussian']:g}; legacy 5)")
    return parser


def _body(args):
    from ..segmentation.crf import CRFParams

    crf = CRFParams(theta_bilateral=args.crf_theta, theta_color=args.crf_theta_color,
                    compat_bilateral=args.crf_compat, theta_gaussian=args.crf_smooth,
                    compat_gaussian=args.crf_smooth_compat, n_iter=args.crf_iterations, scale=args.crf_scale)
    return infer_and_report(args, crf)


def main(argv=None) -> int:
    return run(build_parser(), _body, argv)
