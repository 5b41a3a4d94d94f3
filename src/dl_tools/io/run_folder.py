"""Reading the run folder of step 8b (``semseg_fullyconv/train.py --name``), which steps 8b (--resume) and 8c read.

Only reads: the training workflow writes the folder (``workflows.fcn_train``); its file names are those of
``dl_tools.file_contract`` (RUN_SETTINGS, RUN_HISTORY, LABELDEFS_NAME, BEST_WEIGHTS, LAST_CHECKPOINT).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError
from ..file_contract import RUN_HISTORY, RUN_SETTINGS


def read_run_settings(run_dir: str | Path) -> dict:
    """The ``settings.json`` of a run folder; InputError naming --name when it is not a training run, and naming
    the file when it is not a JSON object with the run's classes (damaged or edited by hand)."""
    path = Path(run_dir) / RUN_SETTINGS
    if not path.is_file():
        raise InputError(f"--name: {run_dir} is not a training run (no {RUN_SETTINGS}); give the --name used with "
                         "semseg_fullyconv/train.py")
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_run_settings(path, f"not valid JSON: {exc}") from None
    labels = settings.get("labels") if isinstance(settings, dict) else None
    if not (isinstance(labels, list) and labels and all(isinstance(name, str) for name in labels)):
        raise bad_run_settings(path, "no list of class names under \"labels\"")
    return settings


def bad_run_settings(path: Path, problem: str) -> InputError:
    """The error for a run's settings.json that is damaged or was edited by hand (``problem`` says how)."""
    return InputError(f"--name: {path} is damaged ({problem}); restore it from a backup or train the run again")


def read_run_history(run_dir: str | Path) -> dict:
    """The per-epoch metrics of a run (``history.json``: name -> list of floats), or {} before its first epoch."""
    path = Path(run_dir) / RUN_HISTORY
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
