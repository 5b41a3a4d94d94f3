"""Benchmark of the 95 % intervals of steps 5 and 7 on the demo run, and of the bootstrap's speed.

Reads a finished ``./run_demo.sh`` folder (default ``demo_run``; never written): copies the test tiles, the model,
the hybrid results, the FCN results and their manual labels into a temporary folder and runs there, as the README
does, step 5 (``test_class_tiles.py -n 100``), step 7 on the hybrid results and step 7 on the FCN results with
``--compare _ares _ares_crf``. Reports each score with its interval (bootstrap over photographs), the paired
difference the CRF makes, and the seconds the bootstrap takes alone (``intervals.score_intervals`` and
``intervals.paired_difference`` on the per-photograph confusion matrices, median of 5 runs).
Prints a Markdown table and writes it to bench_out/bench_intervals.md.

    flock /tmp/dl_tools_bench.lock python benchmarks/bench_intervals.py [--demo-run demo_run] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_common import REPO, machine, run_script, write_report

from dl_tools.intervals import paired_difference, score_intervals


def copy_demo(demo_run: Path, work: Path) -> None:
    """The inputs of steps 5 and 7 from ``demo_run`` into ``work`` (the outputs of the demo's evaluations left out)."""
    data = demo_run / "demo_data"
    shutil.copytree(data / "test" / "tile_96", work / "tile_96",
                    ignore=shutil.ignore_patterns("test_cm.png", "tile_eval.*"))
    for name in ("obx_mobilenetv2_96_1000_001.pb", "labels.txt"):
        shutil.copy(demo_run / name, work / name)
    for source, target, pattern in ((data / "test_hybrid", "hybrid", "*_ares_96.mat"),
                                    (data / "test", "test", "*_mres.mat"), (data / "test", "test", "*.jpg"),
                                    (demo_run / "test_output", "fcn", "*_ares*.mat"),
                                    (data / "data" / "labels" / "gtFine" / "val" / "data", "val_truth", "*_mres.mat"),
                                    (data / "data" / "samples" / "RGB" / "val" / "data", "val_images", "*")):
        (work / target).mkdir(exist_ok=True)
        for path in sorted(source.glob(pattern)):
            shutil.copy(path, work / target / path.name)


def stack(pixel_eval: dict, kind: str) -> np.ndarray:
    """(P, N, N) per-photograph confusion matrices of ``kind`` from a pixel_eval.json."""
    return np.array([pair["scores"]["confusion"] for pair in pixel_eval["pairs"] if pair["kind"] == kind])


def median_seconds(function, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cell(scores: dict, intervals: dict, name: str) -> str:
    low, high = intervals["scores"][name]
    return f"{scores[name]:.3f} [{low:.3f}, {high:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo-run", type=Path, default=REPO / "demo_run", help="a finished ./run_demo.sh folder")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    boot = ["--bootstrap", args.resamples, "--seed", args.seed]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        copy_demo(args.demo_run.resolve(), work)
        runs = {"step 5 (300 tiles, TensorFlow start-up included)": run_script(
                    "eval_imrecog/test_class_tiles.py", "-n", "100", "--image_dir", "tile_96", "--labels",
                    "labels.txt", "--model", "obx_mobilenetv2_96_1000_001.pb", *boot, cwd=work),
                "step 7, hybrid": run_script("eval_semseg/test_pixels.py", "--input", "hybrid", "--truth-dir", "test",
                                             *boot, cwd=work),
                "step 7, FCN with --compare": run_script(
                    "eval_semseg/test_pixels.py", "--input", "fcn", "--truth-dir", "val_truth", "--images",
                    "val_images", "--compare", "_ares", "_ares_crf", *boot, cwd=work)}
        tiles = json.loads((work / "tile_96" / "tile_eval.json").read_text())
        hybrid = json.loads((work / "hybrid" / "pixel_eval.json").read_text())
        fcn = json.loads((work / "fcn" / "pixel_eval.json").read_text())
        pages = {name: (work / folder / page).stat().st_size / 1e6 for name, folder, page in
                 (("tile_eval.html", "tile_96", "tile_eval.html"), ("pixel_eval.html (hybrid)", "hybrid",
                                                                    "pixel_eval.html"),
                  ("pixel_eval.html (FCN)", "fcn", "pixel_eval.html"))}
    hybrid_stack, fcn_a, fcn_b = stack(hybrid, "_ares_96"), stack(fcn, "_ares"), stack(fcn, "_ares_crf")
    score_intervals(hybrid_stack[:5], 10)  # imports scipy once, outside the timing
    speed = {f"score_intervals, {len(hybrid_stack)} photographs x {hybrid_stack.shape[1]} classes": median_seconds(
                 lambda: score_intervals(hybrid_stack, args.resamples, args.seed)),
             f"paired_difference, {len(fcn_a)} photographs": median_seconds(
                 lambda: paired_difference(fcn_a, fcn_b, args.resamples, args.seed)),
             "score_intervals, 200 photographs (21 repeated)": median_seconds(
                 lambda: score_intervals(np.resize(hybrid_stack, (200, *hybrid_stack.shape[1:])), args.resamples,
                                         args.seed))}
    lines = [f"# Intervals of steps 5 and 7 on the demo run ({args.demo_run})", "",
             f"Machine: {machine()}; {args.resamples} resamples of the photographs, seed {args.seed}, percentile "
             "95 % intervals.", "",
             "| evaluation | photographs | accuracy | balanced accuracy | macro F1 | mean IoU | kappa |",
             "|---|---|---|---|---|---|---|"]
    names = ("accuracy", "balanced_accuracy", "macro_f1", "mean_iou", "kappa")
    rows = [("step 5: tiles (300 test tiles)", tiles["scores"], tiles["intervals"])]
    rows += [(f"step 7: {title} ({kind})", entry["scores"], entry["intervals"]) for title, result in
             (("hybrid, 21 test images", hybrid), ("Method 2, 12 val images", fcn))
             for kind, entry in result["overall"].items()]
    lines += [f"| {title} | {intervals['n_photographs']} | " + " | ".join(cell(scores, intervals, n) for n in names)
              + " |" for title, scores, intervals in rows]
    comparison = fcn["comparison"]
    lines += ["", f"Paired difference {comparison['b']} - {comparison['a']} (Method 2 with and without the CRF, the "
              f"same {len(comparison['photographs'])} photographs resampled for both):", "",
              "| score | difference [95 % interval] | distinguishable from 0 |", "|---|---|---|"]
    for name in names:
        low, high = comparison["intervals"]["scores"][name]
        lines.append(f"| {name} | {comparison['difference'][name]:+.3f} [{low:+.3f}, {high:+.3f}] | "
                     f"{'yes' if comparison['distinguishable_from_zero'][name] else 'no'} |")
    lines += ["", "| measurement | value |", "|---|---|"]
    lines += [f"| bootstrap alone: {name}, {args.resamples} resamples (median of 5) | {seconds:.3f} s |"
              for name, seconds in speed.items()]
    lines += [f"| whole script: {name} | {run.seconds:.1f} s |"
              for name, run in runs.items()]
    lines += [f"| size of {name} | {size:.2f} MB |" for name, size in pages.items()]
    write_report("bench_intervals", "\n".join(lines))


if __name__ == "__main__":
    main()
