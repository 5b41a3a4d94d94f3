"""The web labeller's API without a browser (Starlette's TestClient): strokes in and on disk, undo and redo,
resume after a restart, compute off the request thread, save with step 2's writers, and what it refuses."""

from __future__ import annotations

import json
import socket
import threading
import time

import numpy as np
import pytest
from starlette.testclient import TestClient

from dl_tools.cli import label_web
from dl_tools.errors import InputError
from dl_tools.io.images import read_raw, write_image
from dl_tools.io.mat import read_label_mat
from dl_tools.labelling import web_app
from dl_tools.labelling.prior import ModelEvidence
from dl_tools.labelling.web_jobs import Jobs
from dl_tools.workflows.folder_runs import is_dl_tools_output
from dl_tools.workflows.label import LabelParams
from dl_tools.workflows.label_web import WebParams, build_labeller, page_address

NAME = "quad.png"
JSON = {"Content-Type": "application/json"}
LABELS = ["red", "green", "blue", "yellow"]
#: one vertical stroke in the middle of each quadrant of the 120 x 80 px test image (class = quadrant)
STROKES = [{"class": 0, "width": 5, "points": [[30, 5], [30, 35]]},
           {"class": 1, "width": 5, "points": [[90, 5], [90, 35]]},
           {"class": 2, "width": 5, "points": [[30, 45], [30, 75]]},
           {"class": 3, "width": 5, "points": [[90, 45], [90, 75]]}]


@pytest.fixture
def folder(tmp_path, quadrants):
    image, _ = quadrants
    images = tmp_path / "images"
    images.mkdir()
    write_image(images / NAME, image)
    (tmp_path / "labels.txt").write_text("\n".join(LABELS) + "\n")
    (tmp_path / "colors.txt").write_text("#ff0000\n#00ff00\n#0000ff\n#ffff00\n")
    return tmp_path


def open_labeller(folder, token=None, **backend_options):
    """(WebLabeller, TestClient) over ``folder``/images at -s 1, by the user 'A. Person'."""
    labeller = build_labeller(folder / "images", folder / "labels.txt", folder / "colors.txt", LabelParams(scale=1.0),
                              WebParams(user="A. Person"), token=token, backend_options=backend_options)
    return labeller, TestClient(labeller.app)


@pytest.fixture
def client(folder):
    labeller, client = open_labeller(folder)
    yield client
    labeller.jobs.shutdown()


def post_strokes(client, strokes=STROKES):
    for stroke in strokes:
        response = client.post(f"/api/images/{NAME}/strokes", json=stroke)
        assert response.status_code == 200, response.text
    return response.json()


def test_no_other_site_can_send_a_change(client, folder):
    """A page of another site can POST a form or text/plain here without the browser asking the server first;
    the server takes JSON only, which such a page cannot send."""
    body = json.dumps(STROKES[0])
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        response = client.post(f"/api/images/{NAME}/strokes", content=body, headers={"Content-Type": content_type})
        assert response.status_code == 415, content_type
    assert client.post(f"/api/images/{NAME}/save", content=b"{}", headers={"Content-Type": "text/plain"}
                       ).status_code == 415
    assert not (folder / "images" / "quad_scribbles.png").exists()
    assert not (folder / "images" / "quad_mres.mat").exists()


def saved_strokes(folder):
    return read_raw(folder / "images" / "quad_scribbles.png")


def wait_for(client, job_id):
    for _ in range(600):
        status = client.get(f"/api/jobs/{job_id}").json()
        if status["state"] not in ("queued", "running"):
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never ended")


def test_each_stroke_is_on_disk_when_acknowledged(client, folder):
    assert client.get("/api/images").json() == [{"name": NAME, "state": "to do"}]
    state = post_strokes(client, STROKES[:1])
    assert state == {"revision": 1, "strokes": 1, "can_undo": True, "can_redo": False, "has_strokes": True}
    sparse = saved_strokes(folder)
    assert sparse.shape == (80, 120) and set(np.unique(sparse)) == {0, 1}
    assert sparse[5:36, 28:33].min() == 1 and sparse[:, 40:].max() == 0  # 5 px wide around x = 30
    history = json.loads((folder / "images" / "quad_scribbles.json").read_text())
    assert history["strokes"] == [STROKES[0]] and history["labels"] == LABELS and history["shape"] == [80, 120]
    assert client.get("/api/images").json() == [{"name": NAME, "state": "started"}]


def test_undo_and_redo_whole_strokes_without_limit(client, folder):
    post_strokes(client)
    for left in (3, 2, 1, 0):
        assert client.post(f"/api/images/{NAME}/undo", json={}).json()["strokes"] == left
    assert client.post(f"/api/images/{NAME}/undo", json={}).json()["changed"] is False
    assert not saved_strokes(folder).any()
    for count in (1, 2):
        state = client.post(f"/api/images/{NAME}/redo", json={}).json()
        assert state["strokes"] == count and state["can_redo"]
    assert set(np.unique(saved_strokes(folder))) == {0, 1, 2}
    post_strokes(client, [STROKES[3]])  # a new stroke ends what redo could put back
    assert client.post(f"/api/images/{NAME}/redo", json={}).json()["changed"] is False
    assert set(np.unique(saved_strokes(folder))) == {0, 1, 2, 4}


def test_the_eraser_paints_no_stroke(client, folder):
    post_strokes(client, STROKES[:1])
    post_strokes(client, [{"class": -1, "width": 9, "points": [[30, 0], [30, 79]]}])
    assert not saved_strokes(folder).any()


def test_a_restart_resumes_strokes_and_their_undo(folder):
    labeller, client = open_labeller(folder)
    post_strokes(client)
    client.post(f"/api/images/{NAME}/undo", json={})
    before = saved_strokes(folder)
    labeller.jobs.shutdown()
    labeller, client = open_labeller(folder)  # a new server over the same folder
    info = client.get(f"/api/images/{NAME}").json()
    assert info["strokes"] == 3 and info["can_undo"] and info["can_redo"]
    np.testing.assert_array_equal(labeller.state(NAME).history.sparse, before)
    client.post(f"/api/images/{NAME}/redo", json={})
    assert set(np.unique(saved_strokes(folder))) == {0, 1, 2, 3, 4}
    labeller.jobs.shutdown()


def test_strokes_of_step_2_are_kept_under_new_ones(folder):
    """A scribbles PNG without history (label_1image_crf.py) is the base: undo never removes it."""
    old = np.zeros((80, 120), np.uint8)
    old[60:70, 10:20] = 3
    write_image(folder / "images" / "quad_scribbles.png", old)
    labeller, client = open_labeller(folder)
    post_strokes(client, STROKES[:1])
    client.post(f"/api/images/{NAME}/undo", json={})
    np.testing.assert_array_equal(saved_strokes(folder), old)
    labeller.jobs.shutdown()
    labeller, client = open_labeller(folder)  # the base survives a restart too (in the history)
    np.testing.assert_array_equal(labeller.state(NAME).history.sparse, old)
    labeller.jobs.shutdown()


def test_a_png_newer_than_its_history_wins(folder, caplog):
    """Interrupted between the two writes (the PNG is written first), or drawn on with step 2 since: the PNG's
    strokes are kept."""
    labeller, client = open_labeller(folder)
    post_strokes(client, STROKES[:2])
    labeller.jobs.shutdown()
    newer = saved_strokes(folder)
    newer[70:75, 100:110] = 4
    write_image(folder / "images" / "quad_scribbles.png", newer)
    labeller, client = open_labeller(folder)
    np.testing.assert_array_equal(labeller.state(NAME).history.sparse, newer)
    assert "differs from its history" in caplog.text
    labeller.jobs.shutdown()


def test_a_damaged_history_is_a_clear_error(client, folder):
    (folder / "images" / "quad_scribbles.json").write_text("{not json")
    response = client.get(f"/api/images/{NAME}")
    assert response.status_code == 400 and "quad_scribbles.json is damaged" in response.json()["error"]


@pytest.mark.parametrize("stroke, message", [
    ({"class": 4, "width": 5, "points": [[1, 1]]}, "unknown class 4"),
    ({"class": "red", "width": 5, "points": [[1, 1]]}, "unknown class 'red'"),
    ({"class": 0, "width": 0, "points": [[1, 1]]}, "width must be"),
    ({"class": 0, "width": 5, "points": []}, "points must be a list"),
    ({"class": 0, "width": 5, "points": [[1.5, 1]]}, "each point must be"),
    ({"class": 0, "width": 5, "points": [[10, 10], [120, 10]]}, "outside the 120 x 80 px image"),
])
def test_a_bad_stroke_is_refused_and_changes_nothing(client, folder, stroke, message):
    post_strokes(client, STROKES[:1])
    before = saved_strokes(folder)
    response = client.post(f"/api/images/{NAME}/strokes", json=stroke)
    assert response.status_code == 400 and message in response.json()["error"]
    np.testing.assert_array_equal(saved_strokes(folder), before)
    assert client.get(f"/api/images/{NAME}").json()["strokes"] == 1


def test_corrupt_and_oversize_requests_are_refused(client, folder):
    url = f"/api/images/{NAME}/strokes"
    assert client.post(url, content=b"{not json", headers=JSON).status_code == 400
    assert client.post(url, json=[1, 2]).status_code == 400
    huge = json.dumps({"class": 0, "width": 5, "points": [[1, 1]] * 200_000}).encode()
    response = client.post(url, content=huge, headers=JSON)
    assert response.status_code == 413 and "larger than" in response.json()["error"]

    def chunks():  # no Content-Length: the server counts while it reads
        for start in range(0, len(huge), 65536):
            yield huge[start:start + 65536]

    assert client.post(url, content=chunks(), headers=JSON).status_code == 413
    assert not (folder / "images" / "quad_scribbles.png").exists()


def test_compute_runs_off_the_request_thread(client):
    post_strokes(client)
    job = client.post(f"/api/images/{NAME}/compute", json={})
    assert job.status_code == 202 and job.json()["state"] in ("queued", "running", "done")
    status = wait_for(client, job.json()["job"])
    assert status["state"] == "done" and status["warnings"] == []
    assert client.get(f"/api/images/{NAME}").json()["result_fresh"]
    overlay = client.get(f"/api/images/{NAME}/result.png")
    assert overlay.headers["content-type"] == "image/png" and overlay.content[:4] == b"\x89PNG"


def test_compute_without_strokes_says_so(client):
    status = wait_for(client, client.post(f"/api/images/{NAME}/compute", json={}).json()["job"])
    assert status["state"] == "failed" and "no strokes" in status["error"]
    assert client.get(f"/api/images/{NAME}/result.png").status_code == 404


def test_a_second_compute_cancels_the_queued_first_and_the_server_keeps_answering():
    jobs = Jobs()
    release = threading.Event()
    running = jobs.submit("a.jpg", "compute", release.wait)  # the worker is busy with this one
    first = jobs.submit("b.jpg", "compute", lambda: "first")
    second = jobs.submit("b.jpg", "compute", lambda: "second")
    other = jobs.submit("c.jpg", "compute", lambda: "other image")
    assert first.state == "cancelled" and second.state == "queued" and other.state == "queued"
    release.set()
    assert (second.future.result(5), other.future.result(5)) == ("second", "other image")
    assert running.state == "done"
    gate = threading.Event()
    busy = jobs.submit("a.jpg", "compute", lambda: gate.wait(10))
    left = jobs.submit("b.jpg", "compute", lambda: "never run")
    saved = jobs.submit("b.jpg", "save", lambda: "saved")
    while busy.state == "queued":
        time.sleep(0.01)
    threading.Timer(0.2, gate.set).start()
    jobs.shutdown()  # Ctrl-C: the queued computations are dropped, the saves asked for are done
    assert (busy.state, left.state, saved.result) == ("done", "cancelled", "saved")


def test_the_page_is_answered_while_the_crf_runs(folder):
    labeller, client = open_labeller(folder)
    post_strokes(client)
    release = threading.Event()
    compute = labeller.backend.compute
    labeller.backend.compute = lambda *args: (release.wait(30), compute(*args))[1]
    job = client.post(f"/api/images/{NAME}/compute", json={}).json()
    assert client.get("/api/images").status_code == 200  # not held up by the computation
    assert client.post(f"/api/images/{NAME}/undo", json={}).json()["strokes"] == 3
    assert client.get(f"/api/jobs/{job['job']}").json()["state"] == "running"
    release.set()
    assert wait_for(client, job["job"])["state"] == "done"
    labeller.jobs.shutdown()


def test_save_writes_step_2_outputs_and_never_replaces_them_unasked(client, folder, quadrants):
    _, truth = quadrants
    post_strokes(client)
    response = client.post(f"/api/images/{NAME}/save", json={"overwrite": False})
    assert response.status_code == 200, response.text
    outputs = {"quad_mres.mat", "quad_mres.png", "quad_report.txt", "quad_mres_label.png", "quad_mres_color.png"}
    assert set(response.json()["outputs"]) == outputs
    images = folder / "images"
    label_file = read_label_mat(images / "quad_mres.mat")
    assert label_file.labels == LABELS and (label_file.label_image == truth).mean() > 0.97
    np.testing.assert_array_equal(label_file.sparse, saved_strokes(folder))
    assert str(np.asarray(label_file.extra["user"]).ravel()[0]) == "A. Person"
    assert [entry["role"] for entry in label_file.provenance["inputs"]] == ["image", "labels", "colors", "strokes"]
    assert label_file.provenance["inputs"][3]["path"].endswith("quad_scribbles.png")
    assert "Labelled by: A. Person" in (images / "quad_report.txt").read_text()
    np.testing.assert_array_equal(read_raw(images / "quad_mres_label.png"), label_file.label_image)
    assert client.get("/api/images").json() == [{"name": NAME, "state": "labelled"}]
    # the labels exist now: refused unless confirmed
    post_strokes(client, [{"class": 3, "width": 9, "points": [[30, 10], [30, 30]]}])
    before = (images / "quad_mres.mat").read_bytes()
    for body in ({}, {"overwrite": False}):
        response = client.post(f"/api/images/{NAME}/save", json=body)
        assert response.status_code == 409 and "quad_mres.mat already exists" in response.json()["error"]
    assert client.post(f"/api/images/{NAME}/save", json={"overwrite": "yes"}).status_code == 400
    assert (images / "quad_mres.mat").read_bytes() == before
    assert client.post(f"/api/images/{NAME}/save", json={"overwrite": True}).status_code == 200
    assert (read_label_mat(images / "quad_mres.mat").label_image[10:30, 28:33] == 3).all()


def test_outputs_and_strokes_go_to_outdir(folder):
    labeller = build_labeller(folder / "images", folder / "labels.txt", folder / "colors.txt",
                              LabelParams(scale=1.0), WebParams(), outdir=folder / "out")
    client = TestClient(labeller.app)
    post_strokes(client)
    assert client.post(f"/api/images/{NAME}/save", json={}).status_code == 200
    labeller.jobs.shutdown()
    assert sorted(p.name for p in (folder / "images").iterdir()) == [NAME]
    written = {p.name for p in (folder / "out").iterdir()}
    assert {"quad_scribbles.png", "quad_scribbles.json", "quad_mres.mat"} <= written


def test_outputs_in_the_images_folder_are_not_listed_as_images(client, folder):
    post_strokes(client)
    assert client.post(f"/api/images/{NAME}/save", json={}).status_code == 200
    labeller, again = open_labeller(folder)
    assert [item["name"] for item in again.get("/api/images").json()] == [NAME]
    assert is_dl_tools_output("quad_scribbles.json") and is_dl_tools_output("quad_scribbles.png")
    labeller.jobs.shutdown()


def test_only_the_images_of_the_folder_are_served(client, folder, tmp_path):
    secret = tmp_path / "secret.png"
    write_image(secret, np.zeros((20, 20, 3), np.uint8))
    (folder / "images" / "link.png").symlink_to(secret)  # a symlink leading out of the folder
    labeller, client = open_labeller(folder)
    assert [item["name"] for item in client.get("/api/images").json()] == [NAME]
    for name in ("link.png", "secret.png", "..", "..%2Fsecret.png", "%2Fetc%2Fpasswd", "%2E%2E"):
        for tail in ("", "/display.jpg", "/strokes.png"):
            response = client.get(f"/api/images/{name}{tail}")
            assert response.status_code in (403, 404), (name, tail, response.status_code)
            assert not response.content.startswith((b"\x89PNG", b"\xff\xd8")), (name, tail)
        assert client.post(f"/api/images/{name}/strokes", json=STROKES[0]).status_code in (403, 404)
    for name in ("..", "../secret.png", "/etc/passwd", "a\\b.png"):
        with pytest.raises(web_app._RequestError) as refused:
            labeller._path(name)
        assert refused.value.status == 403
    assert client.get("/static/../web_app.py").status_code == 404
    assert client.get("/static/index.html").status_code == 404  # only the page's own files, by name
    assert not (tmp_path / "secret_scribbles.png").exists()
    labeller.jobs.shutdown()


def test_a_token_is_required_when_one_is_set(folder):
    labeller, client = open_labeller(folder, token="s3cret")
    assert client.get("/api/images").status_code == 403
    assert client.get("/api/images?token=wrong").status_code == 403
    assert client.post(f"/api/images/{NAME}/strokes", json=STROKES[0]).status_code == 403
    assert not (folder / "images" / "quad_scribbles.png").exists()
    assert client.get("/api/images?token=s3cret").status_code == 200
    assert client.get("/api/images", headers={"X-Token": "s3cret"}).status_code == 200
    assert client.get("/").status_code == 200 and client.get("/static/app.js").status_code == 200  # no data
    labeller.jobs.shutdown()


def test_on_loopback_only_requests_addressed_to_it_go_without_the_token(folder):
    """Another site renamed 127.0.0.1 (DNS rebinding), or a proxy keeping its own host name, needs the token."""
    labeller = build_labeller(folder / "images", folder / "labels.txt", folder / "colors.txt", LabelParams(),
                              WebParams(), token="s3cret", loopback_free=True)
    client = TestClient(labeller.app)
    for host in ("127.0.0.1:8050", "localhost:8050", "[::1]:8050", "127.0.0.1"):
        assert client.get("/api/images", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example:8050", "127.0.0.1.evil.example", "hub.example.org"):
        assert client.get("/api/images", headers={"Host": host}).status_code == 403, host
        assert client.post(f"/api/images/{NAME}/strokes", json=STROKES[0], headers={"Host": host}).status_code == 403
    assert client.get("/api/images?token=s3cret", headers={"Host": "hub.example.org"}).status_code == 200
    assert not (folder / "images" / "quad_scribbles.png").exists()
    labeller.jobs.shutdown()


def test_off_loopback_the_address_carries_a_token():
    assert WebParams().loopback and WebParams(host="localhost").loopback and WebParams(host="::1").loopback
    assert not WebParams(host="0.0.0.0").loopback and not WebParams(host="192.168.1.5").loopback
    assert page_address(WebParams(host="0.0.0.0"), 8123, "abc") == "http://127.0.0.1:8123/?token=abc"
    assert page_address(WebParams(), 8050, None) == "http://127.0.0.1:8050/"


def test_large_images_are_shown_reduced(folder, monkeypatch):
    monkeypatch.setattr(web_app, "DISPLAY_SIDE", 60)
    labeller, client = open_labeller(folder)
    info = client.get(f"/api/images/{NAME}").json()
    assert (info["display_width"], info["display_height"], info["factor"]) == (60, 40, 0.5)
    post_strokes(client, STROKES[1:2])  # strokes are in full-size pixels
    assert saved_strokes(folder)[5:36, 88:93].min() == 2
    from dl_tools.io.images import _opencv

    cv2 = _opencv()
    for tail, channels in (("/display.jpg", 3), ("/strokes.png", 4)):
        data = np.frombuffer(client.get(f"/api/images/{NAME}{tail}").content, np.uint8)
        picture = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        assert picture.shape == (40, 60, channels)
    labeller.jobs.shutdown()


def test_a_model_prior_reaches_the_compute_and_is_shown_at_once(folder, quadrants):
    """The hook for --model/--fcn-run: the page opens with the model's labels; compute passes the prior on."""
    _, truth = quadrants
    prior = np.eye(4, dtype=np.float32)[truth]
    seen = []

    class Model:
        def evidence(self, image, scale=1.0):
            return ModelEvidence(prior)

    def label_with_prior(image, sparse, evidence, n_classes, crf):
        seen.append((evidence.probs is prior, n_classes, int(sparse.max())))
        return np.argmax(evidence.probs, axis=2).astype(np.uint8), evidence.probs

    labeller, client = open_labeller(folder, prior_source=Model(), label_with_prior=label_with_prior)
    client.get(f"/api/images/{NAME}/display.jpg")
    assert client.get(f"/api/images/{NAME}/result.png").status_code == 200  # the proposal, before any stroke
    assert wait_for(client, client.post(f"/api/images/{NAME}/compute", json={}).json()["job"])["state"] == "done"
    post_strokes(client, STROKES[:1])
    assert client.post(f"/api/images/{NAME}/save", json={}).status_code == 200
    assert seen == [(True, 4, 0), (True, 4, 1)]
    np.testing.assert_array_equal(read_label_mat(folder / "images" / "quad_mres.mat").label_image, truth)
    labeller.jobs.shutdown()


def run_cli(capsys, *argv):
    code = label_web.main(list(map(str, argv)))
    return code, capsys.readouterr().err


def test_bad_flags_are_one_line_errors(capsys, folder, tmp_path):
    base = ["--labels", folder / "labels.txt", "--colors", folder / "colors.txt", "--no-browser"]
    (tmp_path / "short.txt").write_text("#ff0000\n")
    (tmp_path / "empty").mkdir()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        cases = [(["--input", tmp_path / "empty", *base], "--input: no images in"),
                 (["--input", tmp_path / "missing", *base], "does not exist"),
                 (["--input", folder / "images", "--labels", folder / "labels.txt", "--colors",
                   tmp_path / "short.txt"], "has 4 classes but"),
                 (["--input", folder / "images", *base, "--port", port], f"--port {port} is in use"),
                 (["--input", folder / "images", *base, "--port", 70000], "--port must be from 0 to 65535"),
                 (["--input", folder / "images", *base, "--host", "no.such.host.invalid"], "--host no.such"),
                 (["--input", folder / "images", *base, "--user", " "], "--user must be a name")]
        for argv, message in cases:
            code, err = run_cli(capsys, *argv)
            assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, (argv, err)
            assert message in err, (message, err)
    with pytest.raises(SystemExit) as usage:
        label_web.main(["--port", "eighty"])
    assert usage.value.code == 2
    assert sorted(p.name for p in (folder / "images").iterdir()) == [NAME]  # nothing written


def test_an_image_too_small_for_the_scale_is_named(folder):
    labeller = build_labeller(folder / "images", folder / "labels.txt", folder / "colors.txt",
                              LabelParams(scale=0.05), WebParams())
    response = TestClient(labeller.app).get(f"/api/images/{NAME}")
    assert response.status_code == 400 and "-s 0.05 shrinks" in response.json()["error"]
    labeller.jobs.shutdown()


def test_no_image_left_after_symlinks_leading_out_is_an_error(tmp_path):
    (tmp_path / "images").mkdir()
    write_image(tmp_path / "outside.png", np.zeros((20, 20, 3), np.uint8))
    (tmp_path / "images" / "a.png").symlink_to(tmp_path / "outside.png")
    (tmp_path / "labels.txt").write_text("a\n")
    (tmp_path / "colors.txt").write_text("#ff0000\n")
    with pytest.raises(InputError, match="leads outside"):
        build_labeller(tmp_path / "images", tmp_path / "labels.txt", tmp_path / "colors.txt", LabelParams(),
                       WebParams())


def test_the_session_redo_is_also_the_opencv_views():
    """Redo in AnnotationSession itself: a stroke drawn with the mouse (start_stroke) ends what redo could put
    back, as a whole stroke added at once does."""
    from dl_tools.labelling.session import AnnotationSession, Window

    session = AnnotationSession((10, 10), ["a", "b"], [Window(0, 0, 10, 10)])
    session.add_stroke(1, 1, [(2, 2), (2, 7)])
    assert session.undo() and not session.sparse.any()
    assert session.redo() and session.sparse[2:8, 2].tolist() == [2] * 6 and not session.redo()
    session.undo()
    session.start_stroke(5, 5, 1)
    session.end_stroke()
    assert not session.redo() and session.sparse[5, 5] == 1 and not (session.sparse == 2).any()


def test_a_geotiff_gets_its_mres_tif_on_its_grid(folder, quadrants):
    rasterio = pytest.importorskip("rasterio")
    from affine import Affine

    image, truth = quadrants
    (folder / "images" / NAME).unlink()
    transform = Affine(0.5, 0, 410000.0, 0, -0.5, 3950000.0)
    with rasterio.open(folder / "images" / "scene.tif", "w", driver="GTiff", width=120, height=80, count=3,
                       dtype="uint8", crs="EPSG:32618", transform=transform) as dst:
        dst.write(np.moveaxis(image, 2, 0))
    labeller, client = open_labeller(folder)
    for stroke in STROKES:
        assert client.post("/api/images/scene.tif/strokes", json=stroke).status_code == 200
    response = client.post("/api/images/scene.tif/save", json={})
    assert response.status_code == 200 and "scene_mres.tif" in response.json()["outputs"]
    with rasterio.open(folder / "images" / "scene_mres.tif") as src:
        assert src.crs == rasterio.crs.CRS.from_epsg(32618) and src.transform == transform
        assert (src.read(1) == truth).mean() > 0.97
    labeller.jobs.shutdown()
