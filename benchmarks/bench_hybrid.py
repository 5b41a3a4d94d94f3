"""Benchmark of tutorial steps 6-7: hybrid segmentation speed/memory on a 36-megapixel photograph, and pixel
accuracy of the hybrid method on the demo test images.

1. The tutorial flow in a work folder (bench_out/hybrid_ws, kept between runs so the model is trained once):
   split -p 0.5 --seed 0, cp_mat, retile -t 96 -a 0.9 -b 0.5 on train/, retrain 1000 steps at 0.01 with the local
   ImageNet MobileNetV2 module (train_dcnn_tfhub/make_local_module.py --size 96 must have been run).
2. Accuracy: semseg_cnn_crf.py --input-dir demo_data/test with each setting of SETTINGS, then test_pixels.py;
   macro F1, mean IoU, accuracy and kappa pooled over the test images.
3. Speed: a demo image upscaled to 7360 x 4912 (36 MP) segmented with the README's settings (96 0.5 0.5 8 0.25)
   in a fresh process; wall seconds (whole script, including Python and TensorFlow start-up) and peak resident
   memory (ru_maxrss of the child).
Prints a table and writes bench_out/bench_hybrid.md.
Usage: flock /tmp/dl_tools_bench.lock python benchmarks/bench_hybrid.py [--steps 1000] [--fresh]
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from bench_common import OUT, REPO, big_photograph, demo_split, machine, run_script, write_report

from dl_tools.file_contract import ESTIMATE_MARK, LABELDEFS_NAME, MANUAL_SUFFIX, pixel_eval_outputs, tile_folder

WORK = OUT / "hybrid_ws"
TILE = 96
README_SETTINGS = ("0.5", "0.5", "8", "0.25")              # PROB_THRES PROB DECIM SCALE
SETTINGS = [README_SETTINGS, ("0.5", "0.5", "2", "0.5"), ("0.5", "0.5", "1", "0.5")]


def train(steps: int) -> tuple[Path, Path]:
    """The tutorial's steps 1-4 in WORK (skipped when the model already exists); returns (model, labels)."""
    model, labels = WORK / f"obx_mobilenetv2_{TILE}_{steps}.pb", WORK / "labels.txt"
    if model.is_file() and labels.is_file():
        return model, labels
    shutil.rmtree(WORK, ignore_errors=True)
    demo = demo_split(WORK, ("jpg", "gt", "labels"))
    shutil.copy(REPO / "demo_data" / "data" / LABELDEFS_NAME, demo / "labels" / LABELDEFS_NAME)
    run_script("create_library/retile.py", "-t", TILE, "-a", "0.9", "-b", "0.5", "--input", "demo_data/train", cwd=WORK)
    run_script("train_dcnn_tfhub/retrain.py", "--image_dir", tile_folder(Path("demo_data/train"), TILE),
           "--tfhub_module", f"mobilenet_v2_100_{TILE}", "--how_many_training_steps", steps, "--learning_rate", "0.01",
           "--output_labels", labels.name, "--output_graph", model.name, "--bottleneck_dir", "bottlenecks",
           "--summaries_dir", "summaries", cwd=WORK)
    return model, labels


def accuracy(model: Path, labels: Path, setting: tuple[str, ...]) -> dict:
    """Hybrid on every test image with one setting, then test_pixels; pooled scores and seconds per image."""
    out = WORK / ("test_" + "_".join(setting))
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    test = WORK / "demo_data" / "test"
    for mat in test.glob(f"*{MANUAL_SUFFIX}"):
        shutil.copy(mat, out)
    n_images = len(list(test.glob("*.jpg")))
    seconds = run_script("semseg_crf/semseg_cnn_crf.py", "-", model.name, labels.name,
                         "demo_data/labels/labeldefs.txt", TILE, *setting, "--input-dir", "demo_data/test",
                         "--outdir", out.relative_to(WORK), cwd=WORK).seconds
    run_script("eval_semseg/test_pixels.py", "--input", out.relative_to(WORK), cwd=WORK)
    report = json.loads(pixel_eval_outputs(out)[0].read_text())
    (scores,) = [entry["scores"] for entry in report["overall"].values()]
    per_image_f1 = [pair["scores"]["macro_f1"] for pair in report["pairs"]]
    return {"tiles_f1": tiles_alone(out), "n_images": n_images, "seconds": seconds, "macro_f1": scores["macro_f1"],
            "mean_iou": scores["mean_iou"],
            "accuracy": scores["accuracy"], "kappa": scores["kappa"],
            "median_image_f1": sorted(per_image_f1)[len(per_image_f1) // 2]}


def tiles_alone(folder: Path) -> float:
    """Pooled macro F1 of the tile classes alone (the ``sparse`` maps), over the pixels that have a tile."""
    from dl_tools.io.mat import read_label_mat
    from dl_tools.metrics import confusion_matrix, scores_from_confusion
    from dl_tools.workflows.pixel_eval import to_union

    total, labels = 0, None
    estimate_suffix = f"{ESTIMATE_MARK}_{TILE}.mat"
    for path in sorted(folder.glob(f"*{estimate_suffix}")):
        truth_path = folder / (path.name[: -len(estimate_suffix)] + MANUAL_SUFFIX)
        estimate, truth = read_label_mat(path), read_label_mat(truth_path)
        labels = truth.labels
        sparse = estimate.sparse.astype(int)
        total = total + confusion_matrix(to_union(truth.label_image, truth.labels, labels),
                                         to_union(sparse.clip(min=1) - 1, estimate.labels, labels), len(labels),
                                         valid=sparse > 0)
    return scores_from_confusion(total, labels).macro_f1


def big_image_run(model: Path, labels: Path) -> dict:
    """Segment a 36 MP upscaled demo image with the README's settings in a fresh process."""
    big = big_photograph(WORK / "big" / "big_36mp.jpg")
    run = run_script("semseg_crf/semseg_cnn_crf.py", big.relative_to(WORK), model.name, labels.name,
                     "demo_data/labels/labeldefs.txt", TILE, *README_SETTINGS, "--overwrite", cwd=WORK)
    return {"seconds": run.seconds, "peak_gb": run.peak_gb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1000, help="retrain steps (default 1000, the tutorial's)")
    parser.add_argument("--fresh", action="store_true", help="retrain even if bench_out/hybrid_ws has a model")
    args = parser.parse_args()
    if args.fresh:
        shutil.rmtree(WORK, ignore_errors=True)
    model, labels = train(args.steps)
    speed = big_image_run(model, labels)
    rows = [(setting, accuracy(model, labels, setting)) for setting in SETTINGS]
    lines = [
        f"Hybrid segmentation (step 6) and pixel evaluation (step 7); machine: {machine()}; model: retrain "
        f"{args.steps} steps, lr 0.01, local ImageNet MobileNetV2 96 px, tiles of the demo train split (seed 0).",
        "",
        "| measurement | value | target |",
        "|---|---|---|",
        f"| 36 MP image (7360 x 4912), `{TILE} {' '.join(README_SETTINGS)}`: wall time of the whole script | "
        f"{speed['seconds']:.1f} s | <= 30 s |",
        f"| same run: peak memory (ru_maxrss) | {speed['peak_gb']:.2f} GB | <= 4 GB |",
        "",
        "| settings `TILE PROB_THRES PROB DECIM SCALE` | test images | s / image | macro F1 | mean IoU | accuracy "
        "| kappa | median per-image macro F1 | tiles alone: macro F1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for setting, r in rows:
        lines.append(f"| `{TILE} {' '.join(setting)}` | {r['n_images']} | {r['seconds'] / r['n_images']:.2f} | "
                     f"{r['macro_f1']:.3f} | {r['mean_iou']:.3f} | {r['accuracy']:.3f} | {r['kappa']:.3f} | "
                     f"{r['median_image_f1']:.3f} | {r['tiles_f1']:.3f} |")
    write_report("bench_hybrid", "\n".join(lines))


if __name__ == "__main__":
    main()
