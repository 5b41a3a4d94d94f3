"""Benchmark of the web labeller (create_groundtruth/label_web.py) through its API: how long a person waits.

For each demo image asked for (default: the first three, 920 x 614 px), a copy is served by the web labeller's app
(in this process, through Starlette's TestClient: the same requests the page sends, without a network) and:

- strokes are posted as the page posts them: per class present, ``--strokes`` straight strokes 40 px long and
  5 px wide, placed (seeded) well inside that class of the image's dense truth (demo_data/gt);
- each stroke's round trip is timed: checked, painted, written to ``<name>_scribbles.png`` and its history, and
  acknowledged;
- "compute" is timed from the request to the moment the page's poll sees the result (the page polls every
  0.25 s; the wall time here polls every 0.01 s), with the computation's own time (the job's seconds);
- "save" (step 2's writers: .mat, figure, report, label and colour PNGs) is timed.

With ``--big``, the first image is also measured enlarged 8 times (7360 x 4912 px, 36 megapixels: the page shows
a 2048 px copy; strokes, strokes files and labels are full size), with the same strokes in its pixels.

The engine and settings are step 2's defaults (``-s 0.2``, engine "strokes"), unless ``--scale`` says otherwise.
Pixel accuracy against the dense truth is printed for information (the strokes are few and simple).

    flock /tmp/dl_tools_bench.lock python benchmarks/bench_label_web.py [--images N] [--strokes 4] [--repeat 5] \
        [--big]

Prints a markdown table and writes it to bench_out/bench_label_web.md.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_common import REPO, machine, write_report

DEMO = REPO / "demo_data"
STROKE_HALF_LENGTH, STROKE_WIDTH = 20, 5
BIG_FACTOR = 8  # 920 x 614 px -> 7360 x 4912 px: 36 megapixels, the legacy demo photographs' size


def place_strokes(truth: np.ndarray, per_class: int, seed: int) -> list[dict]:
    """Horizontal strokes of 2 x STROKE_HALF_LENGTH px, ``per_class`` per class present in the (H, W) ``truth``,
    each lying with its whole width inside its class (random, seeded positions)."""
    import cv2

    rng = np.random.default_rng(seed)
    size = 2 * STROKE_HALF_LENGTH + 1
    kernel = np.ones((STROKE_WIDTH, size), np.uint8)  # a stroke's footprint, centred on its middle
    strokes = []
    for k in np.unique(truth):
        inside = cv2.erode((truth == k).astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        fits = np.argwhere(inside > 0)
        for y, x in fits[rng.choice(len(fits), size=min(per_class, len(fits)), replace=False)]:
            strokes.append({"class": int(k), "width": STROKE_WIDTH,
                            "points": [[int(x) - STROKE_HALF_LENGTH, int(y)], [int(x) + STROKE_HALF_LENGTH, int(y)]]})
    return strokes


def measure(image: Path, args, upscale: int = 1) -> dict:
    """The times (s) of one image's session: strokes, compute (wall and job), save; and its pixel accuracy.
    ``upscale`` > 1: the image (bilinear) and its truth (nearest) enlarged that many times first."""
    from starlette.testclient import TestClient

    from dl_tools.arrays.resize import resize_image, resize_labels
    from dl_tools.io.images import read_image, write_image
    from dl_tools.io.mat import read_label_mat
    from dl_tools.io.text import read_labels
    from dl_tools.workflows.label import LabelParams
    from dl_tools.workflows.label_web import WebParams, build_labeller

    truth_file = read_label_mat(DEMO / "gt" / f"{image.stem}_mres.mat")
    labels = read_labels(DEMO / "labels" / "obx_labels.txt")
    truth = np.asarray([labels.index(name) for name in truth_file.labels])[truth_file.label_image]  # by name
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "images"
        folder.mkdir()
        if upscale > 1:
            truth = resize_labels(truth, (truth.shape[0] * upscale, truth.shape[1] * upscale))
            write_image(folder / image.name, resize_image(read_image(image), truth.shape), quality=90)
        else:
            shutil.copy(image, folder / image.name)
        labeller = build_labeller(folder, DEMO / "labels" / "obx_labels.txt", DEMO / "labels" / "obx_label_colors.txt",
                                  LabelParams(scale=args.scale), WebParams(user="benchmark"))
        client = TestClient(labeller.app)
        base = f"/api/images/{image.name}"
        client.get(base)
        stroke_seconds = []
        for stroke in place_strokes(truth, args.strokes, seed=0):
            started = time.perf_counter()
            response = client.post(f"{base}/strokes", json=stroke)
            assert response.status_code == 200, response.text
            stroke_seconds.append(time.perf_counter() - started)
        walls, jobs = [], []
        for _ in range(args.repeat):
            started = time.perf_counter()
            job = client.post(f"{base}/compute", json={}).json()
            while job["state"] in ("queued", "running"):
                time.sleep(0.01)
                job = client.get(f"/api/jobs/{job['job']}").json()
            assert job["state"] == "done", job
            walls.append(time.perf_counter() - started)
            jobs.append(job["seconds"])
        started = time.perf_counter()
        assert client.post(f"{base}/save", json={}).status_code == 200
        save_seconds = time.perf_counter() - started
        labeller.jobs.shutdown()
        result = read_label_mat(folder / f"{image.stem}_mres.mat").label_image
    height, width = result.shape
    return {"image": image.name, "size": f"{width} x {height}", "strokes": len(stroke_seconds),
            "stroke_ms": 1000 * statistics.median(stroke_seconds), "stroke_max_ms": 1000 * max(stroke_seconds),
            "compute_wall": statistics.median(walls), "compute_job": statistics.median(jobs),
            "first_compute": walls[0], "save": save_seconds,
            "accuracy": float((result == truth).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=3, help="demo images measured, in name order (default 3)")
    parser.add_argument("--strokes", type=int, default=4, help="strokes per class (default 4)")
    parser.add_argument("--repeat", type=int, default=5, help="computes per image, median reported (default 5)")
    parser.add_argument("--scale", type=float, default=0.2, help="-s of the labelling (default 0.2, step 2's)")
    parser.add_argument("--big", action="store_true",
                        help=f"also the first image enlarged {BIG_FACTOR} times (7360 x 4912 px, 36 megapixels)")
    args = parser.parse_args()
    images = sorted((DEMO / "jpg").glob("*.jpg"))[: args.images]
    rows = [measure(image, args) for image in images]
    if args.big:
        rows.append(measure(images[0], args, upscale=BIG_FACTOR))
    lines = [f"Web labeller through its API ({machine()}), -s {args.scale:g}, engine strokes, "
             f"{args.strokes} strokes per class, median of {args.repeat} computes", "",
             "| image | size (px) | strokes | stroke saved and acknowledged, median / max (ms) | compute, as the "
             "page waits (s) | of which the computation (s) | first compute (s) | save (s) | pixel accuracy |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['image']} | {r['size']} | {r['strokes']} | {r['stroke_ms']:.0f} / {r['stroke_max_ms']:.0f} | "
              f"{r['compute_wall']:.2f} | {r['compute_job']:.2f} | {r['first_compute']:.2f} | {r['save']:.2f} | "
              f"{r['accuracy']:.3f} |" for r in rows]
    write_report("bench_label_web", "\n".join(lines))


if __name__ == "__main__":
    main()
