"""Shared fixtures: paths to the repository, demo data and shared data; tiny synthetic images."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "demo_data"
SHARED = REPO.parent / "shared"
LEGACY_MAT = SHARED / "data" / "legacy_mat" / "D800_20160308_221735-0_mres.mat"

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["DL_TOOLS_NO_DIALOG"] = "1"  # never open a Tk dialog in tests, even where a display exists


def run_script(script: str, *args, cwd=None, check_rc: int | None = 0, timeout: float = 900):
    """Run a tutorial script (path relative to the repository) with this Python; returns CompletedProcess."""
    env = dict(os.environ, DL_TOOLS_NO_DIALOG="1", PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, str(REPO / script), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check_rc is not None:
        assert proc.returncode == check_rc, f"{script} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture
def quadrants():
    """A 4-class test image: (image (80, 120, 3) uint8, truth (80, 120) int) with four coloured quadrants and
    seeded noise (std 20)."""
    rng = np.random.default_rng(0)
    truth = np.zeros((80, 120), dtype=np.int64)
    truth[:40, 60:] = 1
    truth[40:, :60] = 2
    truth[40:, 60:] = 3
    colors = np.array([[200, 40, 40], [40, 180, 40], [40, 40, 200], [210, 210, 60]])
    image = np.clip(colors[truth] + rng.normal(0, 20, truth.shape + (3,)), 0, 255).astype(np.uint8)
    return image, truth


CHROMIUM = Path("/usr/bin/chromium")  # Debian's package `chromium`; .ci/run installs it when missing


@pytest.fixture
def browser_page():
    """A Playwright page in headless Debian Chromium (never a downloaded browser). Skips where Chromium is not
    installed, except under .ci/run (DL_TOOLS_REQUIRE_BROWSER=1), where a missing browser fails the test."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: apt-get install chromium chromium-driver (.ci/run does)"
        if os.environ.get("DL_TOOLS_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield browser.new_page()
        finally:
            browser.close()


@pytest.fixture(scope="module")
def dask_client():
    """A ``distributed.Client`` of a local cluster of 2 worker processes (one task at a time each), shared by the
    tests of a module; the test modules themselves are pickled by value, so that their stand-in models reach the
    workers (which cannot import tests/)."""
    import cloudpickle
    from distributed import Client, LocalCluster

    for name in ("conftest", "test_hybrid", "test_distributed", "test_hybrid_windowed", "test_distributed_windowed"):
        if name in sys.modules:
            cloudpickle.register_pickle_by_value(sys.modules[name])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=50) as cluster, Client(cluster) as client:
        yield client
