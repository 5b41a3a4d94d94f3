"""Orthomosaics larger than memory: wall time, megapixels per second and peak memory of step 8 (infer.py and
infer_crf.py) on mosaics of growing size, labelled window by window, and the agreement of windows with the whole
image on a mosaic that fits in memory.

    ./run_demo.sh                                  # once: trains demo_run/data_test10 (the network used here)
    python benchmarks/bench_orthomosaic.py --megapixels 100 400 1600 --agreement 40

Mosaics are built by benchmarks/make_orthomosaic.py (kept in bench_out/mosaics/ for later runs). Peak memory is
the largest resident set of the script's process (os.wait4), in GB; megapixels per second count the whole raster,
no-data border included, start-up and the preview figure included.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from bench_common import OUT, REPO, machine, write_report
from make_orthomosaic import write_mosaic

STEPS = {"infer": "semseg_fullyconv/infer.py", "infer_crf": "semseg_fullyconv/infer_crf.py"}


def mosaic(megapixels: float) -> Path:
    """bench_out/mosaics/<megapixels>/images/mosaic.tif (a link to the mosaic, alone in its folder, so a folder run
    labels it and not its truth), built when missing."""
    folder = OUT / "mosaics" / f"{megapixels:g}"
    if not (folder / "mosaic_labels.tif").is_file():
        write_mosaic(folder, megapixels)
    alone = folder / "images" / "mosaic.tif"
    if not alone.exists():
        alone.parent.mkdir(exist_ok=True)
        alone.symlink_to(folder / "mosaic.tif")
    return alone


def timed(script: str, *args, cwd: Path) -> tuple[float, float]:
    """Run a tutorial script quietly; (wall seconds, peak resident GB of its process)."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(REPO / script), "-q", *map(str, args)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, DL_TOOLS_NO_DIALOG="1", TF_CPP_MIN_LOG_LEVEL="2"))
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"{script} failed:\n{out}\n{err}")
    return seconds, usage.ru_maxrss / 1e6


def label(step: str, raster: Path, run: Path, out: Path, windowed: bool) -> tuple[float, float]:
    """Label ``raster`` (alone in its folder) with ``step``; by windows unless ``windowed`` is False."""
    extra = ["--max-megapixels", "0"] if windowed else ["--max-megapixels", "100000"]
    return timed(STEPS[step], "--name", run.resolve(), "--samples-dir", raster.parent.resolve(), "--output-dir",
                 out.resolve(), "--overwrite", *extra, cwd=REPO)


def agreement(step: str, megapixels: float, run: Path) -> tuple[float, float, float, float]:
    """(share of pixels equal, windows vs whole image; windowed s; whole s; whole peak GB) on one mosaic."""
    import rasterio

    raster = mosaic(megapixels)
    tag = "_crf" if step == "infer_crf" else ""
    results, times = {}, {}
    for windowed in (True, False):
        out = OUT / "orthomosaic" / f"agreement_{step}_{'windows' if windowed else 'whole'}"
        times[windowed] = label(step, raster, run, out, windowed)
        with rasterio.open(out / f"mosaic{tag}_label.tif") as src:
            results[windowed] = src.read(1)
    return float(np.mean(results[True] == results[False])), times[True][0], times[False][0], times[False][1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", type=float, nargs="+", default=[100, 400, 1600], help="mosaic sizes")
    parser.add_argument("--steps", nargs="+", choices=sorted(STEPS), default=sorted(STEPS))
    parser.add_argument("--agreement", type=float, default=40, help="size of the mosaic labelled both ways (0: none)")
    parser.add_argument("--run", type=Path, default=REPO / "demo_run" / "data_test10",
                        help="the training run (default: the demo's, made by ./run_demo.sh)")
    args = parser.parse_args(argv)
    if not (args.run / "settings.json").is_file():
        parser.error(f"--run {args.run}: no training run there; run ./run_demo.sh first or give --run")
    lines = [f"Step 8 on orthomosaics built from the demo photographs (benchmarks/make_orthomosaic.py), network "
             f"{args.run.name}, windows of 2048 px with a 256 px halo (the defaults).", f"Machine: {machine()}.", "",
             "| step | mosaic (megapixels) | wall time (s) | megapixels/s | peak memory (GB) |",
             "|---|---|---|---|---|"]
    for megapixels in args.megapixels:
        raster = mosaic(megapixels)
        import rasterio

        with rasterio.open(raster) as src:
            size = src.width * src.height / 1e6
        for step in args.steps:
            seconds, peak = label(step, raster, args.run, OUT / "orthomosaic" / f"{step}_{megapixels:g}", True)
            lines.append(f"| {step} | {size:.0f} | {seconds:.0f} | {size / seconds:.2f} | {peak:.2f} |")
            print(lines[-1], flush=True)
    if args.agreement:
        lines += ["", f"Windows against the whole image on a {args.agreement:g}-megapixel mosaic:", "",
                  "| step | pixels equal | windows (s) | whole image (s) | whole image peak (GB) |",
                  "|---|---|---|---|---|"]
        for step in args.steps:
            share, windowed_s, whole_s, whole_gb = agreement(step, args.agreement, args.run)
            lines.append(f"| {step} | {100 * share:.3f} % | {windowed_s:.0f} | {whole_s:.0f} | {whole_gb:.2f} |")
            print(lines[-1], flush=True)
    write_report("bench_orthomosaic", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
