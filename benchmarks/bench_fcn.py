"""Benchmark of Method 2 (fully convolutional network) on the demo data.

Runs the tutorial chain on a copy of demo_data/data: make_labels (train, val), train (default settings unless
given), infer and infer_crf on the validation images; then scores the outputs against the validation
``*_mres.mat`` (classes matched by name; all validation pixels pooled) with dl_tools.metrics.

Reports seconds per epoch, total training time, validation mean IoU / macro F1 / accuracy with and without the
CRF, and inference speed in megapixels per second. Prints a Markdown table and writes it to bench_out/bench_fcn.md.

    flock /tmp/dl_tools_bench.lock python benchmarks/bench_fcn.py [--epochs 10] [--backbone mobilenetv2]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def score_folder(output_dir: Path, truth_dir: Path, suffix: str):
    """Pool the confusion of every ``<name><suffix>.mat`` in ``output_dir`` against ``truth_dir/<name>_mres.mat``."""
    from dl_tools.io.mat import read_label_mat
    from dl_tools.metrics import confusion_matrix, scores_from_confusion

    total, labels = None, None
    for estimate_path in sorted(output_dir.glob(f"*{suffix}.mat")):
        estimate = read_label_mat(estimate_path)
        truth = read_label_mat(truth_dir / (estimate_path.name[: -len(suffix + ".mat")] + "_mres.mat"))
        lookup = np.array([estimate.labels.index(name) for name in truth.labels])  # by name
        cm = confusion_matrix(lookup[truth.label_image], estimate.label_image, len(estimate.labels))
        total = cm if total is None else total + cm
        labels = estimate.labels
    return scores_from_confusion(total, labels)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--backbone", default="mobilenetv2")
    parser.add_argument("--keep", help="keep the work folder here instead of a temporary one")
    args = parser.parse_args(argv)
    os.environ["DL_TOOLS_NO_PROGRESS"] = "1"

    from dl_tools.crf import CRFParams
    from dl_tools.cli.fcn_infer_crf import CRF_DEFAULTS
    from dl_tools.workflows.fcn_infer import FCNInferParams, infer_fcn
    from dl_tools.workflows.fcn_train import FCNTrainParams, train_fcn
    from dl_tools.workflows.make_labels import MakeLabelsParams, make_labels

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_fcn_"))
    shutil.rmtree(work / "data", ignore_errors=True)
    shutil.copytree(REPO / "demo_data" / "data", work / "data")
    data = work / "data"
    for split in ("train", "val"):
        make_labels(data / "labels" / "gtFine" / split / "data", data / "labeldefs.txt", MakeLabelsParams())
    params = FCNTrainParams(epochs=args.epochs, backbone=args.backbone)
    started = time.perf_counter()
    trained = train_fcn(data, work / "run", data / "labeldefs.txt", params, overwrite=True)
    train_seconds = time.perf_counter() - started
    samples = data / "samples" / "RGB" / "val" / "data"
    truth = data / "labels" / "gtFine" / "val" / "data"
    rows = []
    for title, crf, suffix in (("network", None, "_ares"), ("network + CRF", CRFParams(**CRF_DEFAULTS), "_ares_crf")):
        result = infer_fcn(samples, work / "out", work / "run", FCNInferParams(crf=crf, overwrite=True))
        scores = score_folder(work / "out", truth, suffix)
        seconds = result.predict_seconds + result.crf_seconds
        rows.append((title, scores, result.megapixels / seconds, result.megapixels))
    cpu = platform.processor() or platform.machine()
    lines = [
        f"Method 2 (FCN-8s style, backbone {args.backbone}, {params.image_size[0]}x{params.image_size[1]} px, "
        f"batch {params.batch_size}, Adam {params.learning_rate:g}) on demo_data/data: {trained.epochs_done} epochs "
        f"on 30 training images, scored on the 12 validation images (all pixels pooled, classes by name).",
        f"Machine: {platform.system()} {cpu}, {os.cpu_count()} cores, no GPU; TensorFlow CPU.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| training time, {trained.epochs_done} epochs | {train_seconds:.0f} s |",
        f"| seconds per epoch (mean) | {trained.seconds_per_epoch:.1f} |",
        f"| best validation mean IoU during training (Keras, epoch {trained.best_epoch}) | "
        f"{trained.best_val_mean_iou:.3f} |",
    ]
    for title, scores, speed, megapixels in rows:
        lines += [f"| {title}: val mean IoU / macro F1 / accuracy (original resolution) | "
                  f"{scores.mean_iou:.3f} / {scores.macro_f1:.3f} / {scores.accuracy:.3f} |",
                  f"| {title}: inference speed ({megapixels:.1f} MP) | {speed:.2f} megapixels/s |"]
    table = "\n".join(lines)
    print(table)
    out = REPO / "bench_out" / "bench_fcn.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table + "\n", encoding="utf-8")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
