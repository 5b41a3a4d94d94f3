"""Orthomosaics larger than memory: wall time, CPU time, megapixels per second and peak memory of steps 6 (hybrid),
8 (infer.py, infer_crf.py), 3 (retile) and 7 (pixel scores) on mosaics of growing size, processed window by window;
and, on a mosaic that fits in memory, the agreement of windows with the whole image, with a figure of a window
corner (borders drawn) to look for seams.

    ./run_demo.sh                                  # once: trains the step-4 model and the step-8 network used here
    python benchmarks/bench_orthomosaic.py --megapixels 100 400 1600 --agreement 40 --photograph

Mosaics are built by benchmarks/make_orthomosaic.py (kept in bench_out/mosaics/ for later runs). Peak memory is
the largest resident set of the script's process and its children (GNU time's %M; Debian package ``time``), in
GB; megapixels per second count the whole raster, no-data border included, start-up and the preview figure
included. CPU seconds (user + system of the process and its children) are reported too: unlike the wall time they
do not grow when other work shares the machine's cores. Step 6 runs the demo's settings (96 0.5 0.5 1 0.5), step 3
the demo's (-t 96 -a 0.9 -b 0.5), step 7 scores step 6's result against the mosaic's labels.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from bench_common import BIG_SHAPE, OUT, REPO, big_photograph, machine, write_report
from make_orthomosaic import write_mosaic

#: step -> (tutorial script, what it writes into its output folder that the agreement compares)
STEPS = {"semseg": ("semseg_crf/semseg_cnn_crf.py", "mosaic_ares_96.tif"),
         "infer": ("semseg_fullyconv/infer.py", "mosaic_label.tif"),
         "infer_crf": ("semseg_fullyconv/infer_crf.py", "mosaic_crf_label.tif"),
         "retile": ("create_library/retile.py", None),
         "test_pixels": ("eval_semseg/test_pixels.py", None)}
#: steps that label the mosaic (the others read it and its labels)
LABELLING = ("semseg", "infer", "infer_crf")
WINDOW = 2048  # the default window core, px
BIG_MEGAPIXELS = BIG_SHAPE[0] * BIG_SHAPE[1] / 1e6


def mosaic(megapixels: float) -> Path:
    """bench_out/mosaics/<megapixels>/ with mosaic.tif and mosaic_mres.tif, built when missing; images/mosaic.tif
    links to the mosaic alone in a folder, for the folder runs of steps 6 and 8."""
    folder = OUT / "mosaics" / f"{megapixels:g}"
    if not (folder / "mosaic_mres.tif").is_file():
        write_mosaic(folder, megapixels)
    alone = folder / "images" / "mosaic.tif"
    if not alone.exists():
        alone.parent.mkdir(exist_ok=True)
        alone.symlink_to(folder / "mosaic.tif")
    return folder


def photograph() -> Path:
    """bench_out/photograph/ whose images/ folder holds one 36-megapixel photograph (``bench_common.big_photograph``),
    for steps 6 and 8 on a photograph labelled whole, the speed the windows are compared with."""
    folder = OUT / "photograph"
    big_photograph(folder / "images" / "photograph.jpg")
    return folder


def timed(script: str, *args, cwd: Path) -> tuple[float, float, float]:
    """Run a tutorial script quietly under ``/usr/bin/time``; (wall seconds, CPU seconds, peak resident GB) of its
    process and its children. (The peak of os.wait4 on a child of this process would start from this process's
    own resident set, copied at the fork: GNU time, a small process, measures the script alone.)"""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "time.txt"
        command = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(report), sys.executable, str(REPO / script), "-q",
                   *map(str, args)]
        proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                              env=dict(os.environ, DL_TOOLS_NO_DIALOG="1", TF_CPP_MIN_LOG_LEVEL="2"))
        if proc.returncode:
            sys.exit(f"{script} failed:\n{proc.stdout}\n{proc.stderr}")
        wall, user, system, peak_kb = report.read_text().split()[-4:]
    return float(wall), float(user) + float(system), float(peak_kb) / 1e6


def run_step(step: str, folder: Path, out: Path, args, windowed: bool = True) -> tuple[float, float, float]:
    """Run ``step`` on the mosaic of ``folder`` into ``out`` (by windows unless ``windowed`` is False)."""
    limit = ["--max-megapixels", "0" if windowed else "100000"]
    script = STEPS[step][0]
    if step == "semseg":
        return timed(script, "-", args.model, args.model.parent / "labels.txt", args.labeldefs, 96, 0.5, 0.5, 1, 0.5,
                     "--input-dir", folder / "images", "--outdir", out, "--overwrite", *limit, cwd=REPO)
    if step in ("infer", "infer_crf"):
        return timed(script, "--name", args.run.resolve(), "--samples-dir", folder / "images", "--output-dir", out,
                     "--overwrite", *limit, cwd=REPO)
    if step == "retile":
        return timed(script, "-t", 96, "-a", 0.9, "-b", 0.5, "--input", folder, "--overwrite", cwd=REPO)
    return timed(script, "--input", out.parent / "semseg", "--truth-dir", folder, cwd=REPO)


def seam_figure(whole: np.ndarray, windows: np.ndarray, colors: np.ndarray, path: Path, title: str) -> Path:
    """Whole image | windows | where they differ, around the window corner nearest the centre, borders drawn."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from dl_tools.plotting import colorize

    corner = (max(WINDOW, round(whole.shape[0] / 2 / WINDOW) * WINDOW),
              max(WINDOW, round(whole.shape[1] / 2 / WINDOW) * WINDOW))
    half = 768
    rows = slice(max(0, corner[0] - half), min(whole.shape[0], corner[0] + half))
    cols = slice(max(0, corner[1] - half), min(whole.shape[1], corner[1] + half))
    fig = Figure(figsize=(15, 5.4), layout="constrained")
    axes = fig.subplots(1, 3)
    differ = (whole[rows, cols] != windows[rows, cols]).astype(np.uint8)
    panels = [("whole image", colorize(whole[rows, cols], colors)),
              ("by windows", colorize(windows[rows, cols], colors)),
              (f"differ ({100 * differ.mean():.2f} % here)", np.where(differ[..., None], 255, 40).astype(np.uint8)
               .repeat(3, axis=2))]
    for ax, (name, image) in zip(axes, panels):
        ax.imshow(image, interpolation="nearest")
        ax.axhline(corner[0] - rows.start, color="white", lw=1, ls="--")
        ax.axvline(corner[1] - cols.start, color="white", lw=1, ls="--")
        ax.set_title(name)
        ax.set_axis_off()
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    return path


def agreement(step: str, megapixels: float, args) -> tuple[float, float, float, float, Path]:
    """(share of pixels equal, windows vs whole image; windowed s; whole s; whole peak GB; seam figure)."""
    import rasterio

    from dl_tools.io.geotiff import read_class_names
    from dl_tools.io.text import read_labeldefs

    folder = mosaic(megapixels)
    results, times = {}, {}
    for windowed in (True, False):
        out = OUT / "orthomosaic" / f"agreement_{step}_{'windows' if windowed else 'whole'}"
        times[windowed] = run_step(step, folder, out, args, windowed)
        with rasterio.open(out / STEPS[step][1]) as src:
            results[windowed] = src.read(1)
    names, colors = read_labeldefs(args.labeldefs)
    classes = read_class_names(OUT / "orthomosaic" / f"agreement_{step}_windows" / STEPS[step][1])
    palette = np.array([colors[names.index(name)] for name in classes])  # no data (255): black
    figure = seam_figure(results[False], results[True], palette,
                         REPO / "docs" / "images" / f"seams_{step}.png",
                         f"{STEPS[step][0]} on a {megapixels:g}-megapixel mosaic: window corner (dashed: borders)")
    return (float(np.mean(results[True] == results[False])), times[True][0], times[False][0], times[False][2],
            figure)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", type=float, nargs="*", default=[100, 400, 1600],
                        help="mosaic sizes (none: only the agreement)")
    parser.add_argument("--steps", nargs="+", choices=list(STEPS), default=list(STEPS))
    parser.add_argument("--agreement", type=float, default=40, help="size of the mosaic labelled both ways (0: none)")
    parser.add_argument("--photograph", action="store_true",
                        help="also label a 36-megapixel photograph whole (steps 6 and 8), the speed to compare with")
    demo = REPO / "demo_run"
    parser.add_argument("--run", type=Path, default=demo / "data_test10",
                        help="the step-8 training run (default: the demo's, made by ./run_demo.sh)")
    parser.add_argument("--model", type=Path, default=demo / "obx_mobilenetv2_96_1000_001.pb",
                        help="the step-4 model, its labels.txt beside it (default: the demo's)")
    parser.add_argument("--labeldefs", type=Path, default=demo / "demo_data" / "data" / "labeldefs.txt")
    args = parser.parse_args(argv)
    if not (args.run / "settings.json").is_file() or not args.model.is_file():
        parser.error(f"no step-8 run in {args.run} or step-4 model {args.model}; run ./run_demo.sh first")
    if "test_pixels" in args.steps and "semseg" not in args.steps:
        parser.error("test_pixels scores the result of semseg: give both")
    lines = [f"Steps 6, 8, 3 and 7 on orthomosaics built from the demo photographs (benchmarks/make_orthomosaic.py), "
             f"windows of {WINDOW} px with each step's default halo (256 px; none for infer.py).",
             f"Machine: {machine()}. Date: {time.strftime('%Y-%m-%d %H:%M')}.", "",
             "| step | mosaic (megapixels) | wall time (s) | megapixels/s | CPU time (s) | CPU s per megapixel "
             "| peak memory (GB) |", "|---|---|---|---|---|---|---|"]
    if args.photograph:
        for step in (s for s in args.steps if s in LABELLING):
            seconds, cpu, peak = run_step(step, photograph(), OUT / "orthomosaic" / "photograph" / step, args,
                                          windowed=False)
            size = BIG_MEGAPIXELS
            lines.append(f"| {step} | {size:.0f} (a photograph, whole) | {seconds:.0f} | {size / seconds:.2f} | "
                         f"{cpu:.0f} | {cpu / size:.2f} | {peak:.2f} |")
            print(lines[-1], flush=True)
    for megapixels in args.megapixels:
        folder = mosaic(megapixels)
        import rasterio

        with rasterio.open(folder / "mosaic.tif") as src:
            size = src.width * src.height / 1e6
        for step in args.steps:
            seconds, cpu, peak = run_step(step, folder, OUT / "orthomosaic" / f"{megapixels:g}" / step, args)
            lines.append(f"| {step} | {size:.0f} | {seconds:.0f} | {size / seconds:.2f} | {cpu:.0f} | "
                         f"{cpu / size:.2f} | {peak:.2f} |")
            print(lines[-1], flush=True)
    if args.agreement:
        lines += ["", f"Windows against the whole image on a {args.agreement:g}-megapixel mosaic (figures: "
                  "docs/images/seams_<step>.png):", "",
                  "| step | pixels equal | windows (s) | whole image (s) | whole image peak (GB) |",
                  "|---|---|---|---|---|"]
        for step in (s for s in args.steps if s in LABELLING):
            share, windowed_s, whole_s, whole_gb, _ = agreement(step, args.agreement, args)
            lines.append(f"| {step} | {100 * share:.3f} % | {windowed_s:.0f} | {whole_s:.0f} | {whole_gb:.2f} |")
            print(lines[-1], flush=True)
    write_report("bench_orthomosaic", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
