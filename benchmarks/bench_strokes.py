"""Benchmark: strokes a person needs to label an image (issue 18), with and without a trained model's prior.

The simulated person (dl_tools.labelling.simulated_strokes) follows one of two protocols:

- *first strokes* (strokes only, Doodler, and the prior methods' "same first strokes" rows): one short stroke
  (60 px long, 5 px wide) in each connected region of each class of the dense truth (regions of at least 200 px),
  then, after each recompute, one stroke inside the largest connected region still wrong, in its true class;
- *from the proposal* (the prior methods' main rows: what a person does in the web labeller, which opens each image
  with the model's labels): no first strokes; the labels are computed with no stroke (the proposal), then after
  each recompute one stroke inside the largest connected region still wrong, as above.

Both stop at 0.95 pixel accuracy or after 30 strokes. Reported per image and on average: strokes to reach 0.90
and 0.95 (30 when never reached), the accuracy of the first compute (with the first strokes, or of the proposal)
and after 5, 10 and 20 strokes (the last accuracy once the person has stopped at 0.95; "-" while the first
strokes, one per region, are not all drawn yet), and the setbacks: the strokes after which the accuracy fell (by
more than 0.005), where a correction undid more elsewhere than it mended. Methods, all on the same simulated
person:

- strokes : strokes only, the default engine of step 2 (dl_tools.labelling.engine, ``--engine strokes``);
- step4   : strokes + the prior of the demo's step-4 model (``--prior MODEL.pb --prior-labels labels.txt``);
- step8   : strokes + the prior of the demo's step-8 run (``--prior-run data_test10``);
- doodler : the MLP engine of Doodler's ``doodler-engine`` (PyPI, 0.0.3; its defaults), for reference. Install
  it for the benchmark only: ``pip install doodler-engine==0.0.3 psutil``.

Images: the demo test images (``demo_run/demo_data/test`` of ``./run_demo.sh``) that neither step 4 (trained on
demo_data/train) nor step 8 (trained on demo_data/data/samples/RGB/train) trained on. The prior's probabilities are
computed once per image (timed apart: "prior s"); each recompute is timed (the CRF with the strokes, what a person
waits for after a stroke). The recompute of a 36-megapixel photograph (a demo image upsampled to 7360 x 4912, -s
0.2) is timed once per method with the first strokes, and so is the prior's computation for it.

``--select step4`` instead measures the prior's weighting variants (``VARIANTS``, docs/experiments.md; the person
starts from the proposal) with the step-4 prior on the other test images (step 4 did not train on them; step 8 did,
so its prior is not used there); ``--select step8`` the same with the step-8 prior on the images of step 8's
validation folder that step 4 trained on (step 8 did not train on them; its "best" checkpoint was chosen on them).
Neither uses the benchmark's 5 images, so the weighting is not tuned on them.

    flock /tmp/dl_tools_bench.lock python benchmarks/bench_strokes.py [--demo-run /work/main/demo_run]
        [--methods strokes,step4,step8,doodler] [--doodler-images 2] [--select step4|step8 [--variants 0,2]]
        [--ceiling] [--persons K] [--truth-figure NAME] [--folds K [--work DIR] [--max-strokes N]]
        [--held-out-step4 [--max-strokes N]]

``--persons K`` instead runs K simulated persons who differ only in the random shapes of their strokes (person 0
is the main table's) and reports each one's mean strokes to 0.95: how much the counts move with chance alone.

``--folds K`` instead measures strokes only and the step-8 prior on every one of the 42 photographs of the step-8
data (train and val), each with a step-8 run that did not see it: the photographs in the K seeded folds of
``bench_fcn.py --folds K``; for fold f a run (train.py's defaults, seed 0, 10 epochs) trains on the other folds
but f + 1, chooses its checkpoint on fold f + 1 and proposes on fold f. Eight times the benchmark's images, at the
price of K trainings (about 90 s each here). The runs are kept in ``--work`` and resumed when the benchmark is run
again. ``--max-strokes N`` lets its person go on to N strokes instead of 30 (an image that never reaches the target
counts N). Writes bench_out/<REPORT>.md, with the ratio of the means (with the prior over strokes only) and its
paired bootstrap interval over photographs.

``--held-out-step4`` instead measures strokes only and the step-4 prior (from its proposal) on all 21 demo test
photographs: step 4 trained on none of them (step 8 trained on 16, so it is not run there); the prior's settings
were chosen on 8 of them (``--select step4 --images 8``). ``--max-strokes`` applies as with ``--folds``. Writes
bench_out/<REPORT>.md, with the ratio of the means.

``--truth-figure NAME`` draws that benchmark image beside its dense truth (docs/images/truth_NAME.jpg).

``--ceiling`` measures what the prior's engine makes of a perfect model (the true labels as its probabilities, no
stroke) on the benchmark's images: the accuracy no simulated person can much exceed with that engine.

Prints markdown tables and writes them to bench_out/bench_strokes.md (bench_strokes_select_<prior>.md for
--select).
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from bench_common import REPO, machine, write_report

MAX_STROKES = 30
#: The methods without a model, which start with the first strokes only; the others start from the proposal and
#: are also run with the first strokes (module doc).
FIRST_STROKES_ONLY = ("strokes", "doodler")
TARGETS = (0.90, 0.95)
CHECKPOINTS = (5, 10, 20)
SETBACK = 0.005  # a stroke after which the accuracy falls by more than this made the labels worse
PERSON_SEEDS = 1000  # person k draws image i's strokes with the seeds of person 0 for image i + 1000 k
BIG = (4912, 7360)  # (H, W) of a 36-megapixel photograph
STEP4_MODEL, STEP4_LABELS, STEP8_RUN = "obx_mobilenetv2_96_1000_001.pb", "labels.txt", "data_test10"


@dataclass
class Trace:
    """One image labelled by one method: accuracy after each stroke count, recompute seconds, prior seconds."""

    image: str
    cap: int = MAX_STROKES  # the person stops after this many strokes
    accuracy: dict[int, float] = field(default_factory=dict)
    recompute: list[float] = field(default_factory=list)
    prior_seconds: float = 0.0

    def strokes_to(self, target: float) -> int:
        reached = [n for n, acc in self.accuracy.items() if acc >= target]
        return min(reached) if reached else self.cap

    def setbacks(self, tolerance: float = SETBACK) -> int:
        """How many strokes made the labels worse: the accuracy fell by more than ``tolerance`` after them."""
        accuracies = [self.accuracy[n] for n in sorted(self.accuracy)]
        return sum(after < before - tolerance for before, after in zip(accuracies, accuracies[1:]))

    def accuracy_after(self, n: int) -> float | None:
        done = [k for k in self.accuracy if k <= n]
        return self.accuracy[max(done)] if done else None


def simulate(image: np.ndarray, truth: np.ndarray, compute, seed: int = 0, first_strokes: bool = True,
             cap: int = MAX_STROKES) -> Trace:
    """Run the simulated person (module doc) with ``compute(image, sparse) -> (H, W) labels``: with
    ``first_strokes``, one per region first; without, from the labels of no stroke (a model's proposal); the
    person stops at the last target or after ``cap`` strokes."""
    from dl_tools.labelling.simulated_strokes import correction_stroke, region_strokes

    if first_strokes:
        sparse, n_strokes = region_strokes(truth, seed=seed)
    else:
        sparse, n_strokes = np.zeros(truth.shape, np.uint8), 0
    trace = Trace("", cap)
    while True:
        started = time.perf_counter()
        label_image = compute(image, sparse)
        trace.recompute.append(time.perf_counter() - started)
        trace.accuracy[n_strokes] = float((label_image == truth).mean())
        if trace.accuracy[n_strokes] >= TARGETS[-1] or n_strokes >= cap:
            return trace
        stroke = correction_stroke(truth, label_image, seed=seed + n_strokes)
        if stroke is None:
            return trace
        sparse[stroke[0]] = stroke[1] + 1
        n_strokes += 1


def benchmark_images(demo_run: Path, trained_by_step8: bool) -> list[Path]:
    """The test images of ``demo_run`` that step 8 did (``trained_by_step8``) or did not train on, sorted."""
    train8 = demo_run / "demo_data" / "data" / "samples" / "RGB" / "train" / "data"
    images = sorted((demo_run / "demo_data" / "test").glob("*.jpg"))
    return [p for p in images if (train8 / f"{p.stem}_RGB.jpg").exists() == trained_by_step8]


def read_item(path: Path, labels: list[str], truth_path: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(image (H, W, 3) uint8, truth (H, W) 0-based in the order of ``labels``) of a test image; its truth is
    ``truth_path`` or, by default, the ``_mres.mat`` beside it."""
    from dl_tools.file_contract import MANUAL_SUFFIX
    from dl_tools.io.images import read_image
    from dl_tools.io.mat import read_label_mat

    truth = read_label_mat(truth_path or path.with_name(f"{path.stem}{MANUAL_SUFFIX}"))
    lookup = np.array([labels.index(name) for name in truth.labels])
    return read_image(path), lookup[truth.label_image]


def strokes_method(scale: float):
    from dl_tools.labelling.engine import default_crf_params, label_from_strokes

    params = default_crf_params("strokes", scale)
    return lambda image, sparse: label_from_strokes(image, sparse, 3, params)[0]


def prior_method(evidence, scale: float, prior_params=None):
    """``compute`` of the prior's engine with a model's ``labelling.prior.ModelEvidence``."""
    from dl_tools.labelling.prior import label_with_evidence, prior_crf_params

    params = prior_crf_params(scale)
    return lambda image, sparse: label_with_evidence(image, sparse, evidence, params, prior_params)[0]


def doodler_method(image: np.ndarray, sparse: np.ndarray) -> np.ndarray:
    """Doodler's engine with the defaults of its app (doodler_engine.defaults; sigma 1-16, all features)."""
    from doodler_engine import defaults
    from doodler_engine.image_segmentation import segmentation

    return segmentation(image, sparse, defaults.DEFAULT_CRF_THETA, defaults.DEFAULT_CRF_MU,
                        defaults.DEFAULT_RF_DOWNSAMPLE, defaults.DEFAULT_CRF_DOWNSAMPLE, defaults.DEFAULT_NUMSCALES,
                        True, True, True, True, 1, 16)


def load_priors(demo_run: Path, labels: list[str], names: list[str]) -> dict:
    from dl_tools.workflows.prior import PriorFiles

    files = {"step4": PriorFiles(model=demo_run / STEP4_MODEL, model_labels=demo_run / STEP4_LABELS),
             "step8": PriorFiles(run=demo_run / STEP8_RUN)}
    return {name: files[name].load(labels) for name in names}


def run_method(method: str, items: list, priors: dict, scale: float, prior_params=None,
               first_strokes: bool = True, person: int = 0, cap: int = MAX_STROKES) -> list[Trace]:
    """One ``method`` on every image of ``items``; ``person`` 0 is the benchmark's simulated person, others draw
    their strokes with other random seeds (``--persons``)."""
    traces = []
    for index, (name, image, truth) in enumerate(items):
        prior_seconds = 0.0
        if method == "strokes":
            compute = strokes_method(scale)
        elif method == "doodler":
            compute = doodler_method
        else:
            started = time.perf_counter()
            evidence = priors[method].evidence(image, scale)
            prior_seconds = time.perf_counter() - started
            compute = prior_method(evidence, scale, prior_params or priors[method].weighting)
        trace = simulate(image, truth, compute, seed=index + PERSON_SEEDS * person, first_strokes=first_strokes,
                         cap=cap)
        trace.image, trace.prior_seconds = name, prior_seconds
        traces.append(trace)
        print(f"{method} {name}: {trace.strokes_to(0.90)} / {trace.strokes_to(0.95)} strokes, "
              f"{max(trace.accuracy.values()):.3f}, {trace.setbacks()} setbacks", flush=True)
    return traces


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def table(rows: dict[str, list[Trace]], per_image: bool) -> list[str]:
    lines = ["| method | image | strokes to 0.90 | strokes to 0.95 | acc. after 5 | after 10 | after 20 | first "
             "strokes | acc. of the first compute | setbacks | recompute s (mean / max) | prior s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for method, traces in rows.items():
        shown = traces if per_image else []
        for t in shown:
            lines.append(f"| {method} | {t.image[:32]} | {t.strokes_to(0.90)} | {t.strokes_to(0.95)} | "
                         + " | ".join(_cell(t.accuracy_after(n)) for n in CHECKPOINTS)
                         + f" | {min(t.accuracy)} | {t.accuracy[min(t.accuracy)]:.3f} | {t.setbacks()} | "
                         f"{np.mean(t.recompute):.2f} / {max(t.recompute):.2f} | "
                         f"{t.prior_seconds:.1f} |")
        after = [[t.accuracy_after(n) for t in traces] for n in CHECKPOINTS]
        means = [None if any(a is None for a in col) else float(np.mean(col)) for col in after]
        times = [s for t in traces for s in t.recompute]
        lines.append(f"| **{method}** | **mean of {len(traces)}** | "
                     f"**{np.mean([t.strokes_to(0.90) for t in traces]):.1f}** | "
                     f"**{np.mean([t.strokes_to(0.95) for t in traces]):.1f}** | "
                     + " | ".join(_cell(m) for m in means)
                     + f" | {np.mean([min(t.accuracy) for t in traces]):.1f} | "
                     f"{np.mean([t.accuracy[min(t.accuracy)] for t in traces]):.3f} | "
                     f"{np.mean([t.setbacks() for t in traces]):.1f} | {np.mean(times):.2f} / "
                     f"{max(times):.2f} | {np.mean([t.prior_seconds for t in traces]):.1f} |")
    return lines


def big_recompute(items: list, priors: dict, methods: list[str], scale: float) -> list[str]:
    """Seconds of the prior's probabilities (once per image) and of one recompute of a 36-megapixel photograph
    (module doc), per method."""
    import cv2

    from dl_tools.labelling.simulated_strokes import region_strokes

    name, image, truth = items[0]
    size = (BIG[1], BIG[0])
    big_image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    big_truth = cv2.resize(truth.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    sparse, _ = region_strokes(big_truth, brush=25, stroke_length=300)
    lines = [f"| method | 7360 x 4912 photograph ({name[:32]} upsampled), -s {scale}: prior s | recompute s |",
             "|---|---|---|"]
    for method in methods:
        if method == "doodler":
            continue  # minutes per recompute at 36 MP; not measured
        prior_seconds = "-"
        if method == "strokes":
            compute = strokes_method(scale)
        else:
            started = time.perf_counter()
            evidence = priors[method].evidence(big_image, scale)
            prior_seconds = f"{time.perf_counter() - started:.1f}"
            compute = prior_method(evidence, scale, priors[method].weighting)
        started = time.perf_counter()
        compute(big_image, sparse)
        lines.append(f"| {method} | {prior_seconds} | {time.perf_counter() - started:.1f} |")
        print(lines[-1], flush=True)
    return lines


def ceiling(items: list, scale: float) -> list[str]:
    """What the prior's engine makes of a perfect model: per image, the accuracy of ``label_with_prior`` with the
    true labels as the model's probabilities (one-hot) and no stroke, with the default weighting and with the model
    fully trusted (weight 1); and of the truth alone brought to the CRF grid and back (the grid's own limit)."""
    from dl_tools.arrays.resize import resize_image
    from dl_tools.labelling.prior import ModelEvidence, PriorParams
    from dl_tools.segmentation.crf import scaled_shape, upsample_argmax

    lines = ["| image | truth on the CRF grid and back | proposal of a perfect model (default weighting) | "
             "the same, weight 1 |", "|---|---|---|---|"]
    for name, image, truth in items:
        onehot = np.eye(3, dtype=np.float32)[truth]  # the demo's 3 classes, as strokes_method
        grid = upsample_argmax(resize_image(onehot, scaled_shape(truth.shape, scale)), truth.shape)
        empty = np.zeros(truth.shape, np.uint8)
        default = prior_method(ModelEvidence(onehot), scale)(image, empty)
        trusted = prior_method(ModelEvidence(onehot), scale, PriorParams(weight=1.0))(image, empty)
        lines.append(f"| {name[:32]} | {np.mean(grid == truth):.3f} | {np.mean(default == truth):.3f} | "
                     f"{np.mean(trusted == truth):.3f} |")
        print(lines[-1], flush=True)
    return lines


#: Weighting variants of ``--select``: (name, PriorParams fields, ``refit`` given as RefitParams fields or None),
#: with prior_crf_params. Those measured before
#: (2026-12-03 and 2026-12-07: the weight, floor, reach and lift of the first stage) are in docs/experiments.md
#: and in this file's history.
VARIANTS = [
    ("no refit, lift over the whole segment (the engine of 2026-12-07)", dict(corrected_reach=0.0, refit=None)),
    ("refit: shrinkage 0.1, strokes share 1, lift over the whole segment", dict(corrected_reach=0.0, refit=dict())),
    ("refit: shrinkage 0.01", dict(corrected_reach=0.0, refit=dict(shrinkage=0.01))),
    ("refit: shrinkage 0.1, strokes share 2", dict(corrected_reach=0.0, refit=dict(stroke_share=2.0))),
    ("refit: 8000 samples", dict(corrected_reach=0.0, refit=dict(samples=8000))),
    ("refit: position weight 1", dict(corrected_reach=0.0, refit=dict(position=1.0))),
    ("refit: position weight 3", dict(corrected_reach=0.0, refit=dict(position=3.0))),
    ("refit, no lift", dict(corrected_lift=0.0, refit=dict())),
    ("refit, lift 0.5 over the whole segment", dict(corrected_lift=0.5, corrected_reach=0.0, refit=dict())),
    ("refit, lift reach 0.1", dict(corrected_reach=0.1, refit=dict())),
    ("refit, lift reach 0.15", dict(corrected_reach=0.15, refit=dict())),
    ("refit, lift reach 0.2 (adopted)", dict(refit=dict())),
    ("refit, lift reach 0.3", dict(corrected_reach=0.3, refit=dict())),
    ("refit, lift reach 0.4", dict(corrected_reach=0.4, refit=dict())),
    ("no refit, lift reach 0.2", dict(refit=None)),
]


def persons(items: list, priors: dict, methods: list[str], scale: float, n_persons: int) -> list[str]:
    """Markdown table: each method's mean strokes to 0.95 (and setbacks per image) for ``n_persons`` simulated
    persons who differ only in the random shapes of their strokes, each following the method's protocol."""
    lines = ["| method | " + " | ".join(f"person {k}" for k in range(n_persons)) + " | mean | range |",
             "|---|" + "---|" * (n_persons + 2)]
    for method in methods:
        runs = [run_method(method, items, priors, scale, first_strokes=method in FIRST_STROKES_ONLY, person=k)
                for k in range(n_persons)]
        strokes = [float(np.mean([t.strokes_to(TARGETS[-1]) for t in traces])) for traces in runs]
        setbacks = [float(np.mean([t.setbacks() for t in traces])) for traces in runs]
        lines.append(f"| {method} | " + " | ".join(f"{n:.1f} ({b:.1f})" for n, b in zip(strokes, setbacks))
                     + f" | **{np.mean(strokes):.1f}** ({np.mean(setbacks):.1f}) | {min(strokes):.1f}-"
                     f"{max(strokes):.1f} |")
    return lines


def fold_items(fold_data: Path, labels: list[str]) -> list:
    """(name, image, truth) of the test photographs of a fold's copy of the step-8 data (``bench_fcn.fold_copies``),
    sorted."""
    from dl_tools.file_contract import MANUAL_SUFFIX, sample_name

    truth_dir = fold_data / "labels" / "gtFine" / "test" / "data"
    return [(sample_name(p), *read_item(p, labels, truth_dir / f"{sample_name(p)}{MANUAL_SUFFIX}"))
            for p in sorted((fold_data / "samples" / "RGB" / "test" / "data").glob("*"))]


def folds(demo_run: Path, labels: list[str], scale: float, k: int, work: Path, cap: int = MAX_STROKES) -> list[str]:
    """``--folds K`` (module doc): the step-8 data's 42 photographs in the K folds of ``bench_fcn.py --folds`` (the
    same seeded split); for each fold, a step-8 run (train.py's defaults, seed 0) trained on the other folds but
    the next (its checkpoint chosen on that one), then strokes only and the run's prior from its proposal on the
    fold's photographs. A fold's run already in ``work`` (an interrupted benchmark) is resumed, not retrained.
    Returns the markdown tables: per fold, and every photograph pooled."""
    from bench_fcn import fold_copies

    from dl_tools.io.run_folder import read_run_history
    from dl_tools.workflows.fcn_train import FCNTrainParams, train_fcn
    from dl_tools.workflows.prior import PriorFiles

    rows, lines = {"strokes": [], "step8": []}, []
    for fold, fold_data in enumerate(fold_copies(demo_run / "demo_data" / "data", work, k)):
        run = work / f"run{fold}"
        params = FCNTrainParams(seed=0)
        trained = len(read_run_history(run).get("loss", [])) if run.is_dir() else 0
        if trained < params.epochs:  # classes: the fold's labeldefs.txt, or a resumed run's own
            train_fcn(fold_data, run, None, params, resume=bool(trained), overwrite=not trained)
        items = fold_items(fold_data, labels)
        fold_rows = {"strokes": run_method("strokes", items, {}, scale, cap=cap),
                     "step8": run_method("step8", items, {"step8": PriorFiles(run=run).load(labels)}, scale,
                                         first_strokes=False, cap=cap)}
        for method, traces in fold_rows.items():
            rows[method] += traces
            lines.append(f"| {fold} | {method} | {len(traces)} | "
                         f"{np.mean([t.strokes_to(0.90) for t in traces]):.1f} | "
                         f"{np.mean([t.strokes_to(0.95) for t in traces]):.1f} | "
                         + " ".join(str(t.strokes_to(0.95)) for t in traces) + " |")
    header = ["| fold | method | photographs | strokes to 0.90 | strokes to 0.95 | strokes to 0.95 per photograph |",
              "|---|---|---|---|---|---|"]
    return [*header, *lines, "", *ratio_lines(rows["strokes"], rows["step8"]), "", *table(rows, per_image=True)]


def held_out_step4(demo_run: Path, labels: list[str], scale: float, cap: int = MAX_STROKES) -> list[str]:
    """``--held-out-step4`` (module doc): strokes only and the step-4 prior on every demo test photograph."""
    items = [(p.stem, *read_item(p, labels)) for p in sorted((demo_run / "demo_data" / "test").glob("*.jpg"))]
    rows = {"strokes": run_method("strokes", items, {}, scale, cap=cap),
            "step4": run_method("step4", items, load_priors(demo_run, labels, ["step4"]), scale, first_strokes=False,
                                cap=cap)}
    return [*ratio_lines(rows["strokes"], rows["step4"]), "", *table(rows, per_image=True)]


def ratio_lines(alone: list[Trace], with_prior: list[Trace]) -> list[str]:
    """Per target, the ratio of the mean strokes with the prior over strokes only on the same photographs, with its
    interval (``strokes_ratio``)."""
    lines = []
    for target in TARGETS:
        r, low, high = strokes_ratio([t.strokes_to(target) for t in alone], [t.strokes_to(target) for t in with_prior])
        lines.append(f"Strokes with the prior over strokes only, ratio of the means over the {len(alone)} photographs "
                     f"(95 % paired bootstrap interval over photographs): to {target:.2f} {r:.2f} ({low:.2f}-"
                     f"{high:.2f})")
    return lines


def strokes_ratio(alone: list[int], with_prior: list[int], seed: int = 0) -> tuple[float, float, float]:
    """mean(with_prior) / mean(alone) of paired per-photograph stroke counts, and its 95 % bootstrap interval over
    photographs (scipy.stats.bootstrap, paired, BCa, 9999 resamples, seeded)."""
    from scipy import stats

    def ratio(a, b, axis=-1):
        return np.mean(b, axis=axis) / np.mean(a, axis=axis)

    alone, with_prior = np.asarray(alone, float), np.asarray(with_prior, float)
    boot = stats.bootstrap((alone, with_prior), ratio, paired=True, vectorized=True, n_resamples=9999,
                           random_state=np.random.default_rng(seed))
    low, high = boot.confidence_interval
    return float(ratio(alone, with_prior)), float(low), float(high)


def truth_figure(name: str, image: np.ndarray, truth: np.ndarray, labels: list[str], colors: np.ndarray):
    """A matplotlib Figure: the photograph beside it with its truth (``labels`` in ``colors``) laid over it."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    figure = Figure(figsize=(10, 3.6), layout="constrained")
    left, right = figure.subplots(1, 2)
    left.imshow(image)
    right.imshow((0.45 * image + 0.55 * colors[truth]).astype(np.uint8))
    for axes, title in ((left, name), (right, "its dense truth")):
        axes.set_title(title, fontsize=9)
        axes.set_axis_off()
    right.legend(handles=[Patch(color=c / 255, label=n) for n, c in zip(labels, colors)], loc="lower right",
                 fontsize=7)
    return figure


def selection_images(demo_run: Path, source: str) -> list[Path]:
    """The images ``--select`` measures ``source``'s prior on (module doc), sorted."""
    if source == "step4":
        return benchmark_images(demo_run, True)
    val8 = demo_run / "demo_data" / "data" / "samples" / "RGB" / "val" / "data"
    return [p for p in sorted((demo_run / "demo_data" / "train").glob("*.jpg"))
            if (val8 / f"{p.stem}_RGB.jpg").exists()]


def select(demo_run: Path, labels: list[str], scale: float, n_images: int | None, source: str,
           variants: list[int]) -> int:
    """The ``VARIANTS`` numbered ``variants`` (0-based) of ``source``'s prior's weighting on images it did not train
    on (module doc)."""
    from dl_tools.labelling.prior import PriorParams
    from dl_tools.labelling.refit import RefitParams

    items = [(p.stem, *read_item(p, labels)) for p in selection_images(demo_run, source)[:n_images]]
    prior = load_priors(demo_run, labels, [source])[source]
    rows = {"strokes only (default engine, first strokes)": run_method("strokes", items, {}, scale)}
    for name, fields in (VARIANTS[i] for i in variants):
        refit = fields.get("refit")
        fields = {**fields, "refit": None if refit is None else RefitParams(**refit)}
        rows[name] = run_method(source, items, {source: prior}, scale, PriorParams(**fields), first_strokes=False)
    text = [f"Prior weighting variants ({machine()}); {source} prior, from the proposal, {len(items)} images it did "
            f"not train on, -s {scale}.", "", *table(rows, per_image=False)]
    write_report(f"bench_strokes_select_{source}", "\n".join(text))
    return 0


def main(argv=None) -> int:
    from dl_tools.io.text import read_labels
    from dl_tools.terminal import progress_shown

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo-run", type=Path, default=REPO / "demo_run", help="the folder ./run_demo.sh wrote")
    parser.add_argument("--scale", type=float, default=0.5, help="-s for the demo images (default 0.5)")
    parser.add_argument("--big-scale", type=float, default=0.2, help="-s for the 36 MP photograph (default 0.2)")
    parser.add_argument("--methods", default="strokes,step4,step8,doodler")
    parser.add_argument("--doodler-images", type=int, default=2,
                        help="Doodler on the first N images only (13 s a recompute on an idle machine; default 2)")
    parser.add_argument("--select", choices=("step4", "step8"),
                        help="measure the weighting variants of this prior instead (module doc)")
    parser.add_argument("--variants", default=",".join(map(str, range(len(VARIANTS)))),
                        help="with --select: the numbers of the VARIANTS to measure, 0-based (default all)")
    parser.add_argument("--images", type=int, default=None, help="only the first N images")
    parser.add_argument("--report", default="bench_strokes", help="bench_out/<REPORT>.md (default %(default)s)")
    parser.add_argument("--persons", type=int, default=None, metavar="K",
                        help="instead, the mean strokes to 0.95 of K simulated persons who differ in the random "
                             "shapes of their strokes (person 0 is the main table's)")
    parser.add_argument("--truth-figure", metavar="IMAGE",
                        help="instead, draw this benchmark image (a name) beside its truth into docs/images")
    parser.add_argument("--folds", type=int, default=None, metavar="K",
                        help="instead, strokes only and a step-8 prior trained without them on all 42 photographs "
                             "of the step-8 data, in K folds (module doc)")
    parser.add_argument("--work", type=Path, default=REPO / "bench_out" / "strokes_folds",
                        help="with --folds: where the folds' data and runs are kept (default %(default)s; a run "
                             "found there is resumed)")
    parser.add_argument("--held-out-step4", action="store_true",
                        help="instead, strokes only and the step-4 prior on all 21 demo test photographs (module doc)")
    parser.add_argument("--max-strokes", type=int, default=MAX_STROKES,
                        help="with --folds or --held-out-step4: the person stops after this many strokes, the "
                             "count of an image that never reaches the target (default %(default)s, the benchmark's)")
    parser.add_argument("--ceiling", action="store_true",
                        help="instead, what the prior's engine makes of a perfect model on the benchmark's images")
    args = parser.parse_args(argv)
    labels = read_labels(REPO / "demo_data" / "labels" / "obx_labels.txt")
    if args.truth_figure:
        from dl_tools.io.text import read_colors

        paths = {p.stem: p for p in benchmark_images(args.demo_run, False)}
        if args.truth_figure not in paths:
            parser.error(f"--truth-figure: {args.truth_figure} is not a benchmark image; give one of "
                         f"{', '.join(paths)}")
        path = paths[args.truth_figure]
        colors = read_colors(REPO / "demo_data" / "labels" / "obx_label_colors.txt")
        truth_figure(path.stem, *read_item(path, labels), labels, colors).savefig(
            REPO / "docs" / "images" / f"truth_{path.stem}.jpg", dpi=80, pil_kwargs={"quality": 85})
        return 0
    if args.max_strokes != MAX_STROKES and args.folds is None and not args.held_out_step4:
        parser.error("--max-strokes: give --folds or --held-out-step4 too (the benchmark's own tables stop at 30 "
                     "strokes)")
    if args.max_strokes < 1:
        parser.error("--max-strokes: give 1 or more strokes")
    if args.folds is not None:
        if args.folds < 2:
            parser.error("--folds: give 2 or more folds")
        with progress_shown(False):
            tables = folds(args.demo_run, labels, args.scale, args.folds, args.work, args.max_strokes)
        write_report(args.report, "\n".join([
            f"Strokes needed, {args.folds}-fold cross-validation of the step-8 prior over the 42 photographs of "
            f"the step-8 data ({machine()}), -s {args.scale}, at most {args.max_strokes} strokes per image.", "",
            *tables]))
        return 0
    if args.held_out_step4:
        with progress_shown(False):
            tables = held_out_step4(args.demo_run, labels, args.scale, args.max_strokes)
        write_report(args.report, "\n".join([
            f"Strokes needed, the step-4 prior on the 21 demo test photographs it did not train on ({machine()}), "
            f"-s {args.scale}, at most {args.max_strokes} strokes per image.", "", *tables]))
        return 0
    if args.ceiling:
        items = [(p.stem, *read_item(p, labels)) for p in benchmark_images(args.demo_run, False)[:args.images]]
        write_report("bench_strokes_ceiling", "\n".join([f"Ceiling of the prior's engine ({machine()}), -s "
                                                         f"{args.scale}.", "", *ceiling(items, args.scale)]))
        return 0
    if args.select:
        return select(args.demo_run, labels, args.scale, args.images, args.select,
                      [int(i) for i in args.variants.split(",")])
    methods = args.methods.split(",")
    items = [(p.stem, *read_item(p, labels)) for p in benchmark_images(args.demo_run, False)[:args.images]]
    priors = load_priors(args.demo_run, labels, [m for m in methods if m.startswith("step")])
    if args.persons:
        write_report(args.report, "\n".join([
            f"Strokes to 0.95 (mean of {len(items)} images; setbacks per image in brackets) for {args.persons} "
            f"simulated persons ({machine()}), -s {args.scale}.", "", *persons(items, priors, methods, args.scale,
                                                                                args.persons)]))
        return 0
    rows = {}
    for method in methods:
        rows[method] = run_method(method, items[:args.doodler_images] if method == "doodler" else items, priors,
                                  args.scale, first_strokes=method in FIRST_STROKES_ONLY)
        if method not in FIRST_STROKES_ONLY:
            rows[f"{method}, same first strokes"] = run_method(method, items, priors, args.scale)
    if "doodler" in methods and "strokes" in methods:
        rows["strokes (Doodler's images)"] = rows["strokes"][:args.doodler_images]
    big = big_recompute(items, priors, methods, args.big_scale)
    text = [f"Strokes needed ({machine()}); {len(items)} demo test images neither step 4 nor step 8 trained on, "
            f"-s {args.scale}" + (f"; Doodler on the first {args.doodler_images}" if "doodler" in methods else "")
            + f". Load average (1 min) at the end: "
            f"{os.getloadavg()[0]:.1f} (other jobs on the machine slow the times).", "",
            *table(rows, per_image=True), "", *big]
    write_report(args.report, "\n".join(text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
