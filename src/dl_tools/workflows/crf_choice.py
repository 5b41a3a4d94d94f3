"""Method 2: choose how infer_crf.py refines a run's labels, on the run's own validation images.

At the end of training (semseg_fullyconv/train.py), the network's probabilities of every validation image are
refined with each candidate of ``CRFChoiceParams`` (CRF kernels x temperature x gate, ``segmentation.refine``) and
scored against the image's labels, all validation pixels pooled. The candidate of highest mean IoU is stored in
the run's settings.json (``crf_choice``) when it beats the network alone by at least ``min_gain``; otherwise the
run records that no CRF setting helped, and infer_crf.py keeps the network's labels. With each candidate go the
changes of class it may make (``choose_changes``): starting from the network's labels, the change (network's class
a -> CRF's class b) that raises the validation mean IoU most is allowed, then the next, while one still raises it
(``select_changes``), on the pixels of the validation images and of up to 50 training images pooled (7 validation
photographs are too few to tell a change that helps from one that helped them by chance); the others are undone
(``Refinement.changes``). The candidates are still ranked, and compared with the network, on the validation images
alone. The temperature candidate "fit" is the temperature that calibrates the network on the validation pixels
(``segmentation.calibration.fit_temperature``).

Why: CRF settings chosen once on one set of photographs help on some new ones and hurt on others (issue 20; the
numbers are in docs/benchmarks.md). Each run is now judged on its own validation images, and the gate keeps the
pixels the network is sure of out of the CRF's reach.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..file_contract import LABEL_NODATA, RUN_SETTINGS
from ..io.atomic import write_text_atomic
from ..io.images import read_image
from ..io.model_card import CRF_CHOICE, card_paths, read_model_card, set_crf_choice
from ..io.run_folder import read_run_settings
from ..metrics import scores_from_confusion
from ..segmentation.calibration import fit_temperature
from ..segmentation.crf import upsample_argmax
from ..segmentation.refine import NO_GATE, CRFChoice, Refinement, refine_from_crf, run_crf
from .fcn_infer import FCN_CRF, load_run, predict_probs
from .fcn_train import find_pairs, read_label_ids

log = logging.getLogger(__name__)

#: settings.json's key for the choice (the run's card has it too)
CHOICE_KEY = CRF_CHOICE
#: the temperature candidate fitted on the validation pixels
FIT = "fit"
#: how each candidate's changes of class are chosen (``choose_changes``): every change; forward selection on all
#: validation pixels pooled; the changes forward selection makes with each validation image left out in turn
ANY_CHANGE, POOLED, STABLE = "any", "pooled", "stable"
CHANGE_RULES = (ANY_CHANGE, POOLED, STABLE)


@dataclass(frozen=True)
class CRFChoiceParams:
    """The candidates tried, and the margin a candidate must win by.

    kernels      : CRF settings tried (distances in pixels of the CRF grid).
    temperatures : 1.0 (the network's probabilities as they are) and/or "fit" (calibrated on validation).
    gates        : top-class probabilities from which a pixel keeps the network's class (NO_GATE: none).
    accepts      : CRF marginals from which the CRF's class replaces the network's (0: everywhere).
    changes      : how the changes of class each candidate may make are chosen (``CHANGE_RULES``,
                   ``choose_changes``): ANY_CHANGE, POOLED or STABLE.
    min_gain     : validation mean IoU a candidate must add to the network's, more than this, to be used.
    fit_pixels   : validation pixels sampled (on the network grid) to fit the temperature.
    training_images : at most this many of the run's training images (evenly spaced in name order) join the
                   validation images in choosing the changes of class (``changes``' rule on both); the candidate is
                   still ranked, and compared with the network, on the validation images alone. 0: validation only.

    The defaults were measured over 6 folds x 2 seeds of the 42 demo photographs (docs/benchmarks.md, issue 20):
    the two smaller colour kernels, with and without calibration, the CRF's class only where it is at least 95 %
    sure; the gate on the network's own confidence changed nothing measurable there, so it is not tried. The
    changes of class chosen on the validation and training images pooled (POOLED, ``training_images``), picked on
    seeds 0-1 and confirmed on seeds 2-3: over those 24 runs a mean gain of +0.022 and a worst run of -0.004 (2 of
    24 below zero), where the changes chosen on validation alone with each image left out (STABLE, the default
    before) gained +0.017 and lost up to 0.002.
    """

    kernels: tuple = (dataclasses.replace(FCN_CRF, theta_bilateral=30.0),
                      dataclasses.replace(FCN_CRF, theta_bilateral=60.0))
    temperatures: tuple = (1.0, FIT)
    gates: tuple = (NO_GATE,)
    accepts: tuple = (0.95,)
    changes: str = POOLED
    min_gain: float = 0.0
    fit_pixels: int = 200_000
    training_images: int = 50

    def __post_init__(self):
        if self.changes not in CHANGE_RULES:
            raise InputError(f"the rule choosing the CRF's changes of class must be one of {', '.join(CHANGE_RULES)}, "
                             f"got {self.changes!r}")
        if self.training_images < 0:
            raise InputError(f"the number of training images choosing the CRF's changes of class must be 0 or more, "
                             f"got {self.training_images}")

    def grid(self) -> list[tuple]:
        """(kernel, temperature or FIT, gate, accept) of every candidate, in the order ``candidates`` gives them."""
        return [(kernel, t, gate, accept) for kernel in self.kernels for t in self.temperatures
                for gate in self.gates for accept in self.accepts]

    def candidates(self, temperature: float) -> list[Refinement]:
        """Every Refinement of the grid, with "fit" replaced by ``temperature``."""
        return [Refinement(kernel, temperature if t == FIT else float(t), gate, accept)
                for kernel, t, gate, accept in self.grid()]


def _pairs_of(run_dir: Path, settings: dict, split: str) -> list[tuple[Path, Path]]:
    """(sample, label image) pairs of ``split`` ("val" or "train") of the run's data folder."""
    data_dir = settings.get("data_dir")
    where = f"the run's data folder ({run_dir / RUN_SETTINGS}, \"data_dir\")"
    if not data_dir:
        raise InputError(f"--name: {where} is not recorded; the CRF is chosen on the run's validation images: "
                         "give the CRF settings (--crf-...) to infer_crf.py instead")
    if not Path(data_dir).is_dir():
        raise InputError(f"--name: {where} {data_dir} is gone; the CRF is chosen on the run's validation images: "
                         "give them back, or give the CRF settings (--crf-...) to infer_crf.py")
    try:
        return find_pairs(data_dir, split)
    except InputError as exc:  # its message names train.py's --data-dir
        raise InputError(str(exc).replace("--data-dir:", f"--name: {where}:", 1)) from None


def _validation(run_dir: Path, settings: dict, run) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(image (H, W, 3) uint8, labels (H, W) uint8 with 255 = none, network probabilities (h, w, N)) of every
    validation image of the run's data folder."""
    data_dir = settings.get("data_dir")
    items = labelled_items(_pairs_of(run_dir, settings, "val"), run)
    if all((labels == LABEL_NODATA).all() for _, labels, _ in items):
        raise InputError(f"--name: no validation label image under {data_dir} has a labelled pixel (all no data, "
                         f"{LABEL_NODATA}); label them (semseg_fullyconv/make_labels.py) before choosing the CRF")
    return items


def _training_pairs(run_dir: Path, settings: dict, at_most: int) -> list[tuple[Path, Path]]:
    """Up to ``at_most`` (sample, label image) pairs of the run's training images (``evenly_spaced``); none, with a
    warning, when they are gone (the changes of class are then chosen on the validation images alone)."""
    if not at_most:
        return []
    try:
        pairs = _pairs_of(run_dir, settings, "train")
    except InputError as exc:
        log.warning("the CRF's changes of class are chosen on the validation images alone: %s", exc)
        return []
    return evenly_spaced(pairs, at_most)


def evenly_spaced(items: list, at_most: int) -> list:
    """``at_most`` of ``items`` spread evenly over the list (first and last included), or all of them."""
    if len(items) <= at_most:
        return list(items)
    return [items[i] for i in np.unique(np.linspace(0, len(items) - 1, at_most).round().astype(int))]


def labelled_items(pairs: list[tuple[Path, Path]], run) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(image, labels, network probabilities) of every (sample, label image) pair (``fcn_train.find_pairs``), as
    ``_validation`` gives them; ``run``: ``fcn_infer.load_run``'s."""
    items = []
    for sample, label in pairs:
        image = read_image(sample)
        items.append((image, read_label_ids(label, len(run.labels)), predict_probs(run, image)))
    return items


def fitted_temperature(items, n_pixels: int, seed: int = 0) -> float:
    """The temperature fitted on up to ``n_pixels`` labelled pixels sampled from the network grids of ``items``."""
    import cv2

    rng = np.random.default_rng(seed)
    probs, truth = [], []
    share = max(1, n_pixels // len(items))
    for _, labels, network in items:
        small = cv2.resize(labels, (network.shape[1], network.shape[0]), interpolation=cv2.INTER_NEAREST)
        keep = np.flatnonzero(small.ravel() != LABEL_NODATA)
        keep = rng.choice(keep, size=min(share, keep.size), replace=False)
        probs.append(network.reshape(-1, network.shape[2])[keep])
        truth.append(small.ravel()[keep])
    return fit_temperature(np.concatenate(probs), np.concatenate(truth))


def choose_crf(run_dir: str | Path, params: CRFChoiceParams = CRFChoiceParams()) -> CRFChoice:
    """Score every candidate of ``params`` on the validation images of the run ``run_dir`` (its best weights),
    store the choice in its settings.json (``CHOICE_KEY``) and return it."""
    from ..terminal import progress

    run_dir = Path(run_dir)
    settings = read_run_settings(run_dir)
    card, _ = card_paths(run_dir)
    if card.is_file():
        read_model_card(card)  # an unreadable card stops the choice now, not after settings.json was changed
    run = load_run(run_dir)
    n = len(run.labels)
    items = _validation(run_dir, settings, run)
    training = _training_pairs(run_dir, settings, params.training_images)
    temperature = fitted_temperature(items, params.fit_pixels) if FIT in params.temperatures else 1.0
    candidates = params.candidates(temperature)
    photos = np.stack([image_change_counts(image, labels, probs, candidates, n)
                       for image, labels, probs in progress(items, desc="choosing the CRF", unit="image")])
    trained_on = [image_change_counts(*labelled_items([pair], run)[0], candidates, n)  # one image in memory at a time
                  for pair in progress(training, desc="choosing the CRF's changes on training images", unit="image")]
    log.info("CRF candidates scored on %d validation images; their changes of class chosen on those and %d "
             "training images", len(items), len(trained_on))
    network_iou = _mean_iou(photos[:, 0].sum(axis=(0, 3)), run.labels)
    candidates, ious = with_changes(candidates, photos, np.array(trained_on), run.labels, params.changes)
    best = int(np.nanargmax(ious))
    chosen = candidates[best] if ious[best] - network_iou > params.min_gain else None
    choice = CRFChoice(chosen, float(network_iou), float(ious[best]), len(items), len(candidates), params.min_gain)
    settings[CHOICE_KEY] = choice.record()
    write_text_atomic(run_dir / RUN_SETTINGS, json.dumps(settings, indent=1))
    set_crf_choice(run_dir, choice.record(), choice.summary())
    return choice


def with_changes(candidates: list[Refinement], photos: np.ndarray, training: np.ndarray, labels: list[str],
                 rule: str) -> tuple[list[Refinement], list[float]]:
    """The C ``candidates`` with the changes of class ``rule`` chooses for each (``choose_changes``) on the
    validation and training images together, and the validation mean IoU of each with its changes (pixels pooled).
    ``photos``: (P, C, N, N, N) ``image_change_counts`` of the P validation images; ``training``: those of the
    training images, (T, C, N, N, N), T may be 0."""
    choosing = np.concatenate([photos, training]) if len(training) else photos
    n = len(labels)
    chosen = [dataclasses.replace(r, changes=choose_changes(choosing[:, c], labels, rule)[0])
              for c, r in enumerate(candidates)]
    return chosen, [_mean_iou(confusion_with_changes(photos[:, c].sum(axis=0), r.allowed(n)), labels)
                    for c, r in enumerate(chosen)]


def image_change_counts(image: np.ndarray, labels: np.ndarray, probs: np.ndarray, candidates: list[Refinement],
                        n_classes: int) -> np.ndarray:
    """(C, N, N, N) int64: ``change_counts`` of each of the C ``candidates`` on one image (its pixels with a class).

    image: (H, W, 3) uint8; labels: (H, W) uint8 0-based, LABEL_NODATA for none; probs: (h, w, N) the network's.
    The CRF runs once per kernel and temperature; the candidates that differ only in gate, acceptance or changes
    of class share it (``refine.run_crf``)."""
    valid = labels != LABEL_NODATA
    network = upsample_argmax(np.asarray(probs, np.float32), image.shape[:2])
    crf_runs = {}
    counts = np.zeros((len(candidates), n_classes, n_classes, n_classes), np.int64)
    for c, refinement in enumerate(candidates):
        key = (refinement.crf, refinement.temperature)
        if key not in crf_runs:
            crf_runs[key] = run_crf(image, probs, refinement)
        refined = refine_from_crf(image, probs, refinement, *crf_runs[key])[0]
        counts[c] = change_counts(labels, network, refined, n_classes, valid)
    return counts


def change_counts(truth: np.ndarray, network: np.ndarray, refined: np.ndarray, n_classes: int,
                  valid: np.ndarray) -> np.ndarray:
    """(N, N, N) int64: [t, a, b] counts the ``valid`` pixels of true class t that the network labels a and the CRF
    b. truth, network, refined: (H, W) 0-based classes; valid: (H, W) bool."""
    index = (truth[valid].astype(np.int64) * n_classes + network[valid]) * n_classes + refined[valid]
    return np.bincount(index, minlength=n_classes ** 3).reshape(n_classes, n_classes, n_classes)


def confusion_with_changes(counts: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """(N, N) confusion (rows truth, columns labels) of the CRF's labels where ``allowed[a, b]`` (network's class a,
    CRF's class b) and the network's elsewhere; ``counts``: ``change_counts``'s (N, N, N)."""
    return (counts * allowed).sum(axis=1) + (counts * ~allowed).sum(axis=2)


def choose_changes(photos: np.ndarray, labels: list[str], rule: str
                   ) -> tuple[tuple[tuple[int, int], ...] | None, float]:
    """The changes of class one candidate may make, by ``rule`` (``CHANGE_RULES``), and the mean IoU of the
    ``photos`` with them (all pixels pooled). ``photos``: (P, N, N, N) ``change_counts`` of the P images the
    changes are chosen on (``with_changes``: validation and training).

    ANY_CHANGE: every change (None); POOLED: ``select_changes`` on all pixels pooled; STABLE: the changes
    ``select_changes`` makes on the pixels of every P - 1 of the images (each image left out in turn), so that no
    single photograph decides a change (with one image, POOLED's)."""
    pooled = photos.sum(axis=0)
    if rule == ANY_CHANGE:
        return None, _mean_iou(pooled.sum(axis=1), labels)
    if rule == POOLED or len(photos) < 2:
        return select_changes(pooled, labels)
    allowed = np.logical_and.reduce([_forward_selection(pooled - photo, labels)[0] for photo in photos])
    return _pairs(allowed), _mean_iou(confusion_with_changes(pooled, allowed), labels)


def select_changes(counts: np.ndarray, labels: list[str]) -> tuple[tuple[tuple[int, int], ...], float]:
    """The changes of class the CRF may make, chosen on ``counts`` (``change_counts``, all validation pixels):
    from the network's labels, allow the change (a, b) that raises the mean IoU most, then the next, while one
    raises it. Returns (the allowed (a, b) pairs, sorted; the mean IoU with them)."""
    allowed, best = _forward_selection(counts, labels)
    return _pairs(allowed), best


def _forward_selection(counts: np.ndarray, labels: list[str]) -> tuple[np.ndarray, float]:
    """``select_changes``'s choice as an (N, N) bool matrix (``Refinement.allowed``'s form), and its mean IoU."""
    n = counts.shape[0]
    allowed = np.eye(n, dtype=bool)
    best = _mean_iou(confusion_with_changes(counts, allowed), labels)
    while not allowed.all():
        trials = []
        for a, b in zip(*np.nonzero(~allowed)):
            trial = allowed.copy()
            trial[a, b] = True
            trials.append((_mean_iou(confusion_with_changes(counts, trial), labels), int(a), int(b)))
        iou, a, b = max(trials, key=lambda t: t[0])
        if not iou > best:
            break
        allowed[a, b], best = True, iou
    return allowed, float(best)


def _pairs(allowed: np.ndarray) -> tuple[tuple[int, int], ...]:
    """The (a, b) pairs, sorted, off the diagonal of an (N, N) bool matrix of allowed changes."""
    return tuple((int(a), int(b)) for a, b in zip(*np.nonzero(allowed & ~np.eye(len(allowed), dtype=bool))))


def _mean_iou(confusion: np.ndarray, labels: list[str]) -> float:
    return scores_from_confusion(confusion, labels).mean_iou


def stored_choice(settings: dict, run_dir: str | Path) -> CRFChoice | None:
    """The CRFChoice ``settings`` (the settings.json of the run ``run_dir``) hold, or None for a run trained before
    runs chose their CRF; InputError naming the file and ``choose-crf`` when the choice is damaged or was edited by
    hand."""
    record = settings.get(CHOICE_KEY)
    if not record:
        return None
    try:
        choice = CRFChoice.from_record(record)
        if choice.refinement is not None:
            choice.refinement.allowed(len(settings["labels"]))
    except (AttributeError, KeyError, TypeError, ValueError, InputError) as exc:
        raise InputError(f"--name: the CRF choice \"{CHOICE_KEY}\" in {Path(run_dir) / RUN_SETTINGS} is damaged "
                         f"({type(exc).__name__}: {exc}); choose it again with `dl-tools choose-crf --name "
                         f"{run_dir}`, or give the CRF settings (--crf-...)") from None
    return choice


def describe(refinement: Refinement, labels: list[str] | None = None) -> str:
    """The settings of ``refinement`` in the words of infer_crf.py's options (classes named from ``labels``)."""
    crf = refinement.crf
    gate = f"gate {refinement.gate:g}" if refinement.gated else "no gate"
    if refinement.changes is None:
        changes = "any change of class"
    else:
        name = (lambda k: labels[k]) if labels else str
        changes = "changes of class: " + (", ".join(f"{name(a)} -> {name(b)}" for a, b in refinement.changes)
                                          or "none")
    return (f"theta {crf.theta_bilateral:g} px, colour {crf.theta_color:g}, weight {crf.compat_bilateral:g}, "
            f"smoothness {crf.theta_gaussian:g} px / {crf.compat_gaussian:g}, {crf.n_iter} iterations at scale "
            f"{crf.scale:g}, temperature {refinement.temperature:.2f}, {gate}, CRF's class where it is at least "
            f"{refinement.accept:g} sure, {changes}")
