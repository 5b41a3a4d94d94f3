"""Compare rules that choose a run's CRF, offline, on the counts ``bench_fcn.py --folds K --save-counts FILE.npz``
saved (issue 20): each rule chooses from the run's validation (and some from its training) photographs only (a
candidate of the saved grid, the changes of class it may make, or no CRF), and is scored on the run's test
photographs, which no rule sees, all their pixels pooled,
as bench_fcn.py scores them: the gain is the CRF's test mean IoU minus the network's.

Prints a Markdown table (mean gain, worst run, the gains per run, the runs using a CRF) and writes it to
bench_out/crf_rules.md. Rules marked "training + validation" choose the changes of class on the run's training
photographs too (files saved since the evening of 2026-12-07 keep their counts; older files say so in the table).
The rules of train.py's default and of the variants bench_fcn.py scored are checked against the gains bench_fcn.py
measured by running infer_crf.py on the same runs; which rule a row title such as "network + CRF, run's choice"
stood for depends on when the file was saved (``check``).

    python benchmarks/crf_rules.py FILE.npz

benchmarks/data/crf_counts_folds6_seeds01.npz holds the counts of ``bench_fcn.py --folds 6 --seeds 0 1
--save-counts`` (2026-12-07, validation, test and training photographs; the default then was the leave-one-out
rule), crf_counts_folds6_seeds23.npz those of ``--seeds 2 3``; crf_rules_folds6_seeds01.md and ..._seeds23.md
their tables. Rules were compared on the 12 runs of seeds 0 and 1; the ones adopted (the leave-one-out rule in the
afternoon, the changes chosen on training and validation photographs in the evening) were then confirmed on seeds
2 and 3.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dl_tools.metrics import scores_from_confusion
from dl_tools.workflows.crf_choice import ANY_CHANGE, POOLED, STABLE, choose_changes, confusion_with_changes

#: bench_fcn.py's titles of the variants the replays must match
BENCH_DEFAULT, BENCH_ANY = "network + CRF, run's choice", "network + CRF, run's choice, any change of class"
BENCH_WIDER = "network + CRF, run's choice among more candidates"
BENCH_POOLED = "network + CRF, run's choice, changes chosen on all validation pixels pooled"
BENCH_TRAINING = "network + CRF, run's choice, changes chosen on training and validation pixels pooled"
BENCH_STABLE = "network + CRF, run's choice, changes picked with each validation photograph left out"
DEFAULT_RULE = "default (choose_crf): changes chosen on training + validation photos pooled (ranked on validation)"
STABLE_RULE = "changes picked in every leave-one-photo-out selection on validation (the default of that afternoon)"
POOLED_RULE = "pooled: changes chosen on all validation pixels pooled (the default of the morning of 2026-12-07)"
WIDER = "bench_fcn's wider choice (30/60/120 px, T 1/fit, accept 0/0.95)"
WIDER_STABLE = "bench_fcn's wider choice, leave-one-out changes"
WIDER_TRAINING = "bench_fcn's wider choice, changes chosen on training + validation photos"
#: the default's candidates (``CRFChoiceParams()``): kernels (px), fitted temperature or not, acceptances
DEFAULT_GRID = dict(theta=(30.0, 60.0), fit=(False, True), accept=(0.95,))
BOOTSTRAP = 2000
#: the photographs of a run a rule chooses the changes of class on: validation, validation and training, training
VAL, BOTH, TRAIN = "val", "val+train", "train"


@dataclass(frozen=True)
class Run:
    """One run of bench_fcn.py: val / test / train (photographs, C, N, N, N) counts of the C candidates
    (``change_counts``: truth x network x CRF; train None in files saved before they were kept), and bench_fcn.py's
    test mean IoU per variant title."""

    name: str
    val: np.ndarray
    test: np.ndarray
    measured: dict
    train: np.ndarray | None = None


@dataclass(frozen=True)
class Saved:
    runs: list
    labels: list
    theta: np.ndarray
    fit: np.ndarray
    accept: np.ndarray

    def candidates(self, theta=None, fit=None, accept=None) -> list[int]:
        """The indices, in the saved (choose_crf's) order, of the candidates with these settings (None: any)."""
        keep = np.ones(len(self.theta), bool)
        for values, wanted in ((self.theta, theta), (self.fit, fit), (self.accept, accept)):
            if wanted is not None:
                keep &= np.isin(values, wanted)
        return [int(c) for c in np.flatnonzero(keep)]


def load(path: Path) -> Saved:
    """The runs and candidate grid of a ``bench_fcn.py --save-counts`` file."""
    data = np.load(path)
    variants = list(data["variants"])
    runs = [Run(name, data[f"{name}_val"], data[f"{name}_test"], dict(zip(variants, data[f"{name}_test_miou"])),
                data[f"{name}_train"] if f"{name}_train" in data else None)
            for name in data["runs"]]
    return Saved(runs, list(data["labels"]), data["theta"], data["fit"], data["accept"])


def mean_iou(confusion: np.ndarray, labels: list[str]) -> float:
    return scores_from_confusion(confusion, labels).mean_iou


def network_confusion(counts: np.ndarray) -> np.ndarray:
    """(N, N) confusion of the network's labels from (N, N, N) counts (truth x network x CRF)."""
    return counts.sum(axis=2)


def as_allowed(pairs, n: int) -> np.ndarray:
    """(N, N) bool of the changes of class ``pairs`` (the diagonal always; None: every change)."""
    if pairs is None:
        return np.ones((n, n), bool)
    allowed = np.eye(n, dtype=bool)
    for a, b in pairs:
        allowed[a, b] = True
    return allowed


def restrict(counts: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """``counts`` (..., N, N, N) as if the CRF made only the ``eligible`` (N, N) changes of class: the pixels of the
    others move to "no change" (the network's class), so no selection on them can allow the others."""
    kept = counts * eligible
    undone = (counts * ~eligible).sum(axis=-1)  # (..., t, a)
    n = eligible.shape[0]
    kept[..., np.arange(n), np.arange(n)] += undone
    return kept


def photo_gains(photos: np.ndarray, allowed: np.ndarray, labels: list[str]) -> np.ndarray:
    """(P,) mean IoU of each photograph with the changes ``allowed`` minus the network's; ``photos``: (P, N, N, N)."""
    return np.array([mean_iou(confusion_with_changes(p, allowed), labels) - mean_iou(network_confusion(p), labels)
                     for p in photos])


# --- how a candidate's changes of class are chosen: (P, N, N, N) validation counts -> allowed (N, N) ---------------

def library(rule: str) -> Callable:
    """``crf_choice.choose_changes`` with ``rule`` (ANY_CHANGE, POOLED, STABLE) as an allowed (N, N) matrix."""
    return lambda photos, labels: as_allowed(choose_changes(photos, labels, rule)[0], photos.shape[1])


every_change, forward_selection, stable_changes = library(ANY_CHANGE), library(POOLED), library(STABLE)


def voted(min_helped: Callable[[int], int] | None = None, max_hurt: int | None = None):
    """Forward selection among the changes that, each alone, raise the mean IoU on at least ``min_helped(P)`` of the
    P validation photographs and / or lower it on at most ``max_hurt``."""
    def choose(photos: np.ndarray, labels: list[str]) -> np.ndarray:
        n = photos.shape[1]
        eligible = np.eye(n, dtype=bool)
        for a, b in zip(*np.nonzero(~eligible)):
            gains = photo_gains(photos, as_allowed([(a, b)], n), labels)
            helped, hurt = np.sum(gains > 0), np.sum(gains < 0)
            eligible[a, b] = ((min_helped is None or helped >= min_helped(len(photos)))
                              and (max_hurt is None or hurt <= max_hurt))
        return forward_selection(restrict(photos, eligible), labels)
    return choose


def stable(max_missed: int):
    """The changes forward selection picks on all validation photographs but one, for every photograph left out but
    ``max_missed`` (``stable_changes`` is ``max_missed`` 0, the library's STABLE)."""
    def choose(photos: np.ndarray, labels: list[str]) -> np.ndarray:
        picked = [forward_selection(np.delete(photos, i, axis=0), labels) for i in range(len(photos))]
        return np.sum(picked, axis=0) >= len(photos) - max_missed
    return choose


def cross_validated(photos: np.ndarray, labels: list[str], changes: Callable) -> np.ndarray:
    """(N, N) confusion of the P validation photographs, each labelled with the changes ``changes`` chooses on the
    other P - 1: what the candidate would score on a photograph its choice has not seen."""
    return sum(confusion_with_changes(photos[i], changes(np.delete(photos, i, axis=0), labels))
               for i in range(len(photos)))


# --- whether a run uses its best candidate: (P, N, N, N) validation counts of it, allowed -> bool -------------------

def photos_positive(k: int):
    """The CRF raises the mean IoU of at least ``k`` validation photographs."""
    return lambda photos, allowed, labels: np.sum(photo_gains(photos, allowed, labels) > 0) >= k


def bootstrap_positive(level: float = 0.05, seed: int = 0):
    """The ``level`` quantile of the pooled validation gain over photographs resampled with replacement is > 0."""
    def gate(photos, allowed, labels) -> bool:
        rng = np.random.default_rng(seed)
        gains = []
        for _ in range(BOOTSTRAP):
            pooled = photos[rng.integers(0, len(photos), len(photos))].sum(axis=0)
            gains.append(mean_iou(confusion_with_changes(pooled, allowed), labels)
                         - mean_iou(network_confusion(pooled), labels))
        return np.quantile(gains, level) > 0
    return gate


@dataclass(frozen=True)
class Rule:
    """A candidate grid (``Saved.candidates``'s filters), how each candidate's changes are chosen, the margin the
    best (pooled validation mean IoU) must beat the network by, and an optional check of the best on the photos.
    With ``cross_validate`` the candidates are ranked, and compared with the network, by ``cross_validated``'s mean
    IoU instead (their changes are then chosen on all validation photographs). ``photos`` says which photographs
    of the run the changes are chosen on: VAL, BOTH (validation and training) or TRAIN; ranking is on validation."""

    name: str
    grid: dict
    changes: Callable = stable_changes
    min_gain: float = 0.0
    gate: Callable | None = None
    cross_validate: bool = False
    photos: str = VAL

    def choose(self, saved: Saved, run: Run) -> tuple[int | None, np.ndarray | None]:
        """(candidate index, allowed (N, N)) of ``run``, its changes chosen on the counts ``photos`` names, or
        (None, None): as ``choose_crf`` does, the candidate of highest pooled validation mean IoU, when it beats the
        network by > min_gain."""
        candidates = saved.candidates(**self.grid)
        val = run.val
        choosing = np.concatenate({VAL: (val,), TRAIN: (run.train,), BOTH: (val, run.train)}[self.photos])
        pooled = val.sum(axis=0)
        network = mean_iou(network_confusion(pooled[candidates[0]]), saved.labels)
        allowed = [self.changes(choosing[:, c], saved.labels) for c in candidates]
        if self.cross_validate:
            ious = [mean_iou(cross_validated(val[:, c], saved.labels, self.changes), saved.labels)
                    for c in candidates]
        else:
            ious = [mean_iou(confusion_with_changes(pooled[c], a), saved.labels)
                    for c, a in zip(candidates, allowed)]
        best = int(np.nanargmax(ious))
        if not ious[best] - network > self.min_gain:
            return None, None
        if self.gate is not None and not self.gate(val[:, candidates[best]], allowed[best], saved.labels):
            return None, None
        return candidates[best], allowed[best]


def scored_gain(saved: Saved, run: Run, candidate: int | None, allowed: np.ndarray | None) -> float:
    """The CRF's test mean IoU (all test pixels pooled) minus the network's; 0 without a CRF."""
    if candidate is None:
        return 0.0
    pooled = run.test.sum(axis=0)[candidate]
    return (mean_iou(confusion_with_changes(pooled, allowed), saved.labels)
            - mean_iou(network_confusion(pooled), saved.labels))


def rules() -> list[Rule]:
    """The rules compared; those after the first two choose their changes as the pooled rule does unless named."""
    default, pooled = DEFAULT_GRID, forward_selection
    return [
        Rule(DEFAULT_RULE, default, pooled, photos=BOTH),
        Rule(STABLE_RULE, default),
        Rule(POOLED_RULE, default, pooled),
        Rule("any change", default, every_change),
        Rule("min gain 0.005", default, pooled, min_gain=0.005),
        Rule("min gain 0.01", default, pooled, min_gain=0.01),
        Rule("changes each helping a majority of val photos", default, voted(min_helped=lambda p: p // 2 + 1)),
        Rule("changes each hurting at most 1 val photo", default, voted(max_hurt=1)),
        Rule("changes each hurting no val photo", default, voted(max_hurt=0)),
        Rule("changes picked in all but one leave-one-photo-out selections", default, stable(1)),
        Rule("CRF only if it helps >= 5 of the val photos", default, pooled, gate=photos_positive(5)),
        Rule("CRF only if it helps >= 6 of the val photos", default, pooled, gate=photos_positive(6)),
        Rule("CRF only if bootstrap 5 % lower bound of val gain > 0", default, pooled, gate=bootstrap_positive()),
        Rule("leave-one-out changes + helps >= 5 val photos", default, gate=photos_positive(5)),
        Rule("accept 0.99 (kernels 30/60, T 1/fit)", {**default, "accept": (0.99,)}, pooled),
        Rule("accept 0.9", {**default, "accept": (0.9,)}, pooled),
        Rule("kernel 30 only (T 1/fit, accept 0.95)", {**default, "theta": (30.0,)}, pooled),
        Rule("kernel 30 only, T 1, accept 0.99", {"theta": (30.0,), "fit": (False,), "accept": (0.99,)}, pooled),
        Rule(WIDER, {**default, "theta": (30.0, 60.0, 120.0), "accept": (0.0, 0.95)}, pooled),
        Rule(WIDER_STABLE, {**default, "theta": (30.0, 60.0, 120.0), "accept": (0.0, 0.95)}),
        Rule(WIDER_TRAINING, {**default, "theta": (30.0, 60.0, 120.0), "accept": (0.0, 0.95)}, pooled, photos=BOTH),
        Rule("whole grid (30/60/120 px, T 1/fit, accept 0/0.9/0.95/0.99)", {}, pooled),
        Rule("whole grid + leave-one-out changes", {}),
        Rule("whole grid + changes each hurting no val photo", {}, voted(max_hurt=0)),
        Rule("candidate and CRF-or-not by leave-one-photo-out cross-validation", default, pooled, cross_validate=True),
        Rule("cross-validation, whole grid", {}, pooled, cross_validate=True),
        Rule("cross-validation + leave-one-out changes", default, cross_validate=True),
        Rule("cross-validation + leave-one-out changes, whole grid", {}, cross_validate=True),
        Rule("leave-one-out changes on training + validation photos", default, photos=BOTH),
        Rule("changes chosen on training photos only (pooled)", default, pooled, photos=TRAIN),
    ]


def evaluate(saved: Saved, rule: Rule) -> tuple[list[float], int] | None:
    """(test gain per run, runs using a CRF) of ``rule``; None for a rule needing training counts the file lacks."""
    if rule.photos != VAL and any(run.train is None for run in saved.runs):
        return None
    gains, used = [], 0
    for run in saved.runs:
        candidate, allowed = rule.choose(saved, run)
        gains.append(scored_gain(saved, run, candidate, allowed))
        used += candidate is not None
    return gains, used


def check(saved: Saved, table: dict) -> list[str]:
    """Lines comparing the replayed default / any-change / wider gains, and the network's test mean IoU, with
    bench_fcn.py's."""
    lines = []
    network = [mean_iou(network_confusion(run.test.sum(axis=0)[0]), saved.labels) for run in saved.runs]
    measured_network = [run.measured["network"] for run in saved.runs]
    lines.append(f"network test mean IoU from the counts vs bench_fcn.py's: largest difference "
                 f"{np.max(np.abs(np.subtract(network, measured_network))):.4f}")
    titles = set.intersection(*(set(run.measured) for run in saved.runs))
    if BENCH_STABLE in titles:  # saved since the default chooses the changes on the training photographs too
        pairs = [(DEFAULT_RULE, BENCH_DEFAULT), (STABLE_RULE, BENCH_STABLE), (POOLED_RULE, BENCH_POOLED),
                 (WIDER_TRAINING, BENCH_WIDER)]
    elif BENCH_POOLED in titles:  # the default was STABLE (and the training photographs' rule a variant of its own)
        pairs = [(STABLE_RULE, BENCH_DEFAULT), (POOLED_RULE, BENCH_POOLED), (WIDER_STABLE, BENCH_WIDER)]
        if BENCH_TRAINING in titles:
            pairs.append((DEFAULT_RULE, BENCH_TRAINING))
    else:  # the default was POOLED
        pairs = [(POOLED_RULE, BENCH_DEFAULT), (WIDER, BENCH_WIDER)]
    pairs.append(("any change", BENCH_ANY))
    for name, title in pairs:
        measured = [run.measured[title] - run.measured["network"] for run in saved.runs]
        difference = np.max(np.abs(np.subtract(table[name][0], measured)))
        lines.append(f"{name}: replayed gains vs bench_fcn.py's \"{title}\": largest difference {difference:.4f} "
                     f"({'reproduced' if difference < 5e-4 else 'NOT reproduced'} to 3 decimals); measured "
                     + " ".join(f"{g:+.3f}" for g in measured))
    return lines


def main(argv=None) -> int:
    from bench_common import write_report

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("counts", type=Path, help="the .npz of bench_fcn.py --save-counts")
    args = parser.parse_args(argv)
    saved = load(args.counts)
    table = {rule.name: evaluate(saved, rule) for rule in rules()}
    names = " / ".join(run.name for run in saved.runs)
    lines = [f"CRF choice rules replayed on {args.counts.name}: {len(saved.runs)} runs ({names}); gain = the CRF's "
             "test mean IoU minus the network's (all test pixels of a run pooled); chosen on validation only.", "",
             "| rule | mean gain | worst run | gains per run | runs with a CRF |", "|---|---|---|---|---|"]
    for name, result in table.items():
        if result is None:
            lines.append(f"| {name} | needs the training photographs' counts (saved since 2026-12-07 evening) | | | |")
            continue
        gains, used = result
        lines.append(f"| {name} | {np.mean(gains):+.3f} | {min(gains):+.3f} | "
                     f"{' '.join(f'{g:+.3f}' for g in gains)} | {used} of {len(gains)} |")
    lines += ["", *check(saved, table)]
    write_report("crf_rules", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
