"""Tile accuracy by number of training photographs, cross-validated over all 42 demo images (steps 3-5).

How far is the tile accuracy target (0.90) from this data? The reference split trains on 21 photographs and scores
the tiles of the other 21 once; this benchmark repeats that for other numbers k of training photographs:

1. retile.py -t 96 -a 0.9 -b 0.5 on all 42 demo images in one folder (tiles named <image>_<row>_<col>.jpg);
2. the local ImageNet MobileNetV2 module's bottlenecks of every tile, once;
3. for each k, random splits of the photographs (k train, the rest test; k = 41 is leave-one-out over all 42):
   the retrain head (1000 SGD steps at 0.01 on class-balanced batches of 100, exactly retrain.py's training code)
   on the train photographs' tiles, scored on the test photographs' tiles;
4. the head trained and scored on all tiles (no photograph held out): what a linear head on these features can fit;
5. the photographs with the most tiles misclassified by leave-one-out (``eval_tiles.photograph_scores``).

Scores: balanced accuracy (the mean per-class recall, which test_class_tiles.py -n N estimates with N tiles per
class) and plain accuracy, pooled over the test tiles of each split, then averaged over the splits.
Prints the tables and writes bench_out/bench_tile_cv.md.
Usage: python benchmarks/bench_tile_cv.py [--repeats 10] [--steps 1000] [--train-photos 5 10 21 31 41]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_common import REPO, ensure_local_module, machine, run_script, write_report
from bench_retrain import SIZE

from dl_tools.workflows.eval_tiles import photograph_scores


def tile_features(work: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Retile every demo image in ``work`` and compute the bottlenecks: (features (n, D), y (n,), photograph
    index (n,), photograph names, class names)."""
    from dl_tools.file_contract import tile_folder, tile_source
    from dl_tools.models.hub import load_module, local_module_name, resolve_module
    from dl_tools.workflows.retrain import bottlenecks, list_tiles

    images = work / "images"
    shutil.copytree(REPO / "demo_data" / "jpg", images)
    for mat in (REPO / "demo_data" / "gt").glob("*_mres.mat"):
        shutil.copy(mat, images)
    run_script("create_library/retile.py", "-t", SIZE, "-a", "0.9", "-b", "0.5", "--input", images, cwd=work)
    ensure_local_module(SIZE, cwd=work)
    tiles = list_tiles(tile_folder(images, SIZE))
    module = load_module(resolve_module(local_module_name(SIZE)))
    features = bottlenecks(tiles.files, module, cache_dir=None)
    photographs = [tile_source(path) for path in tiles.files]
    names, photo = np.unique(photographs, return_inverse=True)
    return features, tiles.y, photo, names, tiles.labels


def fit_predict(features, y, train, test, steps: int, seed: int) -> np.ndarray:
    """Train retrain.py's head on the tiles of ``train`` (bool mask (n,)); return its classes for ``test``."""
    from dl_tools.models.head import balanced_batch, train_head

    train_idx = np.flatnonzero(train)

    def sample_batch(rng):
        picked = train_idx[balanced_batch(y[train_idx], 100, rng)]
        return features[picked], y[picked]

    head, _ = train_head(sample_batch, features.shape[1], int(y.max()) + 1, steps, 0.01, seed=seed,
                         eval_every=steps)
    return head.probs(features[test]).argmax(1)


def scores(truth: np.ndarray, estimate: np.ndarray) -> tuple[float, float]:
    """(balanced accuracy, accuracy)."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    return balanced_accuracy_score(truth, estimate), accuracy_score(truth, estimate)


def splits(n_photos: int, k: int, repeats: int, rng) -> list[np.ndarray]:
    """Boolean masks (n_photos,) of the train photographs: leave-one-out when k = n_photos - 1, else ``repeats``
    random draws of k photographs."""
    if k == n_photos - 1:
        return [np.arange(n_photos) != i for i in range(n_photos)]
    masks = []
    for _ in range(repeats):
        mask = np.zeros(n_photos, bool)
        mask[rng.choice(n_photos, k, replace=False)] = True
        masks.append(mask)
    return masks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10, help="random photograph splits per k (default 10)")
    parser.add_argument("--steps", type=int, default=1000, help="head training steps (default 1000, the tutorial's)")
    parser.add_argument("--train-photos", type=int, nargs="+", default=[5, 10, 21, 31, 41],
                        help="numbers k of training photographs (default 5 10 21 31 41; 41 = leave-one-out)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_tile_cv_") as tmp:
        features, y, photo, photo_names, labels = tile_features(Path(tmp))
    n_photos = int(photo.max()) + 1
    rng = np.random.default_rng(0)
    rows, worst = [], []
    for k in args.train_photos:
        masks = splits(n_photos, k, args.repeats, rng)
        estimates = [fit_predict(features, y, mask[photo], ~mask[photo], args.steps, seed=i)
                     for i, mask in enumerate(masks)]
        truths = [y[~mask[photo]] for mask in masks]
        if k == n_photos - 1:  # leave-one-out: each test set is one photograph; score the pooled predictions
            rows.append((f"{k} (leave one out, {len(masks)} folds, pooled)",
                         *scores(np.concatenate(truths), np.concatenate(estimates)), ""))
            sources = np.repeat(photo_names, [len(truth) for truth in truths])  # fold i = photograph i
            ranked = photograph_scores(sources, np.concatenate(truths), np.concatenate(estimates), labels)
            worst = [row for row in ranked if row["wrong"]][:6]
            continue
        table = np.array([scores(truth, estimate) for truth, estimate in zip(truths, estimates)])
        rows.append((f"{k} ({len(masks)} random splits)", *table.mean(axis=0),
                     f"{table[:, 0].min():.3f}-{table[:, 0].max():.3f}"))
    every = np.ones(len(y), bool)
    rows.append((f"all {n_photos}, scored on their own tiles",
                 *scores(y, fit_predict(features, y, every, every, args.steps, seed=0)), ""))
    counts = ", ".join(f"{name} {int(np.sum(y == i))}" for i, name in enumerate(labels))
    lines = [f"### bench_tile_cv ({len(y)} tiles of {n_photos} photographs: {counts}; {machine()}; "
             f"{time.perf_counter() - start:.0f} s)", "",
             "| training photographs | balanced accuracy | accuracy | balanced accuracy, range over splits |",
             "|---|---|---|---|"]
    lines += [f"| {name} | {bal:.3f} | {acc:.3f} | {spread} |" for name, bal, acc, spread in rows]
    if worst:
        lines += ["", "Leave-one-out, the photographs with the most misclassified tiles:", "",
                  "| photograph | tiles | wrong | accuracy | most frequent error (truth -> estimate) |",
                  "|---|---|---|---|---|"]
        lines += [f"| {row['photograph']} | {row['tiles']} | {row['wrong']} | {row['accuracy']:.3f} | "
                  "{truth} -> {estimate} ({tiles} tiles) |".format(**row["most_frequent_error"]) for row in worst]
    write_report("bench_tile_cv", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
