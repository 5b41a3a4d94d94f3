"""The web labeller in a real browser (headless Debian Chromium through Playwright) against the real server,
started as the tutorial starts it: strokes drawn with the mouse, compute, save and the _mres.mat checked; a server
killed mid-session loses no acknowledged stroke."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from dl_tools.io.images import read_raw, write_image
from dl_tools.io.mat import read_label_mat

LABELS = ["red", "green", "blue", "yellow"]
#: per class: the quadrant's stroke from (x, y) to (x, y) in full-size pixels of the 120 x 80 px image
STROKES = {0: ((20, 10), (40, 30)), 1: ((80, 10), (100, 30)), 2: ((20, 50), (40, 70)), 3: ((80, 50), (100, 70))}
SCREENSHOTS = os.environ.get("DL_TOOLS_SCREENSHOTS")  # a folder: the tests also save screenshots of the page


@pytest.fixture
def folder(tmp_path, quadrants):
    image, _ = quadrants
    (tmp_path / "images").mkdir()
    write_image(tmp_path / "images" / "quad.png", image)
    write_image(tmp_path / "images" / "second.png", image[::-1].copy())
    (tmp_path / "labels.txt").write_text("\n".join(LABELS) + "\n")
    (tmp_path / "colors.txt").write_text("#ff0000\n#00ff00\n#0000ff\n#ffff00\n")
    return tmp_path


class Server:
    """create_groundtruth/label_web.py in its own process, on a free port (``--port 0``)."""

    def __init__(self, folder: Path, scale: str = "1"):
        env = dict(os.environ, DL_TOOLS_NO_DIALOG="1", PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "create_groundtruth/label_web.py"), "--input", str(folder / "images"),
             "--labels", str(folder / "labels.txt"), "--colors", str(folder / "colors.txt"), "-s", scale,
             "--port", "0", "--no-browser", "--user", "Browser Test"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines = []
        for line in self.process.stdout:
            self.lines.append(line)
            found = re.search(r"open (http://\S+)", line)
            if found:
                self.address = found.group(1)
                return
        raise AssertionError("the server did not start:\n" + "".join(self.lines))

    def stop(self, sig=signal.SIGINT) -> str:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        out, _ = self.process.communicate(timeout=60)
        return "".join(self.lines) + out


@pytest.fixture
def servers():
    started = []
    yield lambda folder, **options: started.append(Server(folder, **options)) or started[-1]
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.communicate(timeout=30)


def open_page(page, server):
    page.set_viewport_size({"width": 1000, "height": 700})
    page.goto(server.address)
    page.wait_for_function("window.labeller && window.labeller.ready === true", timeout=30_000)


def draw(page, start, end):
    """A mouse stroke from full-size pixel ``start`` to ``end``, then wait until the server has saved it."""
    x0, y0 = page.evaluate("([x, y]) => window.labeller.toScreen(x, y)", list(start))
    x1, y1 = page.evaluate("([x, y]) => window.labeller.toScreen(x, y)", list(end))
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=8)
    page.mouse.up()
    page.wait_for_function("window.labeller.unsaved === 0 && window.labeller.pending.length === 0")


def screenshot(page, name):
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / name))


def test_draw_compute_save_in_the_browser(browser_page, folder, servers, quadrants):
    _, truth = quadrants
    page = browser_page
    server = servers(folder)
    open_page(page, server)
    assert page.evaluate("window.labeller.name") == "quad.png"
    page.locator("#pen").fill("30")  # screen pixels: about 5 pixels of the image at this zoom
    for index, (start, end) in STROKES.items():
        page.keyboard.press(str(index + 1))  # the class's key
        draw(page, start, end)
    assert page.evaluate("window.labeller.info.strokes") == 4
    page.click("#compute")
    page.wait_for_function("window.labeller.jobState === 'done' && window.labeller.resultImage !== null")
    page.click("#save")
    page.wait_for_function("window.labeller.jobState === 'saved'", timeout=60_000)
    assert page.evaluate("window.labeller.name") == "second.png"  # save and next
    label_file = read_label_mat(folder / "images" / "quad_mres.mat")
    for index, (start, end) in STROKES.items():
        xs = np.linspace(start[0], end[0], 10).round().astype(int)
        ys = np.linspace(start[1], end[1], 10).round().astype(int)
        assert (label_file.label_image[ys, xs] == index).all(), index
        assert (label_file.sparse[ys, xs] == index + 1).all(), index
    assert (label_file.label_image == truth).mean() > 0.95
    assert label_file.labels == LABELS
    assert (folder / "images" / "quad_mres_color.png").exists()
    assert "Labelled by: Browser Test" in (folder / "images" / "quad_report.txt").read_text()
    assert page.locator("#images li[data-name='quad.png']").get_attribute("data-state") == "labelled"
    # saving again asks first; declining keeps the labels
    before = (folder / "images" / "quad_mres.mat").read_bytes()
    page.click("#images li[data-name='quad.png']")
    page.wait_for_function("window.labeller.name === 'quad.png'")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#save")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('not saved')")
    assert (folder / "images" / "quad_mres.mat").read_bytes() == before
    assert "web labeller stopped" in server.stop()


def test_a_killed_server_loses_no_acknowledged_stroke(browser_page, folder, servers):
    page = browser_page
    server = servers(folder)
    open_page(page, server)
    draw(page, *STROKES[0])
    page.keyboard.press("2")
    draw(page, *STROKES[1])
    server.process.kill()  # no clean shutdown: as a crash or a kill -9
    server.process.communicate(timeout=30)
    sparse = read_raw(folder / "images" / "quad_scribbles.png")
    assert sparse[20, 30] == 1 and sparse[20, 90] == 2
    restarted = servers(folder)
    open_page(page, restarted)
    assert page.evaluate("[window.labeller.name, window.labeller.info.strokes]") == ["quad.png", 2]
    assert page.locator("#images li[data-name='quad.png']").get_attribute("data-state") == "started"
    page.keyboard.press("z")  # the undo history survived too
    page.wait_for_function("window.labeller.unsaved === 0 && window.labeller.info.strokes === 1")
    sparse = read_raw(folder / "images" / "quad_scribbles.png")
    assert sparse[20, 30] == 1 and sparse[20, 90] == 0


@pytest.mark.skipif(not SCREENSHOTS, reason="DL_TOOLS_SCREENSHOTS=FOLDER makes the README's screenshot")
def test_readme_screenshot(browser_page, tmp_path, servers):
    """The README's picture of the page: a demo photograph, two strokes per class, the labels computed."""
    from scipy.ndimage import distance_transform_edt

    from dl_tools.io.text import read_labels

    name = "2018-10-06_14.34.03-DSC06391-N7251F"
    demo = REPO / "demo_data"
    (tmp_path / "images").mkdir()
    shutil.copy(demo / "jpg" / f"{name}.jpg", tmp_path / "images")
    for kind in ("labels", "label_colors"):
        shutil.copy(demo / "labels" / f"obx_{kind}.txt", tmp_path / f"{kind.replace('label_', '')}.txt")
    truth_file = read_label_mat(demo / "gt" / f"{name}_mres.mat")
    labels = read_labels(tmp_path / "labels.txt")
    truth = np.asarray([labels.index(label) for label in truth_file.labels])[truth_file.label_image]
    page = browser_page
    open_page(page, servers(tmp_path, scale="0.2"))  # step 2's default -s
    page.locator("#pen").fill("12")
    for index in np.unique(truth):
        depth = distance_transform_edt(np.pad(truth == index, 1))[1:-1, 1:-1]  # the image's edge is a border
        for _ in range(2):  # the two deepest places of the class, each stroke 60 px long
            y, x = np.unravel_index(np.argmax(depth), depth.shape)
            half = int(min(30, depth[y, x] - 3))
            page.keyboard.press(str(index + 1))
            draw(page, (int(x) - half, int(y)), (int(x) + half, int(y)))
            depth[max(0, y - 60):y + 60, max(0, x - 90):x + 90] = 0
    page.click("#compute")
    page.wait_for_function("window.labeller.jobState === 'done' && window.labeller.resultImage !== null")
    screenshot(page, "label_web.png")


def test_zoomed_panned_and_reduced_the_strokes_land_at_full_size(browser_page, tmp_path, servers, quadrants):
    """A 2400 x 1600 px photograph is shown from a reduced copy (2048 px wide); zoomed in with the wheel and panned
    with the right button, a stroke still lands on the full-size pixels under the pointer."""
    from dl_tools.arrays.resize import resize_image

    image, _ = quadrants
    (tmp_path / "images").mkdir()
    write_image(tmp_path / "images" / "big.png", resize_image(image, (1600, 2400)))
    (tmp_path / "labels.txt").write_text("\n".join(LABELS) + "\n")
    (tmp_path / "colors.txt").write_text("#ff0000\n#00ff00\n#0000ff\n#ffff00\n")
    page = browser_page
    open_page(page, servers(tmp_path, scale="0.2"))
    assert page.evaluate("[window.labeller.info.display_width, window.labeller.display.width]") == [2048, 2048]
    x, y = page.evaluate("window.labeller.toScreen(1800, 400)")
    for _ in range(3):
        page.mouse.move(x, y)
        page.mouse.wheel(0, -100)  # zoom in around the pointer
    page.mouse.move(x, y)
    page.mouse.down(button="right")
    page.mouse.move(x - 80, y + 40, steps=4)  # pan
    page.mouse.up(button="right")
    assert page.evaluate("window.labeller.view.scale") > 0.5
    page.keyboard.press("2")
    draw(page, (1790, 400), (1810, 400))
    sparse = read_raw(tmp_path / "images" / "big_scribbles.png")
    assert sparse.shape == (1600, 2400)
    rows, cols = np.nonzero(sparse)
    assert (sparse[rows, cols] == 2).all()
    assert abs(rows.mean() - 400) < 3 and abs(cols.mean() - 1800) < 3 and cols.min() <= 1791 and cols.max() >= 1809
