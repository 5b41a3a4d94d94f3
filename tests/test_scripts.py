"""Every tutorial script answers --help quickly, without importing TensorFlow or pydensecrf."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

TUTORIAL_FOLDERS = ["create_library", "create_groundtruth", "train_dcnn_tfhub", "eval_imrecog", "semseg_crf",
                    "eval_semseg", "semseg_fullyconv"]
SCRIPTS = sorted(p.relative_to(REPO).as_posix() for folder in TUTORIAL_FOLDERS for p in (REPO / folder).glob("*.py"))
HEAVY = ["tensorflow", "tensorflow_hub", "keras", "pydensecrf", "rasterio", "cv2", "matplotlib.pyplot", "torch",
         "starlette", "uvicorn"]

PROBE = """
import runpy, sys, json
sys.argv = [{script!r}, '--help']
try:
    runpy.run_path({path!r}, run_name='__main__')
except SystemExit as exc:
    code = exc.code
print(json.dumps({{'code': code, 'heavy': [m for m in {heavy!r} if m in sys.modules]}}))
"""


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_is_light(script):
    code = PROBE.format(script=script, path=str(REPO / script), heavy=HEAVY)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] in (0, None)
    assert "usage:" in proc.stdout
    assert result["heavy"] == [], f"{script} --help imported {result['heavy']}"


def test_importing_the_package_is_light():
    code = "import sys, dl_tools, dl_tools.io, dl_tools.metrics, dl_tools.segmentation.crf, dl_tools.cli.common; " \
           f"print([m for m in {HEAVY!r} if m in sys.modules])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]"
