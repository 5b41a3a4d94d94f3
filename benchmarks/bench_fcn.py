"""Benchmark of Method 2 (fully convolutional network) on the demo data.

Runs the tutorial chain on a copy of demo_data/data: make_labels (train, val), train (default settings unless
given), infer and infer_crf on the validation images; then scores the outputs against the validation
``*_mres.mat`` (classes matched by name; all validation pixels pooled) with dl_tools.metrics.

Reports seconds per epoch, total training time, validation mean IoU / macro F1 / accuracy with and without the
CRF, and inference speed in megapixels per second, for several training seeds (the scores move with the seed on 12
validation images) and their mean. Prints a Markdown table and writes it to bench_out/bench_fcn.md.

With ``--folds K`` the 42 demo photographs (train and val together) are instead split into K folds of
photographs (seeded), and each fold in turn is the validation set of a run trained on the other folds: K-fold
cross-validation, which scores every photograph once and, with K = 2, 3, 6, shows how the score grows with the
number of training photographs (21, 28, 35).

With ``--save-counts FILE.npz`` (fold mode), every run also keeps, for each of its validation, test and training
photographs and each candidate of ``count_grid`` (wider than any run's choice), ``crf_choice.change_counts``'s (N, N, N)
counts (truth x network x CRF): enough to replay any rule that chooses the CRF from validation counts and score
it on the test photographs without retraining (benchmarks/crf_rules.py). The file is rewritten after each run.

    flock /tmp/dl_tools_bench.lock python benchmarks/bench_fcn.py [--epochs 10] [--seeds 0 1 2] [--folds K] \
        [--train-args='--OPTION ...'] [--save-counts FILE.npz]
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_common import REPO, machine, write_report


def score_folder(output_dir: Path, truth_dir: Path, suffix: str):
    """Pool the confusion of every ``<name><suffix>.mat`` in ``output_dir`` against ``truth_dir/<name>_mres.mat``."""
    from dl_tools.file_contract import MANUAL_SUFFIX
    from dl_tools.io.mat import read_label_mat
    from dl_tools.metrics import confusion_matrix, scores_from_confusion

    total, labels = None, None
    for estimate_path in sorted(output_dir.glob(f"*{suffix}.mat")):
        estimate = read_label_mat(estimate_path)
        truth = read_label_mat(truth_dir / (estimate_path.name[: -len(suffix + ".mat")] + MANUAL_SUFFIX))
        lookup = np.array([estimate.labels.index(name) for name in truth.labels])  # by name
        cm = confusion_matrix(lookup[truth.label_image], estimate.label_image, len(estimate.labels))
        total = cm if total is None else total + cm
        labels = estimate.labels
    return scores_from_confusion(total, labels)


#: the inference variants scored: (title, which CRF): none, the fixed settings infer_crf.py used before runs
#: chose their own (``FCN_CRF`` on every pixel), and a run's own choice (``workflows.crf_choice``) among the
#: candidates of ``choice_params``: "any change": as before runs also chose the changes of class; "pooled": the
#: changes chosen on all validation pixels pooled (the default of the morning of 2026-12-07); "stable": those picked
#: with each validation image left out in turn (the default of that afternoon); "wider": the default's and the fixed
#: kernel, each also with the CRF's class everywhere; "chosen": train.py's default (the changes chosen on the
#: validation and training images pooled, since the evening of 2026-12-07)
VARIANTS = (("network", None), ("network + CRF, fixed settings", "fixed"),
            ("network + CRF, run's choice, any change of class", "any change"),
            ("network + CRF, run's choice, changes chosen on all validation pixels pooled", "pooled"),
            ("network + CRF, run's choice among more candidates", "wider"),
            ("network + CRF, run's choice, changes picked with each validation photograph left out", "stable"),
            ("network + CRF, run's choice", "chosen"))


def choice_params() -> dict:
    """{variant: CRFChoiceParams} of the run's choices compared; "chosen" (the default) last, as it is stored.
    The variants that choose on validation alone do not read the training images."""
    from dl_tools.workflows.crf_choice import ANY_CHANGE, POOLED, STABLE, CRFChoiceParams
    from dl_tools.workflows.fcn_infer import FCN_CRF

    default = CRFChoiceParams()
    return {"any change": CRFChoiceParams(changes=ANY_CHANGE, training_images=0),
            "pooled": CRFChoiceParams(changes=POOLED, training_images=0),
            "wider": CRFChoiceParams(kernels=(*default.kernels, FCN_CRF), accepts=(0.0, *default.accepts)),
            "stable": CRFChoiceParams(changes=STABLE, training_images=0),
            "chosen": default}


def count_grid():
    """The CRFChoiceParams whose candidates --save-counts keeps: kernels 30, 60 and 120 px (the default's and the
    fixed settings') x temperature 1 / fitted x the CRF's class where it is at least 0, 0.9, 0.95, 0.99 sure."""
    from dl_tools.workflows.crf_choice import CRFChoiceParams
    from dl_tools.workflows.fcn_infer import FCN_CRF

    return CRFChoiceParams(kernels=(*CRFChoiceParams().kernels, FCN_CRF), accepts=(0.0, 0.9, 0.95, 0.99))


def photo_counts(run_dir: Path, data: Path) -> dict:
    """{"val" / "test" / "train": (photographs, C, N, N, N) int64 ``change_counts`` of each candidate of
    ``count_grid`` (the temperature fitted on the validation photographs, as ``choose_crf`` fits it), "val_names" /
    "test_names" / "train_names", "temperature"} of the run ``run_dir`` (its best weights) on its validation, test
    and training photographs."""
    from dl_tools.workflows.crf_choice import fitted_temperature, image_change_counts, labelled_items
    from dl_tools.workflows.fcn_infer import load_run
    from dl_tools.workflows.fcn_train import find_pairs

    run, grid = load_run(run_dir), count_grid()
    pairs = {split: find_pairs(data, split) for split in ("val", "test", "train")}
    items = {split: labelled_items(pairs[split], run) for split in pairs}
    temperature = fitted_temperature(items["val"], grid.fit_pixels)
    candidates = grid.candidates(temperature)
    saved = {"temperature": np.float64(temperature)}
    for split, split_items in items.items():
        saved[split] = np.stack([image_change_counts(*item, candidates, len(run.labels)) for item in split_items])
        saved[f"{split}_names"] = np.array([sample.name for sample, _ in pairs[split]])
    return saved


def save_counts(path: Path, runs: dict, labels: list[str]) -> None:
    """Write the ``photo_counts`` of every run so far ({(fold, seed): (photo_counts, {variant title: test mean
    IoU})}) to the .npz ``path``: keys "f<fold>_s<seed>_<key>", the runs' "test_miou" in ``VARIANTS`` order, and
    the grid's "theta", "fit" (temperature fitted, bool), "accept" per candidate, "labels", "variants"."""
    from dl_tools.workflows.crf_choice import FIT

    combos = [(kernel.theta_bilateral, t == FIT, accept) for kernel, t, _, accept in count_grid().grid()]
    arrays = {"theta": np.array([c[0] for c in combos]), "fit": np.array([c[1] for c in combos]),
              "accept": np.array([c[2] for c in combos]), "labels": np.array(labels),
              "variants": np.array([title for title, _ in VARIANTS]), "runs": np.array([f"f{f}_s{s}" for f, s in runs])}
    for (fold, seed), (counts, mious) in runs.items():
        arrays.update({f"f{fold}_s{seed}_{key}": value for key, value in counts.items()})
        arrays[f"f{fold}_s{seed}_test_miou"] = np.array([mious[title] for title, _ in VARIANTS])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def fold_copies(data: Path, work: Path, k: int) -> list[Path]:
    """Re-split the photographs of ``data`` (train and val, label images made) into ``k`` folds (seeded); copy f
    of the data layout tests on fold f, validates (checkpoint and CRF settings) on fold f + 1 and trains on the
    others, so what is scored was never used to choose anything. Returns the k data folders."""
    from dl_tools.file_contract import sample_name

    samples = sorted((data / "samples" / "RGB").glob("*/data/*"))
    order = np.random.default_rng(0).permutation(len(samples))
    copies = []
    for fold in range(k):
        split_of = {int(i): "test" for i in order[fold::k]}
        split_of.update({int(i): "val" for i in order[(fold + 1) % k::k]})
        root = work / f"fold{fold}"
        shutil.rmtree(root, ignore_errors=True)
        for i, sample in enumerate(samples):
            split = split_of.get(i, "train")
            labels = data / "labels" / "gtFine" / sample.parents[1].name / "data"
            for target, files in ((root / "samples" / "RGB" / split / "data", [sample]),
                                  (root / "labels" / "gtFine" / split / "data",
                                   labels.glob(f"{sample_name(sample)}_*"))):
                target.mkdir(parents=True, exist_ok=True)
                for path in files:
                    shutil.copy(path, target)
        shutil.copy(data / "labeldefs.txt", root)
        copies.append(root)
    return copies


def train_and_score(data: Path, work: Path, params, scored: str):
    """Train one run with ``params``, let it choose its CRF on its validation images (as train.py does), and score
    every inference variant on the images of the split ``scored``.

    Returns (training seconds, FCNTrainResult, {variant: CRFChoice}, {variant title: (Scores, megapixels per
    second, megapixels)})."""
    from dl_tools.file_contract import CRF_TAG, ESTIMATE_MARK
    from dl_tools.segmentation.refine import Refinement
    from dl_tools.workflows.crf_choice import choose_crf
    from dl_tools.workflows.fcn_infer import FCN_CRF, FCNInferParams, infer_fcn
    from dl_tools.workflows.fcn_train import train_fcn

    started = time.perf_counter()
    trained = train_fcn(data, work / "run", data / "labeldefs.txt", params, overwrite=True)
    train_seconds = time.perf_counter() - started
    choices = {name: choose_crf(work / "run", candidates) for name, candidates in choice_params().items()}
    samples = data / "samples" / "RGB" / scored / "data"
    truth = data / "labels" / "gtFine" / scored / "data"
    rows = {}
    for title, crf in VARIANTS:
        shutil.rmtree(work / "out", ignore_errors=True)  # score this variant's outputs only
        refinement = Refinement(FCN_CRF) if crf == "fixed" else choices[crf].refinement if crf else None
        keep_network = crf in choices and refinement is None
        result = infer_fcn(samples, work / "out", work / "run",
                           FCNInferParams(crf=refinement, keep_network=keep_network, overwrite=True))
        scores = score_folder(work / "out", truth, ESTIMATE_MARK + (CRF_TAG if crf else ""))
        seconds = result.predict_seconds + result.crf_seconds
        rows[title] = (scores, result.megapixels / seconds, result.megapixels)
    return train_seconds, trained, choices, rows


def _short(refinement, labels: list[str]) -> str:
    """The kernel, temperature, acceptance and changes of class of a refinement, classes by their initials."""
    initials = ["".join(word[0] for word in name.split("_")) for name in labels]
    changes = ("any" if refinement.changes is None else
               ",".join(f"{initials[a]}>{initials[b]}" for a, b in refinement.changes) or "none")
    return (f"{refinement.crf.theta_bilateral:g}px T{refinement.temperature:.1f} a{refinement.accept:g} "
            f"{changes}")


def main(argv=None) -> int:
    from dl_tools.terminal import progress_shown

    with progress_shown(False):
        return measure(argv)


def measure(argv=None) -> int:
    from dl_tools.io.run_folder import read_run_settings
    from dl_tools.workflows.fcn_train import FCNTrainParams

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=FCNTrainParams.epochs,
                        help="epochs of each run (default %(default)s, train.py's)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="training seeds; scores are given per seed and as their mean (default 0 1 2)")
    parser.add_argument("--train-args", default="",
                        help="other train.py options, written with '=' since they start with '--', e.g. "
                             "--train-args='--no-standardise --image-size 384x576' (default: none)")
    parser.add_argument("--folds", type=int, default=0,
                        help="K-fold cross-validation over all demo photographs instead of the demo split (K >= 2)")
    parser.add_argument("--keep", help="keep the work folder here instead of a temporary one")
    parser.add_argument("--save-counts", type=Path,
                        help="with --folds: write each run's per-photograph CRF counts to this .npz (see above)")
    args = parser.parse_args(argv)
    if args.folds == 1 or args.folds < 0:
        parser.error("--folds: give 2 or more folds (or 0 for the demo train/val split)")
    if args.save_counts and not args.folds:
        parser.error("--save-counts: give --folds too (the counts of test photographs no choice has seen)")
    from dl_tools.cli.fcn_train import build_parser  # only to read --train-args as train.py reads its options
    from dl_tools.workflows.make_labels import MakeLabelsParams, make_labels

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_fcn_"))
    shutil.rmtree(work / "data", ignore_errors=True)
    shutil.copytree(REPO / "demo_data" / "data", work / "data")
    data = work / "data"
    for split in ("train", "val"):
        make_labels(data / "labels" / "gtFine" / split / "data", data / "labeldefs.txt", MakeLabelsParams())
    train_args = build_parser().parse_args(["--name", "run", *shlex.split(args.train_args)])
    # options left out are None there: their defaults are FCNTrainParams's own
    given = {f.name: getattr(train_args, f.name) for f in dataclasses.fields(FCNTrainParams)
             if getattr(train_args, f.name) is not None}
    datasets = fold_copies(data, work, args.folds) if args.folds else [data]
    runs, names, counted = [], [], {}
    for fold, fold_data in enumerate(datasets):
        for seed in args.seeds:
            params = FCNTrainParams(**{**given, "epochs": args.epochs, "seed": seed})
            names.append(f"fold {fold} seed {seed}" if args.folds else f"seed {seed}")
            runs.append((seed, params) + train_and_score(fold_data, work, params, "test" if args.folds else "val"))
            print(f"{names[-1]}: " + "; ".join(f"{title} mIoU {scores.mean_iou:.3f}"
                                              for title, (scores, _, _) in runs[-1][5].items()), flush=True)
            if args.save_counts:
                counted[fold, seed] = (photo_counts(work / "run", fold_data),
                                       {title: scores.mean_iou for title, (scores, _, _) in runs[-1][5].items()})
                save_counts(args.save_counts, counted, read_run_settings(work / "run")["labels"])
    params = runs[0][1]
    n_train = len(list((datasets[0] / "samples" / "RGB" / "train" / "data").iterdir()))
    n_val = len(list((datasets[0] / "samples" / "RGB" / "val" / "data").iterdir()))
    n_test = len(list((datasets[0] / "samples" / "RGB" / "test" / "data").glob("*"))) if args.folds else 0
    scheme = (f"{args.folds}-fold cross-validation over all {n_train + n_val + n_test} photographs (each run: "
              f"about {n_train} training images, {n_val} validation images of the next fold choosing the checkpoint "
              f"and the CRF, scored on the {n_test} of its own fold, which nothing was chosen on)" if args.folds
              else f"{n_train} training images, scored on the {n_val} validation images (which also chose the "
                   "checkpoint and the run's CRF)")
    lines = [
        f"Method 2 (FCN-8s style, backbone {params.backbone}, {params.image_size[0]}x{params.image_size[1]} px, "
        f"batch {params.batch_size}, Adam {params.learning_rate:g}, colour standardisation "
        f"{'on' if params.standardise else 'off'}; train.py options: {args.train_args or 'none'}) on demo_data/data: "
        f"{args.epochs} epochs; {scheme} (all pixels pooled, classes by name).",
        f"Machine: {machine()}; TensorFlow CPU.",
        "Changes of class by the classes' initials (" + ", ".join(
            f"{''.join(w[0] for w in n.split('_'))} = {n}" for n in read_run_settings(work / "run")["labels"]) + ").",
        "",
        f"| measure | {' / '.join(names)} | mean |",
        "|---|---|---|",
    ]

    def row(title, values, fmt):
        lines.append(f"| {title} | {' / '.join(format(v, fmt) for v in values)} | {format(np.mean(values), fmt)} |")

    row(f"training time, {args.epochs} epochs (s)", [r[2] for r in runs], ".0f")
    row("seconds per epoch", [r[3].seconds_per_epoch for r in runs], ".1f")
    row("best validation mean IoU during training (Keras)", [r[3].best_val_mean_iou for r in runs], ".3f")
    split = "test" if args.folds else "val"
    for title, _ in VARIANTS:
        for name, attribute in (("mean IoU", "mean_iou"), ("macro F1", "macro_f1"), ("accuracy", "accuracy")):
            row(f"{title}: {split} {name}", [getattr(r[5][title][0], attribute) for r in runs], ".3f")
        row(f"{title}: inference megapixels/s", [r[5][title][1] for r in runs], ".2f")
    network = [r[5]["network"][0].mean_iou for r in runs]
    for title, _ in VARIANTS[1:]:
        gains = [r[5][title][0].mean_iou - base for r, base in zip(runs, network)]
        row(f"{title}: gain in {split} mean IoU over the network", gains, "+.3f")
        lines[-1] = lines[-1].rstrip(" |") + f" (worst {min(gains):+.3f}) |"
    labels = read_run_settings(work / "run")["labels"]
    for name in choice_params():
        choices = [r[4][name] for r in runs]
        row(f"run's choice ({name}): CRF gain on its own validation images", [c.gain for c in choices], "+.3f")
        lines.append(f"| run's choice ({name}): CRF used | "
                     f"{' / '.join(_short(c.refinement, labels) if c.refinement else 'no' for c in choices)} | "
                     f"{sum(c.refinement is not None for c in choices)} of {len(runs)} |")
    write_report("bench_fcn", "\n".join(lines))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
