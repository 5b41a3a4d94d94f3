"""Benchmark of tutorial steps 3-5 on demo_data: bottleneck throughput, retrain wall time, tile test accuracy.

Runs the tutorial's commands in a temporary folder (split -p 0.5, cp_mat, retile -t 96 -a 0.9 -b 0.5 on train and
test, retrain 1000 steps at 0.01 with the local ImageNet MobileNetV2 module, test_class_tiles -n 100) and measures
the module's throughput at 96 px batched (64 tiles per call) versus one tile per call.
Prints a table and writes bench_out/bench_retrain.md.  Usage: python benchmarks/bench_retrain.py [--steps 1000]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

from bench_common import demo_split, ensure_local_module, machine, run_script, write_report

from dl_tools.file_contract import TILE_EVAL_JSON, tile_folder

SIZE = 96


def throughput(tile_dir: Path, n_tiles: int = 256, repeats: int = 3) -> dict:
    """Tiles per second of the local module (frozen, as retrain runs it) on tiles already in memory, batched and
    one at a time (best of ``repeats``, since other jobs share the cores); JPEG decoding alone; and the whole
    bottleneck step (decoding in a thread + module + one-time setup) on every tile of ``tile_dir``."""
    import tensorflow as tf

    from dl_tools.models.frozen import freeze
    from dl_tools.models.hub import load_module, local_module_name, resolve_module
    from dl_tools.workflows.retrain import bottlenecks, load_images

    module = load_module(resolve_module(local_module_name(SIZE)))
    files = sorted(tile_dir.rglob("*.jpg"))
    start = time.perf_counter()
    images = load_images(files[:n_tiles], module.image_size)
    rates = {"JPEG decoding + resize only (1 thread)": n_tiles / (time.perf_counter() - start)}
    frozen = freeze(module.fn, module.image_size, "features")  # as bottlenecks() computes them
    for name, batch in (("batched (32 per call)", 32), ("batched (64 per call)", 64), ("one tile per call", 1)):
        count = len(images) if batch > 1 else 64
        frozen(tf.constant(images[:batch]))  # warm up
        best = 0.0
        for _ in range(repeats):
            start = time.perf_counter()
            for i in range(0, count, batch):
                frozen(tf.constant(images[i:i + batch]))[0].numpy()
            best = max(best, count / (time.perf_counter() - start))
        rates[f"module only, {name}, best of {repeats}"] = best
    start = time.perf_counter()
    bottlenecks(files, module, cache_dir=None)
    rates[f"whole bottleneck step, all {len(files)} tiles, incl. decoding and setup"] = \
        len(files) / (time.perf_counter() - start)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1000, help="training steps (default 1000, the tutorial's)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_retrain_") as tmp:
        work = Path(tmp)
        demo = demo_split(work)
        tiles = {}
        for split in ("train", "test"):
            run = run_script("create_library/retile.py", "-t", SIZE, "-a", "0.9", "-b", "0.5", "--input",
                             f"demo_data/{split}", cwd=work)
            tiles[split] = int(re.search(r"^total\s+\d+\s+(\d+)", run.stdout, re.M).group(1))
            rows.append((f"retile {split} ({tiles[split]} tiles kept)", f"{run.seconds:.1f} s"))
        ensure_local_module(SIZE, cwd=work)
        for name, rate in throughput(tile_folder(demo / "train", SIZE)).items():
            rows.append((f"bottlenecks at {SIZE} px, {name}", f"{rate:.0f} tiles/s"))
        retrain = ["--image_dir", tile_folder(Path("demo_data/train"), SIZE),
                   "--tfhub_module", f"mobilenet_v2_100_{SIZE}",
                   "--how_many_training_steps", args.steps, "--learning_rate", "0.01", "--output_labels", "labels.txt",
                   "--output_graph", "model.pb", "--bottleneck_dir", "bottlenecks", "--summaries_dir", "summaries"]
        run = run_script("train_dcnn_tfhub/retrain.py", *retrain, cwd=work)
        internal = re.search(r"Final test accuracy = ([\d.]+)% \(N=(\d+)\)", run.stdout)
        rows.append((f"retrain, {args.steps} steps, {tiles['train']} tiles, empty cache (wall)",
                     f"{run.seconds:.1f} s"))
        cached = run_script("train_dcnn_tfhub/retrain.py", *retrain, cwd=work).seconds
        rows.append(("retrain again, bottlenecks cached (wall)", f"{cached:.1f} s"))
        rows.append((f"retrain's own test split accuracy (N={internal.group(2)})",
                     f"{float(internal.group(1)) / 100:.3f}"))
        seconds = run_script("eval_imrecog/test_class_tiles.py", "-n", "100", "--image_dir",
                             tile_folder(Path("demo_data/test"), SIZE), "--labels", "labels.txt", "--model", "model.pb",
                             cwd=work).seconds
        report = json.loads((tile_folder(demo / "test", SIZE) / TILE_EVAL_JSON).read_text())
        scores = report["scores"]
        rows.append((f"test_class_tiles -n 100 on test/ tiles (N={scores['n_samples']}): accuracy",
                     f"{scores['accuracy']:.3f}"))
        rows.append(("  macro F1 / kappa", f"{scores['macro_f1']:.3f} / {scores['kappa']:.3f}"))
        rows.append(("  test_class_tiles wall time", f"{seconds:.1f} s"))
    lines = [f"### bench_retrain (steps 3-5, demo_data; {machine()})", "", "| measure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    write_report("bench_retrain", "\n".join(lines))


if __name__ == "__main__":
    main()
