"""Benchmark of the labelling engines (step 2): accuracy against dense truth, seconds per megapixel, peak memory.

Strokes are simulated from the dense truth of every demo image
(dl_tools.labelling.simulated_strokes.simulate_strokes: short random strokes inside each region, about 1.5 % of
the pixels, seeded), then each engine labels the image:

- legacy     : the legacy recipe (reference/legacy_behaviour.md section 1.4) with its parameters (bilateral theta
               60, colour 1, compat 100, 30 iterations), without its bugs;
- strokes    : the same recipe with the CRF settings chosen by measurement
               (dl_tools.labelling.engine.default_crf_params);
- classifier : random-forest pixel classifier on multi-scale features + location, then a CRF.

Plus the 36-megapixel case: a demo image and its strokes and truth upscaled to 7360 x 4912 (image bilinear, label
maps nearest neighbour) and labelled at -s 0.2. Each case runs in its own process, so peak memory is that
process's maximum resident set size (ru_maxrss), which includes Python and the imported libraries.

    flock /tmp/dl_tools_bench.lock python benchmarks/bench_labelling.py [--scale 0.5] [--images N] [--skip-36mp]

Prints a markdown table and writes it to bench_out/bench_labelling.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from bench_common import REPO, machine, write_report

DEMO = REPO / "demo_data"
BIG = (4912, 7360)  # (H, W) of the legacy demo photographs
CASES = ("legacy", "strokes", "classifier")


def _params(case: str, scale: float):
    from dl_tools.labelling.engine import default_crf_params
    from dl_tools.segmentation.crf import CRFParams

    return CRFParams(scale=scale) if case == "legacy" else default_crf_params(case, scale)


def _demo_items(n_images: int | None):
    from dl_tools.io.images import read_image
    from dl_tools.io.mat import read_label_mat
    from dl_tools.labelling.simulated_strokes import simulate_strokes

    mats = sorted((DEMO / "gt").glob("*_mres.mat"))[:n_images]
    for index, mat in enumerate(mats):
        truth = read_label_mat(mat).label_image
        image = read_image(DEMO / "jpg" / f"{mat.name[:-len('_mres.mat')]}.jpg")
        yield image, truth, simulate_strokes(truth, coverage=0.015, seed=index + 1)


def _big_item():
    import cv2

    image, truth, sparse = next(_demo_items(1))
    size = (BIG[1], BIG[0])
    return (cv2.resize(image, size, interpolation=cv2.INTER_LINEAR),
            cv2.resize(truth, size, interpolation=cv2.INTER_NEAREST),
            cv2.resize(sparse, size, interpolation=cv2.INTER_NEAREST))


def run_case(case: str, scale: float, big: bool, n_images: int | None) -> dict:
    """Label the images with one engine in this process; returns accuracy, time and memory."""
    import resource

    import numpy as np

    from dl_tools.labelling.engine import label_from_strokes

    engine = "strokes" if case == "legacy" else case
    accuracies, seconds, pixels, coverage = [], 0.0, 0, []
    items = [_big_item()] if big else _demo_items(n_images)
    for image, truth, sparse in items:
        start = time.perf_counter()
        label_image, _ = label_from_strokes(image, sparse, int(truth.max()) + 1 if big else 3,
                                            _params(case, scale), engine)
        seconds += time.perf_counter() - start
        pixels += truth.size
        accuracies.append(float((label_image == truth).mean()))
        coverage.append(float((sparse > 0).mean()))
    return dict(case=case, scale=scale, images=len(accuracies), megapixels=pixels / 1e6,
                accuracy=float(np.mean(accuracies)), worst=float(np.min(accuracies)),
                coverage=float(np.mean(coverage)), seconds_per_mp=seconds / (pixels / 1e6),
                peak_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2)


def _subprocess(case, scale, big, n_images):
    cmd = [sys.executable, __file__, "--case", case, "--scale", str(scale)]
    cmd += ["--big"] if big else []
    cmd += ["--images", str(n_images)] if n_images else []
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.5, help="-s for the demo images (default 0.5)")
    parser.add_argument("--big-scale", type=float, default=0.2, help="-s for the 36 MP image (default 0.2)")
    parser.add_argument("--images", type=int, default=None, help="only the first N demo images")
    parser.add_argument("--skip-36mp", action="store_true")
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--big", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:  # child process: one case
        print(json.dumps(run_case(args.case, args.scale, args.big, args.images)))
        return 0
    rows = []
    for case in CASES:
        rows.append(_subprocess(case, args.scale, False, args.images))
        print(rows[-1], file=sys.stderr, flush=True)
    if not args.skip_36mp:
        for case in CASES:
            rows.append(dict(_subprocess(case, args.big_scale, True, None), case=f"{case}, 36 MP"))
            print(rows[-1], file=sys.stderr, flush=True)
    lines = [f"Labelling engines ({machine()}); "
             "strokes simulated from the dense truth, seeded.", "",
             "| engine | -s | images | megapixels | stroke pixels | mean pixel accuracy | worst image | s / MP "
             "| peak memory (GB) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['scale']} | {r['images']} | {r['megapixels']:.1f} | {r['coverage']:.1%} "
                     f"| {r['accuracy']:.4f} | {r['worst']:.4f} | {r['seconds_per_mp']:.2f} | {r['peak_gb']:.2f} |")
    write_report("bench_labelling", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
