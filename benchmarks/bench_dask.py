"""Dask against the serial run: step 8 (`infer.py`) on a folder of demo photographs and on an orthomosaic labelled
by windows, serially, on a local cluster of 1 worker and of 2 workers; the scheduler's cost per task and the
client's time to write a window.

    ./run_demo.sh                                   # once: trains the step-8 network used here
    flock /tmp/dl_tools_bench.lock python benchmarks/bench_dask.py --photos 12 --megapixels 100
    flock /tmp/dl_tools_bench.lock python benchmarks/bench_dask.py --photos 0 --big-photos 6 --megapixels 400 \
        --tasks 0                                    # the issue's sizes: survey photographs, a 0.4 GP mosaic

Each run is a fresh `infer.py` process under GNU time (wall time; CPU time = user + system of the process and all
its children, the Dask workers included; peak = the largest resident set of any one of those processes, in GB).
The overhead of 1 worker is its wall time against the serial run's, in %; the speed-up, 1 worker's wall time over
2 workers'. The photographs are the first N of demo_data/jpg (920 x 614 px: small tasks, so the fixed start-up
costs weigh) and, with --big-photos N, the first N upscaled to 7360 x 4912 px (36 megapixels, a survey camera's
frame: the tasks of the issue's flights of thousands of such photographs); the mosaic is built by
benchmarks/make_orthomosaic.py (bench_out/mosaics/, kept). The per-task cost
is measured in this process: tasks that return at once, and tasks that return a 2048 x 2048 uint8 window (4 MB),
through ``workflows.distributed.map_tasks`` on a local cluster; the writer's time per window is that of
``io.windowed_geotiff.WindowedGeoTIFFs.write`` on the label windows of the mosaic's result.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
from bench_common import OUT, REPO, big_photograph, machine, write_report
from bench_orthomosaic import mosaic, timed

MODES = (("serial", []), ("1 worker", ["--workers", "1"]), ("2 workers", ["--workers", "2"]))
WINDOW = 2048


def photo_folder(n: int) -> Path:
    """bench_out/dask/photos_<n>/ holding the first ``n`` demo photographs."""
    folder = OUT / "dask" / f"photos_{n}"
    if not folder.is_dir():
        folder.mkdir(parents=True)
        for photo in sorted((REPO / "demo_data" / "jpg").glob("*.jpg"))[:n]:
            shutil.copy(photo, folder / photo.name)
    return folder


def big_photo_folder(n: int) -> Path:
    """bench_out/dask/big_photos_<n>/ holding the first ``n`` demo photographs upscaled to 36 megapixels."""
    folder = OUT / "dask" / f"big_photos_{n}"
    for index in range(n):
        big_photograph(folder / f"photo_{index:02d}.jpg", index)
    return folder


def compare(what: str, samples: Path, run: Path, extra: list[str]) -> list[tuple]:
    """(what, mode, wall s, CPU s, peak GB, output folder) of infer.py on ``samples`` in each of MODES."""
    rows = []
    for mode, flags in MODES:
        out = OUT / "dask" / f"{what}_{mode.replace(' ', '_')}"
        wall, cpu, peak = timed("semseg_fullyconv/infer.py", "--name", run, "--samples-dir", samples,
                                "--output-dir", out, "--overwrite", *extra, *flags, cwd=REPO)
        rows.append((what, mode, wall, cpu, peak, out))
        print(f"{what} {mode}: {wall:.1f} s wall, {cpu:.1f} s CPU, {peak:.2f} GB", flush=True)
    return rows


def identical_labels(rows: list[tuple]) -> str:
    """Whether the label images of the folder runs ``rows`` hold the same pixels in every run, as a sentence."""
    from dl_tools.io.images import read_image

    first = rows[0][-1]
    labels = sorted(first.glob("*_label.png"))
    differing = sum(int(np.count_nonzero(read_image(first / p.name) != read_image(p)))
                    for *_, out in rows[1:] for p in out.glob("*_label.png"))
    return (f"label images (pixels) of the {len(labels)} photographs identical in the three runs: {differing == 0}"
            f" ({differing} pixels differ; the files' provenance differs: the command lines do)")


def same_pixels(rows: list[tuple], name: str) -> bool:
    """Whether the output ``name`` of every run of ``rows`` holds the same pixels."""
    from dl_tools.io.windowed_geotiff import open_raster

    arrays = []
    for *_, out in rows:
        with open_raster(out / name) as src:
            arrays.append(src.read())
    return all(np.array_equal(arrays[0], other) for other in arrays[1:])


def _nothing(i: int) -> int:
    return i


def _window(i: int) -> np.ndarray:
    return np.full((WINDOW, WINDOW), i % 3, np.uint8)


def task_costs(n_tasks: int) -> list[tuple[int, str, float]]:
    """(workers, kind of task, ms a task) of ``n_tasks`` tasks through map_tasks on local clusters of 1 and 2."""
    from dl_tools.workflows.distributed import ClusterParams, cluster_client, map_tasks

    rows = []
    for workers in (1, 2):
        with cluster_client(ClusterParams(workers=workers)) as client:
            for name, function in (("returns at once", _nothing), ("returns a 4 MB window", _window)):
                list(map_tasks(client, function, [(i,) for i in range(8)], desc="warm-up", unit="task"))
                started = time.perf_counter()
                for _, result in map_tasks(client, function, [(i,) for i in range(n_tasks)], desc=name,
                                           unit="task"):
                    result()
                rows.append((workers, name, 1000 * (time.perf_counter() - started) / n_tasks))
                print(f"{workers} worker(s), {name}: {rows[-1][2]:.1f} ms a task", flush=True)
    return rows


def write_cost(label_tif: Path) -> tuple[float, int]:
    """(ms a window, windows) for WindowedGeoTIFFs to write every 2048-px window of ``label_tif`` anew."""
    import tempfile

    from dl_tools.arrays.tiling import plan_windows
    from dl_tools.io.geotiff import GeoInfo
    from dl_tools.io.windowed_geotiff import OutputRaster, WindowedGeoTIFFs, open_raster

    with open_raster(label_tif) as src, tempfile.TemporaryDirectory(dir=OUT) as tmp:
        geo = GeoInfo(crs=src.crs, transform=src.transform, width=src.width, height=src.height)
        plan = plan_windows((src.height, src.width), WINDOW, edge="mirror")
        writer = WindowedGeoTIFFs([OutputRaster(Path(tmp) / "again.tif", 1, 255)], geo, {})
        seconds = 0.0
        for index, window in enumerate(plan):
            rows, cols = window.core_in_extent
            core = src.read(1, window=((rows.start, rows.stop), (cols.start, cols.stop)))
            started = time.perf_counter()
            writer.write(index, rows.start, cols.start, [core])
            seconds += time.perf_counter() - started
    return 1000 * seconds / len(plan), len(plan)


def table(rows: list[tuple]) -> list[str]:
    lines = ["| input | run | wall time (s) | CPU time (s) | peak memory (GB) | wall against serial | "
             "speed-up of 2 workers over 1 |", "|---|---|---|---|---|---|---|"]
    by = {(what, mode): wall for what, mode, wall, *_ in rows}
    for what, mode, wall, cpu, peak, _ in rows:
        against = "" if mode == "serial" else f"{100 * (wall / by[(what, 'serial')] - 1):+.1f} %"
        speedup = f"{by[(what, '1 worker')] / wall:.2f} x" if mode == "2 workers" else ""
        lines.append(f"| {what} | {mode} | {wall:.1f} | {cpu:.1f} | {peak:.2f} | {against} | {speedup} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=12, help="demo photographs in the folder run (0: none)")
    parser.add_argument("--big-photos", type=int, default=0,
                        help="demo photographs upscaled to 36 megapixels in a second folder run (0: none)")
    parser.add_argument("--megapixels", type=float, default=100, help="size of the mosaic (0: none; the issue "
                        "asks for 400)")
    parser.add_argument("--tasks", type=int, default=200, help="tasks of the per-task cost (0: not measured)")
    parser.add_argument("--run", type=Path, default=REPO / "demo_run" / "data_test10",
                        help="the step-8 training run (default: the demo's, made by ./run_demo.sh)")
    args = parser.parse_args(argv)
    if not (args.run / "settings.json").is_file():
        parser.error(f"no step-8 run in {args.run}; run ./run_demo.sh first")
    rows, checks = [], []
    folders = []
    if args.photos:
        folders.append((f"{args.photos} photographs", photo_folder(args.photos)))
    if args.big_photos:
        folders.append((f"{args.big_photos} photographs of 36 megapixels", big_photo_folder(args.big_photos)))
    for what, folder in folders:
        photo_rows = compare(what, folder, args.run.resolve(), [])
        checks.append(f"{what}: {identical_labels(photo_rows)}")
        rows += photo_rows
    label_tif = None
    if args.megapixels:
        folder = mosaic(args.megapixels)
        import rasterio

        with rasterio.open(folder / "mosaic.tif") as src:
            size = src.width * src.height / 1e6
        mosaic_rows = compare(f"{size:.0f}-megapixel mosaic", folder / "images", args.run.resolve(),
                              ["--max-megapixels", "0"])
        checks.append(f"label GeoTIFF of the mosaic identical in the three runs: "
                      f"{same_pixels(mosaic_rows, 'mosaic_label.tif')}")
        label_tif = mosaic_rows[0][-1] / "mosaic_label.tif"
        rows += mosaic_rows
    lines = [f"`infer.py` serially and on local Dask clusters (benchmarks/bench_dask.py). Machine: {machine()}.",
             f"Date: {time.strftime('%Y-%m-%d')}.", "", *table(rows), "", *(f"- {check}" for check in checks)]
    if args.tasks:
        lines += ["", "| workers | task | ms a task (scheduler, transfer and result to the client) |", "|---|---|---|"]
        lines += [f"| {workers} | {name} | {ms:.1f} |" for workers, name, ms in task_costs(args.tasks)]
    if label_tif is not None:
        ms, n = write_cost(label_tif)
        lines += ["", f"The client's writer: {ms:.0f} ms a 2048-px label window ({n} windows of the mosaic's result, "
                  "DEFLATE, journal included)."]
    write_report("bench_dask", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
