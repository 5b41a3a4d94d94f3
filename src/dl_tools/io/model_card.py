"""Model cards: what a trained model is, what it was trained on and how well it does, beside the model.

A step-4 model ``<name>.pb`` gets ``<name>.card.json`` and ``<name>.card.md``; a step-8 run folder gets
``card.json`` and ``card.md`` (``file_contract.model_sidecars`` / ``run_sidecars``). The JSON card::

    {"card": 1, "model": "<file or run name>", "kind": "...",
     "classes": [{"name": "water", "color": [r, g, b] or null}, ...],
     "training_data": {"unit": "tiles" or "pixels", "images": [photograph names],
                       "counts": {split: {class: tiles or pixels}}},
     "backbone": {"name": ..., "weights": "where its pretrained weights came from", ...},
     "settings": {...}, "scores": {"training": {...}, "validation": {...}},
     "test_scores": [{"step", "date", "data", "scores", "intervals", ...}, ...],
     "made_by": <the model's provenance record>}

The Markdown card is rendered from the JSON every time it is written: a short page for people. An evaluation
step adds its scores with ``add_test_scores`` (step 5 for a tile classifier; step 7 through
``model_of_estimates``, which finds the one model that made the estimates scored, from their provenance
records).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError
from ..file_contract import RUN_SETTINGS, model_sidecars, run_sidecars
from ..provenance_record import build_record, plain, sha256_file
from .atomic import write_json_atomic, write_text_atomic
from .provenance import CARD_RECORD

log = logging.getLogger(__name__)

CARD_VERSION = 1
#: a step-8 run card's entry for the CRF chosen on its validation images (``set_crf_choice``)
CRF_CHOICE = "crf_choice"
#: The scores a card's Markdown shows, in order (every score is in the JSON).
SUMMARY_SCORES = ("accuracy", "macro_f1", "weighted_f1", "mean_iou", "kappa")


def model_card(*, model: str, kind: str, labels: Sequence[str], colors, training_data: dict, backbone: dict,
               settings, scores: dict, record: dict) -> dict:
    """The card (module doc) of a model. colors: (N, 3) RGB per class, or None when the step does not know them;
    scores: {"training": {...}, "validation": {...}}; record: the model's provenance record."""
    colours = [None] * len(labels) if colors is None else [list(map(int, c)) for c in colors]
    return {"card": CARD_VERSION, "model": model, "kind": kind,
            "classes": [{"name": name, "color": color} for name, color in zip(labels, colours)],
            "training_data": plain(training_data), "backbone": plain(backbone), "settings": plain(settings),
            "scores": plain(scores), "test_scores": [], CARD_RECORD: record}


def card_paths(model: str | os.PathLike) -> tuple[Path, Path]:
    """(JSON card, Markdown card) of a step-4 model file or a step-8 run folder (or a file in it)."""
    model = Path(model)
    if model.is_dir():
        sidecars = run_sidecars(model)
    elif (model.parent / RUN_SETTINGS).is_file():  # a file of a run folder: best.weights.h5, last.keras, ...
        sidecars = run_sidecars(model.parent)
    else:
        sidecars = model_sidecars(model)
    return sidecars["card"], sidecars["card_text"]


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _interval(intervals: dict | None, name: str) -> str:
    bounds = (intervals or {}).get(name)
    return f" ({_number(bounds[0])} to {_number(bounds[1])})" if bounds and None not in bounds[:2] else ""


def card_markdown(card: dict) -> str:
    """The short Markdown version of a JSON card."""
    record = card.get(CARD_RECORD) or {}
    version = record.get("dl_tools", {})
    lines = [f"# Model card: {card['model']}", "", f"{card['kind']}.", "",
             f"Made on {record.get('date', 'n/a')} by DL tools {version.get('version', 'n/a')}"
             + (f" (commit {version['git_commit'][:12]})" if version.get("git_commit") else "")
             + f" with: `{record.get('command', 'n/a')}`", "", "## Classes", "", "| class | colour (R, G, B) |",
             "|---|---|"]
    lines += [f"| {c['name']} | {', '.join(map(str, c['color'])) if c['color'] else 'not known to this step'} |"
              for c in card["classes"]]
    data = card["training_data"]
    counts = data.get("counts", {})
    lines += ["", "## Training data", "", f"{len(data.get('images', []))} images; {data.get('unit')} per class:",
              "", "| class | " + " | ".join(counts) + " |", "|---|" + "---|" * len(counts)]
    lines += [f"| {c['name']} | " + " | ".join(str(counts[split].get(c["name"], 0)) for split in counts) + " |"
              for c in card["classes"]]
    backbone = card["backbone"]
    lines += ["", "## Backbone", "", f"{backbone.get('name')}: {backbone.get('weights')}", "", "## Settings", ""]
    lines += [f"- {key}: {json.dumps(value)}" for key, value in card["settings"].items()]
    lines += ["", "## Scores", ""]
    for split, values in card["scores"].items():
        lines.append(f"- {split}: " + ", ".join(f"{key} {_number(value)}" for key, value in values.items()))
    if card.get(CRF_CHOICE):
        lines += ["", "## CRF refinement (infer_crf.py)", "", card[CRF_CHOICE]["summary"] + "."]
    lines += ["", "## Test scores", ""]
    if not card["test_scores"]:
        lines.append("None yet: step 5 (test_class_tiles.py) or step 7 (test_pixels.py) adds them.")
    for entry in card["test_scores"]:
        scores, intervals = entry["scores"], entry.get("intervals")
        shown = ", ".join(f"{name} {_number(scores.get(name))}{_interval(intervals, name)}"
                          for name in SUMMARY_SCORES if name in scores)
        lines.append(f"- {entry['date']}, {entry['step']} on {entry['data']} ({entry['n']}): {shown}")
    return "\n".join(lines) + "\n"


def write_model_card(model: str | os.PathLike, card: dict) -> tuple[Path, Path]:
    """Write ``card`` as the JSON and Markdown cards of ``model`` (``card_paths``), atomically; returns both."""
    json_path, text_path = card_paths(model)
    write_json_atomic(json_path, card, indent=1)
    write_text_atomic(text_path, card_markdown(card))
    return json_path, text_path


def read_model_card(path: str | os.PathLike) -> dict:
    """The JSON card of ``path`` (the card itself, a step-4 model or a step-8 run folder); InputError without one."""
    path = Path(path)
    json_path = path if path.name.endswith(".json") else card_paths(path)[0]
    try:
        card = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path} has no model card ({json_path.name}); it is made by retrain.py and train.py") \
            from None
    except (OSError, ValueError) as exc:
        raise InputError(f"model card {json_path} cannot be read ({exc}); train the model again to remake it") \
            from exc
    if not isinstance(card, dict) or "test_scores" not in card:
        raise InputError(f"{json_path} is not a DL tools model card")
    return card


def set_crf_choice(model: str | os.PathLike, record: dict, summary: str) -> Path | None:
    """Put the CRF choice of a step-8 run (``segmentation.refine.CRFChoice.record``, with its one-sentence
    ``summary``) in the run's card, replacing an earlier one. Returns the card, or None when the run has none."""
    json_path, _ = card_paths(model)
    if not json_path.is_file():
        log.info("%s has no model card (%s): the CRF choice is not added to one", model, json_path.name)
        return None
    card = read_model_card(json_path)
    card[CRF_CHOICE] = {"summary": summary} | plain(record)
    write_model_card(model, card)
    return json_path


def add_test_scores(model: str | os.PathLike, step: str, data: str | os.PathLike, scores: dict, n: str,
                    settings=None, intervals: dict | None = None) -> Path | None:
    """Add the test scores of an evaluation ``step`` on ``data`` (a folder; ``n`` says how many tiles, pixels or
    photographs were scored) to the card of ``model``: ``scores`` a ``metrics.Scores.to_dict()``, ``intervals``
    {score: [low, high, ...]} when the step computed them. Returns the card, or None (logged) when the model has
    none (a model of an older DL tools)."""
    json_path, _ = card_paths(model)
    if not json_path.is_file():
        log.info("%s has no model card (%s): the test scores are not added to one", model, json_path.name)
        return None
    card = read_model_card(json_path)
    record = build_record(step, settings)
    card["test_scores"].append({"step": step, "date": record["date"], "data": str(data), "n": n,
                                "scores": plain(scores), "intervals": plain(intervals), CARD_RECORD: record})
    try:
        write_model_card(model, card)
    except OSError as exc:  # a model on a read-only share: the evaluation itself has succeeded
        log.warning("the test scores could not be added to the model card %s (%s)", json_path,
                    exc.strerror or exc)
        return None
    log.info("test scores added to the model card %s", json_path)
    return json_path


def _model_path(entry: dict, record: dict) -> Path:
    path = Path(entry["path"])
    return path if path.is_absolute() else Path(record.get("cwd", ".")) / path


def model_of_estimates(estimates: Sequence[str | os.PathLike]) -> Path | None:
    """The model (a .pb, or a run folder's weights file) that made every one of the label files ``estimates``, from
    their provenance records, when it still exists unchanged (same SHA-256) and has a card, to ``add_test_scores``
    to; None otherwise (why is logged)."""
    from .provenance import read_record

    models = set()
    for path in estimates:
        try:
            record = read_record(path)  # a .mat, or a label GeoTIFF of a raster processed by windows
        except InputError:
            record = None
        entries = [entry for entry in (record or {}).get("inputs", []) if entry.get("role") == "model"]
        if not entries:
            log.info("%s does not record the model that made it: no model card gets the scores", Path(path).name)
            return None
        models.add((str(_model_path(entries[0], record)), entries[0]["sha256"]))
    if len(models) != 1:
        log.info("the estimates come from %d different models: no model card gets the scores", len(models))
        return None
    (model, digest), = models
    if not Path(model).is_file() or sha256_file(model) != digest:
        log.info("the model %s that made the estimates is gone or changed: no model card gets the scores", model)
        return None
    return Path(model) if card_paths(model)[0].is_file() else None
